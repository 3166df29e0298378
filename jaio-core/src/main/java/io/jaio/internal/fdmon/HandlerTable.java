// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.fdmon;

import java.lang.foreign.Arena;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.BooleanSupplier;

import io.jaio.ErrnoException;
import io.jaio.internal.sys.Errno;
import io.jaio.internal.sys.Syscalls;

/**
 * The fd registrations of one context and its current {@link FdMonitor} (the handler half of
 * QEMU's AioContext: {@code aio_handlers}, {@code list_lock}, {@code poll_disable_cnt},
 * {@code fdmon_ops}).
 *
 * <p>Implementation notes. Writers ({@link #set}, any thread) serialise on {@link #lock}; the
 * home thread reads without locking. Where QEMU needs RCU and a lock count to free nodes safely,
 * the garbage collector does that job here: a replaced node is only marked deleted, and the home
 * thread skips deleted nodes before each callback and purges them from its own lists. Two views
 * are published:
 * <ul>
 * <li>{@code list}: an immutable array of the live nodes, replaced on every change (copy on
 *     write; volatile write here pairs with the volatile read in {@link #list()}). The poll(2)
 *     monitor rebuilds its pollfd array only when this array object changes.</li>
 * <li>{@code byFd}: live node per fd number, for epoll's event lookup. Elements are stored with
 *     release and read with acquire ({@code BY_FD}); growing replaces the array (volatile).</li>
 * </ul>
 * {@code pollDisableCnt} counts live handlers without io_poll; like QEMU it is updated without
 * ordering against the poll loop: a stale read costs a little wasted polling until the
 * {@code aio_notify} that every change makes.
 */
public final class HandlerTable {
    private static final System.Logger LOG = System.getLogger("io.jaio.fdmon");
    private static final VarHandle BY_FD = MethodHandles.arrayElementVarHandle(AioHandler[].class);
    private static final AioHandler[] NONE = new AioHandler[0];

    private final ReentrantLock lock = new ReentrantLock();
    private final Arena arena;
    private final String contextName;
    private volatile AioHandler[] list = NONE;
    private volatile AioHandler[] byFd = new AioHandler[64];
    private final AtomicInteger pollDisableCnt = new AtomicInteger();
    private volatile FdMonitor monitor;
    /** Set when a node was marked deleted; the home thread purges its poll set and clears it. */
    private volatile boolean deletedPending;
    /** Whether the poll(2) monitor may upgrade to epoll (false once epoll failed: never again). */
    private volatile boolean epollUpgradeAllowed;

    public HandlerTable(Arena arena, String contextName, boolean epollUpgradeAllowed) {
        this.arena = arena;
        this.contextName = contextName;
        this.epollUpgradeAllowed = epollUpgradeAllowed;
    }

    /** Installs the first monitor; called once while the context is built. */
    public void setMonitor(FdMonitor m) {
        monitor = m;
    }

    public FdMonitor monitor() {
        return monitor;
    }

    /** The name of the context this table belongs to (for events and messages). */
    public String contextName() {
        return contextName;
    }

    public Arena arena() {
        return arena;
    }

    /** The live registrations, newest first. Never modify the returned array. */
    public AioHandler[] list() {
        return list;
    }

    /** The live registration of {@code fd}, or null. Any thread. */
    public AioHandler lookup(int fd) {
        AioHandler[] a = byFd;
        if (fd < 0 || fd >= a.length) {
            return null;
        }
        return (AioHandler) BY_FD.getAcquire(a, fd); // pairs with setRelease in publish()
    }

    /** QEMU aio_poll_disabled: some live handler lacks io_poll. */
    public boolean pollDisabled() {
        return pollDisableCnt.getOpaque() != 0; // no ordering needed: see the class notes
    }

    /** Whether a deletion happened since the last call; clears the flag. Home thread. */
    public boolean takeDeletedPending() {
        if (!deletedPending) {
            return false;
        }
        deletedPending = false;
        return true;
    }

    /**
     * Adds, replaces or (when all of ioRead, ioWrite and ioPoll are null) removes the
     * registration of {@code fd} (QEMU aio_set_fd_handler). Any thread.
     *
     * @return whether anything changed (a removal of an unregistered fd changes nothing)
     */
    public boolean set(int fd, Runnable ioRead, Runnable ioWrite, BooleanSupplier ioPoll, Runnable ioPollReady,
            boolean contextNotifier) throws ErrnoException {
        if (ioPoll != null && ioPollReady == null) {
            ioPoll = null; // polling only makes sense with something to call when it succeeds
        }
        boolean removal = ioRead == null && ioWrite == null && ioPoll == null;
        lock.lock();
        try {
            AioHandler old = lookup(fd);
            if (removal) {
                if (old == null) {
                    return false;
                }
                monitorUpdate(old, null);
                if (old.ioPoll == null) {
                    pollDisableCnt.decrementAndGet();
                }
                publish(fd, old, null);
                return true;
            }
            if (old == null) {
                int r = Syscalls.fcntlGetFd(fd);
                if (r < 0) {
                    throw new ErrnoException("register fd " + fd + " with context '" + contextName + "': fcntl(F_GETFD)", -r);
                }
            }
            AioHandler node = new AioHandler(fd, ioRead, ioWrite, ioPoll, ioPollReady, contextNotifier);
            monitorUpdate(old, node);
            int change = (ioPoll == null ? 1 : 0) - (old != null && old.ioPoll == null ? 1 : 0);
            if (change != 0) {
                pollDisableCnt.addAndGet(change);
            }
            publish(fd, old, node);
            return true;
        } finally {
            lock.unlock();
        }
    }

