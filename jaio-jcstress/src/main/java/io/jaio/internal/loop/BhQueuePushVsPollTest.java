// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.loop;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.Expect;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.IIIII_Result;

/**
 * A producer's push on the real BhQueue against the home thread's timeoutNs() and poll(), with
 * one bottom half already queued so the new node links to it: the consumer may take the list
 * between the producer's exchange and its link store, and must then wait out the UNLINKED marker
 * rather than lose the older node. The arbiter is the next poll. Each bottom half runs exactly
 * once; and if timeoutNs() saw the new node (it returns 0 for the queued one anyway, so r5 is
 * informational) the poll right after ran it.
 */
@JCStressTest
@Description("push (exchange, UNLINKED, link release) vs the consumer's exchange and walk on the real BhQueue")
@Outcome(id = {"1, 1, 0, 0, 1", "1, 0, 0, 1, 1"}, expect = Expect.ACCEPTABLE,
        desc = "the queued one ran in the home poll; the new one there or in the next poll")
@Outcome(expect = Expect.FORBIDDEN, desc = "a bottom half lost or run twice, or timeoutNs() did not see the queued one (r5 = 0)")
@State
public class BhQueuePushVsPollTest {
    final BhQueue queue = JcsSupport.newQueue();
    final int[] runs = new int[2];
    final BhNode old = JcsSupport.counting(queue, runs, 0);
    final BhNode fresh = JcsSupport.counting(queue, runs, 1);
    int homeOld;
    int homeFresh;
    int sawWork;

    public BhQueuePushVsPollTest() {
        old.schedule();
    }

    @Actor
    public void producer() {
        fresh.schedule();
    }

    @Actor
    public void home() {
        sawWork = queue.timeoutNs() == 0 ? 1 : 0;
        queue.poll();
        homeOld = runs[0];
        homeFresh = runs[1];
    }

    @Arbiter
    public void arbiter(IIIII_Result r) {
        queue.poll();
        r.r1 = homeOld;
        r.r2 = homeFresh;
        r.r3 = runs[0] - homeOld;
        r.r4 = runs[1] - homeFresh;
        r.r5 = sawWork;
    }
}
