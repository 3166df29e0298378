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
 * The home thread schedules a bottom half on its own path and polls, while another thread writes
 * and schedules the same bottom half; the arbiter is the next poll. The home poll always runs it
 * (the home schedule came before it in program order). The foreign schedule either merges into
 * that run (taken by the same poll) or runs once more in the arbiter's poll; the last run sees
 * the foreign write, and nothing is left queued.
 */
@JCStressTest
@Description("home schedule + poll vs foreign schedule: the home run happens, the last run sees the foreign write")
@Outcome(id = "1, 1, 0", expect = Expect.ACCEPTABLE, desc = "the foreign schedule merged into the home poll's run")
@Outcome(id = "1, 2, 0", expect = Expect.ACCEPTABLE, desc = "the foreign schedule came after the take: one more run")
@Outcome(expect = Expect.FORBIDDEN, desc = "home run missing, ran too often, last run missed the write, or left queued (r3 = 1)")
@State
public class BhHomeRunVsForeignScheduleTest {
    final BhQueue queue = JcsSupport.newQueue();
    int data;
    int runs;
    int lastSeen;
    int homeRuns;
    final BhNode bh = queue.create("jcs", () -> {
        runs++;
        lastSeen = data;
    }, null, false);

    @Actor
    public void home() {
        queue.scheduleHome(bh, BhNode.SCHEDULED);
        queue.poll();
        homeRuns = runs;
    }

    @Actor
    public void foreign() {
        data = 1; // plain: published by schedule()
        bh.schedule();
    }

    @Arbiter
    public void arbiter(III_Result r) {
        queue.poll();
        r.r1 = homeRuns;
        r.r2 = runs;
        r.r3 = lastSeen == 1 && JcsSupport.notPending(bh) && queue.timeoutNs() == -1 ? 0 : 1;
    }
}
