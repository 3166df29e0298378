// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd;

import javax.management.JMException;
import javax.management.ObjectName;

/**
 * What one connection adds to the server's figures: each request, once its reply has left, is
 * counted in the connection's {@link NbdStats} and its I/O thread's share of the export's
 * (command, bytes, latency from the parsed header to the reply sent); while a recording takes
 * them, it is also an io.jaio.nbd.Request event, and the connection's start and end are
 * io.jaio.nbd.Connection events. The connection's MBean reads {@link #figures()}.
 *
 * <p>Threading: {@link #onStart}, {@link #onDone}, {@link #opened}, {@link #closed} and
 * {@link #registerMBean} on the connection's home thread; {@link #figures()} from any thread.
 */
final class ConnectionFigures {
    private static final System.Logger LOG = System.getLogger("io.jaio.nbd");

    private final NbdConnection conn;
    /** This connection's figures; its I/O thread's share of the export's is {@code worker.stats}. */
    final NbdStats stats = new NbdStats();
    private final NbdStats workerStats;
    private final long openedNs = System.nanoTime();
    /** Set by closed(): the gauge of open connections in figures() (read racily by JMX). */
    private volatile boolean isClosed;
    /** The connection's MBean, or null (test seams, or the MBean server refused it). */
    private ObjectName mbean;

    ConnectionFigures(NbdConnection conn) {
        this.conn = conn;
        this.workerStats = conn.worker.stats;
    }

    /** The connection started its handshake. */
    void opened() {
        if (NbdEvents.connection()) {
            recordConnection("open");
        }
    }

    /** Shows the figures as {@code io.jaio.nbd:type=Connection,export=..,name=<peer>}. */
    void registerMBean() {
        try {
            mbean = RecordMBean.register(new RecordMBean(NbdFigures.class, this::figures, "NBD connection " + conn.peer),
                    "io.jaio.nbd:type=Connection,export=" + ObjectName.quote(conn.export.name), conn.peer);
        } catch (JMException e) {
            LOG.log(System.Logger.Level.WARNING, () -> conn.peer + " has no MBean: " + e);
        }
    }

    /** {@code r} was parsed and took a slot: the start of its latency. */
    void onStart(Request r) {
        r.startNs = System.nanoTime();
        r.error = 0;
        stats.onStart();
        workerStats.onStart();
    }

    /** {@code r}'s reply left, or was dropped. No allocation unless a recording takes the event. */
    void onDone(Request r) {
        long latencyNs = System.nanoTime() - r.startNs;
        stats.onDone(r.type, r.length, r.error, latencyNs);
        workerStats.onDone(r.type, r.length, r.error, latencyNs);
        if (NbdEvents.request()) {
            recordRequest(r, latencyNs);
        }
    }

    /** The connection closed: its last event, and its MBean goes. */
    void closed() {
        isClosed = true;
        if (NbdEvents.connection()) {
            recordConnection("close");
        }
        if (mbean != null) {
            RecordMBean.unregister(mbean);
            mbean = null;
        }
    }

    /** This connection's figures (any thread: racy reads, see NbdStats). */
    NbdFigures figures() {
        NbdStats.Sums s = new NbdStats.Sums();
        stats.addInto(s);
        return s.figures(conn.peer, conn.export.name, isClosed ? 0 : 1);
    }

    private void recordRequest(Request r, long latencyNs) {
        NbdEvents.RequestEvent e = new NbdEvents.RequestEvent();
        if (e.shouldCommit()) {
            e.export = conn.export.name;
            e.peer = conn.peer;
            e.command = NbdStats.COMMAND_NAMES[NbdStats.commandSlot(r.type)];
            e.offset = r.offset;
            e.length = Integer.toUnsignedLong(r.length);
            e.error = r.error;
            e.latencyNs = latencyNs;
            e.commit();
        }
    }

    private void recordConnection(String phase) {
        NbdEvents.ConnectionEvent e = new NbdEvents.ConnectionEvent();
        if (e.shouldCommit()) {
            NbdStats.Sums s = new NbdStats.Sums();
            stats.addInto(s);
            e.export = conn.export.name;
            e.peer = conn.peer;
            e.phase = phase;
            e.requests = s.requests();
            e.bytesRead = s.bytesRead;
            e.bytesWritten = s.bytesWritten;
            e.connectedNs = "close".equals(phase) ? System.nanoTime() - openedNs : 0;
            e.commit();
        }
    }
}
