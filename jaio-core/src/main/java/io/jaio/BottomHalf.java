// SPDX-License-Identifier: Apache-2.0
package io.jaio;

import io.jaio.internal.loop.BhNode;

/**
 * A callback that any thread can schedule to run once on a context's home thread (QEMU's
 * {@code QEMUBH}). Made by {@link AioContext#newBottomHalf}; reusable until {@link #delete()}.
 *
 * <p>Scheduling an already scheduled bottom half merges with the pending run. A bottom half
 * scheduled while the loop runs bottom halves (even by its own callback) runs in the next
 * {@code poll()}, so a self-rescheduling bottom half runs once per poll. An idle bottom half
 * ({@link #scheduleIdle()}) does not count as progress and wakes a sleeping loop within 10 ms.
 *
 * <p>Threading: every method may be called from any thread. On the home thread
 * {@link #schedule()} uses no atomic instruction and no system call; on another thread (or in a
 * coroutine) it costs one atomic or on the flags, one exchange on the context's list when the
 * bottom half was not queued, and no system call unless the home thread is blocked.
 * {@link #cancel()} races with a run that has already begun (the run then still happens), as in
 * QEMU.
 */
public final class BottomHalf {
    /** The queue's side: flags, list link, leak registry (io.jaio.internal.loop owns the queue). */
    final BhNode node;
    private final AioContext ctx;

    BottomHalf(AioContext ctx, BhNode node) {
        this.ctx = ctx;
        this.node = node;
    }

    /** {@return the name given at creation, used in leak reports and error messages} */
    public String name() {
        return node.name();
    }

    /** {@return the context this bottom half runs in} */
    public AioContext context() {
        return ctx;
    }

    /** Runs the callback in a coming {@code poll()} of the context. Any thread. */
    public void schedule() {
        node.schedule();
    }

    /**
     * Like {@link #schedule()}, but the run does not count as progress, and while only idle
     * bottom halves are pending a blocking {@code poll()} sleeps at most 10 ms before running
     * them, even when nothing wakes it. Any thread.
     */
    public void scheduleIdle() {
        node.scheduleIdle();
    }

    /**
     * Withdraws a pending schedule: the bottom half stays queued and is skipped. Wait-free, no
     * wake-up. Any thread.
     */
    public void cancel() {
        node.cancel();
    }

    /**
     * Deletes the bottom half: a pending run is dropped and the callback never runs again. May be
     * called from any thread, including from its own callback. The object must not be scheduled
     * afterwards.
     */
    public void delete() {
        node.delete();
    }

    /** {@return whether a run is pending (scheduled and not yet started, cancelled or deleted)}. Any thread. */
    public boolean isScheduled() {
        return node.isScheduled();
    }

    @Override
    public String toString() {
        return "BottomHalf[" + node.name() + "]";
    }
}
