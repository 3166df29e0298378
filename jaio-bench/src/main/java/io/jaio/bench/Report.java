// SPDX-License-Identifier: Apache-2.0
package io.jaio.bench;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Paint;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.text.DecimalFormat;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.AxisLocation;
import org.jfree.chart.axis.CategoryAxis;
import org.jfree.chart.axis.LogAxis;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.axis.NumberTickUnit;
import org.jfree.chart.axis.ValueAxis;
import org.jfree.chart.labels.ItemLabelAnchor;
import org.jfree.chart.labels.ItemLabelPosition;
import org.jfree.chart.labels.StandardCategoryItemLabelGenerator;
import org.jfree.chart.plot.CategoryPlot;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.chart.plot.ValueMarker;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.category.BarRenderer;
import org.jfree.chart.renderer.category.StandardBarPainter;
import org.jfree.chart.renderer.xy.XYStepRenderer;
import org.jfree.chart.title.TextTitle;
import org.jfree.chart.ui.TextAnchor;
import org.jfree.data.category.CategoryDataset;
import org.jfree.data.category.DefaultCategoryDataset;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

/**
 * The benchmark report of one {@code bench/run.sh} run: {@code report.html} and its PNG charts,
 * drawn headless with JFreeChart from the run's files:
 * <ul>
 * <li>{@code ratios.png}, from {@code summary.json} ({@link Summary}): one bar per headline row,
 *     how many times better jaio is than the row's competitor ({@code other / jaio} where lower
 *     is better, {@code jaio / other} where higher is), on a log scale so that 0.5x and 2x are
 *     the same length; green where jaio is ahead, red where it is behind.</li>
 * <li>{@code timers-cdf-DELAYms.png}, from {@code timers.json} ({@link TimerLateness}) when the
 *     run has it: the distribution of timer lateness for jaio and Netty, one chart per delay;
 *     each point is the median over the measured rounds of that percentile. Older timers.json
 *     files carry only p50, p99 and max, and the chart then says so.</li>
 * <li>{@code nbd-qd1-cdf.png}, from fio's JSON output files {@code nbd-qd1-SERVER.json} when
 *     present (fio {@code --output-format=json --iodepth=1} against each server): the
 *     completion-latency distribution of each server at queue depth 1.</li>
 * </ul>
 * The HTML holds the table of rows (the figures of summary.json), the rows missing and why, the
 * machine description ({@code env.txt}) and the charts. A figure this report has no data for is
 * left out, never drawn from something else.
 *
 * <p>Usage: {@code java -cp benchmarks.jar io.jaio.bench.Report RESULTS_DIR [SETS [OUT_DIR]]}
 * (SETS as bench/run.sh's, default every file present; OUT_DIR defaults to RESULTS_DIR); prints
 * the files it wrote.
 *
 * <p>Threading: a command-line tool; single-threaded.
 */
public final class Report {
    static final int RATIO_WIDTH = 1000;
    static final int CDF_WIDTH = 900;
    static final int CDF_HEIGHT = 520;
    static final Color AHEAD = new Color(0x2e, 0x8b, 0x57);
    static final Color BEHIND = new Color(0xc0, 0x39, 0x2b);
    private static final Color[] SERIES = {new Color(0x1f, 0x77, 0xb4), new Color(0xff, 0x7f, 0x0e),
            new Color(0x2c, 0xa0, 0x2c), new Color(0x94, 0x67, 0xbd), new Color(0x8c, 0x56, 0x4b)};

    /** One headline row of summary.json. */
    record Row(String id, String unit, String better, double jaio, String competitor, double other, double ratio) {
        /** How many times better jaio is (above 1: ahead). */
        double advantage() {
            return better.equals("higher") ? jaio / other : other / jaio;
        }
    }

    /** A distribution: (value, cumulative fraction) points, ascending. */
    record Cdf(String name, double[] values, double[] fractions) {
    }

