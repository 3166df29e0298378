// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;

/**
 * What the qcow2 tests share: images made by qemu-img and filled by qemu-io, a qemu-nbd to do
 * the same writes as jaio-nbd on a copy, and the checks ({@code qemu-img check} without errors
 * or leaks, {@code qemu-img compare}, the guest bytes as qemu-img reads them).
 */
final class Qcow2Tools {
    private Qcow2Tools() {
    }

    static void assumeQemu() {
        NbdTestSupport.assumeTool("qemu-img", "qemu-utils");
        NbdTestSupport.assumeTool("qemu-io", "qemu-utils");
        NbdTestSupport.assumeTool("qemu-nbd", "qemu-utils");
    }

    /** {@code qemu-img create -f qcow2 -o OPTS [-b BACKING -F FMT] FILE SIZE}. */
    static Path create(Path file, String size, String options, Path backing, String backingFormat) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("qemu-img", "create", "-q", "-f", "qcow2"));
        if (options != null && !options.isEmpty()) {
            cmd.addAll(List.of("-o", options));
        }
        if (backing != null) {
            cmd.addAll(List.of("-b", backing.getFileName().toString(), "-F", backingFormat)); // relative: resolved like QEMU
        }
        cmd.add(file.toString());
        cmd.add(size);
        NbdTestSupport.run(cmd).expectSuccess(cmd);
        return file;
    }

    /** qemu-io with {@code commands} on a local image of {@code format}. */
    static void qemuIo(Path image, String format, String... commands) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("qemu-io", "-f", format));
        for (String c : commands) {
            cmd.add("-c");
            cmd.add(c);
        }
        cmd.add(image.toString());
        String out = NbdTestSupport.run(cmd).expectSuccess(cmd).output();
        NbdTestSupport.assertNoQemuIoFailure(cmd, out);
    }

    /** qemu-io on an NBD URI, commands from a script on stdin (one per line). */
    static String qemuIoUri(String uri, List<String> commands) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("qemu-io", "-f", "raw"));
        for (String c : commands) {
            cmd.add("-c");
            cmd.add(c);
        }
        cmd.add(uri);
        String out = NbdTestSupport.run(cmd).expectSuccess(cmd).output();
        NbdTestSupport.assertNoQemuIoFailure(cmd, out);
        return out;
    }

    /** The guest bytes of {@code image} as qemu-img reads them ({@code qemu-img convert -O raw}). */
    static byte[] guestBytes(Path image, String format, Path scratch) throws Exception {
        Files.deleteIfExists(scratch);
        NbdTestSupport.runOk("qemu-img", "convert", "-U", "-f", format, "-O", "raw", image.toString(), scratch.toString());
        return Files.readAllBytes(scratch);
    }

    /** {@code qemu-img check}: fails unless it finds no errors and no leaks. */
    static void assertCheckClean(Path image) throws Exception {
        NbdTestSupport.Result r = NbdTestSupport.run("qemu-img", "check", image.toString());
        assertEquals(0, r.exitCode(), "qemu-img check " + image + ":\n" + r.output());
        assertTrue(r.output().contains("No errors were found"), r.output());
    }

    /**
     * {@code qemu-img check} after a crash or a power cut: fails on any corruption or check error
     * (exit 2 or 1), allows leaked clusters (exit 3: what the ordering rules leave at worst).
     * Returns the number of leaked clusters.
     */
    static long assertNoCorruption(Path image, String when) throws Exception {
        NbdTestSupport.Result r = NbdTestSupport.run("qemu-img", "check", "--output=json", image.toString());
        String out = r.output();
        long corruptions = jsonCount(out, "corruptions");
        long errors = jsonCount(out, "check-errors");
        if ((r.exitCode() != 0 && r.exitCode() != 3) || corruptions != 0 || errors != 0) {
            String human = NbdTestSupport.run("qemu-img", "check", image.toString()).output();
            fail("qemu-img check " + image + " " + when + ": exit " + r.exitCode() + " (expected 0, or 3 for leaks only), "
                    + corruptions + " corruptions, " + errors + " check errors:\n" + human);
        }
        return jsonCount(out, "leaks");
    }

    /** The value of {@code "key": N} in qemu-img's JSON output, 0 when absent (qemu-img leaves zero counts out). */
    private static long jsonCount(String json, String key) {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("\"" + key + "\":\\s*(\\d+)").matcher(json);
        return m.find() ? Long.parseLong(m.group(1)) : 0;
    }

    static void assertIdentical(Path a, Path b) throws Exception {
        NbdTestSupport.Result r = NbdTestSupport.run("qemu-img", "compare", "-f", "qcow2", "-F", "qcow2", a.toString(), b.toString());
        assertEquals(0, r.exitCode(), "qemu-img compare " + a + " " + b + ":\n" + r.output());
    }

    /** A qemu-nbd serving {@code image} on a unix socket until its one client leaves. */
    static final class QemuNbd implements AutoCloseable {
        final Process process;
        final Path socket;

        QemuNbd(Path image, Path socket, String... options) throws Exception {
            this.socket = socket;
            List<String> cmd = new ArrayList<>(List.of("qemu-nbd", "-k", socket.toString()));
            cmd.addAll(List.of(options));
            cmd.add(image.toString());
            Files.deleteIfExists(socket);
            process = NbdTestSupport.startProcess(cmd);
            process.getOutputStream().close();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(NbdTestSupport.CLIENT_TIMEOUT_S);
            while (!Files.exists(socket)) { // qemu-nbd makes the socket once it listens
                if (!process.isAlive() || System.nanoTime() > deadline) {
                    process.destroyForcibly();
                    fail("qemu-nbd did not start: " + new String(process.getInputStream().readAllBytes()));
                }
                Thread.onSpinWait();
            }
        }

        String uri() {
            return "nbd+unix:///?socket=" + socket;
        }

        /** Waits for qemu-nbd to exit after its client left (it then has closed the image). */
        void awaitExit() throws Exception {
            if (!process.waitFor(NbdTestSupport.CLIENT_TIMEOUT_S, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                fail("qemu-nbd did not exit after its client left");
            }
        }

        @Override
        public void close() {
            if (process.isAlive()) {
                process.destroy();
                try {
                    process.waitFor(NbdTestSupport.CLIENT_TIMEOUT_S, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }
    }

    /**
     * A seeded mix of qemu-io commands inside {@code size}: writes of patterns (aligned,
     * unaligned, spanning clusters), write-zeroes, discards, with flushes; with {@code aio},
     * batches of aio_write to disjoint ranges (so the result does not depend on their order).
     */
    static List<String> randomCommands(long seed, long size, int count, int clusterSize, boolean aio) {
        Random r = new Random(seed);
        List<String> cmds = new ArrayList<>();
        long next = 0;
        for (int i = 0; i < count; i++) {
            int kind = r.nextInt(10);
            long len = switch (r.nextInt(5)) {
                case 0 -> 1 + r.nextInt(511);
                case 1 -> 4096;
                case 2 -> clusterSize;
                case 3 -> clusterSize * 2L + r.nextInt(4096);
                default -> 1 + r.nextInt(70_000);
            };
            len = Math.min(len, size / 4);
            long off = r.nextInt(3) == 0 ? (r.nextLong(size / clusterSize)) * clusterSize : r.nextLong(size - len);
            if (off + len > size) {
                off = size - len;
            }
            if (aio && kind < 6) {
                // a batch of up to 4 aio writes at increasing, disjoint offsets
                long at = (next + off) % (size / 2);
                for (int k = 0; k < 4 && at + len <= size; k++) {
                    cmds.add("aio_write -P " + (1 + r.nextInt(254)) + " " + at + " " + len);
                    at += len + r.nextInt(2) * 512;
                }
                cmds.add("aio_flush");
                next = at;
            } else if (kind < 7) {
                cmds.add("write -P " + (1 + r.nextInt(254)) + " " + off + " " + len);
            } else if (kind == 7) {
                cmds.add("write -z " + off + " " + len);
            } else if (kind == 8) {
                cmds.add("discard " + off + " " + len);
            } else {
                cmds.add("flush");
            }
        }
        cmds.add("flush");
        return cmds;
    }
}
