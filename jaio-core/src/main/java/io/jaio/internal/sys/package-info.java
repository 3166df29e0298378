// SPDX-License-Identifier: Apache-2.0
/**
 * FFM bindings (not exported): system calls as {@code static final} method handles
 * ({@code Syscalls}), struct layouts with the kernel header of every offset ({@code Structs}),
 * errno names ({@code Errno}), and fault injection for tests ({@code Faults}).
 *
 * <p>Threading: any thread; errno is captured per call.
 *
 * <p>Builds on: the JDK only (and {@code io.jaio.ErrnoException}, which it throws).
 */
package io.jaio.internal.sys;