    /** What the report was made of and the files it wrote, relative to the output directory. */
    record Written(String git, List<Row> rows, List<String> missing, List<String> charts) {
    }

    private Report() {
    }

    /**
     * Writes the report of {@code args[0]}: of the files of the sets {@code args[1]} (bench/run.sh's
     * names, comma-separated; default: every file present), into {@code args[2]} (default: the
     * results directory).
     *
     * @param args {@code RESULTS_DIR [SETS [OUT_DIR]]}
     * @throws IOException if a file cannot be read or written
     */
    public static void main(String[] args) throws IOException {
        if (args.length < 1 || args.length > 3) {
            System.err.println("usage: Report RESULTS_DIR [SETS [OUT_DIR]] (got " + args.length + " arguments)");
            System.exit(2);
        }
        Path dir = Path.of(args[0]);
        Set<String> sets = args.length >= 2 ? Set.of(args[1].split(",")) : null;
        Path out = args.length == 3 ? Path.of(args[2]) : dir;
        Written w = write(dir.resolve("summary.json"), dir, out, sets);
        for (String c : w.charts()) {
            System.out.println("chart: " + out.resolve(c));
        }
        System.out.println("report: " + out.resolve("report.html"));
    }

    /** {@link #write(Path, Path, Path, Set)} with every result file present. */
    static Written write(Path summary, Path dir, Path out) throws IOException {
        return write(summary, dir, out, null);
    }

    /**
     * Renders the report of the summary {@code summary} into {@code out}, with the other result
     * files looked up in {@code dir}: only those of {@code sets} (null: all), so that a file an
     * earlier run left there never mixes in.
     */
    static Written write(Path summary, Path dir, Path out, Set<String> sets) throws IOException {
        System.setProperty("java.awt.headless", "true"); // before the first AWT class loads
        if (!Files.isRegularFile(summary)) {
            throw new IOException(summary + " is missing (expected the summary.json that io.jaio.bench.Summary writes)");
        }
        Map<String, Object> doc = object(MiniJson.parse(Files.readString(summary)), summary.toString());
        List<Row> rows = new ArrayList<>();
        for (Object o : list(doc.get("rows"), summary + ": rows")) {
            Map<String, Object> r = object(o, summary + ": a row");
            rows.add(new Row(str(r, "id"), str(r, "unit"), str(r, "better"), num(r, "jaio"), str(r, "competitor"),
                    num(r, "other"), num(r, "ratio")));
        }
        List<String> missing = new ArrayList<>();
        if (doc.get("missing") instanceof List<?> ms) {
            for (Object o : ms) {
                Map<String, Object> m = object(o, summary + ": a missing row");
                missing.add(str(m, "id") + ": " + str(m, "why"));
            }
        }
        String git = doc.get("git") instanceof String g ? g : "unknown";
        Files.createDirectories(out);
        List<String> charts = new ArrayList<>();
        if (!rows.isEmpty()) {
            ChartUtils.saveChartAsPNG(out.resolve("ratios.png").toFile(), ratioChart(rows, git),
                    RATIO_WIDTH, ratioHeight(rows.size()));
            charts.add("ratios.png");
        }
        Path timers = dir.resolve("timers.json");
        if ((sets == null || sets.contains("timers")) && Files.isRegularFile(timers)) {
            for (Map.Entry<Long, List<Cdf>> e : timerCdfs(timers).entrySet()) {
                String name = "timers-cdf-" + e.getKey() + "ms.png";
                boolean coarse = e.getValue().stream().allMatch(c -> c.values().length <= 3);
                ChartUtils.saveChartAsPNG(out.resolve(name).toFile(), cdfChart(
                        "Timer lateness, " + e.getKey() + " ms delay" + (coarse ? " (p50, p99 and max only)" : ""),
                        "lateness (µs, log scale)", e.getValue()), CDF_WIDTH, CDF_HEIGHT);
                charts.add(name);
            }
        }
        List<Cdf> nbd = sets == null || sets.contains("nbd") ? nbdCdfs(dir) : List.of();
        if (!nbd.isEmpty()) {
            ChartUtils.saveChartAsPNG(out.resolve("nbd-qd1-cdf.png").toFile(),
                    cdfChart("NBD read latency at queue depth 1 (fio clat)", "latency (µs, log scale)", nbd),
                    CDF_WIDTH, CDF_HEIGHT);
            charts.add("nbd-qd1-cdf.png");
        }
        Path env = dir.resolve("env.txt");
        String envText = Files.isRegularFile(env) ? Files.readString(env) : null;
        Files.writeString(out.resolve("report.html"), html(git, rows, missing, charts, envText));
        return new Written(git, rows, missing, charts);
    }

