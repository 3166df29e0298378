// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.jfr;

import jdk.jfr.EventType;
import jdk.jfr.FlightRecorder;

/**
 * The cheap "is this event wanted?" checks that guard every hot call site, so that building an
 * event, reading a clock or filling a field happens only while a recording takes the event.
 *
 * <p>Implementation notes. {@link FlightRecorder#isInitialized()} is one volatile read of a static
 * field and stays false in a JVM where nobody started a recording (no
 * {@code -XX:StartFlightRecording}, no {@code jcmd JFR.start}, no {@code new Recording()}). Only
 * once it is true do the checks touch {@link Types}, whose initializer registers the event classes
 * (a few hundred milliseconds the first time, which is why it waits for the recorder): the JVM
 * then keeps each {@link EventType}'s enabled flag up to date as recordings start and stop. The
 * flag is a plain field of the JDK's, so a loop may see a change one iteration late: an event
 * more or less at the edges of a recording, never a wrong one.
 *
 * <p>Threading: any thread.
 */
public final class JaioEvents {
    private JaioEvents() {
    }

    /** The event types, registered when first needed (after the recorder exists). */
    private static final class Types {
        static final EventType LOOP = EventType.getEventType(LoopIterationEvent.class);
        static final EventType BH = EventType.getEventType(BottomHalfRunEvent.class);
        static final EventType POLL = EventType.getEventType(PollTimeEvent.class);
        static final EventType SUBMIT = EventType.getEventType(UringSubmitEvent.class);
        static final EventType REAP = EventType.getEventType(UringCompletionsEvent.class);
        static final EventType WORKER = EventType.getEventType(ThreadPoolWorkerEvent.class);
        static final EventType TASK = EventType.getEventType(ThreadPoolRequestEvent.class);
        static final EventType CO = EventType.getEventType(CoroutineEvent.class);
    }

    /** io.jaio.LoopIteration is being recorded. */
    public static boolean loopIteration() {
        return FlightRecorder.isInitialized() && Types.LOOP.isEnabled();
    }

    /** io.jaio.BottomHalfRun is being recorded. */
    public static boolean bottomHalfRun() {
        return FlightRecorder.isInitialized() && Types.BH.isEnabled();
    }

    /** io.jaio.PollTime is being recorded. */
    public static boolean pollTime() {
        return FlightRecorder.isInitialized() && Types.POLL.isEnabled();
    }

    /** io.jaio.UringSubmit is being recorded. */
    public static boolean uringSubmit() {
        return FlightRecorder.isInitialized() && Types.SUBMIT.isEnabled();
    }

    /** io.jaio.UringCompletions is being recorded. */
    public static boolean uringCompletions() {
        return FlightRecorder.isInitialized() && Types.REAP.isEnabled();
    }

    /** io.jaio.ThreadPoolWorker is being recorded. */
    public static boolean threadPoolWorker() {
        return FlightRecorder.isInitialized() && Types.WORKER.isEnabled();
    }

    /** io.jaio.ThreadPoolRequest is being recorded. */
    public static boolean threadPoolRequest() {
        return FlightRecorder.isInitialized() && Types.TASK.isEnabled();
    }

    /** io.jaio.Coroutine is being recorded. */
    public static boolean coroutine() {
        return FlightRecorder.isInitialized() && Types.CO.isEnabled();
    }
}
