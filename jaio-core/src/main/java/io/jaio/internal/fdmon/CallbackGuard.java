// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.fdmon;

import java.util.function.BooleanSupplier;

/**
 * Runs user callbacks so that an exception goes to the context's error handler instead of
 * unwinding the loop. Home thread.
 */
public interface CallbackGuard {
    /** Runs {@code r}; {@code what} names it in an error report. */
    void run(Runnable r, String what, int fd);

    /** Runs an io_poll callback; a throwing one counts as "nothing ready". */
    boolean poll(BooleanSupplier p, int fd);
}
