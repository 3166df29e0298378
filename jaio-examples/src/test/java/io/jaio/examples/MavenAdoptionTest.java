// SPDX-License-Identifier: Apache-2.0
package io.jaio.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarFile;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * What the README's "Using jaio in a Maven project" says, done in a temporary directory:
 * {@code mvn install -DskipTests} of a copy of the sources, and again offline ({@code -o}), then a new Maven project made of
 * the README's dependency snippet and {@code module-info}, built offline against the installed
 * artifacts and run twice: on the module path with the README's JVM flags, and as an executable
 * jar with the README's manifest and no flag at all.
 *
 * <p>Two differences from a user's shell, both so that the suite leaves shared state alone: the
 * install goes to a local repository of its own ({@code -Dmaven.repo.local}), whose other
 * artifacts are symbolic links into {@code ~/.m2/repository} (plugins, JUnit, ...), so nothing
 * is downloaded and {@code ~/.m2} never gets jaio artifacts; and only the published modules are
 * built ({@code -pl jaio-core,jaio-nbd -am}), not the benchmarks and jcstress. The README blocks
 * are read from README.md at run time, so editing them without keeping them true fails here.
 * About a minute and a half; {@code -Djaio.adoption.skip=true} (on the mvn or ./jaio test command line) leaves it out.
 */
class MavenAdoptionTest {
    private static final Path ROOT = Path.of("").toAbsolutePath().getParent();
    private static final String VERSION = "0.1.0-SNAPSHOT";
    private static final String EXPECTED_RUN = "ran [bottom half, timer in 1 ms, coroutine slept 1 ms]";

    @TempDir
    Path work;

    /** Removes the links into ~/.m2 before JUnit cleans the temporary directory (it warns on each link). */
    @AfterEach
    void unlinkRepository() throws IOException {
        Path repo = work.resolve("repo");
        for (Path dir : List.of(repo.resolve("io"), repo)) {
            if (Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
                try (Stream<Path> entries = Files.list(dir)) {
                    for (Path e : entries.toList()) {
                        if (Files.isSymbolicLink(e)) {
                            Files.delete(e);
                        }
                    }
                }
            }
        }
    }

    @Test
    @Timeout(value = 8, unit = TimeUnit.MINUTES)
    void readmeInstallAndSnippetsMakeAWorkingProject() throws Exception {
        Assumptions.assumeFalse(Boolean.getBoolean("jaio.adoption.skip"), "skipped: -Djaio.adoption.skip=true");
        List<String> readme = Files.readAllLines(ROOT.resolve("README.md"));
        List<String> dependency = block(readme, "```xml", "<artifactId>jaio-core</artifactId>");
        List<String> moduleInfo = block(readme, "```java module-info", "requires io.jaio;");
        List<String> runCommand = block(readme, "```sh", "java --enable-native-access=io.jaio");
        List<String> manifest = block(readme, "```", "Enable-Native-Access:");
        assertTrue(String.join("\n", block(readme, "```sh", "mvn install")).contains("mvn install -DskipTests"),
                "the README's install command");

        Path repo = linkedRepository();
        Path src = copyPublishedSources();
        List<String> install = List.of("-B", "-q", "-Dstyle.color=never", "-Dmaven.repo.local=" + repo,
                "install", "-DskipTests", "-pl", "jaio-core,jaio-nbd", "-am");
        run(src, concat(List.of("mvn"), install)); // the first build may download plugins (into ~/.m2, through the links)
        Files.delete(repo.resolve("io/jaio/jaio-core/" + VERSION + "/jaio-core-" + VERSION + ".jar"));
        run(src, concat(List.of("mvn", "-o"), install)); // then it works offline
        checkInstalled(repo);

        Path app = newProject(dependency, moduleInfo, manifest);
        run(app, List.of("mvn", "-o", "-B", "-q", "-Dstyle.color=never", "-Dmaven.repo.local=" + repo, "package"));
        String classPath = Files.readString(app.resolve("cp.txt")).strip();
        assertTrue(classPath.contains("jaio-core-" + VERSION + ".jar") && classPath.startsWith(repo.toString()),
                "the app resolved jaio-core from the installed artifacts: " + classPath);

        List<String> modulePath = javaCommand(runCommand.getFirst(), app.resolve("target/classes") + ":" + classPath);
        String out = run(app, modulePath);
        assertEquals("jaio=io.jaio app=com.example.app " + EXPECTED_RUN, out.strip(), "on the module path");

        Path lib = Files.createDirectories(app.resolve("target/lib"));
        Files.copy(Path.of(classPath), lib.resolve("jaio-core-" + VERSION + ".jar"));
        String jarOut = run(app, List.of(java(), "-jar", app.resolve("target/app-1.0.jar").toString()));
        assertEquals("jaio=null app=null " + EXPECTED_RUN, jarOut.strip(), "java -jar with no flag (class path)");
    }

