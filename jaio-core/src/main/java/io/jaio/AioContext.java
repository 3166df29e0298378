// SPDX-License-Identifier: Apache-2.0
package io.jaio;

import java.lang.foreign.Arena;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.BooleanSupplier;

import io.jaio.internal.fdmon.HandlerTable;
import io.jaio.internal.fdmon.PollSet;
import io.jaio.internal.loop.BhQueue;
import io.jaio.internal.loop.CallbackRunner;
import io.jaio.internal.loop.ContextCore;
import io.jaio.internal.loop.ContextParams;
import io.jaio.internal.loop.FdHandlers;
import io.jaio.internal.loop.FdMonitorChoice;
import io.jaio.internal.loop.LoopThreads;
import io.jaio.internal.loop.PollLoop;
import io.jaio.internal.loop.TimerListGroup;
import io.jaio.internal.loop.TimerNode;
import io.jaio.internal.loop.Wakeup;
import io.jaio.internal.sys.Syscalls;

/**
 * An event loop after QEMU's {@code AioContext}: bottom halves, fd handlers, event notifiers and
 * timers, run by one <em>home thread</em> through {@link #poll(boolean)}, which may also be
 * called from inside any callback to wait for something synchronously.
 *
 * <p><b>Threading.</b> The thread that builds a context is its home thread (an {@link IOThread}
 * builds its context on its own thread). {@link #poll}, {@link #close}, {@link #makeCurrent},
 * {@link #source} (and the {@link AioSource} phases) and {@link #fdHandlerPollNs} are home-thread
 * only and fail at once elsewhere. Everything else may
 * be called from any thread: scheduling bottom halves, arming timers, (un)registering fds,
 * {@link #aioNotify()}, and the parameter setters.
 *
 * <p><b>Ownership.</b> Whoever builds a context owns it and must {@link #close()} it on its home
 * thread; an IOThread owns the context it runs. {@code close()} releases every registered fd
 * (the fds themselves stay open: they belong to the caller) and reports, as an
 * {@link IllegalStateException} after cleaning up, the bottom halves never deleted and the
 * timers still armed, as QEMU aborts on them.
 *
 * <p><b>Wake-up protocol</b> (QEMU aio_notify, spec 1.3). {@code notifyMe} counts, in steps of 2,
 * the poll() calls of the home thread that are about to block or blocked; {@code notified} is a
 * flag any thread sets. A notifier sets {@code notified}, then reads {@code notifyMe} and writes
 * the eventfd only if it is non-zero. The home thread raises {@code notifyMe}, then reads
 * {@code notified} and skips blocking if it is set. Both sides use volatile accesses, so the
 * store→load pairs are ordered (the Java memory model's total order over volatile accesses
 * plays the part of QEMU's {@code smp_mb}): at least one side sees the other, and no wake-up is
 * lost. So scheduling while the loop is awake costs no system call; {@link #notifierWriteCount()}
 * counts the ones made.
 */
public final class AioContext implements AutoCloseable {
    // Implementation notes. This class is the public face of a context and owns its parts; the
    // machinery lives in io.jaio.internal.loop: PollLoop (one iteration of poll(), phase by phase
    // as docs/poll-loop.md describes it), Wakeup (the wake-up protocol and the eventfd), BhQueue
    // (bottom halves), TimerListGroup (clocks and timers), CallbackRunner (user callbacks and the
    // error handler), FdHandlers (the fd-handler methods over io.jaio.internal.fdmon's HandlerTable
    // and PollSet), FdMonitorChoice (which fd monitor a new context gets), ContextParams (the
    // run-time parameters) and LoopThreads (the current context of a thread). The packages that
    // build on the loop (io.jaio.uring, io.jaio.block, io.jaio.coroutine) reach the context's
    // ContextCore through ContextCore.of(ctx) and keep their per-context state (the submission
    // API, the thread pool, the coroutine schedule queue) in its extension slots, which close()
    // closes where it closed them before.

    static {
        ContextCore.setAccess(c -> c.core); // the shared secret of the upper packages
    }

