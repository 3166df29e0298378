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
 * A worker of a context's thread pool started or exited (QEMU spawn_thread, and a worker's idle exit).
 *
 * <p>Threading: made and committed by the thread whose work it describes.
 */
@Name("io.jaio.ThreadPoolWorker")
@Label("Thread Pool Worker")
@Category({"jaio", "Thread Pool"})
@Description("A worker of a context's thread pool started or exited (QEMU spawn_thread, and a worker's idle exit).")
@StackTrace(false)
@Threshold("0 ns")
public final class ThreadPoolWorkerEvent extends Event {
    @Label("Context")
    public String context;
    @Label("Action")
    @Description("spawn or retire")
    public String action;
    @Label("Threads")
    @Description("workers alive or starting after the change")
    public int threads;
}
