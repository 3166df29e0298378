// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.loop;

import java.lang.foreign.Arena;

import org.jetbrains.lincheck.datastructures.Operation;
import org.jetbrains.lincheck.datastructures.Validate;

import io.jaio.ErrnoException;
import io.jaio.Fds;
import io.jaio.internal.fdmon.HandlerTable;
import io.jaio.internal.fdmon.PollFdMonitor;

/**
 * The wake-up protocol (QEMU aio_notify / aio_poll's notify_me) on the real {@link Wakeup} of a
 * fresh {@code Wakeup} per interleaving ({@code Wakeup.open}, as a context makes it), with its real eventfd: three notifier threads each schedule a
 * bottom half on a real {@link BhQueue} and so call {@code Wakeup.aioNotify()} (skip when notified;
 * set notified; read notifyMe; write the eventfd), against the home thread doing what one
 * {@code PollLoop.pollLocked()} iteration does around its wait: {@code accept()}, the bottom-half
 * poll, the timeout from the queue, {@code announceBlocking()} (notifyMe += 2, then re-read
 * notified) and, when it still decides to block, a look at the eventfd standing for the blocking
 * ppoll: readable means woken (drained, {@code endBlocking()}), not readable means asleep.
 *
 * <p>Property (no lost wake-up), checked after every interleaving by {@link #noLostWakeUp()}: the
 * home thread is never left asleep with a bottom half queued and its eventfd not readable. The
 * sequential specification is the trivial one (every operation returns nothing): the property is
 * about the final state, as in jcstress's {@code WakeupProtocolTest}, which checks the memory
 * ordering of the same steps; Lincheck interleaves with sequential consistency and checks the
 * logic with three notifiers at once, which jcstress cannot run on two CPUs.
 * {@link WakeupLincheckTest} runs it on the real protocol; {@link WakeupNoRecheckBugControlTest} runs it
 * with the re-check left out and must fail.
 */
public abstract class WakeupScenario {
    final Wakeup wakeup;
    final BhQueue queue;
    final int[] runs = new int[3];
    final BhNode[] bhs = new BhNode[3];
    /** The home thread's state: false while it runs, true once it sleeps in the modelled ppoll. */
    boolean asleep;
    /** Whether this run models the known-bad loop (no re-check of notified after raising notifyMe). */
    final boolean noRecheck;

    WakeupScenario(boolean noRecheck) {
        this.noRecheck = noRecheck;
        try {
            Arena arena = Arena.ofAuto(); // the table's and the eventfd buffer's memory, freed by the GC
            HandlerTable table = new HandlerTable(arena, "lc-wakeup", false);
            table.setMonitor(new PollFdMonitor(table, arena)); // never waited on: the model looks at the eventfd itself
            wakeup = Wakeup.open(LincheckSupport.CTX, table, arena);
        } catch (ErrnoException e) {
            throw new IllegalStateException("cannot open the eventfd", e);
        }
        queue = new BhQueue(LincheckSupport.CTX, LincheckSupport.NO_HOME, wakeup,
                ContextCore.of(LincheckSupport.CTX).callbacks());
        for (int i = 0; i < bhs.length; i++) {
            int slot = i;
            bhs[i] = queue.create("lc-wake-" + i, () -> runs[slot]++, null, false);
        }
    }

    /** Another thread: BottomHalf.schedule() (enqueue, then wakeForChange() → aioNotify()). */
    @Operation
    public void schedule0() {
        bhs[0].schedule();
    }

    @Operation
    public void schedule1() {
        bhs[1].schedule();
    }

    @Operation
    public void schedule2() {
        bhs[2].schedule();
    }

    /** The home thread: one loop iteration up to and including the wait. */
    @Operation(nonParallelGroup = "home")
    public void iteration() {
        if (asleep) {
            if (!eventfdReadable()) {
                return; // still asleep: nothing woke it
            }
            asleep = false;
            wakeup.endBlocking();
        }
        wakeup.accept();
        queue.poll();
        long timeoutNs = queue.timeoutNs(); // PollLoop.computeTimeoutNs(): no timers, no fds here
        if (timeoutNs != 0) {
            boolean notified = wakeup.announceBlocking();
            if (notified && !noRecheck) {
                timeoutNs = 0;
            }
            if (timeoutNs != 0) {
                if (eventfdReadable()) {
                    wakeup.endBlocking(); // the ppoll returned at once
                } else {
                    asleep = true;
                    return;
                }
            } else {
                wakeup.endBlocking();
            }
        }
    }

    private boolean eventfdReadable() {
        try {
            return Fds.read(wakeup.fd(), 8) != null;
        } catch (ErrnoException e) {
            throw new IllegalStateException(e);
        }
    }

    /** After every interleaving: asleep with work queued and nothing to wake it is a lost wake-up. */
    @Validate
    public void noLostWakeUp() {
        try {
            boolean pending = queue.timeoutNs() == 0;
            if (asleep && pending && !eventfdReadable()) {
                throw new IllegalStateException("LOST WAKE-UP: the home thread sleeps, a bottom half is queued,"
                        + " and the eventfd was not written");
            }
        } finally {
            for (BhNode bh : bhs) {
                bh.delete();
            }
            queue.poll();
            wakeup.release(); // closes the eventfd
            LincheckSupport.interleavings(getClass().getSimpleName()).incrementAndGet();
        }
    }

    /** The sequential specification: nothing returns a value; the property is {@link #noLostWakeUp()}. */
    public static final class Spec {
        public void schedule0() {
        }

        public void schedule1() {
        }

        public void schedule2() {
        }

        public void iteration() {
        }
    }
}
