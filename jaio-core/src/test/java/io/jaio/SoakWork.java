// SPDX-License-Identifier: Apache-2.0
package io.jaio;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import io.jaio.internal.sys.Errno;
import io.jaio.coroutine.CoMutex;
import io.jaio.coroutine.Coroutine;
import io.jaio.uring.CqeHandler;
import io.jaio.uring.IoUring;
import io.jaio.block.ThreadPool;
import io.jaio.block.ThreadPoolTask;

/**
 * The home-thread work of one {@link SoakNode}: thread-pool jobs (some cancelled), io_uring
 * requests (NOPs and small reads of a file of known content), and coroutines that yield, are
 * woken from other threads, sleep, move between contexts and share one {@link CoMutex}.
 *
 * <p>Threading: the methods marked "home thread" on the node's home thread; {@link Shared} any
 * thread.
 */
final class SoakWork {
    static final int MAX_JOBS = 48;
    static final int URING_HANDLERS = 32;
    static final int MAX_COROUTINES = 12;
    static final int FILE_BYTES = 64 * 1024;
    static final int READ_BYTES = 512;
    /**
     * Whether coroutines move between contexts (rescheduleSelf); on unless
     * {@code -Djaio.soak.coMove=false}. It found the stale-thread bug of bare continuations
     * (CoroutineMigrationTest).
     */
    static final boolean MOVE = !"false".equals(System.getProperty("jaio.soak.coMove"));

    /** State shared by every node: the file, the parked coroutines, the mutex. */
    static final class Shared {
        final SoakLedger ledger;
        final int fileFd;
        final ConcurrentLinkedQueue<CoState> parked = new ConcurrentLinkedQueue<>();
        final CoMutex mutex = new CoMutex();
        final AtomicInteger inMutex = new AtomicInteger();
        final AtomicInteger coroutinesAlive = new AtomicInteger();
        volatile boolean stopping;
        SoakNode[] nodes;

        Shared(SoakLedger ledger, int fileFd) {
            this.ledger = ledger;
            this.fileFd = fileFd;
        }

        static byte fileByte(long offset) {
            return (byte) (offset * 31 + 7);
        }

        /** Takes one parked coroutine and wakes it, by Coroutine.wake or coSchedule. Any thread. */
        boolean wakeOne(boolean viaSchedule) {
            CoState s = parked.poll();
            if (s == null) {
                return false;
            }
            s.wakes.incrementAndGet(); // before the wake: the resumed coroutine compares
            if (viaSchedule && !s.where.ctx.inHomeThread()) {
                s.co.scheduleIn(s.where.ctx);
                ledger.count("co.wake.coSchedule");
            } else {
                Coroutine.wake(s.co);
                ledger.count("co.wake.wake");
            }
            return true;
        }
    }

    private final SoakNode node;
    private final Shared shared;
    private final SoakLedger ledger;
    private final List<Job> jobs = new ArrayList<>(); // home thread
    private final ArrayDeque<UringReq> freeUring = new ArrayDeque<>(); // home thread
    private final Arena arena = Arena.ofShared();
    private int jobSeq;

    SoakWork(SoakNode node, Shared shared) {
        this.node = node;
        this.shared = shared;
        this.ledger = shared.ledger;
        if (node.ctx.hasIoUring()) {
            for (int i = 0; i < URING_HANDLERS; i++) {
                freeUring.add(new UringReq(arena.allocate(READ_BYTES, 4096)));
            }
        }
    }

    /** Frees the read buffers; after the context closed (no request can be in flight). */
    void close() {
        arena.close();
    }

    // ------------------------------------------------------------------------------------------
    // Thread pool

    /**
     * A pool job. Invariants: complete() runs once per submission on the home thread; with
     * -ECANCELED only if cancelAsync() was called and run() never started; otherwise with the
     * value run() returned.
     */
    private final class Job extends ThreadPoolTask {
        final long value;
        final AtomicInteger started = new AtomicInteger();
        long sink; // the worker's scratch result
        boolean cancelRequested; // home thread
        int completions; // home thread

