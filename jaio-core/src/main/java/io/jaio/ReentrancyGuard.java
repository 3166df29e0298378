package io.jaio;

/**
 * Marks a device as "in I/O" while one of its bottom halves runs (QEMU's
 * {@code MemReentrancyGuard}). The bottom half still runs when the guard is already engaged;
 * code that must refuse re-entrant access checks {@link #isEngaged()}.
 *
 * <p>Home thread of the context whose bottom halves use it.
 */
public final class ReentrancyGuard {
    private boolean engagedInIo;
    private long reentries;

    /** A guard that is not engaged. */
    public ReentrancyGuard() {
    }

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
