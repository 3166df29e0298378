// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.jfr;

import jdk.jfr.Category;
import jdk.jfr.Description;
import jdk.jfr.Event;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;
import jdk.jfr.Threshold;

/**
 * One io_uring_enter on a context's ring (QEMU luring_io_uring_submit in the older block/io_uring.c; fdmon_io_uring_add_sqe per SQE today): the SQEs handed to the kernel and the wait for completions, if any.
 *
 * <p>Threading: made and committed by the thread whose work it describes.
 */
@Name("io.jaio.UringSubmit")
@Label("io_uring Submit")
@Category({"jaio", "io_uring"})
@Description("One io_uring_enter on a context's ring (QEMU luring_io_uring_submit in the older block/io_uring.c; fdmon_io_uring_add_sqe per SQE today): the SQEs handed to the kernel and the wait for completions, if any.")
@StackTrace(false)
@Threshold("0 ns")
public final class UringSubmitEvent extends Event {
    @Label("Context")
    public String context;
    @Label("To Submit")
    @Description("SQEs queued when the call began")
    public int toSubmit;
    @Label("Submitted")
    @Description("what the kernel returned: SQEs consumed, or -errno for EINTR, ETIME, EAGAIN and EBUSY")
    public int submitted;
    @Label("Min Complete")
    @Description("completions waited for (0: no wait)")
    public int minComplete;
}
