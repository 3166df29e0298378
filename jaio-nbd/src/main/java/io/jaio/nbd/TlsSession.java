// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;

import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLEngineResult;
import javax.net.ssl.SSLException;

import io.jaio.Sockets;

/**
 * One connection's TLS after NBD_OPT_STARTTLS: a JSSE {@link SSLEngine} driven without blocking
 * on the connection's loop thread, between the socket and {@link NbdConnection}'s byte path.
 * The engine's delegated tasks (certificate checks, key exchange) run inline on the loop:
 * there is no other thread.
 *
 * <p>The connection sees two calls shaped like the system calls they replace:
 * {@link #recv} is {@code recv(2)} (bytes, 0 at EOF, {@code -11} for EAGAIN, a negative errno)
 * and drives the handshake as input arrives; {@link #send} stages plaintext (one TLS record's
 * worth, {@link #STAGE_BYTES}) and {@link #seal} turns the staged bytes into a record and sends
 * what the socket takes. Ciphertext not yet sent is bounded by {@link #netOut}'s capacity: when it
 * is full, {@code send} returns EAGAIN and the connection waits for the socket to be writable,
 * exactly as sendmsg's EAGAIN makes it wait on the clear-text path, so a client that does not
 * read its replies pins at most this buffer beyond the replies already bounded by the in-flight cap.
 * A TLS failure (a garbage record, a refused certificate, a client DN --tls-authz does not list)
 * is {@code -EPROTO} with {@link #failure()} saying why; the connection then closes.
 *
 * <p>Buffers: {@code netIn} in fill mode (received ciphertext in {@code [0, position)}),
 * {@code appIn} in read mode (plaintext not yet handed out in {@code [position, limit)}),
 * {@code stage} in fill mode (plaintext of the next record) and {@code sealed} (one record as
 * wrap writes it) are heap buffers: JDK 25's AES-GCM runs its intrinsic over a whole heap array
 * but over a direct buffer in 768-byte chunks through bounce arrays, which measured 2-3x
 * slower per record. The socket sees only native memory: {@code rx} (what recv fills, copied
 * into netIn) and {@code netOut} (ciphertext not yet sent, in read mode), from the connection's
 * arena.
 *
 * <p>Threading: the connection's home thread only.
 */
final class TlsSession {
    static final long EAGAIN = -11;
    static final long EPROTO = -71;
    /** Plaintext per record: the TLS maximum, so a large read is a train of full records. */
    static final int STAGE_BYTES = 16 * 1024;
    /** Unwrap/wrap steps per {@link #recv} before the loop gets a turn (the connection reschedules). */
    private static final int MAX_STEPS = 32;
    private static final ByteBuffer EMPTY = ByteBuffer.allocateDirect(0);

    private final SSLEngine engine;
    private final TlsCredentials creds;
    private final int fd;
    private final MemorySegment rx;
    private final MemorySegment netInSeg;
    private final ByteBuffer netIn;
    private final MemorySegment appInSeg;
    private final ByteBuffer appIn;
    private final MemorySegment netOutSeg;
    private final ByteBuffer netOut;
    private final MemorySegment stageSeg;
    private final ByteBuffer stage;
    private final ByteBuffer sealed;
    private final int packetBytes;
    private String failure;
    private boolean inboundClosed;
    /** close_notify has been sealed into netOut ({@link #closeOutbound}). */
    private boolean outboundClosed;
    /** The last unwrap wanted more ciphertext than netIn holds: only the socket can help. */
    private boolean underflow;
    private boolean handshakeDone;
    /** The handshake has a record to send and netOut is full: only the socket's writability helps. */
    private boolean blockedOnOutput;
    private final long startNs = System.nanoTime();
    private long handshakeNs = -1;
    private long taskNs;

    /** Starts the server side of a handshake on {@code fd}; {@code early} holds bytes the client sent after STARTTLS. */
    TlsSession(TlsCredentials creds, int fd, Arena arena, MemorySegment early) {
        this.creds = creds;
        this.fd = fd;
        this.engine = creds.newEngine();
        this.packetBytes = engine.getSession().getPacketBufferSize();
        int appBytes = engine.getSession().getApplicationBufferSize();
        int netInBytes = (int) Math.max(2L * packetBytes, early.byteSize() + packetBytes);
        this.rx = arena.allocate(netInBytes, 64);
        this.netIn = ByteBuffer.allocate(netInBytes);
        this.netInSeg = MemorySegment.ofArray(netIn.array());
        this.appIn = ByteBuffer.allocate(Math.max(appBytes, STAGE_BYTES) + 1024).flip();
        this.appInSeg = MemorySegment.ofArray(appIn.array());
        this.netOutSeg = arena.allocate(8L * packetBytes, 64);
        this.netOut = netOutSeg.asByteBuffer().flip();
        this.stage = ByteBuffer.allocate(STAGE_BYTES);
        this.stageSeg = MemorySegment.ofArray(stage.array());
        this.sealed = ByteBuffer.allocate(packetBytes);
        MemorySegment.copy(early, 0, netInSeg, 0, early.byteSize());
        netIn.position((int) early.byteSize());
        try {
            engine.beginHandshake();
        } catch (SSLException e) {
            fail("cannot start the TLS handshake: " + e.getMessage());
        }
    }

