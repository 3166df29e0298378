// SPDX-License-Identifier: Apache-2.0
package io.jaio.coroutine;

import io.jaio.AioContext;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * A mutex for coroutines (QEMU's {@code CoMutex}): a coroutine that finds it taken yields
 * instead of blocking its thread, and is woken, in FIFO order, when the lock is handed to it.
 * Thread-safe: coroutines of different contexts (threads) may contend; each waiter is resumed in
 * its own context through {@link Coroutine#wake}. Not reentrant.
 *
 * <p>Implementation notes. QEMU's CoMutex is OSv's lock-free mutex: a lock-free stack of waiters
 * plus a "hand-off" protocol for the race where an unlocker finds a waiter counted but not yet
 * queued (spec L4 notes an inverted predicate in it). This one keeps QEMU's counter and fast
 * paths and replaces the lock-free waiter stack and the hand-off with a short critical section:
 * <ul>
 * <li>{@code locked} counts the holder plus the waiters (QEMU {@code locked}). Uncontended lock
 *     is a CAS 0→1, uncontended unlock a decrement from 1: no lock is taken.</li>
 * <li>A contended locker increments {@code locked} and, <em>in the same critical section of
 *     {@code waitLock}</em>, appends itself to the FIFO if the counter was not 0 (if it was, it
 *     owns the lock). An unlocker whose decrement leaves waiters counted takes {@code waitLock}
 *     and pops the head: the waiter that made the count is queued by then, because it counted
 *     and queued under the lock the unlocker now holds. So there is always someone to pop and no
 *     hand-off race. The waiter is woken already owning the lock (the count keeps it taken).</li>
 * <li>Before queueing, a locker whose holder runs in another context spins up to 1000 times
 *     retrying the fast path, as QEMU does; with a holder in its own context it cannot be
 *     released while we spin, so it queues at once.</li>
 * <li>No coroutine ever yields while holding {@code waitLock}; the monitor only orders the
 *     queue operations.</li>
 * </ul>
 *
 * <p>Threading: {@link #lock} and {@link #unlock} inside coroutines, any thread; queries any
 * thread.
 */
public final class CoMutex {
    /** QEMU qemu_co_mutex_lock's spin limit. */
    static final int SPIN_LIMIT = 1000;
    private static final VarHandle LOCKED;

    static {
        try {
            LOCKED = MethodHandles.lookup().findVarHandle(CoMutex.class, "locked", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** Holder + waiters; accessed through LOCKED. */
    @SuppressWarnings("unused")
    private int locked;
    /** The holder and its context, written by the holder; read by spinners and diagnostics. */
    private volatile Coroutine holder;
    private volatile AioContext holderCtx;
    private final Object waitLock = new Object();
    // FIFO of waiting coroutines (linked through Coroutine.queueNext), guarded by waitLock.
    private Coroutine head;
    private Coroutine tail;

    /** An unlocked mutex. */
    public CoMutex() {
    }

    /**
     * Takes the mutex, yielding until it is handed over if another coroutine holds it (QEMU
     * qemu_co_mutex_lock). Inside a coroutine.
     *
     * @throws IllegalStateException outside a coroutine, or if the caller already holds it
     */
    public void lock() {
        Coroutine self = Coroutine.requireSelf("CoMutex.lock()");
        if (holder == self) {
            throw new IllegalStateException("CoMutex.lock() by " + self + ", which already holds it (CoMutex is not reentrant)");
        }
        if (!tryFastPath()) {
            lockSlow(self);
        }
        holder = self;
        holderCtx = AioContext.current();
        self.locksHeld++;
    }

    private boolean tryFastPath() {
        return LOCKED.compareAndSet(this, 0, 1); // acquire: pairs with the decrement in unlock()
    }

    private void lockSlow(Coroutine self) {
        AioContext me = AioContext.current();
        for (int i = 0; i < SPIN_LIMIT; i++) { // bounded spin while a holder elsewhere may release soon
            AioContext hc = holderCtx;
            if ((int) LOCKED.getVolatile(this) != 1 || hc == null || hc == me) {
                break; // waiters queued, holder unknown yet, or it runs on this very thread
            }
            Thread.onSpinWait();
            if ((int) LOCKED.getVolatile(this) == 0 && tryFastPath()) { // pairs with unlock()'s decrement
                return;
            }
        }
        synchronized (waitLock) {
            if ((int) LOCKED.getAndAdd(this, 1) == 0) { // pairs with unlock()'s decrement
                return; // released meanwhile: ours
            }
            self.queueNext = null;
            if (tail == null) {
                head = self;
            } else {
                tail.queueNext = self;
            }
            tail = self;
        }
        Coroutine.yield(); // woken by unlock() once the lock is ours
    }

    /**
     * Releases the mutex and, if coroutines wait, hands it to the oldest and wakes it in its
     * context (QEMU qemu_co_mutex_unlock). A waiter of the same context runs when the caller
     * next yields or returns. Inside the coroutine that holds it.
     *
     * @throws IllegalStateException if the calling coroutine does not hold the mutex
     */
    public void unlock() {
        Coroutine self = Coroutine.requireSelf("CoMutex.unlock()");
        Coroutine h = holder;
        if (h != self) {
            throw new IllegalStateException("CoMutex.unlock() by " + self + ", which does not hold it (holder: " + h + ")");
        }
        holder = null;
        holderCtx = null;
        self.locksHeld--;
        if ((int) LOCKED.getAndAdd(this, -1) == 1) { // release: pairs with the CAS / increment in lock()
            return;
        }
        Coroutine next;
        synchronized (waitLock) {
            next = head; // non-null: whoever made the count queued itself under waitLock
            head = next.queueNext;
            if (head == null) {
                tail = null;
            }
            next.queueNext = null;
        }
        Coroutine.wake(next);
    }

    /** {@return whether some coroutine holds the mutex}. Any thread. */
    public boolean isLocked() {
        return (int) LOCKED.getVolatile(this) != 0;
    }

    /**
     * The holder, or null (also briefly while the mutex is handed to a waiter). Any thread.
     *
     * @return the coroutine holding the mutex, or null
     */
    public Coroutine holder() {
        return holder;
    }
}
