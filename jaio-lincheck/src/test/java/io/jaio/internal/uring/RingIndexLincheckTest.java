// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.uring;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

import org.jetbrains.lincheck.datastructures.IntGen;
import org.jetbrains.lincheck.datastructures.Operation;
import org.jetbrains.lincheck.datastructures.Param;
import org.jetbrains.lincheck.datastructures.Validate;
import org.junit.jupiter.api.Test;

import io.jaio.internal.loop.LincheckSupport;

/**
 * The io_uring ring indexes, a model (the real {@code Ring} needs io_uring_setup and mmap, and
 * Lincheck does not instrument MemorySegment accesses): the application side copies
 * {@code Ring.claimSqe()} (cached sq.head, re-read with acquire only when the ring looks full),
 * the SQE write and {@code publish()} (sq.tail with release), and the CQ reap of
 * {@code cqTail()} (acquire), the CQE read and {@code cqAdvance()} (cq.head with release); three
 * operations play the kernel: fetch an SQE (acquire sq.tail, read it), post a CQE (acquire cq.head
 * for room, write it, release cq.tail) and commit the SQ head (release sq.head), separately,
 * because the kernel can post a request's CQE before it releases sq.head (io_submit_sqes commits
 * the head after the batch; an inline completion comes first). The first version of this test
 * had the kernel release sq.head after the CQE within one operation, and Lincheck showed that a
 * reaped completion then does not mean a free SQ slot: Ring.claimSqe() must not, and does not,
 * assume it (it re-reads sq.head and reports a full ring). Two SQ entries and four CQ entries, so that the indexes
 * wrap within a scenario; same access modes as Ring, on an {@code int[]} with array-element
 * VarHandles.
 *
 * <p>Specification ({@link Spec}): a bounded FIFO of two submissions and one of four completions;
 * a submission is refused only when two are waiting for the kernel, the kernel moves the oldest
 * submission to the completions when there is room, a reap returns the oldest completion or -1.
 * Lincheck interleaves with sequential consistency, so this checks the index arithmetic (full,
 * empty, wrap-around, the cached head) with the application and the kernel on different threads;
 * the memory ordering of the same accesses is what jcstress's RingSqTailTest, RingCqTailTest and
 * RingCqHeadTest check.
 */
@Param(name = "value", gen = IntGen.class, conf = "1:9")
public class RingIndexLincheckTest {
    static final VarHandle INT = MethodHandles.arrayElementVarHandle(int[].class);
    static final int SQ_ENTRIES = 2;
    static final int CQ_ENTRIES = 4;
    static final int SQ_HEAD = 0;
    static final int SQ_TAIL = 1;
    static final int CQ_HEAD = 2;
    static final int CQ_TAIL = 3;
    static final int SQES = 4;
    static final int CQES = SQES + SQ_ENTRIES;

    /** The shared ring memory: the four index words, the SQE slots, the CQE slots. */
    final int[] ring = new int[CQES + CQ_ENTRIES];
    /** Application-private (Ring's fields). */
    int sqTail;
    int sqHeadCached;
    /** Kernel-private: its cached sq head, the head it released, its cq tail, and the requests fetched. */
    int kSqHead;
    int kSqCommitted;
    int kCqTail;
    final java.util.ArrayDeque<Integer> taken = new java.util.ArrayDeque<>();

    /** Application: claimSqe(), the SQE body, publish(). */
    @Operation(nonParallelGroup = "application")
    public boolean submit(@Param(name = "value") int v) {
        if (sqTail - sqHeadCached >= SQ_ENTRIES) {
            sqHeadCached = (int) INT.getAcquire(ring, SQ_HEAD); // Ring: pairs with the kernel's release of sq.head
            if (sqTail - sqHeadCached >= SQ_ENTRIES) {
                return false;
            }
        }
        int slot = SQES + (sqTail & (SQ_ENTRIES - 1));
        sqTail++;
        ring[slot] = v; // putSqe: plain stores
        INT.setRelease(ring, SQ_TAIL, sqTail); // publish(): pairs with the kernel's acquire of sq.tail
        return true;
    }

