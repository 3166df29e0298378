// SPDX-License-Identifier: Apache-2.0
package io.jaio.block;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.List;
import java.util.concurrent.locks.LockSupport;

import io.jaio.AioContext;
import io.jaio.internal.loop.BhNode;
import io.jaio.internal.loop.CallbackRunner;
import io.jaio.internal.loop.ContextCore;
import io.jaio.internal.sys.Errno;
import io.jaio.internal.sys.Syscalls;

/**
 * A few dedicated writer threads of one context, for the {@code write-threads} file engine: the
 * home thread puts tasks on a bounded lock-free queue, a writer takes each, runs it (a plain
 * pwrite into the page cache, typically) and hands finished tasks back in batches, with one
 * bottom half per batch, not one wake-up per task. Kept in the context's {@code WRITER_POOL}
 * slot and closed with it.
 *
 * <p>Why not the {@link ThreadPool}: that pool's queue is a lock and a condition, and every
 * finished task schedules the completion bottom half; at 4 KiB page-cache writes (a few
 * microseconds each) the lock, the signal and the wake-ups cost as much as the writes.
 *
 * <p>Implementation notes.
 * <ul>
 * <li>Submission queue: a bounded array queue with a sequence number per slot (Dmitry Vyukov's
 *     bounded MPMC queue; here one producer, the home thread, so the tail is a plain field). A
 *     slot is free for position {@code p} when its sequence is {@code p}, holds a task for
 *     position {@code p} when it is {@code p + 1}; a writer claims a position by a CAS on
 *     {@code head}, takes the task and sets the sequence to {@code p + capacity}. When the queue
 *     is full, tasks wait in a home-thread FIFO ({@code overflow*}) and move into the queue as
 *     completions come back, so nothing is refused and nothing is unbounded beyond what callers
 *     keep in flight.</li>
 * <li>Wake-ups (Dekker): a writer with nothing to do spins for {@link #SPIN_NS} (default 0), then stores
 *     PARKED, fences, looks at the queue once more and parks while its state stays PARKED. The
 *     home thread publishes a task, fences, and when no writer is RUNNING it CASes one PARKED
 *     writer to RUNNING and unparks it. Of the two fenced store-then-load pairs at least one
 *     load sees the other's store, so a task is never left with every writer asleep. A writer
 *     that takes a task and still sees a queued one wakes a parked sibling, so a burst spreads.
 *     A stale unpark permit only makes one park return early: the loop looks again.</li>
 * <li>Completions: a writer collects the tasks it finished in a private chain and pushes the
 *     whole chain onto a lock-free stack with one exchange (the chain's last link is first set to
 *     UNLINKED and released after the exchange, as in ThreadPool.pushDone), when the queue looks
 *     empty or after {@link #MAX_BATCH} tasks. Only the push onto an empty stack schedules the
 *     completion bottom half: a push onto a non-empty stack is seen by the run that the first
 *     push's schedule (made after that push) causes, since that run's exchange comes after both
 *     pushes in the stack head's order. The bottom half keeps itself scheduled while it runs
 *     completions (a completion that runs a nested poll still completes the others), then
 *     cancels and looks at the stack again, as ThreadPool's completion bottom half does.</li>
 * <li>A task's fields are written by the home thread before the queue's release of its slot
 *     sequence and read by the writer after its acquire; the result is written by the writer
 *     before the exchange that pushes its chain and read by the home thread after its own
 *     exchange (or the acquire of a link).</li>
 * </ul>
 *
 * <p>Threading: {@link #submit} on the home thread; writers run {@link Task#run}; completions on
 * the home thread.
 */
final class WriterPool {
    /** Queue capacity (a power of two); more tasks in flight wait in the overflow FIFO. */
    static final int CAPACITY = 1024;
    /** Tasks a writer finishes before it hands them back even if more are queued. */
    static final int MAX_BATCH = 16;
    /** The largest number of writers a pool may have. */
    static final int MAX_WRITERS = 64;
    /**
     * How long an idle writer spins before it parks (system property {@code jaio.writers.spinNs},
     * default 0: park at once). Spinning 5 or 20 microseconds cost more CPU per write and was
     * not faster on a shared 2-core machine (docs/performance.md, section 9, session 6).
     */
    static final long SPIN_NS = Long.getLong("jaio.writers.spinNs", 0L);

    private static final int RUNNING = 0;
    private static final int PARKED = 1;

    private static final VarHandle SEQ = MethodHandles.arrayElementVarHandle(long[].class);
    private static final VarHandle HEAD;
    private static final VarHandle DONE_HEAD;
    private static final VarHandle NEXT_DONE;
    private static final VarHandle STATE;
    private static final VarHandle CLOSING;
    /** Marks the last link of a chain between the exchange and the release of its real value. */
    private static final Task UNLINKED = new Task() {
        @Override
        long run(Writer w) {
            return 0;
        }

        @Override
        void complete(long result) {
        }
    };

