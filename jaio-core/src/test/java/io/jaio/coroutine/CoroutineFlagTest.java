// SPDX-License-Identifier: Apache-2.0
package io.jaio.coroutine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import io.jaio.AioContext;
import io.jaio.testing.CoTestSupport;
import io.jaio.FdMonitorKind;
import io.jaio.BottomHalf;
import io.jaio.ClockType;
import io.jaio.Fds;
import io.jaio.block.FileIoEngines;
import io.jaio.block.ThreadPool;
import io.jaio.Timer;
import io.jaio.TimerScale;
import io.jaio.ErrnoException;

/**
 * A JVM started without {@code --add-exports java.base/jdk.internal.vm=ALL-UNNAMED} and {@code --add-opens java.base/java.lang=ALL-UNNAMED} still runs
 * contexts, and the first coroutine creation fails with an IllegalStateException naming the missing flags
 * (not an IllegalAccessError from the class loader).
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class CoroutineFlagTest {

    /** Run in the child JVM. */
    public static final class Child {
        private Child() {
        }

        public static void main(String[] args) throws Exception {
            try (AioContext ctx = AioContext.builder().name("no-flag").fdMonitor(FdMonitorKind.POLL).build()) {
                ctx.scheduleOneShot("bh", () -> System.out.println("BH-RAN"));
                ctx.poll(false);
                System.out.println("IN-COROUTINE=" + Coroutine.inCoroutine());
                try {
                    Coroutine.create(() -> { });
                    System.out.println("NO-EXCEPTION");
                } catch (IllegalStateException e) {
                    System.out.println("ISE: " + e.getMessage());
                }
                try {
                    Coroutine.create(() -> { }); // the second attempt says the same, no NoClassDefFoundError
                } catch (IllegalStateException e) {
                    System.out.println("ISE-AGAIN");
                }
            }
        }
    }

    /** Run in the child JVM: the loop, the thread pool and a file engine, no coroutine. */
    public static final class LoopOnlyChild {
        private LoopOnlyChild() {
        }

        public static void main(String[] args) throws Exception {
            try (AioContext ctx = AioContext.builder().name("loop-only").fdMonitor(FdMonitorKind.POLL).build()) {
                int[] done = new int[5];
                BottomHalf bh = ctx.newBottomHalf("bh", () -> done[0]++);
                bh.schedule();
                Timer timer = ctx.newTimer(ClockType.REALTIME, TimerScale.NS, () -> done[1]++);
                timer.modNs(ctx.clockNs(ClockType.REALTIME));
                int[] pipe = Fds.pipe();
                ctx.setFdHandler(pipe[0], () -> {
                    done[2]++;
                    try {
                        Fds.read(pipe[0], 1);
                    } catch (ErrnoException e) {
                        throw new IllegalStateException(e);
                    }
                }, null, null, null);
                Fds.write(pipe[1], new byte[] {1});
                ThreadPool.of(ctx).submitCallable(() -> 42, r -> done[3] = (int) r);
                FileIoEngines.threadPool(ctx).flush(pipe[1], r -> done[4] = 1);
                for (int i = 0; i < 100_000 && (done[0] == 0 || done[1] == 0 || done[2] == 0 || done[3] != 42 || done[4] == 0); i++) {
                    ctx.poll(true);
                }
                ctx.removeFdHandler(pipe[0]);
                Fds.close(pipe[0]);
                Fds.close(pipe[1]);
                bh.delete();
                System.out.println("LOOP-ONLY bh=" + done[0] + " timer=" + done[1] + " fd=" + done[2] + " pool=" + done[3]
                        + " engine=" + done[4]);
            }
        }
    }

    /**
     * A program that uses only the loop, the thread pool and a file engine runs without the
     * coroutine flags and never loads a coroutine or fiber class (the lead's condition for keeping
     * coroutines in jaio-core).
     */
    @Test
    void aProgramThatUsesOnlyTheLoopNeedsNoFlagsAndLoadsNoCoroutineClass() throws Exception {
        String javaBin = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        java.util.List<String> cmd = java.util.List.of(javaBin, "--enable-native-access=ALL-UNNAMED", "-Xlog:class+load=info",
                "-cp", System.getProperty("java.class.path"), LoopOnlyChild.class.getName());
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(CoTestSupport.HANG_MS, TimeUnit.MILLISECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("child JVM hung");
        }
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.contains("LOOP-ONLY bh=1 timer=1 fd=1 pool=42 engine=1"), out);
        for (String line : out.split("\n")) {
            boolean library = !line.contains("CoroutineFlagTest"); // the child itself lives in this package
            assertFalse(library && (line.contains(" io.jaio.coroutine.") || line.contains(" io.jaio.internal.coro.")), line);
        }
    }

    private static String runChild(String... flags) throws Exception {
        String javaBin = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        java.util.List<String> cmd = new java.util.ArrayList<>(java.util.List.of(javaBin, "--enable-native-access=ALL-UNNAMED"));
        cmd.addAll(java.util.List.of(flags));
        cmd.addAll(java.util.List.of("-cp", System.getProperty("java.class.path"), Child.class.getName()));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        if (!p.waitFor(CoTestSupport.HANG_MS, TimeUnit.MILLISECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("child JVM hung");
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.contains("BH-RAN"), out);
        assertTrue(out.contains("IN-COROUTINE=false"), out);
        assertTrue(out.contains("ISE-AGAIN"), out);
        return out;
    }

    @Test
    void withoutTheFlagsContextsWorkAndCoroutineCreationNamesBothFlags() throws Exception {
        String out = runChild();
        assertTrue(out.contains("ISE: coroutines need the JVM flag(s) --add-exports java.base/jdk.internal.vm=ALL-UNNAMED"
                + " --add-opens java.base/java.lang=ALL-UNNAMED"), out);
    }

    @Test
    void withOnlyTheExportCoroutineCreationNamesTheMissingOpen() throws Exception {
        String out = runChild("--add-exports", "java.base/jdk.internal.vm=ALL-UNNAMED");
        assertTrue(out.contains("ISE: coroutines need the JVM flag(s) --add-opens java.base/java.lang=ALL-UNNAMED ("), out);
    }
}
