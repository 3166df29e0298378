// SPDX-License-Identifier: Apache-2.0
package io.jaio.uring;

import java.lang.foreign.MemorySegment;

import java.util.Objects;

import io.jaio.AioContext;
import io.jaio.ErrnoException;
import io.jaio.internal.loop.ContextCore;
import io.jaio.internal.uring.Uring;
import io.jaio.internal.uring.UringResources;

/**
 * The io_uring submission API of one context (QEMU aio_add_sqe): {@link #addSqe}, and typed
 * helpers over it, one method per io_uring operation jaio's users need, each filling the entry
 * and submitting it with {@code handler}. Obtained from {@link #of(AioContext)}; the completion arrives as {@code handler.onCompletion(res, flags)}
 * on the home thread, {@code res} being what the system call would return, or {@code -errno}.
 *
 * <p>Buffers must be native memory (the kernel keeps their address until the completion) and
 * must stay alive until then, even if the request is cancelled. Checks made here throw
 * {@link IllegalArgumentException} before anything is submitted: heap or too-small buffers,
 * negative offsets or lengths. Errors the kernel finds (a closed fd, a misaligned O_DIRECT
 * buffer) arrive as a negative {@code res}: {@code -EBADF}, {@code -EINVAL}.
 *
 * <p><b>Registered (fixed) files and buffers.</b> {@link #registerFiles} (or
 * {@link #registerFilesSparse} and {@link #updateFiles}) gives the ring a table of files that
 * requests then name by slot index instead of fd ({@code IOSQE_FIXED_FILE}: the kernel skips
 * looking the fd up and taking a file reference per request). A slot holds its own reference:
 * closing the fd does not empty the slot, {@code updateFiles(i, -1)} does. A request on an empty
 * slot completes with {@code -EBADF}. {@link #registerBuffers} pins memory once so that
 * {@link #readFixed} and {@link #writeFixed} skip mapping the user pages per request (what pays
 * off with O_DIRECT). <em>Ownership of registered buffers:</em> the segments stay the caller's;
 * they must stay alive (their arena open) until {@link #unregisterBuffers()} or the context's
 * close, which unregisters everything. The context keeps a reference to each segment and checks
 * that it is alive at each fixed operation; freeing one earlier makes those operations throw
 * {@link IllegalStateException}, and in the meantime the kernel keeps the old pages pinned.
 * Misuse throws before anything is submitted: {@link IllegalStateException} for registering
 * twice, or for a fixed operation when nothing (or nothing any more) is registered;
 * {@link IllegalArgumentException} for a slot or buffer index out of range and for a segment
 * that does not lie inside the registered buffer it names. Requests in flight keep the table
 * entries they use: unregistering or updating while they run is safe.
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
    private final UringResources resources;

    IoUring(AioContext ctx, UringRequests requests, UringResources resources) {
        this.ctx = ctx;
        this.requests = requests;
        this.resources = resources;
    }

    /**
     * The submission API of {@code ctx} (formerly {@code AioContext.ioUring()}), made on first
     * use and kept in the context. Home thread only.
     *
     * @param ctx a context running on io_uring, called from its home thread
     * @return the context's submission API (always the same one)
     * @throws IllegalStateException without io_uring ({@link AioContext#hasIoUring()}), on a
     *     closed context, or off the home thread
     */
    public static IoUring of(AioContext ctx) {
        Objects.requireNonNull(ctx, "ctx");
        checkSubmit(ctx, "IoUring.of()");
        return ((UringRequests) ContextCore.of(ctx).extension(ContextCore.Slot.IO_URING, UringRequests::create)).api();
    }

    /** Home thread of an open context that runs on io_uring; {@code what} names the call. */
    static void checkSubmit(AioContext ctx, String what) {
        ContextCore.checkHome(ctx, what);
        ContextCore.checkOpen(ctx);
        if (!ctx.hasIoUring()) {
            throw new IllegalStateException(what + " on context '" + ctx.name() + "', which does not run on io_uring ("
                    + ctx.ioUringUnavailableReason() + "); check hasIoUring() first");
        }
    }

    /** {@return the context this API submits to} */
    public AioContext context() {
        return ctx;
    }

    /**
     * Submits one io_uring request (QEMU aio_add_sqe; formerly {@code AioContext.addSqe}):
     * {@code prep} fills the entry, and {@code handler} receives the completion on the home
     * thread in a later poll(), never inside this call. The kernel sees the entry at the next
     * poll() (or at once if the submission queue had to be flushed). Home thread only.
     *
     * @param prep fills the submission entry; throwing abandons the request
     * @param handler receives the completion; it must not be in flight already
     * @throws IllegalStateException on a closed context, or if {@code handler} is still in flight
     */
    public void addSqe(SqePreparer prep, CqeHandler handler) {
        Objects.requireNonNull(prep, "prep");
        Objects.requireNonNull(handler, "handler");
        checkSubmit(ctx, "addSqe()");
        Sqe sqe;
        try {
            sqe = requests.begin(handler);
        } catch (ErrnoException e) {
            throw new IllegalStateException("io_uring submission queue of context '" + ctx.name() + "' stays full", e);
        }
        try {
            prep.prepare(sqe);
        } catch (RuntimeException | Error e) { // an Error too: a half-filled entry must not reach the kernel
            requests.abort();
            throw e;
        }
        requests.commit(handler);
    }

    /** Free SQ entries now (a test probe). */
    int sqSpaceLeft() {
        return requests.sqSpaceLeft();
    }

    private Sqe begin(CqeHandler h) {
        checkSubmit(ctx, "io_uring submission");
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
        submit(h, headWord(op, 0, 0, fd), off, addr, lenWord(len, opFlags), 0L);
    }

    /** Writes a whole entry for {@code h} (see Ring.putSqe for the words). */
    private void submit(CqeHandler h, long headWord, long offWord, long addr, long lenAndOpFlags, long bufWord) {
        checkSubmit(ctx, "io_uring submission");
        try {
            requests.submit(h, headWord, offWord, addr, lenAndOpFlags, bufWord);
        } catch (ErrnoException e) {
            throw new IllegalStateException("io_uring submission queue of context '" + ctx.name() + "' stays full", e);
        }
    }

    /** The SQE's first 8 bytes: opcode, flags, ioprio, fd (little-endian). */
    private static long headWord(int opcode, int sqeFlags, int ioprio, int fd) {
        return (opcode & 0xffL) | (sqeFlags & 0xffL) << 8 | (ioprio & 0xffffL) << 16 | (long) fd << 32;
    }

    /** The SQE's bytes 24..31: len, then the per-operation flags word. */
    private static long lenWord(int len, int opFlags) {
        return (len & 0xffffffffL) | (long) opFlags << 32;
    }

    /**
     * IORING_OP_NOP: completes with res 0.
     *
     * @param h receives the completion on the home thread; it must not be in flight already
     */
    public void nop(CqeHandler h) {
        simple(h, Uring.OP_NOP, -1, 0, 0, 0, 0);
    }

    /**
     * pread into all of {@code buf} at {@code offset}; res = bytes read.
     *
     * @param fd the file or socket descriptor the request works on
     * @param buf native memory the kernel reads or writes, alive until the completion
     * @param offset the file offset in bytes, {@code >= 0}
     * @param h receives the completion on the home thread; it must not be in flight already
     */
    public void read(int fd, MemorySegment buf, long offset, CqeHandler h) {
        int len = u32Length(buf);
        simple(h, Uring.OP_READ, fd, buf.address(), len, requireNonNegative("offset", offset), 0);
    }

    /**
     * pwrite of all of {@code buf} at {@code offset}; res = bytes written.
     *
     * @param fd the file or socket descriptor the request works on
     * @param buf native memory the kernel reads or writes, alive until the completion
     * @param offset the file offset in bytes, {@code >= 0}
     * @param h receives the completion on the home thread; it must not be in flight already
     */
    public void write(int fd, MemorySegment buf, long offset, CqeHandler h) {
        int len = u32Length(buf);
        simple(h, Uring.OP_WRITE, fd, buf.address(), len, requireNonNegative("offset", offset), 0);
    }

    /**
     * pwritev2 with RWF_* flags (for example RWF_DSYNC = 2 for FUA writes).
     *
     * @param fd the file or socket descriptor the request works on
     * @param buf native memory the kernel reads or writes, alive until the completion
     * @param offset the file offset in bytes, {@code >= 0}
     * @param rwFlags RWF_* flags for pwritev2
     * @param h receives the completion on the home thread; it must not be in flight already
     */
    public void write(int fd, MemorySegment buf, long offset, int rwFlags, CqeHandler h) {
        int len = u32Length(buf);
        simple(h, Uring.OP_WRITE, fd, buf.address(), len, requireNonNegative("offset", offset), rwFlags);
    }

    /**
     * preadv of {@code count} iovecs stored in {@code iovecs}.
     *
     * @param fd the file or socket descriptor the request works on
     * @param iovecs native memory holding {@code count} {@code struct iovec} entries
     * @param count the number of iovecs, {@code >= 0}
     * @param offset the file offset in bytes, {@code >= 0}
     * @param h receives the completion on the home thread; it must not be in flight already
     */
    public void readv(int fd, MemorySegment iovecs, int count, long offset, CqeHandler h) {
        requireSize("iovec array for " + count + " iovecs", iovecs, IOVEC_SIZE * requireNonNegative("count", count));
        u32Length(iovecs);
        simple(h, Uring.OP_READV, fd, iovecs.address(), count, requireNonNegative("offset", offset), 0);
    }

    /**
     * pwritev of {@code count} iovecs stored in {@code iovecs}.
     *
     * @param fd the file or socket descriptor the request works on
     * @param iovecs native memory holding {@code count} {@code struct iovec} entries
     * @param count the number of iovecs, {@code >= 0}
     * @param offset the file offset in bytes, {@code >= 0}
     * @param h receives the completion on the home thread; it must not be in flight already
     */
    public void writev(int fd, MemorySegment iovecs, int count, long offset, CqeHandler h) {
        requireSize("iovec array for " + count + " iovecs", iovecs, IOVEC_SIZE * requireNonNegative("count", count));
        u32Length(iovecs);
        simple(h, Uring.OP_WRITEV, fd, iovecs.address(), count, requireNonNegative("offset", offset), 0);
    }

    /**
     * fsync (or fdatasync when {@code dataOnly}).
     *
     * @param fd the file or socket descriptor the request works on
     * @param dataOnly whether only the data (and the metadata needed to read it) must reach the disk
     * @param h receives the completion on the home thread; it must not be in flight already
     */
    public void fsync(int fd, boolean dataOnly, CqeHandler h) {
        simple(h, Uring.OP_FSYNC, fd, 0, 0, 0, dataOnly ? Uring.FSYNC_DATASYNC : 0);
    }

    /**
     * fallocate(fd, mode, offset, length): FALLOC_FL_PUNCH_HOLE|KEEP_SIZE = 3, ZERO_RANGE = 16.
     *
     * @param fd the file or socket descriptor the request works on
     * @param mode FALLOC_FL_* bits
     * @param offset the file offset in bytes, {@code >= 0}
     * @param length the range length in bytes, {@code >= 0}
     * @param h receives the completion on the home thread; it must not be in flight already
     */
    public void fallocate(int fd, int mode, long offset, long length, CqeHandler h) {
        requireNonNegative("offset", offset);
        requireNonNegative("length", length);
        simple(h, Uring.OP_FALLOCATE, fd, length, mode, offset, 0);
    }

    /**
     * openat(dirfd, path, flags, mode); {@code path} is a NUL-terminated native string. res = the fd.
     *
     * @param dirfd the directory {@code path} is relative to, or AT_FDCWD (-100)
     * @param path a NUL-terminated native string, alive until the completion
     * @param flags O_* flags
     * @param mode the permission bits of a file O_CREAT makes
     * @param h receives the completion on the home thread; it must not be in flight already
     */
    public void openat(int dirfd, MemorySegment path, int flags, int mode, CqeHandler h) {
        requireCString(path);
        simple(h, Uring.OP_OPENAT, dirfd, path.address(), mode, 0, flags);
    }

    /**
     * close(fd).
     *
     * @param fd the file or socket descriptor the request works on
     * @param h receives the completion on the home thread; it must not be in flight already
     */
    public void close(int fd, CqeHandler h) {
        simple(h, Uring.OP_CLOSE, fd, 0, 0, 0, 0);
    }

    /**
     * statx(dirfd, path, flags, mask, statxbuf); {@code statxbuf} of at least 256 bytes.
     *
     * @param dirfd the directory {@code path} is relative to, or AT_FDCWD (-100)
     * @param path a NUL-terminated native string, alive until the completion
     * @param flags AT_* flags
     * @param mask STATX_* fields wanted
     * @param statxbuf native memory of at least {@link #STATX_SIZE} bytes the kernel fills
     * @param h receives the completion on the home thread; it must not be in flight already
     */
    public void statx(int dirfd, MemorySegment path, int flags, int mask, MemorySegment statxbuf, CqeHandler h) {
        requireCString(path);
        requireSize("statx buffer", statxbuf, STATX_SIZE);
        u32Length(statxbuf);
        simple(h, Uring.OP_STATX, dirfd, path.address(), mask, statxbuf.address(), flags);
    }

    /**
     * accept4(fd, addr, addrlen, flags); addr and addrlen may be NULL. res = the new fd.
     *
     * @param fd a listening socket
     * @param addr receives the peer address, or {@link MemorySegment#NULL}
     * @param addrlen an in/out {@code socklen_t} for {@code addr}, or {@link MemorySegment#NULL}
     * @param flags SOCK_NONBLOCK, SOCK_CLOEXEC
     * @param h receives the completion on the home thread; it must not be in flight already
     */
    public void accept(int fd, MemorySegment addr, MemorySegment addrlen, int flags, CqeHandler h) {
        simple(h, Uring.OP_ACCEPT, fd, addr.address(), 0, addrlen.address(), flags);
    }

    /**
     * connect(fd, addr, addrlen).
     *
     * @param fd a socket
     * @param addr the native sockaddr to connect to
     * @param addrlen its length in bytes
     * @param h receives the completion on the home thread; it must not be in flight already
     */
    public void connect(int fd, MemorySegment addr, int addrlen, CqeHandler h) {
        requireSize("sockaddr", addr, addrlen);
        simple(h, Uring.OP_CONNECT, fd, addr.address(), 0, addrlen, 0);
    }

    /**
     * recv(fd, buf, len(buf), flags).
     *
     * @param fd the file or socket descriptor the request works on
     * @param buf native memory the kernel reads or writes, alive until the completion
     * @param msgFlags MSG_* flags, as for the system call
     * @param h receives the completion on the home thread; it must not be in flight already
     */
    public void recv(int fd, MemorySegment buf, int msgFlags, CqeHandler h) {
        int len = u32Length(buf);
        simple(h, Uring.OP_RECV, fd, buf.address(), len, 0, msgFlags);
    }

    /**
     * send(fd, buf, len(buf), flags).
     *
     * @param fd the file or socket descriptor the request works on
     * @param buf native memory the kernel reads or writes, alive until the completion
     * @param msgFlags MSG_* flags, as for the system call
     * @param h receives the completion on the home thread; it must not be in flight already
     */
    public void send(int fd, MemorySegment buf, int msgFlags, CqeHandler h) {
        int len = u32Length(buf);
        simple(h, Uring.OP_SEND, fd, buf.address(), len, 0, msgFlags);
    }

    /**
     * sendmsg(fd, msghdr, flags); {@code msghdr} is a 56-byte struct msghdr.
     *
     * @param fd the file or socket descriptor the request works on
     * @param msghdr a native {@code struct msghdr} of at least 56 bytes, alive until the completion
     * @param msgFlags MSG_* flags, as for the system call
     * @param h receives the completion on the home thread; it must not be in flight already
     */
    public void sendmsg(int fd, MemorySegment msghdr, int msgFlags, CqeHandler h) {
        requireSize("msghdr", msghdr, 56);
        simple(h, Uring.OP_SENDMSG, fd, msghdr.address(), 1, 0, msgFlags);
    }

    /**
     * recvmsg(fd, msghdr, flags).
     *
     * @param fd the file or socket descriptor the request works on
     * @param msghdr a native {@code struct msghdr} of at least 56 bytes, alive until the completion
     * @param msgFlags MSG_* flags, as for the system call
     * @param h receives the completion on the home thread; it must not be in flight already
     */
    public void recvmsg(int fd, MemorySegment msghdr, int msgFlags, CqeHandler h) {
        requireSize("msghdr", msghdr, 56);
        simple(h, Uring.OP_RECVMSG, fd, msghdr.address(), 1, 0, msgFlags);
    }

    /**
     * One-shot poll for {@code events} (POLLIN = 1, POLLOUT = 4, ...); res = the events seen.
     *
     * @param fd the file or socket descriptor the request works on
     * @param events the poll(2) events to wait for
     * @param h receives the completion on the home thread; it must not be in flight already
     */
    public void pollAdd(int fd, int events, CqeHandler h) {
        simple(h, Uring.OP_POLL_ADD, fd, 0, 0, 0, events);
    }

    /**
     * Multishot poll (IORING_POLL_ADD_MULTI, 5.13+): one CQE with {@link CqeHandler#CQE_F_MORE}
     * per readiness event, until cancelled ({@link #pollRemove} or {@link #cancel}: a final
     * {@code -ECANCELED}). Edge-triggered: an fd that stays ready without a new event (a reader
     * that left data behind) produces no further CQE.
     *
     * @param fd the file or socket descriptor the request works on
     * @param events the poll(2) events to wait for
     * @param h receives the completion on the home thread; it must not be in flight already
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
     *
     * @param fd a listening socket
     * @param flags SOCK_NONBLOCK, SOCK_CLOEXEC for the accepted sockets
     * @param h receives the completion on the home thread; it must not be in flight already
     */
    public void acceptMultishot(int fd, int flags, CqeHandler h) {
        submit(h, headWord(Uring.OP_ACCEPT, 0, Uring.ACCEPT_MULTISHOT, fd), 0L, 0L, lenWord(0, flags), 0L);
    }

    /**
     * Cancels the poll of {@code target}; res = 0, or -ENOENT if it already completed.
     *
     * @param target the handler of the poll to remove
     * @param h receives the completion on the home thread; it must not be in flight already
     */
    public void pollRemove(CqeHandler target, CqeHandler h) {
        long ud = requests.userDataOf(target);
        simple(h, Uring.OP_POLL_REMOVE, -1, ud, 0, 0, 0);
    }

    /**
     * A timeout after {@code ts} (relative, or absolute with flags = 1), or after {@code count} other completions. res = -ETIME when it expired.
     *
     * @param ts a native {@code struct __kernel_timespec} ({@link #TIMESPEC_SIZE} bytes), alive until the completion
     * @param count completions that end the timeout early, 0 for none
     * @param flags IORING_TIMEOUT_* flags (1 = absolute)
     * @param h receives the completion on the home thread; it must not be in flight already
     */
    public void timeout(MemorySegment ts, int count, int flags, CqeHandler h) {
        requireSize("timespec", ts, TIMESPEC_SIZE);
        u32Length(ts);
        simple(h, Uring.OP_TIMEOUT, -1, ts.address(), 1, requireNonNegative("count", count), flags);
    }

    /**
     * A timeout linked to the request submitted just before with {@link #linkNext}; it cancels
     * that request if it has not completed in time.
     *
     * @param ts a native {@code struct __kernel_timespec} ({@link #TIMESPEC_SIZE} bytes), alive until the completion
     * @param flags IORING_TIMEOUT_* flags (1 = absolute)
     * @param h receives the completion on the home thread; it must not be in flight already
     */
    public void linkTimeout(MemorySegment ts, int flags, CqeHandler h) {
        requireSize("timespec", ts, TIMESPEC_SIZE);
        u32Length(ts);
        simple(h, Uring.OP_LINK_TIMEOUT, -1, ts.address(), 1, 0, flags);
    }

    /**
     * Cancels the request of {@code target}; res = 0, -ENOENT (not found) or -EALREADY (running).
     *
     * @param target the handler whose request to cancel
     * @param h receives the completion on the home thread; it must not be in flight already
     */
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
     * @param op fills the entry of the first request
     * @param h receives that request's completion
     * @throws IllegalStateException if the submission queue has fewer than 2 entries in all
     */
    public void linkNext(SqePreparer op, CqeHandler h) {
        java.util.Objects.requireNonNull(op, "op");
        java.util.Objects.requireNonNull(h, "handler");
        checkSubmit(ctx, "linkNext()");
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

    // ---- registered files ----

    /**
     * Registers a file table (IORING_REGISTER_FILES): slot {@code i} holds {@code fds[i]}, or is
     * empty for -1. Requests then name a slot with {@link #readFixedFile} and the like.
     *
     * @param fds one fd per slot, -1 for an empty slot
     * @throws IllegalStateException if files are already registered
     * @throws IllegalArgumentException for an empty array or an fd below -1
     * @throws ErrnoException if the kernel refuses: EBADF (a closed fd), EMFILE (more slots than
     *     RLIMIT_NOFILE), ENOMEM
     */
    public void registerFiles(int... fds) throws ErrnoException {
        checkSubmit(ctx, "registerFiles()");
        resources.registerFiles(fds);
    }

    /**
     * Registers a table of {@code count} empty slots (IORING_REGISTER_FILES2 with
     * IORING_RSRC_REGISTER_SPARSE, 5.19+; before that a table of -1 entries), to be filled with
     * {@link #updateFiles}.
     *
     * @param count the number of slots, {@code >= 1}
     * @throws ErrnoException if the kernel refuses (EMFILE above RLIMIT_NOFILE, ENOMEM)
     */
    public void registerFilesSparse(int count) throws ErrnoException {
        checkSubmit(ctx, "registerFilesSparse()");
        resources.registerFilesSparse(count);
    }

    /**
     * Replaces slots {@code first .. first + fds.length - 1} (IORING_REGISTER_FILES_UPDATE): an
     * fd installs that file, -1 empties the slot. Requests in flight keep the file they started
     * with.
     *
     * @param first the first slot to replace
     * @param fds the new entries, -1 to empty a slot
     * @throws IllegalStateException if no files are registered
     * @throws IllegalArgumentException for slots outside the table or an fd below -1
     * @throws ErrnoException if the kernel refuses an entry (EBADF); the entries before it are
     *     updated
     */
    public void updateFiles(int first, int... fds) throws ErrnoException {
        checkSubmit(ctx, "updateFiles()");
        resources.updateFiles(first, fds);
    }

    /**
     * Drops the file table (IORING_UNREGISTER_FILES).
     *
     * @throws IllegalStateException if none is registered
     * @throws ErrnoException if the kernel refuses to drop the table
     */
    public void unregisterFiles() throws ErrnoException {
        checkSubmit(ctx, "unregisterFiles()");
        resources.unregisterFiles();
    }

    /**
     * Slots in the registered file table; 0 when none is registered.
     *
     * @return the number of slots, or 0
     */
    public int registeredFileCount() {
        checkSubmit(ctx, "registeredFileCount()");
        return resources.fileCount();
    }

    /**
     * The slot whose registered fd is {@code fd} (as registered or updated through this API), or -1.
     *
     * @param fd the descriptor to look for
     * @return its slot, or -1
     */
    public int registeredFileIndexOf(int fd) {
        checkSubmit(ctx, "registeredFileIndexOf()");
        return resources.fileIndexOf(fd);
    }

    // ---- registered buffers ----

    /**
     * Registers {@code buffers} (IORING_REGISTER_BUFFERS): buffer {@code i} is buf_index
     * {@code i} of {@link #readFixed} and {@link #writeFixed}. The kernel pins their pages. Each
     * must be native, writable, 1 byte to 1 GiB; at most 16384 buffers. The segments must stay
     * alive until {@link #unregisterBuffers()} or the context's close (see the class comment).
     *
     * @param buffers native, writable segments
     * @throws IllegalStateException if buffers are already registered
     * @throws ErrnoException if the kernel refuses: ENOMEM (RLIMIT_MEMLOCK without
     *     CAP_IPC_LOCK), EFAULT
     */
    public void registerBuffers(MemorySegment... buffers) throws ErrnoException {
        checkSubmit(ctx, "registerBuffers()");
        resources.registerBuffers(buffers);
    }

    /**
     * Unpins the registered buffers (IORING_UNREGISTER_BUFFERS).
     *
     * @throws IllegalStateException if none are registered
     * @throws ErrnoException if the kernel refuses to unpin them
     */
    public void unregisterBuffers() throws ErrnoException {
        checkSubmit(ctx, "unregisterBuffers()");
        resources.unregisterBuffers();
    }

    /** {@return how many buffers are registered; 0 when none} */
    public int registeredBufferCount() {
        checkSubmit(ctx, "registeredBufferCount()");
        return resources.bufferCount();
    }

    /**
     * The buf_index of the registered buffer that contains all of {@code buf}, or -1.
     *
     * @param buf a native segment
     * @return the buffer index, or -1 when no registered buffer contains it
     */
    public int registeredBufferIndexOf(MemorySegment buf) {
        checkSubmit(ctx, "registeredBufferIndexOf()");
        return resources.bufferIndexOf(buf);
    }

    // ---- operations on registered files and buffers ----

    /**
     * {@link #read} on registered file slot {@code fileIndex} (IOSQE_FIXED_FILE).
     *
     * @param fileIndex the registered file slot, {@code 0 <= fileIndex < registeredFileCount()}
     * @param buf native memory the kernel reads or writes, alive until the completion
     * @param offset the file offset in bytes, {@code >= 0}
     * @param h receives the completion on the home thread; it must not be in flight already
     */
    public void readFixedFile(int fileIndex, MemorySegment buf, long offset, CqeHandler h) {
        int len = u32Length(buf);
        requireNonNegative("offset", offset);
        resources.checkFileIndex(fileIndex);
        fixedRw(h, Uring.OP_READ, fileIndex, Uring.IOSQE_FIXED_FILE, buf.address(), len, offset, 0);
    }

    /**
     * {@link #write} on registered file slot {@code fileIndex} (IOSQE_FIXED_FILE).
     *
     * @param fileIndex the registered file slot, {@code 0 <= fileIndex < registeredFileCount()}
     * @param buf native memory the kernel reads or writes, alive until the completion
     * @param offset the file offset in bytes, {@code >= 0}
     * @param h receives the completion on the home thread; it must not be in flight already
     */
    public void writeFixedFile(int fileIndex, MemorySegment buf, long offset, CqeHandler h) {
        int len = u32Length(buf);
        requireNonNegative("offset", offset);
        resources.checkFileIndex(fileIndex);
        fixedRw(h, Uring.OP_WRITE, fileIndex, Uring.IOSQE_FIXED_FILE, buf.address(), len, offset, 0);
    }

    /**
     * IORING_OP_READ_FIXED: pread on {@code fd} into {@code buf}, which must lie inside
     * registered buffer {@code bufIndex} (a slice of it); res = bytes read.
     *
     * @param fd the file or socket descriptor the request works on
     * @param buf native memory the kernel reads or writes, alive until the completion
     * @param bufIndex the registered buffer {@code buf} lies in ({@link #registeredBufferIndexOf})
     * @param offset the file offset in bytes, {@code >= 0}
     * @param h receives the completion on the home thread; it must not be in flight already
     */
    public void readFixed(int fd, MemorySegment buf, int bufIndex, long offset, CqeHandler h) {
        int len = u32Length(buf);
        requireNonNegative("offset", offset);
        requireWritable(buf);
        resources.checkBuffer(bufIndex, buf);
        fixedRw(h, Uring.OP_READ_FIXED, fd, 0, buf.address(), len, offset, bufIndex);
    }

    /**
     * IORING_OP_WRITE_FIXED: pwrite of {@code buf}, a slice of registered buffer {@code bufIndex}.
     *
     * @param fd the file or socket descriptor the request works on
     * @param buf native memory the kernel reads or writes, alive until the completion
     * @param bufIndex the registered buffer {@code buf} lies in ({@link #registeredBufferIndexOf})
     * @param offset the file offset in bytes, {@code >= 0}
     * @param h receives the completion on the home thread; it must not be in flight already
     */
    public void writeFixed(int fd, MemorySegment buf, int bufIndex, long offset, CqeHandler h) {
        int len = u32Length(buf);
        requireNonNegative("offset", offset);
        resources.checkBuffer(bufIndex, buf);
        fixedRw(h, Uring.OP_WRITE_FIXED, fd, 0, buf.address(), len, offset, bufIndex);
    }

    /**
     * {@link #readFixed} on registered file slot {@code fileIndex}: both fixed.
     *
     * @param fileIndex the registered file slot, {@code 0 <= fileIndex < registeredFileCount()}
     * @param buf native memory the kernel reads or writes, alive until the completion
     * @param bufIndex the registered buffer {@code buf} lies in ({@link #registeredBufferIndexOf})
     * @param offset the file offset in bytes, {@code >= 0}
     * @param h receives the completion on the home thread; it must not be in flight already
     */
    public void readFixedFileAndBuffer(int fileIndex, MemorySegment buf, int bufIndex, long offset, CqeHandler h) {
        int len = u32Length(buf);
        requireNonNegative("offset", offset);
        requireWritable(buf);
        resources.checkFileIndex(fileIndex);
        resources.checkBuffer(bufIndex, buf);
        fixedRw(h, Uring.OP_READ_FIXED, fileIndex, Uring.IOSQE_FIXED_FILE, buf.address(), len, offset, bufIndex);
    }

    /**
     * {@link #writeFixed} on registered file slot {@code fileIndex}: both fixed.
     *
     * @param fileIndex the registered file slot, {@code 0 <= fileIndex < registeredFileCount()}
     * @param buf native memory the kernel reads or writes, alive until the completion
     * @param bufIndex the registered buffer {@code buf} lies in ({@link #registeredBufferIndexOf})
     * @param offset the file offset in bytes, {@code >= 0}
     * @param h receives the completion on the home thread; it must not be in flight already
     */
    public void writeFixedFileAndBuffer(int fileIndex, MemorySegment buf, int bufIndex, long offset, CqeHandler h) {
        int len = u32Length(buf);
        requireNonNegative("offset", offset);
        resources.checkFileIndex(fileIndex);
        resources.checkBuffer(bufIndex, buf);
        fixedRw(h, Uring.OP_WRITE_FIXED, fileIndex, Uring.IOSQE_FIXED_FILE, buf.address(), len, offset, bufIndex);
    }

    private void fixedRw(CqeHandler h, int op, int fd, int sqeFlags, long addr, int len, long off, int bufIndex) {
        submit(h, headWord(op, sqeFlags, 0, fd), off, addr, lenWord(len, 0), bufIndex & 0xffffL);
    }

    private static void requireWritable(MemorySegment buf) {
        if (buf.isReadOnly()) {
            throw new IllegalArgumentException("buffer " + buf + " is read-only (expected writable memory to read into)");
        }
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