    private final String name;
    private final Thread homeThread;
    private final Arena arena = Arena.ofShared();
    private final HandlerTable table;
    private final PollSet pollSet;
    final BhQueue bhs;
    final TimerListGroup timers;
    private final CallbackRunner callbacks;
    private final Wakeup wakeup;
    private final PollLoop loop;
    private final FdHandlers fds;
    private final ContextParams params;
    /** What the upper packages reach: callbacks, queue, io_uring monitor, extension slots. */
    private final ContextCore core;
    /** Whether the context runs on io_uring. */
    private final boolean hasIoUring;
    /** Why io_uring is not used (null when it is). */
    private final String ioUringUnavailable;
    private volatile boolean closed;
    /** Made by the first {@link #source()} call; closed with the context (home thread). */
    private AioSource source;

    private AioContext(Builder b) throws ErrnoException {
        this.name = b.name;
        this.homeThread = LoopThreads.hostThread();
        if (b.timerSlackNs > 0) {
            // QEMU sets 1 ns: a timed wait of this thread may otherwise end up to 50 us late.
            Syscalls.setTimerSlackNs(b.timerSlackNs);
        }
        this.callbacks = new CallbackRunner(this, b.errorHandler);
        this.table = new HandlerTable(arena, name, b.epollUpgrade);
        this.pollSet = new PollSet(table, callbacks);
        this.pollSet.setParams(b.pollMaxNs, b.pollGrow, b.pollShrink);
        FdMonitorChoice monitor;
        try {
            monitor = FdMonitorChoice.install(table, arena, name, b.kind, b.allowIoUring, b.ioUringEntries);
            this.wakeup = Wakeup.open(this, table, arena);
        } catch (ErrnoException | RuntimeException e) {
            if (table.monitor() != null) {
                table.monitor().close();
            }
            arena.close();
            throw e;
        }
        this.bhs = new BhQueue(this, homeThread, wakeup, callbacks); // BhQueue and TimerList keep wakeup and callbacks
        this.timers = new TimerListGroup(this, wakeup, callbacks);
        this.loop = new PollLoop(this, table, pollSet, bhs, timers, wakeup, callbacks);
        this.fds = new FdHandlers(this, table, pollSet, wakeup, callbacks);
        this.core = new ContextCore(this, callbacks, bhs, wakeup, monitor.uring());
        this.params = new ContextParams(this, pollSet, core);
        this.ioUringUnavailable = monitor.ioUringUnavailable();
        this.hasIoUring = monitor.uring() != null;
    }

    /**
     * A context on the default fd monitor ({@link FdMonitorKind#fromSystemProperty()}).
     *
     * @return a new context whose home thread is the caller
     * @throws ErrnoException if the kernel refuses the eventfd or the fd monitor
     */
    public static AioContext create() throws ErrnoException {
        return builder().build();
    }

    /**
     * Options for a new context.
     *
     * @return a builder with the defaults
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * The context the calling thread runs, or null (QEMU qemu_get_current_aio_context). Inside a
     * coroutine: the current context of the thread that entered it (after
     * {@code Coroutine.rescheduleSelf} the new one).
     *
     * @return the calling thread's current context, or null
     */
    public static AioContext current() {
        return LoopThreads.current();
    }

    /**
     * Makes this context the calling thread's current one. Home thread only; fails if the thread
     * already has a different current context.
     */
    public void makeCurrent() {
        checkHome("makeCurrent()");
        if (LoopThreads.inCoroutine()) {
            throw new IllegalStateException("makeCurrent() of context '" + name + "' inside a coroutine"
                    + " (expected the home thread outside coroutines)");
        }
        AioContext cur = LoopThreads.currentOutsideCoroutines();
        if (cur != null && cur != this) {
            throw new IllegalStateException("thread '" + homeThread.getName() + "' already runs context '" + cur.name
                    + "' (expected no current context)");
        }
        LoopThreads.setCurrent(this);
    }

    /** {@return the name given at creation} */
    public String name() {
        return name;
    }

