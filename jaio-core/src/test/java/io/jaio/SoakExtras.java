// SPDX-License-Identifier: Apache-2.0
package io.jaio;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import io.jaio.coroutine.CoMutex;
import io.jaio.coroutine.CoQueue;
import io.jaio.coroutine.CoRwLock;
import io.jaio.coroutine.Coroutine;
import io.jaio.testing.TestSupport;
import io.jaio.uring.CqeHandler;
import io.jaio.uring.IoUring;

/**
 * What {@link SoakStressTest} adds beside its IOThreads (issue #16): a thread that owns a
 * {@link MainLoop} and drives both its contexts as {@link AioSource}s through
 * {@code mainLoopWait}, and on it
 * <ul>
 * <li><b>sockets through fd handlers and io_uring</b>: stream A is sent by io_uring SENDs on an
 *     io_uring IOThread of the soak and received by an fd handler of the main loop (iohandler
 *     context); stream B is sent from a main-loop timer and received by chained io_uring RECVs on
 *     that IOThread. Each stream's byte {@code i} is {@code i % 251}: every byte must arrive, once,
 *     in order;</li>
 * <li><b>nested polls from callbacks</b>: a timer callback schedules a bottom half and polls the
 *     main context nested ({@code poll(false)}, AIO_WAIT_WHILE style) until it ran: it must run
 *     exactly once, inside the nested poll, and the timer's callback is never re-entered;</li>
 * <li><b>CoRwLock and CoQueue</b>: three reader, one writer and one upgrading coroutine share a
 *     {@link CoRwLock} across sleeps (no writer beside anyone, readers together allowed); a
 *     producer and a consumer coroutine pass numbered items through a {@link CoQueue} under a
 *     {@link CoMutex} (each item once, in order).</li>
 * </ul>
 * Failures go to the soak's {@link SoakLedger}; counts are added to it for the report.
 *
 * <p>Threading: {@link #start} and {@link #stop} from the test thread; everything else on the
 * main-loop thread, or (the io_uring side) on the IOThread's home thread through one-shots.
 */
final class SoakExtras {
    private static final int MOD = 251;
    private static final int CHUNK = 4096;
    /** Bytes a stream may be ahead of its reader before its sender waits. */
    private static final long WINDOW = 256 << 10;

    private final SoakLedger ledger;
    /** An IOThread with io_uring, or null (then the io_uring halves are skipped, reason printed). */
    private final SoakNode uring;
    private final Random rnd;
    private final CountDownLatch started = new CountDownLatch(1);
    private volatile boolean stopping;
    private Thread thread;

    // stream A: io_uring send (IOThread) -> fd handler recv (main loop)
    private int[] pairA;
    private long sentA; // IOThread
    private volatile long recvA; // main loop; read by the IOThread's window check
    /** A SEND is in flight; written by the IOThread, volatile for the main loop's drain check. */
    private volatile boolean sendingA;
    // stream B: timer send (main loop) -> io_uring recv (IOThread)
    private int[] pairB;
    private long sentB; // main loop
    private volatile long recvB; // IOThread; read by the main loop's window check
    private volatile boolean recvBDone;
    private final Arena shared = Arena.ofShared();

    // nested polls
    private int nestedDepth;
    private long nestedRuns;
    private boolean innerRan;
    // coroutines
    private final CoRwLock rw = new CoRwLock();
    private int readers;
    private boolean writer;
    private long rwSections;
    private final CoMutex qLock = new CoMutex();
    private final CoQueue notEmpty = new CoQueue();
    private final ArrayDeque<Long> items = new ArrayDeque<>();
    private long produced;
    private long consumed;
    private final List<Coroutine> coroutines = new ArrayList<>();

    SoakExtras(SoakLedger ledger, SoakNode uring, long seed) {
        this.ledger = ledger;
        this.uring = uring;
        this.rnd = new Random(seed);
    }

