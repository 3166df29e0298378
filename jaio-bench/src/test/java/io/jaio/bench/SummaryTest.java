// SPDX-License-Identifier: Apache-2.0
package io.jaio.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link Summary} on a fixture run (src/test/resources/summary-run: JMH result files in JMH
 * 1.37's format, TimerLateness's timers.json, the C NOP loop's output), with medians chosen so
 * each expected figure can be named.
 */
class SummaryTest {
    private static final List<String> IDS = List.of("bh_local_burst", "bh_local_chain", "bh_cross_reusable",
            "bh_cross_oneshot", "wakeup_pingpong_off", "wakeup_pingpong_on", "timers_insert_1s", "timers_p99_1s",
            "uring_nop_b1", "uring_nop_b8", "uring_nop_b32");
    private static final Set<String> ALL_SETS = Set.of("loop", "timers", "uring");

    private static Path fixture() throws URISyntaxException {
        return Path.of(SummaryTest.class.getResource("/summary-run/jmh.json").toURI()).getParent();
    }

    private static Summary.Row row(Summary.Result r, String id) {
        return r.rows().stream().filter(x -> x.id().equals(id)).findFirst().orElseThrow(() -> new AssertionError("no row " + id));
    }

    @Test
    void fullRunGivesEveryRowInOrderAndNothingMissing() throws Exception {
        Summary.Result r = Summary.collect(fixture(), ALL_SETS);
        assertEquals(IDS, r.rows().stream().map(Summary.Row::id).toList());
        assertEquals(List.of(), r.missing());
    }

    @Test
    void jmhRowsAreMediansOfAllForksIterationsAgainstTheNamedParams() throws Exception {
        Summary.Result r = Summary.collect(fixture(), ALL_SETS);
        Summary.Row burst = row(r, "bh_local_burst");
        // 10 samples over 2 forks, one outlier (30): median (12.2 + 12.3) / 2; Netty's epoll row, not nio (99).
        assertEquals(12.25, burst.jaio(), 1e-9);
        assertEquals(11.55, burst.other(), 1e-9);
        assertEquals("netty-epoll", burst.competitor());
        assertEquals("ns", burst.unit());
        assertEquals("lower", burst.better());
        assertEquals(12.25 / 11.55, burst.ratio(), 1e-12);
        // pollMaxNs=0 rows, not the 32768 ones (99).
        assertEquals(21.15, row(r, "bh_cross_reusable").jaio(), 1e-9);
        assertEquals(37.45, row(r, "bh_cross_oneshot").jaio(), 1e-9);
        assertEquals(5435.0, row(r, "wakeup_pingpong_off").jaio(), 1e-9);
        assertEquals(867.5, row(r, "wakeup_pingpong_on").jaio(), 1e-9);
        assertEquals("jdk-park-unpark", row(r, "wakeup_pingpong_on").competitor());
        assertEquals(6215.0, row(r, "wakeup_pingpong_on").other(), 1e-9);
    }

    @Test
    void timerRowsAreMediansOfTheOneSecondRoundsInNanoseconds() throws Exception {
        // The fixture's "medians" block holds zeros and its delay-0 rounds other values: only the
        // delay-1000 rounds may count.
        Summary.Result r = Summary.collect(fixture(), ALL_SETS);
        Summary.Row ins = row(r, "timers_insert_1s");
        assertEquals(48.8, ins.jaio(), 1e-9);
        assertEquals(92.7, ins.other(), 1e-9);
        assertEquals("netty-nio", ins.competitor());
        Summary.Row p99 = row(r, "timers_p99_1s");
        assertEquals(28_500_000.0, p99.jaio(), 1e-3);
        assertEquals(775_200_000.0, p99.other(), 1e-3);
        assertEquals("ns", p99.unit());
    }

    @Test
    void nopRowsUseTheNopsCounterAndTheCRounds() throws Exception {
        Summary.Result r = Summary.collect(fixture(), ALL_SETS);
        Summary.Row b32 = row(r, "uring_nop_b32");
        assertEquals(9.6e6, b32.jaio(), 1e-3);
        assertEquals(13.6e6, b32.other(), 1e-3);
        assertEquals("ops/s", b32.unit());
        assertEquals("higher", b32.better());
        assertEquals("c-raw-ring", b32.competitor());
        assertEquals(6.72e6, row(r, "uring_nop_b8").jaio(), 1e-3); // nops, not batches/s (8.4e5)
        assertEquals(2.1e6, row(r, "uring_nop_b1").other(), 1e-3);
    }

    @Test
    void cLoopMedianLineServesWhenThereAreNoRoundLines() {
        assertEquals(13.6e6, Summary.cNopsPerSecond(List.of("MEDIAN batch=32 13.600 M NOPs/s (min 13.500, max 13.700)"), 32), 1e-3);
        assertEquals(3.0e6, Summary.cNopsPerSecond(List.of("batch=1 round=1 4.000 M NOPs/s", "batch=1 round=2 2.000 M NOPs/s",
                "batch=8 round=1 9.000 M NOPs/s"), 1), 1e-3);
        assertTrue(Double.isNaN(Summary.cNopsPerSecond(List.of("no C compiler (cc): C raw-ring NOP loop skipped"), 8)));
    }

    @Test
    void setsNotRunAreListedAsMissingAndTheRestIsWritten(@TempDir Path dir) throws Exception {
        Files.copy(fixture().resolve("jmh-io.json"), dir.resolve("jmh-io.json"));
        Files.copy(fixture().resolve("uring-nop-c.txt"), dir.resolve("uring-nop-c.txt"));
        Summary.Result r = Summary.collect(dir, ALL_SETS);
        assertEquals(List.of("uring_nop_b1", "uring_nop_b8", "uring_nop_b32"), r.rows().stream().map(Summary.Row::id).toList());
        assertEquals(IDS.subList(0, 8), r.missing().stream().map(Summary.Missing::id).toList());
        assertTrue(r.missing().get(0).why().contains("'loop' not run"), r.missing().get(0).why());
        assertTrue(r.missing().get(7).why().contains("'timers' not run"), r.missing().get(7).why());
    }

    @Test
    void filesOfSetsNotRunInThisRunAreNotRead() throws Exception {
        // An earlier run's jmh.json and timers.json stay in the directory; SETS=uring must not use them.
        Summary.Result r = Summary.collect(fixture(), Set.of("uring", "pool"));
        assertEquals(IDS.subList(8, 11), r.rows().stream().map(Summary.Row::id).toList());
        assertEquals(IDS.subList(0, 8), r.missing().stream().map(Summary.Missing::id).toList());
    }

    @Test
    @SuppressWarnings("unchecked")
    void mainWritesJsonThatReadsBackWithTheSchema(@TempDir Path dir) throws Exception {
        for (String f : List.of("jmh.json", "jmh-io.json", "timers.json", "uring-nop-c.txt")) {
            Files.copy(fixture().resolve(f), dir.resolve(f));
        }
        Summary.main(new String[] {dir.toString(), "0123abc", "loop,timers,uring"});
        Map<String, Object> doc = (Map<String, Object>) MiniJson.parse(Files.readString(dir.resolve("summary.json")));
        assertEquals("0123abc", doc.get("git"));
        List<Object> rows = (List<Object>) doc.get("rows");
        assertEquals(IDS.size(), rows.size());
        for (Object o : rows) {
            Map<String, Object> row = (Map<String, Object>) o;
            assertEquals(List.of("id", "unit", "better", "jaio", "competitor", "other", "ratio"), List.copyOf(row.keySet()));
            double ratio = (Double) row.get("ratio");
            double expected = (Double) row.get("jaio") / (Double) row.get("other");
            assertEquals(expected, ratio, expected * 1e-3, "ratio of " + row.get("id"));
        }
        Map<String, Object> b32 = (Map<String, Object>) rows.get(10);
        assertEquals(9600000.0, b32.get("jaio"));
        assertEquals(0.7059, b32.get("ratio"));
        assertEquals(List.of(), doc.get("missing"));
    }

    @Test
    void aJmhFileThatIsNotAnArrayIsRefusedWithItsName(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("jmh.json"), "{\"benchmark\": \"x\"}");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Summary.collect(dir, ALL_SETS));
        assertTrue(e.getMessage().contains("jmh.json") && e.getMessage().contains("JSON array"), e.getMessage());
    }

    @Test
    void numbersAreRoundedToSignificantDigitsInPlainNotation() {
        assertEquals("9600000", Summary.num(9.6e6, 6));
        assertEquals("12.25", Summary.num(12.25, 6));
        assertEquals("0.7059", Summary.num(9.6 / 13.6, 4));
        assertEquals("null", Summary.num(Double.POSITIVE_INFINITY, 4));
    }

    @Test
    @SuppressWarnings("unchecked")
    void miniJsonReadsEscapesLiteralsAndNestingAndNamesTheOffsetOfAnError() {
        Map<String, Object> m = (Map<String, Object>) MiniJson.parse(
                " {\"a\\\"b\": [1, -2.5e3, true, false, null, \"\\u00e9\\n\"], \"c\": {}} ");
        assertEquals(List.of(1.0, -2500.0, true, false, "\u00e9\n"), ((List<Object>) m.get("a\"b")).stream()
                .filter(x -> x != null).toList());
        assertEquals(Map.of(), m.get("c"));
        assertEquals("\"q\\\"\\\\\\n\"", MiniJson.quote("q\"\\\n"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> MiniJson.parse("[1, 2"));
        assertTrue(e.getMessage().contains("offset 5"), e.getMessage());
    }
}