    /** {@return the thread that runs this context} */
    public Thread homeThread() {
        return homeThread;
    }

    /** {@return whether the caller is the home thread} */
    public boolean inHomeThread() {
        Thread t = Thread.currentThread();
        return t == homeThread || t.isVirtual() && LoopThreads.hostThread() == homeThread; // inside a coroutine: its host
    }

    /**
     * "io_uring", "poll" or "epoll": the monitor in use now (poll upgrades to epoll at 64 fds).
     *
     * @return the name of the monitor in use
     */
    public String fdMonitorName() {
        return table.monitor().name();
    }

    /** {@return whether {@link #close()} has run} */
    public boolean isClosed() {
        return closed;
    }

    void checkOpen() {
        ContextCore.checkOpen(this);
    }

    private void checkHome(String what) {
        ContextCore.checkHome(this, what);
    }

    // ------------------------------------------------------------------------------------------
    // Notification (the protocol is Wakeup's)

    /**
     * Wakes the home thread if it is blocked in {@link #poll}, or makes its next blocking poll
     * return at once (QEMU aio_notify). Any thread; no system call unless the loop is blocked.
     */
    public void aioNotify() {
        wakeup.aioNotify();
    }

    /** {@return how many times the context's eventfd was written to wake the loop (a test probe)} */
    public long notifierWriteCount() {
        return wakeup.writeCount();
    }

    // ------------------------------------------------------------------------------------------
    // The loop (the phases are PollLoop's)

    /**
     * Runs one iteration of the loop (QEMU aio_poll): userspace polling if enabled, then, when
     * {@code blocking} and nothing is pending, a wait for fds, timers or a notification; then
     * ready CQE handlers, bottom halves, fd handlers, and last the expired timers.
     *
     * <p>Home thread only. May be called from inside any callback of this context (nested).
     *
     * <p>A {@link RuntimeException} from a callback goes to the {@link CallbackErrorHandler}. An
     * {@link Error} thrown by a callback propagates out of this call; the work behind it is not
     * lost: the bottom halves left in its slice, the ready fd handlers, reaped completions, due
     * timers and scheduled coroutines not yet run stay queued, run in the next call (which does
     * not block while they wait), and {@link #close()} still reports the ones never run.
     *
     * @param blocking whether to wait when there is nothing to do
     * @return whether progress was made: a bottom half (not an idle one), an fd handler, a
     *     userspace-poll handler or a timer callback ran; waking up because of
     *     {@link #aioNotify()} alone is not progress
     */
    public boolean poll(boolean blocking) {
        checkHome("poll()");
        checkOpen();
        return loop.poll(blocking);
    }

    /** Reports a callback failure from the home thread (AioSource). */
    void reportCallbackError(String source, Throwable e) {
        callbacks.report(source, e);
    }

    /**
     * Replaces the handler of callback exceptions. Any thread.
     *
     * @param handler the new handler, not null
     */
    public void setErrorHandler(CallbackErrorHandler handler) {
        callbacks.setHandler(Objects.requireNonNull(handler, "handler"));
    }

    // ------------------------------------------------------------------------------------------
    // Outer loops (QEMU's GSource); the logic lives in AioSource

    /**
     * This context as a source of an outer event loop: prepare / check / dispatch and the fd to
     * watch (QEMU {@code aio_get_g_source}). Made on first call. Home thread.
     *
     * @return the context's source (always the same one)
     * @throws ErrnoException when the kernel refuses the source's epoll fd
     */
    public AioSource source() throws ErrnoException {
        checkHome("source()");
        checkOpen();
        if (source == null) {
            source = new AioSource(this, table, pollSet, loop, wakeup);
        }
        return source;
    }

    /** Checks that an outer-loop phase runs on the home thread of an open context. */
    void checkOuterLoopCall(String what) {
        checkHome(what);
        checkOpen();
    }

    // ------------------------------------------------------------------------------------------
    // Bottom halves

