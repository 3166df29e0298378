// SPDX-License-Identifier: Apache-2.0
package io.jaio.uring;

/**
 * Receives the completion of one io_uring request submitted with {@link IoUring#addSqe} or
 * {@link IoUring} (QEMU's {@code CqeHandler}). Caller-owned and reusable: one handler serves one
 * request at a time, and may be submitted again once its completion has been delivered (also
 * from inside {@link #onCompletion}).
 *
 * <p><b>Multishot requests</b> (a multishot POLL_ADD or accept, see {@link IoUring#pollAddMultishot}
 * and {@link IoUring#acceptMultishot}) complete more than once: every CQE but the last carries
 * {@link #CQE_F_MORE} in its flags, and the handler is called once per CQE, in order. The request
 * stays registered, and {@link #isInFlight()} stays true, until the final CQE (the one without
 * {@code CQE_F_MORE}, for example {@code -ECANCELED} after {@link IoUring#cancel}) has been
 * delivered; only then may the handler be submitted again.
 *
 * <p>Completions are delivered on the context's home thread, in the order the kernel completed
 * them, never inside the call that submitted, and they keep flowing when a handler runs a nested
 * {@code poll()}. A request still in flight when the context closes is cancelled and its handler
 * is never called.
 *
 * <p>Threading: home thread of the context it is submitted to.
 */
public abstract class CqeHandler {
    /** A lambda-friendly form of {@link CqeHandler#onCompletion}. */
    @FunctionalInterface
    public interface Callback {
        /**
         * See {@link CqeHandler#onCompletion}.
         *
         * @param res the operation's result, or {@code -errno}
         * @param flags IORING_CQE_F_* flags ({@link CqeHandler#CQE_F_MORE})
         */
        void onCompletion(int res, int flags);
    }

    /** CQE flag: more completions of this request follow (IORING_CQE_F_MORE, a multishot request). */
    public static final int CQE_F_MORE = 1 << 1;

    // Home-thread state, managed by UringRequests.
    /** The request's slot while the kernel may still post CQEs for it, else -1. */
    int slot = -1;
    /** CQEs of this handler reaped and waiting in the ready queue (more than one: multishot). */
    int queuedCqes;
    /** The generation of the request in flight (its user_data's bits 32..62); valid while slot >= 0. */
    int gen;

    /** A handler for subclasses. */
    protected CqeHandler() {
    }

    /**
     * A handler that calls {@code callback}.
     *
     * @param callback called with each completion
     * @return a new handler
     */
    public static CqeHandler of(Callback callback) {
        java.util.Objects.requireNonNull(callback, "callback");
        return new CqeHandler() {
            @Override
            protected void onCompletion(int res, int flags) {
                callback.onCompletion(res, flags);
            }
        };
    }

    /**
     * The request completed.
     *
     * @param res the CQE's result: the operation's return value, or {@code -errno}
     * @param flags the CQE's flags (IORING_CQE_F_*)
     */
    protected abstract void onCompletion(int res, int flags);

    /**
     * Whether a request of this handler is submitted and its completion not yet delivered; for a
     * multishot request, until its final CQE has been delivered.
     *
     * @return whether a request of this handler is in flight
     */
    public final boolean isInFlight() {
        return slot >= 0 || queuedCqes > 0;
    }
}
