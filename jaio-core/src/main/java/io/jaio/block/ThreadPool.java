// SPDX-License-Identifier: Apache-2.0
package io.jaio.block;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.ArrayDeque;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.LongSupplier;

import io.jaio.AioContext;
import io.jaio.internal.jfr.JaioEvents;
import io.jaio.internal.jfr.ThreadPoolRequestEvent;
import io.jaio.internal.jfr.ThreadPoolWorkerEvent;
import io.jaio.internal.loop.BhNode;
import io.jaio.internal.loop.BhQueue;
import io.jaio.internal.loop.CallbackRunner;
import io.jaio.internal.loop.ContextCore;
import io.jaio.internal.sys.Errno;

/**
 * The thread pool of one context (QEMU {@code util/thread-pool.c}): work runs on worker threads,
 * completions come back on the context's home thread through a bottom half. Made on first use by
 * {@link #of(AioContext)} (formerly {@code AioContext.threadPool()}) and kept in the context,
 * which closes it.
 *
 * <p>Sizing follows the context's {@code threadPoolMin}/{@code threadPoolMax} (QEMU defaults 0
 * and 64) and changes live with {@link AioContext#setThreadPoolParams}. A submission spawns a
 * worker when none is idle and fewer than max run; workers are started one at a time from the
 * home thread (a bottom half), each new one starting the next. A worker idle for 10 s exits when
 * more than min run. Closing the context waits for every worker to exit.
 *
 * <p>Implementation notes. {@code lock} guards the request queue, the thread counters and the
 * QUEUED→ACTIVE/DONE transitions. Finished tasks are pushed by workers (any thread) onto a
 * lock-free stack with one exchange, like the bottom-half queue; the completion bottom half moves
 * them, in finishing order, to a home-thread list and runs their callbacks. While callbacks run,
 * the completion bottom half stays scheduled, so a callback that runs a nested poll() still
 * completes the others (QEMU 3c80ca158c); it is cancelled afterwards (b7a745dc33). Signals are
 * sent with the lock held (f4f71363fc); the completion bottom half is scheduled outside it
 * (3c7b72ddca).
 *
 * <p>Threading: {@link #submit} and {@link #submitCallable} on the home thread; everything else
 * is internal.
 */
public final class ThreadPool {
    /** QEMU worker idle timeout. */
    static final long IDLE_TIMEOUT_MS = 10_000;
    private static final VarHandle DONE_HEAD;
    private static final ThreadPoolTask UNLINKED = new ThreadPoolTask() {
        @Override
        protected long run() {
            return 0;
        }

        @Override
        protected void complete(long ret) {
        }
    };