    /**
     * A reusable bottom half; delete it before the context closes. Any thread.
     *
     * @param name shown in leak reports and error messages
     * @param callback runs on the home thread at each scheduled run
     * @return the new bottom half, not scheduled
     */
    public BottomHalf newBottomHalf(String name, Runnable callback) {
        return newBottomHalf(name, callback, null);
    }

    /**
     * A reusable bottom half whose runs engage {@code guard} (may be null). Any thread.
     *
     * @param name shown in leak reports and error messages
     * @param callback runs on the home thread at each scheduled run
     * @param guard engaged while the callback runs, or null
     * @return the new bottom half, not scheduled
     */
    public BottomHalf newBottomHalf(String name, Runnable callback, ReentrancyGuard guard) {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(callback, "callback");
        checkOpen();
        return new BottomHalf(this, bhs.create(name, callback, guard == null ? null : guard.state, false));
    }

    /**
     * Runs {@code callback} once in a coming poll() and forgets it (QEMU
     * aio_bh_schedule_oneshot): the way to call into this context from another thread. Any
     * thread. Costs one compare-and-set and no allocation while fewer than 4096 one-shots wait.
     *
     * @param name shown in error messages and leak reports
     * @param callback runs once on the home thread
     */
    public void scheduleOneShot(String name, Runnable callback) {
        Objects.requireNonNull(callback, "callback");
        checkOpen();
        bhs.scheduleOneShot(name, callback); // a slot of the one-shot ring, or a node without a public face
    }

    // ------------------------------------------------------------------------------------------
    // Timers

    /**
     * A timer on {@code clock} whose {@code mod} values are in {@code scale}. Any thread.
     *
     * @param clock the clock the deadline is read on
     * @param scale the unit of {@link Timer#mod} values
     * @param callback runs on the home thread when the timer expires
     * @return the new timer, not armed
     */
    public Timer newTimer(ClockType clock, TimerScale scale, Runnable callback) {
        return newTimer(clock, scale, 0, callback);
    }

    /**
     * {@link #newTimer(ClockType, TimerScale, Runnable)} with attribute bits. Any thread.
     *
     * @param clock the clock the deadline is read on
     * @param scale the unit of {@link Timer#mod} values
     * @param attributes QEMU_TIMER_ATTR_* bits
     * @param callback runs on the home thread when the timer expires
     * @return the new timer, not armed
     */
    public Timer newTimer(ClockType clock, TimerScale scale, int attributes, Runnable callback) {
        Objects.requireNonNull(clock, "clock");
        Objects.requireNonNull(scale, "scale");
        Objects.requireNonNull(callback, "callback");
        checkOpen();
        return new Timer(new TimerNode(timers.list(clock), callback), scale, attributes, this);
    }

    /**
     * A timer on {@code clock} whose {@code mod} values are in ns, for use with
     * {@link Timer#modIn(Duration)}: {@code ctx.newTimer(REALTIME, cb).modIn(Duration.ofMillis(10))}.
     * Any thread.
     *
     * @param clock the clock the deadline is read on
     * @param callback runs on the home thread when the timer expires
     * @return the new timer, not armed
     */
    public Timer newTimer(ClockType clock, Runnable callback) {
        return newTimer(clock, TimerScale.NS, 0, callback);
    }

    /**
     * The current time of {@code clock} in ns. Any thread.
     *
     * @param clock the clock to read
     * @return the current time in ns
     */
    public long clockNs(ClockType clock) {
        return timers.clockNs(clock);
    }

    /**
     * Moves the virtual clock forward by {@code deltaNs} (>= 0) and wakes the loop. Any thread.
     *
     * @param deltaNs how far to move, {@code >= 0}
     */
    public void advanceVirtualClockNs(long deltaNs) {
        if (deltaNs < 0) {
            throw new IllegalArgumentException("deltaNs=" + deltaNs + " (expected >= 0: the virtual clock never goes back)");
        }
        timers.advanceVirtualClockNs(deltaNs);
        aioNotify();
    }

