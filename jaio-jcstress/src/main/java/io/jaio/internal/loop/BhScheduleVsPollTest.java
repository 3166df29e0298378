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
 * BottomHalf.schedule() vs the home thread's BhQueue.poll() on the real classes, with the bottom
 * half already queued (PENDING): the schedule's atomic or on the flags races with the dequeue's
 * atomic and. Either the schedule merges into the run being dequeued, or it finds PENDING clear
 * and pushes again for the next poll (the arbiter). The contract: a run starts after the last
 * schedule and sees what the scheduler wrote before scheduling; and the bottom half is never left
 * PENDING on no list.
 */
@JCStressTest
@Description("schedule (after a plain write) vs poll's dequeue of an already queued BH: the last run sees the write")
@Outcome(id = "1, 1, 0", expect = Expect.ACCEPTABLE, desc = "merged into the run being dequeued, which saw the write")
@Outcome(id = "2, 1, 0", expect = Expect.ACCEPTABLE, desc = "pushed again after the dequeue; the second run saw the write")
@Outcome(expect = Expect.FORBIDDEN, desc = "LOST SCHEDULE: the last run did not see the write, or left PENDING (r3 = 1)")
@State
public class BhScheduleVsPollTest {
    final BhQueue queue = JcsSupport.newQueue();
    int data;
    int runs;
    int lastSeen;
    final BhNode bh = queue.create("jcs", () -> {
        runs++;
        lastSeen = data;
    }, null, false);

    public BhScheduleVsPollTest() {
        bh.schedule(); // an earlier schedule, not run yet
    }

    @Actor
    public void scheduler() {
        data = 1; // plain: published by schedule()
        bh.schedule();
    }

    @Actor
    public void home() {
        queue.poll();
    }

    @Arbiter
    public void arbiter(III_Result r) {
        queue.poll();
        r.r1 = runs;
        r.r2 = lastSeen;
        r.r3 = JcsSupport.notPending(bh) && queue.timeoutNs() == -1 ? 0 : 1;
    }
}