    void start() throws InterruptedException {
        thread = Thread.ofPlatform().name("soak-main-loop").start(ledger.guard(this::run));
        if (!started.await(TimeUnit.NANOSECONDS.toMillis(TestSupport.HANG_NS), TimeUnit.MILLISECONDS)) {
            ledger.fail("the main-loop thread did not start\n" + TestSupport.threadDump());
        }
    }

    /** Stops the load, waits for both streams and every coroutine to finish, and checks the totals. */
    void stop() throws InterruptedException {
        stopping = true;
        thread.join(TimeUnit.NANOSECONDS.toMillis(TestSupport.HANG_NS) * 2);
        if (thread.isAlive()) {
            ledger.fail("the main-loop thread did not finish\n" + TestSupport.threadDump());
        }
        shared.close();
        ledger.add("extras.streamA.bytes", recvA);
        ledger.add("extras.streamB.bytes", recvB);
        ledger.add("extras.nestedPolls", nestedRuns);
        ledger.add("extras.rwSections", rwSections);
        ledger.add("extras.coQueueItems", consumed);
    }

    private void run() {
        try (MainLoop ml = MainLoop.create()) {
            AioContext main = ml.context();
            boolean haveUring = uring != null && uring.ctx.hasIoUring();
            if (!haveUring) {
                System.out.println("SoakExtras: io_uring streams skipped: "
                        + (uring == null ? "no io_uring node" : uring.ctx.ioUringUnavailableReason()));
            }
            pairA = Sockets.socketPair();
            pairB = Sockets.socketPair();
            MemorySegment bufA = shared.allocate(CHUNK);
            ml.setFdHandler(pairA[0], () -> onReadableA(bufA), null);
            MemorySegment bufB = shared.allocate(CHUNK);
            Timer[] senderRef = new Timer[1];
            senderRef[0] = main.newTimer(ClockType.REALTIME, TimerScale.NS, () -> {
                sendB(bufB);
                if (!stopping) {
                    senderRef[0].modNs(main.clockNs(ClockType.REALTIME) + 200_000);
                }
            });
            senderRef[0].modNs(main.clockNs(ClockType.REALTIME));
            BottomHalf inner = main.newBottomHalf("soak-nested-inner", () -> {
                if (innerRan) {
                    ledger.fail("nested-poll bottom half ran twice");
                }
                innerRan = true;
            });
            Timer[] nestedRef = new Timer[1];
            nestedRef[0] = main.newTimer(ClockType.REALTIME, TimerScale.NS, () -> nestedPoll(main, inner, nestedRef[0]));
            nestedRef[0].modNs(main.clockNs(ClockType.REALTIME) + 1_000_000);
            startCoroutines();
            if (haveUring) {
                uring.ctx.scheduleOneShot("soak-recvB", () -> recvB(shared.allocate(CHUNK)));
            }
            started.countDown();
            long iterations = 0;
            while (!stopping) {
                ml.mainLoopWait(false);
                iterations++;
                if (haveUring && (iterations & 7) == 0) {
                    uring.ctx.scheduleOneShot("soak-sendA", this::sendA);
                }
            }
            // Drain: stop senders, finish coroutines, let the readers catch up.
            nestedRef[0].delete();
            senderRef[0].delete();
            long deadline = System.nanoTime() + TestSupport.HANG_NS;
            while (System.nanoTime() < deadline && !(coroutinesDone() && (!haveUring || streamsDrained()))) {
                ml.mainLoopWait(true);
                Thread.onSpinWait();
            }
            if (!coroutinesDone()) {
                ledger.fail("SoakExtras: coroutines did not finish (readers " + readers + ", writer " + writer + ", produced "
                        + produced + ", consumed " + consumed + ")");
            }
            if (haveUring && !streamsDrained()) {
                ledger.fail("SoakExtras: streams did not drain: A sent " + sentA + " received " + recvA + "; B sent " + sentB
                        + " received " + recvB);
            }
            ml.removeFdHandler(pairA[0]);
            ml.mainLoopWait(true);
            inner.delete();
            if (haveUring) {
                Sockets.shutdown(pairB[0]); // the chained RECV sees EOF and stops
                deadline = System.nanoTime() + TestSupport.HANG_NS;
                while (!recvBDone && System.nanoTime() < deadline) {
                    Thread.onSpinWait();
                }
                if (!recvBDone) {
                    ledger.fail("SoakExtras: the io_uring RECV of stream B did not see EOF");
                }
                CountDownLatch idle = new CountDownLatch(1);
                uring.ctx.scheduleOneShot("soak-extras-idle", idle::countDown); // sendA's last CQE has run
                idle.await(TestSupport.HANG_NS, TimeUnit.NANOSECONDS);
            }
            for (int fd : new int[] {pairA[0], pairA[1], pairB[0], pairB[1]}) {
                Fds.close(fd);
            }
        } catch (ErrnoException | InterruptedException e) {
            ledger.record(e);
        }
    }

