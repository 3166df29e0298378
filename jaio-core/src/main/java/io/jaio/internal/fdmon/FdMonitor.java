// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.fdmon;

import io.jaio.ErrnoException;

/**
 * How a context waits for its fds (QEMU's {@code FDMonOps}): poll(2), epoll(7), and later
 * io_uring. A context has exactly one current monitor; it may change at run time (the one-way
 * poll to epoll upgrade, or a downgrade when epoll refuses an fd).
 *
 * <p>Threading: {@link #update} runs with the {@link HandlerTable} lock held, on any thread;
 * everything else runs on the context's home thread.
 */
public interface FdMonitor {
    /** A short name: "poll", "epoll", "io_uring". */
    String name();

    /**
     * The registration of an fd changed from {@code oldNode} to {@code newNode} (either may be
     * null). Called with the table lock held.
     *
     * @throws ErrnoException when the kernel refuses the new registration
     */
    void update(AioHandler oldNode, AioHandler newNode) throws ErrnoException;

    /**
     * Blocks for at most {@code timeoutNs} (-1 = forever, 0 = do not block) and adds the ready
     * handlers to {@code ready}.
     *
     * @param depth the nesting depth of the calling poll() (1 = outermost)
     * @return the number of handlers found ready
     */
    int wait(ReadyList ready, long timeoutNs, int depth) throws ErrnoException;

    /** Whether {@link #wait} must be called even when the loop would not block (QEMU need_wait). */
    boolean needWait();

    /** Runs backend-specific completions (io_uring CQE handlers); returns progress. */
    default boolean dispatch() {
        return false;
    }

    /** Whether completions are queued for {@link #dispatch()}: a blocking poll must not sleep. */
    default boolean hasPendingDispatch() {
        return false;
    }

    /** Whether the monitor can check readiness from userspace, so idle poll handlers may leave. */
    default boolean supportsUserspacePolling() {
        return false;
    }

    /**
     * A file descriptor that polls readable whenever {@link #wait} would find something, for an
     * outer loop to watch, or -1 when the monitor keeps no kernel object between waits (poll(2)).
     * See {@link OuterWaitSet}.
     */
    default int pollableFd() {
        return -1;
    }

    /**
     * Hands the kernel what this monitor queued for its next {@link #wait}, so that
     * {@link #pollableFd()} reflects every registration while an outer loop waits instead of
     * this monitor (io_uring: the queued POLL_ADD and POLL_REMOVE requests). Home thread.
     */
    default void flush() throws ErrnoException {
    }

    /** Releases the monitor's kernel objects. Idempotent. */
    void close();
}
