// SPDX-License-Identifier: Apache-2.0
package io.jaio;

/**
 * The unit of a timer's expiry values (QEMU {@code SCALE_NS/US/MS}). Deadlines are stored in
 * nanoseconds; the scale only multiplies what {@link Timer#mod} is given.
 */
public enum TimerScale {
    /** Nanoseconds. */
    NS(1),
    /** Microseconds. */
    US(1_000),
    /** Milliseconds. */
    MS(1_000_000);

    private final long nanos;

    TimerScale(long nanos) {
        this.nanos = nanos;
    }

    /** {@return nanoseconds per unit} */
    public long nanos() {
        return nanos;
    }
}
