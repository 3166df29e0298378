// SPDX-License-Identifier: Apache-2.0
package io.jaio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import io.jaio.testing.TestSupport;

/**
 * A randomized, seeded soak of the whole event loop: four IOThreads on mixed fd monitors, two
 * driver threads and the IOThreads themselves creating, firing, cancelling and deleting bottom
 * halves, timers, fd handlers, thread-pool jobs, io_uring requests and coroutines on every
 * context, while the books in {@link SoakNode}, {@link SoakWork} and {@link SoakLedger} check
 * each callback against what was asked of it. At the end everything is drained through bounded
 * waits (a lost wake-up fails with a thread dump), deleted, closed, and the fd count and heap are
 * compared with the start.
 *
 * <p>{@code -Djaio.soak.seed=N} replays a driver sequence (thread interleavings differ from run to
 * run; the seed fixes what is asked, not when); {@code -Djaio.soak.seconds=S} sets how long the
 * drivers run (default 45, which keeps the test near a minute on two cores). Longer runs:
 * {@code bench/soak.sh}. The timeout below is a backstop; every wait inside is bounded by
 * {@link TestSupport#HANG_NS}.
 */
@Timeout(value = 3, unit = TimeUnit.HOURS)
class SoakStressTest {
    private static final FdMonitorKind[] KINDS = {
        FdMonitorKind.POLL, FdMonitorKind.EPOLL, FdMonitorKind.IO_URING, FdMonitorKind.IO_URING,
    };
    private static final int DRIVERS = 2;
    /** One-shots queued and not yet run above which a driver skips scheduling more. */
    private static final long ONESHOT_BACKLOG = 4096;
    /** Heap growth (after GC) tolerated between the start and the end. */
    private static final long HEAP_SLACK_BYTES = 64L << 20;

    private SoakLedger ledger;
    private SoakNode[] nodes;
    private SoakWork[] works;
    private SoakWork.Shared shared;
    private Timer[] agents;
    private SoakExtras extras;
    private volatile boolean agentsStopped;

    @Test
    void everyCallbackIsAccountedForUnderRandomLoad() throws Exception {
        long seed = Long.getLong("jaio.soak.seed", System.nanoTime() ^ System.identityHashCode(this));
        long seconds = Long.getLong("jaio.soak.seconds", 45);
        System.out.println("SoakStressTest: seed " + seed + ", " + seconds + " s (replay: -Djaio.soak.seed=" + seed + ")");
        long t0 = System.nanoTime();
        ledger = new SoakLedger(seed);
        Path file = Files.createTempFile("jaio-soak", ".bin");
        byte[] content = new byte[SoakWork.FILE_BYTES];
        for (int i = 0; i < content.length; i++) {
            content[i] = SoakWork.Shared.fileByte(i);
        }
        Files.write(file, content);
        // After createTempFile, whose SecureRandom opens /dev/random and /dev/urandom for good.
        java.util.Map<String, String> fdsAtStart = openFds();
        long fdStart = fdsAtStart.size();
        long heapStart = usedHeapAfterGc();
        int fileFd = Fds.open(file.toString(), Fds.O_RDONLY, 0);
        try {
            start(seed, fileFd);
            extras = new SoakExtras(ledger, uringNode(), seed + 77);
            extras.start();
            long rssStart = rssKb();
            drive(seed, seconds, rssStart);
            extras.stop();
            quiesce();
            stopAll();
        } finally {
            for (SoakNode n : nodes == null ? new SoakNode[0] : nodes) {
                if (n != null) {
                    if (n.io.thread().isAlive()) { // the test failed before stopAll()
                        try {
                            n.io.stop();
                        } catch (RuntimeException e) {
                            ledger.record(e);
                        }
                    }
                    for (SoakNode.FdSlot s : n.fds) {
                        s.close();
                    }
                }
            }
            for (SoakWork w : works == null ? new SoakWork[0] : works) {
                if (w != null) {
                    w.close();
                }
            }
            Fds.close(fileFd);
            Files.deleteIfExists(file);
        }
        long elapsedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        java.util.Map<String, String> fdsAtEnd = openFds();
        long fdEnd = fdsAtEnd.size();
        if (fdEnd != fdStart) {
            fdsAtEnd.entrySet().removeAll(fdsAtStart.entrySet());
            fdsAtStart.keySet().removeAll(openFds().keySet());
            System.out.println("SoakStressTest: fds opened since the start: " + fdsAtEnd + "; closed: " + fdsAtStart);
        }
        long heapEnd = usedHeapAfterGc();
        System.out.printf("SoakStressTest: seed %d, drove %d s, %.1f s in all; fds %d -> %d; heap %d -> %d MiB%n%s",
                seed, seconds, elapsedMs / 1000.0, fdStart, fdEnd, heapStart >> 20, heapEnd >> 20, ledger.report());
        ledger.rethrow();
        verifyTotals();
        assertEquals(fdStart, fdEnd, "open fds after everything closed (seed " + seed + ")");
        assertTrue(heapEnd <= heapStart + HEAP_SLACK_BYTES,
                "heap after GC grew from " + heapStart + " to " + heapEnd + " bytes (seed " + seed + ")");
    }

