// SPDX-License-Identifier: Apache-2.0
/**
 * io_uring below the submission API (not exported): the ring ({@code Ring}), its system calls and
 * constants ({@code UringSyscalls}, {@code Uring}), the io_uring fd monitor
 * ({@code UringFdMonitor}), the sink it hands user completions to ({@code CqeSink}), and the
 * registered files and buffers of a ring ({@code UringResources}).
 *
 * <p>Threading: home thread of the context (the ring is SINGLE_ISSUER).
 *
 * <p>Builds on: {@code io.jaio.internal.fdmon}, {@code io.jaio.internal.sys}.
 */
package io.jaio.internal.uring;
