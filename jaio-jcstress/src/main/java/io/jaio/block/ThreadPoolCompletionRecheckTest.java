// SPDX-License-Identifier: Apache-2.0
package io.jaio.block;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.Expect;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.III_Result;
import io.jaio.internal.loop.BhQueue;
import io.jaio.internal.loop.JcsSupport;

/**
 * The completion bottom half's cancel and re-check (QEMU 3c80ca158c, b7a745dc33, ef6dada8b4;
 * spec 3.4 item 27, 3.6 item 38), on the real ThreadPool. One task has finished and the
 * completion bottom half is scheduled; the home thread runs it, which keeps itself scheduled
 * while callbacks run and cancels itself at the end. Meanwhile a worker finishes a second task;
 * its schedule may merge into the one the cancel withdraws, so the bottom half must look at the
 * stack once more after the cancel. The arbiter is the next poll: the second completion must
 * have run by then.
 */
@JCStressTest
@Description("worker finishes task 2 while the completion BH (task 1) runs, keeps itself scheduled, cancels, re-checks")
@Outcome(id = "1, 1, 1", expect = Expect.ACCEPTABLE, desc = "task 2 completed in the home poll")
@Outcome(id = "1, 0, 1", expect = Expect.ACCEPTABLE, desc = "task 2 completed in the next poll")
@Outcome(expect = Expect.FORBIDDEN, desc = "LOST COMPLETION (r3 = 0): task 2 finished but no completion ran, or a double completion")
@State
public class ThreadPoolCompletionRecheckTest {
    final BhQueue queue = JcsSupport.newQueue();
    final ThreadPool pool = new ThreadPool(JcsSupport.CTX, queue);
    final PoolTaskFixture t1 = new PoolTaskFixture(pool, 1);
    final PoolTaskFixture t2 = new PoolTaskFixture(pool, 2);
    int home2;

    public ThreadPoolCompletionRecheckTest() {
        PoolTaskFixture.runTask(pool, t1); // finished before the race; the completion BH is scheduled
    }

    @Actor
    public void worker() {
        PoolTaskFixture.runTask(pool, t2);
    }

    @Actor
    public void home() {
        queue.poll();
        home2 = t2.completions;
    }

    @Arbiter
    public void arbiter(III_Result r) {
        queue.poll();
        r.r1 = t1.completions;
        r.r2 = home2;
        r.r3 = t2.completions;
    }
}
