// SPDX-License-Identifier: Apache-2.0
package io.jaio.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * CPU used by other processes on this (shared) machine during an interval: the busy time of all
 * CPUs ({@code /proc/stat}) minus this JVM's own and its waited-for children's (fio) time
 * ({@code /proc/self/stat} utime, stime, cutime, cstime), in percent of one CPU. Only an
 * indication: a sample is a few jiffies wide. Not thread-safe; one per benchmark thread.
 */
final class ForeignCpu {
    private long busyStart;
    private long ownStart;
    private long startNs;

    void start() throws IOException {
        busyStart = systemBusyTicks();
        ownStart = ownTicks();
        startNs = System.nanoTime();
    }

    /** Percent of one CPU used by other processes since {@link #start()}. */
    double stopPercent() throws IOException {
        long elapsedNs = System.nanoTime() - startNs;
        long foreign = (systemBusyTicks() - busyStart) - (ownTicks() - ownStart);
        double ticksPerNs = 100 / 1e9; // USER_HZ = 100 on Linux
        return Math.max(0, foreign / (elapsedNs * ticksPerNs) * 100);
    }

    private static long systemBusyTicks() throws IOException {
        String[] f = Files.readAllLines(Path.of("/proc/stat")).get(0).trim().split("\\s+");
        long busy = 0;
        for (int i = 1; i < f.length && i <= 8; i++) { // user nice system idle iowait irq softirq steal
            if (i != 4 && i != 5) { // not idle, not iowait
                busy += Long.parseLong(f[i]);
            }
        }
        return busy;
    }

    private static long ownTicks() throws IOException {
        String s = Files.readString(Path.of("/proc/self/stat"));
        String[] f = s.substring(s.lastIndexOf(')') + 2).split(" "); // f[0] is field 3 (state)
        return Long.parseLong(f[11]) + Long.parseLong(f[12]) + Long.parseLong(f[13]) + Long.parseLong(f[14]);
    }
}
