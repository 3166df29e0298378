// SPDX-License-Identifier: Apache-2.0
package io.jaio.bench;

import java.io.IOException;
import java.math.BigDecimal;
import java.math.MathContext;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The machine-readable summary of one {@code bench/run.sh} run: reads the run's result files
 * and writes {@code summary.json}, one row per headline figure, jaio beside its competitor:
 * <pre>
 * {"git": "&lt;sha&gt;", "rows": [{"id": "bh_local_burst", "unit": "ns", "better": "lower",
 *   "jaio": 12.2, "competitor": "netty-epoll", "other": 11.7, "ratio": 1.043}, ...],
 *  "missing": [{"id": "...", "why": "..."}]}
 * </pre>
 * {@code ratio} is jaio / other; {@code better} says which way wins ("lower": a ratio below 1 is
 * jaio ahead; "higher": above 1). Every figure is a median of the same run:
 * <ul>
 * <li>JMH rows ({@code jmh.json}, {@code jmh-io.json}): the median of the per-iteration raw
 *     data of all forks ({@code rawData}), of the primary metric (ns/op) or, for the NOP rows,
 *     of the {@code nops} counter (NOPs per second).</li>
 * <li>Timer rows ({@code timers.json} of {@code TimerLateness}): the median over its measured
 *     rounds ({@code rounds[]}) of the delay-1000-ms scenario; p99 lateness is turned from µs
 *     into ns.</li>
 * <li>The C NOP loop ({@code uring-nop-c.txt} of {@code bench/c/uring_nop.c}): the median of its
 *     {@code round=} lines, or its {@code MEDIAN} line when there are none, from M/s to ops/s.</li>
 * </ul>
 * Only the files of the sets this run ran are read (bench/run.sh passes its {@code SETS}), so a
 * file left in the directory by an earlier run never mixes in. A row whose set was not run, or
 * whose file or entry is absent, is left out and listed under {@code missing} with the reason;
 * the figures of the others are still written.
 *
 * <p>Usage: {@code java -cp benchmarks.jar io.jaio.bench.Summary RESULTS_DIR GIT_SHA [SETS]}
 * ({@code SETS} as bench/run.sh's, default {@code loop,timers,uring}); writes
 * {@code RESULTS_DIR/summary.json} and prints the rows.
 *
 * <p>Threading: a command-line tool; single-threaded.
 */
public final class Summary {
    /** One headline figure: jaio against {@code competitor}, both in {@code unit}. */
    record Row(String id, String unit, String better, double jaio, String competitor, double other) {
        double ratio() {
            return jaio / other;
        }
    }

    /** A row that could not be made, and why. */
    record Missing(String id, String why) {
    }

    /** What one run produced: the rows found and the ones missing. */
    record Result(List<Row> rows, List<Missing> missing) {
    }

    private static final Pattern C_ROUND = Pattern.compile("^batch=(\\d+) round=\\d+ ([0-9.]+) M NOPs/s");
    private static final Pattern C_MEDIAN = Pattern.compile("^MEDIAN batch=(\\d+) ([0-9.]+) M NOPs/s");
    private static final long TIMER_DELAY_MS = 1000;

    private Summary() {
    }

    public static void main(String[] args) throws IOException {
        if (args.length < 2 || args.length > 3) {
            System.err.println("usage: Summary RESULTS_DIR GIT_SHA [SETS] (got " + args.length + " arguments)");
            System.exit(2);
        }
        Path dir = Path.of(args[0]);
        Path out = dir.resolve("summary.json");
        Result r = collect(dir, Set.of((args.length == 3 ? args[2] : "loop,timers,uring").split(",")));
        Files.writeString(out, toJson(args[1], r));
        System.out.printf(Locale.ROOT, "%-22s %-6s %-7s %14s %-16s %14s %8s%n", "id", "unit", "better", "jaio", "competitor",
                "other", "ratio");
        for (Row row : r.rows()) {
            System.out.printf(Locale.ROOT, "%-22s %-6s %-7s %14s %-16s %14s %8s%n", row.id(), row.unit(), row.better(),
                    num(row.jaio(), 6), row.competitor(), num(row.other(), 6), num(row.ratio(), 4));
        }
        for (Missing m : r.missing()) {
            System.out.println("missing " + m.id() + ": " + m.why());
        }
        System.out.println("summary written to " + out);
    }

    /** Reads the result files that the sets {@code sets} (bench/run.sh's names) wrote into {@code dir}. */
    static Result collect(Path dir, Set<String> sets) throws IOException {
        List<Row> rows = new ArrayList<>();
        List<Missing> missing = new ArrayList<>();
        List<Object> loop = sets.contains("loop") ? readJmh(dir.resolve("jmh.json")) : null;
        jmhRow(rows, missing, loop, "bh_local_burst", "BhLocalBenchmark.jaio_burst", Map.of(),
                "netty-epoll", "BhLocalBenchmark.netty_burst", Map.of("transport", "epoll"));
        jmhRow(rows, missing, loop, "bh_local_chain", "BhLocalBenchmark.jaio_chain", Map.of(),
                "netty-epoll", "BhLocalBenchmark.netty_chain", Map.of("transport", "epoll"));
        jmhRow(rows, missing, loop, "bh_cross_reusable", "BhCrossThreadBenchmark.jaio_reusable", Map.of("pollMaxNs", "0"),
                "netty-epoll", "BhCrossThreadBenchmark.netty_execute", Map.of("transport", "epoll"));
        jmhRow(rows, missing, loop, "bh_cross_oneshot", "BhCrossThreadBenchmark.jaio_oneshot", Map.of("pollMaxNs", "0"),
                "netty-epoll", "BhCrossThreadBenchmark.netty_execute", Map.of("transport", "epoll"));
        jmhRow(rows, missing, loop, "wakeup_pingpong_off", "WakeupPingPongBenchmark.jaio", Map.of("pollMaxNs", "0"),
                "jdk-park-unpark", "WakeupPingPongBenchmark.jdk_parkUnpark", Map.of());
        jmhRow(rows, missing, loop, "wakeup_pingpong_on", "WakeupPingPongBenchmark.jaio", Map.of("pollMaxNs", "32768"),
                "jdk-park-unpark", "WakeupPingPongBenchmark.jdk_parkUnpark", Map.of());
        timerRows(rows, missing, sets.contains("timers") ? dir.resolve("timers.json") : null);
        boolean uring = sets.contains("uring");
        nopRows(rows, missing, uring ? readJmh(dir.resolve("jmh-io.json")) : null, uring ? dir.resolve("uring-nop-c.txt") : null);
        return new Result(rows, missing);
    }

    // ---- JMH ----

    @SuppressWarnings("unchecked")
    private static List<Object> readJmh(Path file) throws IOException {
        if (!Files.exists(file)) {
            return null;
        }
        Object doc = MiniJson.parse(Files.readString(file));
        if (!(doc instanceof List)) {
            throw new IllegalArgumentException(file + ": a JMH result file is a JSON array (found " + kind(doc) + ")");
        }
        return (List<Object>) doc;
    }

    private static void jmhRow(List<Row> rows, List<Missing> missing, List<Object> jmh, String id, String jaioBench,
            Map<String, String> jaioParams, String competitor, String otherBench, Map<String, String> otherParams) {
        if (jmh == null) {
            missing.add(new Missing(id, "no jmh.json (set 'loop' not run, or its JMH run failed)"));
            return;
        }
        Map<String, Object> a = find(jmh, jaioBench, jaioParams);
        Map<String, Object> b = find(jmh, otherBench, otherParams);
        if (a == null || b == null) {
            missing.add(new Missing(id, "no result for " + (a == null ? jaioBench + jaioParams : otherBench + otherParams)));
            return;
        }
        rows.add(new Row(id, "ns", "lower", primaryNs(a), competitor, primaryNs(b)));
    }

    /** The entry of benchmark {@code name} (class.method) whose params include {@code params}, or null. */
    @SuppressWarnings("unchecked")
    static Map<String, Object> find(List<Object> jmh, String name, Map<String, String> params) {
        for (Object o : jmh) {
            Map<String, Object> e = (Map<String, Object>) o;
            String bench = (String) e.get("benchmark");
            if (bench == null || !(bench.equals(name) || bench.endsWith("." + name))) {
                continue;
            }
            Map<String, Object> p = (Map<String, Object>) e.get("params");
            boolean match = true;
            for (Map.Entry<String, String> want : params.entrySet()) {
                if (p == null || !want.getValue().equals(p.get(want.getKey()))) {
                    match = false;
                    break;
                }
            }
            if (match) {
                return e;
            }
        }
        return null;
    }

    @SuppressWarnings("unchecked")
    private static double primaryNs(Map<String, Object> entry) {
        Map<String, Object> m = (Map<String, Object>) entry.get("primaryMetric");
        String unit = (String) m.get("scoreUnit");
        if (!"ns/op".equals(unit)) {
            throw new IllegalArgumentException(entry.get("benchmark") + ": scoreUnit " + unit + " (expected ns/op)");
        }
        return medianOfRaw(m);
    }

    /** The median of a JMH metric's rawData: every iteration of every fork. */
    @SuppressWarnings("unchecked")
    static double medianOfRaw(Map<String, Object> metric) {
        List<Object> forks = (List<Object>) metric.get("rawData");
        List<Double> all = new ArrayList<>();
        if (forks != null) {
            for (Object f : forks) {
                for (Object v : (List<Object>) f) {
                    all.add((Double) v);
                }
            }
        }
        if (all.isEmpty()) {
            throw new IllegalArgumentException("metric without rawData (expected JMH's per-iteration figures)");
        }
        return median(all.stream().mapToDouble(Double::doubleValue).toArray());
    }

    // ---- timers ----

    @SuppressWarnings("unchecked")
    private static void timerRows(List<Row> rows, List<Missing> missing, Path file) throws IOException {
        if (file == null || !Files.exists(file)) {
            missing.add(new Missing("timers_insert_1s", "no timers.json (set 'timers' not run, or TimerLateness failed)"));
            missing.add(new Missing("timers_p99_1s", "no timers.json (set 'timers' not run, or TimerLateness failed)"));
            return;
        }
        Map<String, Object> doc = (Map<String, Object>) MiniJson.parse(Files.readString(file));
        List<Object> rounds = (List<Object>) doc.get("rounds");
        double[] jaioIns = timerField(rounds, "jaio", "insertNsPerTimer");
        double[] nioIns = timerField(rounds, "netty-nio", "insertNsPerTimer");
        double[] jaioP99 = timerField(rounds, "jaio", "lateP99Us");
        double[] nioP99 = timerField(rounds, "netty-nio", "lateP99Us");
        if (jaioIns.length == 0 || nioIns.length == 0) {
            missing.add(new Missing("timers_insert_1s", "timers.json has no delay=" + TIMER_DELAY_MS + " ms rounds of jaio and netty-nio"));
            missing.add(new Missing("timers_p99_1s", "timers.json has no delay=" + TIMER_DELAY_MS + " ms rounds of jaio and netty-nio"));
            return;
        }
        rows.add(new Row("timers_insert_1s", "ns", "lower", median(jaioIns), "netty-nio", median(nioIns)));
        rows.add(new Row("timers_p99_1s", "ns", "lower", median(jaioP99) * 1e3, "netty-nio", median(nioP99) * 1e3));
    }

    @SuppressWarnings("unchecked")
    private static double[] timerField(List<Object> rounds, String side, String field) {
        List<Double> v = new ArrayList<>();
        if (rounds != null) {
            for (Object o : rounds) {
                Map<String, Object> r = (Map<String, Object>) o;
                if (side.equals(r.get("side")) && r.get("delayMs") instanceof Double d && d == TIMER_DELAY_MS) {
                    v.add((Double) r.get(field));
                }
            }
        }
        return v.stream().mapToDouble(Double::doubleValue).toArray();
    }

    // ---- io_uring NOPs ----

    @SuppressWarnings("unchecked")
    private static void nopRows(List<Row> rows, List<Missing> missing, List<Object> jmh, Path cFile) throws IOException {
        List<String> cLines = cFile != null && Files.exists(cFile) ? Files.readAllLines(cFile) : List.of();
        for (int batch : new int[] {1, 8, 32}) {
            String id = "uring_nop_b" + batch;
            Map<String, Object> e = jmh == null ? null
                    : find(jmh, "UringNopBenchmark.roundTrip", Map.of("batch", Integer.toString(batch)));
            if (e == null) {
                missing.add(new Missing(id, jmh == null ? "no jmh-io.json (set 'uring' not run, or its JMH run failed)"
                        : "no UringNopBenchmark.roundTrip result for batch=" + batch));
                continue;
            }
            Map<String, Object> sec = (Map<String, Object>) e.get("secondaryMetrics");
            Map<String, Object> nops = sec == null ? null : (Map<String, Object>) sec.get("nops");
            if (nops == null) {
                missing.add(new Missing(id, "UringNopBenchmark batch=" + batch + " has no 'nops' counter"));
                continue;
            }
            double c = cNopsPerSecond(cLines, batch);
            if (Double.isNaN(c)) {
                missing.add(new Missing(id, "no C NOP loop figure for batch=" + batch + " in uring-nop-c.txt"));
                continue;
            }
            rows.add(new Row(id, "ops/s", "higher", medianOfRaw(nops), "c-raw-ring", c));
        }
    }

    /** The C loop's NOPs/s for {@code batch}: median of its rounds, else its MEDIAN line; NaN if neither. */
    static double cNopsPerSecond(List<String> lines, int batch) {
        List<Double> rounds = new ArrayList<>();
        double medianLine = Double.NaN;
        for (String l : lines) {
            Matcher m = C_ROUND.matcher(l);
            if (m.find() && Integer.parseInt(m.group(1)) == batch) {
                rounds.add(Double.parseDouble(m.group(2)));
            }
            Matcher md = C_MEDIAN.matcher(l);
            if (md.find() && Integer.parseInt(md.group(1)) == batch) {
                medianLine = Double.parseDouble(md.group(2));
            }
        }
        double mops = rounds.isEmpty() ? medianLine : median(rounds.stream().mapToDouble(Double::doubleValue).toArray());
        return mops * 1e6;
    }

    // ---- output ----

    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        int n = s.length;
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    }

    /** {@code v} to {@code digits} significant digits, plain notation; "null" when not finite. */
    static String num(double v, int digits) {
        if (Double.isNaN(v) || Double.isInfinite(v)) {
            return "null";
        }
        return new BigDecimal(v).round(new MathContext(digits)).stripTrailingZeros().toPlainString();
    }

    static String toJson(String git, Result r) {
        StringBuilder b = new StringBuilder("{\"git\": ").append(MiniJson.quote(git)).append(", \"rows\": [");
        for (int k = 0; k < r.rows().size(); k++) {
            Row row = r.rows().get(k);
            b.append(k == 0 ? "\n  " : ",\n  ")
                    .append("{\"id\": ").append(MiniJson.quote(row.id()))
                    .append(", \"unit\": ").append(MiniJson.quote(row.unit()))
                    .append(", \"better\": ").append(MiniJson.quote(row.better()))
                    .append(", \"jaio\": ").append(num(row.jaio(), 6))
                    .append(", \"competitor\": ").append(MiniJson.quote(row.competitor()))
                    .append(", \"other\": ").append(num(row.other(), 6))
                    .append(", \"ratio\": ").append(num(row.ratio(), 4)).append('}');
        }
        b.append("\n], \"missing\": [");
        for (int k = 0; k < r.missing().size(); k++) {
            Missing m = r.missing().get(k);
            b.append(k == 0 ? "\n  " : ",\n  ").append("{\"id\": ").append(MiniJson.quote(m.id()))
                    .append(", \"why\": ").append(MiniJson.quote(m.why())).append('}');
        }
        return b.append(r.missing().isEmpty() ? "]}\n" : "\n]}\n").toString();
    }

    private static String kind(Object o) {
        return o == null ? "null" : o.getClass().getSimpleName();
    }
}
