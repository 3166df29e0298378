package io.jaio;

import java.lang.foreign.MemorySegment;

import io.jaio.internal.uring.Uring;

/**
 * Typed helpers over {@link AioContext#addSqe}: one method per io_uring operation jaio's users
 * need, each filling the entry and submitting it with {@code handler}. Obtained from
 * {@link AioContext#ioUring()}; the completion arrives as {@code handler.onCompletion(res, flags)}
 * on the home thread, {@code res} being what the system call would return, or {@code -errno}.
 *
 * <p>Buffers must be native memory (the kernel keeps their address until the completion) and
 * must stay alive until then, even if the request is cancelled. Checks made here throw
 * {@link IllegalArgumentException} before anything is submitted: heap or too-small buffers,
 * negative offsets or lengths. Errors the kernel finds (a closed fd, a misaligned O_DIRECT
 * buffer) arrive as a negative {@code res}: {@code -EBADF}, {@code -EINVAL}.
 *
 * <p><b>Multishot requests</b> ({@link #pollAddMultishot}, {@link #acceptMultishot}) complete
 * once per event with {@link CqeHandler#CQE_F_MORE} set, and a last time without it (when
 * cancelled, on an error, or when the kernel ends them, for example on CQ overflow); see
 * {@link CqeHandler}.
 *
 * <p>Threading: home thread only.
 */
public final class IoUring {
    /** {@code struct iovec}: 16 bytes. */
    public static final long IOVEC_SIZE = 16;
    /** {@code struct statx} is 256 bytes. */
    public static final long STATX_SIZE = 256;
    /** {@code struct __kernel_timespec}: 16 bytes. */
    public static final long TIMESPEC_SIZE = 16;

    private final AioContext ctx;
    private final UringRequests requests;

    IoUring(AioContext ctx, UringRequests requests) {
        this.ctx = ctx;
        this.requests = requests;
    }

    /** Free SQ entries now (a test probe). */
    int sqSpaceLeft() {
        return requests.sqSpaceLeft();
    }

    private Sqe begin(CqeHandler h) {
        ctx.checkSubmit("io_uring submission");
        try {
            return requests.begin(h);
        } catch (ErrnoException e) {
            throw new IllegalStateException("io_uring submission queue of context '" + ctx.name() + "' stays full", e);
        }
    }

    private static long requireNonNegative(String what, long v) {
        if (v < 0) {
            throw new IllegalArgumentException(what + "=" + v + " (expected >= 0)");
        }
        return v;
    }

    private static int u32Length(MemorySegment buf) {
        if (!buf.isNative()) {
            throw new IllegalArgumentException("buffer " + buf + " is on the heap (expected native memory)");
        }
        long n = buf.byteSize();
        if (n > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("buffer of " + n + " bytes (expected at most " + Integer.MAX_VALUE + ")");
        }
        return (int) n;
    }

    private static void requireSize(String what, MemorySegment seg, long need) {
        if (seg.byteSize() < need) {
            throw new IllegalArgumentException(what + " of " + seg.byteSize() + " bytes (expected at least " + need + ")");
        }
    }

    private void simple(CqeHandler h, int op, int fd, long addr, int len, long off, int opFlags) {
        Sqe s = begin(h);
        s.opcode(op).fd(fd).addr(addr).len(len).off(off).opFlags(opFlags);
        requests.commit(h);
    }

    /** IORING_OP_NOP: completes with res 0. */
    public void nop(CqeHandler h) {
        simple(h, Uring.OP_NOP, -1, 0, 0, 0, 0);
    }

    /** pread into all of {@code buf} at {@code offset}; res = bytes read. */
    public void read(int fd, MemorySegment buf, long offset, CqeHandler h) {
        int len = u32Length(buf);
        simple(h, Uring.OP_READ, fd, buf.address(), len, requireNonNegative("offset", offset), 0);
    }

    /** pwrite of all of {@code buf} at {@code offset}; res = bytes written. */
    public void write(int fd, MemorySegment buf, long offset, CqeHandler h) {
        int len = u32Length(buf);
        simple(h, Uring.OP_WRITE, fd, buf.address(), len, requireNonNegative("offset", offset), 0);
    }

    /** pwritev2 with RWF_* flags (for example RWF_DSYNC = 2 for FUA writes). */
    public void write(int fd, MemorySegment buf, long offset, int rwFlags, CqeHandler h) {
        int len = u32Length(buf);
        simple(h, Uring.OP_WRITE, fd, buf.address(), len, requireNonNegative("offset", offset), rwFlags);
    }

