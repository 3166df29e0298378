// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code kill -9} of a real {@code jaio nbd serve} process (its own JVM, {@link NbdServerProcess})
 * while 4 connections each keep 32 writes in flight, 20 rounds ({@code -Djaio.nbd.kill.rounds=N}).
 * Each connection owns a quarter of the image, cut into 64 KiB slots; a write (1 B to 64 KiB of
 * random bytes, inside one slot, FUA on one in four) goes to a slot with no write in flight, and
 * every 16th request is a FLUSH. Once every connection has had 64 writes acknowledged, and a random
 * 0-100 ms later, the server is killed, with the queues full; the
 * clients record which replies arrived. A new server is started on the same image and the whole
 * image is read through it and straight from the file.
 *
 * <p>Invariants, per byte: the last write to it that was acknowledged before the kill is there
 * (FUA or flushed ones are what the contract promises; after SIGKILL the page cache survives, so
 * every acknowledged write must be, and that is what is checked), unless a later write to it was
 * in flight, in which case the byte is that acknowledged value or the in-flight write's; a byte no
 * acknowledged write touched holds its previous value or an in-flight write's. Nothing else.
 *
 * <p>The same on qcow2 (64 KiB clusters, so a slot is a cluster and most first writes copy the
 * rest of it; the four connections' coroutines share one image's locks and tables on two I/O
 * threads), 8 rounds ({@code -Djaio.nbd.kill.qcow2Rounds=N}): after each kill, before the
 * restart, {@code qemu-img check} must find no corruption (leaked clusters are allowed), and the
 * image is read back through the new server and through {@code qemu-img convert}.
 */
class NbdKillInFlightTest {
    static final int CONNECTIONS = 4;
    static final int DEPTH = 32;
    static final int SLOT = 64 << 10;
    static final int SLOTS_PER_CONNECTION = 64;
    static final int IMAGE_BYTES = CONNECTIONS * SLOTS_PER_CONNECTION * SLOT;
    static final int ROUNDS = Integer.getInteger("jaio.nbd.kill.rounds", 20);
    static final int QCOW2_ROUNDS = Integer.getInteger("jaio.nbd.kill.qcow2Rounds", 8);

    @TempDir
    Path dir;

    /** One write: where, what, and whether its reply arrived before the kill. */
    static final class Write {
        final long offset;
        final byte[] data;
        final boolean fua;
        boolean acked; // written by the client thread; read by the test thread after join()

        Write(long offset, byte[] data, boolean fua) {
            this.offset = offset;
            this.data = data;
            this.fua = fua;
        }
    }

    /** One connection's client: keeps DEPTH requests in flight until the server dies. */
    static final class Client extends Thread {
        final RawClient c;
        final int index;
        final Random rnd;
        /** Writes in issue order (this connection's slots only). */
        final List<Write> writes = new ArrayList<>();
        final AtomicBoolean stop;
        final ConcurrentLinkedQueue<Throwable> failures;
        volatile long acked; // written by this client's thread only; read by the test thread while it waits
        long inFlightAtEnd;
        long flushesAcked;

        long ackedSoFar() {
            return acked;
        }

        Client(RawClient c, int index, long seed, AtomicBoolean stop, ConcurrentLinkedQueue<Throwable> failures) {
            super("kill-client-" + index);
            this.c = c;
            this.index = index;
            this.rnd = new Random(seed);
            this.stop = stop;
            this.failures = failures;
        }

