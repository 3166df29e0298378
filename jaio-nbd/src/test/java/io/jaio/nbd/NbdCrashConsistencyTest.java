// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.RandomAccessFile;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * Acknowledged writes survive {@code kill -9} of the server. Each round, on a server started with
 * {@code -t} (so that it does not stop, and flush, when the client leaves), qemu-io (with
 * {@code -t writeback}, else every write carries FUA) writes with FUA ({@code write -f}:
 * NBD_CMD_FLAG_FUA, pwritev2 with RWF_DSYNC on the server), writes without it (a plain pwrite) and
 * then flushes (NBD_CMD_FLUSH, fdatasync) — checked once with strace on {@code --aio=threads} —
 * all at offsets and lengths that differ per round (some unaligned); as soon as qemu-io has
 * exited with every write and the flush acknowledged, the server gets SIGKILL. A new server is
 * started on the same image and every byte acknowledged in this round and all earlier rounds is
 * read back through it (qemu-io {@code read -P}) and straight from the file.
 *
 * <p>What this proves: the server acknowledges a write only once the data has reached the kernel
 * (the pwrite or the io_uring write completed), nothing is held back in a user-space buffer or
 * queue that a crash of the process would lose, and a restarted server sees it all; for FUA
 * writes and flushes it also exercises the RWF_DSYNC / fdatasync paths before the reply.
 *
 * <p>What it cannot prove: that the data would survive a power loss or a kernel crash. After
 * {@code kill -9} the page cache is intact, so an fdatasync skipped or done after the reply would
 * go unnoticed here; only a test that drops the page cache of a device that can lose its cache
 * (dm-flakey, dm-log-writes, or a VM that is reset) can check that.
 */
class NbdCrashConsistencyTest {
    private static final int ROUNDS = 4;
    private static final long IMAGE_SIZE = 64L << 20;

    @TempDir
    Path dir;

    /** One acknowledged write: where, how long, which byte. */
    private record Ack(long offset, long length, int pattern, String how) {
    }

    @ParameterizedTest(name = "--aio={0}")
    @ValueSource(strings = {"io_uring", "write-threads"})
    @Timeout(value = 5, unit = TimeUnit.MINUTES)
    void acknowledgedFuaAndFlushedWritesSurviveKillNine(String aio) throws Exception {
        assumeTrue(NbdServerProcess.have("qemu-io"), "qemu-io (qemu-utils) is not installed");
        Path image = dir.resolve("disk.img");
        try (var raf = new RandomAccessFile(image.toFile(), "rw")) {
            raf.setLength(IMAGE_SIZE);
        }
        String sock = dir.resolve("nbd.sock").toString();
        String uri = "nbd+unix:///?socket=" + sock;
        Random rnd = new Random(20260523);
        List<Ack> acked = new ArrayList<>();
        long region = IMAGE_SIZE / ROUNDS;
        long ackedBytes = 0;
        NbdServerProcess server = NbdServerProcess.start(image, sock, dir.resolve("server-0.log"), "-t", "--aio=" + aio);
        try {
            for (int round = 0; round < ROUNDS; round++) {
                long base = round * region;
                // Three non-overlapping writes inside this round's region: FUA, then two plain ones flushed.
                Ack fua = new Ack(base + rnd.nextInt(64) * 4096L + (round % 2 == 0 ? 0 : 512), 4096L * (1 + rnd.nextInt(64)),
                        0x10 + round, "FUA");
                Ack big = new Ack(base + (2L << 20) + rnd.nextInt(1024) * 512L, (1L << 20) + rnd.nextInt(4096),
                        0x40 + round, "flushed");
                Ack small = new Ack(base + (6L << 20) + rnd.nextInt(4096), 1 + rnd.nextInt(8192), 0x80 + round, "flushed");
                // -t writeback: qemu-io's default (writethrough) would send every write with FUA.
                Object[] r = NbdServerProcess.run(60, "qemu-io", "-t", "writeback", "-f", "raw",
                    "-c", "write -P " + fua.pattern + " -f " + fua.offset + " " + fua.length,
                    "-c", "write -P " + big.pattern + " " + big.offset + " " + big.length,
                    "-c", "write -P " + small.pattern + " " + small.offset + " " + small.length,
                    "-c", "flush", uri);
                assertEquals(0, r[0], "round " + round + ": qemu-io writes: " + r[1]);
                assertFalse(((String) r[1]).contains("failed"), "round " + round + ": " + r[1]);
                server.kill9(); // every write above is acknowledged; nothing graceful happens now
                acked.add(fua);
                acked.add(big);
                acked.add(small);
                ackedBytes += fua.length + big.length + small.length;

                server = NbdServerProcess.start(image, sock, dir.resolve("server-" + (round + 1) + ".log"), "-t", "--aio=" + aio);
                List<String> cmd = new ArrayList<>(List.of("qemu-io", "-f", "raw", "-r"));
                for (Ack a : acked) {
                    cmd.addAll(List.of("-c", "read -P " + a.pattern + " " + a.offset + " " + a.length));
                }
                cmd.add(uri);
                Object[] v = NbdServerProcess.run(60, cmd.toArray(new String[0]));
                assertEquals(0, v[0], "round " + round + ": acknowledged data lost after kill -9: " + v[1]);
                assertFalse(((String) v[1]).contains("verification failed"), "round " + round + ": " + v[1]);
                checkFile(image, acked, round);
            }
            assertEquals(0, server.stop(), "graceful stop at the end");
        } finally {
            server.close();
        }
        System.out.printf("NbdCrashConsistencyTest: %d rounds of kill -9 after acknowledged writes; %d writes (%d with FUA,"
                + " %d flushed), %d bytes, all found after every restart%n", ROUNDS, acked.size(), ROUNDS, 2 * ROUNDS,
                ackedBytes);
    }

    /** The same check straight on the file, not through the server. */
    private static void checkFile(Path image, List<Ack> acked, int round) throws Exception {
        try (var raf = new RandomAccessFile(image.toFile(), "r")) {
            for (Ack a : acked) {
                byte[] b = new byte[(int) a.length];
                raf.seek(a.offset);
                raf.readFully(b);
                for (int i = 0; i < b.length; i++) {
                    if ((b[i] & 0xff) != a.pattern) {
                        throw new AssertionError("round " + round + ": " + a.how + " write at " + a.offset + "+" + a.length
                                + ": byte " + (a.offset + i) + " is 0x" + Integer.toHexString(b[i] & 0xff) + " (expected 0x"
                                + Integer.toHexString(a.pattern) + ")");
                    }
                }
            }
        }
        assertEquals(IMAGE_SIZE, image.toFile().length(), "image size");
    }
}