    /** preadv of {@code count} iovecs stored in {@code iovecs}. */
    public void readv(int fd, MemorySegment iovecs, int count, long offset, CqeHandler h) {
        requireSize("iovec array for " + count + " iovecs", iovecs, IOVEC_SIZE * requireNonNegative("count", count));
        u32Length(iovecs);
        simple(h, Uring.OP_READV, fd, iovecs.address(), count, requireNonNegative("offset", offset), 0);
    }

    /** pwritev of {@code count} iovecs stored in {@code iovecs}. */
    public void writev(int fd, MemorySegment iovecs, int count, long offset, CqeHandler h) {
        requireSize("iovec array for " + count + " iovecs", iovecs, IOVEC_SIZE * requireNonNegative("count", count));
        u32Length(iovecs);
        simple(h, Uring.OP_WRITEV, fd, iovecs.address(), count, requireNonNegative("offset", offset), 0);
    }

    /** fsync (or fdatasync when {@code dataOnly}). */
    public void fsync(int fd, boolean dataOnly, CqeHandler h) {
        simple(h, Uring.OP_FSYNC, fd, 0, 0, 0, dataOnly ? Uring.FSYNC_DATASYNC : 0);
    }

    /** fallocate(fd, mode, offset, length): FALLOC_FL_PUNCH_HOLE|KEEP_SIZE = 3, ZERO_RANGE = 16. */
    public void fallocate(int fd, int mode, long offset, long length, CqeHandler h) {
        requireNonNegative("offset", offset);
        requireNonNegative("length", length);
        simple(h, Uring.OP_FALLOCATE, fd, length, mode, offset, 0);
    }

    /** openat(dirfd, path, flags, mode); {@code path} is a NUL-terminated native string. res = the fd. */
    public void openat(int dirfd, MemorySegment path, int flags, int mode, CqeHandler h) {
        requireCString(path);
        simple(h, Uring.OP_OPENAT, dirfd, path.address(), mode, 0, flags);
    }

    /** close(fd). */
    public void close(int fd, CqeHandler h) {
        simple(h, Uring.OP_CLOSE, fd, 0, 0, 0, 0);
    }

    /** statx(dirfd, path, flags, mask, statxbuf); {@code statxbuf} of at least 256 bytes. */
    public void statx(int dirfd, MemorySegment path, int flags, int mask, MemorySegment statxbuf, CqeHandler h) {
        requireCString(path);
        requireSize("statx buffer", statxbuf, STATX_SIZE);
        u32Length(statxbuf);
        simple(h, Uring.OP_STATX, dirfd, path.address(), mask, statxbuf.address(), flags);
    }

    /** accept4(fd, addr, addrlen, flags); addr and addrlen may be NULL. res = the new fd. */
    public void accept(int fd, MemorySegment addr, MemorySegment addrlen, int flags, CqeHandler h) {
        simple(h, Uring.OP_ACCEPT, fd, addr.address(), 0, addrlen.address(), flags);
    }

    /** connect(fd, addr, addrlen). */
    public void connect(int fd, MemorySegment addr, int addrlen, CqeHandler h) {
        requireSize("sockaddr", addr, addrlen);
        simple(h, Uring.OP_CONNECT, fd, addr.address(), 0, addrlen, 0);
    }

    /** recv(fd, buf, len(buf), flags). */
    public void recv(int fd, MemorySegment buf, int msgFlags, CqeHandler h) {
        int len = u32Length(buf);
        simple(h, Uring.OP_RECV, fd, buf.address(), len, 0, msgFlags);
    }

    /** send(fd, buf, len(buf), flags). */
    public void send(int fd, MemorySegment buf, int msgFlags, CqeHandler h) {
        int len = u32Length(buf);
        simple(h, Uring.OP_SEND, fd, buf.address(), len, 0, msgFlags);
    }

    /** sendmsg(fd, msghdr, flags); {@code msghdr} is a 56-byte struct msghdr. */
    public void sendmsg(int fd, MemorySegment msghdr, int msgFlags, CqeHandler h) {
        requireSize("msghdr", msghdr, 56);
        simple(h, Uring.OP_SENDMSG, fd, msghdr.address(), 1, 0, msgFlags);
    }

    /** recvmsg(fd, msghdr, flags). */
    public void recvmsg(int fd, MemorySegment msghdr, int msgFlags, CqeHandler h) {
        requireSize("msghdr", msghdr, 56);
        simple(h, Uring.OP_RECVMSG, fd, msghdr.address(), 1, 0, msgFlags);
    }

    /** One-shot poll for {@code events} (POLLIN = 1, POLLOUT = 4, ...); res = the events seen. */
    public void pollAdd(int fd, int events, CqeHandler h) {
        simple(h, Uring.OP_POLL_ADD, fd, 0, 0, 0, events);
    }

