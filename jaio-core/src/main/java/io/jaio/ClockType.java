// SPDX-License-Identifier: Apache-2.0
package io.jaio;

/**
 * The clocks a {@link Timer} can run on (QEMU's {@code QEMUClockType}).
 */
public enum ClockType {
    /** Monotonic host time ({@link System#nanoTime()}); always enabled. */
    REALTIME,
    /**
     * A virtual clock that only moves when code advances it ({@link AioContext#advanceVirtualClockNs}).
     * Disabled by default, as in QEMU, until {@link AioContext#setClockEnabled} turns it on; tests
     * use it to make timers deterministic.
     */
    VIRTUAL,
    /** Host wall-clock time in ns since the epoch; follows settimeofday and NTP. Always enabled. */
    HOST,
    /** The virtual clock's time, but always enabled (QEMU: the same as VIRTUAL outside icount). */
    VIRTUAL_RT
}
