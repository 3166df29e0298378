package io.jaio;

/**
 * Receives the completion of one io_uring request submitted with {@link AioContext#addSqe} or
 * {@link IoUring} (QEMU's {@code CqeHandler}). Caller-owned and reusable: one handler serves one
 * request at a time, and may be submitted again once its completion has been delivered (also
 * from inside {@link #onCompletion}).
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
        /** See {@link CqeHandler#onCompletion}. */
        void onCompletion(int res, int flags);
    }

    // Home-thread state, managed by UringRequests.
    int slot = -1;
    boolean queued;
    CqeHandler readyNext;
    int res;
    int flags;

    /** A handler for subclasses. */
    protected CqeHandler() {
    }

    /** A handler that calls {@code callback}. */
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

    /** Whether a request of this handler is submitted and its completion not yet delivered. */
    public final boolean isInFlight() {
        return slot >= 0 || queued;
    }
}
