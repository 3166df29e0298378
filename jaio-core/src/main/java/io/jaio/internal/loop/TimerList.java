// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.loop;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.List;

import io.jaio.AioContext;
import io.jaio.ClockType;

/**
 * The armed timers of one clock of one context (QEMU's {@code QEMUTimerList}).
 *
 * <p>Implementation notes.
 * <ul>
 * <li><b>Structure.</b> QEMU keeps a sorted linked list (arming is O(n)); the timers live in a
 *     {@link TimerWheel} instead: arming, re-arming, anticipating and deleting are O(1) for
 *     deadlines within the wheel's 4.3 s span and O(log n) in the current tick's small heap or
 *     beyond the span; firing pops a heap of one tick's worth of timers. Ties between equal
 *     deadlines keep QEMU's arming order.</li>
 * <li><b>Lock.</b> All wheel state is guarded by {@link #lock}, a spin lock (one CAS to take it,
 *     a release store to give it back; the critical sections are O(1) or O(log small), apart
 *     from moving the cursor, which {@link TimerWheel} bounds). Callbacks run outside it.</li>
 * <li><b>The published head</b> ({@link #headNs}, read without the lock by the loop for its
 *     timeout and by {@link #run} for its fast path) is never later than the earliest armed
 *     deadline. It is exact when {@link #headExact}; otherwise it is a lower bound (the last
 *     earliest deadline, deleted since, or the start of the wheel's first non-empty slot), and
 *     {@link #headForTimeoutNs} makes it exact under the lock before the loop sleeps on it, so
 *     a blocking poll does not wake early. The rules that keep it a lower bound: arming
 *     publishes {@code min(old, wheel head)}; removing (delete, fire) publishes
 *     {@code max(old, wheel head)} (both are lower bounds of the new earliest deadline).</li>
 * <li><b>Wake-ups</b> (QEMU timerlist_notify): arming notifies the context exactly when it
 *     lowers the published head. A loop sleeping on a head {@code T} it read is woken by any
 *     later arming of a deadline before {@code T}: the published value only goes down through
 *     armings, each of which notifies, so the first arming below {@code T} finds a published
 *     value {@code >= T} and notifies. The head store (release) comes before the notify's
 *     volatile accesses, so the loop, which reads the head again after the notify, sees it.</li>
 * <li><b>Races.</b> A deletion racing with a loop that already computed its timeout leaves it
 *     sleeping until the deleted deadline: it wakes, finds nothing due, and sleeps again, as it
 *     did with QEMU's list. {@link io.jaio.Timer#expireTimeNs} reads the node's deadline with
 *     acquire, written with release under the lock.</li>
 * </ul>
 *
 * <p>Threading: {@link #mod}, {@link #delete}, {@link #headNs}, {@link #headForTimeoutNs} from any
 * thread; {@link #run} on the home thread.
 */
public final class TimerList {
    public static final long NONE = Long.MAX_VALUE;
    /** How many re-arms to the past one run() tolerates beyond the timers due at its start. */
    private static final int REARM_ALLOWANCE = 1024;
    /** Spins before a contended lock() starts yielding the CPU. */
    private static final int SPINS = 64;

    private static final VarHandle LOCK;
    private static final VarHandle HEAD;
    private static final VarHandle EXACT;

