// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.loop;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.Expect;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.III_Result;
import io.jaio.BottomHalf;

/**
 * KNOWN-BAD CONTROL, a model of a bug and not jaio code: {@link WakeupProtocolTest} with the
 * store→load fences taken out, the bug QEMU fixed in 5710a3e09f (spec 3.1 item 1). The notifier
 * stores notified with release and loads notifyMe with acquire; the home thread stores notifyMe
 * with release and loads notified with acquire. Release/acquire does not order a store before a
 * later load (on x86 the store waits in the store buffer), so both sides can miss each other and
 * the FORBIDDEN "lost wake-up" outcome is expected to be observed: this test is run separately and
 * must fail, which shows the harness can see the bug that the real protocol's volatile accesses
 * prevent.
 */
@JCStressTest
@Description("KNOWN-BAD CONTROL (model of the missing-fence bug, must fail): aioNotify (skip if notified; set notified; read notifyMe; kick) vs poll (accept; run BHs; "
        + "timeout; notifyMe += 2; read notified; block) with a real BhQueue push as the work")
@Outcome(id = "0, 0, 0", expect = Expect.ACCEPTABLE, desc = "home saw the work or the flag and did not block; no kick needed")
@Outcome(id = "0, 1, 0", expect = Expect.ACCEPTABLE, desc = "home did not block; the notifier kicked anyway (spurious eventfd write)")
@Outcome(id = "0, 0, 1", expect = Expect.ACCEPTABLE, desc = "home ran the bottom half in this iteration")
@Outcome(id = "0, 1, 1", expect = Expect.ACCEPTABLE, desc = "home ran the bottom half; spurious kick")
@Outcome(id = "1, 1, 0", expect = Expect.ACCEPTABLE, desc = "home blocked, the notifier kicked: woken")
@Outcome(id = "1, 0, 1", expect = Expect.ACCEPTABLE, desc = "home ran the bottom half, then blocked with nothing pending")
@Outcome(id = "1, 1, 1", expect = Expect.ACCEPTABLE, desc = "home ran the bottom half, blocked, and was kicked (spurious)")
@Outcome(id = "1, 0, 0", expect = Expect.FORBIDDEN, desc = "LOST WAKE-UP (the modelled bug; expected to be seen): home blocked, no kick, the bottom half is pending")
@State
public class WakeupMissingFenceBugControl {
    static final VarHandle NOTIFY_ME;
    static final VarHandle NOTIFIED;

    static {
        try {
            MethodHandles.Lookup l = MethodHandles.lookup();
            NOTIFY_ME = l.findVarHandle(WakeupMissingFenceBugControl.class, "notifyMe", int.class);
            NOTIFIED = l.findVarHandle(WakeupMissingFenceBugControl.class, "notified", boolean.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    final BhQueue queue = JcsSupport.newQueue();
    final int[] runs = new int[1];
    final BhNode bh = JcsSupport.counting(queue, runs, 0);
    @SuppressWarnings("unused")
    private int notifyMe;
    @SuppressWarnings("unused")
    private boolean notified = true; // a notify not yet accepted (published by the state's safe publication)
    int kicked;
    int blocked;

    /** Any thread: BottomHalf.schedule(), then Wakeup.aioNotify(). */
    @Actor
    public void notifier() {
        queue.enqueue(bh, BhNode.SCHEDULED);
        if ((boolean) NOTIFIED.getVolatile(this)) {
            return; // already notified: whoever set it woke the loop, or the loop will see it
        }
        NOTIFIED.setRelease(this, true); // BUG: no store→load ordering with the read below
        if ((int) NOTIFY_ME.getAcquire(this) != 0) {
            kicked = 1; // the eventfd write
        }
    }

    /** Home thread: the end of one PollLoop.pollLocked() iteration and the wait decision of the next. */
    @Actor
    public void home() {
        if ((boolean) NOTIFIED.getVolatile(this)) { // aio_notify_accept
            NOTIFIED.setVolatile(this, false);
        }
        queue.poll();
        long timeoutNs = queue.timeoutNs(); // PollLoop.computeTimeoutNs(): no timers, no fds here
        if (timeoutNs != 0) {
            int nm = (int) NOTIFY_ME.get(this);
            NOTIFY_ME.setRelease(this, nm + 2); // BUG: no store→load ordering with the read below
            if ((boolean) NOTIFIED.getAcquire(this)) {
                timeoutNs = 0;
            }
        }
        blocked = timeoutNs != 0 ? 1 : 0;
    }

    @Arbiter
    public void arbiter(III_Result r) {
        r.r1 = blocked;
        r.r2 = kicked;
        r.r3 = runs[0];
    }
}
