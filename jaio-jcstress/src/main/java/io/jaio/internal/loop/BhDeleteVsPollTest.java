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
 * BottomHalf.delete() (from another thread) vs the home thread's BhQueue.poll() of a scheduled
 * bottom half, on the real classes; the arbiter is the next poll. It runs once if the poll
 * dequeued it before the delete, else never; afterwards it is DELETED, on no list and out of the
 * leak registry, and a schedule is refused.
 */
@JCStressTest
@Description("delete vs poll of a scheduled BH on the real classes: at most one run, dropped cleanly, later schedule refused")
@Outcome(id = "1, 1, 0", expect = Expect.ACCEPTABLE, desc = "ran, then was deleted")
@Outcome(id = "0, 1, 0", expect = Expect.ACCEPTABLE, desc = "deleted before it ran: dropped")
@Outcome(expect = Expect.FORBIDDEN, desc = "ran twice, a schedule after delete accepted (r2 = 0), or left queued/registered (r3 = 1)")
@State
public class BhDeleteVsPollTest {
    final BhQueue queue = JcsSupport.newQueue();
    final int[] runs = new int[1];
    final BhNode bh = JcsSupport.counting(queue, runs, 0);

    public BhDeleteVsPollTest() {
        bh.schedule();
    }

    @Actor
    public void deleter() {
        bh.delete();
    }

    @Actor
    public void home() {
        queue.poll();
    }

    @Arbiter
    public void arbiter(III_Result r) {
        queue.poll();
        r.r1 = runs[0];
        boolean clean = JcsSupport.notPending(bh) && queue.timeoutNs() == -1 && !bh.registered
                && (JcsSupport.flags(bh) & BhNode.DELETED) != 0;
        try {
            bh.schedule(); // refused; note the refusal still or-s PENDING|SCHEDULED into the dead flags
        } catch (IllegalStateException e) {
            r.r2 = 1;
        }
        queue.poll();
        r.r3 = clean && runs[0] == r.r1 ? 0 : 1;
    }
}
