// SPDX-License-Identifier: Apache-2.0
package io.jaio.block;

import java.lang.foreign.MemorySegment;
import java.util.Objects;

import io.jaio.AioContext;
import io.jaio.internal.loop.ContextCore;

import io.jaio.internal.sys.Errno;
import io.jaio.internal.sys.Syscalls;
import io.jaio.internal.uring.Uring;
import io.jaio.internal.uring.UringResources;
import io.jaio.uring.CqeHandler;
import io.jaio.uring.IoUring;
import io.jaio.uring.Sqe;
import io.jaio.uring.SqePreparer;

/**
 * The io_uring {@link FileIoEngine} (QEMU {@code block/io_uring.c}): each operation is one request
 * object, a {@link CqeHandler} that submits itself on the context's ring with
 * {@link io.jaio.uring.IoUring#addSqe} and resubmits itself from its completion until the operation is done.
 *
 * <p>Implementation notes.
 * <ul>
 * <li>Request objects are pooled in an intrusive free list owned by the engine, which grows when
 *     it is empty; a request goes back to the list just before its {@link Completion} is called,
 *     so a completion that starts the next operation reuses it. In steady state read and write
 *     allocate nothing: the request is its own {@link SqePreparer}, and entries address the
 *     buffer as {@code address + done}, without slicing.</li>
 * <li>Continuations, as luring_cqe_handler: -EINTR and -EAGAIN resubmit the same step; a short
 *     read or write continues at {@code offset + done}; a read that reaches end of file (res 0)
 *     zero-fills the rest and succeeds; a write that makes no progress (res 0) fails with
 *     -ENOSPC. One step moves at most {@link #MAX_RW_BYTES} (the kernel's MAX_RW_COUNT).</li>
 * <li>writeZeroes tries fallocate (ZERO_RANGE, or PUNCH_HOLE|KEEP_SIZE with mayUnmap); when the
 *     file system answers -EOPNOTSUPP it writes zeroes from one shared, read-only zeroed buffer
 *     in chunks of {@link #ZERO_CHUNK_BYTES}.</li>
 * <li>Exactly one completion per operation: every path out of {@link Request#onCompletion} ends
 *     in {@code finish} or a resubmission; a resubmission that the context refuses finishes the
 *     operation with -EBUSY. Zero-length operations still go through the ring (as a NOP) so the
 *     completion is never synchronous.</li>
 * <li>A context closed with operations in flight drops them: their completions are never called
 *     and their request objects are not returned to the pool (the engine dies with its context).</li>
 * <li>Registered buffers: when the caller's buffer lies inside a buffer registered with
 *     {@link IoUring#registerBuffers} (and still alive), each step of a read or write is
 *     READ_FIXED / WRITE_FIXED with that buf_index, which saves pinning the user pages per
 *     request (what pays off with O_DIRECT). The lookup is made again at every step, so a
 *     buffer unregistered in the middle of an operation only sends the next step the plain way.
 *     Registered files are not used: the engine is given fds, and an fd number can be closed and
 *     reused for another file while a table slot still holds the old one.</li>
 * </ul>
 *
 * <p>Threading: home thread of the context only (enforced by {@link io.jaio.uring.IoUring#addSqe}).
 */
final class UringFileIoEngine implements FileIoEngine {
    /** The most one read or write system call transfers (Linux MAX_RW_COUNT: INT_MAX &amp; PAGE_MASK). */
    static final int MAX_RW_BYTES = 0x7ffff000;
    /** Size and alignment of the shared zero buffer used when fallocate cannot zero a range. */
    static final int ZERO_CHUNK_BYTES = BlockingFileOps.ZERO_CHUNK;
    /** Requests made when the engine is created; more are made on demand. */
    private static final int INITIAL_POOL = 16;

    // Request.kind
    private static final int READ = 0;
    private static final int WRITE = 1;
    private static final int FLUSH = 2;
    private static final int FALLOCATE = 3;
    /** writeZeroes after fallocate said EOPNOTSUPP: writes from the zero buffer. */
    private static final int WRITE_ZEROES = 4;

    private final AioContext ctx;
    /** The context's submission API. */
    private final IoUring uring;
    private final UringResources resources;
    /** Steps sent as READ_FIXED / WRITE_FIXED (a diagnostic for tests). */
    private long fixedBufferSteps;
    /** Head of the free list of requests, linked through {@link Request#nextFree}. */
    private Request free;
    private int created;