    // ------------------------------------------------------------------------------------------

    private void start(long seed, int fileFd) throws Exception {
        shared = new SoakWork.Shared(ledger, fileFd);
        nodes = new SoakNode[KINDS.length];
        works = new SoakWork[KINDS.length];
        agents = new Timer[KINDS.length];
        for (int i = 0; i < KINDS.length; i++) {
            nodes[i] = new SoakNode(i, KINDS[i], ledger, seed + 1000 + i);
            works[i] = new SoakWork(nodes[i], shared);
            System.out.println("  node " + i + ": " + KINDS[i] + " -> " + nodes[i].ctx.fdMonitorName()
                    + (nodes[i].ctx.hasIoUring() ? "" : " (io_uring: " + nodes[i].ctx.ioUringUnavailableReason() + ")"));
        }
        shared.nodes = nodes;
        for (int i = 0; i < nodes.length; i++) {
            SoakNode n = nodes[i];
            int idx = i;
            runOn(n, () -> {
                agents[idx] = n.ctx.newTimer(ClockType.REALTIME, TimerScale.NS, () -> agentTick(n, idx));
                agents[idx].modNs(n.ctx.clockNs(ClockType.REALTIME));
                for (SoakNode.FdSlot s : n.fds) {
                    s.set(false);
                }
            });
        }
    }

    /** The IOThread's own driver: a few random operations, then re-arm. Home thread. */
    private void agentTick(SoakNode n, int idx) {
        if (agentsStopped) {
            return;
        }
        int ops = 1 + n.homeRandom.nextInt(3);
        for (int i = 0; i < ops; i++) {
            randomOp(n.homeRandom);
        }
        agents[idx].modNs(n.ctx.clockNs(ClockType.REALTIME) + 20_000 + n.homeRandom.nextInt(200_000));
    }

    /** The first node whose context has io_uring, or null. */
    private SoakNode uringNode() {
        for (SoakNode n : nodes) {
            if (n.ctx.hasIoUring()) {
                return n;
            }
        }
        return null;
    }

