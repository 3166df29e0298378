// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.loop;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

import io.jaio.AioContext;
import io.jaio.ErrnoException;
import io.jaio.EventNotifier;
import io.jaio.internal.fdmon.HandlerTable;
import io.jaio.internal.sys.Syscalls;

/**
 * The wake-up protocol of one context (QEMU {@code util/async.c}: aio_notify, aio_notify_accept,
 * and the {@code notify_me} updates of aio_poll and aio_ctx_prepare/check): who must write the
 * context's eventfd to wake its home thread, and when the write can be skipped.
 *
 * <p>Implementation notes.
 * <ul>
 * <li><b>Algorithm</b> (spec 1.3). {@link #notifyMe} counts, in steps of 2, the poll() calls of
 *     the home thread that are about to block or blocked; {@link #notified} is a flag any thread
 *     sets. A notifier ({@link #aioNotify}) sets {@code notified}, then reads {@code notifyMe}
 *     and writes the eventfd only if it is non-zero. The home thread
 *     ({@link #announceBlocking}) raises {@code notifyMe}, then reads {@code notified} and skips
 *     blocking if it is set. Both sides use volatile accesses, so the store→load pairs are
 *     ordered (the Java memory model's total order over volatile accesses plays the part of
 *     QEMU's {@code smp_mb}): at least one side sees the other, and no wake-up is lost. So
 *     scheduling while the loop is awake costs no system call.</li>
 * <li><b>Invariants.</b> Only the home thread writes {@code notifyMe}, so its read-modify-writes
 *     are a plain read and a volatile (or release) store. {@code notified} is cleared only by the
 *     home thread ({@link #accept}), after each wait and before the next exchange of the
 *     bottom-half queue. {@link #kickers} is the number of threads inside {@link #kick()}, or
 *     negative once {@link #release()} has claimed the eventfd.</li>
 * <li><b>Races.</b> A notifier that finds {@code notified} already set returns at once: whoever
 *     set it has woken the loop, or the loop sees the flag before it blocks. A notify racing with
 *     {@link #accept} leaves the flag set, which only costs one non-blocking iteration later. A
 *     kick racing with close() cannot write into a reused fd number: close waits out the kickers
 *     before it closes the eventfd.</li>
 * <li><b>The home thread's own changes</b> ({@link #wakeForChange}) need no wake-up, since it
 *     recomputes its timeout before it next blocks, except in the two windows where a timeout was
 *     already computed: inside poll() between the timeout and the wait ({@link #waitWindow}), and
 *     while an outer loop waits between {@link io.jaio.AioSource#prepare()} and {@link io.jaio.AioSource#check()}
 *     (bit 0 of {@code notifyMe}).</li>
 * </ul>
 * The model checked by SPIN is docs/spin/jaio_notify.pml; jcstress checks the two store→load pairs
 * on a line-by-line model (WakeupProtocolTest).
 *
 * <p>Threading: {@link #aioNotify}, {@link #wakeForChange}, {@link #isNotified} and
 * {@link #writeCount} from any thread; the rest (including {@link #wakeForHomeChange}) on the
 * home thread.
 */
public final class Wakeup {
    /** The {@link #kickers} word once the context is closed (see kick()). */
    private static final int NOTIFY_CLOSED = Integer.MIN_VALUE;

    private static final VarHandle NOTIFY_ME;
    private static final VarHandle NOTIFIED;
    private static final VarHandle KICKERS;
    private static final VarHandle WRITES;
    private static final VarHandle SKIPPED;

