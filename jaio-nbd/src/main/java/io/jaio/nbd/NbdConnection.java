// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.function.BooleanSupplier;

import io.jaio.AioContext;
import io.jaio.BottomHalf;
import io.jaio.ClockType;
import io.jaio.Timer;
import io.jaio.TimerScale;
import io.jaio.ErrnoException;
import io.jaio.Fds;
import io.jaio.block.FileIoEngine;
import io.jaio.Sockets;

import static io.jaio.nbd.Wire.BE_INT;
import static io.jaio.nbd.Wire.BE_LONG;
import static io.jaio.nbd.Wire.BE_SHORT;

/**
 * One client connection: the fixed-newstyle handshake ({@link Handshake}), then transmission.
 *
 * <p>Data path. A readable socket is drained into a receive buffer and every complete request in
 * it is started at once, so a client at queue depth 32 costs one recv for 32 requests. Each
 * request takes a reusable {@link Request} slot and goes to the file engine; its completion
 * queues the reply, and a bottom half sends every reply queued in that loop iteration with one
 * sendmsg (header and data as separate iovecs: read data is never copied). Replies go out in
 * completion order, not request order. A cap on requests and bytes in flight stops reading
 * until replies have been sent. Every request is counted in {@link ConnectionFigures}.
 *
 * <p>Hostile input. Every length and offset is checked before use, without overflow
 * ({@code offset > size || length > size - offset}); a bad request gets the error the
 * specification prescribes and the connection goes on; a request whose framing cannot be trusted
 * (bad magic, an oversized write payload) closes this connection only.
 *
 * <p>Threading: the home thread of the context the connection was started on.
 */
final class NbdConnection {
    private static final System.Logger LOG = System.getLogger("io.jaio.nbd");
    static final int RBUF_SIZE = 512 * 1024;
    static final int MAX_IN_FLIGHT = 128;
    static final long MAX_BYTES_IN_FLIGHT = 128L << 20;
    /** iovecs per sendmsg (two per reply). */
    private static final int MAX_IOV = 512;
    /** recv calls per readable event before the loop gets a turn. */
    private static final int MAX_RECVS_PER_EVENT = 8;
    /** sendmsg calls per flush before the loop gets a turn. */
    private static final int MAX_SENDS_PER_FLUSH = 16;
    /** Reply pieces (headers, data) copied into TLS records per flush before the loop gets a turn. */
    private static final int MAX_TLS_PIECES_PER_FLUSH = 128;

    final NbdServer.Worker worker;
    final AioContext ctx;
    final int fd;
    final Export export;
    final String peer;
    final FileIoEngine engine;
    /** The export's format driver: every data operation goes through it (raw: straight to the engine). */
    final io.jaio.nbd.image.BlockDriver driver;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment rbuf;
    private int rpos;
    private int rlen;
    private final MemorySegment iov;
    private final MemorySegment msghdr;
    private final BottomHalf flushBh;
    private final Runnable onRead = this::onReadable;
    /**
     * Whether the socket's read handler joins the context's adaptive polling. A socket has no
     * userspace readiness flag, so its {@code ioPoll} is {@link #NEVER_READY}: what the spin
     * catches is the io_uring monitor's completion queue, which the poll loop re-reads on every
     * round ({@code needWait}), so a request that arrives while the loop spins is seen without an
     * {@code io_uring_enter} sleep and wake-up. Only with the io_uring monitor (poll and epoll
     * have nothing to see without a system call, so the spin would only burn CPU) and a
     * {@code --poll-max-ns} above 0.
     */
    private final boolean pollSocket;
    /** The {@code ioPoll} of a polled socket: never ready from userspace (see {@link #pollSocket}). */
    private static final BooleanSupplier NEVER_READY = () -> false;
    private final Runnable onWrite = this::onWritable;
    private final Handshake handshake;
    /** Requests counted for the statistics, the MBean and the Flight Recorder events. */
    final ConnectionFigures figures;

    private boolean transmission;
    boolean structured;
    boolean metaBaseAllocation;
    boolean metaAllocationDepth;