    /** QEMU aio_set_event_notifier_poll: sets poll begin/end on the live node of {@code fd}. */
    public void setPollBeginEnd(int fd, Runnable begin, Runnable end) {
        lock.lock();
        try {
            AioHandler n = lookup(fd);
            if (n != null) {
                n.setPollBeginEnd(begin, end);
            }
        } finally {
            lock.unlock();
        }
    }

    private void monitorUpdate(AioHandler old, AioHandler node) throws ErrnoException {
        FdMonitor m = monitor;
        try {
            m.update(old, node);
        } catch (ErrnoException e) {
            if (!(m instanceof EpollFdMonitor) || e.errno() == Errno.EBADF) {
                throw e;
            }
            // QEMU fdmon_epoll_update: epoll refused this fd (regular files give EPERM).
            // Go back to poll(2) for good; it watches any fd.
            LOG.log(System.Logger.Level.DEBUG, () -> "context '" + contextName + "': " + e.getMessage()
                    + "; falling back from epoll to poll for good");
            downgradeLocked();
        }
    }

    private void publish(int fd, AioHandler old, AioHandler node) {
        AioHandler[] a = byFd;
        if (fd >= a.length) {
            a = Arrays.copyOf(a, Math.max(fd + 1, a.length * 2));
            byFd = a; // volatile publish of the grown array; elements copied above are already visible
        }
        BY_FD.setRelease(a, fd, node); // pairs with getAcquire in lookup()
        AioHandler[] cur = list;
        int n = cur.length;
        AioHandler[] next;
        if (old != null) {
            int i = indexOf(cur, old);
            next = new AioHandler[node == null ? n - 1 : n];
            int k = 0;
            if (node != null) {
                next[k++] = node;
            }
            for (int j = 0; j < n; j++) {
                if (j != i) {
                    next[k++] = cur[j];
                }
            }
            old.markDeleted();
            deletedPending = true;
        } else {
            next = new AioHandler[n + 1];
            next[0] = node;
            System.arraycopy(cur, 0, next, 1, n);
        }
        list = next; // volatile publish; pairs with the read in list()
    }

    private static int indexOf(AioHandler[] a, AioHandler x) {
        for (int i = 0; i < a.length; i++) {
            if (a[i] == x) {
                return i;
            }
        }
        throw new IllegalStateException("handler " + x + " not in the table");
    }

    /**
     * QEMU fdmon_epoll_try_upgrade: moves every registration to a new epoll monitor. Called by
     * the poll(2) monitor from the outermost poll() only. Returns the new monitor, or null when
     * epoll is unavailable (then it is never tried again).
     */
    FdMonitor tryUpgradeToEpoll() {
        if (!epollUpgradeAllowed) {
            return null;
        }
        lock.lock();
        try {
            EpollFdMonitor e;
            try {
                e = new EpollFdMonitor(this, arena);
            } catch (ErrnoException ex) {
                epollUpgradeAllowed = false;
                LOG.log(System.Logger.Level.DEBUG, () -> "context '" + contextName + "': no epoll: " + ex.getMessage());
                return null;
            }
            for (AioHandler n : list) {
                try {
                    e.update(null, n);
                } catch (ErrnoException ex) {
                    e.close();
                    epollUpgradeAllowed = false;
                    LOG.log(System.Logger.Level.DEBUG, () -> "context '" + contextName + "': epoll upgrade failed: "
                            + ex.getMessage());
                    return null;
                }
            }
            FdMonitor old = monitor;
            monitor = e;
            old.close();
            return e;
        } finally {
            lock.unlock();
        }
    }

    /** Set while the context is built: only a poll(2) monitor may upgrade. */
    public void setEpollUpgradeAllowed(boolean allowed) {
        epollUpgradeAllowed = allowed;
    }

    public boolean epollUpgradeAllowed() {
        return epollUpgradeAllowed;
    }

    private void downgradeLocked() {
        FdMonitor old = monitor;
        epollUpgradeAllowed = false;
        monitor = new PollFdMonitor(this, arena);
        old.close();
    }

    /** Removes every registration (context close); returns how many there were, notifier included. */
    public int clear() {
        lock.lock();
        try {
            AioHandler[] cur = list;
            for (AioHandler n : cur) {
                try {
                    monitor.update(n, null);
                } catch (ErrnoException ignored) {
                    // the fd may already be closed; nothing to undo
                }
                n.markDeleted();
            }
            list = NONE;
            byFd = new AioHandler[0];
            pollDisableCnt.set(0);
            return cur.length;
        } finally {
            lock.unlock();
        }
    }
}
