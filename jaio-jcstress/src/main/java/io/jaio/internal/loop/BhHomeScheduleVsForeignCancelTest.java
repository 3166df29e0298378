// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.loop;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.Expect;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.III_Result;

/**
 * A schedule on the home thread's path (plain writes, no atomic instruction) vs cancel() on
 * another thread, on the real classes; the arbiter is the next poll. The canceller first reads a
 * flag the home actor sets after scheduling: when it saw the flag, its cancel came after the
 * schedule and must withdraw it, which only the cancel count in the shared word can do (the home
 * word is written by the home thread alone). Nothing is left queued either way.
 */
@JCStressTest
@Description("home-path schedule vs foreign cancel: a cancel that saw the schedule withdraws it")
@Outcome(id = "1, 0, 0", expect = Expect.ACCEPTABLE, desc = "the cancel came first (not seen); the schedule ran")
@Outcome(id = "0, 0, 0", expect = Expect.ACCEPTABLE, desc = "racing: the cancel withdrew the schedule")
@Outcome(id = "0, 1, 0", expect = Expect.ACCEPTABLE, desc = "the cancel came after the schedule and withdrew it")
@Outcome(id = "1, 1, 0", expect = Expect.FORBIDDEN, desc = "LOST CANCEL: the cancel saw the schedule, yet it ran")
@Outcome(expect = Expect.FORBIDDEN, desc = "ran twice, or left queued (r3 = 1)")
@State
public class BhHomeScheduleVsForeignCancelTest {
    final BhQueue queue = JcsSupport.newQueue();
    final int[] runs = new int[1];
    final BhNode bh = JcsSupport.counting(queue, runs, 0);
    volatile int scheduled;

    @Actor
    public void home() {
        queue.scheduleHome(bh, BhNode.SCHEDULED);
        scheduled = 1;
    }

    @Actor
    public void canceller(III_Result r) {
        r.r2 = scheduled;
        bh.cancel();
    }

    @Arbiter
    public void arbiter(III_Result r) {
        queue.poll();
        r.r1 = runs[0];
        r.r3 = JcsSupport.notPending(bh) && queue.timeoutNs() == -1 && !bh.isScheduled() ? 0 : 1;
    }
}