    private Request writeInProgress;
    private int writeGot;
    private Request freeList;
    private int inFlight;
    private long bytesInFlight;
    private Request sendHead;
    private Request sendTail;
    private long headSent;
    private boolean readPaused;
    private boolean wantWrite;
    private boolean handlerRead;
    private boolean handlerWrite;
    private boolean closing;
    private boolean socketDead;
    private boolean closed;
    /** TLS after STARTTLS (null on the clear-text path; the two never mix on one connection). */
    private TlsSession tls;
    /** Nanoseconds from STARTTLS to the end of the TLS handshake; -1 without TLS or until then (the log, a test probe). */
    private long tlsHandshakeNs = -1;
    /** STARTTLS was acknowledged: process() hands the socket to TLS once the reply is out. */
    private boolean tlsRequested;
    /** Resumes reading TLS input already buffered (the socket will not report it readable). */
    private BottomHalf tlsReadBh;
    /** Drops a client that has not finished the handshake in time (--handshake-limit); null without a limit. */
    private Timer handshakeTimer;

    NbdConnection(NbdServer.Worker worker, int fd, String peer) {
        this.worker = worker;
        this.ctx = worker.ctx;
        this.pollSocket = ctx.hasIoUring() && worker.pollMaxNs > 0; // not ctx's: a write in flight zeroes that
        this.fd = fd;
        this.export = worker.export;
        this.engine = worker.engine;
        this.driver = export.driver;
        this.peer = peer;
        this.rbuf = arena.allocate(RBUF_SIZE, 4096);
        this.iov = arena.allocate(Sockets.IOVEC_SIZE * MAX_IOV, 8);
        this.msghdr = arena.allocate(Sockets.MSGHDR_SIZE, 8);
        this.flushBh = ctx.newBottomHalf("nbd-flush", this::flush);
        this.handshake = new Handshake(this, arena);
        this.figures = new ConnectionFigures(this);
        if (worker.handshakeLimitNs > 0) {
            this.handshakeTimer = ctx.newTimer(ClockType.REALTIME, TimerScale.NS, this::onHandshakeDeadline);
        }
    }

    void start() {
        figures.opened();
        if (handshakeTimer != null) {
            handshakeTimer.modNs(ctx.clockNs(ClockType.REALTIME) + worker.handshakeLimitNs);
        }
        handshake.greet();
        updateHandler();
    }

    private void onHandshakeDeadline() {
        if (!transmission && !closing) {
            beginClose("handshake not finished within " + worker.handshakeLimitNs / 1_000_000_000.0
                    + " s (--handshake-limit): dropped", true);
        }
    }

    boolean verbose() {
        return worker.verbose;
    }

    // ---- socket events ----

    private void onReadable() {
        for (int i = 0; i < MAX_RECVS_PER_EVENT && !closing && !readPaused; i++) {
            long n;
            long want;
            if (writeInProgress != null) {
                MemorySegment dst = writeInProgress.data;
                want = writeInProgress.length - writeGot;
                n = recvInto(dst.asSlice(writeGot, want));
                if (n > 0) {
                    writeGot += (int) n;
                    if (writeGot == writeInProgress.length) {
                        Request r = writeInProgress;
                        writeInProgress = null;
                        startWrite(r);
                        process();
                    }
                }
            } else {
                if (rpos == rlen) {
                    rpos = 0;
                    rlen = 0;
                } else if (RBUF_SIZE - rlen < Nbd.REQUEST_SIZE + 4096) {
                    MemorySegment.copy(rbuf, rpos, rbuf, 0, rlen - rpos);
                    rlen -= rpos;
                    rpos = 0;
                }
                want = RBUF_SIZE - rlen;
                if (want == 0) {
                    break; // full of input nobody can consume yet
                }
                n = recvInto(rbuf.asSlice(rlen, want));
                if (n > 0) {
                    rlen += (int) n;
                    process();
                }
            }
            if (n == 0) {
                beginClose(inFlight == 0 ? null : "client disconnected with requests in flight", false);
                break;
            }
            if (n < 0) {
                if (n == TlsSession.EPROTO) {
                    beginClose(tls.failure(), true);
                } else if (n != -11) { // EAGAIN: drained
                    beginClose("recv failed: errno " + (-n), true);
                }
                break;
            }
            if (n < want && tls == null) {
                break; // the socket is drained: no need to ask again (TLS may hold more: ask until EAGAIN)
            }
        }
        if (tls != null && !closing) {
            afterTlsRead();
        }
    }

