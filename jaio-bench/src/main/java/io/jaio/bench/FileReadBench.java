// SPDX-License-Identifier: Apache-2.0
package io.jaio.bench;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import io.jaio.AioContext;
import io.jaio.FdMonitorKind;
import io.jaio.Fds;
import io.jaio.block.FileIoEngines;

/**
 * 4 KiB random reads from one file, one benchmark thread, at queue depth 1 and 32, with O_DIRECT
 * and with the page cache warm; jaio's three {@link io.jaio.block.FileIoEngine}s side by side with the
 * JDK's file channels and with fio in the same run. Not JMH: fio is a subprocess, and a row is a
 * few seconds of I/O, so this is a plain {@code main} that runs a warm-up round and then several
 * rounds, every row once per round, the row order rotating from round to round; it reports the
 * median IOPS of each row over the rounds, the ratio to fio's median, and allocation per read.
 *
 * <p>Rows (see the row classes): jaio io_uring engine, jaio Linux AIO engine (O_DIRECT only),
 * jaio thread-pool engine (all on one IO_URING context whose home thread is the benchmark
 * thread), {@code FileChannel.read} on one thread and on QD threads,
 * {@code AsynchronousFileChannel} with QD reads in flight, fio {@code ioengine=io_uring} and
 * {@code ioengine=libaio}. Ratios are to fio io_uring and to fio libaio.
 *
 * <p>Arguments: {@code [file] [seconds per row] [rounds] [json output or -]} (and the properties
 * {@code jaio.bench.modes}, {@code jaio.bench.depths}, {@code jaio.bench.fio}); defaults
 * {@code /var/tmp/jaio-bench/read-1g.img 2 5 -}. The file (1 GiB, {@code -Djaio.bench.fileMiB})
 * is made on first use and must live on a disk file system that accepts O_DIRECT (not tmpfs).
 */
public final class FileReadBench {
    /** Queue depths measured; {@code -Djaio.bench.depths=32} narrows a re-run. */
    static final int[] DEPTHS = Arrays.stream(System.getProperty("jaio.bench.depths", "1,32").split(","))
            .mapToInt(Integer::parseInt).toArray();
    /** Modes measured, O_DIRECT first; {@code -Djaio.bench.modes=direct} (or {@code cached}) narrows a re-run. */
    static final boolean[] MODES = modes(System.getProperty("jaio.bench.modes", "direct,cached"));

    private static boolean[] modes(String spec) {
        List<String> names = List.of(spec.split(","));
        boolean d = names.contains("direct");
        boolean c = names.contains("cached");
        if (!d && !c) {
            throw new IllegalArgumentException("jaio.bench.modes=" + spec + " (expected direct, cached or both)");
        }
        return d && c ? new boolean[] {true, false} : new boolean[] {d};
    }

    /** One measured interval of one row. {@code *BytesPerOp} are NaN where not measured. */
    record Result(long ops, long elapsedNs, double homeBytesPerOp, double allBytesPerOp, double foreignCpuPercent) {
        Result(long ops, long elapsedNs, double homeBytesPerOp, double allBytesPerOp) {
            this(ops, elapsedNs, homeBytesPerOp, allBytesPerOp, Double.NaN);
        }

        Result withForeignCpu(double percent) {
            return new Result(ops, elapsedNs, homeBytesPerOp, allBytesPerOp, percent);
        }

        double iops() {
            return ops * 1e9 / elapsedNs;
        }
    }

    /** One way of reading; {@link #run} keeps {@code qd} reads in flight for {@code durationNs}. */
    interface Row {
        String name();

        default boolean appliesTo(int qd) {
            return true;
        }

        /** Whether the row runs in this mode ({@code direct}: O_DIRECT, else the page cache). */
        default boolean appliesToMode(boolean direct) {
            return true;
        }

        default boolean tracksAllocation() {
            return false;
        }

        Result run(boolean direct, int qd, long durationNs, long seed) throws Exception;
    }

    private FileReadBench() {
    }

