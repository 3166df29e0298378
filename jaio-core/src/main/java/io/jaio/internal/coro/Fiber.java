// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.coro;

/**
 * One suspendable stack: the mechanism under {@code io.jaio.Coroutine}. Made by
 * {@link Fibers#create}.
 *
 * <p>Threading: {@link #run} on a platform thread, or inside the running fiber {@code caller};
 * {@link #suspend} inside this fiber only; {@link #isDone} any thread. The owner (a coroutine)
 * makes sure one caller at a time resumes a fiber.
 */
public interface Fiber {
    /**
     * Starts or resumes the body until it suspends or ends. {@code caller} is the fiber this call
     * is made from, or null when the call is made on a platform thread outside any fiber.
     *
     * @throws IllegalStateException if called on a virtual thread that is not a fiber, or if
     *     {@code caller} cannot suspend to let this one run (a native frame on its stack)
     */
    void run(Fiber caller);

    /**
     * Suspends this fiber, which must be the one running: its {@link #run} call returns. Returns
     * when the fiber is resumed.
     *
     * @throws IllegalStateException if the fiber cannot suspend here because a native frame
     *     (an FFM upcall) or a critical section is on its stack; the fiber keeps running
     */
    void suspend();

    /** Whether the body has ended. */
    boolean isDone();
}
