// SPDX-License-Identifier: Apache-2.0
package io.jaio.block;

import java.lang.foreign.MemorySegment;

import io.jaio.AioContext;
import io.jaio.internal.sys.Syscalls;

/**
 * The {@code write-threads} {@link FileIoEngine}: reads and flushes go to another engine
 * (io_uring where the context has it, else the thread pool), while writes, write-zeroes and
 * discards run as plain positional system calls on the context's {@link WriterPool}. Buffered
 * (page-cache) writes through io_uring are punted to the kernel's io-wq workers, which on ext4
 * serialise writes to one file; a plain pwrite on a dedicated thread copies into the page cache
 * and returns.
 *
 * <p>Durability is that of the other engines: a FUA write is {@code pwritev2(RWF_DSYNC)} on the
 * writer; a flush is fdatasync through the read engine, and covers every write that completed
 * before it started, since a completed write's pwrite has returned (its data is in the page cache).
 *
 * <p>Operations are pooled per engine (an intrusive free list that grows on demand); the writer
 * addresses the caller's buffer by its raw address ({@link Syscalls#pwriteAt}), so steady-state
 * writes allocate nothing on either thread.
 *
 * <p>Threading: home thread of the engine's context; {@code Op.run} on writer threads.
 */
final class WriteThreadsFileIoEngine implements FileIoEngine {
    private static final int WRITE = 0;
    private static final int DISCARD = 1;
    private static final int ZEROES = 2;

    private final AioContext ctx;
    private final FileIoEngine reads;
    private final WriterPool pool;
    private Op free;
    private int created;

    WriteThreadsFileIoEngine(AioContext ctx, FileIoEngine reads, WriterPool pool) {
        this.ctx = ctx;
        this.reads = reads;
        this.pool = pool;
    }

    @Override
    public String name() {
        return "write-threads";
    }

    /** {@return the engine that runs reads and flushes} */
    FileIoEngine readEngine() {
        return reads;
    }

    /** {@return the number of writer threads} */
    int writers() {
        return pool.writerCount();
    }

    /** Operation objects made so far (a diagnostic for tests: it stops growing in steady state). */
    int opsCreated() {
        return created;
    }

    private final class Op extends WriterPool.Task {
        int kind;
        int fd;
        long offset;
        long length;
        /** The caller's buffer (home thread; cleared at completion). */
        MemorySegment buf;
        /** Its address, for the writer (which may not touch a confined segment). */
        long address;
        /** FUA (WRITE) or mayUnmap (ZEROES). */
        boolean flag;
        Completion done;
        Op nextFree;

        @Override
        long run(WriterPool.Writer w) {
            if (length == 0) {
                return 0; // nothing to transfer or deallocate (fallocate would say EINVAL)
            }
            return switch (kind) {
                case WRITE -> BlockingFileOps.writeFully(w.ccs, w.iov, fd, address, length, offset, flag);
                case DISCARD -> Syscalls.fallocate(w.ccs, fd, Syscalls.FALLOC_FL_PUNCH_HOLE | Syscalls.FALLOC_FL_KEEP_SIZE,
                        offset, length);
                default -> BlockingFileOps.writeZeroes(w.ccs, fd, offset, length, flag);
            };
        }

        @Override
        void complete(long result) {
            Completion c = done;
            done = null;
            buf = null;
            nextFree = free; // before the call: a completion that starts another operation reuses it
            free = this;
            c.complete(result);
        }

        @Override
        public String toString() {
            return "WriteThreadsFileIoEngine.Op[kind=" + kind + ", fd=" + fd + ", offset=" + offset + ", length=" + length + "]";
        }
    }

    private void submit(int kind, int fd, long offset, long length, MemorySegment buf, boolean flag, Completion done) {
        if (done == null) {
            throw new IllegalArgumentException("done=null (expected a completion)");
        }
        Op o = free;
        if (o != null) {
            free = o.nextFree;
            o.nextFree = null;
        } else {
            o = new Op();
            created++;
        }
        o.kind = kind;
        o.fd = fd;
        o.offset = offset;
        o.length = length;
        o.buf = buf;
        o.address = buf == null ? 0 : buf.address();
        o.flag = flag;
        o.done = done;
        try {
            pool.submit(o);
        } catch (RuntimeException e) {
            o.done = null;
            o.buf = null;
            o.nextFree = free; // never queued: nothing will complete it
            free = o;
            throw e;
        }
    }

    @Override
    public void read(int fd, long offset, MemorySegment buf, Completion done) {
        reads.read(fd, offset, buf, done);
    }

    @Override
    public void write(int fd, long offset, MemorySegment buf, boolean fua, Completion done) {
        FileIoChecks.range(offset, FileIoChecks.buffer(buf));
        submit(WRITE, fd, offset, buf.byteSize(), buf, fua, done);
    }

    @Override
    public void flush(int fd, Completion done) {
        reads.flush(fd, done);
    }

    @Override
    public void discard(int fd, long offset, long length, Completion done) {
        FileIoChecks.range(offset, length);
        submit(DISCARD, fd, offset, length, null, false, done);
    }

    @Override
    public void writeZeroes(int fd, long offset, long length, boolean mayUnmap, Completion done) {
        FileIoChecks.range(offset, length);
        submit(ZEROES, fd, offset, length, null, mayUnmap, done);
    }

    @Override
    public String toString() {
        return "WriteThreadsFileIoEngine[" + ctx.name() + ", reads " + reads.name() + ", " + pool.writerCount() + " writer(s)]";
    }
}