    public static void main(String[] args) throws Exception {
        Path file = Path.of(args.length > 0 ? args[0] : "/var/tmp/jaio-bench/read-1g.img");
        long durationNs = (long) (Double.parseDouble(args.length > 1 ? args[1] : "2") * 1e9);
        int rounds = Integer.parseInt(args.length > 2 ? args[2] : "5");
        String jsonOut = args.length > 3 ? args[3] : "-";
        long sizeBytes = Long.getLong("jaio.bench.fileMiB", 1024) << 20;
        long blocks = sizeBytes / ReadFile.BLOCK_BYTES;

        ReadFile.ensure(file, sizeBytes);
        System.out.printf("file %s, %d MiB; %d s per row, 1 warm-up round + %d rounds%n", file, sizeBytes >> 20,
                TimeUnit.NANOSECONDS.toSeconds(durationNs), rounds);

        int maxQd = Arrays.stream(DEPTHS).max().orElseThrow();
        try (Arena arena = Arena.ofShared(); // shared: the thread-pool engine's workers read into these buffers
                AioContext ctx = AioContext.builder().name("file-read-bench").fdMonitor(FdMonitorKind.IO_URING).build()) {
            if (!ctx.hasIoUring()) {
                throw new IllegalStateException("io_uring unavailable: " + ctx.ioUringUnavailableReason());
            }
            int directFd = Fds.open(file.toString(), Fds.O_RDONLY | Fds.O_DIRECT, 0);
            int cachedFd = Fds.open(file.toString(), Fds.O_RDONLY, 0);
            String fioPath = System.getProperty("jaio.bench.fio", "fio");
            FioReadRow fio = new FioReadRow(file, sizeBytes, fioPath, "io_uring");
            FioReadRow fioLibaio = new FioReadRow(file, sizeBytes, fioPath, "libaio");
            List<Row> rows = List.of(
                    new JaioReadRow("jaio io_uring engine", ctx, FileIoEngines.ioUring(ctx), directFd, cachedFd, blocks, maxQd,
                            arena),
                    new JaioReadRow("jaio linux-aio engine", ctx, FileIoEngines.linuxAio(ctx), directFd, cachedFd, blocks,
                            maxQd, arena, true),
                    new JaioReadRow("jaio thread-pool engine", ctx, FileIoEngines.threadPool(ctx), directFd, cachedFd, blocks,
                            maxQd, arena),
                    new JdkReadRows.FileChannelRow(file, blocks, 1),
                    new JdkReadRows.FileChannelRow(file, blocks, 0),
                    new JdkReadRows.AsyncRow(file, blocks),
                    fio,
                    fioLibaio);
            System.out.println("fio command (QD32, O_DIRECT): " + String.join(" ", fio.command(true, 32, durationNs)));
            try {
                Map<String, List<Result>> results = new LinkedHashMap<>();
                for (int round = -1; round < rounds; round++) {
                    boolean warmUp = round < 0;
                    runRound(rows, file, warmUp ? Math.min(durationNs, TimeUnit.SECONDS.toNanos(1)) : durationNs, round,
                            warmUp ? null : results);
                }
                report(rows, results, jsonOut, rounds, durationNs);
            } finally {
                Fds.close(directFd);
                Fds.close(cachedFd);
            }
        }
    }

    private static String key(boolean direct, int qd, String row) {
        return (direct ? "O_DIRECT" : "page cache") + "|" + qd + "|" + row;
    }