    private boolean streamsDrained() {
        return !sendingA && recvA == sentAPublished && recvB == sentB;
    }

    /** sentA as the IOThread last published it (volatile: read by the main loop's drain check). */
    private volatile long sentAPublished;

    // ---- stream A ----

    /** IOThread: one io_uring SEND of the next chunk, if none is in flight and the reader keeps up. */
    private void sendA() {
        if (sendingA || stopping || sentA - recvA > WINDOW) {
            return; // one SEND at a time keeps the stream in order; after the stop nothing new
        }
        int len = 1 + rnd.nextInt(CHUNK);
        MemorySegment buf = shared.allocate(len);
        for (int i = 0; i < len; i++) {
            buf.set(ValueLayout.JAVA_BYTE, i, (byte) ((sentA + i) % MOD));
        }
        sendingA = true;
        IoUring.of(uring.ctx).send(pairA[1], buf, Sockets.MSG_NOSIGNAL, CqeHandler.of((res, flags) -> {
            sendingA = false;
            if (res < 0) {
                ledger.fail("io_uring SEND of stream A: res " + res);
                return;
            }
            sentA += res; // a short send: the next chunk starts where this one stopped
            sentAPublished = sentA;
        }));
    }

    /** Main loop (iohandler context): drains stream A and checks every byte. */
    private void onReadableA(MemorySegment buf) {
        for (int k = 0; k < 64; k++) {
            long n = Sockets.recv(pairA[0], buf);
            if (n <= 0) {
                return;
            }
            long base = recvA;
            for (int i = 0; i < n; i++) {
                byte want = (byte) ((base + i) % MOD);
                if (buf.get(ValueLayout.JAVA_BYTE, i) != want) {
                    ledger.fail("stream A byte " + (base + i) + " is " + buf.get(ValueLayout.JAVA_BYTE, i) + ", expected " + want);
                    return;
                }
            }
            recvA = base + n;
        }
    }

    // ---- stream B ----

    /** Main loop timer: sends the next bytes of stream B without blocking, within the window. */
    private void sendB(MemorySegment buf) {
        if (uring == null || !uring.ctx.hasIoUring() || sentB - recvB > WINDOW) {
            return;
        }
        int len = 1 + rnd.nextInt(CHUNK);
        MemorySegment b = buf.asSlice(0, len);
        for (int i = 0; i < len; i++) {
            b.set(ValueLayout.JAVA_BYTE, i, (byte) ((sentB + i) % MOD));
        }
        long n = Sockets.send(pairB[0], b);
        if (n > 0) {
            sentB += n;
        }
    }