    static int ratioHeight(int rows) {
        return 140 + 34 * rows;
    }

    // ---- charts ----

    private static JFreeChart ratioChart(List<Row> rows, String git) {
        DefaultCategoryDataset data = new DefaultCategoryDataset();
        for (Row r : rows) {
            data.addValue(r.advantage(), "advantage", r.id() + " vs " + r.competitor());
        }
        LogAxis value = new LogAxis("times better than the competitor (log scale; > 1: jaio ahead)");
        value.setBase(10);
        value.setSmallestValue(1e-6);
        double lo = rows.stream().mapToDouble(Row::advantage).min().orElse(1);
        double hi = rows.stream().mapToDouble(Row::advantage).max().orElse(1);
        value.setRange(Math.min(lo, 1) / 2, Math.max(hi, 1) * 12); // room for the longest bar's label
        value.setTickUnit(new NumberTickUnit(Math.log10(Math.max(hi, 1) * 12 * 2 / Math.min(lo, 1)) > 2 ? 1 : 0.25));
        value.setNumberFormatOverride(new DecimalFormat("0.###'x'"));
        BarRenderer bars = new BarRenderer() {
            private static final long serialVersionUID = 1L;

            @Override
            public Paint getItemPaint(int series, int column) {
                return rows.get(column).advantage() >= 1 ? AHEAD : BEHIND;
            }
        };
        bars.setBarPainter(new StandardBarPainter());
        bars.setShadowVisible(false);
        bars.setBase(1.0); // bars grow from 1x: left of it jaio is behind, right ahead
        bars.setMaximumBarWidth(0.08);
        bars.setDefaultItemLabelGenerator(new StandardCategoryItemLabelGenerator() {
            private static final long serialVersionUID = 1L;

            @Override
            public String generateLabel(CategoryDataset dataset, int row, int column) {
                double a = rows.get(column).advantage();
                return a >= 1 ? String.format(Locale.ROOT, "%.2fx better", a) : String.format(Locale.ROOT, "%.2fx worse", 1 / a);
            }
        });
        bars.setDefaultItemLabelsVisible(true);
        bars.setDefaultPositiveItemLabelPosition(new ItemLabelPosition(ItemLabelAnchor.OUTSIDE3, TextAnchor.CENTER_LEFT));
        CategoryAxis cat = new CategoryAxis();
        cat.setTickLabelFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        CategoryPlot plot = new CategoryPlot(data, cat, value, bars);
        plot.setOrientation(PlotOrientation.HORIZONTAL);
        plot.setRangeAxisLocation(AxisLocation.BOTTOM_OR_LEFT);
        plot.setBackgroundPaint(Color.WHITE);
        plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
        ValueMarker even = new ValueMarker(1.0, Color.DARK_GRAY, new BasicStroke(1.5f));
        plot.addRangeMarker(even);
        JFreeChart chart = new JFreeChart("jaio against its competitor, per benchmark",
                new Font(Font.SANS_SERIF, Font.BOLD, 16), plot, false);
        chart.addSubtitle(new TextTitle("medians of one bench/run.sh run, git " + shortSha(git)
                + "; green: jaio ahead, red: behind"));
        chart.setBackgroundPaint(Color.WHITE);
        return chart;
    }

