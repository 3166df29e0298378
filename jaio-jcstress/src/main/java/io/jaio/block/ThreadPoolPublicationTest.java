// SPDX-License-Identifier: Apache-2.0
package io.jaio.block;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.Expect;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.JJ_Result;
import io.jaio.internal.loop.BhQueue;
import io.jaio.internal.loop.JcsSupport;

/**
 * Thread-pool result publication (QEMU e77508292c, spec 1.11 and 3.6 item 41), on the real
 * ThreadPool.runTask (the result, then DONE with release, then the push and the completion
 * bottom half) against the home thread's ThreadPoolTask.state() (acquire) then the result.
 */
@JCStressTest
@Description("worker: ret then state=DONE (release) vs home: state (acquire) then ret; real ThreadPool.runTask")
@Outcome(id = "0, -1", expect = Expect.ACCEPTABLE, desc = "not done yet")
@Outcome(id = "1, 42", expect = Expect.ACCEPTABLE, desc = "done, and the result is visible")
@Outcome(expect = Expect.FORBIDDEN, desc = "DONE seen but a stale result read")
@State
public class ThreadPoolPublicationTest {
    final BhQueue queue = JcsSupport.newQueue();
    final ThreadPool pool = new ThreadPool(JcsSupport.CTX, queue);
    final PoolTaskFixture task = new PoolTaskFixture(pool, 42);

    @Actor
    public void worker() {
        PoolTaskFixture.runTask(pool, task);
    }

    @Actor
    public void home(JJ_Result r) {
        if (task.state() == ThreadPoolTask.DONE) {
            r.r1 = 1;
            r.r2 = task.ret;
        } else {
            r.r2 = -1;
        }
    }

    @Arbiter
    public void arbiter() {
        queue.poll(); // let the completion run so nothing stays queued
    }
}
