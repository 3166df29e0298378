// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.loop;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.List;
import java.util.function.Function;

import io.jaio.AioContext;
import io.jaio.internal.uring.UringFdMonitor;

/**
 * What the packages that build on the loop ({@code io.jaio.uring}, {@code io.jaio.block},
 * {@code io.jaio.coroutine}) need of a context beyond its public API: its callback runner, its
 * bottom-half queue, its io_uring monitor, and one <em>extension slot</em> per upper package for
 * the per-context state that package keeps (the thread pool, the coroutine schedule queue, the
 * submission API, the Linux AIO state), so that the loop names none of their types.
 *
 * <p>Reached with {@link #of(AioContext)}, a JDK-style shared secret: {@code AioContext}
 * installs the accessor in its static initializer, so any caller that holds a context finds it.
 *
 * <p>Close ordering: {@code AioContext.close()} calls {@link #closeExtensions} where it closed
 * the thread pool and the coroutine queue before, still before the context counts as closed (a
 * finishing pool worker still schedules its completion bottom half); slots close in the order of
 * {@link Slot}, and a slot asked for afterwards fails as a closed context does.
 *
 * <p>Threading: {@link #of} and the getters from any thread; {@link #extension} from any thread
 * (creation is serialized on this object, which {@code ContextParams} also holds while it hands
 * new thread-pool parameters to the slot); {@link #closeExtensions} on the home thread.
 */
public final class ContextCore {
    /** Implemented by AioContext: the core of a context. */
    public interface Access {
        ContextCore core(AioContext ctx);
    }

    /** The per-context slots, in close order. */
    public enum Slot {
        /** io.jaio.block: the thread pool (QEMU aio_get_thread_pool). */
        THREAD_POOL,
        /** io.jaio.coroutine: the coroutines scheduled into the context (QEMU scheduled_coroutines). */
        CO_SCHEDULE,
        /** io.jaio.uring: the submission API (QEMU aio_add_sqe's state). */
        IO_URING,
        /** io.jaio.block: the Linux AIO context, eventfd and queue (QEMU aio_get_linux_aio's LinuxAioState). */
        LINUX_AIO,
        /** io.jaio.block: the writer threads of the write-threads file engine (no QEMU counterpart). */
        WRITER_POOL
    }

    /** The state an upper package keeps in a slot. */
    public interface Extension {
        /** From close(), home thread, before the context counts as closed: release and name leaks. */
        void closeWithContext(List<String> leaks);

        /** New thread-pool parameters (setThreadPoolParams), called under this core's lock. */
        default void onThreadPoolParams(int min, int max) {
        }

        /** For stats(): the pool's worker threads (alive or starting). Any thread. */
        default int threadPoolThreads() {
            return 0;
        }

        /** For stats(): the pool's requests queued and not yet taken by a worker. Any thread. */
        default int threadPoolQueued() {
            return 0;
        }
    }

    private static final VarHandle SLOTS = MethodHandles.arrayElementVarHandle(Extension[].class);
    private static volatile Access access;

    private final AioContext ctx;
    private final CallbackRunner callbacks;
    private final BhQueue bhs;
    private final Wakeup wakeup;
    private final UringFdMonitor uring;
    /** Written under this object's lock with release, read with acquire (pairs with extension()). */
    private final Extension[] slots = new Extension[Slot.values().length];
    /** Guarded by this: set by closeExtensions(); no slot is filled afterwards. */
    private boolean extensionsClosed;

    /** The core of {@code ctx}; {@code uring} is its io_uring monitor or null. */
    public ContextCore(AioContext ctx, CallbackRunner callbacks, BhQueue bhs, Wakeup wakeup, UringFdMonitor uring) {
        this.ctx = ctx;
        this.callbacks = callbacks;
        this.bhs = bhs;
        this.wakeup = wakeup;
        this.uring = uring;
    }

    /** Installs the accessor (AioContext's static initializer; once). */
    public static void setAccess(Access a) {
        if (access != null) {
            throw new IllegalStateException("ContextCore access installed twice (expected once, by AioContext)");
        }
        access = a;
    }

    /** The core of {@code ctx}. Any thread. */
    public static ContextCore of(AioContext ctx) {
        return access.core(ctx); // volatile read: set before any context exists (AioContext.<clinit>)
    }

    /** Throws the closed-context {@link IllegalStateException} if {@code ctx} is closed. */
    public static void checkOpen(AioContext ctx) {
        if (ctx.isClosed()) {
            throw new IllegalStateException("context '" + ctx.name() + "' is closed");
        }
    }

    /** Throws unless the caller is the home thread of {@code ctx}; {@code what} names the call. */
    public static void checkHome(AioContext ctx, String what) {
        if (!ctx.inHomeThread()) {
            throw new IllegalStateException(what + " of context '" + ctx.name() + "' called from thread '"
                    + Thread.currentThread().getName() + "' (expected its home thread '" + ctx.homeThread().getName() + "')");
        }
    }

    public AioContext context() {
        return ctx;
    }

    /** Runs callbacks and reports their failures to the context's error handler. */
    public CallbackRunner callbacks() {
        return callbacks;
    }

    /** The context's bottom-half queue. */
    public BhQueue bottomHalves() {
        return bhs;
    }

    /** The context's wake-up protocol. */
    public Wakeup wakeup() {
        return wakeup;
    }

    /** The io_uring monitor, or null when the context does not run on io_uring. */
    public UringFdMonitor uring() {
        return uring;
    }

    /**
     * The extension in {@code slot}, made by {@code make} on first use. {@code make} must be a
     * non-capturing function (no allocation per call) and runs under this object's lock.
     *
     * @throws IllegalStateException if the context is closed (or closing) and the slot is empty
     */
    public Extension extension(Slot slot, Function<AioContext, ? extends Extension> make) {
        Extension e = (Extension) SLOTS.getAcquire(slots, slot.ordinal()); // pairs with setRelease below
        if (e != null) {
            return e;
        }
        synchronized (this) {
            e = slots[slot.ordinal()];
            if (e == null) {
                if (extensionsClosed) {
                    throw new IllegalStateException("context '" + ctx.name() + "' is closed");
                }
                e = make.apply(ctx);
                SLOTS.setRelease(slots, slot.ordinal(), e); // pairs with getAcquire above
            }
            return e;
        }
    }

    /** The extension in {@code slot}, or null. Any thread. */
    public Extension extensionIfPresent(Slot slot) {
        return (Extension) SLOTS.getAcquire(slots, slot.ordinal()); // pairs with setRelease in extension()
    }

    /** close(): closes the extensions in slot order, naming what they leaked. Home thread. */
    public void closeExtensions(List<String> leaks) {
        Extension[] taken = new Extension[slots.length];
        synchronized (this) {
            extensionsClosed = true;
            for (int i = 0; i < slots.length; i++) {
                taken[i] = slots[i];
            }
        }
        for (Extension e : taken) {
            if (e != null) {
                e.closeWithContext(leaks);
            }
        }
    }
}
