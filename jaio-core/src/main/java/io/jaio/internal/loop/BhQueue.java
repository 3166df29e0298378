// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.loop;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Arrays;
import java.util.List;

import io.jaio.AioContext;

/**
 * The bottom-half queue of one context (QEMU {@code util/async.c}: aio_bh_enqueue, aio_bh_poll,
 * the slice list, aio_compute_bh_timeout), with a path without atomic instructions for bottom
 * halves scheduled on the home thread.
 *
 * <p>Implementation notes. A node's state is two words ({@link BhNode} explains the bits): the
 * shared {@code flags}, changed by read-modify-writes from any thread as in QEMU, and
 * {@code home}, written only by the home thread. A run is <em>accepted</em> when {@code home}
 * holds SCHEDULED; it is valid while the foreign cancel count in {@code flags} equals the count
 * stored with it, and the node is not DELETED.
 * <ul>
 * <li><b>Two lists.</b> A schedule on another thread (or on a coroutine, whose virtual thread is
 *     not the home thread) sets PENDING | SCHEDULED with an atomic or and, if the node was not
 *     PENDING, pushes it on the cross-thread LIFO list with one exchange of the head: {@code next}
 *     is first set to the {@link #UNLINKED} marker, the exchange publishes the node, then
 *     {@code next} is stored with release. A reader that meets the marker waits for the store (a
 *     producer finishes in two instructions unless preempted) and {@link #timeoutNs} treats it as
 *     "work is coming". A schedule on the home thread reads {@code flags} (acquire: the cancel
 *     count and DELETED), writes {@code home} and, if the node was not H_QUEUED, links it at the
 *     head of the plain home list: no atomic instruction.</li>
 * <li><b>Take.</b> {@link #poll} takes the home list and, if the cross-thread head is not null,
 *     the cross-thread list (one exchange): the two parts of the slice of its nesting depth.</li>
 * <li><b>Run.</b> Slices run from the outermost in, each one's cross-thread part first. A
 *     cross-thread node: its successor is read first (a producer may push it again the moment
 *     PENDING clears), then an atomic and clears PENDING | SCHEDULED | IDLE and returns the old
 *     word, as QEMU's aio_bh_dequeue; if it was SCHEDULED and not DELETED, either the node is
 *     H_QUEUED (a home entry waits in a slice or on the home list) and the run is <em>merged</em>
 *     into that entry (accepted in {@code home} with the cancel count of that same word, which a
 *     later cancel makes stale), or the callback runs now. A home node: clear {@code home}
 *     (release), and if the run was accepted, read {@code flags} (acquire) and run the callback
 *     unless DELETED or the cancel count moved: no atomic instruction. A schedule made from here
 *     on (even by the callback) queues the node again on a list that the next poll takes: the
 *     slice rule. A nested poll first finishes its callers' slices; the drain is bounded by the
 *     length of the slices taken. A merge never runs a node twice in one slice; a node whose home
 *     entry sits on the home list (scheduled during this poll) has its merged run in the next
 *     poll, with that entry. A foreign schedule taken by a nested poll, of a node whose home entry
 *     in a caller's slice already ran, runs once more: two schedules, two runs, both after their
 *     schedule (QEMU would have merged them, having one list).</li>
 * <li><b>Races, home schedule against a foreign operation on the same node.</b>
 *     <em>Foreign cancel</em> clears SCHEDULED with an atomic and, then adds one to the cancel
 *     count with an atomic add. If the count was added before the home schedule read
 *     {@code flags}, that schedule stored the new count and runs (the cancel came first);
 *     otherwise the run sees a different count and is skipped (the cancel came after). Either
 *     order is a linearization; and a cancel that <em>happens before</em> the home thread's read
 *     is seen by it (volatile RMW, acquire read). A foreign cancel can no longer be lost to a
 *     home write: the home thread never writes {@code flags} without an atomic instruction.
 *     <em>Foreign delete</em> sets DELETED with an atomic or (and queues the node so the loop
 *     drops it): a home schedule that reads DELETED is refused; one that read before it is
 *     dropped at the run, which reads DELETED. <em>Foreign schedule</em> touches only
 *     {@code flags} and the cross-thread list; its dequeue merges it into {@code home} (the node is
 *     H_QUEUED: one run) or runs it. <em>Home cancel</em> clears SCHEDULED
 *     in {@code home}, reads {@code flags} and only if SCHEDULED is set clears it with an atomic
 *     and: a foreign schedule that sets it after that read came after the cancel.
 *     <em>Foreign cancel racing a merge</em>: if the dequeue's and came first, the run was accepted
 *     with the old count and the cancel's add makes the home entry skip it, unless that entry
 *     already read {@code flags}: a cancel racing a run that began, as in QEMU.</li>
 * <li><b>Take against the wake-up.</b> The take reads the cross-thread head with a volatile load
 *     instead of always exchanging it: the exchange is needed only to take a non-empty list. A
 *     producer's push (volatile RMW) precedes its read of {@code notified} and the home thread's
 *     clear of {@code notified} (volatile store) precedes this volatile load, so the total order
 *     of volatile accesses gives what the exchange gave: a producer that skipped the eventfd
 *     because {@code notified} was set has its push seen by the next take.</li>
 * <li><b>One-shots</b> go to the {@link OneShotRing} (no object, one compare-and-set); a poll runs
 *     the ring's entries up to the limit it read at its start, first, then its slices. When the
 *     ring is full a one-shot becomes a node as before.</li>
 * <li><b>Errors.</b> An Error from a callback leaves {@link #poll} with the rest of that call's
 *     slice still taken: its home part goes back at the head of the home list with its H_QUEUED
 *     and accepted runs ({@link #requeue}), its cross-thread part back onto the cross-thread list
 *     as one chain, still PENDING ({@link #requeueForeign}), before the Error goes on, so those
 *     bottom halves run in the next poll and close() still sees them. A nested poll requeues only its
 *     own slice: an outer one is still being drained by the poll below it, which requeues it if
 *     the Error reaches that poll too. One-shots left in the ring stay there. The normal path
 *     pays nothing for this.</li>
 * <li><b>Registry.</b> Reusable bottom halves are kept in an intrusive list under
 *     {@link #registryLock} from creation to delete, so {@link #collectLeaks} can name the ones
 *     never deleted. One-shots are not registered: they delete themselves after running.</li>
 * </ul>
 * Threading: {@link #schedule}, {@link #enqueue}, {@link #cancel}, {@link #delete},
 * {@link #scheduleOneShot} and {@link #create} from any thread (the home thread takes the fast
 * paths); the rest on the home thread.
 */
