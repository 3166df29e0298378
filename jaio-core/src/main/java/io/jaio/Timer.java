// SPDX-License-Identifier: Apache-2.0
package io.jaio;

import java.time.Duration;
import java.time.Instant;
import java.util.Objects;

import io.jaio.internal.loop.TimerNode;

/**
 * A timer of one context on one clock (QEMU's {@code QEMUTimer}). Made by
 * {@link AioContext#newTimer}; reusable: arm it with {@link #mod}, disarm it with
 * {@link #delete()}, arm it again at will. When it expires, its callback runs on the home thread
 * during {@code poll()}, and it is disarmed before the call, so the callback may re-arm it.
 *
 * <p>Expiry is inclusive ({@code expire <= now} fires); timers with the same deadline fire in the
 * order they were armed. Arming a timer so that it becomes the earliest one of its clock wakes
 * the loop so it can shorten its sleep.
 *
 * <p>Threading: every method may be called from any thread (the clock's timer list has a lock).
 * A context may not be closed while one of its timers is armed: {@code close()} reports it.
 * Arming a timer of a closed context throws {@link IllegalStateException}, as scheduling a
 * bottom half there does.
 */
public final class Timer {
    /** The list's side: deadline and heap index (io.jaio.internal.loop owns the heap). */
    final TimerNode node;
    final TimerScale scale;
    final int attributes;
    /** The context whose clocks {@link #modIn} reads. */
    private final AioContext ctx;

    Timer(TimerNode node, TimerScale scale, int attributes, AioContext ctx) {
        this.node = node;
        this.scale = scale;
        this.attributes = attributes;
        this.ctx = ctx;
    }

    /** {@return the clock this timer runs on} */
    public ClockType clock() {
        return node.clock();
    }

    /** {@return the unit of {@link #mod} and {@link #modAnticipate}} */
    public TimerScale scale() {
        return scale;
    }

    /** {@return the attribute bits given at creation (QEMU QEMU_TIMER_ATTR_*)} */
    public int attributes() {
        return attributes;
    }

    /**
     * Arms (or re-arms) the timer to expire at {@code expireNs} on its clock; negative means 0.
     *
     * @param expireNs the deadline in ns on this timer's clock
     */
    public void modNs(long expireNs) {
        node.mod(expireNs, false);
    }

    /**
     * {@link #modNs} with the deadline in this timer's scale: {@code expire * scale}.
     *
     * @param expire the deadline in this timer's scale
     */
    public void mod(long expire) {
        node.mod(scaled(expire), false);
    }

    /**
     * Arms the timer at {@code expireNs} unless it is already armed to expire no later.
     *
     * @param expireNs the deadline in ns on this timer's clock
     */
    public void modAnticipateNs(long expireNs) {
        node.mod(expireNs, true);
    }

    /**
     * {@link #modAnticipateNs} with the deadline in this timer's scale.
     *
     * @param expire the deadline in this timer's scale
     */
    public void modAnticipate(long expire) {
        node.mod(scaled(expire), true);
    }

    /**
     * Arms (or re-arms) the timer to expire {@code delay} from now on its clock: "in 10 ms" is
     * {@code timer.modIn(Duration.ofMillis(10))}, whatever the timer's scale. The same as
     * {@code modNs(context.clockNs(clock()) + delay in ns)}; no allocation.
     *
     * @param delay how long from now, not negative; {@link Duration#ZERO} makes it due at once
     * @throws IllegalArgumentException if {@code delay} is negative
     */
    public void modIn(Duration delay) {
        node.mod(inNs(delay), false);
    }

    /**
     * {@link #modAnticipateNs} {@code delay} from now: arms the timer unless it is already armed
     * to expire no later.
     *
     * @param delay how long from now, not negative
     * @throws IllegalArgumentException if {@code delay} is negative
     */
    public void modAnticipateIn(Duration delay) {
        node.mod(inNs(delay), true);
    }

    /**
     * Arms (or re-arms) a {@link ClockType#HOST} timer to expire at wall-clock time {@code at}
     * (an instant in the past makes it due at once). Only the HOST clock has an epoch; the
     * others count from an arbitrary origin, so they take {@link #modIn} instead.
     *
     * @param at the deadline on the host's wall clock
     * @throws IllegalArgumentException if this timer is not on the HOST clock, or {@code at} is
     *     before the epoch
     */
    public void modAt(Instant at) {
        Objects.requireNonNull(at, "at");
        if (node.clock() != ClockType.HOST) {
            throw new IllegalArgumentException("modAt(" + at + ") on a " + node.clock()
                    + " timer (expected a HOST timer: only HOST counts from the epoch; use modIn(Duration))");
        }
        if (at.getEpochSecond() < 0) {
            throw new IllegalArgumentException("modAt(" + at + ") (expected an instant after 1970-01-01T00:00:00Z)");
        }
        long ns = at.getEpochSecond() > Long.MAX_VALUE / 1_000_000_000L - 1
                ? Long.MAX_VALUE : at.getEpochSecond() * 1_000_000_000L + at.getNano();
        node.mod(ns, false);
    }

    /**
     * {@return the time left until the deadline (zero when due), or null when not armed}
     * Allocates a {@link Duration}; the hot path reads {@link #expireTimeNs()}.
     */
    public Duration remaining() {
        long e = expireTimeNs();
        if (e < 0) {
            return null;
        }
        return Duration.ofNanos(Math.max(0, e - ctx.clockNs(node.clock())));
    }

    private long inNs(Duration delay) {
        long d = nonNegativeNanos("delay", delay);
        long now = ctx.clockNs(node.clock());
        return now > Long.MAX_VALUE - d ? Long.MAX_VALUE : now + d;
    }

    /** {@code d} in ns, saturated at Long.MAX_VALUE; {@code what} names it in the error. */
    static long nonNegativeNanos(String what, Duration d) {
        Objects.requireNonNull(d, what);
        if (d.isNegative()) {
            throw new IllegalArgumentException(what + "=" + d + " (expected >= 0)");
        }
        if (d.getSeconds() >= Long.MAX_VALUE / 1_000_000_000L) {
            return Long.MAX_VALUE;
        }
        return d.getSeconds() * 1_000_000_000L + d.getNano();
    }

    /** Disarms the timer; does nothing if it is not armed. */
    public void delete() {
        node.delete();
    }

    /** {@return whether the timer is armed} */
    public boolean isPending() {
        return expireTimeNs() >= 0;
    }

    /** {@return the deadline in ns on the clock, or -1 when the timer is not armed} */
    public long expireTimeNs() {
        return node.expireTimeNs();
    }

    /**
     * QEMU timer_expired: armed and due at {@code now}, given in this timer's scale.
     *
     * @param now the time to compare with, in this timer's scale
     * @return whether the timer is armed with a deadline at or before {@code now}
     */
    public boolean isExpired(long now) {
        long e = expireTimeNs();
        return e >= 0 && e <= now * scale.nanos();
    }

    private long scaled(long expire) {
        long m = scale.nanos();
        if (expire > Long.MAX_VALUE / m) {
            return Long.MAX_VALUE;
        }
        return expire < 0 ? 0 : expire * m;
    }

    @Override
    public String toString() {
        return "Timer[" + node.clock() + ", expire=" + expireTimeNs() + "ns]";
    }
}
