// SPDX-License-Identifier: Apache-2.0
package io.jaio.coroutine;

/**
 * A FIFO of coroutines waiting for a condition (QEMU's {@code CoQueue}): {@link #await} queues
 * the running coroutine and yields, {@link #next()} and {@link #restartAll()} wake waiters in
 * their contexts.
 *
 * <p>Threading: not synchronised itself. Use it from one context, or from coroutines of several
 * contexts that all hold the same {@link CoMutex} while they touch it (pass that mutex to
 * {@link #await(CoMutex)}, which releases it while waiting, as a condition variable does).
 */
public final class CoQueue {
    private Coroutine head;
    private Coroutine tail;

    /** An empty queue. */
    public CoQueue() {
    }

    /**
     * Queues the running coroutine at the tail, releases {@code lock} (may be null), yields until
     * woken, then takes {@code lock} again (QEMU qemu_co_queue_wait). Inside a coroutine.
     *
     * @param lock the mutex the caller holds, or null
     */
    public void await(CoMutex lock) {
        Coroutine self = Coroutine.requireSelf("CoQueue.await()");
        self.queueNext = null;
        if (tail == null) {
            head = self;
        } else {
            tail.queueNext = self;
        }
        tail = self;
        if (lock != null) {
            lock.unlock();
        }
        Coroutine.yield();
        if (lock != null) {
            lock.lock();
        }
    }

    /** {@code await(null)}. */
    public void await() {
        await(null);
    }

    /**
     * Wakes the oldest waiter (QEMU qemu_co_queue_next); it runs when the caller yields if it
     * belongs to the caller's context. Inside or outside coroutines.
     *
     * @return whether there was a waiter
     */
    public boolean next() {
        Coroutine co = head;
        if (co == null) {
            return false;
        }
        head = co.queueNext;
        if (head == null) {
            tail = null;
        }
        co.queueNext = null;
        Coroutine.wake(co);
        return true;
    }

    /**
     * Wakes every coroutine waiting now, oldest first (QEMU qemu_co_queue_restart_all). The
     * queue is detached first, so a woken coroutine that runs at once and waits again is not
     * woken twice.
     */
    public void restartAll() {
        Coroutine co = head;
        head = null;
        tail = null;
        while (co != null) { // bounded by the waiters detached above
            Coroutine n = co.queueNext;
            co.queueNext = null;
            Coroutine.wake(co);
            co = n;
        }
    }

    /** {@return whether no coroutine waits} */
    public boolean isEmpty() {
        return head == null;
    }
}
