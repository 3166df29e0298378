// SPDX-License-Identifier: Apache-2.0
package io.jaio;

import java.util.Random;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import io.jaio.internal.sys.Errno;
import io.jaio.internal.sys.Syscalls;
import io.jaio.coroutine.Coroutine;

/**
 * One IOThread of {@link SoakStressTest} and its event-loop primitives: reusable bottom halves,
 * REALTIME timers and fd handlers on pipes and eventfds, each in a fixed set of slots that the
 * drivers operate on at random from any thread. Every slot keeps the books its invariants need;
 * the invariants are stated on each slot class.
 *
 * <p>A test-side lock per slot orders the drivers' operations on that slot (so nobody schedules a
 * deleted bottom half, and the books see arming and deleting in the order the library did). It
 * never orders anything against the home thread's dispatch, which is what is under test.
 *
 * <p>Threading: the operations below from any thread unless they say "home thread".
 */
final class SoakNode {
    static final int BH_SLOTS = 8;
    static final int TIMER_SLOTS = 8;
    static final int FD_SLOTS = 4;
    /** Retirement states of a bottom-half incarnation or an fd handler. */
    static final int LIVE = 0;
    static final int RETIRED_HOME = 1;
    static final int RETIRED_CROSS = 2;

    final int index;
    final FdMonitorKind kind;
    final IOThread io;
    final AioContext ctx;
    final Thread home;
    final SoakLedger ledger;
    final BhSlot[] bhs = new BhSlot[BH_SLOTS];
    final TimerSlot[] timers = new TimerSlot[TIMER_SLOTS];
    final FdSlot[] fds = new FdSlot[FD_SLOTS];
    /** Set when the test drains: callbacks stop changing their own registrations. */
    volatile boolean quiet;
    /** Used on the home thread only (home operations draw from it). */
    final Random homeRandom;

    SoakNode(int index, FdMonitorKind kind, SoakLedger ledger, long seed) throws ErrnoException {
        this.index = index;
        this.kind = kind;
        this.ledger = ledger;
        this.homeRandom = new Random(seed);
        String name = "soak-" + index + "-" + kind.name().toLowerCase(java.util.Locale.ROOT);
        this.io = IOThread.start(name, AioContext.builder().name(name).fdMonitor(kind)
                .pollParams(IOThread.DEFAULT_POLL_MAX_NS, 0, 0).errorHandler(ledger.errorHandler()));
        this.ctx = io.context();
        this.home = io.thread();
        for (int i = 0; i < BH_SLOTS; i++) {
            bhs[i] = new BhSlot(i, i >= BH_SLOTS / 2);
        }
        for (int i = 0; i < TIMER_SLOTS; i++) {
            timers[i] = new TimerSlot(i);
        }
        for (int i = 0; i < FD_SLOTS; i++) {
            fds[i] = new FdSlot(i, i % 2 == 0);
        }
    }

    boolean onHome() {
        return Coroutine.hostThread() == home; // inside a coroutine: the thread that entered it
    }

    void checkHome(String what) {
        ledger.check(onHome(), what + " ran on '" + Coroutine.hostThread().getName() + "' (expected '" + home.getName() + "')");
    }

    // ------------------------------------------------------------------------------------------
    // One-shot bottom halves: each runs exactly once, on the home thread.

    void oneShot(Runnable body) {
        AtomicBoolean ran = new AtomicBoolean();
        ledger.count("oneshot.scheduled");
        ctx.scheduleOneShot("soak-oneshot", () -> {
            checkHome("one-shot bottom half");
            ledger.check(!ran.getAndSet(true), "one-shot bottom half ran twice");
            ledger.count("oneshot.ran");
            if (body != null) {
                body.run();
            }
        });
    }

    // ------------------------------------------------------------------------------------------

