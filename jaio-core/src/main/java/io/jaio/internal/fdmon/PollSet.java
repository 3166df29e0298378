// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.fdmon;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

import io.jaio.internal.jfr.JaioEvents;
import io.jaio.internal.jfr.PollTimeEvent;

/**
 * Adaptive userspace polling (QEMU {@code aio-posix.c}: try_poll_mode, run_poll_handlers,
 * poll_set_started, adjust_polling_time, remove_idle_poll_handlers).
 *
 * <p>Handlers join the poll set the first time they are dispatched with an io_poll callback, and
 * each keeps its own poll time, which grows when events arrive soon after the loop blocked and
 * shrinks when they arrive late. Before blocking, the loop spins on the io_poll callbacks for up
 * to the largest poll time; an {@code aio_notify} (the notifier's io_poll) ends the spin at once.
 *
 * <p>The context-wide poll time ({@link #currentPollNs()}, QEMU's former {@code ctx->poll_ns}) is
 * the largest poll time of the members as the last {@link #tryPollMode} found it: how long that
 * iteration was prepared to spin. Changes of a handler's poll time are io.jaio.PollTime events.
 *
 * <p>Threading: home thread only, except the three parameters, which any thread may set
 * (volatile; QEMU stores them without ordering and then notifies the context), and
 * {@link #currentPollNs()}, which any thread may read.
 */
public final class PollSet {
    private static final VarHandle CURRENT_POLL_NS;

