// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;

import static io.jaio.nbd.Wire.BE_INT;
import static io.jaio.nbd.Wire.BE_LONG;
import static io.jaio.nbd.Wire.BE_SHORT;

/**
 * The fixed-newstyle handshake of one connection (doc/proto.md, "Newstyle negotiation"): the
 * greeting, the client flags, then option haggling until EXPORT_NAME or GO. Old-style
 * negotiation is not offered: a client that expects it sees the newstyle magic and gives up.
 *
 * <p>Supported options: EXPORT_NAME, ABORT, LIST, INFO, GO, STRUCTURED_REPLY,
 * LIST_META_CONTEXT and SET_META_CONTEXT (base:allocation), and STARTTLS when the server has
 * TLS credentials: then TLS is required, and before it every option but STARTTLS and ABORT is
 * refused ({@link #optionBeforeTls}). EXTENDED_HEADERS gets ERR_UNSUP, as does anything unknown. Every length is checked against what was received and
 * against the limits in {@link Nbd}; an option whose length cannot be trusted ends the connection.
 *
 * <p>Threading: the connection's home thread.
 */
final class Handshake {
    private static final int OUT_CAPACITY = 64 * 1024;
    private static final int STATE_CLIENT_FLAGS = 0;
    private static final int STATE_OPTIONS = 1;
    private static final int STATE_DONE = 2;

    private final NbdConnection c;
    private final MemorySegment out;
    private int outLen;
    private int outSent;
    private int state = STATE_CLIENT_FLAGS;
    private boolean noZeroes;

    Handshake(NbdConnection c, Arena arena) {
        this.c = c;
        this.out = arena.allocate(OUT_CAPACITY, 8);
    }

    void greet() {
        putLong(Nbd.NBDMAGIC);
        putLong(Nbd.IHAVEOPT);
        putShort(Nbd.FLAG_FIXED_NEWSTYLE | Nbd.FLAG_NO_ZEROES);
        flushPending();
    }

    /**
     * Consumes handshake input from {@code buf[pos, pos + avail)}.
     *
     * @return bytes consumed, or 0 when more input is needed (or the connection is closing)
     */
    int consume(MemorySegment buf, int pos, int avail) {
        if (state == STATE_CLIENT_FLAGS) {
            if (avail < 4) {
                return 0;
            }
            int flags = buf.get(BE_INT, pos);
            if ((flags & ~(Nbd.FLAG_C_FIXED_NEWSTYLE | Nbd.FLAG_C_NO_ZEROES)) != 0) {
                c.beginClose("unknown client flags 0x" + Integer.toHexString(flags), true);
                return 0;
            }
            noZeroes = (flags & Nbd.FLAG_C_NO_ZEROES) != 0;
            state = STATE_OPTIONS;
            return 4;
        }
        if (state != STATE_OPTIONS || avail < 16) {
            return 0;
        }
        if (outLen > OUT_CAPACITY - 8192) {
            c.beginClose("client sends options without reading the replies", true);
            return 0;
        }
        long magic = buf.get(BE_LONG, pos);
        if (magic != Nbd.IHAVEOPT) {
            c.beginClose("bad option magic 0x" + Long.toHexString(magic) + " (expected IHAVEOPT)", true);
            return 0;
        }
        int option = buf.get(BE_INT, pos + 8);
        long length = Integer.toUnsignedLong(buf.get(BE_INT, pos + 12));
        if (length > Nbd.MAX_OPTION_LENGTH) {
            c.beginClose("option " + option + " of " + length + " bytes (expected at most " + Nbd.MAX_OPTION_LENGTH + ")", true);
            return 0;
        }
        if (avail < 16 + length) {
            return 0;
        }
        option(option, buf, pos + 16, (int) length);
        flushPending();
        return 16 + (int) length;
    }

    private void option(int option, MemorySegment buf, int p, int len) {
        if (c.tlsCredentials() != null && !c.tlsActive()) {
            optionBeforeTls(option, len);
            return;
        }
        switch (option) {
            case Nbd.OPT_STARTTLS -> error(option, c.tlsActive() ? Nbd.REP_ERR_INVALID : Nbd.REP_ERR_UNSUP,
                    c.tlsActive() ? "STARTTLS after TLS was negotiated" : "TLS is not configured (see --tls-creds)");
            case Nbd.OPT_EXPORT_NAME -> exportName(buf, p, len);
            case Nbd.OPT_ABORT -> {
                reply(option, Nbd.REP_ACK, 0);
                state = STATE_DONE;
                c.beginClose(null, false);
            }
            case Nbd.OPT_LIST -> {
                if (len != 0) {
                    error(option, Nbd.REP_ERR_INVALID, "LIST with data");
                    return;
                }
                byte[] name = c.export.name.getBytes(StandardCharsets.UTF_8);
                reply(option, Nbd.REP_SERVER, 4 + name.length);
                putInt(name.length);
                putBytes(name);
                reply(option, Nbd.REP_ACK, 0);
            }
            case Nbd.OPT_INFO, Nbd.OPT_GO -> infoOrGo(option, buf, p, len);
            case Nbd.OPT_STRUCTURED_REPLY -> {
                if (len != 0) {
                    error(option, Nbd.REP_ERR_INVALID, "STRUCTURED_REPLY with data");
                    return;
                }
                c.structured = true;
                reply(option, Nbd.REP_ACK, 0);
            }
            case Nbd.OPT_LIST_META_CONTEXT, Nbd.OPT_SET_META_CONTEXT -> metaContext(option, buf, p, len);
            default -> error(option, Nbd.REP_ERR_UNSUP, "option " + option + " not supported");
        }
    }