    /**
     * A reusable bottom half, deleted and re-made at random (each life is an {@link BhLife}).
     * Invariants: it runs on the home thread; never more runs than schedules; no run after a
     * delete() returned on the home thread, at most one (already dequeued) after a delete() from
     * another thread; and, for slots never cancelled, every schedule is followed by a run that
     * starts after it (no lost wake-up): {@code seenSeq} catches up with {@code scheduleSeq}.
     */
    final class BhSlot {
        final int id;
        final boolean cancellable;
        BhLife life; // guarded by this
        boolean probing; // guarded by this: a driver waits on this slot; others leave it alone

        BhSlot(int id, boolean cancellable) {
            this.id = id;
            this.cancellable = cancellable;
            this.life = new BhLife(this);
        }

        synchronized void schedule() {
            if (life != null && !probing) {
                life.schedule();
            }
        }

        synchronized void cancel() {
            if (life != null && cancellable && !probing) {
                life.bh.cancel();
                ledger.count("bh.cancel");
            }
        }

        synchronized void deleteOrRecreate() {
            if (probing) {
                return;
            }
            if (life == null) {
                life = new BhLife(this);
                ledger.count("bh.create");
            } else {
                life.delete();
                life = null;
            }
        }

        /** A schedule whose run the caller then waits for; returns the life, or null if deleted. */
        synchronized BhLife beginProbe() {
            if (life == null || cancellable || probing) {
                return null;
            }
            probing = true;
            life.schedule();
            return life;
        }

        synchronized void endProbe() {
            probing = false;
        }
    }

    /** One life of a reusable bottom half, from newBottomHalf to delete. */
    final class BhLife {
        final BhSlot slot;
        final BottomHalf bh;
        final AtomicLong scheduleSeq = new AtomicLong();
        final AtomicLong runs = new AtomicLong();
        volatile long seenSeq;
        volatile int retired = LIVE;
        final AtomicInteger runsAfterCrossDelete = new AtomicInteger();

        BhLife(BhSlot slot) {
            this.slot = slot;
            this.bh = ctx.newBottomHalf("soak-bh-" + slot.id, this::run);
        }

        /** Slot lock held. */
        void schedule() {
            scheduleSeq.incrementAndGet(); // before schedule(): a run that covers it sees it
            bh.schedule();
            ledger.count("bh.schedule");
        }

        /** Slot lock held. */
        void delete() {
            bh.delete();
            retired = onHome() ? RETIRED_HOME : RETIRED_CROSS;
            ledger.count(onHome() ? "bh.delete.home" : "bh.delete.cross");
        }

        private void run() {
            checkHome("bottom half");
            int r = retired;
            ledger.check(r != RETIRED_HOME, "bottom half " + slot.id + " ran after delete() returned on its home thread");
            if (r == RETIRED_CROSS) {
                ledger.check(runsAfterCrossDelete.incrementAndGet() <= 1,
                        "bottom half " + slot.id + " ran twice after delete() returned on another thread");
                ledger.count("bh.run.afterCrossDelete");
            }
            long n = runs.incrementAndGet();
            long s = scheduleSeq.get();
            ledger.check(n <= s, "bottom half " + slot.id + " ran " + n + " times for " + s + " schedules");
            seenSeq = s;
            ledger.count("bh.run");
            int dice = quiet ? -1 : homeRandom.nextInt(16);
            if (dice == 0) {
                slot.schedule(); // from its own callback: runs again in the next poll()
            } else if (dice == 1) {
                slot.deleteOrRecreate(); // delete from its own callback (home thread: strict)
            }
        }
    }

    // ------------------------------------------------------------------------------------------