    private static List<String> concat(List<String> a, List<String> b) {
        List<String> all = new ArrayList<>(a);
        all.addAll(b);
        return all;
    }

    /** The lines of the first README block that opens with {@code fence} and contains {@code marker}. */
    private static List<String> block(List<String> readme, String fence, String marker) {
        for (int i = 0; i < readme.size(); i++) {
            if (!readme.get(i).equals(fence)) {
                continue;
            }
            List<String> lines = new ArrayList<>();
            int j = i + 1;
            while (j < readme.size() && !readme.get(j).equals("```")) {
                lines.add(readme.get(j++));
            }
            if (lines.stream().anyMatch(l -> l.contains(marker))) {
                return lines;
            }
            i = j;
        }
        throw new AssertionError("README.md has no " + fence + " block with '" + marker + "'");
    }

    /** The README's java command, with {@code -p}'s value replaced by this build's module path. */
    private static List<String> javaCommand(String line, String modulePath) {
        List<String> words = new ArrayList<>(Arrays.asList(line.strip().split(" +")));
        assertEquals("java", words.getFirst(), line);
        words.set(0, java());
        int p = words.indexOf("-p");
        assertTrue(p > 0 && p + 1 < words.size(), "the README's command names a module path with -p: " + line);
        words.set(p + 1, modulePath);
        assertEquals("com.example.app/com.example.app.Main", words.getLast(), line);
        return words;
    }

