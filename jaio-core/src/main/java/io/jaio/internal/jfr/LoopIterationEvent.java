// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.jfr;

import jdk.jfr.Category;
import jdk.jfr.Description;
import jdk.jfr.Event;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;
import jdk.jfr.Threshold;
import jdk.jfr.Timespan;

/**
 * One poll() of a context (QEMU aio_poll): whether it could block, whether it made progress, and how long it waited in the fd monitor.
 *
 * <p>Threading: made and committed by the thread whose work it describes.
 */
@Name("io.jaio.LoopIteration")
@Label("Loop Iteration")
@Category({"jaio", "Loop"})
@Description("One poll() of a context (QEMU aio_poll): whether it could block, whether it made progress, and how long it waited in the fd monitor.")
@StackTrace(false)
@Threshold("0 ns")
public final class LoopIterationEvent extends Event {
    @Label("Context")
    public String context;
    @Label("Blocking")
    @Description("poll(true): the iteration was allowed to wait")
    public boolean blocking;
    @Label("Progress")
    @Description("a callback other than the wake-up ran")
    public boolean progress;
    @Label("Blocked")
    @Description("time spent in the fd monitor's wait (poll, epoll_wait or io_uring_enter)")
    @Timespan(Timespan.NANOSECONDS)
    public long blockedNs;
    @Label("Depth")
    @Description("nesting depth: 1 for the outermost poll()")
    public int depth;
}