    static {
        try {
            MethodHandles.Lookup l = MethodHandles.lookup();
            LOCK = l.findVarHandle(TimerList.class, "lock", int.class);
            HEAD = l.findVarHandle(TimerList.class, "headNs", long.class);
            EXACT = l.findVarHandle(TimerList.class, "headExact", boolean.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    final AioContext ctx;
    final ClockType clock;
    /** For the clock's now when an empty list is armed (the wheel's cursor goes there). */
    private final TimerListGroup group;
    /** The context's wake-up and callback runner, copied from it (one load less per arm and fire). */
    private final Wakeup wakeup;
    private final CallbackRunner callbacks;
    private final TimerWheel wheel = new TimerWheel();
    /** 0 free, 1 held; CAS to take, release store to give back. */
    @SuppressWarnings("unused")
    private int lock;
    private long nextSeq;
    /**
     * The published earliest deadline (a lower bound, see the notes), or NONE. Written under the
     * lock with release, read without it with acquire; plain reads under the lock.
     */
    private long headNs = NONE;
    /** Whether {@link #headNs} is the exact earliest deadline. Same access rules. */
    private boolean headExact = true;

    /** A list of {@code ctx} that wakes it through {@code wakeup} and runs callbacks through {@code callbacks}. */
    public TimerList(AioContext ctx, ClockType clock, TimerListGroup group, Wakeup wakeup, CallbackRunner callbacks) {
        this.ctx = ctx;
        this.clock = clock;
        this.group = group;
        this.wakeup = wakeup;
        this.callbacks = callbacks;
    }

    /** QEMU timer_mod_ns / timer_mod_anticipate_ns. */
    public void mod(TimerNode t, long expireNs, boolean anticipate) {
        ContextCore.checkOpen(ctx); // an armed timer of a closed context would never fire nor be reported
        long e = Math.max(expireNs, 0);
        boolean notify;
        lock();
        try {
            if (t.isArmed()) {
                if (anticipate && t.expireNs <= e) {
                    return;
                }
                wheel.remove(t);
            }
            if (wheel.isEmpty()) {
                // An idle list's cursor may lag the clock by hours, or lead it (HOST set back):
                // put it on the clock, so that what follows lands in the wheel, not in a heap.
                wheel.rebase(group.clockNs(clock));
            }
            t.seq = nextSeq++;
            t.setExpire(e);
            wheel.add(t);
            notify = publishAfterArm();
        } finally {
            unlock();
        }
        if (notify) {
            wakeup.wakeForChange(); // QEMU timerlist_notify: let a sleeping loop recompute its deadline
        }
    }

    public void delete(TimerNode t) {
        lock();
        try {
            if (t.isArmed()) {
                wheel.remove(t);
                disarmed(t);
                publishAfterRemoval();
            }
        } finally {
            unlock();
        }
    }

    /** A lower bound of the earliest deadline on this clock, or NONE. Any thread, no lock. */
    public long headNs() {
        return (long) HEAD.getAcquire(this); // pairs with setRelease in publish()
    }

    /**
     * The earliest deadline, exact, for a loop about to sleep on it (QEMU timerlist_deadline_ns);
     * NONE when nothing is armed. Takes the lock only when the published head is a bound.
     */
    public long headForTimeoutNs() {
        long h = (long) HEAD.getAcquire(this); // pairs with setRelease in publish()
        if (h == NONE || (boolean) EXACT.getAcquire(this)) { // pairs with setRelease in publish()
            return h;
        }
        lock();
        try {
            wheel.refine();
            long exact = wheel.headNs(); // >= the published bound: the published value only rises here
            publish(exact, true);
            return exact;
        } finally {
            unlock();
        }
    }

    /**
     * Runs the timers due at this clock's current time, read once (QEMU timerlist_run_timers).
     * A callback that re-arms its timer to a time already past runs again in this call.
     */
    public boolean run(long nowNs) {
        if (headNs() > nowNs) { // a lower bound: nothing can be due
            return false;
        }
        boolean progress = false;
        int budget;
        lock();
        try {
            budget = wheel.size() + REARM_ALLOWANCE;
        } finally {
            unlock();
        }
        while (budget-- > 0) {
            TimerNode t;
            lock();
            try {
                t = wheel.pollDue(nowNs); // moves the cursor slot by slot as the near heap runs dry
                if (t != null) {
                    disarmed(t);
                }
                publishAfterRemoval();
                if (t == null) {
                    wheel.advanceTo(nowNs); // nothing is due: bring the cursor to the clock (the slots left are not due)
                    publishAfterRemoval();
                }
            } finally {
                unlock();
            }
            if (t == null) {
                break;
            }
            callbacks.runTimer(t);
            progress = true;
        }
        return progress;
    }

    /** Disarms everything and names each armed timer (close()). */
    public void collectLeaks(List<String> leaks) {
        lock();
        try {
            wheel.collectLeaks(clock, leaks);
            publish(NONE, true);
        } finally {
            unlock();
        }
    }

    public int size() {
        lock();
        try {
            return wheel.size();
        } finally {
            unlock();
        }
    }

    // ---- under the lock ----

    private static void disarmed(TimerNode t) {
        t.where = TimerNode.NOT_ARMED;
        t.pos = -1;
        t.setExpire(-1);
    }

    /** After an arming: publishes min(old, wheel head); returns whether that lowered it (notify). */
    private boolean publishAfterArm() {
        long h = wheel.headNs();
        long old = headNs;
        if (h < old) {
            publish(h, wheel.headExact());
            return true;
        }
        boolean exact = h == old && wheel.headExact();
        if (exact != headExact) {
            publish(old, exact);
        }
        return false;
    }

    /** After a removal or a cursor move: publishes max(old, wheel head). */
    private void publishAfterRemoval() {
        long h = wheel.headNs();
        long old = headNs;
        if (h > old) {
            publish(h, wheel.headExact());
        } else {
            boolean exact = h == old && wheel.headExact();
            if (exact != headExact) {
                publish(old, exact);
            }
        }
    }

    private void publish(long h, boolean exact) {
        EXACT.setRelease(this, exact); // pairs with getAcquire in headForTimeoutNs()
        HEAD.setRelease(this, h); // pairs with getAcquire in headNs() and headForTimeoutNs()
    }

    // ---- the lock ----

    private void lock() {
        if (!LOCK.compareAndSet(this, 0, 1)) { // acquire; pairs with setRelease in unlock()
            lockContended();
        }
    }

    private void lockContended() {
        int spins = 0;
        for (;;) { // as long as the holder's critical section: O(1), or a bounded cursor move
            if ((int) LOCK.getOpaque(this) == 0 && LOCK.compareAndSet(this, 0, 1)) { // pairs with setRelease in unlock()
                return;
            }
            if (++spins < SPINS) {
                Thread.onSpinWait();
            } else {
                Thread.yield(); // the holder may be descheduled (2 vCPUs, more threads)
            }
        }
    }

    private void unlock() {
        LOCK.setRelease(this, 0); // pairs with the CAS in lock()
    }
}
