// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.uring;

/**
 * Where the io_uring monitor sends completions that are not its own (the public submission API
 * of the context). User requests carry {@link #USER_BIT} in their user_data.
 *
 * <p>Threading: home thread only.
 */
public interface CqeSink {
    /** user_data bit that marks a request of the submission API. */
    long USER_BIT = 1L << 63;

    /** A completion of a user request has been reaped; queue it for {@link #dispatch()}. */
    void onCqe(long userData, int res, int flags);

    /** Runs the queued completion handlers in FIFO order; returns progress. */
    boolean dispatch();

    /** Whether handlers are queued (a blocking poll must then not sleep). */
    boolean hasReady();

    /** Requests submitted and not yet completed. */
    int inFlight();

    /** Forgets the completions queued for dispatch, without calling their handlers (close). */
    void dropReady();

    /** Forgets every request still in flight (close, after the ring is gone). */
    void abandonAll();
}