    /**
     * {@link #advanceVirtualClockNs} by a {@link Duration}. Any thread.
     *
     * @param delta how far to move, not negative (saturates at about 292 years)
     * @throws IllegalArgumentException if {@code delta} is negative
     */
    public void advanceVirtualClock(Duration delta) {
        advanceVirtualClockNs(Timer.nonNegativeNanos("delta", delta));
    }

    /**
     * Turns a clock on or off (QEMU qemu_clock_enable); a disabled clock's timers do not run. Any thread.
     *
     * @param clock the clock to switch
     * @param enabled whether its timers run
     */
    public void setClockEnabled(ClockType clock, boolean enabled) {
        timers.setEnabled(clock, enabled);
        aioNotify();
    }

    /**
     * {@return whether {@code clock} runs its timers}. Any thread.
     *
     * @param clock the clock to ask about
     */
    public boolean isClockEnabled(ClockType clock) {
        return timers.isEnabled(clock);
    }

    // ------------------------------------------------------------------------------------------
    // fd handlers

    /**
     * Registers, replaces or removes the callbacks of {@code fd} (QEMU aio_set_fd_handler).
     * {@code ioRead} runs when the fd is readable (or hung up, or in error), {@code ioWrite} when
     * writable. {@code ioPoll} checks readiness from userspace during adaptive polling and
     * {@code ioPollReady} runs when it returned true; {@code ioPoll} is ignored without
     * {@code ioPollReady}. All null removes the registration. A removed or replaced handler is
     * never called after this returns on the home thread; from another thread, a callback that
     * already started may finish. Any thread.
     *
     * @param fd the file descriptor to watch; the caller keeps it open until the handler is removed
     * @param ioRead runs when {@code fd} is readable, or null
     * @param ioWrite runs when {@code fd} is writable, or null
     * @param ioPoll returns whether {@code fd} is ready, checked without a system call; or null
     * @param ioPollReady runs after {@code ioPoll} returned true, or null
     * @throws ErrnoException when {@code fd} is not open (EBADF) or the kernel refuses it
     */
    public void setFdHandler(int fd, Runnable ioRead, Runnable ioWrite, BooleanSupplier ioPoll, Runnable ioPollReady)
            throws ErrnoException {
        fds.set(fd, ioRead, ioWrite, ioPoll, ioPollReady);
    }

    /**
     * {@link #setFdHandler(int, Runnable, Runnable, BooleanSupplier, Runnable)} with the
     * callbacks named: {@code ctx.setFdHandler(fd, FdHandler.read(this::onReadable))}. Any thread.
     *
     * @param fd the file descriptor to watch; the caller keeps it open until the handler is removed
     * @param handler the callbacks; {@link FdHandler#NONE} removes the registration
     * @throws ErrnoException when {@code fd} is not open (EBADF) or the kernel refuses it
     */
    public void setFdHandler(int fd, FdHandler handler) throws ErrnoException {
        Objects.requireNonNull(handler, "handler");
        fds.set(fd, handler.onRead(), handler.onWrite(), handler.poll(), handler.onPollReady());
    }

    /**
     * Removes the registration of {@code fd}, if any. Any thread.
     *
     * @param fd the descriptor to stop watching
     */
    public void removeFdHandler(int fd) {
        fds.remove(fd);
    }

    /**
     * Sets the poll-mode begin/end callbacks of a registered fd (QEMU aio_set_event_notifier_poll). Any thread.
     *
     * @param fd a descriptor with a handler
     * @param ioPollBegin runs when the loop starts polling in userspace, or null
     * @param ioPollEnd runs when it stops, or null
     */
    public void setFdPollBeginEnd(int fd, Runnable ioPollBegin, Runnable ioPollEnd) {
        fds.setPollBeginEnd(fd, ioPollBegin, ioPollEnd);
    }

