// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.loop;

import io.jaio.AioStats;
import io.jaio.internal.fdmon.AioHandler;
import io.jaio.internal.fdmon.HandlerTable;
import io.jaio.internal.fdmon.PollSet;
import io.jaio.internal.uring.Ring;
import io.jaio.internal.uring.UringFdMonitor;

/**
 * Assembles {@link AioStats} from the parts of a context that keep the figures: the home-thread
 * {@link LoopCounters}, the {@link Wakeup}'s atomics, the {@link PollSet}'s context-wide poll
 * time, the {@link HandlerTable}, the io_uring {@link Ring}'s counters, the thread pool's slot and
 * the timer lists. Each figure is read once, in that order, with no lock across them: see
 * {@link AioStats} for what a reader may see.
 *
 * <p>Threading: any thread.
 */
public final class ContextStats {
    private ContextStats() {
    }

    /** A snapshot of the context whose parts these are. */
    public static AioStats snapshot(String name, CallbackRunner callbacks, Wakeup wakeup, PollSet pollSet, HandlerTable table,
            ContextCore core, TimerListGroup timers) {
        LoopCounters c = callbacks.counters();
        int handlers = 0;
        for (AioHandler h : table.list()) {
            if (!h.contextNotifier) {
                handlers++;
            }
        }
        UringFdMonitor uring = core.uring();
        Ring ring = uring != null ? uring.ring() : null;
        ContextCore.Extension pool = core.extensionIfPresent(ContextCore.Slot.THREAD_POOL);
        return new AioStats(name, c.iterations(), c.blockingWaits(), c.bottomHalvesRun(), wakeup.writeCount(),
                wakeup.skippedCount(), pollSet.currentPollNs(), table.monitor().name(), handlers,
                ring != null ? ring.sqesSubmitted() : 0, ring != null ? ring.cqesReaped() : 0,
                ring != null ? ring.overflowFlushes() : 0, pool != null ? pool.threadPoolThreads() : 0,
                pool != null ? pool.threadPoolQueued() : 0, timers.armedCount());
    }
}
