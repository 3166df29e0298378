// SPDX-License-Identifier: Apache-2.0
/**
 * JDK Flight Recorder events of the loop and the packages built on it (not exported), named
 * {@code io.jaio.*}; docs/observability.md is their catalogue, with QEMU's matching trace point
 * for each.
 *
 * <p>Cost when no recording runs: the call sites ask {@link io.jaio.internal.jfr.JaioEvents}
 * first, which reads one volatile boolean ({@code FlightRecorder.isInitialized()}) and, only once
 * the recorder exists, the event type's enabled flag. No event class is loaded and nothing is
 * allocated until a recording is possible; the BH and io_uring NOP benchmarks check it (0 B/op).
 *
 * <p>Threading: events are made and committed on the thread whose work they describe (the home
 * thread for the loop's events, a pool worker for the worker's); no state is shared.
 *
 * <p>Builds on: {@code jdk.jfr} only. Named by {@code io.jaio.internal.loop},
 * {@code io.jaio.internal.fdmon}, {@code io.jaio.internal.uring}, {@code io.jaio.block} and
 * {@code io.jaio.coroutine}.
 */
package io.jaio.internal.jfr;