    /**
     * A REALTIME timer armed, re-armed and deleted from any thread with deadlines up to 2 ms
     * ahead. Books kept under the slot lock: {@code gen} counts armings, {@code homeDeleteGen} is
     * {@code gen} at the last delete on the home thread, {@code lastFireGen} the last arming a
     * fire consumed. Invariants, checked in the callback: it runs on the home thread; some arming
     * came after the last home-thread delete; some arming is not yet consumed; a fire is not
     * early. A fire of an arming deleted concurrently from another thread is allowed (the loop
     * had already taken it off the heap) and counted.
     */
    final class TimerSlot {
        final int id;
        final Timer timer;
        long gen; // guarded by this
        long homeDeleteGen;
        long crossDeleteGen;
        long lastFireGen;
        long deadlineNs;
        /** The earliest deadline armed since the last fire: the fire consumed one at least this early. */
        long earliestNs = Long.MAX_VALUE;
        long fires;
        boolean probing;

        TimerSlot(int id) {
            this.id = id;
            this.timer = ctx.newTimer(ClockType.REALTIME, TimerScale.NS, this::fire);
        }

        synchronized void mod(long aheadNs) {
            if (!probing) {
                arm(aheadNs);
            }
        }

        private void arm(long aheadNs) {
            gen++;
            deadlineNs = ctx.clockNs(ClockType.REALTIME) + aheadNs;
            earliestNs = Math.min(earliestNs, deadlineNs);
            timer.modNs(deadlineNs);
            ledger.count("timer.mod");
        }

        synchronized void delete() {
            if (probing) {
                return;
            }
            timer.delete();
            if (onHome()) {
                homeDeleteGen = gen;
                ledger.count("timer.delete.home");
            } else {
                crossDeleteGen = gen;
                ledger.count("timer.delete.cross");
            }
        }

        /** Arms the timer for a driver that waits for the fire; returns the fire count to exceed, or -1. */
        synchronized long beginProbe() {
            if (probing) {
                return -1;
            }
            probing = true;
            arm(100_000);
            return fires;
        }

        synchronized void endProbe() {
            probing = false;
        }

        synchronized long fires() {
            return fires;
        }

        private synchronized void fire() {
            checkHome("timer");
            fires++;
            ledger.count("timer.fire");
            ledger.check(gen > homeDeleteGen, "timer " + id + " fired after delete() returned on its home thread (gen " + gen + ")");
            ledger.check(gen > lastFireGen, "timer " + id + " fired with no arming outstanding (gen " + gen + ")");
            long now = ctx.clockNs(ClockType.REALTIME);
            ledger.check(now >= earliestNs, "timer " + id + " fired " + (earliestNs - now) + " ns early");
            if (timer.isPending()) {
                lastFireGen = gen - 1; // re-armed by another thread after the loop took it: one fire still due
                earliestNs = deadlineNs;
            } else {
                lastFireGen = gen;
                earliestNs = Long.MAX_VALUE;
            }
            if (crossDeleteGen == gen) {
                ledger.count("timer.fire.racedCrossDelete");
            }
            if (!probing && !quiet && homeRandom.nextInt(4) == 0) {
                arm(homeRandom.nextInt(2_000_000)); // re-armed from its own callback
            }
        }
    }

    // ------------------------------------------------------------------------------------------

    /**
     * A pipe or an eventfd whose read handler is added, replaced (sometimes with io_poll) and
     * removed from any thread, also from inside the handler, while any thread writes to it.
     * Invariants: handlers run on the home thread; none runs after its removal or replacement
     * returned on the home thread, at most one call (already dispatched) after one returned on
     * another thread; every byte (pipe) and every increment (eventfd) written is read exactly
     * once, by a handler or by the final drain.
     */
    final class FdSlot {
        final int id;
        final boolean isPipe;
        final int readFd;
        final int writeFd;
        final EventNotifier notifier;
        Handler current; // guarded by this
        int handlerSeq;
        final AtomicLong written = new AtomicLong();
        final AtomicLong read = new AtomicLong();
        /** Writes not yet seen by a handler's io_poll; an approximation, only used to poll. */
        final AtomicLong unseen = new AtomicLong();

