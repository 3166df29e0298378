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
 * One task run by a pool worker (QEMU thread_pool_submit, worker_thread): the duration is the run; the queue delay is the wait before it.
 *
 * <p>Threading: made and committed by the thread whose work it describes.
 */
@Name("io.jaio.ThreadPoolRequest")
@Label("Thread Pool Request")
@Category({"jaio", "Thread Pool"})
@Description("One task run by a pool worker (QEMU thread_pool_submit, worker_thread): the duration is the run; the queue delay is the wait before it.")
@StackTrace(false)
@Threshold("0 ns")
public final class ThreadPoolRequestEvent extends Event {
    @Label("Context")
    public String context;
    @Label("Queue Delay")
    @Description("from submit() on the home thread to the start of the run on a worker")
    @Timespan(Timespan.NANOSECONDS)
    public long queueDelayNs;
    @Label("Result")
    @Description("what run() returned (negative: -errno)")
    public long result;
}
