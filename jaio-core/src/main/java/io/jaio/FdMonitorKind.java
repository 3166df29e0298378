// SPDX-License-Identifier: Apache-2.0
package io.jaio;

/**
 * Which kernel interface a context waits on. The system property {@code jaio.fdmon}
 * ({@code io_uring}, {@code poll} or {@code epoll}) picks the default for contexts that do not
 * choose, so a whole program or test suite can run on each. Without it, contexts use io_uring
 * where the kernel allows it and fall back to poll (with its epoll upgrade) where it does not.
 */
public enum FdMonitorKind {
    /**
     * ppoll(2), upgrading once and for good to epoll at 64 fds (QEMU's default without io_uring):
     * one system call per wait, cheapest for a handful of fds.
     */
    POLL,
    /** epoll(7) from the start, with epoll_pwait2 for nanosecond timeouts. */
    EPOLL,
    /**
     * io_uring: fds watched with POLL_ADD on the context's ring, which also carries the requests
     * of {@code IoUring.of(ctx).addSqe} (package io.jaio.uring). Falls back to POLL, with a debug log line saying why, when
     * io_uring_setup fails (ENOSYS, EPERM from the kernel.io_uring_disabled sysctl or seccomp).
     */
    IO_URING;

    /** {@return the kind named by {@code jaio.fdmon}, or {@link #IO_URING}} */
    public static FdMonitorKind fromSystemProperty() {
        String v = System.getProperty("jaio.fdmon", "").trim();
        return switch (v) {
            case "", "auto", "io_uring" -> IO_URING;
            case "poll" -> POLL;
            case "epoll" -> EPOLL;
            default -> throw new IllegalArgumentException("jaio.fdmon=" + v + " (expected io_uring, poll, epoll or auto)");
        };
    }
}