    /** IOThread: a chained io_uring RECV of stream B, each CQE checked and the next RECV submitted. */
    private void recvB(MemorySegment buf) {
        IoUring.of(uring.ctx).recv(pairB[1], buf, 0, CqeHandler.of((res, flags) -> {
            if (res == 0) {
                recvBDone = true; // EOF: the sender shut down
                return;
            }
            if (res < 0) {
                ledger.fail("io_uring RECV of stream B: res " + res);
                recvBDone = true;
                return;
            }
            long base = recvB;
            for (int i = 0; i < res; i++) {
                byte want = (byte) ((base + i) % MOD);
                if (buf.get(ValueLayout.JAVA_BYTE, i) != want) {
                    ledger.fail("stream B byte " + (base + i) + " is " + buf.get(ValueLayout.JAVA_BYTE, i) + ", expected " + want);
                    recvBDone = true;
                    return;
                }
            }
            recvB = base + res;
            recvB(buf);
        }));
    }

    // ---- nested polls ----

    private void nestedPoll(AioContext main, BottomHalf inner, Timer self) {
        if (++nestedDepth != 1) {
            ledger.fail("nested-poll timer callback re-entered (depth " + nestedDepth + ")");
        }
        innerRan = false;
        inner.schedule();
        for (int i = 0; i < 1000 && !innerRan; i++) {
            main.poll(false); // the nested aio_poll of AIO_WAIT_WHILE
        }
        if (!innerRan) {
            ledger.fail("the bottom half scheduled before a nested poll did not run in 1000 nested polls");
        }
        nestedRuns++;
        nestedDepth--;
        if (!stopping) {
            self.modNs(main.clockNs(ClockType.REALTIME) + 500_000 + rnd.nextInt(1_000_000));
        }
    }

    // ---- coroutines ----

    private void startCoroutines() {
        for (int i = 0; i < 3; i++) {
            spawn(this::reader);
        }
        spawn(this::writerLoop);
        spawn(this::upgrader);
        spawn(this::producer);
        spawn(this::consumer);
    }

    private void spawn(Runnable body) {
        Coroutine co = Coroutine.create(body);
        coroutines.add(co);
        Coroutine.enter(co);
    }

    private boolean coroutinesDone() {
        for (Coroutine co : coroutines) {
            if (!co.isDone()) {
                return false;
            }
        }
        return true;
    }

    private void pause() {
        Coroutine.sleepNs(ClockType.REALTIME, 20_000 + rnd.nextInt(200_000));
    }

    private void reader() {
        while (!stopping) {
            rw.rdlock();
            if (writer) {
                ledger.fail("CoRwLock: a reader got in beside the writer");
            }
            readers++;
            pause();
            readers--;
            rwSections++;
            rw.unlock();
            pause();
        }
    }

    private void writerLoop() {
        while (!stopping) {
            rw.wrlock();
            enterWriter();
            pause();
            writer = false;
            rwSections++;
            rw.unlock();
            pause();
        }
    }

    private void upgrader() {
        while (!stopping) {
            rw.rdlock();
            readers++;
            pause();
            readers--;
            rw.upgrade();
            enterWriter();
            pause();
            writer = false;
            rw.downgrade();
            readers++;
            pause();
            readers--;
            rwSections++;
            rw.unlock();
            pause();
        }
    }

    private void enterWriter() {
        if (writer || readers != 0) {
            ledger.fail("CoRwLock: a writer got in beside " + (writer ? "a writer" : readers + " reader(s)"));
        }
        writer = true;
    }

    private void producer() {
        while (!stopping) {
            qLock.lock();
            items.addLast(produced++);
            notEmpty.next();
            qLock.unlock();
            pause();
        }
        qLock.lock();
        items.addLast(-1L); // the end
        notEmpty.restartAll();
        qLock.unlock();
    }

    private void consumer() {
        while (true) {
            qLock.lock();
            while (items.isEmpty()) {
                notEmpty.await(qLock);
            }
            long v = items.pollFirst();
            qLock.unlock();
            if (v == -1L) {
                return;
            }
            if (v != consumed) {
                ledger.fail("CoQueue: item " + v + " arrived, expected " + consumed);
            }
            consumed++;
        }
    }
}
