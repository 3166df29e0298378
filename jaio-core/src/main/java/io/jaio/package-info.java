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
 * <h2>Which failures are checked</h2>
 *
 * One rule for every exported package ({@code io.jaio}, {@code io.jaio.uring},
 * {@code io.jaio.block}, {@code io.jaio.coroutine}):
 * <ol>
 *   <li><b>Setting something up with the kernel throws the checked {@link io.jaio.ErrnoException}</b>:
 *     building a context, an IOThread or the main loop, opening or connecting fds and sockets,
 *     creating an event notifier, registering an fd ({@code setFdHandler}), a file table or
 *     buffers with io_uring ({@code registerFiles}, {@code registerBuffers}), a Linux AIO
 *     context. These fail because of the environment (a closed fd, RLIMIT_NOFILE or
 *     RLIMIT_MEMLOCK, a kernel without the feature), the caller can do something about it
 *     (close, fall back, report), and they are not on a hot path. The exception names the system
 *     call, its arguments and the errno ({@code epoll_ctl(ADD, fd=17): EBADF}).</li>
 *   <li><b>The data path returns {@code -errno}, never throws it</b>: a read, write, recv, send,
 *     accept done directly ({@code Fds.pread}, {@code Sockets.recv}) returns the count or
 *     {@code -errno}; an operation queued to the loop (an io_uring request, a file-engine
 *     operation, a thread-pool task) delivers {@code -errno} to its completion. {@code EAGAIN}
 *     is a value, not an exception.</li>
 *   <li><b>Everything else is unchecked, and is a bug in the calling code</b>:
 *     {@link java.lang.IllegalArgumentException} for a bad value (the message names the value
 *     and what was expected: {@code delay=PT-1S (expected >= 0)}), and
 *     {@link java.lang.IllegalStateException} for a call the object's state forbids: off the
 *     home thread, on a closed context, registering twice, a handler already in flight, io_uring
 *     requested on a context without it. Calls that queue work from the hot path (schedule a
 *     bottom half, arm a timer, submit an io_uring request or a thread-pool task) throw only
 *     these. The one kernel failure such a call can meet, an io_uring submission queue that
 *     stays full after a flush (completions are not being reaped: the program does not call
 *     {@code poll()}), is an {@code IllegalStateException} too, with the
 *     {@code ErrnoException} of the flush as its cause.</li>
 * </ol>
 * Closing ({@code close()}) never throws for a leak: it reports what was left behind. An
 * exception thrown by a callback goes to the context's {@link io.jaio.CallbackErrorHandler}
 * and the loop goes on; an {@link java.lang.Error} is rethrown.
 *
 * <p>Builds on: nothing else in jaio's API; its machinery is in {@code io.jaio.internal.loop},
 * {@code io.jaio.internal.fdmon}, {@code io.jaio.internal.sys} and {@code io.jaio.internal.uring}
 * (not exported). It names none of {@code io.jaio.uring}, {@code io.jaio.block} or
 * {@code io.jaio.coroutine}, which build on it.
 */
package io.jaio;