    /** Why TLS failed, or null. */
    String failure() {
        return failure;
    }

    boolean handshakeDone() {
        return handshakeDone;
    }

    /** Nanoseconds from STARTTLS to the end of the TLS handshake, or -1 while it runs. */
    long handshakeNs() {
        return handshakeNs;
    }

    /** Nanoseconds spent in the engine's delegated tasks, run inline on the loop. */
    long taskNs() {
        return taskNs;
    }

    /** Input is buffered that a {@link #recv} can turn into plaintext without the socket. */
    boolean hasBufferedInput() {
        return failure == null && !blockedOnOutput && (appIn.hasRemaining() || (netIn.position() > 0 && !underflow)
                || engine.getHandshakeStatus() == SSLEngineResult.HandshakeStatus.NEED_TASK);
    }

    /** Ciphertext or staged plaintext is waiting for the socket. */
    boolean hasPendingOutput() {
        return netOut.hasRemaining() || stage.position() > 0;
    }

    // ---- input ----

    /**
     * Plaintext into {@code dst}, like {@code recv(2)}: the count, 0 at the end of the stream
     * (close_notify or the socket's EOF), EAGAIN when the socket has nothing more (or the
     * handshake waits for the socket to take its output, or the step bound was reached: see
     * {@link #hasBufferedInput}), a negative errno, or {@link #EPROTO}.
     */
    long recv(MemorySegment dst) {
        blockedOnOutput = false;
        for (int step = 0; step < MAX_STEPS; step++) {
            if (appIn.hasRemaining()) {
                int n = (int) Math.min(appIn.remaining(), dst.byteSize());
                MemorySegment.copy(appInSeg, appIn.position(), dst, 0, n);
                appIn.position(appIn.position() + n);
                return n;
            }
            if (failure != null) {
                return EPROTO;
            }
            if (inboundClosed) {
                return 0;
            }
            switch (engine.getHandshakeStatus()) {
                case NEED_TASK -> {
                    runTasks();
                    continue;
                }
                case NEED_WRAP -> {
                    long w = wrapHandshake();
                    if (w < 0) {
                        blockedOnOutput = w == EAGAIN;
                        return w; // EAGAIN: the write handler resumes; or the failure
                    }
                    continue;
                }
                default -> {
                    // unwrap below
                }
            }
            if (netIn.position() > 0 && !underflow) {
                unwrap();
                continue;
            }
            if (!netIn.hasRemaining()) {
                fail("a TLS record larger than " + netIn.capacity() + " bytes");
                return EPROTO;
            }
            long n = Sockets.recv(fd, rx.asSlice(0, netIn.remaining()));
            if (n <= 0) {
                return n; // EOF, EAGAIN or the errno
            }
            MemorySegment.copy(rx, 0, netInSeg, netIn.position(), n);
            netIn.position(netIn.position() + (int) n);
            underflow = false;
        }
        return EAGAIN; // step bound: hasBufferedInput() says the connection should come back
    }

    private void unwrap() {
        netIn.flip();
        appIn.clear(); // empty here: recv hands out all plaintext before unwrapping more
        SSLEngineResult r;
        try {
            r = engine.unwrap(netIn, appIn);
        } catch (SSLException e) {
            fail(e.getMessage());
            return;
        } catch (RuntimeException e) { // JSSE throws IllegalStateException and friends on some malformed input
            fail("TLS engine: " + e);
            return;
        } finally {
            netIn.compact();
            appIn.flip();
        }
        switch (r.getStatus()) {
            case BUFFER_UNDERFLOW -> underflow = true;
            case BUFFER_OVERFLOW -> fail("a TLS record of more plaintext than " + appIn.capacity() + " bytes");
            case CLOSED -> inboundClosed = true;
            case OK -> {
                // plaintext or handshake progress
            }
        }
        finished(r);
    }

    private void runTasks() {
        long t0 = System.nanoTime();
        Runnable task;
        for (int i = 0; i < 64 && (task = engine.getDelegatedTask()) != null; i++) {
            task.run();
        }
        taskNs += System.nanoTime() - t0;
    }

    /** One handshake record into netOut, then as much as the socket takes. 0, EAGAIN or a failure. */
    private long wrapHandshake() {
        long f = flushOut();
        if (f < 0 && f != EAGAIN) {
            return f;
        }
        if (netOut.capacity() - netOut.remaining() < packetBytes) {
            return EAGAIN;
        }
        long w = wrap(EMPTY);
        if (w < 0) {
            return w;
        }
        f = flushOut();
        return f == EAGAIN ? EAGAIN : f;
    }

    private void finished(SSLEngineResult r) {
        if (r.getHandshakeStatus() != SSLEngineResult.HandshakeStatus.FINISHED || handshakeDone) {
            return;
        }
        handshakeDone = true;
        handshakeNs = System.nanoTime() - startNs;
        String refused = creds.refusal(engine);
        if (refused != null) {
            fail(refused);
        }
    }

