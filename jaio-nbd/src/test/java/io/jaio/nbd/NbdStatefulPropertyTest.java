// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd;

import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AfterTry;
import net.jqwik.api.state.Action;
import net.jqwik.api.state.ActionChain;
import net.jqwik.api.state.Transformer;

/**
 * Stateful property test (jqwik): random sequences of NBD commands against a real jaio-nbd server
 * (in this JVM, unix socket, structured replies and base:allocation on), each checked against a
 * flat in-memory reference model of the image. On a failure jqwik shrinks the sequence to a
 * minimal one that still fails and prints it.
 *
 * <p>Commands: WRITE (1 B to 64 KiB at any offset, with and without FUA), WRITE_ZEROES (with and
 * without NO_HOLE and FUA), TRIM (with and without FUA), FLUSH, READ (must equal the model),
 * BLOCK_STATUS (extents contiguous from the offset, inside the export, and a range reported ZERO
 * must be zeroes in the model). After every chain the whole image is read back through the
 * server and compared with the model; on qcow2 the server is then stopped and {@code qemu-img
 * check} must find no error and no leak.
 *
 * <p>TRIM: on raw, jaio punches a hole, so the model reads zeroes. On qcow2 a trimmed range is
 * what NBD says it is, unspecified until written again; jaio zeroes whole clusters and leaves
 * partial ones alone. So the model marks the range unknown: a read of an unknown byte must return
 * either zero or the byte's value before the trim, and from then on that value (reads are stable);
 * a ZERO extent makes it a known zero.
 *
 * <p>Formats, one property each: raw; qcow2 (64 KiB clusters); qcow2 with 4 KiB clusters (so a
 * 64 KiB request spans 16 clusters and an L2 table covers 2 MiB); a qcow2 overlay (64 KiB
 * clusters) on a raw backing file whose first half holds a pattern and whose second half is a
 * hole, so writes copy from the backing file and block status goes through it. {@link #newImage}
 * is the only place that knows the formats. 60 tries of up to 40 commands by default
 * ({@code jqwik.tries.default} in src/test/resources/junit-platform.properties); a longer run:
 * {@code -Djaio.test.argLine=-Djqwik.tries.default=2000}.
 */
class NbdStatefulPropertyTest {
    static final int IMAGE_BYTES = 256 << 10;
    static final int MAX_LENGTH = 64 << 10;

    private final List<NbdState> opened = new ArrayList<>();
    /** Commands sent over all tries (each checked), for the report line. */
    static final java.util.concurrent.atomic.AtomicLong TOTAL_COMMANDS = new java.util.concurrent.atomic.AtomicLong();
    static final java.util.concurrent.atomic.AtomicLong TRIES = new java.util.concurrent.atomic.AtomicLong();
    static final java.util.concurrent.atomic.AtomicLong QEMU_CHECKS = new java.util.concurrent.atomic.AtomicLong();
    private static Path dir;

    /** The system under test and its model. */
    static final class NbdState implements AutoCloseable {
        final String format;
        final NbdTestSupport.Server server;
        final RawClient client;
        final Path image;
        final byte[] model = new byte[IMAGE_BYTES];
        /** Bytes whose content is unspecified (trimmed on qcow2): the model holds the value before the trim. */
        final boolean[] unknown = new boolean[IMAGE_BYTES];
        int commands;
        private boolean closed;

        NbdState(String format) throws Exception {
            this.format = format;
            this.image = newImage(format, model);
            Path sock = image.resolveSibling(image.getFileName() + ".sock");
            server = NbdTestSupport.Server.start(image, "-k", sock.toString(), "-f", driverFormat(format));
            client = server.connect().handshake(true);
        }

        boolean qcow2() {
            return !"raw".equals(format);
        }

        void check(boolean ok, String what) {
            if (!ok) {
                throw new AssertionError(what + " (after " + commands + " commands)");
            }
        }

        void ok(RawClient.Reply r, String what) {
            commands++;
            TOTAL_COMMANDS.incrementAndGet();
            check(r.error() == 0, what + " failed with NBD error " + r.error() + ": " + r.message());
        }