    /** Like {@code recv(2)} on the socket, through TLS once it is on. */
    private long recvInto(MemorySegment dst) {
        return tls == null ? Sockets.recv(fd, dst) : tls.recv(dst);
    }

    /** Like {@code send(2)} on the socket, through TLS once it is on (Handshake's option replies). */
    long sendBytes(MemorySegment src) {
        return tls == null ? Sockets.send(fd, src) : tls.send(src);
    }

    /**
     * After TLS input was read: the handshake may have left records to send (the socket was
     * full), and input may be buffered that the socket will not report again.
     */
    private void afterTlsRead() {
        if (tlsHandshakeNs < 0 && tls.handshakeDone()) {
            tlsHandshakeNs = tls.handshakeNs();
            if (worker.verbose) {
                LOG.log(System.Logger.Level.INFO, () -> String.format("%s TLS handshake done in %.1f ms (%.1f ms of it in"
                        + " the engine's delegated tasks, run on the loop)", peer, tlsHandshakeNs / 1e6, tls.taskNs() / 1e6));
            }
        }
        if (tls.hasPendingOutput()) {
            setWantWrite(true);
        }
        if (!readPaused && tls.hasBufferedInput()) {
            tlsReadBh.schedule();
        }
    }

    private void onWritable() {
        flush();
        if (tls != null && !closing && !readPaused && !tls.hasPendingOutput()) {
            onReadable(); // a TLS handshake that waited for the socket to take its records goes on
        }
    }

    /** Installs the fd handler that matches what the connection waits for. */
    void updateHandler() {
        boolean r = !closed && !closing && !readPaused;
        boolean w = !closed && !socketDead && wantWrite;
        if (r == handlerRead && w == handlerWrite) {
            return;
        }
        handlerRead = r;
        handlerWrite = w;
        if (!r && !w) {
            ctx.removeFdHandler(fd);
            return;
        }
        try {
            boolean p = r && pollSocket;
            ctx.setFdHandler(fd, r ? onRead : null, w ? onWrite : null, p ? NEVER_READY : null, p ? onRead : null);
        } catch (ErrnoException e) {
            beginClose("cannot watch socket: " + e.getMessage(), true);
        }
    }

    // ---- parsing ----

    /** Consumes what the receive buffer holds: handshake options, then requests. */
    private void process() {
        while (!closing && !readPaused && writeInProgress == null) {
            int avail = rlen - rpos;
            if (!transmission) {
                int used = handshake.consume(rbuf, rpos, avail);
                if (used <= 0) {
                    return;
                }
                rpos += used;
                if (tlsRequested) {
                    startTls();
                    return;
                }
                continue;
            }
            if (avail < Nbd.REQUEST_SIZE) {
                return;
            }
            int magic = rbuf.get(BE_INT, rpos);
            if (magic != Nbd.REQUEST_MAGIC) {
                beginClose("bad request magic 0x" + Integer.toHexString(magic) + " (expected 0x"
                        + Integer.toHexString(Nbd.REQUEST_MAGIC) + "): framing lost", true);
                return;
            }
            int flags = Short.toUnsignedInt(rbuf.get(BE_SHORT, rpos + 4));
            int type = Short.toUnsignedInt(rbuf.get(BE_SHORT, rpos + 6));
            long cookie = rbuf.get(BE_LONG, rpos + 8);
            long offset = rbuf.get(BE_LONG, rpos + 16);
            int length = rbuf.get(BE_INT, rpos + 24);
            if (type == Nbd.CMD_WRITE && Integer.toUnsignedLong(length) > Nbd.MAX_PAYLOAD) {
                beginClose("write of " + Integer.toUnsignedString(length) + " bytes (expected at most " + Nbd.MAX_PAYLOAD
                        + "): payload cannot be skipped safely", true);
                return;
            }
            if (atCapacity()) {
                pauseReading();
                return;
            }
            rpos += Nbd.REQUEST_SIZE;
            Request r = allocRequest();
            r.type = type;
            r.flags = flags;
            r.cookie = cookie;
            r.offset = offset;
            r.length = length;
            if (isWrite(type)) {
                worker.writeStarted();
            }
            if (type == Nbd.CMD_WRITE) {
                r.data = r.payload(length, arena);
                bytesInFlight += length;
                int copy = Math.min(rlen - rpos, length);
                MemorySegment.copy(rbuf, rpos, r.data, 0, copy);
                rpos += copy;
                if (copy < length) {
                    writeInProgress = r;
                    writeGot = copy;
                    return;
                }
                startWrite(r);
            } else {
                startRequest(r);
            }
        }
    }