    // ---- output ----

    /**
     * Takes plaintext from {@code src} into the next record: the bytes taken (at least 1 when
     * {@code src} is not empty), EAGAIN when the ciphertext backlog is full, or a failure.
     */
    long send(MemorySegment src) {
        if (failure != null) {
            return EPROTO;
        }
        if (!stage.hasRemaining()) {
            long s = seal(false);
            if (s < 0 && s != EAGAIN) {
                return s;
            }
            if (!stage.hasRemaining()) {
                return EAGAIN;
            }
        }
        int n = (int) Math.min(stage.remaining(), src.byteSize());
        MemorySegment.copy(src, 0, stageSeg, stage.position(), n);
        stage.position(stage.position() + n);
        return n;
    }

    /**
     * Turns the staged plaintext into a record and sends what the socket takes: 0 when
     * everything is out, EAGAIN while something waits, or a failure.
     */
    long seal() {
        return seal(true);
    }

    /**
     * Seals the stage into netOut. Without {@code push} the socket is written only when netOut
     * has no room for the next record, so a train of records goes out in few sends (8 records,
     * ~128 KiB, per send); with it, netOut is flushed.
     */
    private long seal(boolean push) {
        if (failure != null) {
            return EPROTO;
        }
        long f = 0;
        if (push || netOut.capacity() - netOut.remaining() < packetBytes) {
            f = flushOut();
            if (f < 0 && f != EAGAIN) {
                return f;
            }
        }
        if (stage.position() == 0) {
            return f;
        }
        if (netOut.capacity() - netOut.remaining() < packetBytes) {
            return EAGAIN;
        }
        stage.flip();
        long w = wrap(stage);
        stage.compact();
        if (w < 0) {
            return w;
        }
        if (!push) {
            return 0;
        }
        f = flushOut();
        return f == 0 && stage.position() > 0 ? EAGAIN : f;
    }

    /**
     * Ends the session from this side (RFC 8446 6.1): the first call seals a close_notify alert
     * behind whatever ciphertext is still owed; every call sends what the socket takes. 0 once it
     * is all out, EAGAIN while the socket holds it back (call again when it is writable), or a
     * failure (the caller closes regardless: close_notify is a courtesy, the NBD DISC or the
     * server's stop already ordered the end). Nothing is sent after a TLS failure or before the
     * handshake finished.
     */
    long closeOutbound() {
        if (failure != null || !handshakeDone) {
            return failure != null ? EPROTO : 0;
        }
        if (!outboundClosed) {
            long f = seal(true); // staged plaintext first: the alert must follow the last reply
            if (f != 0) {
                return f;
            }
            outboundClosed = true;
            engine.closeOutbound();
            if (netOut.capacity() - netOut.remaining() < packetBytes) {
                return EAGAIN; // cannot happen after a complete flush; kept as a guard
            }
            sealed.clear();
            try {
                engine.wrap(EMPTY, sealed); // status CLOSED: the alert is the record it produced
            } catch (SSLException e) {
                fail(e.getMessage());
                return EPROTO;
            }
            sealed.flip();
            netOut.compact();
            netOut.put(sealed);
            netOut.flip();
        }
        return flushOut();
    }

    /** Wraps {@code src} into a record and appends it to netOut (which has room for one). 0 or a failure. */
    private long wrap(ByteBuffer src) {
        sealed.clear();
        SSLEngineResult r;
        try {
            r = engine.wrap(src, sealed);
        } catch (SSLException e) {
            fail(e.getMessage());
            return EPROTO;
        } catch (RuntimeException e) {
            fail("TLS engine: " + e);
            return EPROTO;
        }
        sealed.flip();
        netOut.compact();
        netOut.put(sealed);
        netOut.flip();
        if (r.getStatus() == SSLEngineResult.Status.CLOSED) {
            fail("the TLS session is closed");
            return EPROTO;
        }
        if (r.getStatus() == SSLEngineResult.Status.BUFFER_OVERFLOW) {
            fail("a TLS record larger than the " + packetBytes + " bytes reserved");
            return EPROTO;
        }
        finished(r);
        return 0;
    }

    /** Sends netOut's ciphertext: 0 when it is empty, EAGAIN, or a failure. */
    private long flushOut() {
        while (netOut.hasRemaining()) {
            long n = Sockets.send(fd, netOutSeg.asSlice(netOut.position(), netOut.remaining()));
            if (n == EAGAIN) {
                return EAGAIN;
            }
            if (n < 0) {
                fail("send failed: errno " + (-n));
                return EPROTO;
            }
            netOut.position(netOut.position() + (int) n);
        }
        netOut.clear().flip();
        return 0;
    }

    private void fail(String why) {
        if (failure == null) {
            failure = "TLS: " + (why == null ? "failure" : why);
            if (why != null && why.contains("Empty client certificate chain")) {
                failure += " (a client without a certificate, or a gnutls 3.7 client such as libnbd or qemu with an RSA"
                        + " client key: it sends none to a TLS 1.3 server; give it an EC key)";
            }
        }
    }
}