    static {
        try {
            MethodHandles.Lookup l = MethodHandles.lookup();
            NOTIFY_ME = l.findVarHandle(Wakeup.class, "notifyMe", int.class);
            NOTIFIED = l.findVarHandle(Wakeup.class, "notified", boolean.class);
            KICKERS = l.findVarHandle(Wakeup.class, "kickers", int.class);
            WRITES = l.findVarHandle(Wakeup.class, "notifierWrites", long.class);
            SKIPPED = l.findVarHandle(Wakeup.class, "notifySkipped", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final AioContext ctx;
    private final EventNotifier notifier;
    private final MemorySegment notifierBuf;
    private final MemorySegment homeErrno = Syscalls.newErrnoSegment();

    /**
     * Who needs an eventfd write to wake up (QEMU notify_me), home thread writes, any thread
     * reads. Bit 0: an outer loop is between {@link io.jaio.AioSource#prepare()} and
     * {@link io.jaio.AioSource#check()} and may be blocked on the source's fd (a bit, not a count,
     * because a prepare need not be followed by a check). Bits 1..31: 2 x the home thread's
     * poll() calls in their blocking phase. Zero means the home thread re-examines everything
     * before it next blocks, so {@link #aioNotify()} may skip the eventfd write.
     */
    @SuppressWarnings("unused")
    private int notifyMe;
    /** Set by aioNotify() from any thread, cleared by the home thread after each wait. */
    @SuppressWarnings("unused")
    private boolean notified;
    /** Threads inside kick(), or NOTIFY_CLOSED once release() has claimed the eventfd. */
    @SuppressWarnings("unused")
    private int kickers;
    @SuppressWarnings("unused")
    private long notifierWrites;
    /**
     * aioNotify() calls that raised {@code notified} while nobody needed a write (notifyMe zero):
     * the system calls the protocol saved. Calls that found the flag already raised return before
     * this counter, so as to keep that, the hottest path, free of writes; they are not counted.
     */
    @SuppressWarnings("unused")
    private long notifySkipped;
    /** poll() is between computing its timeout and returning from its wait (home thread only). */
    private boolean waitWindow;

    private Wakeup(AioContext ctx, EventNotifier notifier, MemorySegment notifierBuf) {
        this.ctx = ctx;
        this.notifier = notifier;
        this.notifierBuf = notifierBuf;
    }

    /**
     * Makes the context's eventfd and registers it in {@code table} as the context's own
     * notifier: io_read drains it, io_poll is {@link #isNotified}. Closes the eventfd again if
     * the registration fails.
     */
    public static Wakeup open(AioContext ctx, HandlerTable table, Arena arena) throws ErrnoException {
        EventNotifier n = EventNotifier.create(false);
        try {
            Wakeup w = new Wakeup(ctx, n, arena.allocate(8, 8));
            table.set(n.fd(), w::onNotifierRead, null, w::isNotified, Wakeup::noop, true);
            return w;
        } catch (ErrnoException | RuntimeException e) {
            n.close();
            throw e;
        }
    }

    /** The context's own eventfd. */
    public int fd() {
        return notifier.fd();
    }

    // ---- any thread ----

    /** QEMU aio_notify; see {@link AioContext#aioNotify()}. */
    public void aioNotify() {
        // Already notified and not yet accepted: whoever set the flag has woken the loop, or the
        // loop will see the flag before it blocks. The loop clears the flag (a volatile store,
        // after this read in the total order) before its next exchange of the bottom-half queue
        // and its next read of the timer heads, so it sees what the caller queued before calling.
        // A burst from a producer thus costs one fence and at most one eventfd write per loop
        // iteration, not per call.
        if ((boolean) NOTIFIED.getVolatile(this)) { // pairs with the clear in accept()
            return;
        }
        NOTIFIED.setVolatile(this, true); // store→load with the read below; pairs with announceBlocking()'s notifyMe/notified
        if ((int) NOTIFY_ME.getVolatile(this) != 0) {
            kick();
        } else {
            SKIPPED.getAndAdd(this, 1L); // any thread: atomic; only read by skippedCount()
        }
    }

    /**
     * The wake-up that scheduling a bottom half, arming a timer or changing an fd registration
     * makes. From the home thread nothing is needed: it is not blocked, and before it next
     * blocks it recomputes its timeout from the bottom-half queue, the timer heads and the
     * registrations, so it cannot miss what it just did itself, unless an outer loop already
     * prepared (bit 0 of notifyMe). Other threads go through {@link #aioNotify()}.
     */
    public void wakeForChange() {
        // Between prepare and check an outer loop waits on a timeout computed before this
        // change, so the home thread notifies too (as QEMU always does); plain read: it writes notifyMe.
        // Likewise inside poll() between computing the timeout and waiting: io_poll, io_poll_begin
        // and io_poll_end callbacks run there, after the timeout was computed.
        if (!ctx.inHomeThread() || waitWindow || ((int) NOTIFY_ME.get(this) & 1) != 0) {
            aioNotify();
        }
    }

    /**
     * {@link #wakeForChange()} for a caller that knows it is the home thread (BhQueue's home
     * path): only the two windows need a notification. Plain reads: the home thread writes both.
     */
    public void wakeForHomeChange() {
        if (waitWindow || ((int) NOTIFY_ME.get(this) & 1) != 0) {
            aioNotify();
        }
    }

    /** Writes the eventfd, unless release() has claimed it (the counter keeps the fd from being closed under us). */
    private void kick() {
        if ((int) KICKERS.getAndAdd(this, 1) >= 0) { // pairs with the getAndAdd in release()
            Syscalls.writeNoErrno(notifier.fd(), Syscalls.EVENTFD_ONE, 8); // EAGAIN means "already set": fine
            WRITES.getAndAdd(this, 1L);
        }
        KICKERS.getAndAdd(this, -1);
    }

    /** How many times the eventfd was written to wake the loop. */
    public long writeCount() {
        return (long) WRITES.getVolatile(this);
    }

    /** How many aioNotify() calls raised the flag without writing the eventfd (see notifySkipped). */
    public long skippedCount() {
        return (long) SKIPPED.getVolatile(this);
    }

    /** The eventfd's io_poll: a notification is waiting to be accepted. */
    public boolean isNotified() {
        return (boolean) NOTIFIED.getVolatile(this); // pairs with the store in aioNotify()
    }

    // ---- home thread ----

    /** The eventfd's io_read. */
    public void onNotifierRead() {
        Syscalls.read(homeErrno, notifier.fd(), notifierBuf, 8); // drains; EAGAIN when already drained
    }

    /** The eventfd's io_poll_ready: nothing to do, the notification is accepted after the wait. */
    private static void noop() {
    }

    /**
     * Opens the window in which callbacks of this poll() must wake the loop themselves (the
     * timeout is about to be computed); returns the window state of the enclosing poll().
     */
    public boolean openWaitWindow() {
        boolean outer = waitWindow;
        waitWindow = true;
        return outer;
    }

    /** Closes the window opened by {@link #openWaitWindow()} once the wait is over. */
    public void closeWaitWindow(boolean outer) {
        waitWindow = outer;
    }

    /**
     * poll() is about to block: {@code notifyMe += 2}, then reads {@code notified}. Returns
     * whether a notification came, in which case poll() must not block.
     */
    public boolean announceBlocking() {
        int nm = (int) NOTIFY_ME.get(this); // only the home thread writes it
        NOTIFY_ME.setVolatile(this, nm + 2); // store→load with the read below; pairs with aioNotify()
        return (boolean) NOTIFIED.getVolatile(this);
    }

    /** poll() has waited: {@code notifyMe -= 2}. */
    public void endBlocking() {
        int nm = (int) NOTIFY_ME.get(this);
        NOTIFY_ME.setRelease(this, nm - 2); // finish the wait before clearing; read by aioNotify()
    }

    /** QEMU aio_notify_accept: clears {@code notified} after a wait. */
    public void accept() {
        // The volatile store is ordered before the bottom-half queue's exchange that follows in
        // poll() or AioSource.dispatch() (QEMU's smp_mb). When the flag is already clear there is
        // nothing to order; a notify racing with this read leaves it set, which only costs one
        // non-blocking iteration later.
        if ((boolean) NOTIFIED.getVolatile(this)) { // pairs with the store in aioNotify()
            NOTIFIED.setVolatile(this, false);
        }
    }

    /** AioSource.prepare(): sets bit 0 of notifyMe (QEMU aio_ctx_prepare). */
    public void beginOuterWait() {
        int nm = (int) NOTIFY_ME.get(this); // only the home thread writes it
        NOTIFY_ME.setVolatile(this, nm | 1); // store→load with the isNotified() read that follows; pairs with aioNotify()
    }

    /** AioSource.check(): clears bit 0 of notifyMe, then aio_notify_accept. */
    public void endOuterWait() {
        int nm = (int) NOTIFY_ME.get(this);
        NOTIFY_ME.setRelease(this, nm & ~1); // finish the outer wait before clearing; read by aioNotify()
        accept();
    }

    /** close(): waits out any kick() in flight, then closes the eventfd so a late kick cannot hit a reused fd. */
    public void release() {
        KICKERS.getAndAdd(this, NOTIFY_CLOSED); // from now on kick() sees a negative count and skips the write
        int spins = 0;
        while ((int) KICKERS.getVolatile(this) != NOTIFY_CLOSED) { // pairs with kick()'s decrement
            if (++spins < 1000) {
                Thread.onSpinWait();
            } else {
                Thread.yield();
            }
        }
        notifier.close();
    }
}