    /**
     * Registers an event notifier: {@code setFdHandler(n.fd(), ioRead, null, ioPoll, ioPollReady)}. Any thread.
     *
     * @param n the notifier to watch
     * @param ioRead runs when {@code n} is set, or null
     * @param ioPoll returns whether {@code n} is set, without a system call; or null
     * @param ioPollReady runs after {@code ioPoll} returned true, or null
     * @throws ErrnoException if the kernel refuses the notifier's fd
     */
    public void setEventNotifier(EventNotifier n, Runnable ioRead, BooleanSupplier ioPoll, Runnable ioPollReady)
            throws ErrnoException {
        setFdHandler(n.fd(), ioRead, null, ioPoll, ioPollReady);
    }

    /**
     * Unregisters an event notifier. Any thread.
     *
     * @param n the notifier to stop watching
     */
    public void removeEventNotifier(EventNotifier n) {
        removeFdHandler(n.fd());
    }

    /** Moves the clock of userspace polling (idle removal) forward by {@code deltaNs}: a test seam. Home thread. */
    void advancePollClockForTest(long deltaNs) {
        checkHome("advancePollClockForTest()");
        fds.advancePollClockForTest(deltaNs);
    }

    /**
     * The adaptive poll time of the handler of {@code fd}, or -1 if none (a diagnostic). Home thread.
     *
     * @param fd a watched descriptor
     * @return its poll time in ns, or -1
     */
    public long fdHandlerPollNs(int fd) {
        checkHome("fdHandlerPollNs()");
        return fds.pollNs(fd);
    }

    // ------------------------------------------------------------------------------------------
    // io_uring (the submission API is io.jaio.uring.IoUring.of(ctx))

    /** {@return whether this context runs on io_uring, so {@code IoUring.of(ctx)} works}. Any thread. */
    public boolean hasIoUring() {
        return hasIoUring;
    }

    /**
     * Why this context does not use io_uring (the kernel's answer, or the builder's choice), or null.
     *
     * @return the reason, or null when this context runs on io_uring
     */
    public String ioUringUnavailableReason() {
        return ioUringUnavailable;
    }

    // ------------------------------------------------------------------------------------------
    // Parameters (QEMU iothread / event-loop-base properties)

    /**
     * Sets adaptive polling (QEMU aio_context_set_poll_params): spin up to {@code pollMaxNs}
     * before blocking (0 turns polling off), growing poll times by {@code pollGrow} (0 = x2) and
     * shrinking by {@code pollShrink} (0 = reset). Resets every handler's poll time. Any thread.
     *
     * @param pollMaxNs the longest userspace poll in ns, 0 for none
     * @param pollGrow the factor poll times grow by, 0 for 2
     * @param pollShrink the factor they shrink by, 0 to reset to 0
     */
    public void setPollParams(long pollMaxNs, long pollGrow, long pollShrink) {
        params.setPollParams(pollMaxNs, pollGrow, pollShrink);
    }

    /** {@return the longest userspace poll in ns (0: polling is off)} Any thread. */
    public long pollMaxNs() {
        return pollSet.maxNs();
    }

    /** {@return the poll-time growth factor (0: doubling)} Any thread. */
    public long pollGrow() {
        return pollSet.grow();
    }

    /** {@return the poll-time shrink factor (0: reset to 0)} Any thread. */
    public long pollShrink() {
        return pollSet.shrink();
    }

    /**
     * Maximum requests an I/O engine batches per submission (0 = the engine's default). Any thread.
     *
     * @param aioMaxBatch requests per submission, {@code >= 0}
     */
    public void setAioMaxBatch(long aioMaxBatch) {
        params.setAioMaxBatch(aioMaxBatch);
    }

    /** {@return the batch limit set by {@link #setAioMaxBatch} (0: the engine's default)} Any thread. */
    public long aioMaxBatch() {
        return params.aioMaxBatch();
    }

    /**
     * Sets the size limits of this context's thread pool ({@code io.jaio.block.ThreadPool.of},
     * QEMU aio_context_set_thread_pool_params). Any thread.
     *
     * @param min worker threads kept alive when idle
     * @param max the most worker threads
     * @throws IllegalArgumentException unless {@code 0 <= min <= max} and {@code max >= 1}
     */
    public void setThreadPoolParams(int min, int max) {
        params.setThreadPoolParams(min, max);
    }