        FdSlot(int id, boolean isPipe) throws ErrnoException {
            this.id = id;
            this.isPipe = isPipe;
            if (isPipe) {
                int[] p = Fds.pipe();
                readFd = p[0];
                writeFd = p[1];
                notifier = null;
            } else {
                notifier = EventNotifier.create(false);
                readFd = notifier.fd();
                writeFd = notifier.fd();
            }
        }

        void write() {
            if (isPipe) {
                long r = Fds.write(writeFd, new byte[] {7});
                if (r == 1) {
                    written.incrementAndGet();
                    ledger.count("fd.write");
                } else {
                    ledger.check(r == -Errno.EAGAIN, "write(pipe " + writeFd + ") = " + r);
                    ledger.count("fd.write.full");
                    return;
                }
            } else {
                written.incrementAndGet(); // before set(): a reader may take it at once
                notifier.set();
                ledger.count("fd.write");
            }
            unseen.incrementAndGet();
        }

        /** Installs a new handler (replacing the current one, if any). */
        synchronized void set(boolean withPoll) {
            Handler h = new Handler(this, ++handlerSeq);
            try {
                if (withPoll) {
                    ctx.setFdHandler(readFd, h::onRead, null, h::poll, h::onRead);
                } else {
                    ctx.setFdHandler(readFd, h::onRead, null, null, null);
                }
            } catch (ErrnoException e) {
                ledger.record(e);
                return;
            }
            retire(current);
            current = h;
            ledger.count(withPoll ? "fd.set.poll" : "fd.set");
        }

        synchronized void remove() {
            if (current != null) {
                ctx.removeFdHandler(readFd);
                retire(current);
                current = null;
                ledger.count("fd.remove");
            }
        }

        private void retire(Handler h) {
            if (h != null) {
                h.retired = onHome() ? RETIRED_HOME : RETIRED_CROSS;
            }
        }

        /** Reads what is there now; returns the count of bytes or increments. */
        long drain() {
            long n = 0;
            try {
                if (isPipe) {
                    byte[] b;
                    while ((b = Fds.read(readFd, 4096)) != null) {
                        n += b.length;
                    }
                } else {
                    byte[] b = Fds.read(readFd, 8);
                    if (b != null) {
                        n = java.nio.ByteBuffer.wrap(b).order(java.nio.ByteOrder.nativeOrder()).getLong();
                    }
                }
            } catch (ErrnoException e) {
                ledger.record(e);
            }
            read.addAndGet(n);
            return n;
        }

        void close() {
            if (isPipe) {
                Syscalls.close(readFd);
                Syscalls.close(writeFd);
            } else {
                notifier.close();
            }
        }
    }

    /** One registration of an fd slot. */
    final class Handler {
        final FdSlot slot;
        final int seq;
        volatile int retired = LIVE;
        final AtomicInteger callsAfterCrossRetire = new AtomicInteger();

        Handler(FdSlot slot, int seq) {
            this.slot = slot;
            this.seq = seq;
        }

        boolean poll() {
            return slot.unseen.get() > 0;
        }

        void onRead() {
            checkHome("fd handler");
            int r = retired;
            ledger.check(r != RETIRED_HOME, "handler " + seq + " of fd slot " + slot.id
                    + " called after its removal returned on the home thread");
            if (r == RETIRED_CROSS) {
                ledger.check(callsAfterCrossRetire.incrementAndGet() <= 1, "handler " + seq + " of fd slot " + slot.id
                        + " called twice after its removal returned on another thread");
                ledger.count("fd.call.afterCrossRemove");
            }
            slot.unseen.set(0);
            slot.drain();
            ledger.count("fd.call");
            int dice = quiet ? -1 : homeRandom.nextInt(32);
            if (dice == 0) {
                slot.remove(); // from inside the handler
            } else if (dice == 1) {
                slot.set(homeRandom.nextBoolean()); // replaced from inside the handler
            }
        }
    }
}
