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
 * A schedule on the home thread's path vs schedule() on another thread (after a plain write) of
 * the same bottom half, on the real classes; the arbiter polls twice. The two schedules land on
 * two lists (home list, cross-thread list); the poll's take merges them: exactly one run, and it
 * sees what the foreign scheduler wrote before scheduling.
 */
@JCStressTest
@Description("home-path schedule vs foreign schedule of one BH: merged into one run that sees the foreign write")
@Outcome(id = "1, 1, 0", expect = Expect.ACCEPTABLE, desc = "merged: one run, which saw the write")
@Outcome(expect = Expect.FORBIDDEN, desc = "ran twice or never, missed the write (r2 = 0), or left queued (r3 = 1)")
@State
public class BhHomeScheduleVsForeignScheduleTest {
    final BhQueue queue = JcsSupport.newQueue();
    int data;
    int runs;
    int lastSeen;
    final BhNode bh = queue.create("jcs", () -> {
        runs++;
        lastSeen = data;
    }, null, false);

    @Actor
    public void home() {
        queue.scheduleHome(bh, BhNode.SCHEDULED);
    }

    @Actor
    public void foreign() {
        data = 1; // plain: published by schedule()
        bh.schedule();
    }

    @Arbiter
    public void arbiter(III_Result r) {
        queue.poll();
        int first = runs;
        queue.poll();
        r.r1 = runs == first ? runs : 10 + runs; // a run in the second poll would be a lost merge
        r.r2 = lastSeen;
        r.r3 = JcsSupport.notPending(bh) && queue.timeoutNs() == -1 ? 0 : 1;
    }
}
