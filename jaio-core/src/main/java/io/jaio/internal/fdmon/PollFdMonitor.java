// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.fdmon;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import io.jaio.ErrnoException;
import io.jaio.internal.sys.Errno;
import io.jaio.internal.sys.Structs;
import io.jaio.internal.sys.Syscalls;

/**
 * The poll(2) monitor (QEMU {@code fdmon-poll.c}): one {@code ppoll} per wait with a nanosecond
 * timeout. The pollfd array is rebuilt only when the table's registrations change, not on every
 * wait. With 64 or more fds it asks the table to upgrade to epoll, once and for good.
 *
 * <p>Threading: {@link #update} any thread under the table lock (it only notes the change);
 * {@link #wait} home thread.
 */
public final class PollFdMonitor implements FdMonitor {
    /** QEMU EPOLL_ENABLE_THRESHOLD. */
    public static final int EPOLL_ENABLE_THRESHOLD = 64;

    private final HandlerTable table;
    private final Arena arena;
    private final MemorySegment errno = Syscalls.newErrnoSegment();
    private final MemorySegment timespec;
    private MemorySegment pollfds;
    private AioHandler[] pollNodes = new AioHandler[8];
    private AioHandler[] builtFrom;
    private int npfd;

    public PollFdMonitor(HandlerTable table, Arena arena) {
        this.table = table;
        this.arena = arena;
        this.timespec = arena.allocate(Structs.TIMESPEC_SIZE, 8);
        this.pollfds = arena.allocate(Structs.POLLFD_SIZE * 8, 8);
    }

    @Override
    public String name() {
        return "poll";
    }

    @Override
    public void update(AioHandler oldNode, AioHandler newNode) {
        // Nothing to tell the kernel: wait() rebuilds its array when the table's list changes.
    }

    private void rebuild(AioHandler[] nodes) {
        int n = 0;
        for (AioHandler h : nodes) {
            if (h.events != 0) {
                n++;
            }
        }
        if (n > pollNodes.length) {
            int cap = pollNodes.length;
            while (cap < n) {
                cap *= 2; // QEMU add_pollfd: start at 8, double
            }
            pollNodes = new AioHandler[cap];
            pollfds = arena.allocate(Structs.POLLFD_SIZE * cap, 8);
        }
        int i = 0;
        for (AioHandler h : nodes) {
            if (h.events != 0) {
                Structs.setPollfd(pollfds, i, h.fd, (short) h.events);
                pollNodes[i++] = h;
            }
        }
        for (int k = i; k < npfd; k++) {
            pollNodes[k] = null;
        }
        npfd = i;
        builtFrom = nodes;
    }

    @Override
    public int wait(ReadyList ready, long timeoutNs, int depth) throws ErrnoException {
        AioHandler[] nodes = table.list();
        if (nodes != builtFrom) {
            rebuild(nodes);
        }
        if (npfd >= EPOLL_ENABLE_THRESHOLD && depth == 1 && table.epollUpgradeAllowed()) {
            FdMonitor epoll = table.tryUpgradeToEpoll();
            if (epoll != null) {
                return epoll.wait(ready, timeoutNs, depth);
            }
        }
        MemorySegment ts = MemorySegment.NULL;
        if (timeoutNs >= 0) {
            Structs.setTimespec(timespec, timeoutNs);
            ts = timespec;
        }
        int r = Syscalls.ppoll(errno, pollfds, npfd, ts);
        if (r < 0) {
            if (r == -Errno.EINTR || r == -Errno.EAGAIN) {
                return 0; // interrupted or asked to retry: the caller's next poll() waits again
            }
            throw new ErrnoException("ppoll(nfds=" + npfd + ")", -r);
        }
        int found = 0;
        for (int i = 0; i < npfd && found < r; i++) {
            int rev = Structs.pollfdRevents(pollfds, i) & 0xffff;
            if (rev != 0) {
                found++;
                ready.add(pollNodes[i], rev);
            }
        }
        return found;
    }

    @Override
    public boolean needWait() {
        return table.pollDisabled();
    }

    @Override
    public void close() {
        // memory belongs to the context's arena
    }
}
