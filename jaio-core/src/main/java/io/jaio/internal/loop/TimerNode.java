// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.loop;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

import io.jaio.ClockType;

/**
 * The timer list's side of one timer: its deadline, arming sequence and place in the list's
 * {@link TimerWheel}, owned by {@link TimerList}. The public {@code io.jaio.Timer} holds one and
 * forwards to it.
 *
 * <p>Threading: {@link #mod}, {@link #delete} and {@link #expireTimeNs} from any thread; every
 * other field is guarded by the list's lock.
 */
public final class TimerNode {
    /** {@link #where}: not armed. */
    static final int NOT_ARMED = -1;
    /** {@link #where}: in the wheel's near heap (due in the current tick or earlier). */
    static final int IN_NEAR = -2;
    /** {@link #where}: in the wheel's far heap (beyond the wheel's span). */
    static final int IN_FAR = -3;

    private static final VarHandle EXPIRE;

    static {
        try {
            EXPIRE = MethodHandles.lookup().findVarHandle(TimerNode.class, "expireNs", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    final TimerList list;
    final Runnable callback;
    /**
     * Deadline in ns on the clock, or -1 when not armed. Written under the list lock with
     * release (so any thread may read it with acquire); read plainly under the lock.
     */
    long expireNs = -1;
    /** Arming order: ties between equal deadlines go to the smaller (QEMU: FIFO). Guarded by the lock. */
    long seq;
    /** Where the node is: {@link #NOT_ARMED}, {@link #IN_NEAR}, {@link #IN_FAR} or a wheel slot (>= 0). Guarded by the lock. */
    int where = NOT_ARMED;
    /** Index in that heap, or in that wheel slot's chunk. Guarded by the lock. */
    int pos = -1;
    /** The wheel chunk that holds the node (an id, not a reference: see TimerWheel). Guarded by the lock. */
    int chunk = -1;

    /** A disarmed timer on {@code list} that runs {@code callback} when it expires. */
    public TimerNode(TimerList list, Runnable callback) {
        this.list = list;
        this.callback = callback;
    }

    void setExpire(long ns) {
        EXPIRE.setRelease(this, ns); // pairs with getAcquire in expireTimeNs()
    }

    boolean isArmed() {
        return where != NOT_ARMED;
    }

    /** The clock of the list. */
    public ClockType clock() {
        return list.clock;
    }

    /** Arms (or re-arms) for {@code expireNs}; with {@code anticipate} only if that is earlier. Any thread. */
    public void mod(long expireNs, boolean anticipate) {
        list.mod(this, expireNs, anticipate);
    }

    /** Disarms. Any thread. */
    public void delete() {
        list.delete(this);
    }

    /** The deadline in ns, or -1 when not armed. Any thread. */
    public long expireTimeNs() {
        return (long) EXPIRE.getAcquire(this); // pairs with setRelease in setExpire()
    }
}