    static {
        try {
            CURRENT_POLL_NS = MethodHandles.lookup().findVarHandle(PollSet.class, "currentPollNs", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** QEMU: the first growth of a poll time starts here. */
    public static final long INITIAL_POLL_NS = 4000;
    /** QEMU POLL_IDLE_INTERVAL_NS: idle handlers leave the poll set after this (io_uring only). */
    public static final long POLL_IDLE_INTERVAL_NS = 7_000_000_000L;

    private final HandlerTable table;
    private final CallbackGuard guard;
    private AioHandler head;
    private boolean started;
    private volatile long maxNs;
    private volatile long grow;
    private volatile long shrink;
    /** Written by the home thread (opaque), read racily by stats(); see currentPollNs(). */
    @SuppressWarnings("unused")
    private long currentPollNs;
    /** Added to System.nanoTime() for the poll-time clock; only tests change it (home thread). */
    private long clockSkewNs;

    public PollSet(HandlerTable table, CallbackGuard guard) {
        this.table = table;
        this.guard = guard;
    }

    /** QEMU aio_context_set_poll_params, minus the notify (the caller does it). */
    public void setParams(long maxNs, long grow, long shrink) {
        this.maxNs = maxNs;
        this.grow = grow;
        this.shrink = shrink;
    }

    public long maxNs() {
        return maxNs;
    }

    public long grow() {
        return grow;
    }

    public long shrink() {
        return shrink;
    }

    /** Resets every live handler's poll time (home thread, from a BH queued by setPollParams). */
    public void resetPollTimes() {
        for (AioHandler n : table.list()) {
            n.pollNs = 0;
        }
    }

    /**
     * Moves the clock that userspace polling and idle removal read forward by {@code deltaNs}
     * (QEMU reads QEMU_CLOCK_REALTIME there). A test seam, so the 7 s idle rule can be tested
     * without waiting 7 s; home thread.
     */
    public void advanceClockForTest(long deltaNs) {
        if (deltaNs < 0) {
            throw new IllegalArgumentException("deltaNs=" + deltaNs + " (expected >= 0: the clock never goes back)");
        }
        clockSkewNs += deltaNs;
    }

    private long nowNs() {
        return System.nanoTime() + clockSkewNs;
    }

    public boolean isEmpty() {
        return head == null;
    }

    /**
     * The largest poll time of the members at the last {@link #tryPollMode} (0 when the set was
     * empty or polling is off). Any thread: a racy read of a value the home thread stores.
     */
    public long currentPollNs() {
        return (long) CURRENT_POLL_NS.getOpaque(this); // pairs with the opaque store in tryPollMode()
    }

    private void setCurrentPollNs(long ns) {
        if ((long) CURRENT_POLL_NS.get(this) != ns) { // home thread is the only writer: skip the store when unchanged
            CURRENT_POLL_NS.setOpaque(this, ns);
        }
    }

    public boolean started() {
        return started;
    }

    /** QEMU qemu_soonest_timeout: the smaller, where -1 means infinity (unsigned compare). */
    public static long soonest(long a, long b) {
        return Long.compareUnsigned(a, b) < 0 ? a : b;
    }

    // ---- membership ----

    /** Adds {@code n} at the head, calling io_poll_begin first when poll mode is on. */
    public void join(AioHandler n) {
        if (started) {
            Runnable begin = n.ioPollBegin();
            if (begin != null) {
                guard.run(begin, "io_poll_begin", n.fd);
            }
        }
        link(n);
    }

    public void link(AioHandler n) {
        if (n.inPollSet) {
            return;
        }
        n.inPollSet = true;
        n.pollPrev = null;
        n.pollNext = head;
        if (head != null) {
            head.pollPrev = n;
        }
        head = n;
    }

    public void unlink(AioHandler n) {
        if (!n.inPollSet) {
            return;
        }
        if (n.pollPrev != null) {
            n.pollPrev.pollNext = n.pollNext;
        } else {
            head = n.pollNext;
        }
        if (n.pollNext != null) {
            n.pollNext.pollPrev = n.pollPrev;
        }
        n.pollNext = null;
        n.pollPrev = null;
        n.inPollSet = false;
    }

    /** Drops deleted nodes (QEMU does it in aio_free_deleted_handlers). Outermost poll() only. */
    public void purgeDeleted() {
        AioHandler n = head;
        while (n != null) {
            AioHandler next = n.pollNext;
            if (n.isDeleted()) {
                unlink(n);
            }
            n = next;
        }
    }

    /** Forgets every member (context close). */
    public void clear() {
        while (head != null) {
            unlink(head);
        }
        started = false;
    }

    // ---- polling ----

    /**
     * QEMU try_poll_mode. Uses and updates {@code ready.timeoutNs}.
     *
     * @return progress
     */
    public boolean tryPollMode(ReadyList ready, FdMonitor monitor) {
        if (head == null) {
            setCurrentPollNs(0);
            return false;
        }
        long max = 0;
        for (AioHandler n = head; n != null; n = n.pollNext) {
            max = Math.max(max, n.pollNs);
        }
        setCurrentPollNs(max);
        max = soonest(ready.timeoutNs, max);
        if (max != 0 && !monitor.needWait()) {
            setStarted(ready, true);
            return runPollHandlers(ready, monitor, max);
        }
        return false;
    }

    private boolean runPollHandlers(ReadyList ready, FdMonitor monitor, long max) {
        long start = nowNs();
        long elapsed;
        boolean progress;
        do {
            progress = runOnce(ready, start);
            elapsed = nowNs() - start;
            // A successful poll zeroed the timeout, which ends the loop (QEMU 993ed89f35).
            max = soonest(ready.timeoutNs, max);
            assert !(max != 0 && progress) : "progress with time left to poll";
            if (monitor.needWait()) { // re-read every iteration (QEMU d7be5dd19c)
                if (monitor.supportsUserspacePolling()) {
                    ready.timeoutNs = 0;
                }
                break;
            }
            if (max != 0) {
                Thread.onSpinWait();
            }
        } while (elapsed < max);
        if (removeIdle(ready, monitor, start + elapsed)) {
            ready.timeoutNs = 0;
            progress = true;
        }
        if (ready.timeoutNs != -1) {
            ready.timeoutNs -= Math.min(ready.timeoutNs, elapsed); // keep the same absolute deadline
        }
        return progress;
    }

    private boolean runOnce(ReadyList ready, long nowNs) {
        boolean progress = false;
        AioHandler n = head;
        while (n != null) {
            AioHandler next = n.pollNext;
            // Skip deleted nodes: QEMU does not (its latent issue L3), and may poll a removed handler.
            if (!n.isDeleted() && guard.poll(n.ioPoll, n.fd)) {
                ready.addPollReady(n);
                n.pollIdleTimeoutNs = nowNs + POLL_IDLE_INTERVAL_NS;
                ready.timeoutNs = 0;
                if (!n.contextNotifier) {
                    progress = true;
                }
            }
            n = next;
        }
        return progress;
    }

    private boolean removeIdle(ReadyList ready, FdMonitor monitor, long nowNs) {
        if (!monitor.supportsUserspacePolling()) {
            return false; // with poll/epoll, dropping poll handlers would starve their fds (QEMU d37d0e365a)
        }
        boolean progress = false;
        AioHandler n = head;
        while (n != null) {
            AioHandler next = n.pollNext;
            if (n.pollIdleTimeoutNs == 0) {
                n.pollIdleTimeoutNs = nowNs + POLL_IDLE_INTERVAL_NS;
            } else if (nowNs >= n.pollIdleTimeoutNs) {
                n.pollIdleTimeoutNs = 0;
                unlink(n);
                if (JaioEvents.pollTime()) {
                    recordPollTime(n, "idle-removal", n.pollNs, 0, 0);
                }
                Runnable end = n.ioPollEnd();
                if (started && end != null) {
                    guard.run(end, "io_poll_end", n.fd);
                    if (!n.isDeleted() && guard.poll(n.ioPoll, n.fd)) {
                        ready.addPollReady(n);
                        progress = true;
                    }
                }
            }
            n = next;
        }
        return progress;
    }

    /**
     * QEMU poll_set_started: switches poll mode on or off, calling io_poll_begin / io_poll_end.
     * When switching off, polls each handler once more in case io_poll_end raced with an event;
     * anything found is put on {@code ready} and zeroes {@code ready.timeoutNs}.
     *
     * <p>An Error from one handler's callback (the guard lets only Errors through) does not
     * stop the walk: every other handler still gets its begin or end, which may re-enable its
     * notifications, and the first Error is rethrown afterwards (later ones suppressed).
     *
     * @return progress: the final poll found a handler other than the context's notifier
     */
    public boolean setStarted(ReadyList ready, boolean on) {
        if (on == started) {
            return false;
        }
        started = on;
        boolean progress = false;
        Error failure = null;
        AioHandler n = head;
        while (n != null) {
            AioHandler next = n.pollNext;
            if (!n.isDeleted()) {
                try {
                    Runnable cb = on ? n.ioPollBegin() : n.ioPollEnd();
                    if (cb != null) {
                        guard.run(cb, on ? "io_poll_begin" : "io_poll_end", n.fd);
                    }
                    if (!on && !n.isDeleted() && guard.poll(n.ioPoll, n.fd)) {
                        ready.addPollReady(n);
                        ready.timeoutNs = 0;
                        progress |= !n.contextNotifier;
                    }
                } catch (Error e) {
                    if (failure == null) {
                        failure = e;
                    } else if (e != failure) {
                        failure.addSuppressed(e);
                    }
                }
            }
            n = next;
        }
        if (failure != null) {
            throw failure;
        }
        return progress;
    }

    /** QEMU adjust_polling_time: grow or shrink {@code n}'s poll time after an event. */
    public void adjust(AioHandler n, long blockNs) {
        long max = maxNs;
        if (blockNs <= n.pollNs) {
            return; // the sweet spot: polling caught it
        }
        long old = n.pollNs;
        if (blockNs > max) {
            long s = shrink;
            n.pollNs = s != 0 ? n.pollNs / s : 0;
        } else if (n.pollNs < max && blockNs < max) {
            long g = grow != 0 ? grow : 2;
            long ns = n.pollNs != 0 ? n.pollNs * g : INITIAL_POLL_NS;
            n.pollNs = Math.min(ns, max);
        }
        if (n.pollNs != old && JaioEvents.pollTime()) {
            recordPollTime(n, n.pollNs > old ? "grow" : "shrink", old, n.pollNs, blockNs);
        }
    }

    /** One io.jaio.PollTime event (QEMU poll_grow / poll_shrink / remove_idle_poll_handlers). */
    private void recordPollTime(AioHandler n, String change, long oldNs, long newNs, long blockNs) {
        PollTimeEvent e = new PollTimeEvent();
        if (e.shouldCommit()) {
            e.context = table.contextName();
            e.fd = n.fd;
            e.change = change;
            e.oldPollNs = oldNs;
            e.pollNs = newNs;
            e.blockNs = blockNs;
            e.commit();
        }
    }
}