        void write(long off, int len, int seed, boolean fua) {
            byte[] data = pattern(len, seed);
            ok(call(fua ? Nbd.CMD_FLAG_FUA : 0, Nbd.CMD_WRITE, off, len, data), "WRITE");
            System.arraycopy(data, 0, model, (int) off, len);
            Arrays.fill(unknown, (int) off, (int) off + len, false);
        }

        void zeroes(long off, int len, boolean noHole, boolean fua) {
            int flags = (noHole ? Nbd.CMD_FLAG_NO_HOLE : 0) | (fua ? Nbd.CMD_FLAG_FUA : 0);
            ok(call(flags, Nbd.CMD_WRITE_ZEROES, off, len, null), "WRITE_ZEROES");
            Arrays.fill(model, (int) off, (int) off + len, (byte) 0);
            Arrays.fill(unknown, (int) off, (int) off + len, false);
        }

        void trim(long off, int len, boolean fua) {
            ok(call(fua ? Nbd.CMD_FLAG_FUA : 0, Nbd.CMD_TRIM, off, len, null), "TRIM");
            if (qcow2()) {
                Arrays.fill(unknown, (int) off, (int) off + len, true);
            } else {
                Arrays.fill(model, (int) off, (int) off + len, (byte) 0);
            }
        }

        void flush() {
            ok(call(0, Nbd.CMD_FLUSH, 0, 0, null), "FLUSH");
        }

        void read(long off, int len) {
            RawClient.Reply r = call(0, Nbd.CMD_READ, off, len, null);
            ok(r, "READ");
            byte[] got = r.data();
            check(got != null && got.length == len, "READ " + off + "+" + len + " returned "
                    + (got == null ? "no data" : got.length + " bytes"));
            for (int i = 0; i < len; i++) {
                int b = (int) off + i;
                if (got[i] == model[b] && !unknown[b]) {
                    continue;
                }
                if (unknown[b] && (got[i] == 0 || got[i] == model[b])) {
                    model[b] = got[i]; // trimmed: zero or the old value, and stable from now on
                    unknown[b] = false;
                    continue;
                }
                check(false, "READ " + off + "+" + len + " differs from the model at byte " + b + ": " + got[i] + " instead of "
                        + model[b] + (unknown[b] ? " (trimmed: expected that or 0)" : ""));
            }
        }

        void blockStatus(long off, int len) {
            RawClient.Reply r = call(0, Nbd.CMD_BLOCK_STATUS, off, len, null);
            ok(r, "BLOCK_STATUS");
            check(r.extents() != null && !r.extents().isEmpty(), "BLOCK_STATUS " + off + "+" + len + " sent no extent");
            long pos = off;
            for (long[] e : r.extents()) {
                long elen = e[0];
                check(elen > 0, "BLOCK_STATUS extent of length 0 at " + pos);
                check(pos + elen <= IMAGE_BYTES, "BLOCK_STATUS extent " + pos + "+" + elen + " past the end " + IMAGE_BYTES);
                if ((e[1] & 2) != 0) { // NBD_STATE_ZERO
                    long end = Math.min(pos + elen, off + len);
                    for (long b = pos; b < end; b++) {
                        if (unknown[(int) b]) {
                            model[(int) b] = 0; // trimmed and now said to read as zeroes: it must from now on
                            unknown[(int) b] = false;
                        }
                        check(model[(int) b] == 0, "BLOCK_STATUS says " + pos + "+" + elen + " reads as zeroes, but byte "
                                + b + " is " + model[(int) b] + " in the model");
                    }
                }
                pos += elen;
            }
        }

        void readWholeImage() {
            read(0, IMAGE_BYTES);
        }

        private RawClient.Reply call(int flags, int type, long off, int len, byte[] payload) {
            try {
                return client.call(flags, type, off, len, payload);
            } catch (java.io.IOException e) {
                throw new AssertionError("request type " + type + " " + off + "+" + len + ": " + e, e);
            }
        }

        /** Stops the server (the image is closed when this returns); then qcow2 images get {@code qemu-img check}. */
        void closeAndCheck() throws Exception {
            close();
            if (qcow2()) {
                Qcow2Tools.assertCheckClean(image);
            }
        }

