// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Power loss under a real jaio-nbd server: the server's file engine is a
 * {@link PowerLossFileIoEngine} (through the {@code NbdServer.testEngineFactory} hook), a client
 * keeps up to 8 requests in flight (writes of 1 B to 40 KiB at any alignment, WRITE_ZEROES with and
 * without NO_HOLE, TRIM, each with or without FUA; FLUSH; READ), and at a random moment, with
 * requests in flight, the power is cut: the engine keeps a random subset of the 4 KiB pieces written
 * since the last completed flush and fails everything after. The server is stopped, a new one is
 * started on the same image (the reopen), and the whole image is read back through it.
 *
 * <p>Invariant, per byte: the last write to it that was acknowledged with FUA, or acknowledged
 * before an acknowledged FLUSH was sent, is what the byte holds, unless a later write to it was
 * not durable, in which case the byte holds that durable value or the value of one of the later
 * writes (never anything else). READs during a run must return the latest write (requests in
 * flight never overlap, so that is exact). Every byte is checked, after every cut.
 *
 * <p>Runs: {@code -Djaio.powerloss.cuts=N} cuts (default 2000, capped at
 * {@code -Djaio.powerloss.maxSeconds}, default 40, after at least 200), seed printed,
 * {@code -Djaio.powerloss.seed=S} to replay.
 *
 * <p>The image format is a parameter: raw; qcow2 (64 KiB clusters); qcow2-backing (a qcow2
 * overlay, 64 KiB clusters, on a raw backing file holding random bytes, so that writes copy
 * clusters from it). The engine sits under all of the qcow2 driver's file I/O (guest data, L1,
 * L2 and refcount tables, the header, the backing file's reads), so its metadata is cut too. On
 * qcow2 the run's TRIMs cover whole clusters (jaio leaves partial clusters alone, which NBD
 * allows), and every {@code -Djaio.powerloss.checkEvery} cuts (default 10) and after the last one
 * {@code qemu-img check} must find no corruption (leaked clusters are allowed: the ordering rules
 * leave at worst leaks). The qcow2 formats do {@code -Djaio.powerloss.qcow2Cuts} cuts (default
 * 1000) with a cap of {@code -Djaio.powerloss.qcow2MaxSeconds} (default 20, after at least 100).
 */
class NbdPowerLossTest {
    static final int IMAGE_BYTES = 1 << 20;
    static final int MAX_WRITE = 40 << 10;
    static final int DEPTH = 8;
    static final int CUTS = Integer.getInteger("jaio.powerloss.cuts", 2000);
    /** A time cap for the suite on a loaded machine: stop early (after at least 200 cuts) past it. */
    static final long MAX_SECONDS = Long.getLong("jaio.powerloss.maxSeconds", 40);
    static final int QCOW2_CUTS = Integer.getInteger("jaio.powerloss.qcow2Cuts", 1000);
    static final long QCOW2_MAX_SECONDS = Long.getLong("jaio.powerloss.qcow2MaxSeconds", 20);
    /** qemu-img check (a process start) after every this many cuts on qcow2, and after the last. */
    static final int CHECK_EVERY = Integer.getInteger("jaio.powerloss.checkEvery", 10);
    /** Cluster size of the qcow2 images (qemu-img's default). */
    static final int CLUSTER = 64 << 10;

    @TempDir
    Path dir;

    @AfterEach
    void removeHook() {
        NbdServer.testEngineFactory = null;
    }

    /** One request sent in a run, with what the client learnt about it. */
    static final class Op {
        final int type;
        final int flags;
        final long offset;
        final int length;
        final byte[] data; // what a write leaves (zeroes for WRITE_ZEROES and TRIM); null otherwise
        final long cookie;
        final long sentAt;
        long ackedAt = -1; // client event counter when a successful reply arrived
        int error = -1;
        byte[] expectedRead;

        Op(int type, int flags, long offset, int length, byte[] data, long cookie, long sentAt) {
            this.type = type;
            this.flags = flags;
            this.offset = offset;
            this.length = length;
            this.data = data;
            this.cookie = cookie;
            this.sentAt = sentAt;
        }

        boolean writes() {
            return data != null;
        }

        boolean overlaps(long off, int len) {
            return offset < off + len && off < offset + length;
        }
    }