    private boolean atCapacity() {
        return inFlight >= MAX_IN_FLIGHT || bytesInFlight >= MAX_BYTES_IN_FLIGHT;
    }

    private void pauseReading() {
        readPaused = true;
        updateHandler();
    }

    private Request allocRequest() {
        Request r = freeList;
        if (r != null) {
            freeList = r.next;
            r.next = null;
        } else {
            r = new Request(this, arena);
        }
        inFlight++;
        figures.onStart(r);
        return r;
    }

    private static boolean isWrite(int type) {
        return type == Nbd.CMD_WRITE || type == Nbd.CMD_WRITE_ZEROES || type == Nbd.CMD_TRIM;
    }

    private void freeRequest(Request r) {
        inFlight--;
        figures.onDone(r);
        if (isWrite(r.type)) {
            worker.writeDone();
        }
        if (r.type == Nbd.CMD_WRITE || r.type == Nbd.CMD_READ) {
            bytesInFlight -= Integer.toUnsignedLong(r.length);
        }
        r.data = null;
        r.flushAfter = false;
        r.next = freeList;
        freeList = r;
        if (readPaused && !atCapacity() && !closing) {
            readPaused = false;
            updateHandler();
            process(); // requests already buffered while paused
            if (tls != null && !readPaused && tls.hasBufferedInput()) {
                tlsReadBh.schedule(); // plaintext TLS holds is not reported by the socket
            }
        }
        if (closing) {
            maybeFinishClose();
        }
    }

    // ---- requests ----

    /** The error for a request's range, or 0: offset and length inside the export, no overflow. */
    private int rangeError(Request r, int errorPastEnd) {
        long len = Integer.toUnsignedLong(r.length);
        if (r.offset < 0 || r.offset > export.size || len > export.size - r.offset) {
            return errorPastEnd;
        }
        return 0;
    }

    private void startWrite(Request r) {
        int known = Nbd.CMD_FLAG_FUA;
        if ((r.flags & ~known) != 0) {
            replyError(r, Nbd.EINVAL, "unknown write flags 0x" + Integer.toHexString(r.flags));
        } else if (export.readOnly) {
            replyError(r, Nbd.EPERM, "write to a read-only export");
        } else if (rangeError(r, Nbd.ENOSPC) != 0) {
            replyError(r, Nbd.ENOSPC, "write at " + r.offset + "+" + Integer.toUnsignedString(r.length)
                    + " past the end (" + export.size + ")");
        } else if (r.length == 0) {
            replyOk(r);
        } else {
            try {
                if (export.detectZeroes != 0 && isAllZero(r.data)) { // --detect-zeroes: served as write-zeroes
                    r.flushAfter = (r.flags & Nbd.CMD_FLAG_FUA) != 0;
                    driver.writeZeroes(engine, r.offset, Integer.toUnsignedLong(r.length), export.detectZeroes == 2, r);
                    return;
                }
                driver.write(engine, r.offset, r.data, (r.flags & Nbd.CMD_FLAG_FUA) != 0, r);
            } catch (RuntimeException e) {
                engineRefused(r, e);
            }
        }
    }

