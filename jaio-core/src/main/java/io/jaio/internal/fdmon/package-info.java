// SPDX-License-Identifier: Apache-2.0
/**
 * The fd monitors (not exported): the {@code FdMonitor} interface (QEMU's {@code FDMonOps}) with
 * its poll(2) and epoll(7) backends, the handler table, adaptive userspace polling
 * ({@code PollSet}), ready lists, and the outer-loop wait set.
 *
 * <p>Threading: home thread of the context, except where a class says otherwise.
 *
 * <p>Builds on: {@code io.jaio.internal.sys} (and {@code io.jaio.ErrnoException}).
 */
package io.jaio.internal.fdmon;
