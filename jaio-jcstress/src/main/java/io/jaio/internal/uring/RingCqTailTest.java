// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.uring;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.Expect;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import org.openjdk.jcstress.infra.results.JJJ_Result;

/**
 * CQ publication as Ring.cqTail() and cqeRes()/cqeUserData() rely on it: the kernel writes the
 * CQE and stores cq.tail with release; the application loads cq.tail with acquire, compares it
 * with its head and reads the CQE plainly. Modelled on a MemorySegment with Ring's VarHandle.
 */
@JCStressTest
@Description("kernel CQE writes then cq.tail release vs Ring.cqTail() acquire then plain CQE reads")
@Outcome(id = "0, 0, 0", expect = Expect.ACCEPTABLE, desc = "no completion seen yet")
@Outcome(id = "1, 51966, -11", expect = Expect.ACCEPTABLE, desc = "the completion, whole")
@Outcome(expect = Expect.FORBIDDEN, desc = "new tail seen but a stale CQE (user_data or res) read")
@State
public class RingCqTailTest {
    final RingModel ring = new RingModel();

    @Actor
    public void kernel() {
        ring.mem.set(JAVA_LONG, RingModel.CQE_USER_DATA, 0xCAFEL);
        ring.mem.set(JAVA_INT, RingModel.CQE_RES, -11);
        RingModel.INT.setRelease(ring.mem, RingModel.CQ_TAIL, 1); // smp_store_release(&cq.tail)
    }

    @Actor
    public void application(JJJ_Result r) {
        int head = (int) RingModel.INT.get(ring.mem, RingModel.CQ_HEAD); // Ring.cqHead(): only we write it
        int tail = (int) RingModel.INT.getAcquire(ring.mem, RingModel.CQ_TAIL); // Ring.cqTail()
        r.r1 = tail - head;
        if (tail != head) {
            r.r2 = ring.mem.get(JAVA_LONG, RingModel.CQE_USER_DATA);
            r.r3 = ring.mem.get(JAVA_INT, RingModel.CQE_RES);
        }
    }
}
