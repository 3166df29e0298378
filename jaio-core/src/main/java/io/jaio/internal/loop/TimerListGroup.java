// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.loop;

import java.util.List;

import io.jaio.AioContext;
import io.jaio.ClockType;

import io.jaio.internal.fdmon.PollSet;

/**
 * The clocks and timer lists of one context (QEMU's {@code QEMUTimerListGroup} plus the clock
 * state of {@code qemu-timer.c}): one {@link TimerList} per {@link ClockType}, which clocks are
 * enabled, and the virtual clock.
 *
 * <p>Threading: {@link #run()} on the home thread; everything else from any thread. The enabled
 * bits and the virtual clock are volatile, written under {@code this} (read-modify-writes from
 * any thread), read without it.
 */
public final class TimerListGroup {
    /** QEMU's order of qemu_clock_run_all_timers. */
    private static final ClockType[] RUN_ORDER = {ClockType.REALTIME, ClockType.VIRTUAL, ClockType.HOST, ClockType.VIRTUAL_RT};

    private final TimerList[] lists = new TimerList[ClockType.values().length];
    /** The lists in RUN_ORDER, so run() reads no enum (it runs in every poll). */
    private final TimerList[] runOrder = new TimerList[RUN_ORDER.length];
    /** Bit (1 &lt;&lt; clock.ordinal()) set while that clock runs its timers; RMW under {@code this}. */
    private volatile int enabledClocks;
    private volatile long virtualClockNs;

    public TimerListGroup(AioContext ctx, Wakeup wakeup, CallbackRunner callbacks) {
        int enabled = 0;
        for (ClockType c : ClockType.values()) {
            lists[c.ordinal()] = new TimerList(ctx, c, this, wakeup, callbacks);
            if (c != ClockType.VIRTUAL) { // QEMU qemu_clock_init: VIRTUAL starts disabled
                enabled |= 1 << c.ordinal();
            }
        }
        this.enabledClocks = enabled;
        for (int i = 0; i < RUN_ORDER.length; i++) {
            runOrder[i] = lists[RUN_ORDER[i].ordinal()];
        }
    }

    /** Timers armed on every clock now (each list's count under its lock; the sum is no cut). Any thread. */
    public int armedCount() {
        int n = 0;
        for (TimerList l : lists) {
            n += l.size();
        }
        return n;
    }

    /** The timer list of {@code clock}. */
    public TimerList list(ClockType clock) {
        return lists[clock.ordinal()];
    }

    /** See {@link AioContext#clockNs}. */
    public long clockNs(ClockType clock) {
        return switch (clock) {
            case REALTIME -> System.nanoTime();
            case HOST -> hostNs();
            case VIRTUAL, VIRTUAL_RT -> virtualClockNs;
        };
    }

    private static long hostNs() {
        java.time.Instant now = java.time.Instant.now();
        return now.getEpochSecond() * 1_000_000_000L + now.getNano();
    }

    /** Moves the virtual clock forward by {@code deltaNs} >= 0 (the caller checks it and wakes the loop). */
    public void advanceVirtualClockNs(long deltaNs) {
        synchronized (this) {
            virtualClockNs += deltaNs;
        }
    }

    /** QEMU qemu_clock_enable, minus the notify (the caller wakes the loop). */
    public void setEnabled(ClockType clock, boolean enabled) {
        synchronized (this) {
            int bit = 1 << clock.ordinal();
            enabledClocks = enabled ? enabledClocks | bit : enabledClocks & ~bit;
        }
    }

    public boolean isEnabled(ClockType clock) {
        return (enabledClocks & (1 << clock.ordinal())) != 0;
    }

    /**
     * The nearest timer deadline over the enabled clocks in ns from now: 0 if one is due, -1 if
     * none is armed. A timer on a virtual clock is either due (0) or waits for the clock to be
     * advanced, which wakes the loop (-1): virtual time does not pass while the loop sleeps.
     */
    public long deadlineNs() {
        long best = -1;
        for (TimerList tl : lists) {
            if (tl.headNs() == TimerList.NONE || !isEnabled(tl.clock)) {
                continue;
            }
            long head = tl.headForTimeoutNs(); // exact, so a blocking poll does not wake early
            if (head == TimerList.NONE) {
                continue;
            }
            long delta = head - clockNs(tl.clock);
            if (delta <= 0) {
                return 0;
            }
            if (tl.clock == ClockType.REALTIME || tl.clock == ClockType.HOST) {
                best = PollSet.soonest(best, delta);
            }
        }
        return best;
    }

    /** Runs the expired timers of every enabled clock (QEMU timerlistgroup_run_timers); returns progress. Home thread. */
    public boolean run() {
        boolean progress = false;
        for (TimerList tl : runOrder) { // QEMU: REALTIME, VIRTUAL, HOST, VIRTUAL_RT
            if (tl.headNs() != TimerList.NONE && isEnabled(tl.clock)) {
                progress |= tl.run(clockNs(tl.clock));
            }
        }
        return progress;
    }

    /** Disarms every timer and names each one that was armed (close()). */
    public void collectLeaks(List<String> leaks) {
        for (TimerList tl : lists) {
            tl.collectLeaks(leaks);
        }
    }
}
