// SPDX-License-Identifier: Apache-2.0
/**
 * Coroutines (QEMU's {@code qemu/coroutine.h}): {@link io.jaio.coroutine.Coroutine} with
 * scheduling into contexts, sleeping and moving between contexts; {@link io.jaio.coroutine.CoMutex},
 * {@link io.jaio.coroutine.CoRwLock}, {@link io.jaio.coroutine.CoQueue}; and the helpers that wait
 * for io_uring, file engines and the thread pool ({@link io.jaio.coroutine.CoUring},
 * {@link io.jaio.coroutine.CoFileIo}, {@link io.jaio.coroutine.CoThreadPool}).
 *
 * <p>Threading: a coroutine runs on the thread that enters it (normally its context's home
 * thread), one thread at a time; see each class. Needs {@code --add-exports
 * java.base/jdk.internal.vm} and {@code --add-opens java.base/java.lang} (fibers in
 * {@code io.jaio.internal.coro}); a program that uses only the other packages needs neither.
 *
 * <p>Builds on: {@code io.jaio}, {@code io.jaio.uring} and {@code io.jaio.block}. Keeps each
 * context's scheduled coroutines in its {@code CO_SCHEDULE} extension slot, drained by a bottom
 * half of its own (QEMU co_schedule_bh).
 *
 * <p>Errors follow the rule written in {@link io.jaio}'s package documentation: setting up
 * with the kernel throws {@link io.jaio.ErrnoException}, the data path delivers {@code -errno},
 * misuse is unchecked.
 */
package io.jaio.coroutine;
