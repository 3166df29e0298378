// SPDX-License-Identifier: Apache-2.0
/**
 * The loop's machinery (not exported): one iteration of {@code poll()} ({@code PollLoop}), the
 * wake-up protocol ({@code Wakeup}), the lock-free bottom-half queue and its nodes
 * ({@code BhQueue}, {@code BhNode}), timers ({@code TimerList}, {@code TimerNode},
 * {@code TimerListGroup}, the {@code TimerWheel} with its {@code TimerHeap}s), callback running and error reporting ({@code CallbackRunner}), the fd
 * handler glue, the fd monitor choice, run-time parameters, and what the upper packages reach of a
 * context ({@code ContextCore} with its extension slots, {@code LoopThreads}).
 *
 * <p>Threading: each class says it; in short, producers (schedule, arm, notify) on any thread,
 * everything else on the context's home thread.
 *
 * <p>Builds on: {@code io.jaio} (the API types it serves), {@code io.jaio.internal.fdmon},
 * {@code io.jaio.internal.sys}, {@code io.jaio.internal.uring}. Never names {@code io.jaio.uring},
 * {@code io.jaio.block} or {@code io.jaio.coroutine}.
 */
package io.jaio.internal.loop;