    private static String java() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }

    /** A local repository of our own: links to everything in ~/.m2/repository except io/jaio. */
    private Path linkedRepository() throws IOException {
        Path m2 = Path.of(System.getProperty("user.home"), ".m2", "repository");
        assertTrue(Files.isDirectory(m2), m2 + " is missing: the outer build should have filled it");
        Path repo = Files.createDirectories(work.resolve("repo"));
        try (Stream<Path> top = Files.list(m2)) {
            for (Path e : top.toList()) {
                if (e.getFileName().toString().equals("io")) {
                    Path io = Files.createDirectories(repo.resolve("io"));
                    try (Stream<Path> groups = Files.list(e)) {
                        for (Path g : groups.toList()) {
                            if (!g.getFileName().toString().equals("jaio")) {
                                Files.createSymbolicLink(io.resolve(g.getFileName().toString()), g);
                            }
                        }
                    }
                } else {
                    Files.createSymbolicLink(repo.resolve(e.getFileName().toString()), e);
                }
            }
        }
        return repo;
    }

    /** The reactor poms and the published modules' main sources (a user's checkout, minus tests). */
    private Path copyPublishedSources() throws IOException {
        Path src = work.resolve("src");
        Files.createDirectories(src);
        Files.copy(ROOT.resolve("pom.xml"), src.resolve("pom.xml"));
        // every module's pom (the reactor reads them all, even with -pl), as the parent lists them
        List<String> modules = java.util.regex.Pattern.compile("<module>([^<]+)</module>")
                .matcher(Files.readString(ROOT.resolve("pom.xml"))).results().map(m -> m.group(1).strip()).toList();
        assertTrue(modules.containsAll(List.of("jaio-core", "jaio-nbd")), "the parent pom's modules: " + modules);
        for (String module : modules) {
            Files.createDirectories(src.resolve(module));
            Files.copy(ROOT.resolve(module).resolve("pom.xml"), src.resolve(module).resolve("pom.xml"));
        }
        for (String module : List.of("jaio-core", "jaio-nbd")) {
            Path from = ROOT.resolve(module).resolve("src/main");
            try (Stream<Path> files = Files.walk(from)) {
                for (Path f : files.toList()) {
                    Path to = src.resolve(module).resolve("src/main").resolve(from.relativize(f).toString());
                    if (Files.isDirectory(f)) {
                        Files.createDirectories(to);
                    } else {
                        Files.copy(f, to);
                    }
                }
            }
        }
        return src;
    }

    private static void checkInstalled(Path repo) throws IOException {
        assertTrue(Files.isRegularFile(repo.resolve("io/jaio/jaio-parent/" + VERSION + "/jaio-parent-" + VERSION + ".pom")),
                "jaio-parent's pom is installed (the published poms name it as parent)");
        for (String artifact : List.of("jaio-core", "jaio-nbd")) {
            Path dir = repo.resolve("io/jaio/" + artifact + "/" + VERSION);
            for (String suffix : List.of(".pom", ".jar", "-sources.jar", "-javadoc.jar")) {
                Path f = dir.resolve(artifact + "-" + VERSION + suffix);
                assertTrue(Files.isRegularFile(f) && Files.size(f) > 0, f + " is installed");
            }
        }
        Path core = repo.resolve("io/jaio/jaio-core/" + VERSION + "/jaio-core-" + VERSION);
        try (JarFile javadoc = new JarFile(core + "-javadoc.jar"); JarFile sources = new JarFile(core + "-sources.jar")) {
            assertNotNull(javadoc.getEntry("io.jaio/io/jaio/AioContext.html") != null
                    ? javadoc.getEntry("io.jaio/io/jaio/AioContext.html") : javadoc.getEntry("io/jaio/AioContext.html"),
                    "the javadoc jar documents AioContext");
            assertTrue(javadoc.stream().noneMatch(e -> e.getName().contains("io/jaio/internal/")),
                    "the javadoc jar documents the exported packages only");
            assertNotNull(sources.getEntry("io/jaio/AioContext.java"), "the sources jar has AioContext.java");
        }
    }

    /** A new project: a skeleton pom around the README's dependency, its module-info, a Main. */
    private Path newProject(List<String> dependency, List<String> moduleInfo, List<String> manifest) throws IOException {
        Path app = work.resolve("app");
        Path pkg = Files.createDirectories(app.resolve("src/main/java/com/example/app"));
        Files.writeString(app.resolve("pom.xml"), """
                <?xml version="1.0" encoding="UTF-8"?>
                <project xmlns="http://maven.apache.org/POM/4.0.0">
                  <modelVersion>4.0.0</modelVersion>
                  <groupId>com.example</groupId>
                  <artifactId>app</artifactId>
                  <version>1.0</version>
                  <properties>
                    <project.build.sourceEncoding>UTF-8</project.build.sourceEncoding>
                    <maven.compiler.release>25</maven.compiler.release>
                  </properties>
                  <dependencies>
                """ + String.join("\n", dependency) + """

                  </dependencies>
                  <build>
                    <plugins>
                      <plugin><artifactId>maven-compiler-plugin</artifactId><version>3.14.0</version></plugin>
                      <plugin><artifactId>maven-resources-plugin</artifactId><version>3.3.1</version></plugin>
                      <plugin><artifactId>maven-surefire-plugin</artifactId><version>3.5.3</version></plugin>
                      <plugin>
                        <artifactId>maven-jar-plugin</artifactId><version>3.4.2</version>
                        <configuration><archive><manifestFile>src/main/manifest/MANIFEST.MF</manifestFile></archive></configuration>
                      </plugin>
                      <plugin>
                        <artifactId>maven-dependency-plugin</artifactId><version>3.8.1</version>
                        <executions><execution>
                          <phase>package</phase><goals><goal>build-classpath</goal></goals>
                          <configuration><outputFile>cp.txt</outputFile></configuration>
                        </execution></executions>
                      </plugin>
                    </plugins>
                  </build>
                </project>
                """);
        Files.writeString(app.resolve("src/main/java/module-info.java"), String.join("\n", moduleInfo) + "\n");
        Files.createDirectories(app.resolve("src/main/manifest"));
        Files.writeString(app.resolve("src/main/manifest/MANIFEST.MF"), String.join("\n", manifest) + "\n");
        Files.writeString(pkg.resolve("Main.java"), """
                package com.example.app;

                import io.jaio.AioContext;
                import io.jaio.BottomHalf;
                import io.jaio.ClockType;
                import io.jaio.Timer;
                import io.jaio.coroutine.Coroutine;
                import java.time.Duration;
                import java.util.ArrayList;
                import java.util.List;

                public final class Main {
                    public static void main(String[] args) throws Exception {
                        List<String> ran = new ArrayList<>();
                        try (AioContext ctx = AioContext.builder().name("app").build()) {
                            ctx.makeCurrent();
                            BottomHalf bh = ctx.newBottomHalf("hello", () -> ran.add("bottom half"));
                            bh.schedule();
                            ctx.poll(true);
                            bh.delete();
                            Timer timer = ctx.newTimer(ClockType.REALTIME, () -> ran.add("timer in 1 ms"));
                            timer.modIn(Duration.ofMillis(1));
                            while (timer.isPending()) {
                                ctx.poll(true);
                            }
                            Coroutine co = Coroutine.create(() -> {
                                Coroutine.sleep(ClockType.REALTIME, Duration.ofMillis(1));
                                ran.add("coroutine slept 1 ms");
                            });
                            Coroutine.enter(co);
                            while (!co.isDone()) {
                                ctx.poll(true);
                            }
                        }
                        System.out.println("jaio=" + AioContext.class.getModule().getName()
                                + " app=" + Main.class.getModule().getName() + " ran " + ran);
                    }
                }
                """);
        return app;
    }

    /** Runs {@code command} in {@code dir} with this JDK as JAVA_HOME; returns stdout, fails on a non-zero exit. */
    private static String run(Path dir, List<String> command) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true);
        pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
        pb.environment().remove("MAVEN_OPTS");
        Process p = pb.start();
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(6, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            fail(command + " did not finish in 6 minutes:\n" + out);
        }
        if (p.exitValue() != 0) {
            fail(String.join(" ", command) + " in " + dir + " exited with " + p.exitValue() + ":\n" + out);
        }
        return out;
    }
}
