// SPDX-License-Identifier: Apache-2.0
/**
 * The io_uring submission API (QEMU aio_add_sqe): {@link io.jaio.uring.IoUring#of} gives a
 * context's API, {@link io.jaio.uring.IoUring#addSqe} submits an entry that a
 * {@link io.jaio.uring.SqePreparer} fills into an {@link io.jaio.uring.Sqe}, and a
 * {@link io.jaio.uring.CqeHandler} receives the completion; typed helpers, multishot requests
 * and registered (fixed) files and buffers live on {@code IoUring}.
 *
 * <p>Threading: home thread of the context only; completions arrive there in {@code poll()}.
 *
 * <p>Builds on: {@code io.jaio} (the loop) and its io_uring monitor and ring
 * ({@code io.jaio.internal.uring}). Keeps its per-context state in the context's
 * {@code IO_URING} extension slot.
 *
 * <p>Errors follow the rule written in {@link io.jaio}'s package documentation: setting up
 * with the kernel throws {@link io.jaio.ErrnoException}, the data path delivers {@code -errno},
 * misuse is unchecked.
 */
package io.jaio.uring;