    private static JFreeChart cdfChart(String title, String xLabel, List<Cdf> cdfs) {
        XYSeriesCollection data = new XYSeriesCollection();
        double min = Double.MAX_VALUE;
        double max = 0;
        for (Cdf c : cdfs) {
            XYSeries s = new XYSeries(c.name(), false, true);
            for (int i = 0; i < c.values().length; i++) {
                double v = Math.max(c.values()[i], 0.1); // a log axis has no 0: 0.1 µs stands for "on time"
                s.add(v, c.fractions()[i]);
                min = Math.min(min, v);
                max = Math.max(max, v);
            }
            data.addSeries(s);
        }
        ValueAxis x;
        if (max / min > 30) { // a wide spread (timer lateness from 1 µs to 100 ms): one tick per decade
            LogAxis log = new LogAxis(xLabel);
            log.setBase(10);
            log.setSmallestValue(0.05);
            log.setTickUnit(new NumberTickUnit(1));
            log.setNumberFormatOverride(new DecimalFormat("#,##0.##"));
            x = log;
        } else { // within a decade and a half, a linear axis from 0 reads better
            NumberAxis lin = new NumberAxis(xLabel.replace(", log scale", ""));
            lin.setRange(0, max * 1.05);
            x = lin;
        }
        NumberAxis y = new NumberAxis("fraction at or below");
        y.setRange(0, 1.02);
        XYStepRenderer steps = new XYStepRenderer();
        for (int i = 0; i < cdfs.size(); i++) {
            steps.setSeriesPaint(i, SERIES[i % SERIES.length]);
            steps.setSeriesStroke(i, new BasicStroke(2f));
            steps.setSeriesShapesVisible(i, true);
        }
        XYPlot plot = new XYPlot(data, x, y, steps);
        plot.setBackgroundPaint(Color.WHITE);
        plot.setDomainGridlinePaint(Color.LIGHT_GRAY);
        plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
        JFreeChart chart = new JFreeChart(title, new Font(Font.SANS_SERIF, Font.BOLD, 16), plot, true);
        chart.setBackgroundPaint(Color.WHITE);
        return chart;
    }

    // ---- data ----

    /** The percentiles TimerLateness records per round ({@code cdfUs}), or only p50/p99/max in older files. */
    static Map<Long, List<Cdf>> timerCdfs(Path timers) throws IOException {
        Map<String, Object> doc = object(MiniJson.parse(Files.readString(timers)), timers.toString());
        double[] pcts = null;
        if (doc.get("cdfPercentiles") instanceof List<?> p) {
            pcts = p.stream().mapToDouble(v -> ((Number) v).doubleValue()).toArray();
        }
        // (delay, side) -> the rounds' value arrays
        Map<Long, Map<String, List<double[]>>> byDelay = new LinkedHashMap<>();
        for (Object o : list(doc.get("rounds"), timers + ": rounds")) {
            Map<String, Object> r = object(o, timers + ": a round");
            long delay = (long) num(r, "delayMs");
            double[] values;
            if (pcts != null && r.get("cdfUs") instanceof List<?> cdf) {
                values = cdf.stream().mapToDouble(v -> ((Number) v).doubleValue()).toArray();
            } else {
                values = new double[] {num(r, "lateP50Us"), num(r, "lateP99Us"), num(r, "lateMaxUs")};
            }
            byDelay.computeIfAbsent(delay, k -> new LinkedHashMap<>()).computeIfAbsent(str(r, "side"), k -> new ArrayList<>())
                    .add(values);
        }
        double[] fractions = pcts == null ? new double[] {0.5, 0.99, 1.0}
                : java.util.Arrays.stream(pcts).map(p -> p / 100).toArray();
        Map<Long, List<Cdf>> out = new LinkedHashMap<>();
        for (Map.Entry<Long, Map<String, List<double[]>>> d : byDelay.entrySet()) {
            List<Cdf> cdfs = new ArrayList<>();
            for (Map.Entry<String, List<double[]>> side : d.getValue().entrySet()) {
                List<double[]> rounds = side.getValue();
                int n = rounds.getFirst().length;
                double[] med = new double[n];
                for (int i = 0; i < n; i++) {
                    int k = i;
                    med[i] = median(rounds.stream().mapToDouble(v -> v[k]).toArray());
                }
                double[] f = n == fractions.length ? fractions : new double[] {0.5, 0.99, 1.0};
                cdfs.add(new Cdf(side.getKey(), monotone(med), f));
            }
            out.put(d.getKey(), cdfs);
        }
        return out;
    }

