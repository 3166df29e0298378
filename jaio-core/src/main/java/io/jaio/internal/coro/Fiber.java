package io.jaio.internal.coro;

/**
 * One suspendable stack: the mechanism under {@code io.jaio.Coroutine}. {@link #run()} starts or
 * resumes it on the calling thread and returns when it suspends ({@link Fibers#suspend()}) or its
 * body ends. Made by {@link Fibers#create}.
 *
 * <p>Threading: one thread at a time; the owner (a coroutine) serialises run() calls.
 */
public interface Fiber {
    /** Starts or resumes the body on this thread until it suspends or ends. */
    void run();

    /** Whether the body has ended. */
    boolean isDone();
}
