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
 * BottomHalf.schedule() vs cancel() on the real classes; the arbiter is the home thread's next
 * poll(). The cancel may come before the schedule (it runs) or after it (withdrawn); either way
 * the bottom half is on no list and not PENDING after that poll, so later schedules still work.
 */
@JCStressTest
@Description("schedule vs cancel on the real BottomHalf, then poll: runs at most once, never stuck PENDING")
@Outcome(id = "1, 0, 0", expect = Expect.ACCEPTABLE, desc = "cancel came first; the schedule ran")
@Outcome(id = "0, 0, 0", expect = Expect.ACCEPTABLE, desc = "the cancel withdrew the schedule; skipped when dequeued")
@Outcome(expect = Expect.FORBIDDEN, desc = "ran twice, or left PENDING/queued (r3 = 1)")
@State
public class BhScheduleVsCancelTest {
    final BhQueue queue = JcsSupport.newQueue();
    final int[] runs = new int[1];
    final BhNode bh = JcsSupport.counting(queue, runs, 0);

    @Actor
    public void scheduler() {
        bh.schedule();
    }

    @Actor
    public void canceller() {
        bh.cancel();
    }

    @Arbiter
    public void arbiter(III_Result r) {
        queue.poll();
        r.r1 = runs[0];
        r.r3 = JcsSupport.notPending(bh) && queue.timeoutNs() == -1 ? 0 : 1;
    }
}