    /** Whether {@code data} holds only zero bytes (--detect-zeroes). */
    private static boolean isAllZero(MemorySegment data) {
        long n = data.byteSize();
        long i = 0;
        for (; i + 8 <= n; i += 8) {
            if (data.get(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, i) != 0) {
                return false;
            }
        }
        for (; i < n; i++) {
            if (data.get(java.lang.foreign.ValueLayout.JAVA_BYTE, i) != 0) {
                return false;
            }
        }
        return true;
    }

    /** The engine threw instead of starting the operation: the client still gets an answer. */
    private void engineRefused(Request r, RuntimeException e) {
        LOG.log(System.Logger.Level.WARNING, peer + " file engine refused request type " + r.type, e);
        replyError(r, Nbd.EIO, "file engine refused the request: " + e.getMessage());
    }

    private void startRequest(Request r) {
        switch (r.type) {
            case Nbd.CMD_READ -> startRead(r);
            case Nbd.CMD_FLUSH -> {
                if (r.offset != 0 || r.length != 0) {
                    replyError(r, Nbd.EINVAL, "flush with offset " + r.offset + " length " + r.length + " (expected 0, 0)");
                } else {
                    try {
                        driver.flush(engine, r);
                    } catch (RuntimeException e) {
                        engineRefused(r, e);
                    }
                }
            }
            case Nbd.CMD_TRIM -> startTrimOrZeroes(r, false);
            case Nbd.CMD_WRITE_ZEROES -> startTrimOrZeroes(r, true);
            case Nbd.CMD_CACHE -> {
                if (r.flags != 0) {
                    replyError(r, Nbd.EINVAL, "unknown cache flags 0x" + Integer.toHexString(r.flags));
                } else if (rangeError(r, Nbd.EINVAL) != 0) {
                    replyError(r, Nbd.EINVAL, "cache past the end");
                } else {
                    if (export.fd >= 0) {
                        Fds.adviseWillNeed(export.fd, r.offset, Integer.toUnsignedLong(r.length));
                    }
                    replyOk(r);
                }
            }
            case Nbd.CMD_BLOCK_STATUS -> BlockStatus.reply(this, r);
            case Nbd.CMD_DISC -> {
                freeRequest(r);
                beginClose(null, false);
            }
            default -> replyError(r, Nbd.EINVAL, "unknown command " + r.type);
        }
    }

    private void startRead(Request r) {
        int known = Nbd.CMD_FLAG_FUA | Nbd.CMD_FLAG_DF;
        long len = Integer.toUnsignedLong(r.length);
        // Charged whatever the outcome: freeRequest credits every READ's length back, refused ones too.
        bytesInFlight += len;
        if ((r.flags & ~known) != 0) {
            replyError(r, Nbd.EINVAL, "unknown read flags 0x" + Integer.toHexString(r.flags));
        } else if (len > Nbd.MAX_PAYLOAD) {
            replyError(r, structured ? Nbd.EOVERFLOW : Nbd.EINVAL, "read of " + len + " bytes (expected at most "
                    + Nbd.MAX_PAYLOAD + ")");
        } else if (rangeError(r, Nbd.EINVAL) != 0) {
            replyError(r, Nbd.EINVAL, "read at " + r.offset + "+" + len + " past the end (" + export.size + ")");
        } else if (len == 0) {
            replyOk(r);
        } else {
            r.data = r.payload(r.length, arena);
            try {
                driver.read(engine, r.offset, r.data, r);
            } catch (RuntimeException e) {
                engineRefused(r, e);
            }
        }
    }

