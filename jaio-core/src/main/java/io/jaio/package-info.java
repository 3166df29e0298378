// SPDX-License-Identifier: Apache-2.0
/**
 * The event loop (QEMU's {@code qemu/aio.h}): {@link io.jaio.AioContext} and its builder, bottom
 * halves, timers on four clocks, fd handlers and event notifiers, IOThreads, the main loop, outer
 * loop driving ({@link io.jaio.AioSource}), {@link io.jaio.AioWait}, the callback error handler
 * and {@link io.jaio.ErrnoException}, with the small fd and socket helpers the tests and servers
 * use.
 *
 * <p>Threading: each class says who may call what; a context's callbacks run on its home thread,
 * scheduling and arming work from any thread.
 *
 * <p>Builds on: nothing else in jaio's API; its machinery is in {@code io.jaio.internal.loop},
 * {@code io.jaio.internal.fdmon}, {@code io.jaio.internal.sys} and {@code io.jaio.internal.uring}
 * (not exported). It names none of {@code io.jaio.uring}, {@code io.jaio.block} or
 * {@code io.jaio.coroutine}, which build on it.
 */
package io.jaio;
