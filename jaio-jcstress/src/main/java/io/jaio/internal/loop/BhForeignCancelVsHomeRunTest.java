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
 * A bottom half scheduled on the home thread's path, then cancel() on another thread vs the home
 * thread's poll; the arbiter is the next poll. The run happens in the home poll or not at all (a
 * run that began is not stopped, as in QEMU), never later, and nothing is left queued.
 */
@JCStressTest
@Description("foreign cancel vs the home poll of a home-scheduled BH: at most one run, in that poll")
@Outcome(id = "1, 0, 0", expect = Expect.ACCEPTABLE, desc = "the poll ran it before the cancel")
@Outcome(id = "0, 0, 0", expect = Expect.ACCEPTABLE, desc = "cancelled before the run: skipped")
@Outcome(expect = Expect.FORBIDDEN, desc = "ran twice, ran in the later poll, or left queued (r3 = 1)")
@State
public class BhForeignCancelVsHomeRunTest {
    final BhQueue queue = JcsSupport.newQueue();
    final int[] runs = new int[1];
    final BhNode bh = JcsSupport.counting(queue, runs, 0);
    int homeRuns;

    public BhForeignCancelVsHomeRunTest() {
        queue.scheduleHome(bh, BhNode.SCHEDULED); // published to the actors with the state
    }

    @Actor
    public void canceller() {
        bh.cancel();
    }

    @Actor
    public void home() {
        queue.poll();
        homeRuns = runs[0];
    }

    @Arbiter
    public void arbiter(III_Result r) {
        queue.poll();
        r.r1 = homeRuns;
        r.r2 = runs[0] - homeRuns;
        r.r3 = JcsSupport.notPending(bh) && queue.timeoutNs() == -1 ? 0 : 1;
    }
}
