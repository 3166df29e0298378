// SPDX-License-Identifier: Apache-2.0
package io.jaio.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.Color;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import javax.imageio.ImageIO;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link Report} renders the real summary of docs/bench (commit 94cd30b, 11 rows, jaio ahead in
 * some and behind in others) and fixture timer and fio files into PNGs that decode, have the
 * size the report asks for and show bars and curves (pixels of the expected colours, not a blank
 * canvas), and an HTML page that references every chart it wrote.
 */
class ReportTest {
    private static final Path DOCS_SUMMARY = Path.of("").toAbsolutePath().getParent().resolve("docs/bench/summary-94cd30b.json");

    @TempDir
    Path dir;

    /** Pixels close to {@code c} (anti-aliasing leaves shades). */
    private static int pixelsNear(BufferedImage img, Color c) {
        int n = 0;
        for (int y = 0; y < img.getHeight(); y++) {
            for (int x = 0; x < img.getWidth(); x++) {
                Color p = new Color(img.getRGB(x, y));
                if (Math.abs(p.getRed() - c.getRed()) + Math.abs(p.getGreen() - c.getGreen()) + Math.abs(p.getBlue() - c.getBlue()) < 30) {
                    n++;
                }
            }
        }
        return n;
    }

    private static int nonWhite(BufferedImage img) {
        int n = 0;
        for (int y = 0; y < img.getHeight(); y++) {
            for (int x = 0; x < img.getWidth(); x++) {
                if ((img.getRGB(x, y) & 0xffffff) != 0xffffff) {
                    n++;
                }
            }
        }
        return n;
    }

    private static BufferedImage decode(Path png) throws IOException {
        assertTrue(Files.isRegularFile(png), png + " was written");
        BufferedImage img = ImageIO.read(png.toFile());
        assertNotNull(img, png + " decodes as an image");
        return img;
    }

    @Test
    void docsSummaryRendersRatioBarsInBothColoursAndAnHtmlThatShowsThem() throws Exception {
        Files.copy(DOCS_SUMMARY, dir.resolve("summary.json"));
        Path out = dir.resolve("out");
        Report.Written w = Report.write(dir.resolve("summary.json"), dir, out);
        assertEquals(11, w.rows().size());
        assertEquals(List.of("ratios.png"), w.charts(), "no timers.json or fio files: only the ratio chart");

        BufferedImage img = decode(out.resolve("ratios.png"));
        assertEquals(Report.RATIO_WIDTH, img.getWidth());
        assertEquals(Report.ratioHeight(11), img.getHeight());
        assertTrue(nonWhite(img) > img.getWidth() * img.getHeight() / 50, "more than 2% of the canvas is drawn");
        // 94cd30b: bh_local_burst, timers_insert_1s, timers_p99_1s ahead (green); the other 8 behind (red).
        int green = pixelsNear(img, Report.AHEAD);
        int red = pixelsNear(img, Report.BEHIND);
        assertTrue(green > 500, "green bars (jaio ahead): " + green + " pixels");
        assertTrue(red > 500, "red bars (jaio behind): " + red + " pixels");

        String html = Files.readString(out.resolve("report.html"));
        assertTrue(html.contains("<img src=\"ratios.png\""), "the HTML shows the chart");
        for (String id : List.of("bh_local_burst", "timers_p99_1s", "uring_nop_b32")) {
            assertTrue(html.contains("<td>" + id + "</td>"), "the table has " + id);
        }
        assertTrue(html.contains("94cd30b9f59e8aa9856a471fc85165753446bcc0"), "the HTML names the commit");
        assertTrue(html.contains("No timer lateness chart") && html.contains("No NBD QD1 chart"),
                "the HTML says which figures this run has no data for");
        assertEveryImageExists(html, out);
    }