    /** Application: cqTail(), the CQE read, cqAdvance(); -1 when the CQ is empty. */
    @Operation(nonParallelGroup = "application")
    public int reap() {
        int tail = (int) INT.getAcquire(ring, CQ_TAIL); // cqTail(): pairs with the kernel's release of cq.tail
        int head = (int) INT.get(ring, CQ_HEAD); // cqHead(): only the application writes it
        if (tail == head) {
            return -1;
        }
        int v = ring[CQES + (head & (CQ_ENTRIES - 1))];
        INT.setRelease(ring, CQ_HEAD, head + 1); // cqAdvance(): pairs with the kernel's acquire of cq.head
        return v;
    }

    /** The kernel: fetches the next SQE (io_get_sqe: its cached head moves, sq.head does not yet). */
    @Operation(nonParallelGroup = "kernel")
    public int consume() {
        int tail = (int) INT.getAcquire(ring, SQ_TAIL); // smp_load_acquire(&sq.tail)
        if (kSqHead == tail) {
            return 0;
        }
        taken.addLast(ring[SQES + (kSqHead & (SQ_ENTRIES - 1))]);
        kSqHead++;
        return 1;
    }

    /** The kernel: posts the CQE of the oldest fetched request if the CQ has room. */
    @Operation(nonParallelGroup = "kernel")
    public int complete() {
        if (taken.isEmpty()) {
            return 0;
        }
        int cqHead = (int) INT.getAcquire(ring, CQ_HEAD); // before reusing a CQE slot
        if (kCqTail - cqHead >= CQ_ENTRIES) {
            return 0; // no room: the kernel holds it back (IORING_FEAT_NODROP)
        }
        ring[CQES + (kCqTail & (CQ_ENTRIES - 1))] = taken.pollFirst();
        kCqTail++;
        INT.setRelease(ring, CQ_TAIL, kCqTail); // smp_store_release(&cq.tail)
        return 1;
    }

    /** The kernel: io_commit_sqring, the release of sq.head after the submission batch (maybe after CQEs). */
    @Operation(nonParallelGroup = "kernel")
    public int commit() {
        if (kSqCommitted == kSqHead) {
            return 0;
        }
        kSqCommitted = kSqHead;
        INT.setRelease(ring, SQ_HEAD, kSqCommitted); // smp_store_release(&sq.head): the slots may be reused
        return 1;
    }

    @Validate
    public void counted() {
        LincheckSupport.interleavings("RingIndexLincheckTest").incrementAndGet();
    }

    /** The sequential specification: bounded FIFOs, with the kernel's fetched-but-uncommitted SQ slots. */
    public static final class Spec {
        private final java.util.ArrayDeque<Integer> sq = new java.util.ArrayDeque<>();
        private final java.util.ArrayDeque<Integer> fetched = new java.util.ArrayDeque<>();
        private int uncommitted;
        private final java.util.ArrayDeque<Integer> cq = new java.util.ArrayDeque<>();

        public boolean submit(int v) {
            if (sq.size() + uncommitted >= SQ_ENTRIES) {
                return false;
            }
            sq.addLast(v);
            return true;
        }

        public int reap() {
            Integer v = cq.pollFirst();
            return v == null ? -1 : v;
        }

        public int consume() {
            if (sq.isEmpty()) {
                return 0;
            }
            fetched.addLast(sq.pollFirst());
            uncommitted++;
            return 1;
        }

        public int complete() {
            if (fetched.isEmpty() || cq.size() >= CQ_ENTRIES) {
                return 0;
            }
            cq.addLast(fetched.pollFirst());
            return 1;
        }

        public int commit() {
            if (uncommitted == 0) {
                return 0;
            }
            uncommitted = 0;
            return 1;
        }
    }

    @Test
    void applicationAndKernelAgreeOnTheIndexes() {
        LincheckSupport.checkAndReport(LincheckSupport.options(2, 4).sequentialSpecification(Spec.class),
                RingIndexLincheckTest.class);
    }
}
