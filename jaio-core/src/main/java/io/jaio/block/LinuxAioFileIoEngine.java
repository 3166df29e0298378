// SPDX-License-Identifier: Apache-2.0
package io.jaio.block;

import java.lang.foreign.MemorySegment;
import java.util.Objects;

import io.jaio.AioContext;
import io.jaio.internal.aio.LinuxAioAbi;
import io.jaio.internal.loop.ContextCore;
import io.jaio.internal.sys.Errno;
import io.jaio.internal.sys.Syscalls;

/**
 * The Linux AIO {@link FileIoEngine} (QEMU {@code aio=native}, {@code block/linux-aio.c}): reads
 * and writes are iocbs on the context's {@link LinuxAio} state, batched per loop iteration and
 * completed from its eventfd. For O_DIRECT files only: on a buffered file the kernel does the
 * I/O inside io_submit, blocking the loop, so read and write refuse an fd without O_DIRECT.
 *
 * <p>Implementation notes.
 * <ul>
 * <li>Request objects are pooled in an intrusive free list; each owns an iocb in the state's
 *     arena. A request goes back to the list just before its {@link Completion} is called, so a
 *     completion that starts the next operation reuses it; steady-state reads and writes
 *     allocate nothing.</li>
 * <li>Continuations, like the io_uring engine: a short read or write is queued again for the
 *     rest at {@code offset + done}; a read that reaches end of file (res 0) zero-fills the rest
 *     and succeeds; a write that makes no progress fails with -ENOSPC; -EINTR and -EAGAIN queue
 *     the same step again. One step moves at most {@link UringFileIoEngine#MAX_RW_BYTES}.</li>
 * <li>FUA is {@code aio_rw_flags = RWF_DSYNC} (Linux 4.13+), as QEMU's io_prep_pwritev2.</li>
 * <li>Flush is {@code IOCB_CMD_FDSYNC} (Linux 4.18+). When io_submit refuses it with EINVAL
 *     (an older kernel, or a file without fsync) that flush, and every later one of the context,
 *     runs fdatasync on the thread pool instead (QEMU checks with laio_has_fdsync at open).</li>
 * <li>Discard and write-zeroes have no AIO command: they run on the thread pool, as QEMU's
 *     file-posix does for aio=native too.</li>
 * <li>Zero-length reads and writes complete from the state's submit bottom half, never inside
 *     the call.</li>
 * </ul>
 *
 * <p>Threading: home thread of the context only.
 */
final class LinuxAioFileIoEngine implements FileIoEngine {
    /** Requests made when the engine is created; more are made on demand. */
    private static final int INITIAL_POOL = 16;
    private static final int READ = 0;
    private static final int WRITE = 1;
    private static final int FDSYNC = 2;

    private final AioContext ctx;
    private final LinuxAio aio;
    /** Discard, write-zeroes, and flush where the kernel refuses IOCB_CMD_FDSYNC. */
    private final ThreadPoolFileIoEngine pool;
    private Request free;

    LinuxAioFileIoEngine(AioContext ctx, LinuxAio aio) {
        this.ctx = ctx;
        this.aio = aio;
        this.pool = new ThreadPoolFileIoEngine(ctx);
        for (int i = 0; i < INITIAL_POOL; i++) {
            release(new Request());
        }
    }

    @Override
    public String name() {
        return "linux-aio";
    }

    /** The context's Linux AIO state (a diagnostic for tests). */
    LinuxAio state() {
        return aio;
    }

    @Override
    public void read(int fd, long offset, MemorySegment buf, Completion done) {
        FileIoChecks.range(offset, FileIoChecks.buffer(buf));
        start(READ, fd, offset, buf, 0, done);
    }

    @Override
    public void write(int fd, long offset, MemorySegment buf, boolean fua, Completion done) {
        FileIoChecks.range(offset, FileIoChecks.buffer(buf));
        start(WRITE, fd, offset, buf, fua ? Syscalls.RWF_DSYNC : 0, done);
    }

    @Override
    public void flush(int fd, Completion done) {
        if (aio.fdsyncRefused) {
            pool.flush(fd, done);
            return;
        }
        start(FDSYNC, fd, 0, null, 0, done);
    }

