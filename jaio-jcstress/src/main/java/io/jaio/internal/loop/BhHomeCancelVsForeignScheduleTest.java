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
 * A bottom half scheduled on the home thread's path; then the home thread cancels it (its path:
 * a plain write, and an atomic and only when a foreign schedule is waiting) while another thread
 * writes and schedules it; the arbiter is the next poll. The foreign schedule came after the
 * cancel (one run, which sees the write) or before it (withdrawn with the home schedule).
 */
@JCStressTest
@Description("home cancel vs foreign schedule: one run that sees the write, or none; never two")
@Outcome(id = "1, 1, 0", expect = Expect.ACCEPTABLE, desc = "the foreign schedule came after the cancel: it ran")
@Outcome(id = "0, 0, 0", expect = Expect.ACCEPTABLE, desc = "the cancel came after both schedules: withdrawn")
@Outcome(expect = Expect.FORBIDDEN, desc = "ran twice, missed the write, or left queued (r3 = 1)")
@State
public class BhHomeCancelVsForeignScheduleTest {
    final BhQueue queue = JcsSupport.newQueue();
    int data;
    int runs;
    int lastSeen;
    final BhNode bh = queue.create("jcs", () -> {
        runs++;
        lastSeen = data;
    }, null, false);

    public BhHomeCancelVsForeignScheduleTest() {
        queue.scheduleHome(bh, BhNode.SCHEDULED);
    }

    @Actor
    public void home() {
        queue.cancelHome(bh);
    }

    @Actor
    public void foreign() {
        data = 1; // plain: published by schedule()
        bh.schedule();
    }

    @Arbiter
    public void arbiter(III_Result r) {
        queue.poll();
        r.r1 = runs;
        r.r2 = lastSeen;
        r.r3 = JcsSupport.notPending(bh) && queue.timeoutNs() == -1 ? 0 : 1;
    }
}
