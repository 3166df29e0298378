// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.loop;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import io.jaio.AioContext;

/**
 * The bottom-half queue of one context (QEMU {@code util/async.c}: aio_bh_enqueue, aio_bh_poll,
 * the slice list, aio_compute_bh_timeout).
 *
 * <p>Implementation notes.
 * <ul>
 * <li><b>Queue.</b> A LIFO list of queued bottom halves. Producers (any thread) push with one
 *     exchange of the head, which makes the push wait-free: {@code next} is first set to the
 *     {@link #UNLINKED} marker, the exchange publishes the node, then {@code next} is stored with
 *     release. A reader that meets the marker knows a push is between its two steps; the consumer
 *     waits for the store (a producer finishes in two instructions unless preempted, so the wait
 *     spins briefly and then yields), and {@link #timeoutNs} treats it as "work is coming".
 *     The PENDING flag, set with an atomic or, guarantees a node is on at most one list.</li>
 * <li><b>Slices.</b> {@link #poll} takes the whole list with one exchange into the slice of its
 *     nesting depth and runs the slices from the outermost in. A bottom half scheduled meanwhile
 *     (even by its own callback) lands on the fresh list and waits for the next poll, so it runs
 *     once per poll; a nested poll first finishes its callers' slices, so every queued bottom
 *     half runs exactly once however the calls nest. The drain is bounded by the length of the
 *     slices taken, since new work never joins them.</li>
 * <li><b>Errors.</b> An Error from a callback leaves {@link #poll} with the rest of that call's
 *     slice still taken: it is pushed back onto the queue as one chain before the Error goes on
 *     ({@link #requeue}), so those bottom halves run in the next poll and close() still sees
 *     them. A nested poll requeues only its own slice: an outer one is still being drained by
 *     the poll below it, which requeues it if the Error reaches that poll too. The normal path
 *     pays nothing for this.</li>
 * <li><b>Registry.</b> Reusable bottom halves are kept in an intrusive list under
 *     {@link #registryLock} from creation to delete, so {@link #collectLeaks} can name the ones
 *     never deleted. One-shots are not registered: they delete themselves after running.</li>
 * </ul>
 * Threading: {@link #enqueue} and {@link #delete} from any thread; the rest on the home thread.
 */
public final class BhQueue {
    /** Marker in {@code next}: the push that queued this node has not linked it yet. */
    private static final BhNode UNLINKED = new BhNode(null, "unlinked-marker", null, null, 0);
    private static final int CLEAR_ON_DEQUEUE = BhNode.PENDING | BhNode.SCHEDULED | BhNode.IDLE;
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
    /** The context's wake-up and callback runner, copied from it (one load less per schedule and run). */
    private final Wakeup wakeup;
    private final CallbackRunner callbacks;
    /** Top of the LIFO list of queued bottom halves; accessed through HEAD. */
    @SuppressWarnings("unused")
    private BhNode head;
    /** Home thread: the slice being drained at each nesting depth of poll(). */
    private BhNode[] slices = new BhNode[4];
    private int depth;
    private final Object registryLock = new Object();
    private BhNode registry;

    /** A queue of {@code ctx} that wakes it through {@code wakeup} and runs callbacks through {@code callbacks}. */
    public BhQueue(AioContext ctx, Wakeup wakeup, CallbackRunner callbacks) {
        this.ctx = ctx;
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

    /** QEMU aio_bh_enqueue. */
    public void enqueue(BhNode bh, int newFlags) {
        ContextCore.checkOpen(ctx);
        // volatile RMW: makes the flags visible before the push; pairs with the dequeue RMW
        int old = (int) BhNode.FLAGS.getAndBitwiseOr(bh, BhNode.PENDING | newFlags);
        if ((old & BhNode.DELETED) != 0 && (newFlags & BhNode.DELETED) == 0) {
            throw new IllegalStateException("bottom half '" + bh.name + "' was deleted (expected a live bottom half)");
        }
        if ((old & BhNode.PENDING) == 0) {
            push(bh);
        }
        wakeup.wakeForChange();
    }

    private void push(BhNode bh) {
        BhNode.NEXT.set(bh, UNLINKED); // plain: the exchange below publishes it
        BhNode prev = (BhNode) HEAD.getAndSet(this, bh); // pairs with the exchange in poll()
        BhNode.NEXT.setRelease(bh, prev); // pairs with getAcquire in next()
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

    /** The successor of a queued node, waiting out a push that is between its two steps. */
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
        if (d == slices.length) {
            slices = Arrays.copyOf(slices, d * 2);
        }
        slices[d] = (BhNode) HEAD.getAndSet(this, (BhNode) null); // pairs with the exchange in push()
        depth = d + 1;
        boolean progress = false;
        try {
            for (int s = 0; s <= d; ) {
                BhNode bh = slices[s];
                if (bh == null) {
                    s++;
                    continue;
                }
                slices[s] = next(bh);
                // volatile RMW; pairs with the RMWs of enqueue() and cancel()
                int flags = (int) BhNode.FLAGS.getAndBitwiseAnd(bh, ~CLEAR_ON_DEQUEUE);
                if ((flags & (BhNode.SCHEDULED | BhNode.DELETED)) == BhNode.SCHEDULED) {
                    if ((flags & BhNode.IDLE) == 0) {
                        progress = true;
                    }
                    callbacks.runBottomHalf(bh);
                }
                s = 0; // a nested poll may have drained outer slices, or not: look from the outside again
            }
        } catch (Throwable t) { // an Error from a callback (CallbackRunner reports the rest)
            requeue(slices[d]);
            slices[d] = null;
            throw t;
        } finally {
            depth = d;
        }
        return progress;
    }

    /**
     * An Error is leaving {@link #poll}: puts what is left of its own slice back at the head of
     * the queue, so it runs in the next poll and {@link #timeoutNs} and {@link #collectLeaks}
     * see it. The nodes keep their PENDING bit, so no producer pushes them meanwhile; the outer
     * slices belong to the polls below, which requeue theirs if the Error reaches them too.
     * Bounded by the length of the slice.
     */
    private void requeue(BhNode first) {
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
     * The bottom halves' part of QEMU aio_compute_timeout: 0 when a bottom half is scheduled,
     * 10 ms when only idle ones are, -1 when none is.
     */
    public long timeoutNs() {
        long timeout = -1;
        BhNode bh = (BhNode) HEAD.getAcquire(this); // pairs with the exchange in push()
        for (int s = -1; s < depth; s++) {
            if (s >= 0) {
                bh = slices[s];
            }
            while (bh != null) {
                int flags = (int) BhNode.FLAGS.getAcquire(bh); // pairs with enqueue's RMW (QEMU 5142397c79)
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
        }
        return timeout;
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
        BhNode bh = (BhNode) HEAD.getAndSet(this, (BhNode) null);
        List<BhNode> seen = new ArrayList<>();
        while (bh != null) {
            seen.add(bh);
            bh = next(bh);
        }
        for (BhNode b : seen) {
            int flags = (int) BhNode.FLAGS.getAndBitwiseAnd(b, ~CLEAR_ON_DEQUEUE);
            if ((flags & (BhNode.ONESHOT | BhNode.SCHEDULED | BhNode.DELETED))
                    == (BhNode.ONESHOT | BhNode.SCHEDULED)) {
                leaks.add("one-shot bottom half '" + b.name + "' was scheduled but never ran");
            }
        }
    }
}
