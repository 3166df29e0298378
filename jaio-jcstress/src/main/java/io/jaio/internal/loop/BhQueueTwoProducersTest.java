// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.loop;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.Expect;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.II_Result;

/**
 * The wait-free push of the real BhQueue (exchange of the head, then the link stored with
 * release; the UNLINKED marker in between) from two producers at once; the arbiter is the home
 * thread's next poll(). Both bottom halves are on the list and each runs exactly once. (jcstress
 * runs one actor per CPU; a producer-vs-consumer race is BhQueuePushVsPollTest.)
 */
@JCStressTest
@Description("two producers push on the real BhQueue at once; the next poll runs each exactly once")
@Outcome(id = "1, 1", expect = Expect.ACCEPTABLE, desc = "each ran once")
@Outcome(expect = Expect.FORBIDDEN, desc = "a push lost (0) or a bottom half run twice (2)")
@State
public class BhQueueTwoProducersTest {
    final BhQueue queue = JcsSupport.newQueue();
    final int[] runs = new int[2];
    final BhNode a = JcsSupport.counting(queue, runs, 0);
    final BhNode b = JcsSupport.counting(queue, runs, 1);

    @Actor
    public void producerA() {
        a.schedule();
    }

    @Actor
    public void producerB() {
        b.schedule();
    }

    @Arbiter
    public void arbiter(II_Result r) {
        queue.poll();
        r.r1 = runs[0];
        r.r2 = runs[1];
    }
}