    static {
        try {
            DONE_HEAD = MethodHandles.lookup().findVarHandle(ThreadPool.class, "doneHead", ThreadPoolTask.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    final AioContext ctx;
    /** The context's CallbackRunner: failures of tasks and completions go to its error handler. */
    private final CallbackRunner callbacks;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition requestCond = lock.newCondition();
    private final Condition workerStopped = lock.newCondition();
    private final ArrayDeque<ThreadPoolTask> requests = new ArrayDeque<>();
    private final BhNode completionBh;
    private final BhNode newThreadBh;
    // guarded by lock
    private int curThreads;
    private int idleThreads;
    private int newThreads;
    private int pendingThreads;
    private int minThreads;
    private int maxThreads;
    private int threadSeq;
    /** Top of the stack of finished tasks; accessed through DONE_HEAD. */
    @SuppressWarnings("unused")
    private ThreadPoolTask doneHead;
    // home thread: finished tasks taken off the stack, oldest first
    private ThreadPoolTask completedHead;
    private ThreadPoolTask completedTail;
    private int inFlight;
    private boolean closed;

    ThreadPool(AioContext ctx) {
        this(ctx, ContextCore.of(ctx).bottomHalves());
    }

    /** A pool whose bottom halves go on {@code bhs}: the context's queue, or a jcstress test's own. */
    ThreadPool(AioContext ctx, BhQueue bhs) {
        ContextCore.checkOpen(ctx);
        this.ctx = ctx;
        this.callbacks = ContextCore.of(ctx).callbacks();
        this.completionBh = bhs.create("thread-pool-completion", this::onCompletionBh, null, false);
        this.newThreadBh = bhs.create("thread-pool-spawn", this::onNewThreadBh, null, false);
        updateParams(ctx.threadPoolMin(), ctx.threadPoolMax());
    }

    /**
     * The thread pool of {@code ctx}, made on first use (QEMU aio_get_thread_pool; formerly
     * {@code AioContext.threadPool()}); its size limits are the context's
     * {@link AioContext#setThreadPoolParams}, and the context's {@code close()} closes it. Home
     * thread.
     *
     * @param ctx the context whose home thread calls
     * @return the context's pool (always the same one)
     * @throws IllegalStateException off the home thread or on a closed context
     */
    public static ThreadPool of(AioContext ctx) {
        Objects.requireNonNull(ctx, "ctx");
        ContextCore.checkHome(ctx, "ThreadPool.of()");
        ContextCore.checkOpen(ctx);
        return ((Slot) ContextCore.of(ctx).extension(ContextCore.Slot.THREAD_POOL, Slot::new)).pool;
    }

    /** The pool in its context's {@link ContextCore.Slot#THREAD_POOL} slot. */
    private static final class Slot implements ContextCore.Extension {
        final ThreadPool pool;

        Slot(AioContext ctx) { // under the core's lock, which orders it against setThreadPoolParams
            this.pool = new ThreadPool(ctx);
        }

        @Override
        public int threadPoolThreads() {
            return pool.threadCount();
        }

        @Override
        public int threadPoolQueued() {
            return pool.queuedCount();
        }

        @Override
        public void closeWithContext(List<String> leaks) {
            pool.close(leaks);
        }

        @Override
        public void onThreadPoolParams(int min, int max) {
            pool.updateParams(min, max);
        }
    }

    /** {@return the context whose home thread runs the completions} */
    public AioContext context() {
        return ctx;
    }

    // ---- submission (home thread) ----

    /**
     * Queues {@code task}; its completion runs in a later poll(). Home thread.
     *
     * @param task a task that is not pending
     * @throws IllegalStateException if the task is already pending or the context is closed
     */
    public void submit(ThreadPoolTask task) {
        Objects.requireNonNull(task, "task");
        checkHome();
        if (closed) {
            throw new IllegalStateException("thread pool of context '" + ctx.name() + "' is closed");
        }
        if (task.isPending()) {
            throw new IllegalStateException("task " + task + " is already submitted (expected one submission at a time)");
        }
        task.pool = this;
        task.ret = 0;
        task.submitNs = JaioEvents.threadPoolRequest() ? System.nanoTime() : 0; // published by the queue's lock
        task.ref(); // the pool's reference, dropped after complete() ran
        task.setState(ThreadPoolTask.QUEUED);
        inFlight++;
        lock.lock();
        try {
            if (idleThreads == 0 && curThreads < maxThreads) {
                spawnThreadLocked();
            }
            requests.addLast(task);
            requestCond.signal(); // with the lock held: close() may be waiting on the same lock
        } finally {
            lock.unlock();
        }
    }

    /**
     * Runs {@code work} on a worker and passes its result to {@code done} on the home thread
     * (QEMU thread_pool_submit_aio); {@code done} may be null. Allocates a task per call; hot
     * paths reuse a {@link ThreadPoolTask} instead. Home thread.
     *
     * @param work runs on a worker thread; returns a result {@code >= 0} or {@code -errno}
     * @param done receives the result on the home thread, or null
     * @return the control block, for cancellation
     */
    public ThreadPoolTask submitCallable(LongSupplier work, FileIoEngine.Completion done) {
        Objects.requireNonNull(work, "work");
        ThreadPoolTask t = new ThreadPoolTask() {
            @Override
            protected long run() {
                return work.getAsLong();
            }

            @Override
            protected void complete(long ret) {
                if (done != null) {
                    done.complete(ret);
                }
            }
        };
        submit(t);
        return t;
    }

    /** QEMU thread_pool_cancel_aio: takes effect only while the task is still queued. */
    void cancelAsync(ThreadPoolTask task) {
        boolean cancelled = false;
        lock.lock();
        try {
            if (task.state() == ThreadPoolTask.QUEUED && requests.remove(task)) {
                task.ret = -Errno.ECANCELED;
                task.setState(ThreadPoolTask.DONE); // release: pairs with the acquire in onCompletionBh
                cancelled = true;
            }
        } finally {
            lock.unlock();
        }
        if (cancelled) {
            pushDone(task);
            completionBh.schedule();
        }
    }

    private void checkHome() {
        if (!ctx.inHomeThread()) {
            throw new IllegalStateException("thread pool of context '" + ctx.name() + "' used from thread '"
                    + Thread.currentThread().getName() + "' (expected its home thread)");
        }
    }

    /**
     * Submitted tasks whose completion has not run yet. Home thread.
     *
     * @return submitted tasks whose completion has not run yet
     */
    public int inFlight() {
        return inFlight;
    }

    /**
     * Worker threads alive or being started. Any thread.
     *
     * @return worker threads alive or being started
     */
    public int threadCount() {
        lock.lock();
        try {
            return curThreads;
        } finally {
            lock.unlock();
        }
    }

    /**
     * Requests queued and not yet taken by a worker. Any thread.
     *
     * @return the queue's length at the moment the pool's lock was held
     */
    public int queuedCount() {
        lock.lock();
        try {
            return requests.size();
        } finally {
            lock.unlock();
        }
    }

    // ---- threads ----

    /** QEMU spawn_thread; lock held. */
    private void spawnThreadLocked() {
        curThreads++;
        newThreads++;
        if (pendingThreads == 0) {
            newThreadBh.schedule(); // threads are created from the home thread, one at a time
        }
    }

    private void onNewThreadBh() {
        lock.lock();
        try {
            doSpawnThreadLocked();
        } finally {
            lock.unlock();
        }
    }

    /** QEMU do_spawn_thread: starts one thread; that thread starts the next. Lock held. */
    private void doSpawnThreadLocked() {
        if (newThreads == 0) {
            return;
        }
        newThreads--;
        pendingThreads++;
        Thread t = Thread.ofPlatform().daemon(true).name("jaio-pool-" + ctx.name() + "-" + (threadSeq++)).unstarted(this::workerLoop);
        t.start();
    }

    private void workerLoop() {
        int threadsAfter;
        lock.lock();
        try {
            pendingThreads--;
            if (JaioEvents.threadPoolWorker()) {
                recordWorker("spawn", curThreads);
            }
            doSpawnThreadLocked();
            while (curThreads <= maxThreads) {
                ThreadPoolTask task = requests.pollFirst();
                if (task == null) {
                    idleThreads++;
                    boolean signalled;
                    try {
                        signalled = requestCond.await(IDLE_TIMEOUT_MS, TimeUnit.MILLISECONDS);
                    } catch (InterruptedException e) {
                        signalled = true; // nobody interrupts pool workers; treat it as a spurious wake-up
                    }
                    idleThreads--;
                    if (!signalled && requests.isEmpty() && curThreads > minThreads) {
                        break; // idle for 10 s and more than the minimum run
                    }
                    continue;
                }
                task.setState(ThreadPoolTask.ACTIVE);
                lock.unlock();
                try {
                    runTask(task);
                } finally {
                    lock.lock();
                }
            }
            curThreads--;
            threadsAfter = curThreads;
            workerStopped.signalAll(); // with the lock held (QEMU f4f71363fc)
            requestCond.signal(); // pass on a wake-up this thread may have consumed
        } finally {
            lock.unlock();
        }
        if (JaioEvents.threadPoolWorker()) {
            recordWorker("retire", threadsAfter);
        }
    }

    /** One io.jaio.ThreadPoolWorker event. */
    private void recordWorker(String action, int threads) {
        ThreadPoolWorkerEvent e = new ThreadPoolWorkerEvent();
        if (e.shouldCommit()) {
            e.context = ctx.name();
            e.action = action;
            e.threads = threads;
            e.commit();
        }
    }

    private void runTask(ThreadPoolTask task) {
        long ret;
        ThreadPoolRequestEvent event = null;
        long submitted = task.submitNs;
        if (submitted != 0 && JaioEvents.threadPoolRequest()) {
            event = new ThreadPoolRequestEvent();
            event.queueDelayNs = System.nanoTime() - submitted;
            event.begin();
        }
        try {
            ret = task.run();
        } catch (RuntimeException e) {
            callbacks.scheduleReport("thread pool task " + task, e);
            ret = -Errno.EIO;
        }
        if (event != null) {
            event.end();
            if (event.shouldCommit()) {
                event.context = ctx.name();
                event.result = ret;
                event.commit();
            }
        }
        task.ret = ret;
        task.setState(ThreadPoolTask.DONE); // release: the result is visible to whoever acquires DONE
        pushDone(task);
        completionBh.schedule(); // outside the lock (QEMU 3c7b72ddca)
    }

    private void pushDone(ThreadPoolTask task) {
        ThreadPoolTask.NEXT_DONE.set(task, UNLINKED); // plain: published by the exchange
        ThreadPoolTask prev = (ThreadPoolTask) DONE_HEAD.getAndSet(this, task); // pairs with the exchange in takeDone()
        ThreadPoolTask.NEXT_DONE.setRelease(task, prev); // pairs with getAcquire in takeDone()
    }

    /** Moves finished tasks from the stack to the home-thread list, oldest first. */
    private void takeDone() {
        ThreadPoolTask t = (ThreadPoolTask) DONE_HEAD.getAndSet(this, (ThreadPoolTask) null);
        ThreadPoolTask reversed = null;
        while (t != null) { // bounded by the tasks finished so far
            ThreadPoolTask next;
            int spins = 0;
            while ((next = (ThreadPoolTask) ThreadPoolTask.NEXT_DONE.getAcquire(t)) == UNLINKED) {
                if (++spins < 128) {
                    Thread.onSpinWait();
                } else {
                    Thread.yield(); // the pushing worker was preempted between its two steps
                }
            }
            ThreadPoolTask.NEXT_DONE.set(t, reversed);
            reversed = t;
            t = next;
        }
        while (reversed != null) {
            ThreadPoolTask next = (ThreadPoolTask) ThreadPoolTask.NEXT_DONE.get(reversed);
            ThreadPoolTask.NEXT_DONE.set(reversed, null);
            if (completedTail == null) {
                completedHead = reversed;
            } else {
                ThreadPoolTask.NEXT_DONE.set(completedTail, reversed);
            }
            completedTail = reversed;
            reversed = next;
        }
    }

    /** QEMU thread_pool_completion_bh. */
    private void onCompletionBh() {
        for (;;) { // bounded by the tasks finished while it runs: each is taken once
            if (completedHead == null) {
                takeDone(); // also what workers finished during the callbacks below
            }
            ThreadPoolTask t = completedHead;
            if (t == null) {
                break;
            }
            completedHead = (ThreadPoolTask) ThreadPoolTask.NEXT_DONE.get(t);
            if (completedHead == null) {
                completedTail = null;
            }
            ThreadPoolTask.NEXT_DONE.set(t, null);
            int s = t.state(); // acquire: pairs with setRelease(DONE) in runTask/cancelAsync
            assert s == ThreadPoolTask.DONE : "task on the done list in state " + s;
            long ret = t.ret;
            t.setState(ThreadPoolTask.IDLE); // may be resubmitted from complete()
            inFlight--;
            completionBh.schedule(); // a nested poll() in complete() must still finish the others
            try {
                t.complete(ret);
            } catch (RuntimeException e) {
                callbacks.report("completion of thread pool task " + t, e);
            } finally {
                t.unref();
            }
        }
        completionBh.cancel();
        // A worker that pushed after our last takeDone() may have seen the BH still scheduled,
        // and the cancel above then swallowed its schedule: look once more. The worker pushes
        // before it schedules, and the cancel (home thread: BhQueue.cancelHome) swallows a
        // worker's schedule only after reading, with acquire, the flags the worker's volatile RMW
        // wrote, so a push whose schedule was cancelled is visible to this read (QEMU restarts
        // its scan after the cancel for the same reason, b7a745dc33).
        if (DONE_HEAD.getVolatile(this) != null) { // pairs with the exchange in pushDone()
            completionBh.schedule();
        }
    }

    // ---- parameters and close ----

    /** QEMU thread_pool_update_params. */
    void updateParams(int min, int max) {
        lock.lock();
        try {
            minThreads = min;
            maxThreads = max;
            for (int i = curThreads; i < minThreads; i++) {
                spawnThreadLocked();
            }
            for (int i = curThreads; i > maxThreads; i--) {
                requestCond.signal(); // surplus workers wake, fail the loop condition and exit
            }
        } finally {
            lock.unlock();
        }
    }

    /**
     * QEMU thread_pool_free_aio: stops every worker and waits for it. Tasks still pending are
     * reported as leaks; their completions never run. Home thread, from the context's close().
     */
    void close(List<String> leaks) {
        closed = true;
        if (inFlight > 0) {
            leaks.add("thread pool had " + inFlight + " task(s) in flight");
        }
        lock.lock();
        try {
            curThreads -= newThreads;
            newThreads = 0;
            requests.clear();
            maxThreads = 0;
            requestCond.signalAll();
            while (curThreads > 0) {
                workerStopped.awaitUninterruptibly();
            }
        } finally {
            lock.unlock();
        }
        newThreadBh.delete();
        completionBh.delete();
    }
}
