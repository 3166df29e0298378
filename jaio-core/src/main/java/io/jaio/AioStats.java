// SPDX-License-Identifier: Apache-2.0
package io.jaio;

/**
 * A snapshot of one context's counters and gauges, from {@link AioContext#stats()}.
 *
 * <p><b>Semantics.</b> The counters are written by the threads that do the work, without locks
 * or fences (plain reads and opaque stores on the home thread; the existing atomics of the wake-up
 * protocol), and {@code stats()} reads each one once, from any thread, with no lock held across
 * them. So each counter is monotonic from one snapshot to the next and never torn, but a snapshot
 * is <em>not a consistent cut</em>: fields are read one after the other while the loop runs, so
 * {@code bottomHalvesRun} may already count a bottom half whose iteration {@code iterations} does
 * not count yet, and {@code uringCqesReaped} may run ahead of {@code uringSqesSubmitted} read just
 * before it. Gauges (poll time, handlers, pool threads and queue, timers) are the value at the
 * moment each was read. Take two snapshots and subtract for rates.
 *
 * <p>Threading: immutable; any thread.
 *
 * @param context the context's name
 * @param iterations {@code poll()} calls, nested ones included (QEMU aio_poll)
 * @param blockingWaits iterations that waited in the fd monitor with a non-zero timeout
 * @param bottomHalvesRun bottom-half and one-shot callbacks run
 * @param eventfdWrites writes of the context's eventfd to wake a blocked loop (aio_notify's kick)
 * @param notifySkipped {@link AioContext#aioNotify()} calls (scheduling from another thread
 *     included) that raised the notification while the loop was awake and so wrote no eventfd;
 *     calls that found a notification already raised return earlier and are not counted
 * @param pollNs the context-wide adaptive poll time: the largest poll time of the handlers in the
 *     poll set as the last iteration found it (QEMU's former {@code ctx->poll_ns}); 0 when
 *     polling is off or no handler polls
 * @param fdMonitor the fd monitor in use: "poll", "epoll" or "io_uring"
 * @param fdHandlers fd handlers registered on that monitor, the context's own eventfd excluded
 * @param uringSqesSubmitted SQEs the kernel consumed from the ring (0 without io_uring)
 * @param uringCqesReaped CQEs taken from the ring (0 without io_uring)
 * @param uringCqOverflows reaps that found the kernel's CQ overflow flag set and flushed its
 *     backlog (0 without io_uring)
 * @param threadPoolThreads worker threads of the context's thread pool, alive or starting (0
 *     before the pool is first used)
 * @param threadPoolQueued requests waiting in the pool's queue for a worker
 * @param timersArmed timers armed on all clocks
 */
public record AioStats(String context, long iterations, long blockingWaits, long bottomHalvesRun, long eventfdWrites,
        long notifySkipped, long pollNs, String fdMonitor, int fdHandlers, long uringSqesSubmitted, long uringCqesReaped,
        long uringCqOverflows, int threadPoolThreads, int threadPoolQueued, int timersArmed) {
}
