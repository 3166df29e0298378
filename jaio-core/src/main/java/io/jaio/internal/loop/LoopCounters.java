// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.loop;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * The home thread's event counters of one context, for {@code AioContext.stats()}: poll()
 * iterations, iterations that waited with a non-zero timeout, bottom-half callbacks run.
 *
 * <p>Implementation notes. Only the home thread writes, so an increment is a plain read and an
 * opaque store: no atomic instruction, no fence (on x86 and AArch64 the same instructions as a
 * plain {@code ++}). Opaque rather than plain so that a reader on another thread never sees a
 * torn long and sees each store eventually (the JMM gives neither for plain longs); there is no
 * ordering with anything else, and none is promised: a reader gets each counter as it was at some
 * recent moment, each field monotonic on its own, never a consistent cut across fields.
 *
 * <p>Threading: the {@code on*} methods on the home thread; the getters from any thread.
 */
public final class LoopCounters {
    private static final VarHandle ITERATIONS;
    private static final VarHandle WAITS;
    private static final VarHandle BHS;

    static {
        try {
            MethodHandles.Lookup l = MethodHandles.lookup();
            ITERATIONS = l.findVarHandle(LoopCounters.class, "iterations", long.class);
            WAITS = l.findVarHandle(LoopCounters.class, "blockingWaits", long.class);
            BHS = l.findVarHandle(LoopCounters.class, "bottomHalvesRun", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    @SuppressWarnings("unused")
    private long iterations;
    @SuppressWarnings("unused")
    private long blockingWaits;
    @SuppressWarnings("unused")
    private long bottomHalvesRun;

    /** One poll() call began. Home thread. */
    void onIteration() {
        ITERATIONS.setOpaque(this, (long) ITERATIONS.get(this) + 1); // single writer; read racily by iterations()
    }

    /** poll() is about to wait with a non-zero timeout. Home thread. */
    void onBlockingWait() {
        WAITS.setOpaque(this, (long) WAITS.get(this) + 1); // single writer; read racily by blockingWaits()
    }

    /** A bottom-half or one-shot callback is about to run. Home thread. */
    void onBottomHalf() {
        BHS.setOpaque(this, (long) BHS.get(this) + 1); // single writer; read racily by bottomHalvesRun()
    }

    public long iterations() {
        return (long) ITERATIONS.getOpaque(this); // pairs with the opaque store in onIteration()
    }

    public long blockingWaits() {
        return (long) WAITS.getOpaque(this); // pairs with the opaque store in onBlockingWait()
    }

    public long bottomHalvesRun() {
        return (long) BHS.getOpaque(this); // pairs with the opaque store in onBottomHalf()
    }
}
