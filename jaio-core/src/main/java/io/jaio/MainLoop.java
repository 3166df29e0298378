// SPDX-License-Identifier: Apache-2.0
package io.jaio;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicReference;

import io.jaio.internal.sys.Errno;
import io.jaio.internal.sys.Structs;
import io.jaio.internal.sys.Syscalls;

/**
 * The process's main loop, as QEMU's {@code util/main-loop.c} has it: a <em>main context</em>
 * ({@code qemu_aio_context}) and an <em>iohandler context</em> ({@code iohandler_ctx}), both
 * driven as {@link AioSource}s by {@link #mainLoopWait(boolean)}, the way QEMU attaches both
 * GSources to glib's default context.
 *
 * <p>Why two contexts: handlers registered with {@link #setFdHandler} (QEMU
 * {@code qemu_set_fd_handler}: monitors, chardevs, migration streams) live in the iohandler
 * context, which only {@code mainLoopWait} runs. Code that waits synchronously with a nested
 * {@code context().poll(true)} (QEMU {@code AIO_WAIT_WHILE}, block-layer drains) therefore
 * never re-enters those handlers; it runs only bottom halves, timers and fd handlers of the main
 * context.
 *
 * <p><b>Current context.</b> The thread that {@link #create}s the main loop is the main thread:
 * both contexts have it as home thread, and {@link AioContext#current()} returns the main context
 * there (never the iohandler context). An {@link IOThread}'s current context is its own; any
 * other thread gets null, so code that would enter a coroutine in "the current context" must
 * schedule it instead (QEMU without the BQL: {@code aio_co_enter} falls back to
 * {@code aio_co_schedule}).
 *
 * <p><b>Threading.</b> {@link #mainLoopWait} and {@link #close} on the main thread only;
 * {@link #setFdHandler}, {@link #removeFdHandler}, {@link #notifyEvent}, {@link #get} and the
 * getters from any thread. At most one main loop is open in a process at a time.
 */
public final class MainLoop implements AutoCloseable {
    private static final AtomicReference<MainLoop> INSTANCE = new AtomicReference<>();

    private final AioContext main;
    private final AioContext iohandler;
    private final AioSource mainSource;
    private final AioSource iohSource;
    private final BottomHalf notifyBh;
    private final Arena arena = Arena.ofShared(); // shared: code inside a coroutine runs on its own virtual thread
    private final MemorySegment pollfds;
    private final MemorySegment timespec;
    private final MemorySegment errno = Syscalls.newErrnoSegment();
    private boolean closed;

    private MainLoop(AioContext main, AioContext iohandler) throws ErrnoException {
        this.main = main;
        this.iohandler = iohandler;
        this.mainSource = main.source();
        this.iohSource = iohandler.source();
        this.notifyBh = main.newBottomHalf("main-loop-notify", MainLoop::noop); // QEMU qemu_notify_bh
        this.pollfds = arena.allocate(Structs.POLLFD_SIZE * 2, 8);
        this.timespec = arena.allocate(Structs.TIMESPEC_SIZE, 8);
    }

    /**
     * QEMU qemu_init_main_loop with the default fd monitor; see {@link #create(FdMonitorKind)}.
     *
     * @return the main loop; the caller is now the main thread
     * @throws ErrnoException if a context cannot be built
     */
    public static MainLoop create() throws ErrnoException {
        return create(FdMonitorKind.fromSystemProperty());
    }

    /**
     * QEMU qemu_init_main_loop: builds the main and iohandler contexts on the calling thread,
     * which becomes the main thread, and makes the main context its current one.
     *
     * @param kind the fd monitor of both contexts
     * @return the main loop
     * @throws IllegalStateException if a main loop is already open, or the calling thread already
     *     has a current context
     * @throws ErrnoException if a context cannot be built
     */
    public static MainLoop create(FdMonitorKind kind) throws ErrnoException {
        Objects.requireNonNull(kind, "kind");
        if (INSTANCE.get() != null || AioContext.current() != null) {
            throw new IllegalStateException(INSTANCE.get() != null ? "only one main-loop instance allowed"
                    : "thread '" + Thread.currentThread().getName() + "' already runs context " + AioContext.current()
                            + " (expected a thread without a current context)");
        }
        AioContext m = AioContext.builder().name("main").fdMonitor(kind).build();
        AioContext ioh = null;
        MainLoop loop = null;
        try {
            ioh = AioContext.builder().name("iohandler").fdMonitor(kind).build();
            loop = new MainLoop(m, ioh);
            if (!INSTANCE.compareAndSet(null, loop)) { // volatile CAS; pairs with get() and close()'s clear
                throw new IllegalStateException("only one main-loop instance allowed");
            }
        } catch (ErrnoException | RuntimeException e) {
            if (loop != null) {
                loop.notifyBh.delete();
                loop.arena.close();
            }
            if (ioh != null) {
                ioh.close();
            }
            m.close();
            throw e;
        }
        m.makeCurrent();
        return loop;
    }

