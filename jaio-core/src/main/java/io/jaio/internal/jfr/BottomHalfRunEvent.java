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
 * A bottom-half callback that ran for longer than the threshold (default 10 us; io.jaio.BottomHalfRun#threshold=0ms records every run).
 *
 * <p>Threading: made and committed by the thread whose work it describes.
 */
@Name("io.jaio.BottomHalfRun")
@Label("Bottom Half Run")
@Category({"jaio", "Loop"})
@Description("A bottom-half callback that ran for longer than the threshold (default 10 us; io.jaio.BottomHalfRun#threshold=0ms records every run).")
@StackTrace(false)
@Threshold("10 us")
public final class BottomHalfRunEvent extends Event {
    @Label("Context")
    public String context;
    @Label("Name")
    @Description("the name given to newBottomHalf or scheduleOneShot")
    public String name;
    @Label("One-Shot")
    @Description("scheduled with scheduleOneShot")
    public boolean oneShot;
}
