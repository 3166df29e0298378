// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.uring;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.Expect;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import org.openjdk.jcstress.infra.results.II_Result;

/**
 * CQ slot recycling as Ring.cqAdvance() relies on it: the application reads a CQE, then returns
 * the slot by storing cq.head with release; the kernel loads cq.head with acquire and only then
 * writes the next lap's CQE into the slot. The application must never read the next lap's
 * value for the CQE it consumed. Modelled on a MemorySegment with Ring's VarHandle (a ring of
 * one CQE holding one completion, res = 1, at the start).
 */
@JCStressTest
@Description("Ring.cqAdvance(): CQE read then cq.head release vs kernel acquire of cq.head then slot overwrite")
@Outcome(id = "1, 0", expect = Expect.ACCEPTABLE, desc = "read the completion; the kernel had not seen the slot returned")
@Outcome(id = "1, 1", expect = Expect.ACCEPTABLE, desc = "read the completion; the kernel reused the slot afterwards")
@Outcome(expect = Expect.FORBIDDEN, desc = "read the next lap's CQE: the slot was overwritten before it was returned")
@State
public class RingCqHeadTest {
    final RingModel ring = new RingModel();
    int reused;

    public RingCqHeadTest() {
        ring.mem.set(JAVA_INT, RingModel.CQE_RES, 1);
        RingModel.INT.set(ring.mem, RingModel.CQ_TAIL, 1); // published to the actors by the state's safe publication
    }

    @Actor
    public void application(II_Result r) {
        r.r1 = ring.mem.get(JAVA_INT, RingModel.CQE_RES);
        RingModel.INT.setRelease(ring.mem, RingModel.CQ_HEAD, 1); // Ring.cqAdvance(head)
    }

    @Actor
    public void kernel() {
        if ((int) RingModel.INT.getAcquire(ring.mem, RingModel.CQ_HEAD) == 1) { // smp_load_acquire(&cq.head)
            ring.mem.set(JAVA_INT, RingModel.CQE_RES, 2); // the next lap's completion
            RingModel.INT.setRelease(ring.mem, RingModel.CQ_TAIL, 2);
            reused = 1;
        }
    }

    @Arbiter
    public void arbiter(II_Result r) {
        r.r2 = reused;
    }
}
