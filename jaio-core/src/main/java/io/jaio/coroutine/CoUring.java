// SPDX-License-Identifier: Apache-2.0
package io.jaio.coroutine;

import java.util.Objects;

import io.jaio.AioContext;
import io.jaio.uring.CqeHandler;
import io.jaio.uring.IoUring;
import io.jaio.uring.SqePreparer;

/**
 * io_uring from a coroutine (QEMU luring_co_submit): {@link #submit} hands one entry to the
 * current context's ring and yields until its completion, returning the CQE's result. The
 * handler is owned by the coroutine and reused, so steady-state submissions allocate nothing
 * beyond what {@code prep} captures.
 *
 * <p>Threading: inside a coroutine running on the home thread of a context that runs on
 * io_uring and is current ({@link AioContext#makeCurrent()}).
 */
public final class CoUring {
    private CoUring() {
    }

    /** The coroutine's CQE handler: records the result and wakes the coroutine. */
    static final class Handler extends CqeHandler {
        final CoWaiter waiter;

        Handler(CoWaiter waiter) {
            this.waiter = waiter;
        }

        @Override
        protected void onCompletion(int res, int flags) {
            waiter.complete(res);
        }
    }

    /**
     * Submits the entry {@code prep} fills and yields until it completes.
     *
     * @param prep fills the submission entry
     * @return the CQE's result: the operation's return value or {@code -errno}
     * @throws IllegalStateException outside a coroutine, without a current context, or if the
     *     current context does not run on io_uring
     */
    public static int submit(SqePreparer prep) {
        Objects.requireNonNull(prep, "prep");
        CoWaiter w = CoWaiter.arm("CoUring.submit()");
        AioContext ctx = AioContext.current();
        if (ctx == null) {
            throw new IllegalStateException("CoUring.submit() on thread '" + Thread.currentThread().getName()
                    + "', which runs no context (expected the home thread of a current context)");
        }
        Coroutine self = Coroutine.self();
        Handler h = self.uringHandler;
        if (h == null || h.waiter != w) {
            h = new Handler(w);
            self.uringHandler = h;
        }
        IoUring.of(ctx).addSqe(prep, h);
        return (int) w.await();
    }
}