    /** fio JSON files nbd-qd1-SERVER.json in {@code dir}: each job's read (else write) completion-latency percentiles. */
    static List<Cdf> nbdCdfs(Path dir) throws IOException {
        List<Cdf> out = new ArrayList<>();
        if (!Files.isDirectory(dir)) {
            return out;
        }
        List<Path> files;
        try (var s = Files.list(dir)) {
            files = s.filter(p -> p.getFileName().toString().matches("nbd-qd1-.+\\.json")
                    && !p.getFileName().toString().matches(".*-r\\d+\\.json")).sorted().toList(); // not the per-round copies
        }
        for (Path f : files) {
            String server = f.getFileName().toString().replaceAll("^nbd-qd1-(.+)\\.json$", "$1");
            Map<String, Object> doc = object(MiniJson.parse(Files.readString(f)), f.toString());
            Map<String, Object> job = object(list(doc.get("jobs"), f + ": jobs").getFirst(), f + ": jobs[0]");
            Map<String, Object> side = object(job.get("read"), f + ": read");
            if (num(side, "io_bytes") == 0 && job.get("write") != null) {
                side = object(job.get("write"), f + ": write");
            }
            Map<String, Object> clat = object(side.get("clat_ns"), f + ": clat_ns");
            Map<String, Object> pct = object(clat.get("percentile"), f + ": clat_ns.percentile (fio writes it with the default percentile list)");
            double[] fr = new double[pct.size()];
            double[] us = new double[pct.size()];
            int i = 0;
            for (Map.Entry<String, Object> e : pct.entrySet()) {
                fr[i] = Double.parseDouble(e.getKey()) / 100;
                us[i] = ((Number) e.getValue()).doubleValue() / 1000;
                i++;
            }
            out.add(new Cdf(server, monotone(us), fr));
        }
        return out;
    }