    /**
     * TLS is required and not yet on (doc/proto.md, "TLS support", the FORCEDTLS case): STARTTLS
     * starts it, ABORT ends, EXPORT_NAME (which cannot be refused with an error reply) closes the
     * connection, and every other option is refused with ERR_TLS_REQD.
     */
    private void optionBeforeTls(int option, int len) {
        switch (option) {
            case Nbd.OPT_STARTTLS -> {
                if (len != 0) {
                    error(option, Nbd.REP_ERR_INVALID, "STARTTLS with data");
                    return;
                }
                reply(option, Nbd.REP_ACK, 0);
                c.requestTls();
            }
            case Nbd.OPT_ABORT -> {
                reply(option, Nbd.REP_ACK, 0);
                state = STATE_DONE;
                c.beginClose(null, false);
            }
            case Nbd.OPT_EXPORT_NAME -> c.beginClose("EXPORT_NAME before STARTTLS on a server that requires TLS", true);
            default -> error(option, Nbd.REP_ERR_TLS_REQD, "TLS required: send NBD_OPT_STARTTLS first");
        }
    }

    private void exportName(MemorySegment buf, int p, int len) {
        String name = string(buf, p, len);
        if (len > Nbd.MAX_STRING || !name.equals(c.export.name)) {
            c.beginClose("EXPORT_NAME for unknown export '" + abbreviate(name) + "'", true);
            return;
        }
        putLong(c.export.size);
        putShort(c.export.transmissionFlags);
        if (!noZeroes) {
            for (int i = 0; i < 124; i++) {
                out.set(ValueLayout.JAVA_BYTE, outLen++, (byte) 0);
            }
        }
        finish();
    }

    private void infoOrGo(int option, MemorySegment buf, int p, int len) {
        if (len < 6) {
            error(option, Nbd.REP_ERR_INVALID, "INFO/GO of " + len + " bytes (expected at least 6)");
            return;
        }
        long nameLen = Integer.toUnsignedLong(buf.get(BE_INT, p));
        if (nameLen > Nbd.MAX_STRING || nameLen > len - 6) {
            error(option, Nbd.REP_ERR_INVALID, "export name length " + nameLen + " does not fit the option");
            return;
        }
        String name = string(buf, p + 4, (int) nameLen);
        int q = p + 4 + (int) nameLen;
        int nInfo = Short.toUnsignedInt(buf.get(BE_SHORT, q));
        if (6L + nameLen + 2L * nInfo != len) {
            error(option, Nbd.REP_ERR_INVALID, nInfo + " info requests do not match the option length " + len);
            return;
        }
        if (!name.equals(c.export.name)) {
            error(option, Nbd.REP_ERR_UNKNOWN, "unknown export '" + abbreviate(name) + "'");
            return;
        }
        boolean wantName = false;
        for (int i = 0; i < nInfo; i++) {
            int info = Short.toUnsignedInt(buf.get(BE_SHORT, q + 2 + 2L * i));
            wantName |= info == Nbd.INFO_NAME;
        }
        reply(option, Nbd.REP_INFO, 12);
        putShort(Nbd.INFO_EXPORT);
        putLong(c.export.size);
        putShort(c.export.transmissionFlags);
        if (wantName) {
            byte[] n = c.export.name.getBytes(StandardCharsets.UTF_8);
            reply(option, Nbd.REP_INFO, 2 + n.length);
            putShort(Nbd.INFO_NAME);
            putBytes(n);
        }
        // Block sizes: O_DIRECT needs aligned requests; otherwise any byte range works.
        reply(option, Nbd.REP_INFO, 14);
        putShort(Nbd.INFO_BLOCK_SIZE);
        putInt(c.export.direct ? 4096 : 1);
        putInt(4096);
        putInt(Nbd.MAX_PAYLOAD);
        reply(option, Nbd.REP_ACK, 0);
        if (option == Nbd.OPT_GO) {
            finish();
        }
    }

