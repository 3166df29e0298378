// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.fdmon;

import java.util.function.BooleanSupplier;

import io.jaio.internal.sys.Structs;

/**
 * One registration of an fd with a context (QEMU's {@code AioHandler}). A registration is never
 * changed in place: modifying the callbacks of an fd builds a new node and marks the old one
 * deleted, so a walk of the home thread never sees half-updated callbacks.
 *
 * <p>Threading: the final fields and {@link #isDeleted()} may be read by any thread.
 * {@link #markDeleted()} is called with the {@link HandlerTable} lock held. The poll begin/end
 * callbacks are written under that lock and read by the home thread (volatile). Every other
 * field is home-thread state: the ready-list and poll-set links, {@code revents}, the adaptive
 * poll time.
 */
public final class AioHandler {
    /** Poll events that mean "call io_read" (QEMU: G_IO_IN | G_IO_HUP | G_IO_ERR). */
    public static final int READ_EVENTS = Structs.POLLIN | Structs.POLLHUP | Structs.POLLERR;
    /** Poll events that mean "call io_write" (QEMU: G_IO_OUT | G_IO_ERR). */
    public static final int WRITE_EVENTS = Structs.POLLOUT | Structs.POLLERR;

    public final int fd;
    /** Requested poll(2) events, derived from which callbacks are present. */
    public final int events;
    public final Runnable ioRead;
    public final Runnable ioWrite;
    public final BooleanSupplier ioPoll;
    public final Runnable ioPollReady;
    /** The context's own notifier: its callbacks never count as progress. */
    public final boolean contextNotifier;

    // Written under the HandlerTable lock, read by the home thread; volatile pairs the two.
    private volatile Runnable ioPollBegin;
    private volatile Runnable ioPollEnd;
    // Set under the HandlerTable lock (any thread); read by the home thread before each callback.
    private volatile boolean deleted;

    // ---- home-thread state ----
    /** Events reported by the monitor for this node, consumed by dispatch. */
    public int revents;
    /** Userspace polling found this node ready. */
    public boolean pollReady;
    ReadyList readyOwner;
    AioHandler readyNext;
    AioHandler readyPrev;
    /** Member of the context's userspace poll set. */
    public boolean inPollSet;
    AioHandler pollNext;
    AioHandler pollPrev;
    /** Adaptive poll time of this handler (QEMU: node->poll.ns). */
    public long pollNs;
    /** When this handler leaves the poll set if it stays idle (0 = unset); io_uring only. */
    public long pollIdleTimeoutNs;
    /** io_uring monitor: slot of the armed POLL_ADD, or -1. */
    public int uringSlot = -1;
    /** io_uring monitor: user_data of the armed POLL_ADD. */
    public long uringUserData;

    public AioHandler(int fd, Runnable ioRead, Runnable ioWrite, BooleanSupplier ioPoll, Runnable ioPollReady,
            boolean contextNotifier) {
        this.fd = fd;
        this.ioRead = ioRead;
        this.ioWrite = ioWrite;
        this.ioPoll = ioPoll;
        this.ioPollReady = ioPollReady;
        this.contextNotifier = contextNotifier;
        this.events = (ioRead != null ? READ_EVENTS : 0) | (ioWrite != null ? WRITE_EVENTS : 0);
    }

    public boolean isDeleted() {
        return deleted;
    }

    void markDeleted() {
        deleted = true;
    }

    public Runnable ioPollBegin() {
        return ioPollBegin;
    }

    public Runnable ioPollEnd() {
        return ioPollEnd;
    }

    void setPollBeginEnd(Runnable begin, Runnable end) {
        ioPollBegin = begin;
        ioPollEnd = end;
    }

    @Override
    public String toString() {
        return "AioHandler[fd=" + fd + (deleted ? ", deleted" : "") + "]";
    }
}