    private void startTrimOrZeroes(Request r, boolean zeroes) {
        int known = Nbd.CMD_FLAG_FUA | (zeroes ? Nbd.CMD_FLAG_NO_HOLE | Nbd.CMD_FLAG_FAST_ZERO : 0);
        if ((r.flags & ~known) != 0) {
            replyError(r, Nbd.EINVAL, "unknown flags 0x" + Integer.toHexString(r.flags));
        } else if (export.readOnly) {
            replyError(r, Nbd.EPERM, (zeroes ? "write zeroes" : "trim") + " on a read-only export");
        } else if (rangeError(r, Nbd.ENOSPC) != 0) {
            replyError(r, zeroes ? Nbd.ENOSPC : Nbd.EINVAL, "range " + r.offset + "+" + Integer.toUnsignedString(r.length)
                    + " past the end (" + export.size + ")");
        } else if (r.length == 0 || (!zeroes && export.discardIgnore)) {
            replyOk(r);
        } else {
            r.flushAfter = (r.flags & Nbd.CMD_FLAG_FUA) != 0;
            long len = Integer.toUnsignedLong(r.length);
            try {
                if (zeroes) {
                    driver.writeZeroes(engine, r.offset, len, (r.flags & Nbd.CMD_FLAG_NO_HOLE) == 0, r);
                } else {
                    driver.discard(engine, r.offset, len, r);
                }
            } catch (RuntimeException e) {
                engineRefused(r, e);
            }
        }
    }

    /** The file engine finished {@code r}'s operation. */
    void onEngineDone(Request r, long result) {
        if (socketDead || closed) {
            freeRequest(r);
            return;
        }
        if (result >= 0 && r.flushAfter) {
            r.flushAfter = false;
            try {
                driver.flush(engine, r);
            } catch (RuntimeException e) {
                engineRefused(r, e);
            }
            return;
        }
        if (result < 0) {
            int err = Nbd.wireError((int) -result);
            replyError(r, err, "errno " + (-result) + " from the image");
        } else if (r.type == Nbd.CMD_READ) {
            replyData(r);
        } else {
            replyOk(r);
        }
    }

    // ---- replies ----

    void replyOk(Request r) {
        r.data = null;
        simpleHeader(r, 0);
        queue(r);
    }

    void replyError(Request r, int error, String why) {
        r.error = error;
        if (worker.verbose) {
            LOG.log(System.Logger.Level.INFO, () -> peer + " request type " + r.type + " cookie " + r.cookie + " -> error "
                    + error + ": " + why);
        }
        r.data = null;
        if (structured && (r.type == Nbd.CMD_READ || r.type == Nbd.CMD_BLOCK_STATUS)) {
            byte[] msg = why.getBytes(java.nio.charset.StandardCharsets.UTF_8);
            int mlen = Math.min(msg.length, Request.HEADER_CAPACITY - Nbd.STRUCTURED_HEADER_SIZE - 6);
            structuredHeader(r, Nbd.REPLY_TYPE_ERROR, 6 + mlen);
            r.header.set(BE_INT, 20, error);
            r.header.set(BE_SHORT, 24, (short) mlen);
            MemorySegment.copy(msg, 0, r.header, java.lang.foreign.ValueLayout.JAVA_BYTE, 26, mlen);
            r.headerLen = 26 + mlen;
        } else {
            simpleHeader(r, error);
        }
        queue(r);
    }

    private void replyData(Request r) {
        if (structured) {
            structuredHeader(r, Nbd.REPLY_TYPE_OFFSET_DATA, 8 + r.length);
            r.header.set(BE_LONG, 20, r.offset);
            r.headerLen = 28;
        } else {
            simpleHeader(r, 0);
        }
        queue(r);
    }

    private static void simpleHeader(Request r, int error) {
        r.header.set(BE_INT, 0, Nbd.SIMPLE_REPLY_MAGIC);
        r.header.set(BE_INT, 4, error);
        r.header.set(BE_LONG, 8, r.cookie);
        r.headerLen = Nbd.SIMPLE_REPLY_SIZE;
    }

    static void structuredHeader(Request r, int type, int payloadLength) {
        r.header.set(BE_INT, 0, Nbd.STRUCTURED_REPLY_MAGIC);
        r.header.set(BE_SHORT, 4, (short) Nbd.REPLY_FLAG_DONE);
        r.header.set(BE_SHORT, 6, (short) type);
        r.header.set(BE_LONG, 8, r.cookie);
        r.header.set(BE_INT, 16, payloadLength);
        r.headerLen = Nbd.STRUCTURED_HEADER_SIZE;
    }

    void queue(Request r) {
        if (socketDead || closed) {
            freeRequest(r);
            return;
        }
        r.next = null;
        if (sendTail == null) {
            sendHead = r;
        } else {
            sendTail.next = r;
        }
        sendTail = r;
        flushBh.schedule();
    }

