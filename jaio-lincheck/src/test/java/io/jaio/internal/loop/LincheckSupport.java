// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.loop;

import java.util.concurrent.atomic.AtomicReference;

import org.jetbrains.lincheck.datastructures.ModelCheckingOptions;

import io.jaio.AioContext;
import io.jaio.ErrnoException;
import io.jaio.FdMonitorKind;

/**
 * What the Lincheck tests share: one real context per JVM that lends its identity to private
 * queues, and the model-checking options every test starts from.
 *
 * <p>As in the jcstress module, every scenario owns a fresh {@link BhQueue} whose home thread is a
 * thread never started: the threads Lincheck runs take the cross-thread paths of {@code schedule},
 * {@code cancel} and {@code delete}, and the operation that plays the home thread calls
 * {@link BhQueue#poll()} (and the home paths by name). The shared context is never polled, so its
 * {@code Wakeup.notifyMe} stays 0 and its eventfd is never written.
 *
 * <p>Lincheck's model checker runs the threads of a scenario one at a time and switches between
 * them at every shared-memory access it instruments (fields, arrays, atomics, VarHandles on fields,
 * monitors), exploring interleavings deterministically: the number of threads does not depend on
 * the number of CPUs. It does not instrument accesses through a {@code MemorySegment}'s VarHandle
 * (checked on 3.7: a read-modify-write through one ran without a switch), which is why the ring
 * model here uses an {@code int[]} with array-element VarHandles of the same access modes.
 */
public final class LincheckSupport {
    /** The context every scenario's queue belongs to; never polled, never closed (the JVM exits). */
    public static final AioContext CTX;
    /** A callback exception: no callback here throws, so any is a failure. */
    public static final AtomicReference<Throwable> CALLBACK_ERROR = new AtomicReference<>();
    /** Invocations (interleavings) per scenario; {@code -Djaio.lincheck.invocations=N} for a longer run. */
    public static final int INVOCATIONS = Integer.getInteger("jaio.lincheck.invocations", 200);
    /** Scenarios per test; {@code -Djaio.lincheck.iterations=N} for a longer run. */
    public static final int ITERATIONS = Integer.getInteger("jaio.lincheck.iterations", 3);

    static {
        try {
            CTX = AioContext.builder().name("lincheck").fdMonitor(FdMonitorKind.POLL).allowIoUring(false)
                    .errorHandler((ctx, source, error) -> CALLBACK_ERROR.compareAndSet(null, error)).build();
        } catch (ErrnoException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private LincheckSupport() {
    }

    /** The home thread of every private queue: never started, so no Lincheck thread is it. */
    static final Thread NO_HOME = Thread.ofPlatform().unstarted(() -> { });

    /** A private queue of {@link #CTX}, drained by the operation that plays the home thread. */
    public static BhQueue newQueue() {
        ContextCore core = ContextCore.of(CTX);
        return new BhQueue(CTX, NO_HOME, core.wakeup(), core.callbacks());
    }

    /**
     * Model checking with {@code threads} threads (more than this machine's two CPUs) of
     * {@code actorsPerThread} operations each, {@link #ITERATIONS} scenarios of
     * {@link #INVOCATIONS} interleavings.
     */
    public static ModelCheckingOptions options(int threads, int actorsPerThread) {
        // Initialises CTX here, on the test's own thread, which is then its home thread: never one
        // of the threads Lincheck runs operations on.
        java.util.Objects.requireNonNull(CTX);
        return new ModelCheckingOptions().threads(threads).actorsPerThread(actorsPerThread).actorsBefore(1)
                .actorsAfter(1).iterations(ITERATIONS).invocationsPerIteration(INVOCATIONS);
    }

    /**
     * A counter of checked interleavings for {@code test}. Lincheck restores the static state of the
     * classes it instruments after every invocation, so the counter lives in the system properties,
     * which it leaves alone.
     */
    public static java.util.concurrent.atomic.AtomicLong interleavings(String test) {
        return (java.util.concurrent.atomic.AtomicLong) System.getProperties()
                .computeIfAbsent("jaio.lincheck.count." + test, k -> new java.util.concurrent.atomic.AtomicLong());
    }

    /** Runs {@code check}, then prints how many interleavings the validation function saw. */
    public static void checkAndReport(ModelCheckingOptions options, Class<?> test) {
        long t0 = System.nanoTime();
        java.util.concurrent.atomic.AtomicLong n = interleavings(test.getSimpleName());
        n.set(0);
        options.check(test);
        System.out.printf("%s: %d interleavings checked in %.1f s (%d scenarios x up to %d invocations)%n",
                test.getSimpleName(), n.get(), (System.nanoTime() - t0) / 1e9, ITERATIONS, INVOCATIONS);
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
