// SPDX-License-Identifier: Apache-2.0
/**
 * Linux AIO bindings (not exported): the five {@code io_*} system calls through libc's
 * {@code syscall(2)} with the syscall numbers of x86-64 and aarch64 ({@code LinuxAioSyscalls}),
 * and the layouts of {@code struct iocb} and {@code struct io_event} from
 * {@code include/uapi/linux/aio_abi.h} ({@code LinuxAioAbi}). No logic: the engine that uses
 * them is {@code io.jaio.block.LinuxAio}.
 *
 * <p>Threading: any thread; errno is captured per call into the caller's segment.
 *
 * <p>Builds on: {@code io.jaio.internal.sys}.
 */
package io.jaio.internal.aio;
