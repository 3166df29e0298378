// SPDX-License-Identifier: Apache-2.0
package io.jaio.block;

import io.jaio.AioContext;
import io.jaio.ErrnoException;
import io.jaio.internal.loop.ContextCore;

/**
 * Makes {@link FileIoEngine}s for a context: io_uring, Linux AIO, thread pool, and write-threads
 * (reads on io_uring, writes on dedicated writer threads). Home thread of that context.
 */
public final class FileIoEngines {
    private FileIoEngines() {
    }

    /**
     * The io_uring engine: each operation is one request on the context's ring.
     *
     * @param ctx a context that runs on io_uring
     * @return an engine bound to {@code ctx}
     * @throws IllegalStateException if the context does not run on io_uring
     */
    public static FileIoEngine ioUring(AioContext ctx) {
        ContextCore.checkHome(ctx, "FileIoEngines.ioUring()");
        ContextCore.checkOpen(ctx);
        if (!ctx.hasIoUring()) {
            throw new IllegalStateException("FileIoEngines.ioUring() on context '" + ctx.name() + "', which does not run on io_uring ("
                    + ctx.ioUringUnavailableReason() + "); check hasIoUring() first");
        }
        return new UringFileIoEngine(ctx);
    }

    /**
     * The thread-pool engine: positional system calls on the context's thread pool.
     *
     * @param ctx the context whose thread pool runs the calls
     * @return an engine bound to {@code ctx}
     */
    public static FileIoEngine threadPool(AioContext ctx) {
        return new ThreadPoolFileIoEngine(ctx);
    }

    /**
     * The Linux AIO engine (QEMU {@code aio=native}): reads and writes are iocbs on the
     * context's Linux AIO context ({@code io_setup} on first use, up to 128 requests in the
     * kernel, the rest queued), submitted in one {@code io_submit} per loop iteration and
     * completed through an eventfd; flush is {@code IOCB_CMD_FDSYNC} where the kernel has it, else
     * fdatasync on the thread pool; discard and write-zeroes run on the thread pool. For files
     * opened with O_DIRECT only: read and write refuse any other fd with
     * {@link IllegalArgumentException}, since Linux AIO does buffered I/O inside io_submit,
     * blocking the loop.
     *
     * @param ctx the context whose home thread submits and completes
     * @return an engine bound to {@code ctx}
     * @throws ErrnoException when the kernel has no Linux AIO ({@code io_setup}: ENOSYS) or the
     *     system-wide limit {@code /proc/sys/fs/aio-max-nr} is used up (EAGAIN)
     */
    public static FileIoEngine linuxAio(AioContext ctx) throws ErrnoException {
        return linuxAio(ctx, LinuxAio.DEFAULT_DEPTH);
    }

    /** {@link #linuxAio(AioContext)} with another queue depth, for tests (the first call of a context sets it). */
    static LinuxAioFileIoEngine linuxAio(AioContext ctx, int depth) throws ErrnoException {
        ContextCore.checkHome(ctx, "FileIoEngines.linuxAio()");
        ContextCore.checkOpen(ctx);
        return new LinuxAioFileIoEngine(ctx, LinuxAio.of(ctx, depth));
    }

    /**
     * The write-threads engine with {@link #defaultWriteThreads()} writers.
     *
     * @param ctx the context whose home thread submits and completes
     * @return an engine bound to {@code ctx}
     * @see #writeThreads(AioContext, int)
     */
    public static FileIoEngine writeThreads(AioContext ctx) {
        return writeThreads(ctx, defaultWriteThreads());
    }

    /**
     * The write-threads engine, for buffered (page-cache) files: reads and flushes go to the
     * io_uring engine (the thread-pool engine where the context has no io_uring); writes,
     * write-zeroes and discards are plain pwrite / fallocate calls on a few dedicated writer
     * threads of the context, which take them from a lock-free queue, park when idle (after a
     * spin only if the system property {@code jaio.writers.spinNs} asks for one), and hand
     * completions back in batches through one bottom half. A FUA write is
     * {@code pwritev2(RWF_DSYNC)}. Made for buffered 4 KiB random writes, which io_uring sends to
     * the kernel's io-wq workers one at a time per file on ext4; with O_DIRECT, io_uring's writes
     * are asynchronous already and this engine gains nothing.
     *
     * @param ctx the context whose home thread submits and completes
     * @param writers the number of writer threads, 1..64; the first call on a context sets the
     *     pool's size, later calls share that pool whatever they ask
     * @return an engine bound to {@code ctx}
     * @throws IllegalArgumentException if {@code writers} is out of range
     */
    public static FileIoEngine writeThreads(AioContext ctx, int writers) {
        WriterPool pool = WriterPool.of(ctx, writers);
        FileIoEngine reads = ctx.hasIoUring() ? new UringFileIoEngine(ctx) : new ThreadPoolFileIoEngine(ctx);
        return new WriteThreadsFileIoEngine(ctx, reads, pool);
    }

    /**
     * The default number of writer threads of {@link #writeThreads(AioContext)}: one per two
     * available processors, at least 1 and at most 4. Any thread.
     *
     * @return the default number of writer threads
     */
    public static int defaultWriteThreads() {
        return WriterPool.defaultWriters();
    }

    /**
     * io_uring where the context has it, else the thread pool.
     *
     * @param ctx the context the engine is bound to
     * @return the io_uring engine or the thread-pool engine
     */
    public static FileIoEngine best(AioContext ctx) {
        return ctx.hasIoUring() ? ioUring(ctx) : threadPool(ctx);
    }
}