    private static double[] monotone(double[] v) {
        double[] m = v.clone();
        for (int i = 1; i < m.length; i++) {
            m[i] = Math.max(m[i], m[i - 1]); // medians of percentiles can cross by noise; a CDF cannot
        }
        return m;
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        java.util.Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    // ---- HTML ----

    private static String html(String git, List<Row> rows, List<String> missing, List<String> charts, String env) {
        StringBuilder h = new StringBuilder();
        h.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>jaio benchmark report ")
                .append(esc(shortSha(git))).append("</title>\n<style>body{font-family:sans-serif;max-width:1040px;margin:2em auto;}"
                        + "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
                        + "td:first-child,th:first-child,td.t{text-align:left}.ahead{color:#2e8b57}.behind{color:#c0392b}"
                        + "img{max-width:100%}</style></head><body>\n");
        h.append("<h1>jaio benchmark report</h1>\n<p>git ").append(esc(git))
                .append(". Medians of one <code>bench/run.sh</code> run; jaio and each competitor ran side by side in the same"
                        + " run. ratio = jaio / other; <em>better</em> says which way wins. The machine is shared: compare"
                        + " ratios, not absolute figures.</p>\n");
        if (charts.contains("ratios.png")) {
            h.append("<h2>Against the competitor</h2>\n<img src=\"ratios.png\" alt=\"jaio against its competitor, per benchmark\">\n");
        }
        h.append("<table><tr><th>benchmark</th><th>unit</th><th>better</th><th>jaio</th><th>competitor</th><th>other</th>"
                + "<th>ratio</th><th>jaio is</th></tr>\n");
        for (Row r : rows) {
            double a = r.advantage();
            h.append("<tr><td>").append(esc(r.id())).append("</td><td class=\"t\">").append(esc(r.unit()))
                    .append("</td><td class=\"t\">").append(esc(r.better())).append("</td><td>").append(fmt(r.jaio()))
                    .append("</td><td class=\"t\">").append(esc(r.competitor())).append("</td><td>").append(fmt(r.other()))
                    .append("</td><td>").append(fmt(r.ratio())).append("</td><td class=\"").append(a >= 1 ? "ahead" : "behind")
                    .append("\">").append(a >= 1 ? fmt(a) + "x better" : fmt(1 / a) + "x worse").append("</td></tr>\n");
        }
        h.append("</table>\n");
        if (!missing.isEmpty()) {
            h.append("<h3>Rows missing from this run</h3>\n<ul>\n");
            for (String m : missing) {
                h.append("<li>").append(esc(m)).append("</li>\n");
            }
            h.append("</ul>\n");
        }
        for (String c : charts) {
            if (c.startsWith("timers-cdf-")) {
                h.append("<h2>Timer lateness (").append(esc(c.replaceAll("timers-cdf-(\\d+)ms\\.png", "$1")))
                        .append(" ms delay)</h2>\n<img src=\"").append(esc(c)).append("\" alt=\"timer lateness CDF\">\n");
            } else if (c.equals("nbd-qd1-cdf.png")) {
                h.append("<h2>NBD at queue depth 1</h2>\n<img src=\"nbd-qd1-cdf.png\" alt=\"NBD QD1 latency CDF\">\n");
            }
        }
        if (charts.stream().noneMatch(c -> c.startsWith("timers-cdf-"))) {
            h.append("<p>No timer lateness chart: this run has no <code>timers.json</code> (set <code>timers</code>).</p>\n");
        }
        if (!charts.contains("nbd-qd1-cdf.png")) {
            h.append("<p>No NBD QD1 chart: no <code>nbd-qd1-SERVER.json</code> (fio JSON output) in the results.</p>\n");
        }
        if (env != null) {
            h.append("<h2>Machine</h2>\n<pre>").append(esc(env)).append("</pre>\n");
        }
        h.append("</body></html>\n");
        return h.toString();
    }

    private static String fmt(double v) {
        if (v != 0 && (Math.abs(v) >= 1e6 || Math.abs(v) < 1e-3)) {
            return String.format(Locale.ROOT, "%.3g", v);
        }
        return String.format(Locale.ROOT, Math.abs(v) >= 100 ? "%.0f" : "%.3f", v);
    }

    private static String shortSha(String git) {
        return git.length() > 7 ? git.substring(0, 7) : git;
    }

    static String esc(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }

    // ---- JSON access ----

    @SuppressWarnings("unchecked")
    private static Map<String, Object> object(Object o, String what) {
        if (!(o instanceof Map)) {
            throw new IllegalArgumentException(what + ": expected a JSON object, found " + (o == null ? "nothing" : o.getClass().getSimpleName()));
        }
        return (Map<String, Object>) o;
    }

    @SuppressWarnings("unchecked")
    private static List<Object> list(Object o, String what) {
        if (!(o instanceof List)) {
            throw new IllegalArgumentException(what + ": expected a JSON array, found " + (o == null ? "nothing" : o.getClass().getSimpleName()));
        }
        return (List<Object>) o;
    }

    private static String str(Map<String, Object> m, String key) {
        if (!(m.get(key) instanceof String s)) {
            throw new IllegalArgumentException("field '" + key + "' of " + m + ": expected a string");
        }
        return s;
    }

    private static double num(Map<String, Object> m, String key) {
        if (!(m.get(key) instanceof Number n)) {
            throw new IllegalArgumentException("field '" + key + "' of " + m + ": expected a number");
        }
        return n.doubleValue();
    }
}
