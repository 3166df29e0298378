// SPDX-License-Identifier: Apache-2.0
package io.jaio.block;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

import io.jaio.AioContext;

/**
 * Work for a context's {@link ThreadPool}: {@link #run()} executes on a worker thread, then
 * {@link #complete(long)} runs on the context's home thread. Caller-owned and reusable: submit
 * it again once {@code complete} has run (also from inside {@code complete}).
 *
 * <p>States (QEMU thread-pool elements): QUEUED → ACTIVE → DONE. {@link #cancelAsync()} takes
 * effect only while QUEUED: the work never runs and {@code complete(-ECANCELED)} is delivered.
 * Once ACTIVE it runs to the end and completes normally. Either way {@code complete} runs exactly
 * once per submission, never inside {@link ThreadPool#submit}.
 *
 * <p>Publication: the worker writes the result, then stores DONE with release; the home thread
 * loads the state with acquire before reading the result (QEMU e77508292c).
 *
 * <p>Threading: {@code run} on a worker; everything else on the home thread.
 */
public abstract class ThreadPoolTask extends Aiocb {
    static final int IDLE = 0;
    static final int QUEUED = 1;
    static final int ACTIVE = 2;
    static final int DONE = 3;

    static final VarHandle STATE;
    static final VarHandle NEXT_DONE;

    static {
        try {
            MethodHandles.Lookup l = MethodHandles.lookup();
            STATE = l.findVarHandle(ThreadPoolTask.class, "state", int.class);
            NEXT_DONE = l.findVarHandle(ThreadPoolTask.class, "nextDone", ThreadPoolTask.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** Accessed through STATE; QUEUED→ACTIVE and QUEUED→DONE (cancel) under the pool lock. */
    @SuppressWarnings("unused")
    private int state;
    /** Written before DONE is released; read after DONE is acquired. */
    long ret;
    /** System.nanoTime() at submit while io.jaio.ThreadPoolRequest is recorded, else 0 (home thread, read by the worker after the queue's lock). */
    long submitNs;
    ThreadPool pool;
    /** Link in the pool's list of finished tasks (through NEXT_DONE). */
    @SuppressWarnings("unused")
    private ThreadPoolTask nextDone;

    /** A task that is not submitted. */
    protected ThreadPoolTask() {
    }

    /**
     * The work, on a worker thread. Return a result {@code >= 0} or {@code -errno}. An exception
     * goes to the context's error handler and completes the task with {@code -EIO}.
     *
     * @return a result {@code >= 0}, or {@code -errno}
     */
    protected abstract long run();

    /**
     * The task finished (or was cancelled: {@code -ECANCELED}); on the home thread.
     *
     * @param ret what {@link #run()} returned, {@code -EIO} if it threw, or {@code -ECANCELED}
     */
    protected abstract void complete(long ret);

    @Override
    public AioContext context() {
        ThreadPool p = pool;
        if (p == null) {
            throw new IllegalStateException("task " + this + " was never submitted (expected a submitted task)");
        }
        return p.ctx;
    }

    @Override
    public void cancelAsync() {
        ThreadPool p = pool;
        if (p != null) {
            p.cancelAsync(this);
        }
    }

    /** {@return whether the task is submitted and its completion has not run yet} */
    public final boolean isPending() {
        int s = (int) STATE.getAcquire(this); // pairs with setRelease in the worker and in cancel
        return s != IDLE;
    }

    int state() {
        return (int) STATE.getAcquire(this);
    }

    void setState(int s) {
        STATE.setRelease(this, s);
    }
}
