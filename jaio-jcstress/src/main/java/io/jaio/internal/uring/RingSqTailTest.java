// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.uring;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.Expect;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import org.openjdk.jcstress.infra.results.JJ_Result;

/**
 * SQ publication as Ring.nextSqe() and Ring.publish() do it: the SQE is zeroed and filled with
 * plain writes, then sq.tail is stored with release; the kernel loads sq.tail with acquire and
 * then reads the SQE. Modelled on a MemorySegment with Ring's VarHandle (see RingModel).
 */
@JCStressTest
@Description("SQE plain writes then sq.tail setRelease (Ring.publish) vs kernel acquire of sq.tail then SQE read")
@Outcome(id = "0, 0", expect = Expect.ACCEPTABLE, desc = "the kernel did not see the new tail yet")
@Outcome(id = "1, 4660", expect = Expect.ACCEPTABLE, desc = "new tail, and the filled SQE")
@Outcome(expect = Expect.FORBIDDEN, desc = "new tail seen but a stale SQE read")
@State
public class RingSqTailTest {
    final RingModel ring = new RingModel();

    @Actor
    public void application() {
        for (long k = 0; k < 64; k += 8) {
            ring.mem.set(JAVA_LONG, RingModel.SQE + k, 0L); // nextSqe(): zero it
        }
        ring.mem.set(JAVA_LONG, RingModel.SQE_USER_DATA, 0x1234L);
        RingModel.INT.setRelease(ring.mem, RingModel.SQ_TAIL, 1); // publish()
    }

    @Actor
    public void kernel(JJ_Result r) {
        int tail = (int) RingModel.INT.getAcquire(ring.mem, RingModel.SQ_TAIL); // smp_load_acquire(&sq.tail)
        r.r1 = tail;
        if (tail == 1) {
            r.r2 = ring.mem.get(JAVA_LONG, RingModel.SQE_USER_DATA);
        }
    }
}
