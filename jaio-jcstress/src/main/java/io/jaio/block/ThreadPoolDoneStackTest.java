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
 * ThreadPool's lock-free stack of finished tasks (DONE_HEAD, pushed by workers with an exchange
 * and the UNLINKED link marker) and its completion bottom half, on the real classes: two workers
 * finish two tasks at once; the arbiter is the home thread's next poll. Each task completes
 * exactly once, with its own result. (A worker against the home thread's poll is
 * ThreadPoolCompletionRecheckTest.)
 */
@JCStressTest
@Description("two workers finish at once (real runTask: push on DONE_HEAD + schedule); the next poll completes each once")
@Outcome(id = "1, 1, 1", expect = Expect.ACCEPTABLE, desc = "each completed once with its result")
@Outcome(expect = Expect.FORBIDDEN, desc = "a completion lost, run twice, or with the wrong result")
@State
public class ThreadPoolDoneStackTest {
    final BhQueue queue = JcsSupport.newQueue();
    final ThreadPool pool = new ThreadPool(JcsSupport.CTX, queue);
    final PoolTaskFixture t1 = new PoolTaskFixture(pool, 11);
    final PoolTaskFixture t2 = new PoolTaskFixture(pool, 22);

    @Actor
    public void worker1() {
        PoolTaskFixture.runTask(pool, t1);
    }

    @Actor
    public void worker2() {
        PoolTaskFixture.runTask(pool, t2);
    }

    @Arbiter
    public void arbiter(III_Result r) {
        queue.poll();
        r.r1 = t1.completions;
        r.r2 = t2.completions;
        r.r3 = t1.completedRet == 11 && t2.completedRet == 22 && !t1.isPending() && !t2.isPending() ? 1 : 0;
    }
}