    /**
     * Multishot poll (IORING_POLL_ADD_MULTI, 5.13+): one CQE with {@link CqeHandler#CQE_F_MORE}
     * per readiness event, until cancelled ({@link #pollRemove} or {@link #cancel}: a final
     * {@code -ECANCELED}). Edge-triggered: an fd that stays ready without a new event (a reader
     * that left data behind) produces no further CQE.
     */
    public void pollAddMultishot(int fd, int events, CqeHandler h) {
        simple(h, Uring.OP_POLL_ADD, fd, 0, Uring.POLL_ADD_MULTI, 0, events);
    }

    /**
     * Multishot accept4 (IORING_ACCEPT_MULTISHOT, 5.19+) on listening socket {@code fd}: one CQE
     * per accepted connection, res = the new fd (with {@code flags}, e.g. SOCK_CLOEXEC), each
     * with {@link CqeHandler#CQE_F_MORE} while the request goes on. The peer address is not
     * returned. Ends with a CQE without {@code CQE_F_MORE}: {@code -ECANCELED} after
     * {@link #cancel}, or an error.
     */
    public void acceptMultishot(int fd, int flags, CqeHandler h) {
        Sqe s = begin(h);
        s.opcode(Uring.OP_ACCEPT).fd(fd).opFlags(flags).ioprio(Uring.ACCEPT_MULTISHOT);
        requests.commit(h);
    }

    /** Cancels the poll of {@code target}; res = 0, or -ENOENT if it already completed. */
    public void pollRemove(CqeHandler target, CqeHandler h) {
        long ud = requests.userDataOf(target);
        simple(h, Uring.OP_POLL_REMOVE, -1, ud, 0, 0, 0);
    }

    /** A timeout after {@code ts} (relative, or absolute with flags = 1), or after {@code count} other completions. res = -ETIME when it expired. */
    public void timeout(MemorySegment ts, int count, int flags, CqeHandler h) {
        requireSize("timespec", ts, TIMESPEC_SIZE);
        u32Length(ts);
        simple(h, Uring.OP_TIMEOUT, -1, ts.address(), 1, requireNonNegative("count", count), flags);
    }

    /**
     * A timeout linked to the request submitted just before with {@link #linkNext}; it cancels
     * that request if it has not completed in time.
     */
    public void linkTimeout(MemorySegment ts, int flags, CqeHandler h) {
        requireSize("timespec", ts, TIMESPEC_SIZE);
        u32Length(ts);
        simple(h, Uring.OP_LINK_TIMEOUT, -1, ts.address(), 1, 0, flags);
    }

    /** Cancels the request of {@code target}; res = 0, -ENOENT (not found) or -EALREADY (running). */
    public void cancel(CqeHandler target, CqeHandler h) {
        long ud = requests.userDataOf(target);
        simple(h, Uring.OP_ASYNC_CANCEL, -1, ud, 0, 0, 0);
    }

    /**
     * Submits {@code op} with IOSQE_IO_LINK, so the next request submitted starts only after it
     * (and a {@link #linkTimeout} after it bounds it). Call the linked request (usually
     * {@link #linkTimeout}) right after this one: this call leaves room in the submission queue
     * for both, so no automatic flush can submit {@code op} without the request linked to it (the
     * kernel would then run {@code op} unbounded). Other flags {@code op} sets, such as
     * IOSQE_FIXED_FILE, are kept.
     *
     * @throws IllegalStateException if the submission queue has fewer than 2 entries in all
     */
    public void linkNext(SqePreparer op, CqeHandler h) {
        java.util.Objects.requireNonNull(op, "op");
        java.util.Objects.requireNonNull(h, "handler");
        ctx.checkSubmit("linkNext()");
        try {
            requests.reserve(2);
        } catch (IllegalArgumentException e) {
            throw new IllegalStateException("linkNext() on context '" + ctx.name() + "': " + e.getMessage(), e);
        } catch (ErrnoException e) {
            throw new IllegalStateException("io_uring submission queue of context '" + ctx.name() + "' stays full", e);
        }
        Sqe sqe = begin(h);
        try {
            op.prepare(sqe);
            sqe.orFlags(Uring.IOSQE_IO_LINK);
        } catch (RuntimeException | Error e) { // as addSqe: a half-filled entry must not reach the kernel
            requests.abort();
            throw e;
        }
        requests.commit(h);
    }

    private static void requireCString(MemorySegment path) {
        if (!path.isNative()) {
            throw new IllegalArgumentException("path " + path + " is on the heap (expected a native NUL-terminated string)");
        }
        long n = path.byteSize();
        for (long i = 0; i < n; i++) {
            if (path.get(java.lang.foreign.ValueLayout.JAVA_BYTE, i) == 0) {
                return;
            }
        }
        throw new IllegalArgumentException("path of " + n + " bytes has no NUL terminator (expected a C string)");
    }
}
