// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.fdmon;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

import io.jaio.ErrnoException;
import io.jaio.internal.sys.Errno;
import io.jaio.internal.sys.Structs;
import io.jaio.internal.sys.Syscalls;

/**
 * The one fd an outer loop watches for a context (what QEMU hands glib through
 * {@code g_source_add_poll} / {@code g_source_add_unix_fd}): an epoll set of this class's own that
 * polls readable whenever the context's monitor would find something.
 *
 * <p>Implementation notes.
 * <ul>
 * <li><b>Why a set of our own</b> and not the monitor's fd: the monitor of a context changes at
 *     run time (poll(2) upgrades to epoll at 64 fds; epoll falls back to poll(2) when it refuses
 *     an fd), and the fd an outer loop registered must stay valid for the context's whole life.
 *     One extra epoll fd per externally driven context buys that.</li>
 * <li><b>Contents.</b> Always the context's notifier eventfd, so an {@code aioNotify()} wakes
 *     the outer loop even while the monitor is being swapped on another thread. Then, when the
 *     monitor has a pollable fd ({@link FdMonitor#pollableFd()}: the epoll fd, or the io_uring
 *     ring fd, readable when CQEs wait), that one fd; when it has none (poll(2) keeps no kernel
 *     object between waits), a mirror of every registration with its events. The mirror is
 *     re-synced in {@link #sync()} when the table publishes a new list (copy on write, so an
 *     identity compare finds changes); changes made while the outer loop waits wake it through
 *     the notifier first.</li>
 * <li><b>Fds epoll refuses</b> (EPERM: regular files and directories, which poll(2) reports
 *     ready at once; EBADF: closed while registered, which poll(2) reports as POLLNVAL) are
 *     counted; while any is registered, {@link #sync()} says "do not block", and the context's
 *     own non-blocking poll finds them.</li>
 * </ul>
 * Threading: home thread only (the outer-loop prepare phase), except {@link #fd()}.
 */
public final class OuterWaitSet {
    private static final byte NONE = 0;
    private static final byte IN_SET = 1;
    private static final byte REFUSED = 2;

    private final HandlerTable table;
    private final int epfd;
    private final int notifierFd;
    private final MemorySegment event;
    private final MemorySegment errno = Syscalls.newErrnoSegment();
    /** The monitor fd in the set, or -1. */
    private int innerFd = -1;
    private FdMonitor innerOf;
    /** The table list the mirror reflects, or null when not mirroring. */
    private AioHandler[] mirrored;
    private AioHandler[] mirrorNode = new AioHandler[64];
    private byte[] mirrorState = new byte[64];
    private int[] stamp = new int[64];
    private int generation;
    private int refused;
    private boolean closed;

    public OuterWaitSet(HandlerTable table, int notifierFd) throws ErrnoException {
        this.table = table;
        this.notifierFd = notifierFd;
        this.event = table.arena().allocate(16, 8);
        this.epfd = Syscalls.epollCreate1(Syscalls.O_CLOEXEC);
        int r = ctl(Structs.EPOLL_CTL_ADD, notifierFd, Structs.EPOLLIN);
        if (r < 0) {
            Syscalls.close(epfd);
            throw new ErrnoException("epoll_ctl(ADD, fd=" + notifierFd + ") [context notifier into the outer-loop set]", -r);
        }
    }

    /** The fd to watch for POLLIN. Any thread. */
    public int fd() {
        return epfd;
    }

    /**
     * Brings the set up to date with the current monitor and registrations.
     *
     * @return whether the outer loop must not block: an fd epoll refused is registered
     * @throws ErrnoException when the kernel refuses the monitor's own fd (not expected)
     */
    public boolean sync() throws ErrnoException {
        FdMonitor m = table.monitor();
        int inner = m.pollableFd();
        if (inner >= 0) {
            if (mirrored != null) {
                clearMirror();
            }
            if (innerOf != m) {
                dropInner();
                int r = ctl(Structs.EPOLL_CTL_ADD, inner, Structs.EPOLLIN);
                if (r < 0) {
                    throw new ErrnoException("epoll_ctl(ADD, fd=" + inner + ") [" + m.name() + " fd into the outer-loop set]", -r);
                }
                innerFd = inner;
                innerOf = m;
            }
            return false;
        }
        dropInner();
        AioHandler[] list = table.list();
        if (list != mirrored) {
            resync(list);
        }
        return refused > 0;
    }

    private void dropInner() {
        if (innerFd >= 0) {
            // ENOENT/EBADF: the old monitor closed its fd, which took it out of the set already.
            ctl(Structs.EPOLL_CTL_DEL, innerFd, 0);
            innerFd = -1;
            innerOf = null;
        }
    }

    /** Mirrors {@code list}: adds, modifies and deletes by node identity. Bounded by the two lists. */
    private void resync(AioHandler[] list) {
        int gen = ++generation;
        for (AioHandler n : list) {
            if (n.contextNotifier) {
                continue; // always in the set
            }
            grow(n.fd);
            stamp[n.fd] = gen;
            if (mirrorNode[n.fd] != n) {
                mirror(n);
            }
        }
        if (mirrored != null) {
            for (AioHandler old : mirrored) {
                if (!old.contextNotifier && stamp[old.fd] != gen && mirrorNode[old.fd] == old) {
                    unmirror(old.fd);
                }
            }
        }
        mirrored = list;
    }

    private void mirror(AioHandler n) {
        int fd = n.fd;
        byte was = mirrorState[fd];
        if (n.events == 0) {
            unmirror(fd);
            mirrorNode[fd] = n;
            return;
        }
        int r;
        if (was == IN_SET) {
            r = ctl(Structs.EPOLL_CTL_MOD, fd, n.events);
            if (r == -Errno.ENOENT) {
                r = ctl(Structs.EPOLL_CTL_ADD, fd, n.events); // the old file was closed, the number reused
            }
        } else {
            r = ctl(Structs.EPOLL_CTL_ADD, fd, n.events);
            if (r == -Errno.EEXIST) {
                r = ctl(Structs.EPOLL_CTL_MOD, fd, n.events);
            }
        }
        setState(fd, r == 0 ? IN_SET : REFUSED);
        mirrorNode[fd] = n;
    }

    private void unmirror(int fd) {
        if (mirrorState[fd] == IN_SET) {
            ctl(Structs.EPOLL_CTL_DEL, fd, 0); // ENOENT/EBADF: closed meanwhile, already gone
        }
        setState(fd, NONE);
        mirrorNode[fd] = null;
    }

    private void setState(int fd, byte s) {
        refused += (s == REFUSED ? 1 : 0) - (mirrorState[fd] == REFUSED ? 1 : 0);
        mirrorState[fd] = s;
    }

    private void clearMirror() {
        for (AioHandler old : mirrored) {
            if (!old.contextNotifier && mirrorNode[old.fd] == old) {
                unmirror(old.fd);
            }
        }
        mirrored = null;
    }

    private void grow(int fd) {
        if (fd >= mirrorNode.length) {
            int cap = Math.max(fd + 1, mirrorNode.length * 2);
            mirrorNode = Arrays.copyOf(mirrorNode, cap);
            mirrorState = Arrays.copyOf(mirrorState, cap);
            stamp = Arrays.copyOf(stamp, cap);
        }
    }

    private int ctl(int op, int fd, int events) {
        Structs.setEpollEvent(event, events, fd);
        return Syscalls.epollCtl(errno, epfd, op, fd, event);
    }

    /** Closes the epoll fd (context close). Idempotent. */
    public void close() {
        if (!closed) {
            closed = true;
            Syscalls.close(epfd);
        }
    }
}