    @Test
    void timerAndNbdFilesAddLatencyCdfs() throws Exception {
        Files.copy(DOCS_SUMMARY, dir.resolve("summary.json"));
        StringBuilder rounds = new StringBuilder();
        for (String side : List.of("jaio", "netty-nio", "netty-epoll")) {
            for (int r = 0; r < 3; r++) {
                double scale = side.equals("jaio") ? 1 : 40;
                StringBuilder cdf = new StringBuilder();
                for (int i = 0; i < TimerLateness.CDF_PERCENTILES.length; i++) {
                    cdf.append(i == 0 ? "" : ",").append(scale * (1 + i * i) + r);
                }
                rounds.append(rounds.isEmpty() ? "" : ",").append("{\"side\":\"").append(side)
                        .append("\",\"delayMs\":1000,\"lateP50Us\":1,\"lateP99Us\":2,\"lateMaxUs\":3,\"cdfUs\":[").append(cdf).append("]}");
            }
        }
        StringBuilder pcts = new StringBuilder();
        for (double p : TimerLateness.CDF_PERCENTILES) {
            pcts.append(pcts.isEmpty() ? "" : ",").append(p);
        }
        Files.writeString(dir.resolve("timers.json"), "{\"rounds\":[" + rounds + "],\"cdfPercentiles\":[" + pcts + "]}");
        for (String server : List.of("jaio", "qemu-nbd")) {
            double base = server.equals("jaio") ? 40_000 : 55_000;
            Files.writeString(dir.resolve("nbd-qd1-" + server + ".json"), "{\"jobs\":[{\"read\":{\"io_bytes\":4096,"
                    + "\"clat_ns\":{\"percentile\":{\"1.000000\":" + base + ",\"50.000000\":" + base * 1.5
                    + ",\"99.000000\":" + base * 3 + ",\"99.990000\":" + base * 9 + "}}},\"write\":{\"io_bytes\":0}}]}");
        }
        Files.copy(dir.resolve("nbd-qd1-jaio.json"), dir.resolve("nbd-qd1-jaio-r1.json")); // a per-round copy: not a server
        assertEquals(List.of("jaio", "qemu-nbd"), Report.nbdCdfs(dir).stream().map(Report.Cdf::name).toList());
        assertEquals(List.of("ratios.png"), Report.write(dir.resolve("summary.json"), dir, dir.resolve("loop-only"),
                java.util.Set.of("loop")).charts(), "files of sets the run did not run are left out");
        Path out = dir.resolve("out");
        Report.Written w = Report.write(dir.resolve("summary.json"), dir, out);
        assertEquals(List.of("ratios.png", "timers-cdf-1000ms.png", "nbd-qd1-cdf.png"), w.charts());

        Map<Long, List<Report.Cdf>> timers = Report.timerCdfs(dir.resolve("timers.json"));
        Report.Cdf jaio = timers.get(1000L).getFirst();
        assertEquals("jaio", jaio.name());
        assertEquals(1 + 7 * 7 + 1, jaio.values()[7], 1e-9, "p50 is the median of the rounds' p50s");
        assertEquals(0.5, jaio.fractions()[7], 1e-12);

        for (String png : List.of("timers-cdf-1000ms.png", "nbd-qd1-cdf.png")) {
            BufferedImage img = decode(out.resolve(png));
            assertEquals(Report.CDF_WIDTH, img.getWidth());
            assertEquals(Report.CDF_HEIGHT, img.getHeight());
            assertTrue(pixelsNear(img, new Color(0x1f, 0x77, 0xb4)) > 200, png + ": the first series' curve is drawn");
            assertTrue(pixelsNear(img, new Color(0xff, 0x7f, 0x0e)) > 200, png + ": the second series' curve is drawn");
        }
        String html = Files.readString(out.resolve("report.html"));
        assertFalse(html.contains("No timer lateness chart") || html.contains("No NBD QD1 chart"), html);
        assertEveryImageExists(html, out);
        assertEquals(3, count(html, "<img "), "three charts in the page");
    }

    @Test
    void aMissingSummaryIsAnErrorThatNamesTheFile() {
        IOException e = assertThrows(IOException.class, () -> Report.write(dir.resolve("summary.json"), dir, dir));
        assertTrue(e.getMessage().contains("summary.json is missing"), e.getMessage());
    }

    @Test
    void aBrokenRowIsAnErrorThatNamesTheField() throws Exception {
        Files.writeString(dir.resolve("summary.json"), "{\"rows\":[{\"id\":\"x\",\"unit\":\"ns\",\"better\":\"lower\",\"jaio\":\"fast\"}]}");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Report.write(dir.resolve("summary.json"), dir, dir));
        assertTrue(e.getMessage().contains("field 'jaio'") && e.getMessage().contains("expected a number"), e.getMessage());
    }

    private static void assertEveryImageExists(String html, Path out) {
        Matcher m = Pattern.compile("<img src=\"([^\"]+)\"").matcher(html);
        while (m.find()) {
            assertTrue(Files.isRegularFile(out.resolve(m.group(1))), "the HTML's image " + m.group(1) + " exists");
        }
    }

    private static int count(String s, String what) {
        int n = 0;
        for (int i = s.indexOf(what); i >= 0; i = s.indexOf(what, i + 1)) {
            n++;
        }
        return n;
    }
}
