package io.jaio;

/**
 * Which kernel interface a context waits on. The system property {@code jaio.fdmon}
 * ({@code poll} or {@code epoll}) picks the default for contexts that do not choose, so a whole
 * test suite can run on each.
 */
public enum FdMonitorKind {
    /**
     * ppoll(2), upgrading once and for good to epoll at 64 fds (QEMU's default without io_uring):
     * one system call per wait, cheapest for a handful of fds.
     */
    POLL,
    /** epoll(7) from the start, with epoll_pwait2 for nanosecond timeouts. */
    EPOLL;

    /** The kind named by {@code jaio.fdmon}, or {@link #POLL}. */
    public static FdMonitorKind fromSystemProperty() {
        String v = System.getProperty("jaio.fdmon", "").trim();
        return switch (v) {
            case "", "auto", "poll" -> POLL;
            case "epoll" -> EPOLL;
            default -> throw new IllegalArgumentException("jaio.fdmon=" + v + " (expected poll, epoll or auto)");
        };
    }
}
