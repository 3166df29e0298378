// SPDX-License-Identifier: Apache-2.0
/**
 * The block-layer side (QEMU's {@code block/aio.h} and {@code util/thread-pool.c}): the
 * per-context {@link io.jaio.block.ThreadPool} and its tasks, the control block
 * {@link io.jaio.block.Aiocb}, and the {@link io.jaio.block.FileIoEngine}s (io_uring, Linux AIO,
 * thread pool, and write-threads: reads on io_uring, page-cache writes on dedicated writer
 * threads) made by {@link io.jaio.block.FileIoEngines}.
 *
 * <p>Threading: submissions and completions on the home thread of the context; work runs on
 * pool workers and writer threads.
 *
 * <p>Builds on: {@code io.jaio} (the loop) and {@code io.jaio.uring} (the io_uring engine). Keeps
 * the thread pool in the context's {@code THREAD_POOL} extension slot, the Linux AIO state in
 * {@code LINUX_AIO} and the writer threads in {@code WRITER_POOL}, all closed by the context. The Linux AIO bindings are
 * {@code io.jaio.internal.aio}.
 *
 * <p>Errors follow the rule written in {@link io.jaio}'s package documentation: setting up
 * with the kernel throws {@link io.jaio.ErrnoException}, the data path delivers {@code -errno},
 * misuse is unchecked.
 */
package io.jaio.block;