    /** {@return the thread pool's minimum size} Any thread. */
    public int threadPoolMin() {
        return params.threadPoolMin();
    }

    /** {@return the thread pool's maximum size} Any thread. */
    public int threadPoolMax() {
        return params.threadPoolMax();
    }

    // ------------------------------------------------------------------------------------------
    // Statistics (docs/observability.md; the figures are kept by the parts, ContextStats reads them)

    /**
     * A snapshot of this context's counters and gauges; {@link AioStats} says what a reader on
     * another thread may see (each figure monotonic, not a consistent cut). Any thread; cheap:
     * no lock of the loop's, a few loads, the timer lists' and the pool's locks for their sizes.
     *
     * @return a new immutable snapshot, taken now
     */
    public AioStats stats() {
        return io.jaio.internal.loop.ContextStats.snapshot(name, callbacks, wakeup, pollSet, table, core, timers);
    }

    /**
     * Shows {@link #stats()} as an MBean of the platform MBean server, named
     * {@code io.jaio:type=AioContext,name="<name>"} (with {@code ,id=N} added when another
     * context of the same name has it), one read-only attribute per field; {@link #close()}
     * unregisters it. Idempotent. Any thread.
     *
     * @return the MBean's object name
     * @throws IllegalStateException if the MBean server refuses it
     */
    public synchronized String registerMBean() {
        checkOpen();
        if (mbean == null) {
            try {
                mbean = io.jaio.internal.loop.RecordMBean.register(new io.jaio.internal.loop.RecordMBean(AioStats.class,
                        this::stats, "jaio context " + name), "io.jaio:type=AioContext", name);
            } catch (javax.management.JMException e) {
                throw new IllegalStateException("cannot register the MBean of context '" + name + "': " + e, e);
            }
        }
        return mbean.toString();
    }

    /** Guarded by this; set by registerMBean(), cleared by close(). */
    private javax.management.ObjectName mbean;

    // ------------------------------------------------------------------------------------------
    // Close

    /**
     * Closes the context on its home thread, outside {@link #poll}: pending one-shot bottom halves
     * and armed timers are dropped, every fd registration is released, the eventfd and native
     * memory freed. Idempotent.
     *
     * @throws IllegalStateException after cleaning up, naming every bottom half never deleted,
     *     one-shot never run and timer still armed
     */
    @Override
    public void close() {
        checkHome("close()");
        if (closed) {
            return;
        }
        if (loop.depth() > 0) {
            throw new IllegalStateException("close() of context '" + name + "' from inside its own poll() (expected outside)");
        }
        List<String> leaks = new ArrayList<>();
        core.closeExtensions(leaks); // thread pool, then scheduled coroutines; before 'closed': finishing workers still schedule the completion BH
        closed = true;
        bhs.collectLeaks(leaks);
        timers.collectLeaks(leaks);
        fds.releaseAll();
        loop.clear();
        if (source != null) {
            source.closeWithContext();
        }
        table.monitor().close();
        wakeup.release();
        arena.close();
        LoopThreads.clearCurrent(this);
        synchronized (this) {
            if (mbean != null) {
                io.jaio.internal.loop.RecordMBean.unregister(mbean);
                mbean = null;
            }
        }
        if (!leaks.isEmpty()) {
            throw new IllegalStateException("context '" + name + "' closed with leaks: " + String.join("; ", leaks));
        }
    }

    @Override
    public String toString() {
        return "AioContext[" + name + ", " + fdMonitorName() + (closed ? ", closed" : "") + "]";
    }

    // ------------------------------------------------------------------------------------------

    /**
     * Options for {@link AioContext#builder()}. Not thread-safe; {@link #build()} makes the calling
     * thread the context's home thread.
     */
    public static final class Builder {
        private String name = "aio-context";
        private FdMonitorKind kind = FdMonitorKind.fromSystemProperty();
        private boolean epollUpgrade = true;
        private long pollMaxNs;
        private long pollGrow;
        private long pollShrink;
        private CallbackErrorHandler errorHandler = CallbackErrorHandler.logging();
        private boolean allowIoUring = true;
        private long timerSlackNs = 1;
        private int ioUringEntries = 256;

