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
 * BottomHalf.cancel() vs the home thread's BhQueue.poll() of a scheduled bottom half, on the real
 * classes; the arbiter is the next poll. The run happens once or not at all (a run that began is
 * not stopped, as in QEMU), and nothing is left queued.
 */
@JCStressTest
@Description("cancel vs poll of a scheduled BH on the real classes: at most one run, nothing left queued")
@Outcome(id = "1, 0, 0", expect = Expect.ACCEPTABLE, desc = "the poll dequeued it before the cancel: it ran")
@Outcome(id = "0, 0, 0", expect = Expect.ACCEPTABLE, desc = "cancelled before the dequeue: skipped")
@Outcome(expect = Expect.FORBIDDEN, desc = "ran twice, ran in the later poll, or left queued (r3 = 1)")
@State
public class BhCancelVsPollTest {
    final BhQueue queue = JcsSupport.newQueue();
    final int[] runs = new int[1];
    final BhNode bh = JcsSupport.counting(queue, runs, 0);
    int homeRuns;

    public BhCancelVsPollTest() {
        bh.schedule();
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