        @Override
        public void run() {
            java.util.Map<Long, Write> inFlight = new java.util.HashMap<>();
            java.util.Set<Long> flushes = new java.util.HashSet<>();
            boolean[] busy = new boolean[SLOTS_PER_CONNECTION];
            long cookie = 1;
            try {
                while (true) {
                    while (inFlight.size() + flushes.size() < DEPTH && !stop.get()) {
                        if (cookie % 16 == 0) {
                            c.request(0, Nbd.CMD_FLUSH, cookie, 0, 0, null);
                            flushes.add(cookie++);
                            continue;
                        }
                        int slot = rnd.nextInt(SLOTS_PER_CONNECTION);
                        while (busy[slot]) {
                            slot = (slot + 1) % SLOTS_PER_CONNECTION;
                        }
                        int len = 1 + rnd.nextInt(SLOT);
                        int within = rnd.nextInt(SLOT - len + 1);
                        long off = (long) (index * SLOTS_PER_CONNECTION + slot) * SLOT + within;
                        byte[] data = new byte[len];
                        rnd.nextBytes(data);
                        Write w = new Write(off, data, rnd.nextInt(4) == 0);
                        busy[slot] = true;
                        writes.add(w);
                        inFlight.put(cookie, w);
                        c.request(w.fua ? Nbd.CMD_FLAG_FUA : 0, Nbd.CMD_WRITE, cookie++, off, len, data);
                    }
                    if (inFlight.isEmpty() && flushes.isEmpty()) {
                        return;
                    }
                    RawClient.Reply r = c.readReply();
                    if (r.error() != 0) {
                        throw new AssertionError("connection " + index + ": request " + r.cookie() + " failed with NBD error "
                                + r.error() + ": " + r.message());
                    }
                    if (flushes.remove(r.cookie())) {
                        flushesAcked++;
                        continue;
                    }
                    Write w = inFlight.remove(r.cookie());
                    w.acked = true;
                    acked = acked + 1; // single writer (this thread)
                    busy[(int) (w.offset / SLOT) % SLOTS_PER_CONNECTION] = false;
                }
            } catch (IOException | AssertionError e) {
                if (!stop.get()) {
                    failures.add(e); // the connection broke before the kill
                }
                inFlightAtEnd = inFlight.size();
            } catch (RuntimeException e) {
                failures.add(e);
            }
        }
    }

    @ParameterizedTest(name = "--aio={0}")
    @ValueSource(strings = {"io_uring", "write-threads"})
    @Timeout(value = 5, unit = TimeUnit.MINUTES)
    void killNineWithWritesInFlightKeepsEveryAcknowledgedWrite(String aio) throws Exception {
        killRounds("raw", aio, ROUNDS);
    }

    @Test
    @Timeout(value = 5, unit = TimeUnit.MINUTES)
    void killNineWithWritesInFlightOnQcow2KeepsEveryAcknowledgedWriteAndNoCorruption() throws Exception {
        Qcow2Tools.assumeQemu();
        killRounds("qcow2", "write-threads", QCOW2_ROUNDS); // the default engine for a buffered image
    }

    private void killRounds(String format, String aio, int rounds) throws Exception {
        long seed = Long.getLong("jaio.nbd.kill.seed", System.nanoTime());
        System.out.println("NbdKillInFlightTest: " + format + ", --aio=" + aio + ", " + rounds + " rounds, seed " + seed);
        Random rnd = new Random(seed);
        Path image = dir.resolve("disk." + format);
        boolean qcow2 = format.equals("qcow2");
        if (qcow2) {
            Qcow2Tools.create(image, Integer.toString(IMAGE_BYTES), "cluster_size=" + SLOT, null, null);
        } else {
            try (RandomAccessFile raf = new RandomAccessFile(image.toFile(), "rw")) {
                raf.setLength(IMAGE_BYTES);
            }
        }
        String sock = dir.resolve("nbd.sock").toString();
        byte[] before = new byte[IMAGE_BYTES];
        long totalAcked = 0;
        long totalInFlight = 0;
        long totalWrites = 0;
        long totalFlushes = 0;
        long bytesChecked = 0;
        long checks = 0;
        long mostLeaks = 0;
        NbdServerProcess server = NbdServerProcess.start(image, sock, dir.resolve("server-0.log"), "-t", "-e", "8",
                "--iothreads", "2", "-f", format, "--aio=" + aio);
        try {
            for (int round = 0; round < rounds; round++) {
                AtomicBoolean stop = new AtomicBoolean();
                ConcurrentLinkedQueue<Throwable> failures = new ConcurrentLinkedQueue<>();
                List<Client> clients = new ArrayList<>();
                for (int i = 0; i < CONNECTIONS; i++) {
                    RawClient c = RawClient.unix(Path.of(sock)).handshake(false);
                    clients.add(new Client(c, i, rnd.nextLong(), stop, failures));
                }
                clients.forEach(Thread::start);
                awaitSteadyLoad(clients, failures);
                Thread.sleep(rnd.nextInt(100)); // not a wait for anything: where in the load the kill falls
                stop.set(true);
                server.kill9();
                for (Client c : clients) {
                    c.join(TimeUnit.SECONDS.toMillis(30));
                    if (c.isAlive()) {
                        throw new AssertionError("client " + c.index + " did not notice the kill\n" + NbdTestSupport.threadDump());
                    }
                    c.c.close();
                }
                if (!failures.isEmpty()) {
                    AssertionError e = new AssertionError("round " + round + ": a client failed before the kill");
                    failures.forEach(e::addSuppressed);
                    throw e;
                }
                if (qcow2) {
                    mostLeaks = Math.max(mostLeaks, Qcow2Tools.assertNoCorruption(image, "after kill " + (round + 1)
                            + " (seed " + seed + ")"));
                    checks++;
                }
                server = NbdServerProcess.start(image, sock, dir.resolve("server-" + (round + 1) + ".log"), "-t", "-e", "8",
                        "--iothreads", "2", "-f", format, "--aio=" + aio);
                byte[] viaServer;
                try (RawClient c = RawClient.unix(Path.of(sock)).handshake(false)) {
                    RawClient.Reply r = c.read(0, IMAGE_BYTES);
                    assertEquals(0, r.error(), "whole-image read after the restart");
                    viaServer = r.data();
                }
                byte[] fromFile = qcow2 ? Qcow2Tools.guestBytes(image, "qcow2", dir.resolve("guest.raw"))
                        : java.nio.file.Files.readAllBytes(image);
                assertEquals(IMAGE_BYTES, fromFile.length, "image size after the kill");
                for (Client c : clients) {
                    verify(round, seed, c, before, viaServer, "through the restarted server");
                    verify(round, seed, c, before, fromFile, qcow2 ? "as qemu-img reads the file" : "in the file");
                    totalAcked += c.acked;
                    totalInFlight += c.inFlightAtEnd;
                    totalWrites += c.writes.size();
                    totalFlushes += c.flushesAcked;
                }
                bytesChecked += 2L * IMAGE_BYTES;
                before = viaServer;
            }
            assertEquals(0, server.stop(), "graceful stop at the end");
        } finally {
            server.close();
        }
        System.out.printf("NbdKillInFlightTest: %s, %d rounds of kill -9 with %d x %d requests in flight: %d writes sent,"
                + " %d acknowledged (all found), %d in flight at the kills, %d flushes acknowledged, %d bytes compared;"
                + " %d qemu-img checks without corruption (most leaked clusters: %d); seed %d%n", format, rounds, CONNECTIONS,
                DEPTH, totalWrites, totalAcked, totalInFlight, totalFlushes, bytesChecked, checks, mostLeaks, seed);
    }