        private Builder() {
        }

        /**
         * The name used in logs, errors and leak reports.
         *
         * @param name the context's name
         * @return this builder
         */
        public Builder name(String name) {
            this.name = Objects.requireNonNull(name, "name");
            return this;
        }

        /**
         * Which kernel interface to wait on (default: the {@code jaio.fdmon} property, else POLL).
         *
         * @param kind the monitor to try first
         * @return this builder
         */
        public Builder fdMonitor(FdMonitorKind kind) {
            this.kind = Objects.requireNonNull(kind, "kind");
            return this;
        }

        /**
         * Whether the POLL monitor may upgrade to epoll at 64 fds (default true).
         *
         * @param allowed whether to upgrade
         * @return this builder
         */
        public Builder epollUpgrade(boolean allowed) {
            this.epollUpgrade = allowed;
            return this;
        }

        /**
         * Initial adaptive-polling parameters; see {@link AioContext#setPollParams}. Default 0 (off).
         *
         * @param pollMaxNs the longest userspace poll in ns, 0 for none
         * @param pollGrow the factor poll times grow by, 0 for 2
         * @param pollShrink the factor they shrink by, 0 to reset to 0
         * @return this builder
         */
        public Builder pollParams(long pollMaxNs, long pollGrow, long pollShrink) {
            ContextParams.requirePollParams(pollMaxNs, pollGrow, pollShrink);
            this.pollMaxNs = pollMaxNs;
            this.pollGrow = pollGrow;
            this.pollShrink = pollShrink;
            return this;
        }

        /**
         * Whether an IO_URING context may use io_uring (default true). With false it falls back
         * exactly as when the kernel refuses io_uring: tests use it to exercise the fallback.
         *
         * @param allowed false to make the context fall back
         * @return this builder
         */
        public Builder allowIoUring(boolean allowed) {
            this.allowIoUring = allowed;
            return this;
        }

        /**
         * The kernel timer slack to give the home thread (prctl PR_SET_TIMERSLACK), so timed
         * waits end on time: default 1 ns as in QEMU; 0 leaves the thread's setting alone (Linux
         * defaults to 50 us). It is a property of the thread, kept after the context closes.
         *
         * @param ns the slack in ns, {@code >= 0}
         * @return this builder
         */
        public Builder timerSlackNs(long ns) {
            ContextParams.requireNonNegative("timerSlackNs", ns);
            this.timerSlackNs = ns;
            return this;
        }

        /**
         * {@link #timerSlackNs} as a {@link Duration}.
         *
         * @param slack the slack, not negative
         * @return this builder
         * @throws IllegalArgumentException if {@code slack} is negative
         */
        public Builder timerSlack(Duration slack) {
            return timerSlackNs(Timer.nonNegativeNanos("timerSlack", slack));
        }

        /**
         * Submission-queue size of the io_uring monitor, 1..32768 (default 256; the CQ is twice that).
         *
         * @param entries the submission-queue size
         * @return this builder
         */
        public Builder ioUringEntries(int entries) {
            if (entries < 1 || entries > 32768) {
                throw new IllegalArgumentException("ioUringEntries=" + entries + " (expected 1..32768)");
            }
            this.ioUringEntries = entries;
            return this;
        }

        /**
         * Where exceptions from callbacks go (default: logged).
         *
         * @param handler receives every exception a callback throws
         * @return this builder
         */
        public Builder errorHandler(CallbackErrorHandler handler) {
            this.errorHandler = Objects.requireNonNull(handler, "handler");
            return this;
        }

        /**
         * Builds the context; the calling thread becomes its home thread.
         *
         * @return the new context
         * @throws ErrnoException if the kernel refuses the eventfd or every fd monitor
         */
        public AioContext build() throws ErrnoException {
            return new AioContext(this);
        }
    }
}