    private void metaContext(int option, MemorySegment buf, int p, int len) {
        boolean set = option == Nbd.OPT_SET_META_CONTEXT;
        if (set && !c.structured) {
            error(option, Nbd.REP_ERR_INVALID, "SET_META_CONTEXT before STRUCTURED_REPLY");
            return;
        }
        if (len < 8) {
            error(option, Nbd.REP_ERR_INVALID, "meta context option of " + len + " bytes (expected at least 8)");
            return;
        }
        long nameLen = Integer.toUnsignedLong(buf.get(BE_INT, p));
        if (nameLen > Nbd.MAX_STRING || nameLen > len - 8) {
            error(option, Nbd.REP_ERR_INVALID, "export name length " + nameLen + " does not fit the option");
            return;
        }
        String name = string(buf, p + 4, (int) nameLen);
        int q = p + 4 + (int) nameLen;
        long nQueries = Integer.toUnsignedLong(buf.get(BE_INT, q));
        q += 4;
        int end = p + len;
        boolean match = !set && nQueries == 0; // LIST with no query lists everything
        boolean depth = match;
        for (long i = 0; i < nQueries; i++) {
            if (end - q < 4) {
                error(option, Nbd.REP_ERR_INVALID, "meta context query " + i + " truncated");
                return;
            }
            long qLen = Integer.toUnsignedLong(buf.get(BE_INT, q));
            if (qLen > Nbd.MAX_STRING || qLen > end - q - 4) {
                error(option, Nbd.REP_ERR_INVALID, "meta context query " + i + " of " + qLen + " bytes does not fit");
                return;
            }
            String query = string(buf, q + 4, (int) qLen);
            q += 4 + (int) qLen;
            match |= query.equals(Nbd.META_BASE_ALLOCATION) || (!set && query.equals("base:"));
            depth |= query.equals(Nbd.META_ALLOCATION_DEPTH) || (!set && query.equals("qemu:"));
        }
        if (q != end) {
            error(option, Nbd.REP_ERR_INVALID, "meta context option has " + (end - q) + " trailing bytes");
            return;
        }
        if (!name.equals(c.export.name)) {
            error(option, Nbd.REP_ERR_UNKNOWN, "unknown export '" + abbreviate(name) + "'");
            return;
        }
        if (set) {
            c.metaBaseAllocation = match;
            c.metaAllocationDepth = depth;
        }
        if (match) {
            byte[] ctx = Nbd.META_BASE_ALLOCATION.getBytes(StandardCharsets.US_ASCII);
            reply(option, Nbd.REP_META_CONTEXT, 4 + ctx.length);
            putInt(Nbd.META_ID_BASE_ALLOCATION);
            putBytes(ctx);
        }
        if (depth) {
            byte[] ctx = Nbd.META_ALLOCATION_DEPTH.getBytes(StandardCharsets.US_ASCII);
            reply(option, Nbd.REP_META_CONTEXT, 4 + ctx.length);
            putInt(Nbd.META_ID_ALLOCATION_DEPTH);
            putBytes(ctx);
        }
        reply(option, Nbd.REP_ACK, 0);
    }

    private void finish() {
        state = STATE_DONE;
        c.enterTransmission();
    }

    private void error(int option, int type, String why) {
        byte[] msg = why.getBytes(StandardCharsets.UTF_8);
        int n = Math.min(msg.length, 1024);
        reply(option, type, n);
        out.asSlice(outLen, n).copyFrom(MemorySegment.ofArray(msg).asSlice(0, n));
        outLen += n;
        if (c.verbose()) {
            System.getLogger("io.jaio.nbd").log(System.Logger.Level.INFO, () -> c.peer + " option " + option + ": " + why);
        }
    }

    private void reply(int option, int type, int length) {
        putLong(Nbd.OPTION_REPLY_MAGIC);
        putInt(option);
        putInt(type);
        putInt(length);
    }

    private void putLong(long v) {
        out.set(BE_LONG, outLen, v);
        outLen += 8;
    }

    private void putInt(int v) {
        out.set(BE_INT, outLen, v);
        outLen += 4;
    }

    private void putShort(int v) {
        out.set(BE_SHORT, outLen, (short) v);
        outLen += 2;
    }

    private void putBytes(byte[] b) {
        MemorySegment.copy(b, 0, out, ValueLayout.JAVA_BYTE, outLen, b.length);
        outLen += b.length;
    }

    private static String string(MemorySegment buf, int p, int len) {
        byte[] b = new byte[len];
        MemorySegment.copy(buf, ValueLayout.JAVA_BYTE, p, b, 0, len);
        return new String(b, StandardCharsets.UTF_8);
    }

    private static String abbreviate(String s) {
        return s.length() > 64 ? s.substring(0, 64) + "..." : s;
    }

    /**
     * Sends queued handshake bytes.
     *
     * @return whether none are left (replies to requests may follow)
     */
    boolean flushPending() {
        boolean any = outSent < outLen;
        while (outSent < outLen) {
            long n = c.sendBytes(out.asSlice(outSent, outLen - outSent));
            if (n == -11) {
                c.setWantWrite(true);
                return false;
            }
            if (n < 0) {
                outSent = outLen;
                c.beginClose("send failed during handshake: " + (n == TlsSession.EPROTO ? "TLS" : "errno " + (-n)), true);
                return true;
            }
            outSent += (int) n;
        }
        outLen = 0;
        outSent = 0;
        if (any && c.tlsActive()) {
            c.sealTls(); // the records of these replies go out now; TLS owns what the socket did not take
        }
        return true;
    }
}