    /**
     * The open main loop, or null (QEMU: the main loop exists once qemu_init_main_loop ran). Any thread.
     *
     * @return the open main loop, or null
     */
    public static MainLoop get() {
        return INSTANCE.get();
    }

    /** {@return the main context (QEMU qemu_get_aio_context)} */
    public AioContext context() {
        return main;
    }

    /**
     * The iohandler context (QEMU iohandler_get_aio_context): only {@link #mainLoopWait} runs it.
     *
     * @return the iohandler context
     */
    public AioContext iohandlerContext() {
        return iohandler;
    }

    /**
     * QEMU qemu_set_fd_handler: registers {@code ioRead} / {@code ioWrite} for {@code fd} in the
     * iohandler context, or removes the registration when both are null. Any thread.
     *
     * @param fd the descriptor to watch
     * @param ioRead runs when {@code fd} is readable, or null
     * @param ioWrite runs when {@code fd} is writable, or null
     * @throws ErrnoException when {@code fd} is not open (EBADF) or the kernel refuses it
     */
    public void setFdHandler(int fd, Runnable ioRead, Runnable ioWrite) throws ErrnoException {
        iohandler.setFdHandler(fd, ioRead, ioWrite, null, null);
    }

    /**
     * Removes what {@link #setFdHandler} registered for {@code fd}. Any thread.
     *
     * @param fd the descriptor to stop watching
     */
    public void removeFdHandler(int fd) {
        iohandler.removeFdHandler(fd);
    }

    /** QEMU qemu_notify_event: makes the current or next {@link #mainLoopWait} return. Any thread. */
    public void notifyEvent() {
        notifyBh.schedule();
    }

    /**
     * One iteration of the main loop (QEMU main_loop_wait): prepares both contexts, waits on both
     * fds for the sooner of their timeouts (not at all if {@code nonblocking}), checks both, and
     * dispatches the main context, then the iohandler context. Main thread only.
     *
     * @param nonblocking true to only dispatch what is ready
     * @return whether a dispatch made progress (a bottom half, fd handler or timer ran)
     */
    public boolean mainLoopWait(boolean nonblocking) {
        if (!main.inHomeThread()) {
            throw new IllegalStateException("mainLoopWait() called from thread '" + Thread.currentThread().getName()
                    + "' (expected the main thread '" + main.homeThread().getName() + "')");
        }
        if (closed) {
            throw new IllegalStateException("main loop is closed");
        }
        int timeoutMs = soonestMs(mainSource.prepare(), iohSource.prepare());
        if (!nonblocking && timeoutMs != 0) {
            waitBoth(timeoutMs);
        }
        boolean mainWork = mainSource.check();
        boolean iohWork = iohSource.check();
        boolean progress = false;
        if (mainWork) {
            progress = mainSource.dispatch();
        }
        if (iohWork) {
            progress |= iohSource.dispatch();
        }
        return progress;
    }

    /** QEMU qemu_soonest_timeout on ms values, -1 meaning none. */
    static int soonestMs(int a, int b) {
        return Integer.compareUnsigned(a, b) < 0 ? a : b;
    }

    private void waitBoth(int timeoutMs) {
        Structs.setPollfd(pollfds, 0, mainSource.fd(), Structs.POLLIN);
        Structs.setPollfd(pollfds, 1, iohSource.fd(), Structs.POLLIN);
        MemorySegment ts = MemorySegment.NULL;
        if (timeoutMs > 0) {
            Structs.setTimespec(timespec, timeoutMs * 1_000_000L);
            ts = timespec;
        }
        int r = Syscalls.ppoll(errno, pollfds, 2, ts);
        if (r < 0 && r != -Errno.EINTR) { // EINTR: a signal or io_uring task work; the checks look anyway
            main.reportCallbackError("main loop", new ErrnoException("ppoll(main fd=" + mainSource.fd()
                    + ", iohandler fd=" + iohSource.fd() + ")", -r));
        }
    }

    /**
     * Closes both contexts (iohandler first) and releases the main-loop slot. Main thread;
     * idempotent.
     *
     * @throws IllegalStateException naming leaks of either context (see {@link AioContext#close})
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        if (!main.inHomeThread()) {
            throw new IllegalStateException("close() of the main loop from thread '" + Thread.currentThread().getName()
                    + "' (expected the main thread '" + main.homeThread().getName() + "')");
        }
        closed = true;
        notifyBh.delete();
        RuntimeException failure = null;
        for (AioContext c : new AioContext[] {iohandler, main}) {
            try {
                c.close();
            } catch (RuntimeException e) {
                if (failure == null) {
                    failure = e;
                } else {
                    failure.addSuppressed(e);
                }
            }
        }
        arena.close();
        INSTANCE.compareAndSet(this, null); // volatile CAS; pairs with create() and get()
        if (failure != null) {
            throw failure;
        }
    }

    private static void noop() {
    }

    @Override
    public String toString() {
        return "MainLoop[" + main + ", " + iohandler + (closed ? ", closed" : "") + "]";
    }
}