    UringFileIoEngine(AioContext ctx) {
        this.ctx = ctx;
        this.uring = IoUring.of(ctx);
        this.resources = ContextCore.of(ctx).uring().resources(ctx.name()); // the ring's, shared with IoUring
        for (int i = 0; i < INITIAL_POOL; i++) {
            release(new Request(this));
            created++;
        }
    }

    @Override
    public String name() {
        return "io_uring";
    }

    /** Read and write steps sent with a registered buffer (a diagnostic for tests). */
    long fixedBufferSteps() {
        return fixedBufferSteps;
    }

    /** Request objects made so far (a diagnostic for tests: it stops growing in steady state). */
    int requestsCreated() {
        return created;
    }

    @Override
    public void read(int fd, long offset, MemorySegment buf, Completion done) {
        checkRange(offset, checkBuffer(buf));
        start(READ, fd, offset, buf, buf.byteSize(), 0, done);
    }

    @Override
    public void write(int fd, long offset, MemorySegment buf, boolean fua, Completion done) {
        checkRange(offset, checkBuffer(buf));
        start(WRITE, fd, offset, buf, buf.byteSize(), fua ? Syscalls.RWF_DSYNC : 0, done);
    }

    @Override
    public void flush(int fd, Completion done) {
        start(FLUSH, fd, 0, null, 0, 0, done);
    }

    @Override
    public void discard(int fd, long offset, long length, Completion done) {
        checkRange(offset, length);
        start(FALLOCATE, fd, offset, null, length, Syscalls.FALLOC_FL_PUNCH_HOLE | Syscalls.FALLOC_FL_KEEP_SIZE, done);
    }

    @Override
    public void writeZeroes(int fd, long offset, long length, boolean mayUnmap, Completion done) {
        checkRange(offset, length);
        int mode = mayUnmap ? Syscalls.FALLOC_FL_PUNCH_HOLE | Syscalls.FALLOC_FL_KEEP_SIZE : Syscalls.FALLOC_FL_ZERO_RANGE;
        Request r = start(FALLOCATE, fd, offset, null, length, mode, done);
        if (r != null) {
            r.zeroFallback = true;
        }
    }

    private static long checkBuffer(MemorySegment buf) {
        Objects.requireNonNull(buf, "buf");
        if (!buf.isNative()) {
            throw new IllegalArgumentException("buf " + buf + " is on the heap (expected native memory: the kernel "
                    + "writes to its address until the completion)");
        }
        return buf.byteSize();
    }

    private static void checkRange(long offset, long length) {
        if (offset < 0) {
            throw new IllegalArgumentException("offset=" + offset + " (expected >= 0)");
        }
        if (length < 0) {
            throw new IllegalArgumentException("length=" + length + " (expected >= 0)");
        }
        if (length > Long.MAX_VALUE - offset) {
            throw new IllegalArgumentException("offset=" + offset + " + length=" + length
                    + " overflows (expected offset + length <= " + Long.MAX_VALUE + ")");
        }
    }

    /** Takes a request, fills it and submits its first step; returns it (only for writeZeroes' flag). */
    private Request start(int kind, int fd, long offset, MemorySegment buf, long length, int mode, Completion done) {
        Objects.requireNonNull(done, "done");
        Request r = acquire();
        r.kind = kind;
        r.fd = fd;
        r.offset = offset;
        r.buf = buf;
        r.length = length;
        r.done = 0;
        r.mode = mode;
        r.zeroFallback = false;
        r.completion = done;
        try {
            uring.addSqe(r, r);
        } catch (RuntimeException e) {
            r.clear();
            release(r); // never submitted: nothing will complete it
            throw e;
        }
        return r;
    }

    private Request acquire() {
        Request r = free;
        if (r == null) {
            created++;
            return new Request(this);
        }
        free = r.nextFree;
        r.nextFree = null;
        return r;
    }

    private void release(Request r) {
        r.nextFree = free;
        free = r;
    }

