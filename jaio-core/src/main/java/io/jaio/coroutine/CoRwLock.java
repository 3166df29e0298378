// SPDX-License-Identifier: Apache-2.0
package io.jaio.coroutine;

/**
 * A readers-writer lock for coroutines (QEMU's {@code CoRwlock}, as rewritten in 050de36b13):
 * many readers or one writer; a coroutine that must wait yields. Waiters keep their place in one
 * FIFO of tickets (reader or writer), which gives writers fairness (a reader does not overtake a
 * queued writer) and lets {@link #downgrade()} and {@link #upgrade()} never lose a waiter's turn.
 *
 * <p>Implementation: {@code owners} is the number of readers holding the lock, or -1 for a
 * writer. Every state change happens under an internal {@link CoMutex}. A waiter is handed the
 * lock by whoever releases it: the head ticket is woken only if compatible, and {@code owners} is
 * updated on its behalf before the wake so nobody slips in between. A woken reader then tries to
 * wake the next ticket, so a run of queued readers enters together.
 *
 * <p>Threading: inside coroutines, any thread (the internal mutex is thread-safe).
 */
public final class CoRwLock {
    private static final class Ticket {
        final boolean read;
        final Coroutine co;
        Ticket next;

        Ticket(boolean read, Coroutine co) {
            this.read = read;
            this.co = co;
        }
    }

    private final CoMutex mutex = new CoMutex();
    /** Readers holding the lock, or -1 for a writer; guarded by mutex. */
    private int owners;
    private Ticket head;
    private Ticket tail;

    /** An unlocked lock. */
    public CoRwLock() {
    }

    private void enqueue(Ticket t) {
        if (tail == null) {
            head = t;
        } else {
            tail.next = t;
        }
        tail = t;
    }

    /** Wakes the head ticket if it can own the lock now, then releases the internal mutex. */
    private void maybeWakeOneAndUnlock() {
        Ticket t = head;
        Coroutine co = null;
        if (t != null) {
            if (t.read && owners >= 0) {
                owners++;
                co = t.co;
            } else if (!t.read && owners == 0) {
                owners = -1;
                co = t.co;
            }
        }
        if (co != null) {
            head = t.next;
            if (head == null) {
                tail = null;
            }
        }
        mutex.unlock();
        if (co != null) {
            Coroutine.wake(co);
        }
    }

    /** Takes a read lock; waits behind any queued ticket, so a queued writer is not starved. */
    public void rdlock() {
        Coroutine self = Coroutine.requireSelf("CoRwLock.rdlock()");
        mutex.lock();
        if (owners == 0 || (owners > 0 && head == null)) {
            owners++;
            mutex.unlock();
        } else {
            enqueue(new Ticket(true, self));
            mutex.unlock();
            Coroutine.yield(); // woken with owners already counting us
            mutex.lock();
            maybeWakeOneAndUnlock(); // pass the turn on to a following reader
        }
        self.locksHeld++;
    }

    /** Takes the write lock, waiting in FIFO order. */
    public void wrlock() {
        Coroutine self = Coroutine.requireSelf("CoRwLock.wrlock()");
        mutex.lock();
        if (owners == 0) {
            owners = -1;
            mutex.unlock();
        } else {
            enqueue(new Ticket(false, self));
            mutex.unlock();
            Coroutine.yield(); // woken with owners == -1 set for us
        }
        self.locksHeld++;
    }

    /**
     * Turns the caller's read lock into the write lock. If the caller is the only reader and
     * nobody waits, at once; otherwise it gives up its read lock and queues a writer ticket
     * behind the waiters already queued.
     *
     * @throws IllegalStateException if no read lock is held
     */
    public void upgrade() {
        Coroutine self = Coroutine.requireSelf("CoRwLock.upgrade()");
        mutex.lock();
        if (owners <= 0) {
            int o = owners;
            mutex.unlock();
            throw new IllegalStateException("CoRwLock.upgrade() by " + self + " with owners=" + o + " (expected a read lock held)");
        }
        if (owners == 1 && head == null) {
            owners = -1;
            mutex.unlock();
        } else {
            owners--;
            enqueue(new Ticket(false, self));
            maybeWakeOneAndUnlock();
            Coroutine.yield(); // woken with owners == -1 set for us
        }
    }

    /** Turns the caller's write lock into a read lock and lets queued readers in. */
    public void downgrade() {
        Coroutine self = Coroutine.requireSelf("CoRwLock.downgrade()");
        mutex.lock();
        if (owners != -1) {
            int o = owners;
            mutex.unlock();
            throw new IllegalStateException("CoRwLock.downgrade() by " + self + " with owners=" + o + " (expected the write lock held)");
        }
        owners = 1;
        maybeWakeOneAndUnlock();
    }

    /** Releases a read or write lock and hands the lock to the head ticket if it fits. */
    public void unlock() {
        Coroutine self = Coroutine.requireSelf("CoRwLock.unlock()");
        mutex.lock();
        if (owners > 0) {
            owners--;
        } else if (owners == -1) {
            owners = 0;
        } else {
            mutex.unlock();
            throw new IllegalStateException("CoRwLock.unlock() by " + self + " of a lock nobody holds");
        }
        self.locksHeld--;
        maybeWakeOneAndUnlock();
    }
}
