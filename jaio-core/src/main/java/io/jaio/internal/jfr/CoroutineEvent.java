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
 * A coroutine returned (QEMU qemu_coroutine_enter and qemu_coroutine_yield, summed): how often it was entered and how often it yielded, and how long it lived from its first entry.
 *
 * <p>Threading: made and committed by the thread whose work it describes.
 */
@Name("io.jaio.Coroutine")
@Label("Coroutine")
@Category({"jaio", "Coroutine"})
@Description("A coroutine returned (QEMU qemu_coroutine_enter and qemu_coroutine_yield, summed): how often it was entered and how often it yielded, and how long it lived from its first entry.")
@StackTrace(false)
@Threshold("0 ns")
public final class CoroutineEvent extends Event {
    @Label("Context")
    @Description("the context it returned in, or null")
    public String context;
    @Label("Enters")
    public int enters;
    @Label("Yields")
    public int yields;
    @Label("Lifetime")
    @Description("from its first entry (while the event was recorded) to its return; 0 if the recording began later")
    @Timespan(Timespan.NANOSECONDS)
    public long lifetimeNs;
}
