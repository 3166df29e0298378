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
 * Two producers put a one-shot each in the one-shot ring (after a plain write each); the second
 * is the home thread, which polls right after its own (two actors, so the test runs on 2 CPUs).
 * The arbiter is the next poll. The claims race on the producer index, the home poll races the
 * other producer's publication; each one-shot runs exactly once, sees its producer's write, and
 * the ring ends empty.
 */
@JCStressTest
@Description("one-shot ring, two producers (one of them then polls): each runs once and sees its producer's write")
@Outcome(id = "1, 1, 0", expect = Expect.ACCEPTABLE, desc = "both ran once and saw their writes")
@Outcome(expect = Expect.FORBIDDEN, desc = "a one-shot lost, run twice or missed its write, or the ring not empty (r3 = 1)")
@State
public class OneShotRingTest {
    final BhQueue queue = JcsSupport.newQueue();
    int dataA;
    int dataB;
    int runsA;
    int runsB;
    int seenA;
    int seenB;
    final Runnable a = () -> {
        runsA++;
        seenA = dataA;
    };
    final Runnable b = () -> {
        runsB++;
        seenB = dataB;
    };

    @Actor
    public void producerA() {
        dataA = 1; // plain: published by the ring's release store
        queue.scheduleOneShot("a", a);
    }

    @Actor
    public void homeAndProducerB() {
        dataB = 1;
        queue.scheduleOneShot("b", b);
        queue.poll();
    }

    @Arbiter
    public void arbiter(III_Result r) {
        queue.poll();
        r.r1 = runsA == 1 && seenA == 1 ? 1 : 0;
        r.r2 = runsB == 1 && seenB == 1 ? 1 : 0;
        r.r3 = queue.timeoutNs() == -1 ? 0 : 1;
    }
}