        Job(long value) {
            this.value = value;
        }

        @Override
        protected long run() {
            started.incrementAndGet();
            long x = value;
            for (int i = 0; i < (int) (value & 1023); i++) { // a little work, no sleeping
                x = x * 6364136223846793005L + 1442695040888963407L;
            }
            sink = x;
            return value;
        }

        @Override
        protected void complete(long ret) {
            node.checkHome("thread pool completion");
            completions++;
            ledger.check(completions == 1, "thread pool job " + value + " completed " + completions + " times");
            jobs.remove(this);
            if (ret == -Errno.ECANCELED) {
                ledger.check(cancelRequested, "job " + value + " completed with -ECANCELED but was never cancelled");
                ledger.check(started.get() == 0, "job " + value + " completed with -ECANCELED after run() started");
                ledger.count("pool.cancelled");
            } else {
                ledger.check(ret == value, "job " + value + " completed with " + ret);
                ledger.check(started.get() == 1, "job " + value + " ran " + started.get() + " times");
                ledger.count("pool.completed");
            }
            ledger.count("pool.complete");
        }
    }

    /** Submits up to {@code n} jobs. Home thread. */
    void submitJobs(int n) {
        ThreadPool pool = ThreadPool.of(node.ctx);
        for (int i = 0; i < n && jobs.size() < MAX_JOBS; i++) {
            Job j = new Job(((long) node.index << 40) | ++jobSeq);
            jobs.add(j);
            pool.submit(j);
            ledger.count("pool.submit");
        }
    }

    /** Cancels a random in-flight job. Home thread. */
    void cancelJob() {
        if (!jobs.isEmpty()) {
            Job j = jobs.get(node.homeRandom.nextInt(jobs.size()));
            j.cancelRequested = true;
            j.cancelAsync();
            ledger.count("pool.cancelAsync");
        }
    }

    int jobsInFlight() {
        return jobs.size();
    }

    // ------------------------------------------------------------------------------------------
    // io_uring

    /**
     * A reusable CQE handler. Invariants: onCompletion runs exactly once per submission, on the
     * home thread; a NOP gives 0; a read gives the file's bytes at its offset.
     */
    private final class UringReq extends CqeHandler {
        final MemorySegment buf;
        boolean inFlight; // home thread
        boolean isRead;
        long offset;

        UringReq(MemorySegment buf) {
            this.buf = buf;
        }

        @Override
        protected void onCompletion(int res, int flags) {
            node.checkHome("CQE handler");
            ledger.check(inFlight, "CQE handler called with no request in flight (res " + res + ")");
            inFlight = false;
            ledger.count("uring.complete");
            if (isRead) {
                ledger.check(res == READ_BYTES, "io_uring read at " + offset + " returned " + res);
                if (res == READ_BYTES) {
                    for (int i = 0; i < READ_BYTES; i += 61) {
                        byte b = buf.get(ValueLayout.JAVA_BYTE, i);
                        if (b != Shared.fileByte(offset + i)) {
                            ledger.fail("io_uring read at " + offset + ": byte " + i + " is " + b);
                            break;
                        }
                    }
                }
            } else {
                ledger.check(res == 0, "io_uring NOP returned " + res);
            }
            if (!shared.stopping && node.homeRandom.nextInt(4) == 0) {
                submit(this); // resubmitted from inside its own completion
            } else {
                freeUring.add(this);
            }
        }
    }

    /** Submits up to {@code n} NOPs and reads. Home thread; only with io_uring. */
    void submitUring(int n) {
        if (!node.ctx.hasIoUring()) {
            return;
        }
        for (int i = 0; i < n; i++) {
            UringReq r = freeUring.poll();
            if (r == null) {
                return;
            }
            submit(r);
        }
    }

