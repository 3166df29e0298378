package io.jaio.coroutine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import io.jaio.AioContext;
import io.jaio.testing.CoTestSupport;
import io.jaio.FdMonitorKind;

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