        @Override
        public void close() throws java.io.IOException {
            if (closed) {
                return;
            }
            closed = true;
            try {
                client.close();
            } finally {
                server.close();
            }
        }

        @Override
        public String toString() {
            return "NbdState[" + format + ", " + commands + " commands]";
        }
    }

    /** The format jaio-nbd is told ({@code -f}) for one of this test's formats. */
    static String driverFormat(String format) {
        return "raw".equals(format) ? "raw" : "qcow2";
    }

    /**
     * A new image of {@code format}, {@link #IMAGE_BYTES} long, with its guest content put into
     * {@code content}: raw, qcow2, qcow2-4k (all zeroes) or qcow2-backing (an overlay on a raw
     * file whose first half is a pattern and second half a hole).
     */
    static Path newImage(String format, byte[] content) throws Exception {
        if (dir == null) {
            dir = Files.createTempDirectory("jaio-nbd-prop");
        }
        Path image = Files.createTempFile(dir, "img", "." + format);
        switch (format) {
            case "raw" -> {
                try (FileChannel ch = FileChannel.open(image, StandardOpenOption.WRITE)) {
                    ch.truncate(IMAGE_BYTES);
                    ch.write(java.nio.ByteBuffer.allocate(1), IMAGE_BYTES - 1);
                }
                Arrays.fill(content, (byte) 0);
            }
            case "qcow2", "qcow2-4k" -> {
                Files.delete(image);
                Qcow2Tools.assumeQemu();
                Qcow2Tools.create(image, Integer.toString(IMAGE_BYTES), "qcow2".equals(format) ? "" : "cluster_size=4k", null, null);
                Arrays.fill(content, (byte) 0);
            }
            case "qcow2-backing" -> {
                Files.delete(image);
                Qcow2Tools.assumeQemu();
                Path base = image.resolveSibling(image.getFileName() + ".base");
                byte[] half = pattern(IMAGE_BYTES / 2, 77);
                try (FileChannel ch = FileChannel.open(base, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                    ch.write(java.nio.ByteBuffer.wrap(half));
                    ch.truncate(IMAGE_BYTES);
                    ch.write(java.nio.ByteBuffer.allocate(1), IMAGE_BYTES - 1);
                }
                Qcow2Tools.create(image, Integer.toString(IMAGE_BYTES), "", base, "raw");
                Arrays.fill(content, (byte) 0);
                System.arraycopy(half, 0, content, 0, half.length);
            }
            default -> throw new IllegalArgumentException("format=" + format
                    + " (expected raw, qcow2, qcow2-4k or qcow2-backing; create other formats here)");
        }
        return image;
    }

    static byte[] pattern(int len, int seed) {
        byte[] b = new byte[len];
        for (int i = 0; i < len; i++) {
            b[i] = (byte) (seed * 131 + i * 7 + (i >>> 8) + 1);
        }
        return b;
    }

    @Property
    void rawImages(@ForAll("rawChains") ActionChain<NbdState> chain) throws Exception {
        runChain(chain);
    }

    @Property
    void qcow2Images(@ForAll("qcow2Chains") ActionChain<NbdState> chain) throws Exception {
        runChain(chain);
    }

    @Property
    void qcow2ImagesWith4KiBClusters(@ForAll("qcow2SmallClusterChains") ActionChain<NbdState> chain) throws Exception {
        runChain(chain);
    }

    @Property
    void qcow2OverlaysOnARawBackingFile(@ForAll("qcow2BackingChains") ActionChain<NbdState> chain) throws Exception {
        runChain(chain);
    }

    private static void runChain(ActionChain<NbdState> chain) throws Exception {
        TRIES.incrementAndGet();
        NbdState s = chain.run();
        s.readWholeImage();
        s.closeAndCheck();
        if (s.qcow2()) {
            QEMU_CHECKS.incrementAndGet();
        }
        Files.deleteIfExists(s.image); // kept when a check failed, for a look
        Files.deleteIfExists(s.image.resolveSibling(s.image.getFileName() + ".base"));
    }

    @net.jqwik.api.lifecycle.AfterProperty
    void report() {
        System.out.println("NbdStatefulPropertyTest: " + TRIES.get() + " tries, " + TOTAL_COMMANDS.get()
                + " NBD commands checked against the model, " + QEMU_CHECKS.get() + " clean qemu-img checks (totals so far)");
    }

    @Provide
    Arbitrary<ActionChain<NbdState>> rawChains() {
        return chains("raw");
    }

    @Provide
    Arbitrary<ActionChain<NbdState>> qcow2Chains() {
        return chains("qcow2");
    }

    @Provide
    Arbitrary<ActionChain<NbdState>> qcow2SmallClusterChains() {
        return chains("qcow2-4k");
    }

    @Provide
    Arbitrary<ActionChain<NbdState>> qcow2BackingChains() {
        return chains("qcow2-backing");
    }

    /** Random command sequences on a fresh server with an image of {@code format}. */
    Arbitrary<ActionChain<NbdState>> chains(String format) {
        return ActionChain.<NbdState>startWith(() -> {
            try {
                NbdState s = new NbdState(format);
                opened.add(s);
                return s;
            } catch (Exception e) {
                throw new IllegalStateException("cannot start the server on a " + format + " image", e);
            }
        })
                .withAction(4, (Action.Independent<NbdState>) () -> Combinators.combine(ranges(),
                        Arbitraries.integers().between(0, 255), Arbitraries.of(false, true))
                        .as((r, seed, fua) -> Transformer.mutate("WRITE " + r[0] + "+" + r[1] + " pattern " + seed
                                + (fua ? " FUA" : ""), s -> s.write(r[0], (int) r[1], seed, fua))))
                .withAction(2, (Action.Independent<NbdState>) () -> Combinators.combine(ranges(),
                        Arbitraries.of(false, true), Arbitraries.of(false, true))
                        .as((r, noHole, fua) -> Transformer.mutate("WRITE_ZEROES " + r[0] + "+" + r[1]
                                + (noHole ? " NO_HOLE" : "") + (fua ? " FUA" : ""), s -> s.zeroes(r[0], (int) r[1], noHole, fua))))
                .withAction(2, (Action.Independent<NbdState>) () -> Combinators.combine(ranges(), Arbitraries.of(false, true))
                        .as((r, fua) -> Transformer.mutate("TRIM " + r[0] + "+" + r[1] + (fua ? " FUA" : ""),
                                s -> s.trim(r[0], (int) r[1], fua))))
                .withAction(1, (Action.Independent<NbdState>) () -> Arbitraries.just(Transformer.mutate("FLUSH", NbdState::flush)))
                .withAction(3, (Action.Independent<NbdState>) () -> ranges().map(r ->
                        Transformer.mutate("READ " + r[0] + "+" + r[1], s -> s.read(r[0], (int) r[1]))))
                .withAction(2, (Action.Independent<NbdState>) () -> ranges().map(r ->
                        Transformer.mutate("BLOCK_STATUS " + r[0] + "+" + r[1], s -> s.blockStatus(r[0], (int) r[1]))))
                .withMaxTransformations(40);
    }

    /** An offset and a length inside the image, as {offset, length} (the length clamped to the end). */
    private static Arbitrary<long[]> ranges() {
        Arbitrary<Long> offsets = Arbitraries.oneOf(Arbitraries.longs().between(0, IMAGE_BYTES - 1),
                Arbitraries.longs().between(0, IMAGE_BYTES / 4096 - 1).map(b -> b * 4096));
        Arbitrary<Integer> lengths = Arbitraries.oneOf(Arbitraries.integers().between(1, MAX_LENGTH),
                Arbitraries.integers().between(1, 16).map(n -> n * 4096));
        return Combinators.combine(offsets, lengths).as((off, len) -> new long[] {off, Math.min(len, IMAGE_BYTES - off)});
    }

    @AfterTry
    void closeServers() throws java.io.IOException {
        for (NbdState s : opened) {
            s.close();
        }
        opened.clear();
    }
}