    /** This JVM's resident set (VmRSS), in KiB. */
    static long rssKb() throws java.io.IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        return -1;
    }

    /**
     * RSS must be flat once warm: the last sample of the drive may exceed the one taken a third of
     * the way in by at most 64 MiB + 25% (JIT and heap sizing happen early; a leak grows steadily).
     */
    private void checkRss(long startKb, long thirdKb, long endKb) {
        System.out.printf("SoakStressTest: RSS %d MiB at the start, %d MiB a third in, %d MiB at the end of the drive%n",
                startKb >> 10, thirdKb >> 10, endKb >> 10);
        if (endKb > thirdKb + thirdKb / 4 + (64 << 10)) {
            ledger.fail("RSS grew from " + thirdKb + " KiB (a third in) to " + endKb + " KiB at the end of the drive");
        }
    }

    private void drive(long seed, long seconds, long rssStartKb) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        List<Thread> drivers = new ArrayList<>();
        for (int d = 0; d < DRIVERS; d++) {
            Random r = new Random(seed * 31 + d);
            drivers.add(Thread.ofPlatform().name("soak-driver-" + d).start(ledger.guard(() -> {
                long ops = 0;
                while (System.nanoTime() - deadline < 0 && !ledger.failed()) {
                    if ((++ops & 511) == 0) {
                        probe(r);
                    } else {
                        randomOp(r);
                    }
                }
                ledger.add("driver.ops", ops);
            })));
        }
        long rssThird;
        try {
            Thread.sleep(TimeUnit.SECONDS.toMillis(seconds) / 3); // not a wait for an event: when to sample RSS
            rssThird = rssKb();
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        for (Thread t : drivers) {
            t.join(TimeUnit.SECONDS.toMillis(seconds) + TimeUnit.NANOSECONDS.toMillis(TestSupport.HANG_NS));
            if (t.isAlive()) {
                ledger.fail("driver '" + t.getName() + "' did not finish\n" + TestSupport.threadDump());
            }
        }
        try {
            checkRss(rssStartKb, rssThird, rssKb());
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** One random operation on a random node, from any thread (drivers and IOThreads). */
    private void randomOp(Random r) {
        SoakNode n = nodes[r.nextInt(nodes.length)];
        SoakWork w = works[n.index];
        switch (r.nextInt(20)) {
            case 0, 1 -> {
                if (ledger.get("oneshot.scheduled") - ledger.get("oneshot.ran") < ONESHOT_BACKLOG) {
                    n.oneShot(null);
                } else {
                    Thread.yield();
                }
            }
            case 2, 3, 4 -> n.bhs[r.nextInt(SoakNode.BH_SLOTS)].schedule();
            case 5 -> n.bhs[r.nextInt(SoakNode.BH_SLOTS)].cancel();
            case 6 -> n.bhs[r.nextInt(SoakNode.BH_SLOTS)].deleteOrRecreate();
            case 7, 8 -> n.timers[r.nextInt(SoakNode.TIMER_SLOTS)].mod(r.nextInt(2_000_000));
            case 9 -> n.timers[r.nextInt(SoakNode.TIMER_SLOTS)].delete();
            case 10, 11 -> n.fds[r.nextInt(SoakNode.FD_SLOTS)].write();
            case 12 -> n.fds[r.nextInt(SoakNode.FD_SLOTS)].set(r.nextBoolean());
            case 13 -> n.fds[r.nextInt(SoakNode.FD_SLOTS)].remove();
            case 14 -> {
                int k = 1 + r.nextInt(4);
                onHome(n, () -> w.submitJobs(k));
            }
            case 15 -> onHome(n, w::cancelJob);
            case 16 -> {
                int k = 1 + r.nextInt(6);
                onHome(n, () -> w.submitUring(k));
            }
            case 17 -> onHome(n, w::spawnCoroutine);
            default -> shared.wakeOne(r.nextBoolean());
        }
    }

    private static void onHome(SoakNode n, Runnable body) {
        if (n.onHome()) {
            body.run();
        } else {
            n.oneShot(body);
        }
    }

    /**
     * A driver schedules a bottom half or arms a timer that nobody else touches meanwhile and
     * waits (bounded) for the run that must follow: a lost wake-up fails here, with a dump.
     */
    private void probe(Random r) {
        SoakNode n = nodes[r.nextInt(nodes.length)];
        if (r.nextBoolean()) {
            SoakNode.BhSlot slot = n.bhs[r.nextInt(SoakNode.BH_SLOTS)];
            SoakNode.BhLife life = slot.beginProbe();
            if (life == null) {
                return;
            }
            try {
                long target = life.scheduleSeq.get();
                await("bottom half " + slot.id + " of " + n.ctx.name() + " to run after its schedule",
                        () -> life.seenSeq >= target);
                ledger.count("probe.bh");
            } finally {
                slot.endProbe();
            }
        } else {
            SoakNode.TimerSlot slot = n.timers[r.nextInt(SoakNode.TIMER_SLOTS)];
            long before = slot.beginProbe();
            if (before < 0) {
                return;
            }
            try {
                await("timer " + slot.id + " of " + n.ctx.name() + " to fire", () -> slot.fires() > before);
                ledger.count("probe.timer");
            } finally {
                slot.endProbe();
            }
        }
    }

    // ------------------------------------------------------------------------------------------

    /** Stops the agents, finishes every coroutine and in-flight request, and checks nothing was lost. */
    private void quiesce() throws InterruptedException {
        shared.stopping = true;
        agentsStopped = true;
        for (SoakNode n : nodes) {
            n.quiet = true;
        }
        for (int i = 0; i < nodes.length; i++) {
            int idx = i;
            runOn(nodes[i], () -> agents[idx].delete());
        }
        await("every coroutine to return", () -> {
            shared.wakeOne(false);
            return shared.coroutinesAlive.get() == 0;
        });
        await("every one-shot bottom half to run", () -> ledger.get("oneshot.ran") == ledger.get("oneshot.scheduled"));
        for (int i = 0; i < nodes.length; i++) {
            SoakWork w = works[i];
            awaitOnHome(nodes[i], "thread pool and io_uring completions", () -> w.jobsInFlight() == 0 && w.uringInFlight() == 0);
        }
        for (SoakNode n : nodes) {
            for (SoakNode.BhSlot slot : n.bhs) {
                SoakNode.BhLife life;
                synchronized (slot) {
                    life = slot.life;
                }
                if (life == null) {
                    continue;
                }
                if (!slot.cancellable) { // never cancelled: every schedule so far must have been run
                    await("bottom half " + slot.id + " of " + n.ctx.name() + " to catch up with its schedules",
                            () -> life.seenSeq == life.scheduleSeq.get());
                }
                synchronized (slot) {
                    life.schedule();
                }
                await("bottom half " + slot.id + " of " + n.ctx.name() + " to run a final time",
                        () -> life.seenSeq == life.scheduleSeq.get());
            }
            for (SoakNode.TimerSlot slot : n.timers) {
                long before = slot.beginProbe();
                await("timer " + slot.id + " of " + n.ctx.name() + " to fire a final time", () -> slot.fires() > before);
            }
            for (SoakNode.FdSlot slot : n.fds) {
                slot.set(false);
                slot.write();
                await("fd slot " + slot.id + " of " + n.ctx.name() + " to read everything written",
                        () -> slot.read.get() == slot.written.get());
            }
            runOn(n, () -> {
                for (SoakNode.BhSlot slot : n.bhs) {
                    synchronized (slot) {
                        if (slot.life != null) {
                            slot.life.delete();
                            slot.life = null;
                        }
                    }
                }
                for (SoakNode.TimerSlot slot : n.timers) {
                    slot.endProbe();
                    slot.delete();
                }
                for (SoakNode.FdSlot slot : n.fds) {
                    slot.remove();
                    ledger.check(slot.drain() == 0, "fd slot " + slot.id + " had data no handler read");
                }
            });
        }
    }

    private void stopAll() {
        for (SoakNode n : nodes) {
            try {
                n.io.stop(); // closes the context: leaks (bottom halves, timers, pool tasks) fail here
            } catch (RuntimeException e) {
                ledger.record(e);
            }
        }
    }

    /** Exact totals, valid once everything is drained. */
    private void verifyTotals() {
        assertEquals(ledger.get("oneshot.scheduled"), ledger.get("oneshot.ran"), "one-shot schedules vs runs");
        assertEquals(ledger.get("pool.submit"), ledger.get("pool.complete"), "thread pool submissions vs completions");
        assertEquals(ledger.get("uring.submit"), ledger.get("uring.complete"), "io_uring submissions vs completions");
        assertEquals(ledger.get("co.create"), ledger.get("co.done"), "coroutines created vs returned");
        assertEquals(ledger.get("co.wake.wake") + ledger.get("co.wake.coSchedule"), ledger.get("co.resume"),
                "coroutine wakes vs resumes");
        long written = 0;
        long read = 0;
        for (SoakNode n : nodes) {
            for (SoakNode.FdSlot s : n.fds) {
                written += s.written.get();
                read += s.read.get();
            }
        }
        assertEquals(written, read, "bytes and eventfd increments written vs read");
        assertTrue(ledger.get("bh.run") > 0 && ledger.get("timer.fire") > 0 && ledger.get("fd.call") > 0
                && ledger.get("pool.completed") > 0 && ledger.get("co.resume") > 0, "some kind of work never ran");
    }

    // ------------------------------------------------------------------------------------------

    private void await(String what, BooleanSupplier cond) {
        TestSupport.awaitCondition(what + " (seed " + ledger.seed() + ")", cond);
    }

    /** Waits until {@code cond}, evaluated on the node's home thread, holds. */
    private void awaitOnHome(SoakNode n, String what, BooleanSupplier cond) throws InterruptedException {
        long deadline = System.nanoTime() + TestSupport.HANG_NS;
        while (true) {
            boolean[] ok = {false};
            runOn(n, () -> ok[0] = cond.getAsBoolean());
            if (ok[0]) {
                return;
            }
            if (System.nanoTime() - deadline > 0) {
                ledger.fail("gave up waiting for " + what + " on " + n.ctx.name() + "\n" + TestSupport.threadDump());
                return;
            }
            Thread.yield();
        }
    }

    /** Runs {@code r} on the node's home thread and waits for it (bounded). */
    private void runOn(SoakNode n, Runnable r) throws InterruptedException {
        CountDownLatch done = new CountDownLatch(1);
        n.ctx.scheduleOneShot("soak-run-on", () -> {
            try {
                r.run();
            } catch (Throwable t) {
                ledger.record(t);
            } finally {
                done.countDown();
            }
        });
        if (!done.await(TestSupport.HANG_NS, TimeUnit.NANOSECONDS)) {
            ledger.fail("gave up waiting for a bottom half on " + n.ctx.name() + "\n" + TestSupport.threadDump());
            ledger.rethrow();
        }
    }

    /** fd number -> what it points to, from /proc/self/fd. */
    private static java.util.Map<String, String> openFds() throws java.io.IOException {
        java.util.Map<String, String> m = new java.util.TreeMap<>();
        try (var s = Files.list(Path.of("/proc/self/fd"))) {
            for (Path p : s.toList()) {
                try {
                    m.put(p.getFileName().toString(), Files.readSymbolicLink(p).toString());
                } catch (java.io.IOException gone) {
                    // the directory's own fd, closed by the time it is read
                }
            }
        }
        return m;
    }

    private static long usedHeapAfterGc() {
        Runtime rt = Runtime.getRuntime();
        long used = Long.MAX_VALUE;
        for (int i = 0; i < 3; i++) { // the smallest of three: a GC may finish concurrently with the read
            System.gc();
            used = Math.min(used, rt.totalMemory() - rt.freeMemory());
        }
        return used;
    }
}