    /**
     * One operation in flight: its own CQE handler and SQE preparer. Home thread only; owned by
     * the engine's free list while idle.
     */
    private static final class Request extends CqeHandler implements SqePreparer {
        private final UringFileIoEngine engine;
        Request nextFree;
        int kind;
        int fd;
        /** Where the operation starts; the next step runs at {@code offset + done}. */
        long offset;
        /** The caller's buffer (READ, WRITE), else null. */
        MemorySegment buf;
        long length;
        /** Bytes transferred so far (READ, WRITE, WRITE_ZEROES). */
        long done;
        /** RWF_* flags (WRITE) or the fallocate mode (FALLOCATE). */
        int mode;
        /** A FALLOCATE of writeZeroes: on EOPNOTSUPP, turn into WRITE_ZEROES. */
        boolean zeroFallback;
        Completion completion;

        Request(UringFileIoEngine engine) {
            this.engine = engine;
        }

        @Override
        public void prepare(Sqe sqe) {
            long left = length - done;
            switch (kind) {
                case READ, WRITE -> {
                    if (left == 0) {
                        sqe.opcode(Uring.OP_NOP); // empty buffer: complete through the ring all the same
                        return;
                    }
                    sqe.fd(fd).addr(buf.address() + done).len((int) Math.min(left, MAX_RW_BYTES))
                            .off(offset + done).opFlags(mode);
                    int bufIndex = engine.resources.liveBufferIndexOf(buf);
                    if (bufIndex >= 0) {
                        sqe.opcode(kind == READ ? Uring.OP_READ_FIXED : Uring.OP_WRITE_FIXED).bufIndex(bufIndex);
                        engine.fixedBufferSteps++;
                    } else {
                        sqe.opcode(kind == READ ? Uring.OP_READ : Uring.OP_WRITE);
                    }
                }
                case WRITE_ZEROES -> sqe.opcode(Uring.OP_WRITE).fd(fd).addr(BlockingFileOps.zeroBuffer().address())
                        .len((int) Math.min(left, ZERO_CHUNK_BYTES)).off(offset + done);
                case FLUSH -> sqe.opcode(Uring.OP_FSYNC).fd(fd).opFlags(Uring.FSYNC_DATASYNC);
                case FALLOCATE -> {
                    if (length == 0) {
                        sqe.opcode(Uring.OP_NOP); // fallocate(len 0) is EINVAL; an empty range is done
                        return;
                    }
                    // IORING_OP_FALLOCATE: addr = length, len = mode, off = offset (io_uring/sync.c)
                    sqe.opcode(Uring.OP_FALLOCATE).fd(fd).addr(length).len(mode).off(offset);
                }
                default -> throw new IllegalStateException("request kind=" + kind + " (expected 0.." + WRITE_ZEROES + ")");
            }
        }

        @Override
        protected void onCompletion(int res, int flags) {
            if (res == -Errno.EINTR || res == -Errno.EAGAIN) {
                resubmit();
                return;
            }
            switch (kind) {
                case READ -> onTransfer(res, true);
                case WRITE, WRITE_ZEROES -> onTransfer(res, false);
                case FALLOCATE -> {
                    if (res == -Errno.EOPNOTSUPP && zeroFallback) {
                        kind = WRITE_ZEROES; // the file system cannot zero a range: write zeroes
                        done = 0;
                        resubmit();
                    } else {
                        finish(res);
                    }
                }
                default -> finish(res);
            }
        }

        private void onTransfer(int res, boolean read) {
            if (res < 0) {
                finish(res);
                return;
            }
            if (length == done) {
                finish(0); // the NOP of an empty buffer
                return;
            }
            if (res == 0) {
                if (!read) {
                    finish(-Errno.ENOSPC); // no progress: QEMU luring_cqe_handler's short write
                    return;
                }
                buf.asSlice(done).fill((byte) 0); // end of file: the rest reads as zeroes
                done = length;
            } else {
                done += res;
            }
            if (done < length) {
                resubmit();
            } else {
                finish(kind == WRITE_ZEROES ? 0 : length);
            }
        }

        private void resubmit() {
            try {
                engine.uring.addSqe(this, this);
            } catch (IllegalStateException e) {
                finish(-Errno.EBUSY); // the submission queue stays full: fail this operation only
            }
        }

        private void finish(long result) {
            Completion c = completion;
            clear();
            engine.release(this); // before the call: a completion that starts another operation reuses it
            c.complete(result);
        }

        void clear() {
            buf = null;
            completion = null;
        }

        @Override
        public String toString() {
            return "UringFileIoEngine.Request[kind=" + kind + ", fd=" + fd + ", offset=" + offset + ", done=" + done
                    + "/" + length + "]";
        }
    }
}
