// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd;

import jdk.jfr.Category;
import jdk.jfr.Description;
import jdk.jfr.Event;
import jdk.jfr.EventType;
import jdk.jfr.FlightRecorder;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;
import jdk.jfr.Threshold;
import jdk.jfr.Timespan;

/**
 * The server's Flight Recorder events, {@code io.jaio.nbd.Request} and
 * {@code io.jaio.nbd.Connection} (docs/observability.md), and the cheap checks that guard them:
 * while no recording exists, a check is one volatile read ({@link FlightRecorder#isInitialized()})
 * and no event class is loaded, as in jaio-core's own events.
 *
 * <p>Threading: events are made and committed on the connection's home thread.
 */
final class NbdEvents {
    private NbdEvents() {
    }

    /** Registered once the recorder exists (the first registration takes a few hundred ms). */
    private static final class Types {
        static final EventType REQUEST = EventType.getEventType(RequestEvent.class);
        static final EventType CONNECTION = EventType.getEventType(ConnectionEvent.class);
    }

    static boolean request() {
        return FlightRecorder.isInitialized() && Types.REQUEST.isEnabled();
    }

    static boolean connection() {
        return FlightRecorder.isInitialized() && Types.CONNECTION.isEnabled();
    }

    /** One request, committed when its reply left (QEMU nbd_co_receive_request / nbd_co_send_simple_reply). */
    @Name("io.jaio.nbd.Request")
    @Label("NBD Request")
    @Category({"jaio", "NBD"})
    @Description("One NBD request, committed when its reply left: command, range, error and latency.")
    @StackTrace(false)
    @Threshold("0 ns")
    static final class RequestEvent extends Event {
        @Label("Export")
        String export;
        @Label("Peer")
        String peer;
        @Label("Command")
        @Description("read, write, flush, trim, cache, write_zeroes, block_status, disc or other")
        String command;
        @Label("Offset")
        long offset;
        @Label("Length")
        long length;
        @Label("Error")
        @Description("the NBD error replied (0: success)")
        int error;
        @Label("Latency")
        @Description("from the parsed header to the reply leaving")
        @Timespan(Timespan.NANOSECONDS)
        long latencyNs;
    }

    /** A connection opened or closed (QEMU nbd_negotiate / client close). */
    @Name("io.jaio.nbd.Connection")
    @Label("NBD Connection")
    @Category({"jaio", "NBD"})
    @Description("A client connected (phase open) or its connection closed (phase close, with its totals).")
    @StackTrace(false)
    @Threshold("0 ns")
    static final class ConnectionEvent extends Event {
        @Label("Export")
        String export;
        @Label("Peer")
        String peer;
        @Label("Phase")
        @Description("open or close")
        String phase;
        @Label("Requests")
        long requests;
        @Label("Bytes Read")
        long bytesRead;
        @Label("Bytes Written")
        long bytesWritten;
        @Label("Connected")
        @Description("how long the connection was open (close only)")
        @Timespan(Timespan.NANOSECONDS)
        long connectedNs;
    }
}
