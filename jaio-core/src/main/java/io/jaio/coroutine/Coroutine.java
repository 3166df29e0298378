// SPDX-License-Identifier: Apache-2.0
package io.jaio.coroutine;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.time.Duration;
import java.util.Objects;

import io.jaio.AioContext;
import io.jaio.ClockType;
import io.jaio.Timer;
import io.jaio.TimerScale;
import io.jaio.internal.coro.Fiber;
import io.jaio.internal.coro.Fibers;
import io.jaio.internal.jfr.CoroutineEvent;
import io.jaio.internal.jfr.JaioEvents;
import io.jaio.internal.loop.ContextCore;
import io.jaio.internal.loop.LoopThreads;

/**
 * A coroutine after QEMU's {@code Coroutine} ({@code util/qemu-coroutine.c}): a function with its
 * own stack that runs synchronously on the thread that enters it until it yields or returns.
 * {@link #enter} runs it now, nested inside the caller; {@link #yield()} returns control to
 * whoever entered it; entering it again continues after the yield.
 *
 * <p>With an event loop, coroutines are woken through their context: {@link #wake} (QEMU
 * aio_co_wake) resumes a coroutine in the context where it last ran; {@link #enterIn(AioContext)}
 * (aio_co_enter) enters it at once, queues it behind the running coroutine of the same thread, or
 * schedules it into another context; {@link #scheduleIn(AioContext)} (aio_co_schedule) makes the
 * context's home thread enter it in a coming {@code poll()}, from any thread, in FIFO order.
 *
 * <p>A coroutine woken from inside another coroutine of the same context is queued on the
 * waker's wake-up list and entered when the waker yields or returns (QEMU co_queue_wakeup). The
 * list is processed iteratively by the {@code enter} call at the bottom of the chain, so chains
 * of wake-ups do not grow the stack.
 *
 * <p>Rules, each checked with an {@link IllegalStateException} (QEMU aborts): a coroutine is
 * entered by one caller at a time ("re-entered recursively"), is never entered while scheduled
 * ("already scheduled in ..."), is never entered after it returned, and {@link #yield()} is
 * called from inside a coroutine only ("yielding to no one"), never with a native frame (an FFM
 * upcall) between the coroutine's entry and the yield. An exception that escapes a coroutine's
 * body ends it and goes to the error handler of the context it ran in; with no context it is
 * rethrown by the {@code enter} call that ran it, after the queued wake-ups ran. An
 * {@link Error} is always rethrown by that {@code enter} call, also after the queued wake-ups ran.
 *
 * <p>Mechanism: each coroutine is a virtual thread whose scheduler is the thread that enters it
 * (so entering is synchronous), pinned except while it yields (so a blocking call blocks the host
 * thread, as in QEMU). Inside a coroutine {@code Thread.currentThread()} is that virtual thread,
 * the same for the coroutine's whole life, and thread-locals are the coroutine's own; the
 * platform thread it runs on is {@link #hostThread()}. It needs the JVM flags
 * {@code --add-exports java.base/jdk.internal.vm=ALL-UNNAMED --add-opens java.base/java.lang=ALL-UNNAMED}
 * (or {@code =io.jaio} on the module path); {@link #create} names the missing ones. See
 * {@code docs/coroutines.md}. Switching allocates nothing once the coroutine exists.
 *
 * <p>Implementation notes.
 * <ul>
 * <li><b>Switching</b> (QEMU qemu_aio_coroutine_enter / qemu_coroutine_yield): each thread keeps
 *     its running coroutine in a thread-local (a coroutine's own virtual thread sets itself there
 *     once, at the start of its body); {@code enterIn} sets {@code caller}, {@code ctx},
 *     {@code host} and {@code hostCtx}, resumes the fiber, and on return prepends the coroutine's
 *     wake-up list to its local pending list (intrusive, through {@code queueNext}), looping until
 *     it is empty. {@code caller}, {@code host}, {@code hostCtx}, the wake-up list and
 *     {@code locksHeld} are touched only by the thread that runs the coroutine, one thread at a
 *     time (a move hands them over through the scheduling queue's release/acquire).</li>
 * <li><b>{@code ctx}</b> is stored with release before each resume and loaded with acquire by
 *     {@link #wake} on any thread (QEMU's smp_wmb / smp_read_barrier_depends pair), so a waker
 *     sees the context of the coroutine's latest entry or a later one; either is correct, since a
 *     coroutine moves only through {@link #rescheduleSelf}, which yields first.</li>
 * <li><b>{@code scheduled}</b> is claimed by CAS null→name and released by CAS name→null, so at
 *     most one scheduler owns the coroutine and the loser's message names the winner.
 *     {@code enter} reads it with acquire; a concurrent claim is a caller bug that QEMU also
 *     only detects best-effort.</li>
 * </ul>
 *
 * <p>Threading: {@link #create}, {@link #wake} and the queries may be called from any thread;
 * {@link #enter} from any thread that is not running this coroutine (normally the home thread of
 * the context it belongs to); {@link #yield()}, {@link #self()}, {@link #sleepNs} and
 * {@link #rescheduleSelf} from inside a coroutine. A coroutine runs on one thread at a time.
 */
