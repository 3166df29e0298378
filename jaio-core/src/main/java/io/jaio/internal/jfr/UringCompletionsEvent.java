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
 * The CQEs that one reap of a context's ring took (QEMU luring_process_completions in the older block/io_uring.c; fdmon_io_uring_cqe_handler per CQE today).
 *
 * <p>Threading: made and committed by the thread whose work it describes.
 */
@Name("io.jaio.UringCompletions")
@Label("io_uring Completions")
@Category({"jaio", "io_uring"})
@Description("The CQEs that one reap of a context's ring took (QEMU luring_process_completions in the older block/io_uring.c; fdmon_io_uring_cqe_handler per CQE today).")
@StackTrace(false)
@Threshold("0 ns")
public final class UringCompletionsEvent extends Event {
    @Label("Context")
    public String context;
    @Label("CQEs")
    public int cqes;
    @Label("Overflow Flushes")
    @Description("passes that found the kernel's CQ overflow flag and flushed its backlog")
    public int overflowFlushes;
}
