// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.fdmon;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import io.jaio.ErrnoException;
import io.jaio.internal.sys.Errno;
import io.jaio.internal.sys.Structs;
import io.jaio.internal.sys.Syscalls;

/**
 * The epoll(7) monitor (QEMU {@code fdmon-epoll.c}). The epoll data word is the fd; a wait looks
 * the live node up in the table, so an event for a registration that has since been replaced
 * goes to its replacement, and one for a removed fd is dropped. Timeouts have nanosecond
 * resolution through {@code epoll_pwait2}; where the kernel lacks it (ENOSYS), a {@code ppoll}
 * on the epoll fd gives the precision and {@code epoll_wait(0)} collects, as QEMU does.
 *
 * <p>Threading: {@link #update} any thread under the table lock (epoll_ctl is thread-safe);
 * {@link #wait} home thread.
 */
public final class EpollFdMonitor implements FdMonitor {
    /** QEMU: at most 128 events per wait. */
    static final int MAX_EVENTS = 128;

    private final HandlerTable table;
    private final int epfd;
    private final MemorySegment ctlEvent;
    private final MemorySegment ctlErrno = Syscalls.newErrnoSegment();
    private final MemorySegment events;
    private final MemorySegment timespec;
    private final MemorySegment pollfd;
    private final MemorySegment errno = Syscalls.newErrnoSegment();
    private boolean pwait2 = Syscalls.hasEpollPwait2();
    private volatile boolean closed;

    public EpollFdMonitor(HandlerTable table, Arena arena) throws ErrnoException {
        this.table = table;
        this.epfd = Syscalls.epollCreate1(Syscalls.O_CLOEXEC);
        this.ctlEvent = arena.allocate(16, 8);
        this.events = arena.allocate(Structs.EPOLL_EVENT_SIZE * MAX_EVENTS, 8);
        this.timespec = arena.allocate(Structs.TIMESPEC_SIZE, 8);
        this.pollfd = arena.allocate(Structs.POLLFD_SIZE, 8);
    }

    @Override
    public String name() {
        return "epoll";
    }

    @Override
    public void update(AioHandler oldNode, AioHandler newNode) throws ErrnoException {
        int oldEv = oldNode == null ? 0 : oldNode.events;
        int newEv = newNode == null ? 0 : newNode.events;
        if (newEv == 0) {
            if (oldEv != 0) {
                int r = ctl(Structs.EPOLL_CTL_DEL, oldNode.fd, 0);
                // ENOENT/EBADF: the fd was closed while registered; the kernel already forgot it.
                if (r < 0 && r != -Errno.ENOENT && r != -Errno.EBADF) {
                    throw new ErrnoException("epoll_ctl(DEL, fd=" + oldNode.fd + ")", -r);
                }
            }
            return;
        }
        int fd = newNode.fd;
        // Always MOD when a node existed: the fd number may have been closed and reused since.
        int r = oldEv != 0 ? ctl(Structs.EPOLL_CTL_MOD, fd, newEv) : ctl(Structs.EPOLL_CTL_ADD, fd, newEv);
        if (r == -Errno.ENOENT) {
            r = ctl(Structs.EPOLL_CTL_ADD, fd, newEv);
        } else if (r == -Errno.EEXIST) {
            r = ctl(Structs.EPOLL_CTL_MOD, fd, newEv);
        }
        if (r < 0) {
            throw new ErrnoException("epoll_ctl(" + (oldEv != 0 ? "MOD" : "ADD") + ", fd=" + fd + ")", -r);
        }
    }

    private int ctl(int op, int fd, int ev) {
        Structs.setEpollEvent(ctlEvent, ev, fd);
        return Syscalls.epollCtl(ctlErrno, epfd, op, fd, ctlEvent);
    }

    @Override
    public int wait(ReadyList ready, long timeoutNs, int depth) throws ErrnoException {
        int r;
        if (pwait2) {
            MemorySegment ts = MemorySegment.NULL;
            if (timeoutNs >= 0) {
                Structs.setTimespec(timespec, timeoutNs);
                ts = timespec;
            }
            r = Syscalls.epollPwait2(errno, epfd, events, MAX_EVENTS, ts);
            if (r == -Errno.ENOSYS) {
                pwait2 = false;
                return waitFallback(ready, timeoutNs);
            }
        } else {
            return waitFallback(ready, timeoutNs);
        }
        return collect(ready, r);
    }

    private int waitFallback(ReadyList ready, long timeoutNs) throws ErrnoException {
        int timeoutMs = timeoutNs < 0 ? -1 : 0;
        if (timeoutNs > 0) {
            Structs.setPollfd(pollfd, 0, epfd, (short) (Structs.POLLIN | Structs.POLLOUT | Structs.POLLHUP | Structs.POLLERR));
            Structs.setTimespec(timespec, timeoutNs);
            int p = Syscalls.ppoll(errno, pollfd, 1, timespec);
            if (p <= 0) {
                return p == -Errno.EINTR || p == -Errno.EAGAIN || p == 0 ? 0 : collect(ready, p);
            }
        }
        return collect(ready, Syscalls.epollWait(errno, epfd, events, MAX_EVENTS, timeoutMs));
    }

    private int collect(ReadyList ready, int r) throws ErrnoException {
        if (r < 0) {
            if (r == -Errno.EINTR || r == -Errno.EAGAIN) {
                return 0; // interrupted or asked to retry: the caller's next poll() waits again
            }
            throw new ErrnoException("epoll_wait(epfd=" + epfd + ")", -r);
        }
        int n = 0;
        for (int i = 0; i < r; i++) {
            int fd = (int) Structs.epollData(events, i);
            AioHandler node = table.lookup(fd);
            if (node != null) {
                // EPOLLIN/OUT/ERR/HUP have the same values as POLLIN/OUT/ERR/HUP.
                ready.add(node, Structs.epollEvents(events, i));
                n++;
            }
        }
        return n;
    }

    @Override
    public boolean needWait() {
        return table.pollDisabled();
    }

    /** The epoll fd: readable while any registered fd is ready. */
    @Override
    public int pollableFd() {
        return epfd;
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            Syscalls.close(epfd);
        }
    }
}
