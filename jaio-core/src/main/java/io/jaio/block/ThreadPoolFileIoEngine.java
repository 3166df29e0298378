// SPDX-License-Identifier: Apache-2.0
package io.jaio.block;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import io.jaio.AioContext;
import io.jaio.internal.sys.Errno;
import io.jaio.internal.sys.Syscalls;

/**
 * The thread-pool {@link FileIoEngine}: each operation is a {@link ThreadPoolTask} that makes
 * positional system calls (pread, pwrite/pwritev2, fdatasync, fallocate) through FFM on a worker
 * of the context's pool; the completion comes back through the pool's bottom half. Tasks are
 * pooled per engine, so steady-state reads and writes allocate nothing.
 *
 * <p>Threading: home thread; {@code Op.run} on workers (each worker call uses its own errno
 * segment, looked up once per task).
 */
final class ThreadPoolFileIoEngine implements FileIoEngine {
    private static final int READ = 0;
    private static final int WRITE = 1;
    private static final int FLUSH = 2;
    private static final int DISCARD = 3;
    private static final int ZEROES = 4;
    /** Zeroes written per call when the file system cannot zero a range itself. */

    private final AioContext ctx;
    private final ThreadPool pool;
    private Op free;

    ThreadPoolFileIoEngine(AioContext ctx) {
        this.ctx = ctx;
        this.pool = ThreadPool.of(ctx);
    }

    @Override
    public String name() {
        return "threads";
    }

    private final class Op extends ThreadPoolTask {
        int kind;
        int fd;
        long offset;
        long length;
        /** The caller's buffer, for the home thread (the completion clears it). */
        MemorySegment buf;
        /** Its address: workers may not touch a confined segment, so they rebuild a view from this. */
        long address;
        boolean flag;
        Completion done;
        Op nextFree;

        @Override
        protected long run() {
            if (length == 0 && kind != FLUSH) {
                return 0; // nothing to transfer or deallocate (fallocate would say EINVAL)
            }
            MemorySegment ccs = Syscalls.threadErrnoSegment();
            return switch (kind) {
                case READ -> readFully(ccs);
                case WRITE -> writeFully(ccs);
                case FLUSH -> Syscalls.fdatasync(ccs, fd);
                case DISCARD -> Syscalls.fallocate(ccs, fd, Syscalls.FALLOC_FL_PUNCH_HOLE | Syscalls.FALLOC_FL_KEEP_SIZE, offset, length);
                default -> BlockingFileOps.writeZeroes(ccs, fd, offset, length, flag);
            };
        }

        /**
         * A view of the caller's buffer usable on this worker. The caller keeps the memory alive
         * until the completion (the engine contract), whatever arena it came from.
         */
        @SuppressWarnings("restricted")
        private MemorySegment workerView() {
            return MemorySegment.ofAddress(address).reinterpret(length);
        }

        private long writeFully(MemorySegment ccs) {
            if (!flag) {
                return BlockingFileOps.writeFully(ccs, null, fd, address, length, offset, false);
            }
            try (Arena a = Arena.ofConfined()) { // the iovec of pwritev2(RWF_DSYNC), on this worker
                return BlockingFileOps.writeFully(ccs, a.allocate(16, 8), fd, address, length, offset, true);
            }
        }

        private long readFully(MemorySegment ccs) {
            MemorySegment buf = workerView();
            long n = length;
            long done = 0;
            while (done < n) {
                long r = Syscalls.pread(ccs, fd, buf.asSlice(done), n - done, offset + done);
                if (r == -Errno.EINTR || r == -Errno.EAGAIN) {
                    continue;
                }
                if (r < 0) {
                    return r;
                }
                if (r == 0) {
                    buf.asSlice(done).fill((byte) 0); // past the end of the file: reads as zeroes
                    break;
                }
                done += r;
            }
            return n;
        }

        @Override
        protected void complete(long ret) {
            Completion c = done;
            done = null;
            buf = null;
            c.complete(ret);
        }

        @Override
        protected void onReleased() {
            nextFree = free;
            free = this;
        }
    }

    private Op op(int kind, int fd, long offset, long length, MemorySegment buf, boolean flag, Completion done) {
        if (done == null) {
            throw new IllegalArgumentException("done=null (expected a completion)");
        }
        Op o = free;
        if (o != null) {
            free = o.nextFree;
            o.nextFree = null;
        } else {
            o = new Op();
        }
        o.kind = kind;
        o.fd = fd;
        o.offset = offset;
        o.length = length;
        o.buf = buf;
        o.address = buf == null ? 0 : buf.address();
        o.flag = flag;
        o.done = done;
        return o;
    }

    @Override
    public void read(int fd, long offset, MemorySegment buf, Completion done) {
        FileIoChecks.range(offset, FileIoChecks.buffer(buf));
        pool.submit(op(READ, fd, offset, buf.byteSize(), buf, false, done));
    }

    @Override
    public void write(int fd, long offset, MemorySegment buf, boolean fua, Completion done) {
        FileIoChecks.range(offset, FileIoChecks.buffer(buf));
        pool.submit(op(WRITE, fd, offset, buf.byteSize(), buf, fua, done));
    }

    @Override
    public void flush(int fd, Completion done) {
        pool.submit(op(FLUSH, fd, 0, 0, null, false, done));
    }

    @Override
    public void discard(int fd, long offset, long length, Completion done) {
        FileIoChecks.range(offset, length);
        pool.submit(op(DISCARD, fd, offset, length, null, false, done));
    }

    @Override
    public void writeZeroes(int fd, long offset, long length, boolean mayUnmap, Completion done) {
        FileIoChecks.range(offset, length);
        pool.submit(op(ZEROES, fd, offset, length, null, mayUnmap, done));
    }

    @Override
    public String toString() {
        return "ThreadPoolFileIoEngine[" + ctx.name() + "]";
    }
}