    /** Totals over the whole test, for the report line. */
    long requests;
    long acked;
    long durableWrites;
    long bytesChecked;
    long piecesKept;
    long piecesLost;
    long volatileAllowed;
    long qemuChecks;
    /** Successful READs after the cut over a failed write, left unchecked (qcow2 reads of unallocated clusters). */
    long readsUnchecked;
    long leakedClustersSeen;
    /** The format of the running test, for the TRIM rule in {@link #run}. */
    String format = "raw";
    /** The cut the running cycle ends in, for failure messages. */
    int currentCut;

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"raw", "qcow2", "qcow2-backing"})
    void acknowledgedDurableWritesSurviveEveryPowerCut(String format) throws Exception {
        assumeFormat(format);
        this.format = format;
        boolean qcow2 = !"raw".equals(format);
        int cutsWanted = qcow2 ? QCOW2_CUTS : CUTS;
        long maxSeconds = qcow2 ? QCOW2_MAX_SECONDS : MAX_SECONDS;
        int minCuts = qcow2 ? 100 : 200;
        long seed = Long.getLong("jaio.powerloss.seed", System.nanoTime());
        System.out.println("NbdPowerLossTest: format " + format + ", " + cutsWanted + " cuts, seed " + seed
                + " (-Djaio.powerloss.seed=" + seed + " replays the client's choices)");
        Random rnd = new Random(seed);
        Path image = createImage(format);
        imageUnderTest = image;
        byte[] durable = new byte[IMAGE_BYTES]; // what the image holds after the last cut (verified)
        List<PowerLossFileIoEngine> engines = new CopyOnWriteArrayList<>();
        NbdServer.testEngineFactory = ctx -> {
            PowerLossFileIoEngine e = new PowerLossFileIoEngine(ctx);
            engines.add(e);
            return e;
        };
        long t0 = System.nanoTime();
        int cuts = cutsWanted;
        for (int cut = 0; cut < cuts; cut++) {
            if (cut >= minCuts && System.nanoTime() - t0 > maxSeconds * 1_000_000_000L) {
                System.out.println("NbdPowerLossTest: time cap of " + maxSeconds + " s reached after " + cut
                        + " cuts (-Djaio.powerloss." + (qcow2 ? "qcow2MaxSeconds" : "maxSeconds") + " raises it)");
                cuts = cut;
                break;
            }
            engines.clear();
            currentCut = cut;
            Path sock = dir.resolve("s" + (cut % 4) + ".sock");
            List<Op> ops;
            try (NbdTestSupport.Server s = NbdTestSupport.Server.start(image, "-k", sock.toString(), "-f", driverFormat(format))) {
                try (RawClient c = s.connect().handshake(false)) {
                    byte[] now = readAll(c);
                    if (cut > 0) {
                        verify(cut, seed, now);
                    }
                    durable = now;
                    ops = run(c, rnd, durable, engines);
                }
            }
            for (PowerLossFileIoEngine e : engines) {
                piecesKept += e.piecesKept;
                piecesLost += e.piecesLost;
                e.close();
            }
            expect(durable, ops); // turns durable into the per-byte expectation, checked at the next start
            pendingOps = ops;
            if (qcow2 && cut % CHECK_EVERY == CHECK_EVERY - 1) {
                checkImage(format, image, "after cut " + (cut + 1) + " (seed " + seed + ")");
            }
        }
        try (NbdTestSupport.Server s = NbdTestSupport.Server.start(image, "-k", dir.resolve("last.sock").toString(), "-f", driverFormat(format));
                RawClient c = s.connect().handshake(false)) {
            verify(cuts, seed, readAll(c));
        }
        checkImage(format, image, "after the last cut (seed " + seed + ")");
        System.out.printf("NbdPowerLossTest: %d cuts survived in %.1f s: %d requests, %d acknowledged, %d durable writes"
                + " checked, %d bytes compared; volatile 4 KiB pieces kept %d, lost %d; bytes legitimately holding a"
                + " volatile write %d; %d qemu-img checks without corruption (most leaked clusters seen: %d); %d reads after"
                + " the cut over a failed write unchecked; seed %d%n", cuts, (System.nanoTime() - t0) / 1e9, requests, acked,
                durableWrites, bytesChecked, piecesKept, piecesLost, volatileAllowed, qemuChecks, leakedClustersSeen,
                readsUnchecked, seed);
    }

    /**
     * The same cuts under a real client: each cycle qemu-io ({@code -t writeback}, so that only
     * {@code write -f} carries FUA) runs 2-12 commands (pattern writes of 1 B to 64 KiB, some with
     * FUA, and flushes) against a server over the power-loss engine and then its {@code abort}
     * command (a clean exit would flush on close); then the power is cut, and the next server
     * reads the image back for the same byte-by-byte check.
     * {@code -Djaio.powerloss.qemuCuts=N} (default 25).
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"raw", "qcow2"})
    void qemuIoWritesSurvivePowerCuts(String format) throws Exception {
        assumeFormat(format);
        this.format = format;
        org.junit.jupiter.api.Assumptions.assumeTrue(NbdServerProcess.have("qemu-io"), "qemu-io (qemu-utils) is not installed");
        int cuts = Integer.getInteger("jaio.powerloss.qemuCuts", 25);
        long seed = Long.getLong("jaio.powerloss.seed", System.nanoTime());
        System.out.println("NbdPowerLossTest (qemu-io): format " + format + ", " + cuts + " cuts, seed " + seed);
        Random rnd = new Random(seed);
        Path image = createImage(format);
        List<PowerLossFileIoEngine> engines = new CopyOnWriteArrayList<>();
        NbdServer.testEngineFactory = ctx -> {
            PowerLossFileIoEngine e = new PowerLossFileIoEngine(ctx);
            engines.add(e);
            return e;
        };
        long t0 = System.nanoTime();
        long commands = 0;
        for (int cut = 0; cut <= cuts; cut++) {
            engines.clear();
            Path sock = dir.resolve("q" + (cut % 4) + ".sock");
            try (NbdTestSupport.Server s = NbdTestSupport.Server.start(image, "-k", sock.toString(), "-f", driverFormat(format), "-t")) {
                byte[] now;
                try (RawClient c = s.connect().handshake(false)) {
                    now = readAll(c);
                }
                if (cut > 0) {
                    verify(cut, seed, now);
                }
                if (cut == cuts) {
                    break;
                }
                List<Op> ops = new ArrayList<>();
                // stdbuf: qemu-io's output must survive the abort at the end, which stands for the
                // client dying with the power (a clean exit would flush the image on close).
                List<String> cmd = new ArrayList<>(List.of("stdbuf", "-oL", "qemu-io", "-t", "writeback", "-f", "raw"));
                int writes = 0;
                int n = 2 + rnd.nextInt(11);
                long clock = 0;
                for (int i = 0; i < n; i++) {
                    if (rnd.nextInt(5) == 0) {
                        cmd.addAll(List.of("-c", "flush"));
                        Op f = new Op(Nbd.CMD_FLUSH, 0, 0, 0, null, 0, clock++);
                        f.ackedAt = clock++;
                        ops.add(f);
                        continue;
                    }
                    int len = 1 + rnd.nextInt(64 << 10);
                    long off = rnd.nextInt(IMAGE_BYTES - len + 1);
                    int pattern = 1 + rnd.nextInt(255);
                    boolean fua = rnd.nextInt(3) == 0;
                    cmd.addAll(List.of("-c", "write -P " + pattern + (fua ? " -f " : " ") + off + " " + len));
                    byte[] data = new byte[len];
                    Arrays.fill(data, (byte) pattern);
                    writes++;
                    Op w = new Op(Nbd.CMD_WRITE, fua ? Nbd.CMD_FLAG_FUA : 0, off, len, data, 0, clock++);
                    w.ackedAt = clock++; // qemu-io runs its commands one after the other
                    ops.add(w);
                }
                cmd.addAll(List.of("-c", "abort", s.uri()));
                Object[] r = NbdServerProcess.run(60, cmd.toArray(new String[0]));
                String out = (String) r[1];
                assertEquals(134, r[0], "qemu-io should end in its abort command (SIGABRT): " + out);
                if (out.contains("failed") || out.split("\nwrote |^wrote ", -1).length - 1 != writes) {
                    fail("qemu-io did not report all " + writes + " writes done: " + out);
                }
                commands += n;
                requests += n;
                acked += n;
                cut(engines, rnd);
                expect(now, ops);
                pendingOps = ops;
            }
            for (PowerLossFileIoEngine e : engines) {
                piecesKept += e.piecesKept;
                piecesLost += e.piecesLost;
                e.close();
            }
            if (!"raw".equals(format) && cut < cuts) {
                checkImage(format, image, "after qemu-io cut " + (cut + 1) + " (seed " + seed + ")");
            }
        }
        checkImage(format, image, "after the last qemu-io cut (seed " + seed + ")");
        System.out.printf("NbdPowerLossTest (qemu-io): %d cuts survived in %.1f s: %d qemu-io commands, %d durable writes"
                + " checked, %d bytes compared; volatile 4 KiB pieces kept %d, lost %d; %d qemu-img checks without"
                + " corruption (most leaked clusters seen: %d); seed %d%n", cuts, (System.nanoTime() - t0) / 1e9, commands,
                durableWrites, bytesChecked, piecesKept, piecesLost, qemuChecks, leakedClustersSeen, seed);
    }

    /** {@code -Djaio.powerloss.format=F} runs the format F only (to replay a seed, or a long run of one format). */
    private static void assumeFormat(String format) {
        String only = System.getProperty("jaio.powerloss.format");
        org.junit.jupiter.api.Assumptions.assumeTrue(only == null || only.equals(format),
                "-Djaio.powerloss.format=" + only + " leaves out " + format);
    }

    /** The format jaio-nbd is told ({@code -f}). */
    private static String driverFormat(String format) {
        return "raw".equals(format) ? "raw" : "qcow2";
    }

    /**
     * The image for {@code format}, {@link #IMAGE_BYTES} of guest data: raw and qcow2 all zeroes,
     * qcow2-backing an overlay on a raw file of random bytes.
     */
    private Path createImage(String format) throws Exception {
        Path image = dir.resolve("disk." + format);
        switch (format) {
            case "raw" -> {
                Files.write(image, new byte[0]);
                try (var ch = java.nio.channels.FileChannel.open(image, java.nio.file.StandardOpenOption.WRITE)) {
                    ch.truncate(IMAGE_BYTES);
                    ch.write(java.nio.ByteBuffer.allocate(1), IMAGE_BYTES - 1);
                }
            }
            case "qcow2" -> {
                Qcow2Tools.assumeQemu();
                Qcow2Tools.create(image, Integer.toString(IMAGE_BYTES), "cluster_size=" + CLUSTER, null, null);
            }
            case "qcow2-backing" -> {
                Qcow2Tools.assumeQemu();
                NbdTestSupport.randomImage(dir.resolve("base.raw"), IMAGE_BYTES, 16);
                Qcow2Tools.create(image, Integer.toString(IMAGE_BYTES), "cluster_size=" + CLUSTER, dir.resolve("base.raw"), "raw");
            }
            default -> throw new IllegalArgumentException("format=" + format
                    + " (expected raw, qcow2 or qcow2-backing; add the creation of other formats here)");
        }
        return image;
    }

    /** Format-specific consistency check: raw keeps its size; qcow2 passes {@code qemu-img check} (leaks allowed). */
    private void checkImage(String format, Path image, String when) throws Exception {
        if ("raw".equals(format)) {
            assertEquals(IMAGE_BYTES, image.toFile().length(), "raw image size " + when);
            return;
        }
        qemuChecks++;
        leakedClustersSeen = Math.max(leakedClustersSeen, Qcow2Tools.assertNoCorruption(image, when));
    }

    private static byte[] readAll(RawClient c) throws Exception {
        RawClient.Reply r = c.read(0, IMAGE_BYTES);
        assertEquals(0, r.error(), "whole-image read after the reopen");
        return r.data();
    }

    /**
     * One run: random requests with up to {@link #DEPTH} in flight, none overlapping another in
     * flight, then a power cut at a random point with requests still in flight, then the replies.
     */
    private List<Op> run(RawClient c, Random rnd, byte[] start, List<PowerLossFileIoEngine> engines) throws Exception {
        byte[] view = start.clone(); // what reads must return: every write issued so far, in order
        List<Op> ops = new ArrayList<>();
        List<Op> inFlight = new ArrayList<>();
        long[] clock = {0};
        int total = 4 + rnd.nextInt(40);
        int cutAfter = rnd.nextInt(total + 1);
        long cookie = 1;
        for (int n = 0; n < total; n++) {
            if (n == cutAfter) {
                cut(engines, rnd);
            }
            int kind = rnd.nextInt(100);
            int type;
            int flags = 0;
            long off;
            int len;
            if (kind < 12) {
                type = Nbd.CMD_FLUSH;
                off = 0;
                len = 0;
            } else {
                len = 1 + (rnd.nextBoolean() ? rnd.nextInt(MAX_WRITE) : rnd.nextInt(3) * 4096 + 4096);
                off = rnd.nextInt(IMAGE_BYTES - len + 1);
                if (rnd.nextBoolean()) {
                    off &= ~4095L;
                }
                if (kind < 52) {
                    type = Nbd.CMD_WRITE;
                } else if (kind < 64) {
                    type = Nbd.CMD_WRITE_ZEROES;
                    flags |= rnd.nextBoolean() ? Nbd.CMD_FLAG_NO_HOLE : 0;
                } else if (kind < 74) {
                    type = Nbd.CMD_TRIM;
                    if (!"raw".equals(format)) { // whole clusters: jaio leaves partial ones alone (NBD allows it)
                        off &= ~(long) (CLUSTER - 1);
                        len = (int) Math.min(((long) len + CLUSTER - 1) & ~(long) (CLUSTER - 1), IMAGE_BYTES - off);
                    }
                } else {
                    type = Nbd.CMD_READ;
                }
                if (type != Nbd.CMD_READ && rnd.nextInt(3) == 0) {
                    flags |= Nbd.CMD_FLAG_FUA;
                }
            }
            while (inFlight.size() >= DEPTH || overlapsAny(inFlight, off, len)) {
                receive(c, inFlight, clock);
            }
            byte[] data = null;
            byte[] payload = null;
            if (type == Nbd.CMD_WRITE) {
                data = new byte[len];
                rnd.nextBytes(data);
                payload = data;
            } else if (type == Nbd.CMD_WRITE_ZEROES || type == Nbd.CMD_TRIM) {
                data = new byte[len];
            }
            Op op = new Op(type, flags, off, len, data, cookie++, clock[0]++);
            if (type == Nbd.CMD_READ) {
                // Unchecked when an earlier write over the range failed (after the cut): its bytes are
                // either value then. On qcow2 a read needs no file I/O where no cluster is allocated,
                // so it can succeed after the cut.
                op.expectedRead = failedOverlaps(ops, off, len) ? null : Arrays.copyOfRange(view, (int) off, (int) off + len);
            } else if (data != null) {
                System.arraycopy(data, 0, view, (int) off, len);
            }
            c.request(flags, type, op.cookie, off, len, payload);
            requests++;
            ops.add(op);
            inFlight.add(op);
        }
        if (cutAfter == total) {
            cut(engines, rnd);
        }
        while (!inFlight.isEmpty()) {
            receive(c, inFlight, clock);
        }
        return ops;
    }

    /** Whether a write in {@code ops} over [off, off + len) failed (all of them have replied: none is in flight). */
    private static boolean failedOverlaps(List<Op> ops, long off, int len) {
        for (Op o : ops) {
            if (o.writes() && o.error > 0 && o.overlaps(off, len)) {
                return true;
            }
        }
        return false;
    }

    private static boolean overlapsAny(List<Op> inFlight, long off, int len) {
        if (len == 0) {
            return false;
        }
        for (Op o : inFlight) {
            if (o.length > 0 && o.overlaps(off, len)) {
                return true;
            }
        }
        return false;
    }

    private void receive(RawClient c, List<Op> inFlight, long[] clock) throws Exception {
        RawClient.Reply r = c.readReply();
        Op op = null;
        for (Op o : inFlight) {
            if (o.cookie == r.cookie()) {
                op = o;
            }
        }
        if (op == null) {
            fail("reply for cookie " + r.cookie() + ", which is not in flight");
        }
        inFlight.remove(op);
        op.error = r.error();
        if (r.error() == 0) {
            op.ackedAt = clock[0]++;
            acked++;
            if (op.type == Nbd.CMD_READ && op.expectedRead == null) {
                readsUnchecked++;
            } else if (op.type == Nbd.CMD_READ && !Arrays.equals(op.expectedRead, r.data())) {
                int i = Arrays.mismatch(op.expectedRead, r.data());
                fail("READ " + op.offset + "+" + op.length + " before the cut did not return the latest writes: byte "
                        + (op.offset + i) + " is " + (r.data() == null || i >= r.data().length ? "missing" : r.data()[i])
                        + ", expected " + (i < op.expectedRead.length ? op.expectedRead[i] : "no byte") + " (run of cut "
                        + currentCut + ", format " + format + ")");
            }
        } else if (r.error() != 5) {
            fail("request type " + op.type + " at " + op.offset + "+" + op.length + " failed with NBD error " + r.error()
                    + " (expected success, or EIO after the power cut)");
        }
    }

    /** Cuts the power of every engine of the running server, on its home thread, and waits. */
    private static void cut(List<PowerLossFileIoEngine> engines, Random rnd) throws Exception {
        long seed = rnd.nextLong();
        for (PowerLossFileIoEngine e : engines) {
            CompletableFuture<Void> done = new CompletableFuture<>();
            e.context().scheduleOneShot("power-cut", () -> {
                e.cut(new Random(seed));
                done.complete(null);
            });
            done.get(NbdTestSupport.STOP_TIMEOUT_S, TimeUnit.SECONDS);
        }
    }

    /** The ops of the last run, whose outcome {@link #verify} checks against the expectation. */
    private List<Op> pendingOps = List.of();
    /** Per byte: the index in pendingOps of the last durable write over it, or -1 (the previous image). */
    private int[] lastDurable = new int[IMAGE_BYTES];
    private byte[] expected = new byte[IMAGE_BYTES];

    /** Computes, from the run's ops, what each byte must hold after the cut. */
    private void expect(byte[] before, List<Op> ops) {
        expected = before.clone();
        Arrays.fill(lastDurable, -1);
        for (int i = 0; i < ops.size(); i++) {
            Op o = ops.get(i);
            if (!o.writes() || o.ackedAt < 0) {
                continue;
            }
            boolean durableOp = (o.flags & Nbd.CMD_FLAG_FUA) != 0 || flushAckedAfter(ops, o.ackedAt);
            if (durableOp) {
                durableWrites++;
                System.arraycopy(o.data, 0, expected, (int) o.offset, o.length);
                Arrays.fill(lastDurable, (int) o.offset, (int) o.offset + o.length, i);
            }
        }
    }

    /** Whether a FLUSH sent after {@code ackedAt} was acknowledged. */
    private static boolean flushAckedAfter(List<Op> ops, long ackedAt) {
        for (Op f : ops) {
            if (f.type == Nbd.CMD_FLUSH && f.ackedAt >= 0 && f.sentAt > ackedAt) {
                return true;
            }
        }
        return false;
    }

    private void verify(int cut, long seed, byte[] actual) {
        for (int b = 0; b < IMAGE_BYTES; b++) {
            bytesChecked++;
            if (actual[b] == expected[b]) {
                continue;
            }
            boolean allowed = false;
            for (int i = lastDurable[b] + 1; i < pendingOps.size() && !allowed; i++) {
                Op o = pendingOps.get(i);
                allowed = o.writes() && o.overlaps(b, 1) && o.data[(int) (b - o.offset)] == actual[b];
            }
            if (!allowed) {
                int d = lastDurable[b];
                fail("after cut " + cut + " (seed " + seed + "): byte " + b + " is " + actual[b] + ", expected "
                        + expected[b] + (d >= 0 ? " from the durable write " + describe(pendingOps.get(d))
                        : " (from before the run)") + " or a later write's byte; the run: " + describeAll(pendingOps) + qcow2Map());
            }
            volatileAllowed++;
        }
    }

    /** The image being tested (for qcow2 diagnostics in failure messages). */
    private Path imageUnderTest;

    /** For a failure message on qcow2: where qemu-img maps the guest clusters, and a copy of the image. */
    private String qcow2Map() {
        if ("raw".equals(format) || imageUnderTest == null) {
            return "";
        }
        try {
            Path copy = Path.of("target", "powerloss-failed-" + format + ".qcow2");
            Files.copy(imageUnderTest, copy, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            return "\nimage kept as " + copy.toAbsolutePath() + "; qemu-img map:\n"
                    + NbdTestSupport.run("qemu-img", "map", "-U", imageUnderTest.toString()).output();
        } catch (Exception e) {
            return "\n(no qemu-img map: " + e + ")";
        }
    }

    private static String describe(Op o) {
        return "type " + o.type + " flags " + o.flags + " " + o.offset + "+" + o.length + (o.ackedAt >= 0 ? " acked" : " err " + o.error);
    }

    private static String describeAll(List<Op> ops) {
        StringBuilder sb = new StringBuilder();
        for (Op o : ops) {
            sb.append("\n  ").append(describe(o)).append(" sent@").append(o.sentAt).append(" acked@").append(o.ackedAt);
        }
        return sb.toString();
    }
}
