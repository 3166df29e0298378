// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.loop;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.util.concurrent.atomic.AtomicReference;
import io.jaio.AioContext;
import io.jaio.ErrnoException;
import io.jaio.FdMonitorKind;

/**
 * What the jcstress tests share: one real context per forked JVM, and handles on the private
 * methods of the classes under test.
 *
 * <p>The tests live in package {@code io.jaio} so that they can build jaio's real package-private
 * pieces ({@link BhQueue}, {@link BhNode}, and through it {@code ThreadPool} and {@code CoScheduleQueue}) per
 * jcstress state. Each state owns its own {@link BhQueue}, drained by the actor that plays the
 * home thread, so no state needs a kernel fd. The shared context only lends its identity: it is
 * never polled, so its {@code Wakeup.notifyMe} stays 0 and its notifier is never written (the wake-up
 * protocol itself is tested on a model, see {@link WakeupProtocolTest}).
 */
public final class JcsSupport {
    /** The context every state's queue belongs to; never polled, never closed (the fork exits). */
    public static final AioContext CTX;
    /** A callback exception: the tests' callbacks do not throw, so any is a test failure. */
    public static final AtomicReference<Throwable> CALLBACK_ERROR = new AtomicReference<>();


    static {
        try {
            CTX = AioContext.builder().name("jcstress").fdMonitor(FdMonitorKind.POLL).allowIoUring(false)
                    .errorHandler((ctx, source, error) -> CALLBACK_ERROR.compareAndSet(null, error)).build();
        } catch (ErrnoException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private JcsSupport() {
    }

    /**
     * The home thread of every state's queue: a thread never started, so every actor takes the
     * cross-thread paths of schedule() and cancel(); the actor that plays the home thread calls
     * the home paths ({@link BhQueue#scheduleHome}, {@link BhQueue#cancelHome}) by name.
     */
    static final Thread NO_HOME = Thread.ofPlatform().unstarted(() -> { });

    /** A private queue of {@link #CTX}, drained by the actor that plays the home thread. */
    public static BhQueue newQueue() {
        ContextCore core = ContextCore.of(CTX);
        return new BhQueue(CTX, NO_HOME, core.wakeup(), core.callbacks());
    }

    /** A reusable bottom half on {@code q} that counts its runs in {@code runs[slot]}. */
    static BhNode counting(BhQueue q, int[] runs, int slot) {
        return q.create("jcs-" + slot, () -> runs[slot]++, null, false);
    }

    /** Whether {@code bh} is on no list: PENDING clear and not on the home list. */
    static boolean notPending(BhNode bh) {
        return (bh.flags() & BhNode.PENDING) == 0 && !bh.homeQueued();
    }

    static int flags(BhNode bh) {
        return bh.flags();
    }

    /** Rethrows what a method handle threw. */
    public static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) {
            throw r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        throw new IllegalStateException(t);
    }
}
