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
 * aio_notify against the blocking phase of poll() (spec 1.3, QEMU docs/spin/aio_notify.promela).
 *
 * <p>The work is real: a {@link BottomHalf} pushed on a real {@link BhQueue}, and the home
 * thread's real {@code BhQueue.poll()} and {@code timeoutNs()}. The two flags are a line-by-line
 * model of {@code Wakeup.aioNotify()} and {@code PollLoop.pollLocked()} with the same VarHandle access
 * modes, because the real ones end in an eventfd write and a blocking syscall; "kicked" stands for
 * the eventfd write, "blocked" for entering the wait with a non-zero timeout.
 *
 * <p>{@code notified} starts set, as after a notify the loop has not accepted yet, so both the
 * skip-when-already-notified path of aioNotify and the full path are exercised: the home actor
 * first accepts (clears the flag) and runs its bottom halves, then computes its timeout, raises
 * notifyMe and re-reads notified, as one loop iteration does.
 */
@JCStressTest
@Description("aioNotify (skip if notified; set notified; read notifyMe; kick) vs poll (accept; run BHs; "
        + "timeout; notifyMe += 2; read notified; block) with a real BhQueue push as the work")
@Outcome(id = "0, 0, 0", expect = Expect.ACCEPTABLE, desc = "home saw the work or the flag and did not block; no kick needed")
@Outcome(id = "0, 1, 0", expect = Expect.ACCEPTABLE, desc = "home did not block; the notifier kicked anyway (spurious eventfd write)")
@Outcome(id = "0, 0, 1", expect = Expect.ACCEPTABLE, desc = "home ran the bottom half in this iteration")
@Outcome(id = "0, 1, 1", expect = Expect.ACCEPTABLE, desc = "home ran the bottom half; spurious kick")
@Outcome(id = "1, 1, 0", expect = Expect.ACCEPTABLE, desc = "home blocked, the notifier kicked: woken")
@Outcome(id = "1, 0, 1", expect = Expect.ACCEPTABLE, desc = "home ran the bottom half, then blocked with nothing pending")
@Outcome(id = "1, 1, 1", expect = Expect.ACCEPTABLE, desc = "home ran the bottom half, blocked, and was kicked (spurious)")
@Outcome(id = "1, 0, 0", expect = Expect.FORBIDDEN, desc = "LOST WAKE-UP: home blocked, no kick, the bottom half is pending")
@State
public class WakeupProtocolTest {
    static final VarHandle NOTIFY_ME;
    static final VarHandle NOTIFIED;

    static {
        try {
            MethodHandles.Lookup l = MethodHandles.lookup();
            NOTIFY_ME = l.findVarHandle(WakeupProtocolTest.class, "notifyMe", int.class);
            NOTIFIED = l.findVarHandle(WakeupProtocolTest.class, "notified", boolean.class);
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
        NOTIFIED.setVolatile(this, true);
        if ((int) NOTIFY_ME.getVolatile(this) != 0) {
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
            NOTIFY_ME.setVolatile(this, nm + 2);
            if ((boolean) NOTIFIED.getVolatile(this)) {
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
