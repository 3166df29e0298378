// SPDX-License-Identifier: Apache-2.0
package io.jaio;

import io.jaio.internal.loop.GuardState;

/**
 * Marks a device as "in I/O" while one of its bottom halves runs (QEMU's
 * {@code MemReentrancyGuard}). The bottom half still runs when the guard is already engaged;
 * code that must refuse re-entrant access checks {@link #isEngaged()}.
 *
 * <p>Home thread of the context whose bottom halves use it.
 */
public final class ReentrancyGuard {
    /** Engaged and restored by the loop around each guarded run. */
    final GuardState state = new GuardState();

    /** A guard that is not engaged. */
    public ReentrancyGuard() {
    }

    /** {@return whether a guarded bottom half is running right now} */
    public boolean isEngaged() {
        return state.isEngaged();
    }

    /** {@return how many times a guarded bottom half started while the guard was already engaged} */
    public long reentries() {
        return state.reentries();
    }
}
