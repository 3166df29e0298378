// SPDX-License-Identifier: Apache-2.0
package io.jaio;

import java.util.Objects;
import java.util.concurrent.CountDownLatch;

import io.jaio.internal.loop.LoopThreads;

/**
 * A thread that owns an {@link AioContext} and polls it until stopped (QEMU's {@code IOThread}).
 * The context is built on the new thread, which becomes its home thread and current context.
 * New IOThreads poll adaptively up to 32768 ns, QEMU's IOThread default.
 *
 * <p>Threading: {@link #start}, {@link #stop}, {@link #join} and the getters may be called from
 * any thread except the IOThread itself ({@code stop()} and {@code join()} from inside would wait
 * for themselves and fail). {@link #stop()} is idempotent.
 */
public final class IOThread implements AutoCloseable {
    /** QEMU IOTHREAD_POLL_MAX_NS_DEFAULT. */
    public static final long DEFAULT_POLL_MAX_NS = 32768;

    private final Thread thread;
    private final CountDownLatch started = new CountDownLatch(1);
    private volatile AioContext ctx;
    private volatile Throwable failure;
    /** Written by the stop bottom half on the IOThread; read by its loop. */
    private boolean running = true;
    private final java.util.concurrent.atomic.AtomicBoolean stopping = new java.util.concurrent.atomic.AtomicBoolean();

    private IOThread(String name, AioContext.Builder builder) {
        this.thread = Thread.ofPlatform().name("IO " + name).unstarted(() -> run(builder));
    }

    /**
     * Starts an IOThread named {@code name} with default options.
     *
     * @param name the thread's and the context's name
     * @return the running thread
     * @throws ErrnoException if the context cannot be built
     */
    public static IOThread start(String name) throws ErrnoException {
        return start(name, AioContext.builder().name(name).pollParams(DEFAULT_POLL_MAX_NS, 0, 0));
    }

    /**
     * Starts an IOThread whose context is built from {@code builder} on the new thread.
     *
     * @param name the thread's name
     * @param builder the context's options; used on the new thread
     * @return the running thread
     * @throws ErrnoException if the context cannot be built
     */
    public static IOThread start(String name, AioContext.Builder builder) throws ErrnoException {
        Objects.requireNonNull(builder, "builder");
        IOThread t = new IOThread(name, builder);
        t.thread.start();
        boolean interrupted = false;
        while (true) {
            try {
                t.started.await();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        if (t.ctx == null) {
            Throwable f = t.failure;
            if (f instanceof ErrnoException e) {
                throw e;
            }
            throw new IllegalStateException("IOThread '" + name + "' failed to start", f);
        }
        return t;
    }

    private void run(AioContext.Builder builder) {
        AioContext c;
        try {
            c = builder.build();
            c.makeCurrent();
        } catch (Throwable e) {
            failure = e;
            started.countDown();
            return;
        }
        ctx = c;
        started.countDown();
        try {
            while (running) {
                c.poll(true);
            }
        } catch (Throwable e) {
            failure = e;
        } finally {
            try {
                c.close();
            } catch (Throwable e) {
                if (failure == null) {
                    failure = e;
                }
            }
        }
    }

    /** {@return the context this thread runs} */
    public AioContext context() {
        return ctx;
    }

    /**
     * The platform thread.
     *
     * @return the platform thread that runs the context
     */
    public Thread thread() {
        return thread;
    }

    /**
     * Asks the loop to stop after the current iteration, waits for the thread to close its
     * context and exit. Idempotent.
     *
     * @throws IllegalStateException if the loop died of an exception or closing the context
     *     reported leaks; the cause says which
     */
    public void stop() {
        if (LoopThreads.hostThread() == thread) {
            throw new IllegalStateException("IOThread '" + thread.getName() + "' cannot stop itself (expected another thread)");
        }
        if (stopping.compareAndSet(false, true)) {
            try {
                ctx.scheduleOneShot("iothread-stop", () -> running = false);
            } catch (IllegalStateException closed) {
                // the loop already ended (it died of an exception); join() reports why
            }
        }
        join();
    }

    /** Waits for the thread to end (after {@link #stop()}). */
    public void join() {
        boolean interrupted = false;
        while (thread.isAlive()) {
            try {
                thread.join();
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        Throwable f = failure;
        if (f != null) {
            throw new IllegalStateException("IOThread '" + thread.getName() + "' ended with an error", f);
        }
    }

    /** {@link #stop()}. */
    @Override
    public void close() {
        stop();
    }
}