    /** Sends every queued reply it can: one sendmsg for up to MAX_IOV/2 replies. */
    void flush() {
        if (!handshake.flushPending()) {
            return; // handshake bytes still going out: replies wait behind them
        }
        if (tls != null) {
            flushTls();
            return;
        }
        for (int round = 0; round < MAX_SENDS_PER_FLUSH && sendHead != null && !socketDead; round++) {
            int n = 0;
            long total = 0;
            long skip = headSent;
            for (Request r = sendHead; r != null && n + 2 <= MAX_IOV; r = r.next) {
                long h = r.headerLen;
                if (skip < h) {
                    setIov(n++, r.header.address() + skip, h - skip);
                    total += h - skip;
                    skip = 0;
                } else {
                    skip -= h;
                }
                if (r.data != null) {
                    long d = r.data.byteSize();
                    setIov(n++, r.data.address() + skip, d - skip);
                    total += d - skip;
                    skip = 0;
                }
            }
            Sockets.prepareMsghdr(msghdr, iov, n);
            long sent = Sockets.sendmsg(fd, msghdr);
            if (sent == -11) { // EAGAIN: wait until writable
                setWantWrite(true);
                return;
            }
            if (sent < 0) {
                beginClose("sendmsg failed: errno " + (-sent), true);
                return;
            }
            consume(sent);
            if (sent < total) {
                setWantWrite(true); // the socket buffer is full
                return;
            }
        }
        setWantWrite(sendHead != null);
        if (sendHead != null) {
            flushBh.schedule(); // more than one flush's worth: continue in the next iteration
        }
        if (closing) {
            maybeFinishClose();
        }
    }

    /**
     * The TLS path of {@link #flush}: reply bytes are copied into records (headers and small
     * replies share one) and sealed; at most {@link #MAX_TLS_PIECES_PER_FLUSH} pieces per call.
     */
    private void flushTls() {
        for (int i = 0; i < MAX_TLS_PIECES_PER_FLUSH && sendHead != null && !socketDead; i++) {
            Request r = sendHead;
            MemorySegment piece = headSent < r.headerLen ? r.header.asSlice(headSent, r.headerLen - headSent)
                    : r.data.asSlice(headSent - r.headerLen);
            long n = tls.send(piece);
            if (n == TlsSession.EAGAIN) {
                break;
            }
            if (n < 0) {
                beginClose(tls.failure(), true);
                return;
            }
            consume(n);
        }
        if (socketDead) {
            return;
        }
        long s = tls.seal();
        if (s < 0 && s != TlsSession.EAGAIN) {
            beginClose(tls.failure(), true);
            return;
        }
        setWantWrite(s == TlsSession.EAGAIN);
        if (s == 0 && sendHead != null) {
            flushBh.schedule(); // more than one flush's worth: continue in the next iteration
        }
        if (closing) {
            maybeFinishClose();
        }
    }

    private void setIov(int i, long addr, long len) {
        iov.set(java.lang.foreign.ValueLayout.JAVA_LONG, i * Sockets.IOVEC_SIZE, addr);
        iov.set(java.lang.foreign.ValueLayout.JAVA_LONG, i * Sockets.IOVEC_SIZE + 8, len);
    }

    private void consume(long sent) {
        long left = sent + headSent;
        while (sendHead != null) {
            Request r = sendHead;
            long size = r.headerLen + (r.data == null ? 0 : r.data.byteSize());
            if (left < size) {
                headSent = left;
                return;
            }
            left -= size;
            sendHead = r.next;
            if (sendHead == null) {
                sendTail = null;
            }
            headSent = 0;
            freeRequest(r);
        }
        headSent = 0;
    }

    void setWantWrite(boolean w) {
        if (wantWrite != w) {
            wantWrite = w;
            updateHandler();
        }
    }

    // ---- handshake hand-over ----

