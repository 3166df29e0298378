// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.sys;

import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * Offsets and sizes of the kernel structs jaio passes to system calls, with the header each comes
 * from. Stateless; any thread.
 */
public final class Structs {
    private Structs() {
    }

    // <poll.h> / asm-generic/poll.h: struct pollfd { int fd; short events; short revents; }
    public static final long POLLFD_SIZE = 8;
    public static final long POLLFD_FD = 0;
    public static final long POLLFD_EVENTS = 4;
    public static final long POLLFD_REVENTS = 6;
    public static final short POLLIN = 0x1;
    public static final short POLLPRI = 0x2;
    public static final short POLLOUT = 0x4;
    public static final short POLLERR = 0x8;
    public static final short POLLHUP = 0x10;
    public static final short POLLNVAL = 0x20;

    // uapi/linux/time_types.h: struct __kernel_timespec { long long tv_sec; long long tv_nsec; }
    public static final long TIMESPEC_SIZE = 16;

    // uapi/linux/eventpoll.h: struct epoll_event { __u32 events; __u64 data; } is
    // __attribute__((packed)) on x86-64 (12 bytes, data at 4) and naturally aligned elsewhere (16, data at 8).
    public static final boolean EPOLL_PACKED = "amd64".equals(System.getProperty("os.arch"))
            || "x86_64".equals(System.getProperty("os.arch"));
    public static final long EPOLL_EVENT_SIZE = EPOLL_PACKED ? 12 : 16;
    public static final long EPOLL_EVENT_DATA = EPOLL_PACKED ? 4 : 8;
    public static final int EPOLLIN = 0x1;
    public static final int EPOLLOUT = 0x4;
    public static final int EPOLLERR = 0x8;
    public static final int EPOLLHUP = 0x10;
    public static final int EPOLL_CTL_ADD = 1;
    public static final int EPOLL_CTL_DEL = 2;
    public static final int EPOLL_CTL_MOD = 3;

    public static void setPollfd(MemorySegment a, int i, int fd, short events) {
        long base = i * POLLFD_SIZE;
        a.set(JAVA_INT, base + POLLFD_FD, fd);
        a.set(JAVA_SHORT, base + POLLFD_EVENTS, events);
        a.set(JAVA_SHORT, base + POLLFD_REVENTS, (short) 0);
    }

    public static short pollfdRevents(MemorySegment a, int i) {
        return a.get(JAVA_SHORT, i * POLLFD_SIZE + POLLFD_REVENTS);
    }

    /** Writes a timespec of {@code ns} nanoseconds (ns >= 0). */
    public static void setTimespec(MemorySegment ts, long ns) {
        ts.set(JAVA_LONG, 0, ns / 1_000_000_000L);
        ts.set(JAVA_LONG, 8, ns % 1_000_000_000L);
    }

    public static void setEpollEvent(MemorySegment ev, int events, long data) {
        ev.set(JAVA_INT, 0, events);
        ev.set(JAVA_LONG_UNALIGNED, EPOLL_EVENT_DATA, data);
    }

    public static int epollEvents(MemorySegment evs, int i) {
        return evs.get(JAVA_INT, i * EPOLL_EVENT_SIZE);
    }

    public static long epollData(MemorySegment evs, int i) {
        return evs.get(JAVA_LONG_UNALIGNED, i * EPOLL_EVENT_SIZE + EPOLL_EVENT_DATA);
    }
}