    private static void runRound(List<Row> rows, Path file, long durationNs, int round, Map<String, List<Result>> results)
            throws Exception {
        System.out.println(results == null ? "== warm-up round" : "== round " + (round + 1));
        ForeignCpu cpu = new ForeignCpu();
        for (boolean direct : MODES) {
            if (!direct) {
                ReadFile.warmPageCache(file);
            }
            for (int qd : DEPTHS) {
                int n = rows.size();
                for (int i = 0; i < n; i++) {
                    Row row = rows.get(Math.floorMod(i + round, n)); // rotate the order round by round
                    if (!row.appliesTo(qd) || !row.appliesToMode(direct)) {
                        continue;
                    }
                    long seed = 0x1234_5678L * (round + 3) + qd;
                    cpu.start();
                    Result r = row.run(direct, qd, durationNs, seed);
                    r = r.withForeignCpu(cpu.stopPercent());
                    System.out.printf(Locale.ROOT,
                            "  %-10s QD%-2d %-30s %10.0f IOPS  home %6.2f B/op  all %8.2f B/op  foreign CPU %4.0f %%%n",
                            direct ? "O_DIRECT" : "page cache", qd, row.name(), r.iops(), r.homeBytesPerOp(),
                            r.allBytesPerOp(), r.foreignCpuPercent());
                    if (results != null) {
                        results.computeIfAbsent(key(direct, qd, row.name()), k -> new ArrayList<>()).add(r);
                    }
                }
            }
        }
    }

    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        int n = s.length;
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    }

    private static void report(List<Row> rows, Map<String, List<Result>> results, String jsonOut, int rounds,
            long durationNs) throws IOException {
        StringBuilder json = new StringBuilder("[\n");
        System.out.println();
        System.out.printf("== summary: median over %d rounds of %d s (min-max); ratio = row median / fio median%n", rounds,
                TimeUnit.NANOSECONDS.toSeconds(durationNs));
        System.out.printf("%-10s %-4s %-30s %10s %21s %8s %8s %11s %11s %8s%n", "mode", "QD", "row", "IOPS", "min-max", "x fio",
                "x libaio", "home B/op", "all B/op", "foreign%");
        for (boolean direct : MODES) {
            for (int qd : DEPTHS) {
                List<Result> fio = results.get(key(direct, qd, "fio io_uring"));
                double fioMedian = fio == null ? Double.NaN : median(fio.stream().mapToDouble(Result::iops).toArray());
                List<Result> libaio = results.get(key(direct, qd, "fio libaio"));
                double libaioMedian = libaio == null ? Double.NaN : median(libaio.stream().mapToDouble(Result::iops).toArray());
                for (Row row : rows) {
                    List<Result> rs = results.get(key(direct, qd, row.name()));
                    if (rs == null) {
                        continue;
                    }
                    double[] iops = rs.stream().mapToDouble(Result::iops).toArray();
                    double med = median(iops);
                    double home = median(rs.stream().mapToDouble(Result::homeBytesPerOp).toArray());
                    double all = median(rs.stream().mapToDouble(Result::allBytesPerOp).toArray());
                    double foreign = median(rs.stream().mapToDouble(Result::foreignCpuPercent).toArray());
                    double min = Arrays.stream(iops).min().orElseThrow();
                    double max = Arrays.stream(iops).max().orElseThrow();
                    String mode = direct ? "O_DIRECT" : "page cache";
                    System.out.printf(Locale.ROOT, "%-10s %-4d %-30s %10.0f %10.0f-%-10.0f %7.2fx %7.2fx %11.3f %11.3f %8.0f%n",
                            mode, qd, row.name(), med, min, max, med / fioMedian, med / libaioMedian, home, all, foreign);
                    if (json.length() > 2) {
                        json.append(",\n");
                    }
                    json.append(String.format(Locale.ROOT,
                            "  {\"mode\": \"%s\", \"qd\": %d, \"row\": \"%s\", \"iopsMedian\": %.1f, \"iopsMin\": %.1f, "
                                    + "\"iopsMax\": %.1f, \"ratioToFio\": %.4f, \"ratioToFioLibaio\": %s, \"homeBytesPerOp\": %s, \"allBytesPerOp\": %s, "
                                    + "\"foreignCpuPercentMedian\": %.1f, \"iops\": %s}",
                            mode, qd, row.name(), med, min, max, med / fioMedian, jsonNumber(med / libaioMedian), jsonNumber(home), jsonNumber(all), foreign,
                            Arrays.toString(iops)));
                }
            }
        }
        json.append("\n]\n");
        if (!"-".equals(jsonOut)) {
            Files.writeString(Path.of(jsonOut), json);
        }
    }

    private static String jsonNumber(double v) {
        return Double.isNaN(v) ? "null" : String.format(Locale.ROOT, "%.4f", v);
    }
}
