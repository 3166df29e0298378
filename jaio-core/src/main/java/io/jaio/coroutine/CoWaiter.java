// SPDX-License-Identifier: Apache-2.0
package io.jaio.coroutine;

import io.jaio.block.FileIoEngine;

/**
 * Turns one asynchronous completion into a coroutine wait (QEMU's pattern in
 * thread_pool_submit_co and luring_co_submit): the coroutine starts an operation whose completion
 * calls {@link #complete}, then {@link #await()}s. The completion wakes the coroutine only if it
 * is not entered, so a completion that arrives while the coroutine itself runs (a nested poll())
 * just records the result, and the wait loop sees it. One per coroutine, reused by every wait.
 *
 * <p>Threading: the home thread of the context that delivers the completion, which is the thread
 * the coroutine runs on.
 */
final class CoWaiter implements FileIoEngine.Completion {
    private final Coroutine co;
    private long result;
    private boolean done;

    private CoWaiter(Coroutine co) {
        this.co = co;
    }

    /** The running coroutine's waiter, armed for one operation. */
    static CoWaiter arm(String what) {
        Coroutine self = Coroutine.requireSelf(what);
        CoWaiter w = self.waiter;
        if (w == null) {
            w = new CoWaiter(self);
            self.waiter = w;
        }
        w.done = false;
        return w;
    }

    @Override
    public void complete(long res) {
        result = res;
        done = true;
        if (!co.isEntered()) {
            Coroutine.wake(co);
        }
    }

    /** Yields until {@link #complete} ran; returns its result. */
    long await() {
        while (!done) { // bounded by the operation: only its completion sets done
            Coroutine.yield();
        }
        return result;
    }
}
