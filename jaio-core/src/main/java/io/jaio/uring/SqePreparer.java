// SPDX-License-Identifier: Apache-2.0
package io.jaio.uring;

/**
 * Fills one submission queue entry (QEMU's {@code prep_sqe} callback of {@code aio_add_sqe}).
 * The entry arrives zeroed; set everything but user_data, which the context owns. Called on the
 * home thread, synchronously inside {@link IoUring#addSqe}.
 */
@FunctionalInterface
public interface SqePreparer {
    /**
     * Fills {@code sqe}. Throwing abandons the request (the entry becomes a no-op).
     *
     * @param sqe the zeroed entry to fill, valid only during this call
     */
    void prepare(Sqe sqe);
}
