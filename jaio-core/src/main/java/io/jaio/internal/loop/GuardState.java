// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.loop;

/**
 * The state of one {@code io.jaio.ReentrancyGuard}, engaged by the {@link CallbackRunner} around
 * each run of a guarded bottom half. The public guard holds one and reads it.
 *
 * <p>Threading: home thread of the context whose bottom halves use it.
 */
public final class GuardState {
    private boolean engagedInIo;
    private long reentries;

    /** Whether a guarded bottom half is running right now. */
    public boolean isEngaged() {
        return engagedInIo;
    }

    /** How many times a guarded bottom half started while the guard was already engaged. */
    public long reentries() {
        return reentries;
    }

    boolean engage() {
        boolean old = engagedInIo;
        if (old) {
            reentries++;
        }
        engagedInIo = true;
        return old;
    }

    void restore(boolean old) {
        engagedInIo = old;
    }
}
