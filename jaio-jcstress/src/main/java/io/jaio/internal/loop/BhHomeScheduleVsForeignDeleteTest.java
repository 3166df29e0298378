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
 * A schedule on the home thread's path vs delete() on another thread, on the real classes; the
 * arbiter is the next poll. The home schedule is refused if the delete came first, else it is
 * dropped by the poll, which reads DELETED: the callback never runs, and the bottom half ends on
 * no list and out of the leak registry.
 */
@JCStressTest
@Description("home-path schedule vs foreign delete: never runs, refused or dropped, nothing left queued")
@Outcome(id = "0, 0, 0", expect = Expect.ACCEPTABLE, desc = "scheduled, then deleted: dropped by the poll")
@Outcome(id = "0, 1, 0", expect = Expect.ACCEPTABLE, desc = "deleted first: the home schedule was refused")
@Outcome(expect = Expect.FORBIDDEN, desc = "RAN AFTER DELETE (r1 > 0), or left queued/registered (r3 = 1)")
@State
public class BhHomeScheduleVsForeignDeleteTest {
    final BhQueue queue = JcsSupport.newQueue();
    final int[] runs = new int[1];
    final BhNode bh = JcsSupport.counting(queue, runs, 0);

    @Actor
    public void home(III_Result r) {
        try {
            queue.scheduleHome(bh, BhNode.SCHEDULED);
        } catch (IllegalStateException e) {
            r.r2 = 1;
        }
    }

    @Actor
    public void deleter() {
        bh.delete();
    }

    @Arbiter
    public void arbiter(III_Result r) {
        queue.poll();
        r.r1 = runs[0];
        boolean clean = JcsSupport.notPending(bh) && queue.timeoutNs() == -1 && !bh.registered
                && (JcsSupport.flags(bh) & BhNode.DELETED) != 0 && !bh.isScheduled();
        r.r3 = clean ? 0 : 1;
    }
}