    @Override
    public void discard(int fd, long offset, long length, Completion done) {
        pool.discard(fd, offset, length, done);
    }

    @Override
    public void writeZeroes(int fd, long offset, long length, boolean mayUnmap, Completion done) {
        pool.writeZeroes(fd, offset, length, mayUnmap, done);
    }

    private void start(int kind, int fd, long offset, MemorySegment buf, int rwFlags, Completion done) {
        Objects.requireNonNull(done, "done");
        ContextCore.checkHome(ctx, "LinuxAioFileIoEngine");
        ContextCore.checkOpen(ctx);
        if (kind != FDSYNC) {
            aio.directFds.check(fd);
        }
        Request r = acquire();
        r.kind = kind;
        r.fd = fd;
        r.offset = offset;
        r.buf = buf;
        r.length = buf == null ? 0 : buf.byteSize();
        r.done = 0;
        r.rwFlags = rwFlags;
        r.completion = done;
        try {
            if (kind != FDSYNC && r.length == 0) {
                aio.completeLater(r);
            } else {
                aio.enqueue(r);
            }
        } catch (RuntimeException e) {
            r.clear();
            release(r); // never queued: nothing will complete it
            throw e;
        }
    }

    private Request acquire() {
        Request r = free;
        if (r == null) {
            return new Request();
        }
        free = r.nextFree;
        r.nextFree = null;
        return r;
    }

    private void release(Request r) {
        r.nextFree = free;
        free = r;
    }

    /** One operation in flight. Home thread only; owned by the engine's free list while idle. */
    private final class Request extends LinuxAio.Op {
        Request nextFree;
        int kind;
        int fd;
        /** Where the operation starts; the next step runs at {@code offset + done}. */
        long offset;
        MemorySegment buf;
        long length;
        long done;
        int rwFlags;
        Completion completion;

        Request() {
            super(aio);
        }

        @Override
        void prepare() {
            if (kind == FDSYNC) {
                LinuxAioAbi.prepare(iocb, id, LinuxAioAbi.IOCB_CMD_FDSYNC, fd, 0, 0, 0, 0, aio.eventFd);
                return;
            }
            long step = Math.min(length - done, UringFileIoEngine.MAX_RW_BYTES);
            LinuxAioAbi.prepare(iocb, id, kind == READ ? LinuxAioAbi.IOCB_CMD_PREAD : LinuxAioAbi.IOCB_CMD_PWRITE, fd,
                    buf.address() + done, step, offset + done, rwFlags, aio.eventFd);
        }

        @Override
        void onSubmitError(int errno) {
            if (kind == FDSYNC && errno == Errno.EINVAL) {
                aio.fdsyncRefused = true; // no IOCB_CMD_FDSYNC here: fdatasync on the thread pool from now on
                Completion c = completion;
                int f = fd;
                clear();
                release(this);
                pool.flush(f, c);
                return;
            }
            finish(-errno);
        }

        @Override
        void onEvent(long res) {
            if (res == -Errno.EINTR || res == -Errno.EAGAIN) {
                aio.enqueue(this);
                return;
            }
            if (kind == FDSYNC || res < 0) {
                finish(Math.min(res, 0));
                return;
            }
            if (res == 0) {
                if (kind == WRITE) {
                    finish(-Errno.ENOSPC); // no progress: QEMU's short write
                    return;
                }
                buf.asSlice(done).fill((byte) 0); // end of file: the rest reads as zeroes
                done = length;
            } else {
                done += res;
            }
            if (done < length) {
                aio.enqueue(this); // a short transfer: the rest, at offset + done
            } else {
                finish(length);
            }
        }

        @Override
        void onReady() {
            finish(0);
        }

        private void finish(long result) {
            Completion c = completion;
            clear();
            release(this); // before the call: a completion that starts another operation reuses it
            c.complete(result);
        }

        void clear() {
            buf = null;
            completion = null;
        }

        @Override
        public String toString() {
            return "LinuxAioFileIoEngine.Request[kind=" + kind + ", fd=" + fd + ", offset=" + offset + ", done=" + done
                    + "/" + length + "]";
        }
    }

    @Override
    public String toString() {
        return "LinuxAioFileIoEngine[" + ctx.name() + ", " + aio + "]";
    }
}
