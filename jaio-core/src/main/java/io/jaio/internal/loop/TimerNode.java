// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.loop;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

import io.jaio.ClockType;

/**
 * The timer list's side of one timer: its deadline and its index in the list's heap, owned by
 * {@link TimerList}. The public {@code io.jaio.Timer} holds one and forwards to it.
 *
 * <p>Threading: {@link #mod}, {@link #delete} and {@link #expireTimeNs} from any thread; the heap
 * index is guarded by the list lock.
 */
public final class TimerNode {
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
    /** Deadline in ns on the clock, or -1 when not armed. Written under the list lock with release. */
    @SuppressWarnings("unused")
    private long expireNs = -1;
    /** Position in the list's heap, or -1; guarded by the list lock. */
    int heapIndex = -1;

    /** A disarmed timer on {@code list} that runs {@code callback} when it expires. */
    public TimerNode(TimerList list, Runnable callback) {
        this.list = list;
        this.callback = callback;
    }

    void setExpire(long ns) {
        EXPIRE.setRelease(this, ns); // pairs with getAcquire in expireTimeNs()
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