public final class BhQueue {
    /** Marker in {@code next}: the push that queued this node has not linked it yet. */
    private static final BhNode UNLINKED = new BhNode(null, "unlinked-marker", null, null, 0);
    private static final long CLEAR_ON_TAKE = BhNode.PENDING | BhNode.SCHEDULED | BhNode.IDLE;
    /** QEMU aio_compute_bh_timeout: idle bottom halves are run at least this often. */
    public static final long IDLE_TIMEOUT_NS = 10_000_000L;
    /** Spins on an unlinked node before yielding the CPU to the producer that owns it. */
    private static final int LINK_SPINS = 128;

    private static final VarHandle HEAD;

    static {
        try {
            HEAD = MethodHandles.lookup().findVarHandle(BhQueue.class, "head", BhNode.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final AioContext ctx;
    /** The thread whose schedules take the home path: the context's home thread. */
    private final Thread homeThread;
    /** The context's wake-up and callback runner, copied from it (one load less per schedule and run). */
    private final Wakeup wakeup;
    private final CallbackRunner callbacks;
    private final OneShotRing oneShots = new OneShotRing();
    /** Top of the cross-thread LIFO list; accessed through HEAD. */
    @SuppressWarnings("unused")
    private BhNode head;
    /** Home thread: top of the home list (scheduled on the home thread since the last take). */
    private BhNode homeHead;
    /** Home thread: the home part of the slice being drained at each nesting depth of poll(). */
    private BhNode[] slices = new BhNode[4];
    /** Home thread: the cross-thread part of the slice at each depth (a chain linked by {@code next}). */
    private BhNode[] foreignSlices = new BhNode[4];
    private int depth;
    private final Object registryLock = new Object();
    private BhNode registry;

    /**
     * A queue of {@code ctx} whose schedules from {@code homeThread} take the home path, that
     * wakes it through {@code wakeup} and runs callbacks through {@code callbacks}.
     */
    public BhQueue(AioContext ctx, Thread homeThread, Wakeup wakeup, CallbackRunner callbacks) {
        this.ctx = ctx;
        this.homeThread = homeThread;
        this.wakeup = wakeup;
        this.callbacks = callbacks;
    }

    // ---- any thread ----

    public BhNode create(String name, Runnable cb, GuardState guard, boolean oneShot) {
        BhNode bh = new BhNode(this, name, cb, guard, oneShot ? BhNode.ONESHOT : 0);
        if (!oneShot) {
            synchronized (registryLock) {
                bh.registered = true;
                bh.regNext = registry;
                if (registry != null) {
                    registry.regPrev = bh;
                }
                registry = bh;
            }
        }
        return bh;
    }

    /** QEMU aio_bh_enqueue with {@code newFlags} SCHEDULED or SCHEDULED | IDLE. */
    public void schedule(BhNode bh, int newFlags) {
        if (Thread.currentThread() == homeThread) {
            scheduleHome(bh, newFlags);
        } else {
            enqueue(bh, newFlags);
        }
    }

    /** QEMU aio_bh_schedule_oneshot: no object unless the one-shot ring is full. */
    public void scheduleOneShot(String name, Runnable cb) {
        ContextCore.checkOpen(ctx); // as enqueue(): a one-shot on a closed context is refused, not dropped
        if (oneShots.offer(name, cb)) {
            wakeup.wakeForChange();
        } else {
            create(name, cb, null, true).schedule();
        }
    }

    /** QEMU aio_bh_enqueue on the cross-thread list (any thread; the home thread uses it to delete). */
    public void enqueue(BhNode bh, int newFlags) {
        ContextCore.checkOpen(ctx);
        // volatile RMW: makes the flags visible before the push; pairs with the dequeue's RMW in runSlices()
        long old = (long) BhNode.FLAGS.getAndBitwiseOr(bh, (long) (BhNode.PENDING | newFlags));
        if ((old & BhNode.DELETED) != 0 && (newFlags & BhNode.DELETED) == 0) {
            throw deleted(bh);
        }
        if ((old & BhNode.PENDING) == 0) {
            push(bh);
        }
        wakeup.wakeForChange();
    }

    private static IllegalStateException deleted(BhNode bh) {
        return new IllegalStateException("bottom half '" + bh.name + "' was deleted (expected a live bottom half)");
    }

    private void push(BhNode bh) {
        BhNode.NEXT.set(bh, UNLINKED); // plain: the exchange below publishes it
        BhNode prev = (BhNode) HEAD.getAndSet(this, bh); // pairs with the exchange in poll()
        BhNode.NEXT.setRelease(bh, prev); // pairs with getAcquire in next()
    }

    /** QEMU qemu_bh_cancel. Wait-free. */
    public void cancel(BhNode bh) {
        if (Thread.currentThread() == homeThread) {
            cancelHome(bh);
            return;
        }
        // Clear a schedule not yet taken, then count the cancel so that a run the home thread
        // accepted before it is skipped (the notes, "Races"). Volatile RMWs; pair with the
        // acquire reads of flags in scheduleHome() and runSlices().
        BhNode.FLAGS.getAndBitwiseAnd(bh, ~(long) BhNode.SCHEDULED);
        BhNode.FLAGS.getAndAdd(bh, BhNode.CANCEL_ONE);
    }

    public void delete(BhNode bh) {
        if (bh.registered) {
            synchronized (registryLock) {
                if (bh.registered) {
                    bh.registered = false;
                    if (bh.regPrev != null) {
                        bh.regPrev.regNext = bh.regNext;
                    } else {
                        registry = bh.regNext;
                    }
                    if (bh.regNext != null) {
                        bh.regNext.regPrev = bh.regPrev;
                    }
                    bh.regPrev = null;
                    bh.regNext = null;
                }
            }
        }
        if (ctx.isClosed()) {
            return; // nothing queued survives close(); deleting afterwards is allowed
        }
        enqueue(bh, BhNode.DELETED);
    }

    // ---- home thread ----

    /** A schedule on the home thread: no atomic instruction (the notes, "Two lists"). */
    void scheduleHome(BhNode bh, int newFlags) {
        ContextCore.checkOpen(ctx);
        long f = (long) BhNode.FLAGS.getAcquire(bh); // pairs with the RMWs of cancel() and delete()
        if ((f & BhNode.DELETED) != 0) {
            throw deleted(bh);
        }
        long h = bh.home;
        bh.setHome((h & (BhNode.H_QUEUED | BhNode.IDLE)) | BhNode.H_QUEUED | newFlags | (f & BhNode.CANCELS));
        if ((h & BhNode.H_QUEUED) == 0) {
            bh.homeNext = homeHead;
            homeHead = bh;
        }
        wakeup.wakeForHomeChange();
    }

    /** A cancel on the home thread: an atomic and only when a foreign schedule is waiting. */
    void cancelHome(BhNode bh) {
        long h = bh.home;
        if ((h & BhNode.SCHEDULED) != 0) {
            bh.setHome(h & ~(long) BhNode.SCHEDULED);
        }
        if (((long) BhNode.FLAGS.getAcquire(bh) & BhNode.SCHEDULED) != 0) { // pairs with enqueue's RMW
            BhNode.FLAGS.getAndBitwiseAnd(bh, ~(long) BhNode.SCHEDULED); // volatile RMW; pairs with enqueue's RMW
        }
    }

    /** The successor of a node on the cross-thread list, waiting out a push that is between its two steps. */
    private static BhNode next(BhNode bh) {
        BhNode n;
        int spins = 0;
        while ((n = (BhNode) BhNode.NEXT.getAcquire(bh)) == UNLINKED) { // pairs with setRelease in push()
            if (++spins < LINK_SPINS) {
                Thread.onSpinWait();
            } else {
                Thread.yield();
            }
        }
        return n;
    }

    /** QEMU aio_bh_poll: runs every bottom half queued so far; returns progress. */
    public boolean poll() {
        int d = depth;
        if (d == 0 && homeHead == null && HEAD.getVolatile(this) == null && oneShots.isEmptyHome()) {
            return false; // nothing queued (volatile head load: see "Take against the wake-up")
        }
        if (d == slices.length) {
            slices = Arrays.copyOf(slices, d * 2);
            foreignSlices = Arrays.copyOf(foreignSlices, d * 2);
        }
        slices[d] = homeHead;
        homeHead = null;
        BhNode foreign = null;
        if (HEAD.getVolatile(this) != null) { // volatile: see "Take against the wake-up"; pairs with push()
            foreign = (BhNode) HEAD.getAndSet(this, (BhNode) null); // pairs with the exchange in push()
        }
        foreignSlices[d] = foreign;
        long limit = oneShots.limit(); // after the clear of notified, as the head load above
        depth = d + 1;
        boolean progress = false;
        try {
            progress = runSlices(d, limit);
        } catch (Throwable t) { // an Error from a callback (CallbackRunner reports the rest)
            requeue(slices[d]);
            slices[d] = null;
            requeueForeign(foreignSlices[d]);
            foreignSlices[d] = null;
            throw t;
        } finally {
            depth = d;
        }
        return progress;
    }

    /**
     * Runs the one-shots below {@code limit}, then slices 0..d from the outermost in, each one's
     * cross-thread part before its home part.
     */
    private boolean runSlices(int d, long limit) {
        boolean progress = false;
        while (oneShots.hasBefore(limit)) { // bounded by limit: new one-shots lie beyond it
            progress = true;
            oneShots.runNext(callbacks);
        }
        for (int s = 0; s <= d; ) {
            BhNode f = foreignSlices[s];
            if (f != null) {
                foreignSlices[s] = next(f); // before PENDING clears: a producer may push f again at once
                long old = (long) BhNode.FLAGS.getAndBitwiseAnd(f, ~CLEAR_ON_TAKE); // pairs with enqueue's and cancel()'s RMWs
                if ((old & (BhNode.SCHEDULED | BhNode.DELETED)) == BhNode.SCHEDULED) {
                    long h = f.home;
                    if ((h & BhNode.H_QUEUED) != 0) { // a home entry waits: merge into it (the notes, "Run")
                        f.setHome((h & (BhNode.H_QUEUED | BhNode.IDLE)) | BhNode.SCHEDULED
                                | (old & BhNode.IDLE) | (old & BhNode.CANCELS));
                    } else {
                        if ((old & BhNode.IDLE) == 0) {
                            progress = true;
                        }
                        callbacks.runBottomHalf(f);
                        s = 0; // a nested poll may have drained outer slices, or not: look from the outside again
                    }
                }
                continue;
            }
            BhNode bh = slices[s];
            if (bh == null) {
                s++;
                continue;
            }
            slices[s] = bh.homeNext;
            long h = bh.home;
            bh.setHome(0); // taken: a schedule from here on queues it for the next poll
            if ((h & BhNode.SCHEDULED) != 0) {
                long f2 = (long) BhNode.FLAGS.getAcquire(bh); // pairs with the RMWs of cancel() and delete()
                if ((f2 & BhNode.DELETED) == 0 && (f2 & BhNode.CANCELS) == (h & BhNode.CANCELS)) {
                    if ((h & BhNode.IDLE) == 0) {
                        progress = true;
                    }
                    callbacks.runBottomHalf(bh);
                }
            }
            s = 0; // a nested poll may have drained outer slices, or not: look from the outside again
        }
        return progress;
    }

    /**
     * An Error is leaving {@link #poll}: puts what is left of its own home slice back at the head
     * of the home list, so it runs in the next poll and {@link #timeoutNs} and
     * {@link #collectLeaks} see it. The nodes keep H_QUEUED and their accepted runs; the outer
     * slices belong to the polls below, which requeue theirs if the Error reaches them too.
     * Bounded by the slice.
     */
    private void requeue(BhNode first) {
        if (first == null) {
            return;
        }
        BhNode last = first;
        while (last.homeNext != null) {
            last = last.homeNext;
        }
        last.homeNext = homeHead;
        homeHead = first;
    }

    /**
     * The same for what is left of its cross-thread slice: pushed back onto the cross-thread
     * list as one chain. The nodes keep their PENDING bit, so no producer pushes them meanwhile.
     * Bounded by the slice.
     */
    private void requeueForeign(BhNode first) {
        if (first == null) {
            return;
        }
        BhNode last = first;
        for (BhNode n; (n = next(last)) != null; ) { // next() waits out a push still linking
            last = n;
        }
        BhNode.NEXT.set(last, UNLINKED); // as push() does, for the chain first..last
        BhNode prev = (BhNode) HEAD.getAndSet(this, first); // pairs with the exchange in poll()
        BhNode.NEXT.setRelease(last, prev); // pairs with getAcquire in next() and timeoutNs()
    }

    /**
     * The bottom halves' part of QEMU aio_compute_timeout: 0 when a bottom half or a one-shot is
     * scheduled, 10 ms when only idle ones are, -1 when none is.
     */
    public long timeoutNs() {
        if (!oneShots.isEmpty()) {
            return 0;
        }
        long timeout = -1;
        for (int s = -1; s < depth; s++) {
            long t = foreignTimeoutNs(s < 0 ? (BhNode) HEAD.getVolatile(this) : foreignSlices[s]); // pairs with push()
            if (t == 0) {
                return 0;
            }
            if (t > 0) {
                timeout = IDLE_TIMEOUT_NS;
            }
        }
        for (int s = -1; s < depth; s++) {
            for (BhNode bh = s < 0 ? homeHead : slices[s]; bh != null; bh = bh.homeNext) {
                long h = bh.home;
                if (accepted(bh, h)) {
                    if ((h & BhNode.IDLE) == 0) {
                        return 0;
                    }
                    timeout = IDLE_TIMEOUT_NS;
                }
            }
        }
        return timeout;
    }

    /** timeoutNs() of one cross-thread chain: 0, IDLE_TIMEOUT_NS or -1. */
    private static long foreignTimeoutNs(BhNode bh) {
        long timeout = -1;
        while (bh != null) {
            long flags = (long) BhNode.FLAGS.getAcquire(bh); // pairs with enqueue's RMW (QEMU 5142397c79)
            if ((flags & (BhNode.SCHEDULED | BhNode.DELETED)) == BhNode.SCHEDULED) {
                if ((flags & BhNode.IDLE) == 0) {
                    return 0;
                }
                timeout = IDLE_TIMEOUT_NS;
            }
            BhNode n = (BhNode) BhNode.NEXT.getAcquire(bh); // pairs with setRelease in push()
            if (n == UNLINKED) {
                return 0; // a push is in progress: do not sleep
            }
            bh = n;
        }
        return timeout;
    }

    /** Whether {@code h}, the node's home word, holds a run that is still valid. */
    private static boolean accepted(BhNode bh, long h) {
        if ((h & BhNode.SCHEDULED) == 0) {
            return false;
        }
        long f = (long) BhNode.FLAGS.getAcquire(bh); // pairs with the RMWs of cancel() and delete()
        return (f & BhNode.DELETED) == 0 && (f & BhNode.CANCELS) == (h & BhNode.CANCELS);
    }

    /** Empties the queue and names what leaked (close(), home thread, not inside poll()). */
    public void collectLeaks(List<String> leaks) {
        synchronized (registryLock) {
            for (BhNode b = registry; b != null; b = b.regNext) {
                leaks.add("bottom half '" + b.name + "' was never deleted");
                b.registered = false;
            }
            registry = null;
        }
        oneShots.collectLeaks(leaks);
        for (BhNode bh = (BhNode) HEAD.getAndSet(this, (BhNode) null); bh != null; ) { // pairs with push()
            BhNode n = next(bh);
            long old = (long) BhNode.FLAGS.getAndBitwiseAnd(bh, ~CLEAR_ON_TAKE); // pairs with enqueue's RMW
            if ((old & (BhNode.ONESHOT | BhNode.SCHEDULED | BhNode.DELETED)) == (BhNode.ONESHOT | BhNode.SCHEDULED)) {
                leaks.add("one-shot bottom half '" + bh.name + "' was scheduled but never ran");
            }
            bh = n;
        }
        BhNode slice = homeHead;
        homeHead = null;
        for (BhNode b = slice; b != null; ) {
            BhNode n = b.homeNext;
            if (accepted(b, b.home) && ((long) BhNode.FLAGS.getAcquire(b) & BhNode.ONESHOT) != 0) { // pairs with enqueue's RMW
                leaks.add("one-shot bottom half '" + b.name + "' was scheduled but never ran");
            }
            b.homeNext = null;
            b.setHome(0);
            b = n;
        }
    }
}