    /** The handshake chose the export: requests follow. */
    void enterTransmission() {
        transmission = true;
        if (handshakeTimer != null) {
            handshakeTimer.delete();
            handshakeTimer = null;
        }
        if (worker.verbose) {
            LOG.log(System.Logger.Level.INFO, () -> peer + " transmission (structured replies " + structured
                    + ", base:allocation " + metaBaseAllocation + ")");
        }
    }

    /** Whether the handshake is over. */
    boolean inTransmission() {
        return transmission;
    }

    java.lang.foreign.Arena arena() {
        return arena;
    }

    /** TLS credentials when the server requires TLS (--tls-creds), else null. */
    TlsCredentials tlsCredentials() {
        return worker.tls;
    }

    boolean tlsActive() {
        return tls != null;
    }

    /** The handshake acknowledged STARTTLS: TLS starts once that reply is out ({@link #process}). */
    void requestTls() {
        tlsRequested = true;
    }

    /**
     * Hands the socket to TLS. The acknowledgement of STARTTLS must be out in clear text first:
     * a client that left earlier replies unread so that it cannot be is dropped. Bytes the client
     * sent after STARTTLS (its ClientHello) are already in the receive buffer: TLS takes them.
     */
    private void startTls() {
        tlsRequested = false;
        if (!handshake.flushPending()) {
            beginClose("client asked STARTTLS without reading the replies to its earlier options", true);
            return;
        }
        if (closing) {
            return;
        }
        tls = new TlsSession(worker.tls, fd, arena, rbuf.asSlice(rpos, rlen - rpos));
        rpos = 0;
        rlen = 0;
        tlsReadBh = ctx.newBottomHalf("nbd-tls-read", onRead);
        tlsReadBh.schedule();
    }

    /** Seals staged TLS output (Handshake's replies) and waits for writability if the socket is full. */
    void sealTls() {
        long s = tls.seal();
        if (s == TlsSession.EAGAIN) {
            setWantWrite(true);
        } else if (s < 0) {
            beginClose(tls.failure(), true);
        }
    }


    // ---- closing ----

    /**
     * Stops taking requests. Requests in flight finish and their replies go out unless the
     * socket is dead; then the connection closes.
     *
     * @param why logged (null: an orderly end)
     * @param dead the socket can no longer be trusted or written: drop pending replies
     */
    void beginClose(String why, boolean dead) {
        if (why != null) {
            LOG.log(dead ? System.Logger.Level.WARNING : System.Logger.Level.INFO, () -> peer + " " + why);
        }
        closing = true;
        if (dead && !socketDead) {
            socketDead = true;
            Sockets.shutdown(fd);
            Request r;
            while ((r = sendHead) != null) {
                sendHead = r.next;
                if (sendHead == null) {
                    sendTail = null;
                }
                freeRequest(r);
            }
            headSent = 0;
        }
        if (writeInProgress != null) {
            Request r = writeInProgress;
            writeInProgress = null;
            freeRequest(r);
        }
        updateHandler();
        maybeFinishClose();
    }

    private void maybeFinishClose() {
        if (closed || inFlight > 0 || sendHead != null) {
            return;
        }
        // Handshake bytes still owed go out first, unless the socket is dead (they are dropped).
        // A failing send calls beginClose(dead), which comes back here and closes: then this
        // call must not close the fd (by now maybe another client's) and the arena a second time.
        if (!socketDead && (!handshake.flushPending() || closed)) {
            return;
        }
        if (!socketDead && tls != null && tls.closeOutbound() == TlsSession.EAGAIN) {
            // TLS records still owed, then close_notify: flush() comes back here when they are out
            setWantWrite(true);
            return;
        }
        closed = true;
        if (handshakeTimer != null) {
            handshakeTimer.delete();
            handshakeTimer = null;
        }
        if (tlsReadBh != null) {
            tlsReadBh.delete();
        }
        updateHandler();
        ctx.removeFdHandler(fd);
        try {
            Fds.close(fd);
        } catch (ErrnoException e) {
            LOG.log(System.Logger.Level.DEBUG, () -> peer + " close: " + e.getMessage());
        }
        flushBh.delete();
        arena.close();
        figures.closed();
        worker.connectionClosed(this);
    }

    boolean isClosed() {
        return closed;
    }
}