public final class Coroutine {
    private static final VarHandle SCHEDULED;
    private static final VarHandle CTX;
    static final VarHandle SCHED_NEXT;
    /** Per-thread switching state: the running coroutine of each thread. */
    private static final ThreadLocal<CoThread> THREAD = ThreadLocal.withInitial(CoThread::new);
    /** The caller of a coroutine entered from outside any coroutine (QEMU's per-thread leader). */
    private static final Coroutine LEADER = new Coroutine();

    static {
        LoopThreads.installCoroutineHost(new Host()); // AioContext.current() and inHomeThread() inside coroutines
    }

    /** Tells the loop which platform thread and context host the calling coroutine. */
    private static final class Host implements LoopThreads.CoroutineHost {
        @Override
        public Thread hostThread() {
            Coroutine self = THREAD.get().current;
            return self == null ? null : self.host;
        }

        @Override
        public AioContext hostContext() {
            Coroutine self = THREAD.get().current;
            return self == null ? null : self.hostCtx;
        }
    }

    static {
        try {
            MethodHandles.Lookup l = MethodHandles.lookup();
            SCHEDULED = l.findVarHandle(Coroutine.class, "scheduled", String.class);
            CTX = l.findVarHandle(Coroutine.class, "ctx", AioContext.class);
            SCHED_NEXT = l.findVarHandle(Coroutine.class, "scheduledNext", Coroutine.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** The running coroutine of one thread; touched only by that thread. */
    private static final class CoThread {
        Coroutine current;
    }

    private final Runnable entry;
    private final Fiber fiber;
    /** Non-null while on an active chain (running, or it entered one that runs). Entering thread only. */
    private Coroutine caller;
    /**
     * The platform thread that runs the coroutine now, and that thread's current context:
     * set before each resume by the thread that enters it, read by the coroutine's own code
     * ({@link #hostThread()}, {@link AioContext#current()}). Plain fields: written on the
     * carrier before it mounts the coroutine's virtual thread, which orders them.
     */
    Thread host;
    AioContext hostCtx;
    /** The context of the last entry; written with release, read with acquire (QEMU smp_wmb / aio_co_wake). */
    @SuppressWarnings("unused")
    private AioContext ctx;
    /** Who scheduled it (QEMU co->scheduled), or null; set and cleared by CAS through SCHEDULED. */
    @SuppressWarnings("unused")
    private String scheduled;
    /** The context named by the last successful scheduling, for the double-scheduling message. */
    private volatile AioContext scheduledIn;
    /** Link in a CoQueue, a wake-up list or enter()'s pending list (QEMU co_queue_next). */
    Coroutine queueNext;
    /** Coroutines this one woke in its own context, entered when it yields or returns. */
    private Coroutine wakeupHead;
    private Coroutine wakeupTail;
    /** Link in a context's scheduled stack; see CoScheduleQueue. Accessed through SCHED_NEXT. */
    @SuppressWarnings("unused")
    private Coroutine scheduledNext;
    /** Entries and yields so far, for the io.jaio.Coroutine event (written by whoever runs it, one at a time). */
    private int enters;
    private int yields;
    /** System.nanoTime() of the first entry while io.jaio.Coroutine was recorded, else 0. */
    private long firstEnterNs;
    /** CoMutex/CoRwLock locks held (QEMU locks_held); a coroutine must not return holding one. */
    int locksHeld;
    /** What escaped the body, if anything. */
    private Throwable failure;
    /** Reused by the waits of CoWaiter-based helpers (one wait at a time per coroutine). */
    CoWaiter waiter;
    /** Reused by CoThreadPool.submit. */
    CoThreadPool.CoTask poolTask;
    /** Reused by CoUring.submit. */
    CoUring.Handler uringHandler;

    private Coroutine(Runnable entry) {
        this.entry = entry;
        this.fiber = Fibers.create(this::body);
    }

    private Coroutine() { // LEADER and list markers: never entered, need no fiber
        this.entry = null;
        this.fiber = null;
    }

    /** A placeholder coroutine for list markers; never entered. Works without the JVM flag. */
    static Coroutine newMarker() {
        return new Coroutine();
    }

    /**
     * A new coroutine that will run {@code entry} when first entered (QEMU
     * qemu_coroutine_create). Any thread.
     *
     * @param entry the coroutine's body; an exception from it goes to the context's error handler
     * @return the coroutine, not started
     * @throws IllegalStateException if the JVM lacks {@code --add-exports
     *     java.base/jdk.internal.vm=ALL-UNNAMED} or {@code --add-opens java.base/java.lang=ALL-UNNAMED}
     *     (the message names the missing flags)
     */
    public static Coroutine create(Runnable entry) {
        Objects.requireNonNull(entry, "entry");
        return new Coroutine(entry);
    }

    private void body() { // runs on the coroutine's own virtual thread
        THREAD.get().current = this; // the running coroutine of this virtual thread, for its whole life
        try {
            entry.run();
        } catch (Throwable t) {
            failure = t; // handed to enterIn(), which reports or rethrows it
        }
    }

    // ------------------------------------------------------------------------------------------
    // Entering and yielding

    /**
     * Runs {@code co} on this thread until it yields or returns (QEMU qemu_coroutine_enter), in
     * the calling thread's current context ({@link AioContext#current()}, possibly none).
     *
     * @param co the coroutine to run
     * @throws IllegalStateException if {@code co} is running or on the active chain, is
     *     scheduled or sleeping, or has returned
     */
    public static void enter(Coroutine co) {
        Objects.requireNonNull(co, "co");
        enterIn(AioContext.current(), co);
    }

    /**
     * QEMU qemu_aio_coroutine_enter: enters {@code co} in {@code ctx} (may be null), then every
     * coroutine it woke in its own context, newest wake-ups first, in a loop rather than by
     * recursion (QEMU c40a254570).
     */
    static void enterIn(AioContext ctx, Coroutine co) {
        CoThread t = THREAD.get();
        Coroutine from = t.current;
        Thread host = from != null ? from.host : Thread.currentThread();
        AioContext hostCtx = from != null ? from.hostCtx : LoopThreads.currentOutsideCoroutines();
        co.checkEnterable("enter");
        co.queueNext = null;
        Coroutine pending = co;
        Throwable thrown = null;
        while (pending != null) { // bounded: each round runs one coroutine that someone woke
            Coroutine to = pending;
            pending = to.queueNext;
            to.queueNext = null;
            if (to != co) {
                to.checkEnterable("wake-up");
            }
            to.caller = from != null ? from : LEADER;
            to.host = host;
            to.hostCtx = hostCtx;
            CTX.setRelease(to, ctx); // pairs with getAcquire in wake()
            if (to.enters++ == 0 && JaioEvents.coroutine()) {
                to.firstEnterNs = System.nanoTime();
            }
            t.current = to;
            try {
                to.fiber.run(from != null ? from.fiber : null);
            } finally {
                t.current = from;
            }
            if (to.wakeupHead != null) { // prepend: newer wake-ups run before older pending ones
                to.wakeupTail.queueNext = pending;
                pending = to.wakeupHead;
                to.wakeupHead = null;
                to.wakeupTail = null;
            }
            if (to.fiber.isDone()) {
                to.caller = null;
                if (JaioEvents.coroutine()) {
                    to.recordEnd(ctx);
                }
                thrown = to.terminated(ctx, thrown);
            }
        }
        if (thrown != null) {
            if (thrown instanceof RuntimeException re) {
                throw re;
            }
            if (thrown instanceof Error e) {
                throw e;
            }
            throw new IllegalStateException("coroutine failed", thrown);
        }
    }

    /** One io.jaio.Coroutine event for a coroutine that returned. */
    private void recordEnd(AioContext c) {
        CoroutineEvent e = new CoroutineEvent();
        if (e.shouldCommit()) {
            e.context = c != null ? c.name() : null;
            e.enters = enters;
            e.yields = yields;
            e.lifetimeNs = firstEnterNs != 0 ? System.nanoTime() - firstEnterNs : 0;
            e.commit();
        }
    }

    /** A finished coroutine: reports what escaped it; returns what enterIn() must rethrow. */
    private Throwable terminated(AioContext c, Throwable thrown) {
        Throwable f = failure;
        failure = null;
        if (f == null && locksHeld != 0) {
            f = new IllegalStateException(this + " returned holding " + locksHeld + " CoMutex/CoRwLock lock(s) (expected none)");
        }
        if (f == null) {
            return thrown;
        }
        if (f instanceof Error e) { // rethrown once the queued wake-ups ran: they must not be lost
            if (thrown != null && !(thrown instanceof Error)) {
                e.addSuppressed(thrown); // an Error outranks what a context-less coroutine threw
                return e;
            }
            if (thrown != null) {
                thrown.addSuppressed(e);
                return thrown;
            }
            return e;
        }
        if (c != null && f instanceof RuntimeException) {
            ContextCore.of(c).callbacks().report("coroutine " + this, f);
            return thrown;
        }
        if (thrown == null) {
            return f;
        }
        thrown.addSuppressed(f);
        return thrown;
    }

    private void checkEnterable(String how) {
        if (fiber == null) {
            throw new IllegalStateException(this + " is a placeholder and cannot be entered");
        }
        String s = (String) SCHEDULED.getAcquire(this); // pairs with the CAS in markScheduled()
        if (s != null) {
            throw new IllegalStateException(how + " of " + this + ": Co-routine was already scheduled in '" + s + "'"
                    + contextSuffix() + " (expected it to be entered by whoever scheduled it)");
        }
        if (caller != null) {
            throw new IllegalStateException(how + " of " + this + ": Co-routine re-entered recursively (it is running or on the active chain)");
        }
        if (fiber.isDone()) {
            throw new IllegalStateException(how + " of " + this + ": the coroutine has returned (expected a coroutine that has not finished)");
        }
    }

    private String contextSuffix() {
        AioContext c = scheduledIn;
        return c == null ? "" : " for context '" + c.name() + "'";
    }

    /**
     * Suspends the running coroutine and returns to whoever entered it (QEMU
     * qemu_coroutine_yield). Returns when the coroutine is entered again. Must be called
     * qualified ({@code Coroutine.yield()}): {@code yield} is a restricted identifier in Java.
     *
     * @throws IllegalStateException outside a coroutine ("yielding to no one"), or when a native
     *     frame (FFM upcall) lies between the coroutine's entry and this call
     */
    public static void yield() {
        Coroutine self = THREAD.get().current;
        if (self == null) {
            throw new IllegalStateException("Co-routine is yielding to no one: Coroutine.yield() called outside a coroutine on thread '"
                    + Thread.currentThread().getName() + "' (expected inside a coroutine)");
        }
        Coroutine c = self.caller;
        self.caller = null;
        self.yields++; // counted before the switch: whoever enters it next reads it after
        try {
            self.fiber.suspend();
        } catch (IllegalStateException pinned) {
            self.caller = c; // did not suspend: still running
            self.yields--;
            throw pinned;
        }
    }

    /** {@return the running coroutine of this thread, or null outside coroutines (QEMU qemu_coroutine_self)} */
    public static Coroutine self() {
        return THREAD.get().current;
    }

    /** {@return whether this thread is running a coroutine (QEMU qemu_in_coroutine)} */
    public static boolean inCoroutine() {
        return THREAD.get().current != null;
    }

    /**
     * The platform thread the caller runs on: the calling thread itself, or, inside a
     * coroutine, the thread that entered it (a coroutine's own {@link Thread#currentThread()}
     * is its virtual thread, the same for its whole life). Read from a field set at each entry,
     * never from a cached thread identity, so it is right after a move to another thread. Any
     * thread.
     *
     * @return the platform thread running the caller
     */
    public static Thread hostThread() {
        Thread t = Thread.currentThread();
        if (!t.isVirtual()) {
            return t;
        }
        Coroutine self = THREAD.get().current;
        return self == null ? t : self.host;
    }

    /**
     * Whether this coroutine is on an active chain: running, or it entered a coroutine that is
     * running (QEMU qemu_coroutine_entered). False before the first entry, while yielded and
     * once returned. Meaningful on the thread that runs it.
     *
     * @return whether this coroutine is on an active chain
     */
    public boolean isEntered() {
        return caller != null;
    }

    /** {@return whether the coroutine has returned} */
    public boolean isDone() {
        return fiber != null && fiber.isDone();
    }

    static Coroutine requireSelf(String what) {
        Coroutine self = THREAD.get().current;
        if (self == null) {
            throw new IllegalStateException(what + " called outside a coroutine on thread '" + Thread.currentThread().getName()
                    + "' (expected inside a coroutine)");
        }
        return self;
    }

    // ------------------------------------------------------------------------------------------
    // Waking through contexts

    /**
     * Resumes {@code co} in the context where it last ran (QEMU aio_co_wake): see
     * {@link #enterIn(AioContext)}. Any thread. From another thread (or context) the coroutine is
     * scheduled, which is safe even before it has yielded; from its own context it must have
     * yielded already.
     *
     * @param co a coroutine that has run at least once
     */
    public static void wake(Coroutine co) {
        Objects.requireNonNull(co, "co");
        AioContext c = (AioContext) CTX.getAcquire(co); // pairs with setRelease in enterIn()
        coEnter(c, co);
    }

    /** QEMU aio_co_enter, with {@code c} possibly null (no context: the thread itself). */
    static void coEnter(AioContext c, Coroutine co) {
        if (c != AioContext.current()) {
            if (c == null) {
                throw new IllegalStateException(co + " last ran outside any context and is woken from context '"
                        + AioContext.current().name() + "' (expected the same thread, or a coroutine entered in a context)");
            }
            co.scheduleIn(c);
            return;
        }
        Coroutine self = THREAD.get().current;
        if (self != null) {
            if (self == co) {
                throw new IllegalStateException(co + " woke itself (expected another coroutine)");
            }
            co.queueNext = null; // runs when self yields or returns
            if (self.wakeupTail == null) {
                self.wakeupHead = co;
            } else {
                self.wakeupTail.queueNext = co;
            }
            self.wakeupTail = co;
            return;
        }
        enterIn(c, co);
    }

    /**
     * Makes {@code ctx}'s home thread enter this coroutine in a coming poll() (QEMU
     * aio_co_schedule; formerly {@code AioContext.coSchedule}). Scheduled coroutines run in the
     * order they were scheduled, each entered with {@code ctx}. Safe even before this coroutine
     * has yielded: it runs on the home thread, which is busy until then if the coroutine runs
     * there. Any thread.
     *
     * @param ctx the context whose home thread enters the coroutine
     * @throws IllegalStateException if this coroutine is already scheduled or sleeping (the
     *     message names who scheduled it first), or {@code ctx} is closed
     */
    public void scheduleIn(AioContext ctx) {
        Objects.requireNonNull(ctx, "ctx");
        CoScheduleQueue.of(ctx).schedule(this);
    }

    /**
     * Enters this coroutine in {@code ctx} (QEMU aio_co_enter; formerly
     * {@code AioContext.coEnter}): from another thread (or context) it is scheduled
     * ({@link #scheduleIn}); from inside a coroutine of {@code ctx} it is queued and entered when
     * the running coroutine yields or returns; otherwise it is entered now. Any thread; from
     * {@code ctx}, this coroutine must have yielded.
     *
     * @param ctx the context to enter the coroutine in
     */
    public void enterIn(AioContext ctx) {
        Objects.requireNonNull(ctx, "ctx");
        coEnter(ctx, this);
    }

    /**
     * Claims the coroutine for one scheduler (QEMU's cmpxchg on co->scheduled).
     *
     * @throws IllegalStateException naming who scheduled it first
     */
    void markScheduled(String who, AioContext in) {
        String prev = (String) SCHEDULED.compareAndExchange(this, (String) null, who); // pairs with clearScheduled()
        if (prev != null) {
            throw new IllegalStateException(who + "(" + (in == null ? "" : "context '" + in.name() + "'") + "): " + this
                    + ": Co-routine was already scheduled in '" + prev + "'" + contextSuffix() + " (expected one scheduling at a time)");
        }
        scheduledIn = in;
    }

    /** Releases the claim of {@code who}; the coroutine may be entered again. */
    void clearScheduled(String who) {
        Object prev = SCHEDULED.compareAndExchange(this, who, (String) null); // pairs with markScheduled()
        assert prev == who : this + " scheduled by '" + prev + "', expected '" + who + "'";
    }

    /** {@return whether a scheduler (scheduleIn, sleepNs) holds the coroutine}. Any thread. */
    public boolean isScheduled() {
        return SCHEDULED.getAcquire(this) != null; // pairs with the CASes above
    }

    // ------------------------------------------------------------------------------------------
    // Moving and sleeping

    /**
     * Moves the running coroutine to {@code newCtx} (QEMU aio_co_reschedule_self): returns on
     * {@code newCtx}'s home thread. The move is made by a one-shot bottom half in the current
     * context that runs after this coroutine has yielded, so the other thread cannot enter it
     * before (QEMU 26b0b698c0). Does nothing if {@code newCtx} is already current.
     * Afterwards {@link AioContext#current()} is {@code newCtx} and {@link #hostThread()} its
     * home thread; the coroutine's own thread identity and thread-locals are unchanged.
     *
     * @param newCtx the context to continue in
     * @throws IllegalStateException outside a coroutine, or on a thread without a current context
     */
    public static void rescheduleSelf(AioContext newCtx) {
        Objects.requireNonNull(newCtx, "newCtx");
        Coroutine self = requireSelf("Coroutine.rescheduleSelf()");
        AioContext old = AioContext.current();
        if (old == newCtx) {
            return;
        }
        if (old == null) {
            throw new IllegalStateException("Coroutine.rescheduleSelf() on thread '" + hostThread().getName()
                    + "', which runs no context (expected a thread whose context is current: AioContext.makeCurrent())");
        }
        old.scheduleOneShot("co-reschedule-self", () -> self.scheduleIn(newCtx));
        Coroutine.yield();
    }

    private static final String SLEEP = "Coroutine.sleepNs";

    /**
     * {@link #sleepNs} for a {@link Duration}: {@code Coroutine.sleep(REALTIME, Duration.ofMillis(5))}.
     *
     * @param clock the clock the timer runs on
     * @param duration how long to sleep, not negative (saturates at about 292 years)
     * @throws IllegalStateException outside a coroutine or without a current context
     * @throws IllegalArgumentException if {@code duration} is negative
     */
    public static void sleep(ClockType clock, Duration duration) {
        Objects.requireNonNull(duration, "duration");
        if (duration.isNegative()) {
            throw new IllegalArgumentException("Coroutine.sleep(" + clock + ", " + duration + ") (expected a duration >= 0)");
        }
        sleepNs(clock, duration.getSeconds() >= Long.MAX_VALUE / 1_000_000_000L ? Long.MAX_VALUE
                : duration.getSeconds() * 1_000_000_000L + duration.getNano());
    }

    /**
     * Suspends the running coroutine for {@code ns} nanoseconds of {@code clock}, on a timer of
     * the current context (QEMU qemu_co_sleep_ns). While asleep the coroutine counts as
     * scheduled: entering or scheduling it fails.
     *
     * @param clock the clock the timer runs on
     * @param ns how long to sleep, {@code >= 0}
     * @throws IllegalStateException outside a coroutine or without a current context
     * @throws IllegalArgumentException if {@code ns < 0}
     */
    public static void sleepNs(ClockType clock, long ns) {
        Objects.requireNonNull(clock, "clock");
        if (ns < 0) {
            throw new IllegalArgumentException("ns=" + ns + " (expected >= 0)");
        }
        Coroutine self = requireSelf("Coroutine.sleepNs()");
        AioContext c = AioContext.current();
        if (c == null) {
            throw new IllegalStateException("Coroutine.sleepNs() on thread '" + hostThread().getName()
                    + "', which runs no context (expected a thread whose context is current)");
        }
        Timer timer = c.newTimer(clock, TimerScale.NS, () -> {
            self.clearScheduled(SLEEP);
            wake(self);
        });
        self.markScheduled(SLEEP, c);
        long now = c.clockNs(clock);
        timer.modNs(ns > Long.MAX_VALUE - now ? Long.MAX_VALUE : now + ns);
        try {
            Coroutine.yield();
        } catch (IllegalStateException pinned) {
            timer.delete();
            self.clearScheduled(SLEEP);
            throw pinned;
        }
    }

    @Override
    public String toString() {
        return fiber == null ? "Coroutine[marker]" : "Coroutine@" + Integer.toHexString(System.identityHashCode(this));
    }
}