    static {
        try {
            MethodHandles.Lookup l = MethodHandles.lookup();
            HEAD = l.findVarHandle(WriterPool.class, "head", long.class);
            DONE_HEAD = l.findVarHandle(WriterPool.class, "doneHead", Task.class);
            CLOSING = l.findVarHandle(WriterPool.class, "closing", boolean.class);
            NEXT_DONE = l.findVarHandle(Task.class, "nextDone", Task.class);
            STATE = l.findVarHandle(Writer.class, "state", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** Work for a writer; the engine's operations extend it. Home thread except {@link #run}. */
    abstract static class Task {
        /** Written by the writer before its chain is pushed; read on the home thread after the take. */
        long result;
        /** Link in a writer's chain and in the done stack (through NEXT_DONE), then in the home list. */
        @SuppressWarnings("unused")
        private Task nextDone;
        /** Link in the home thread's overflow FIFO. */
        Task nextOverflow;

        /**
         * Runs on a writer thread.
         *
         * @param w the writer, whose errno segment and iovec the task may use
         * @return bytes or 0 on success, or {@code -errno}
         */
        abstract long run(Writer w);

        /**
         * On the home thread, once, with what {@link #run} returned.
         *
         * @param result what {@link #run} returned
         */
        abstract void complete(long result);
    }

    /** One writer thread and what it owns. */
    static final class Writer {
        final Thread thread;
        /** This thread's errno capture segment. */
        final MemorySegment ccs = Syscalls.newErrnoSegment();
        /** One struct iovec (16 bytes) for this thread's pwritev2 calls. */
        final MemorySegment iov = Arena.ofAuto().allocate(16, 8);
        /** RUNNING or PARKED, through STATE (see the class notes). */
        @SuppressWarnings("unused")
        private int state;

        Writer(WriterPool pool, int index) {
            this.thread = Thread.ofPlatform().daemon(true).name("jaio-writer-" + pool.ctx.name() + "-" + index)
                    .unstarted(() -> pool.writerLoop(this));
        }
    }

    private final AioContext ctx;
    private final CallbackRunner callbacks;
    private final BhNode completionBh;
    private final Task[] slots = new Task[CAPACITY];
    private final long[] seq = new long[CAPACITY];
    private final Writer[] writers;
    /** Next position to produce (home thread only). */
    private long tail;
    /** Next position to consume; claimed with a CAS through HEAD. */
    @SuppressWarnings("unused")
    private volatile long head;
    /** Top of the stack of finished chains, through DONE_HEAD. */
    @SuppressWarnings("unused")
    private volatile Task doneHead;
    /** Set by close(); read by writers through CLOSING. */
    @SuppressWarnings("unused")
    private volatile boolean closing;
    // home thread
    private Task completedHead;
    private Task overflowHead;
    private Task overflowTail;
    private int inFlight;
    private boolean started;

    private WriterPool(AioContext ctx, int writerCount) {
        this.ctx = ctx;
        ContextCore core = ContextCore.of(ctx);
        this.callbacks = core.callbacks();
        this.completionBh = core.bottomHalves().create("writer-pool-completion", this::onCompletionBh, null, false);
        for (int i = 0; i < CAPACITY; i++) {
            seq[i] = i;
        }
        this.writers = new Writer[writerCount];
        for (int i = 0; i < writerCount; i++) {
            writers[i] = new Writer(this, i);
        }
    }

    /** The default number of writers: one per two cores, at least 1, at most 4. */
    static int defaultWriters() {
        return Math.max(1, Math.min(4, Runtime.getRuntime().availableProcessors() / 2));
    }

    /**
     * The pool of {@code ctx}, made with {@code writers} threads on first use (a later call's count
     * is ignored: the first call of a context sets it). Home thread.
     */
    static WriterPool of(AioContext ctx, int writers) {
        if (writers < 1 || writers > MAX_WRITERS) {
            throw new IllegalArgumentException("writers=" + writers + " (expected 1.." + MAX_WRITERS + ")");
        }
        ContextCore.checkHome(ctx, "FileIoEngines.writeThreads()");
        ContextCore.checkOpen(ctx);
        return ((Slot) ContextCore.of(ctx).extension(ContextCore.Slot.WRITER_POOL, c -> new Slot(c, writers))).pool;
    }

    /** The pool in its context's WRITER_POOL slot. */
    private static final class Slot implements ContextCore.Extension {
        final WriterPool pool;

        Slot(AioContext ctx, int writers) {
            this.pool = new WriterPool(ctx, writers);
        }

        @Override
        public void closeWithContext(List<String> leaks) {
            pool.close(leaks);
        }
    }

    /** {@return the number of writer threads} */
    int writerCount() {
        return writers.length;
    }

    /** {@return tasks submitted whose completion has not run yet} Home thread. */
    int inFlight() {
        return inFlight;
    }

    // ---- home thread: submission ----

    /** Queues {@code t}; its completion runs in a later poll(). Home thread. */
    void submit(Task t) {
        if (closing) {
            throw new IllegalStateException("writer pool of context '" + ctx.name() + "' is closed");
        }
        if (!started) {
            started = true;
            for (Writer w : writers) {
                w.thread.start();
            }
        }
        inFlight++;
        if (overflowHead != null || !offer(t)) {
            if (overflowTail == null) {
                overflowHead = t;
            } else {
                overflowTail.nextOverflow = t;
            }
            overflowTail = t;
            return;
        }
        wakeIfAllParked();
    }

    /** Puts {@code t} in the queue; false when it is full. Home thread (the only producer). */
    private boolean offer(Task t) {
        long pos = tail;
        int i = (int) pos & (CAPACITY - 1);
        if ((long) SEQ.getAcquire(seq, i) != pos) { // pairs with the setRelease in poll(): the slot is free
            return false;
        }
        slots[i] = t;
        SEQ.setRelease(seq, i, pos + 1); // publishes the slot and the task's fields: pairs with getAcquire in poll()
        tail = pos + 1;
        return true;
    }

    /** Moves overflowed tasks into the queue while it has room. Home thread. */
    private void drainOverflow() {
        boolean moved = false;
        while (overflowHead != null && offer(overflowHead)) { // bounded by the overflow FIFO's length
            Task t = overflowHead;
            overflowHead = t.nextOverflow;
            t.nextOverflow = null;
            if (overflowHead == null) {
                overflowTail = null;
            }
            moved = true;
        }
        if (moved) {
            wakeIfAllParked();
        }
    }

    /**
     * After a publication: wakes one parked writer when none is running, or when more than one
     * task is queued (the running ones may be inside a long system call). Home thread.
     */
    private void wakeIfAllParked() {
        VarHandle.fullFence(); // the slot's sequence before the states: pairs with the fence in park()
        boolean running = false;
        for (Writer w : writers) {
            if ((int) STATE.getOpaque(w) == RUNNING) { // ordered after the fence above
                running = true; // it looks at the queue again before it parks
                break;
            }
        }
        if (!running || tail - (long) HEAD.getOpaque(this) > 1) { // a hint: a stale head only wakes one more
            wakeOne();
        }
    }

    /** CASes one PARKED writer to RUNNING and unparks it; any thread. */
    private void wakeOne() {
        for (Writer w : writers) {
            if ((int) STATE.getOpaque(w) == PARKED && STATE.compareAndSet(w, PARKED, RUNNING)) { // pairs with park()'s getVolatile
                LockSupport.unpark(w.thread);
                return;
            }
        }
    }

    // ---- writers ----

    /** Takes the oldest queued task, or null when the queue is empty. Any writer. */
    private Task poll() {
        for (;;) { // retries only when another writer claimed the same position
            long pos = (long) HEAD.getVolatile(this);
            int i = (int) pos & (CAPACITY - 1);
            long s = (long) SEQ.getAcquire(seq, i); // pairs with the setRelease in offer()
            long diff = s - (pos + 1);
            if (diff < 0) {
                return null; // empty: the slot still waits for position pos
            }
            if (diff == 0 && HEAD.compareAndSet(this, pos, pos + 1)) {
                Task t = slots[i];
                slots[i] = null;
                SEQ.setRelease(seq, i, pos + CAPACITY); // frees the slot: pairs with getAcquire in offer()
                return t;
            }
            Thread.onSpinWait(); // another writer took position pos first
        }
    }

    /** Whether a task looks queued (a hint: it may be taken by another writer at once). */
    private boolean looksNonEmpty() {
        long pos = (long) HEAD.getVolatile(this);
        return (long) SEQ.getAcquire(seq, (int) pos & (CAPACITY - 1)) == pos + 1; // pairs with offer()'s setRelease
    }

    private void writerLoop(Writer w) {
        Task chainHead = null;
        Task chainTail = null;
        int batch = 0;
        long idleSince = 0;
        while (!(boolean) CLOSING.getOpaque(this)) { // ends with close(); each pass runs one task or idles once
            Task t = poll();
            if (t != null) {
                idleSince = 0;
                if (writers.length > 1 && looksNonEmpty()) {
                    wakeOne(); // more than this writer can take at once: spread the burst
                }
                long r;
                try {
                    r = t.run(w);
                } catch (RuntimeException e) {
                    callbacks.scheduleReport("writer task " + t, e);
                    r = -Errno.EIO;
                }
                t.result = r;
                NEXT_DONE.set(t, null); // plain: the chain is published by the exchange in push()
                if (chainTail == null) {
                    chainHead = t;
                } else {
                    NEXT_DONE.set(chainTail, t);
                }
                chainTail = t;
                if (++batch >= MAX_BATCH) {
                    push(chainHead, chainTail);
                    chainHead = chainTail = null;
                    batch = 0;
                }
                continue;
            }
            if (chainHead != null) {
                push(chainHead, chainTail); // the queue looks empty: hand back what is done
                chainHead = chainTail = null;
                batch = 0;
            }
            long now = System.nanoTime();
            if (idleSince == 0) {
                idleSince = now;
            }
            if (now - idleSince < SPIN_NS) {
                Thread.onSpinWait();
                continue;
            }
            park(w);
            idleSince = 0;
        }
    }

    /** The writer's side of the wake-up protocol (class notes). */
    private void park(Writer w) {
        STATE.setVolatile(w, PARKED);
        VarHandle.fullFence(); // the state before the queue: pairs with the fence in wakeIfAllParked()
        if (looksNonEmpty()) {
            STATE.compareAndSet(w, PARKED, RUNNING); // a waker may have done it already: either way running
            return;
        }
        while ((int) STATE.getVolatile(w) == PARKED && !(boolean) CLOSING.getVolatile(this)) { // pairs with wakeOne()'s CAS and close()
            LockSupport.park(this);
        }
        STATE.compareAndSet(w, PARKED, RUNNING); // woken by close() or spuriously
    }

    /** Pushes a finished chain onto the done stack; schedules the bottom half when it was empty. */
    private void push(Task first, Task last) {
        NEXT_DONE.set(last, UNLINKED); // plain: published by the exchange
        Task prev = (Task) DONE_HEAD.getAndSet(this, first); // pairs with the exchange in onCompletionBh()
        NEXT_DONE.setRelease(last, prev); // pairs with the getAcquire in takeDone()
        if (prev == null) {
            completionBh.schedule(); // after the push (class notes)
        }
    }

    // ---- home thread: completions ----

    /** Moves the done stack to the home list (order within a batch kept). Home thread. */
    private void takeDone() {
        Task t = (Task) DONE_HEAD.getAndSet(this, (Task) null); // pairs with the exchange in push()
        if (t == null) {
            return;
        }
        Task last = t;
        for (;;) { // bounded by the tasks pushed so far
            Task next;
            int spins = 0;
            while ((next = (Task) NEXT_DONE.getAcquire(last)) == UNLINKED) { // pairs with setRelease in push()
                if (++spins < 128) {
                    Thread.onSpinWait();
                } else {
                    Thread.yield(); // the pushing writer was preempted between the exchange and the release
                }
            }
            if (next == null) {
                break;
            }
            last = next;
        }
        NEXT_DONE.set(last, completedHead);
        completedHead = t;
    }

    private void onCompletionBh() {
        completionBh.schedule(); // a nested poll() in a completion still runs the others
        for (;;) { // bounded by the tasks finished while it runs: each is taken once
            if (completedHead == null) {
                takeDone();
            }
            Task t = completedHead;
            if (t == null) {
                break;
            }
            completedHead = (Task) NEXT_DONE.get(t);
            NEXT_DONE.set(t, null);
            inFlight--;
            try {
                t.complete(t.result);
            } catch (RuntimeException e) {
                callbacks.report("completion of writer task " + t, e);
            }
        }
        completionBh.cancel();
        // A writer that pushed onto the empty stack after the last takeDone() scheduled the bottom
        // half, and the cancel above may have swallowed it: look once more (as ThreadPool does;
        // its notes say why the cancel reads the writer's schedule).
        if (DONE_HEAD.getVolatile(this) != null) { // pairs with the exchange in push()
            completionBh.schedule();
        }
        drainOverflow();
    }

    // ---- close ----

    /** Stops and joins the writers; tasks still in flight are leaks whose completions never run. Home thread. */
    void close(List<String> leaks) {
        CLOSING.setVolatile(this, true); // pairs with the writers' reads of CLOSING
        if (inFlight > 0) {
            leaks.add("writer pool had " + inFlight + " task(s) in flight");
        }
        if (started) {
            for (Writer w : writers) {
                LockSupport.unpark(w.thread);
            }
            for (Writer w : writers) {
                boolean interrupted = false;
                for (;;) { // a writer ends after at most its current system call
                    try {
                        w.thread.join();
                        break;
                    } catch (InterruptedException e) {
                        interrupted = true;
                    }
                }
                if (interrupted) {
                    Thread.currentThread().interrupt();
                }
            }
        }
        completionBh.delete();
    }
}
