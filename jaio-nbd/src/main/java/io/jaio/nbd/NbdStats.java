// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * The request figures of one connection, or of one I/O thread's share of the export: requests by
 * command, errors, bytes read and written, requests in flight and a {@link LatencyHistogram}.
 * Latency runs from the moment the request's header was parsed to the moment its reply left (or
 * was dropped with a dead socket); a write's payload still arriving counts in it.
 *
 * <p>Implementation notes. Only the connection's home thread writes, so every update is a plain
 * read and an opaque store (no atomic, no fence, no allocation); readers on other threads (JMX,
 * the {@code --stats} printer) use opaque loads. Each figure is monotonic (in flight excepted: a
 * gauge) and never torn; a {@link #addInto snapshot} is not a consistent cut across figures.
 *
 * <p>Threading: {@link #onStart}, {@link #onDone} on the home thread of the connection (or I/O
 * thread); the readers from any thread.
 */
final class NbdStats {
    /** Slots of {@link #byCommand}: the NBD command numbers 0..7, then every other command. */
    static final int COMMANDS = 9;
    static final String[] COMMAND_NAMES = {"read", "write", "disc", "flush", "trim", "cache", "write_zeroes", "block_status",
        "other"};
    private static final VarHandle LONGS = MethodHandles.arrayElementVarHandle(long[].class);
    private static final VarHandle ERRORS;
    private static final VarHandle READ;
    private static final VarHandle WRITTEN;
    private static final VarHandle IN_FLIGHT;

    static {
        try {
            MethodHandles.Lookup l = MethodHandles.lookup();
            ERRORS = l.findVarHandle(NbdStats.class, "errors", long.class);
            READ = l.findVarHandle(NbdStats.class, "bytesRead", long.class);
            WRITTEN = l.findVarHandle(NbdStats.class, "bytesWritten", long.class);
            IN_FLIGHT = l.findVarHandle(NbdStats.class, "inFlight", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final long[] byCommand = new long[COMMANDS];
    final LatencyHistogram latency = new LatencyHistogram();
    @SuppressWarnings("unused")
    private long errors;
    @SuppressWarnings("unused")
    private long bytesRead;
    @SuppressWarnings("unused")
    private long bytesWritten;
    @SuppressWarnings("unused")
    private long inFlight;

    static int commandSlot(int type) {
        return type >= 0 && type < COMMANDS - 1 ? type : COMMANDS - 1;
    }

    /** A request was parsed and takes a slot. Home thread. */
    void onStart() {
        IN_FLIGHT.setOpaque(this, (long) IN_FLIGHT.get(this) + 1); // single writer; read by inFlight()
    }

    /** A request's reply left (or was dropped). {@code error} is the NBD error sent, 0 for success. Home thread. */
    void onDone(int type, int length, int error, long latencyNs) {
        IN_FLIGHT.setOpaque(this, (long) IN_FLIGHT.get(this) - 1);
        int slot = commandSlot(type);
        LONGS.setOpaque(byCommand, slot, (long) LONGS.get(byCommand, slot) + 1); // single writer; read by snapshots
        if (error != 0) {
            ERRORS.setOpaque(this, (long) ERRORS.get(this) + 1);
        } else if (type == Nbd.CMD_READ) {
            READ.setOpaque(this, (long) READ.get(this) + Integer.toUnsignedLong(length));
        } else if (type == Nbd.CMD_WRITE) {
            WRITTEN.setOpaque(this, (long) WRITTEN.get(this) + Integer.toUnsignedLong(length));
        }
        latency.record(latencyNs);
    }

    long inFlight() {
        return (long) IN_FLIGHT.getOpaque(this); // pairs with the opaque stores of onStart/onDone
    }

    /** Adds this object's figures to {@code s} (racy reads, see the notes). Any thread. */
    void addInto(Sums s) {
        for (int i = 0; i < COMMANDS; i++) {
            s.byCommand[i] += (long) LONGS.getOpaque(byCommand, i); // pairs with the opaque store in onDone()
        }
        s.errors += (long) ERRORS.getOpaque(this);
        s.bytesRead += (long) READ.getOpaque(this);
        s.bytesWritten += (long) WRITTEN.getOpaque(this);
        s.inFlight += inFlight();
        latency.addInto(s.latency);
    }

    /** Figures summed over several {@link NbdStats} (a reader's private, mutable copy). */
    static final class Sums {
        final long[] byCommand = new long[COMMANDS];
        final long[] latency = new long[LatencyHistogram.BUCKETS];
        long errors;
        long bytesRead;
        long bytesWritten;
        long inFlight;

        long requests() {
            long n = 0;
            for (long c : byCommand) {
                n += c;
            }
            return n;
        }

        /** The figures as the MBeans show them; {@code name} is the export's name or the peer's. */
        NbdFigures figures(String name, String export, int connections) {
            return new NbdFigures(name, export, connections, requests(), byCommand[Nbd.CMD_READ], byCommand[Nbd.CMD_WRITE],
                    byCommand[Nbd.CMD_FLUSH], byCommand[Nbd.CMD_TRIM], byCommand[Nbd.CMD_WRITE_ZEROES],
                    byCommand[Nbd.CMD_BLOCK_STATUS], byCommand[Nbd.CMD_CACHE] + byCommand[Nbd.CMD_DISC] + byCommand[COMMANDS - 1],
                    errors, bytesRead, bytesWritten, inFlight, LatencyHistogram.percentile(latency, 0.50),
                    LatencyHistogram.percentile(latency, 0.99));
        }
    }
}
