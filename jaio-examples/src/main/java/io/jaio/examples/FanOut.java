// SPDX-License-Identifier: Apache-2.0
package io.jaio.examples;

import java.io.PrintStream;
import java.util.Map;
import java.util.TreeMap;
import java.util.zip.CRC32;

import io.jaio.AioContext;
import io.jaio.IOThread;

/**
 * Fan-out over a pool of IOThreads: the main context hands each job to one IOThread with
 * {@link AioContext#scheduleOneShot} (round robin), the IOThread computes it on its own thread
 * and hands the result back the same way, and the main thread's {@code poll()} collects the
 * results. No locks, no queues of our own: a one-shot bottom half is the way into a context
 * from another thread (QEMU's {@code aio_bh_schedule_oneshot}).
 *
 * <pre>
 * ./jaio example fan-out            # 4 IOThreads, 64 jobs
 * ./jaio example fan-out 8 1000     # 8 IOThreads, 1000 jobs
 * </pre>
 *
 * <p>Threading: {@code results}, {@code perThread} and {@code done} are touched only on the main
 * context's home thread, in its callbacks; each job's work runs on one IOThread.
 */
public final class FanOut {
    private static final int BLOCK_BYTES = 64 * 1024;

    private FanOut() {
    }

    /** The job: the CRC32 of a 64 KiB block whose bytes depend on {@code job}. Any thread. */
    static long work(int job) {
        byte[] block = new byte[BLOCK_BYTES];
        for (int i = 0; i < block.length; i++) {
            block[i] = (byte) (i * 31 + job);
        }
        CRC32 crc = new CRC32();
        crc.update(block);
        return crc.getValue();
    }

    /**
     * Runs the fan-out.
     *
     * @param args optionally the number of IOThreads and the number of jobs
     * @throws Exception if an IOThread cannot start
     */
    public static void main(String[] args) throws Exception {
        run(System.out, args);
    }

    static void run(PrintStream out, String... args) throws Exception {
        int threads = args.length > 0 ? Integer.parseInt(args[0]) : 4;
        int jobs = args.length > 1 ? Integer.parseInt(args[1]) : 64;
        if (threads < 1 || jobs < 1) {
            throw new IllegalArgumentException("threads=" + threads + ", jobs=" + jobs + " (expected both >= 1)");
        }
        try (AioContext main = AioContext.builder().name("fan-out").build()) {
            IOThread[] pool = new IOThread[threads];
            try {
                for (int i = 0; i < threads; i++) {
                    pool[i] = IOThread.start("worker-" + i);
                }
                long[] results = new long[jobs];
                Map<String, Integer> perThread = new TreeMap<>();
                int[] done = {0};
                for (int j = 0; j < jobs; j++) {
                    int job = j;
                    AioContext worker = pool[j % threads].context();
                    worker.scheduleOneShot("job " + j, () -> {
                        long crc = work(job); // on the IOThread
                        String who = Thread.currentThread().getName();
                        main.scheduleOneShot("result " + job, () -> { // back on the main thread
                            results[job] = crc;
                            perThread.merge(who, 1, Integer::sum);
                            done[0]++;
                        });
                    });
                }
                while (done[0] < jobs) {
                    main.poll(true);
                }
                long combined = 0;
                for (int j = 0; j < jobs; j++) {
                    if (results[j] != work(j)) {
                        throw new IllegalStateException("job " + j + ": got " + results[j] + ", expected " + work(j));
                    }
                    combined ^= results[j];
                }
                out.println(jobs + " jobs on " + threads + " IOThreads, every result checked; xor of the CRCs = "
                        + Long.toHexString(combined));
                out.println("jobs per thread: " + perThread);
            } finally {
                for (IOThread t : pool) {
                    if (t != null) {
                        t.close();
                    }
                }
            }
        }
    }
}
