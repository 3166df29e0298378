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
 * An fd handler's adaptive poll time changed (QEMU poll_grow, poll_shrink, remove_idle_poll_handlers).
 *
 * <p>Threading: made and committed by the thread whose work it describes.
 */
@Name("io.jaio.PollTime")
@Label("Adaptive Poll Time")
@Category({"jaio", "Loop"})
@Description("An fd handler's adaptive poll time changed (QEMU poll_grow, poll_shrink, remove_idle_poll_handlers).")
@StackTrace(false)
@Threshold("0 ns")
public final class PollTimeEvent extends Event {
    @Label("Context")
    public String context;
    @Label("File Descriptor")
    public int fd;
    @Label("Change")
    @Description("grow, shrink or idle-removal")
    public String change;
    @Label("Old Poll Time")
    @Timespan(Timespan.NANOSECONDS)
    public long oldPollNs;
    @Label("Poll Time")
    @Description("the handler's new poll_ns (0 after idle removal)")
    @Timespan(Timespan.NANOSECONDS)
    public long pollNs;
    @Label("Block Time")
    @Description("how long the iteration that caused the change blocked")
    @Timespan(Timespan.NANOSECONDS)
    public long blockNs;
}
