// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.loop;

import org.jetbrains.lincheck.datastructures.IntGen;
import org.jetbrains.lincheck.datastructures.Operation;
import org.jetbrains.lincheck.datastructures.Param;
import org.jetbrains.lincheck.datastructures.Validate;
import org.junit.jupiter.api.Test;

import io.jaio.ClockType;

/**
 * Cross-thread timer re-arm on the real {@link TimerList} (timer wheel, spin lock, published head)
 * of a fresh {@link TimerListGroup} per interleaving, on the VIRTUAL clock: three threads re-arm
 * ({@code mod}) or delete two timers while the home thread runs the list at time 15 or 25
 * ({@code TimerList.run(now)}, QEMU timerlist_run_timers), so arming races with the pop under the
 * lock and with the callbacks, which run outside it.
 *
 * <p>Specification ({@link Spec}): each timer is armed at its last deadline or disarmed; a run at
 * {@code now} fires (and disarms) every timer armed at a deadline {@code <= now}; its result is the
 * set of timers that fired (bit i). After every interleaving {@link #invariants()} checks that
 * a run at 100 fires each timer still armed once, leaves the published head at NONE, and that no
 * timer fired more often than it was armed.
 */
@Param(name = "timer", gen = IntGen.class, conf = "0:1")
@Param(name = "deadline", gen = IntGen.class, conf = "10:20")
@Param(name = "now", gen = IntGen.class, conf = "15:25")
public class TimerRearmLincheckTest {
    final TimerListGroup group;
    final TimerList list;
    final int[] fired = new int[2];
    final int[] armings = new int[2];
    final TimerNode[] timers = new TimerNode[2];

    public TimerRearmLincheckTest() {
        ContextCore core = ContextCore.of(LincheckSupport.CTX);
        group = new TimerListGroup(LincheckSupport.CTX, core.wakeup(), core.callbacks());
        list = group.list(ClockType.VIRTUAL);
        for (int i = 0; i < 2; i++) {
            int slot = i;
            timers[i] = new TimerNode(list, () -> fired[slot]++);
        }
    }

    /** Any thread: timer_mod_ns. */
    @Operation
    public void mod(@Param(name = "timer") int i, @Param(name = "deadline") int deadlineNs) {
        synchronized (armings) { // test bookkeeping only
            armings[i]++;
        }
        timers[i].mod(deadlineNs, false);
    }

    /** Any thread: timer_del. */
    @Operation
    public void delete(@Param(name = "timer") int i) {
        timers[i].delete();
    }

    /** Home thread: timerlist_run_timers at {@code now}; bit i set when timer i fired. */
    @Operation(nonParallelGroup = "home")
    public int run(@Param(name = "now") int nowNs) {
        int before0 = fired[0];
        int before1 = fired[1];
        list.run(nowNs);
        return (fired[0] != before0 ? 1 : 0) | (fired[1] != before1 ? 2 : 0);
    }

    @Validate
    public void invariants() {
        LincheckSupport.interleavings("TimerRearmLincheckTest").incrementAndGet();
        int[] armedBefore = new int[2];
        for (int i = 0; i < 2; i++) {
            armedBefore[i] = timers[i].expireTimeNs() >= 0 ? 1 : 0;
        }
        int f0 = fired[0];
        int f1 = fired[1];
        list.run(100);
        int[] now = {fired[0] - f0, fired[1] - f1};
        for (int i = 0; i < 2; i++) {
            if (now[i] != armedBefore[i]) {
                throw new IllegalStateException("timer " + i + " armed=" + armedBefore[i] + " fired " + now[i]
                        + " times in the final run (expected once if armed, else never)");
            }
            if (fired[i] > armings[i]) {
                throw new IllegalStateException("timer " + i + " fired " + fired[i] + " times for " + armings[i] + " armings");
            }
        }
        if (list.headNs() != TimerList.NONE) {
            throw new IllegalStateException("published head " + list.headNs() + " with nothing armed (expected NONE)");
        }
    }

    /** The sequential specification. */
    public static final class Spec {
        private final long[] deadline = {-1, -1};

        public void mod(int i, int deadlineNs) {
            deadline[i] = deadlineNs;
        }

        public void delete(int i) {
            deadline[i] = -1;
        }

        public int run(int nowNs) {
            int r = 0;
            for (int i = 0; i < 2; i++) {
                if (deadline[i] >= 0 && deadline[i] <= nowNs) {
                    deadline[i] = -1;
                    r |= 1 << i;
                }
            }
            return r;
        }
    }

    @Test
    void rearmAndDeleteFromThreeThreadsAgainstTheRun() {
        LincheckSupport.checkAndReport(LincheckSupport.options(4, 2).sequentialSpecification(Spec.class),
                TimerRearmLincheckTest.class);
    }
}