    /** Waits (at most 60 s) until every client has had 64 writes acknowledged: the server is warm and loaded. */
    private static void awaitSteadyLoad(List<Client> clients, ConcurrentLinkedQueue<Throwable> failures) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (clients.stream().anyMatch(c -> c.ackedSoFar() < 64)) {
            if (!failures.isEmpty() || System.nanoTime() > deadline) {
                AssertionError e = new AssertionError("the clients did not get 64 writes each acknowledged within 60 s");
                failures.forEach(e::addSuppressed);
                throw e;
            }
            Thread.sleep(1);
        }
    }

    /** Checks client {@code c}'s quarter of {@code actual}. */
    private static void verify(int round, long seed, Client c, byte[] before, byte[] actual, String where) {
        int start = c.index * SLOTS_PER_CONNECTION * SLOT;
        int end = start + SLOTS_PER_CONNECTION * SLOT;
        byte[] expected = java.util.Arrays.copyOfRange(before, start, end);
        int[] lastAcked = new int[end - start];
        java.util.Arrays.fill(lastAcked, -1);
        for (int i = 0; i < c.writes.size(); i++) {
            Write w = c.writes.get(i);
            if (w.acked) {
                System.arraycopy(w.data, 0, expected, (int) (w.offset - start), w.data.length);
                java.util.Arrays.fill(lastAcked, (int) (w.offset - start), (int) (w.offset - start) + w.data.length, i);
            }
        }
        for (int b = 0; b < end - start; b++) {
            byte got = actual[start + b];
            if (got == expected[b]) {
                continue;
            }
            boolean allowed = false;
            for (int i = lastAcked[b] + 1; i < c.writes.size() && !allowed; i++) {
                Write w = c.writes.get(i);
                long pos = start + b - w.offset;
                allowed = !w.acked && pos >= 0 && pos < w.data.length && w.data[(int) pos] == got;
            }
            if (!allowed) {
                int l = lastAcked[b];
                throw new AssertionError("round " + round + " (seed " + seed + "), " + where + ": byte " + (start + b) + " is "
                        + got + ", expected " + expected[b] + (l >= 0 ? " from the acknowledged " + (c.writes.get(l).fua
                        ? "FUA " : "") + "write at " + c.writes.get(l).offset + "+" + c.writes.get(l).data.length
                        : " (from before the round)") + " or an in-flight write's byte");
            }
        }
    }
}