    private void submit(UringReq r) {
        r.inFlight = true;
        r.isRead = node.homeRandom.nextBoolean();
        if (r.isRead) {
            r.offset = node.homeRandom.nextInt(FILE_BYTES - READ_BYTES);
            IoUring.of(node.ctx).read(shared.fileFd, r.buf, r.offset, r);
            ledger.count("uring.submit.read");
        } else {
            IoUring.of(node.ctx).nop(r);
            ledger.count("uring.submit.nop");
        }
        ledger.count("uring.submit");
    }

    int uringInFlight() {
        return node.ctx.hasIoUring() ? URING_HANDLERS - freeUring.size() : 0;
    }

    // ------------------------------------------------------------------------------------------
    // Coroutines

    /** The books of one coroutine. */
    static final class CoState {
        Coroutine co;
        volatile SoakNode where;
        final AtomicLong wakes = new AtomicLong();
        long parks;
    }

    /**
     * Creates and enters a coroutine that runs a few random steps: park (yield until another
     * thread wakes it), take the shared mutex (checking mutual exclusion) and sleep or park while
     * holding it, sleep on a timer, move to another context. Invariants: it resumes once per
     * wake, in the context it parked in; it finds the mutex free of other holders. Home thread.
     */
    void spawnCoroutine() {
        if (shared.stopping || shared.coroutinesAlive.get() >= MAX_COROUTINES * shared.nodes.length) {
            return;
        }
        CoState s = new CoState();
        s.where = node;
        int steps = 2 + node.homeRandom.nextInt(12);
        long seed = node.homeRandom.nextLong();
        s.co = Coroutine.create(() -> {
            try {
                coBody(s, steps, new java.util.Random(seed));
            } catch (Throwable t) {
                ledger.record(t);
            } finally {
                shared.coroutinesAlive.decrementAndGet();
                ledger.count("co.done");
            }
        });
        shared.coroutinesAlive.incrementAndGet();
        ledger.count("co.create");
        s.co.enterIn(node.ctx);
    }

    private void coBody(CoState s, int steps, java.util.Random r) {
        for (int i = 0; i < steps; i++) {
            switch (r.nextInt(MOVE ? 5 : 4)) {
                case 0, 1 -> park(s);
                case 2 -> {
                    shared.mutex.lock();
                    ledger.check(shared.inMutex.incrementAndGet() == 1, "two coroutines hold the CoMutex");
                    ledger.count("co.mutex");
                    if (r.nextBoolean()) {
                        Coroutine.sleepNs(ClockType.REALTIME, r.nextInt(200_000));
                    } else if (r.nextInt(4) == 0) {
                        park(s); // parked holding it: contenders in every context queue behind
                    }
                    ledger.check(shared.inMutex.get() == 1, "another coroutine took the CoMutex while held");
                    shared.inMutex.decrementAndGet();
                    shared.mutex.unlock();
                }
                case 3 -> {
                    Coroutine.sleepNs(ClockType.REALTIME, r.nextInt(500_000));
                    s.where.checkHome("coroutine after sleepNs");
                    ledger.count("co.sleep");
                }
                default -> {
                    SoakNode to = shared.nodes[r.nextInt(shared.nodes.length)];
                    Coroutine.rescheduleSelf(to.ctx);
                    s.where = to;
                    to.checkHome("coroutine after rescheduleSelf");
                    ledger.check(AioContext.current() == to.ctx, "coroutine moved to the wrong context");
                    ledger.count("co.move");
                }
            }
        }
    }

    private void park(CoState s) {
        s.parks++;
        SoakNode at = s.where;
        shared.parked.add(s);
        Coroutine.yield();
        ledger.check(s.wakes.get() == s.parks, "coroutine resumed " + s.wakes.get() + " wakes for " + s.parks + " parks");
        at.checkHome("coroutine after wake");
        ledger.count("co.resume");
    }
}
