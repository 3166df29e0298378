// SPDX-License-Identifier: Apache-2.0
package io.jaio.bench;

import java.util.concurrent.locks.LockSupport;

/**
 * A one-shot completion flag that the benchmark thread waits on by parking (so it does not steal
 * one of the machine's two cores from the loops being measured) and a loop thread signals.
 */
final class Waiter {
    private volatile boolean done;
    private volatile Thread waiter;

    /** Benchmark thread: arm before starting the work. */
    void arm() {
        done = false;
        waiter = Thread.currentThread();
    }

    /** Loop thread: the work is finished. */
    void signal() {
        done = true; // volatile store; pairs with the volatile load in await()
        LockSupport.unpark(waiter);
    }

    /** Benchmark thread: parks until {@link #signal()} (spurious wake-ups re-check the flag). */
    void await() {
        while (!done) {
            LockSupport.park(this);
        }
    }
}
