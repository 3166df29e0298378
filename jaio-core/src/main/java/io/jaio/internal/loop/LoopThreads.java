// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.loop;

import io.jaio.AioContext;

/**
 * Which context a thread runs, and which platform thread a coroutine runs on, without the loop
 * naming coroutines: {@code io.jaio.coroutine} installs a {@link CoroutineHost} when its
 * {@code Coroutine} class initializes. Before that no coroutine exists, so a virtual thread is
 * not one.
 *
 * <p>Threading: any thread; each thread sees its own current context.
 */
public final class LoopThreads {
    /** What the coroutine side knows about the running coroutine of the calling thread. */
    public interface CoroutineHost {
        /** The platform thread running the calling coroutine, or null outside coroutines. */
        Thread hostThread();

        /** The current context of the thread that entered the calling coroutine, or null. */
        AioContext hostContext();
    }

    private static final ThreadLocal<AioContext> CURRENT = new ThreadLocal<>();
    /** Written once by the Coroutine class initializer; volatile so every thread sees it. */
    private static volatile CoroutineHost coroutines;

    private LoopThreads() {
    }

    /** Installs the coroutine side's host lookup (once). */
    public static void installCoroutineHost(CoroutineHost host) {
        if (coroutines != null) {
            throw new IllegalStateException("coroutine host installed twice (expected once, by Coroutine)");
        }
        coroutines = host;
    }

    /**
     * The platform thread the caller runs on: itself, or inside a coroutine the thread that
     * entered it. Costs one {@code isVirtual()} check on a platform thread.
     */
    public static Thread hostThread() {
        Thread t = Thread.currentThread();
        if (!t.isVirtual()) {
            return t;
        }
        CoroutineHost h = coroutines;
        Thread host = h == null ? null : h.hostThread();
        return host == null ? t : host;
    }

    /** Whether the caller is a coroutine (QEMU qemu_in_coroutine). */
    public static boolean inCoroutine() {
        if (!Thread.currentThread().isVirtual()) {
            return false;
        }
        CoroutineHost h = coroutines;
        return h != null && h.hostThread() != null;
    }

    /** AioContext.current(): inside a coroutine its host's context, else the thread's own. */
    public static AioContext current() {
        if (Thread.currentThread().isVirtual()) { // a coroutine runs on its own virtual thread
            CoroutineHost h = coroutines;
            AioContext c = h == null ? null : h.hostContext();
            if (c != null) {
                return c;
            }
        }
        return CURRENT.get();
    }

    /** The calling platform thread's current context (callers know they are outside coroutines). */
    public static AioContext currentOutsideCoroutines() {
        return CURRENT.get();
    }

    /** Makes {@code ctx} the calling thread's current context (AioContext.makeCurrent checks first). */
    public static void setCurrent(AioContext ctx) {
        CURRENT.set(ctx);
    }

    /** Forgets {@code ctx} as the calling thread's current context if it is (close()). */
    public static void clearCurrent(AioContext ctx) {
        if (CURRENT.get() == ctx) {
            CURRENT.remove();
        }
    }
}
