// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Every refused command line and start-up failure gives exactly one line on stderr, naming the
 * value as typed and what was expected, and exit status 1 ({@link NbdMain#run} in this JVM).
 * In the table, IMG stands for a real raw image, DIR for the test's directory.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class NbdCommandLineTest {
    @TempDir
    Path dir;
    private Path image;

    @BeforeEach
    void makeImage() throws Exception {
        image = NbdTestSupport.sparseImage(dir.resolve("disk.img"), 1 << 20);
    }

    /** NbdMain.run in this JVM; returns {status, stderr}. */
    private static String[] runMain(List<String> args) {
        PrintStream saved = System.err;
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status;
        synchronized (System.class) {
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            try {
                status = NbdMain.run(args.toArray(String[]::new));
            } finally {
                System.setErr(saved);
            }
        }
        return new String[] {Integer.toString(status), err.toString(StandardCharsets.UTF_8)};
    }

    private List<String> expand(String commandLine) {
        List<String> args = new ArrayList<>();
        for (String w : commandLine.split(" ")) {
            String a = w.replace("IMG", image.toString()).replace("DIR", dir.toString()).replace("''", "");
            if (!a.isEmpty()) {
                args.add(a);
            }
        }
        return args;
    }

    private void assertRefused(String commandLine, String message) {
        List<String> args = expand(commandLine);
        String[] r = runMain(args);
        String want = message.replace("IMG", image.toString())
                .replaceAll("\\bDIR\\b", java.util.regex.Matcher.quoteReplacement(dir.toString())); // not the DIR of O_DIRECT
        assertEquals(want + "\n", r[1],
                "stderr of " + args);
        assertEquals("1", r[0], "exit status of " + args);
    }

    @ParameterizedTest(name = "[{index}] jaio nbd {0}")
    @CsvSource(delimiter = '|', textBlock = """
            ''                                   | jaio nbd: no command (expected 'serve'; usage: jaio nbd serve [OPTIONS] [IMAGE], see --help)
            frobnicate                           | jaio nbd: command 'frobnicate' (expected 'serve'; usage: jaio nbd serve [OPTIONS] [IMAGE], see --help)
            serve --frobnicate IMG               | jaio nbd serve: unknown option --frobnicate (expected an option that --help lists)
            serve -p 99999 IMG                   | jaio nbd serve: -p 99999 (expected a TCP port 0..65535)
            serve --port=99999 IMG               | jaio nbd serve: --port=99999 (expected a TCP port 0..65535)
            serve -p99999 IMG                    | jaio nbd serve: -p99999 (expected a TCP port 0..65535)
            serve -p=99999 IMG                   | jaio nbd serve: -p=99999 (expected a TCP port 0..65535)
            serve -p http IMG                    | jaio nbd serve: -p http (expected a TCP port 0..65535)
            serve --port=-1 IMG                  | jaio nbd serve: --port=-1 (expected a TCP port 0..65535)
            serve IMG -p                         | jaio nbd serve: -p needs a value (expected a TCP port 0..65535)
            serve -e -1 IMG                      | jaio nbd serve: -e -1 (expected a number of clients >= 0, 0 for no limit)
            serve --shared=many IMG              | jaio nbd serve: --shared=many (expected a number of clients >= 0, 0 for no limit)
            serve --iothreads=0 IMG              | jaio nbd serve: --iothreads=0 (expected a number of I/O threads 1..64)
            serve --poll-max-ns -5 IMG           | jaio nbd serve: --poll-max-ns -5 (expected nanoseconds 0..1000000000)
            serve --aio=posix IMG                | jaio nbd serve: --aio=posix (expected io_uring or native or threads or write-threads)
            serve --cache=none --write-threads=2 IMG | jaio nbd serve: --write-threads=2 with --aio=io_uring (the default with --cache=none) (expected --aio=write-threads, the mode whose writer threads it counts)
            serve --aio=threads --write-threads 2 IMG | jaio nbd serve: --write-threads=2 with --aio=threads (expected --aio=write-threads, the mode whose writer threads it counts)
            serve --aio=write-threads --write-threads=0 IMG | jaio nbd serve: --write-threads=0 (expected a number of writer threads 1..64)
            serve --aio=native IMG               | jaio nbd serve: --aio=native needs --cache=none (O_DIRECT): Linux AIO blocks on buffered files
            serve --aio native --cache=writeback IMG | jaio nbd serve: --aio=native needs --cache=none (O_DIRECT): Linux AIO blocks on buffered files
            serve --cache unsafe IMG             | jaio nbd serve: --cache unsafe (expected writeback or none)
            serve -f qcow2 IMG                   | jaio nbd serve: qcow2 image IMG: no qcow2 magic (expected QFI\\xfb)
            serve --format=vmdk IMG              | jaio nbd serve: --format=vmdk (expected raw or qcow2)
            serve --discard=trim IMG             | jaio nbd serve: --discard=trim (expected ignore or unmap)
            serve --detect-zeroes yes IMG        | jaio nbd serve: --detect-zeroes yes (expected off or on or unmap)
            serve --detect-zeroes=unmap --discard=ignore IMG | jaio nbd serve: --detect-zeroes=unmap with --discard=ignore (expected --discard=unmap, as qemu-nbd requires, or --detect-zeroes=on)
            serve -s -r IMG                      | jaio nbd serve: --snapshot with -r (expected one of them: -s already leaves the image untouched)
            serve --snapshot                     | jaio nbd serve: --snapshot without IMAGE (expected an image to put the temporary overlay over)
            serve -f qcow2 --cache=none IMG      | jaio nbd serve: --cache=none with the qcow2 image IMG (expected --cache=writeback: qcow2 is served through the page cache)
            serve -r=yes IMG                     | jaio nbd serve: unknown option -r=yes (expected an option that --help lists)
            serve --read-only=yes IMG            | jaio nbd serve: --read-only=yes (expected --read-only without a value)
            serve IMG IMG                        | jaio nbd serve: IMAGE given 2 times: IMG IMG (expected at most one IMAGE)
            serve -k DIR/s -p 10809 IMG          | jaio nbd serve: -k DIR/s with -p 10809 (expected a unix socket or a TCP address, not both)
            serve --bind=::1 --socket=DIR/s IMG  | jaio nbd serve: --socket=DIR/s with --bind=::1 (expected a unix socket or a TCP address, not both)
            serve -b 999.1.1.1 IMG               | jaio nbd serve: -b 999.1.1.1 (expected an IP address or a host name that resolves)
            serve --bind=no.such.host.invalid IMG | jaio nbd serve: --bind=no.such.host.invalid (expected an IP address or a host name that resolves)
            serve -p 0 DIR/missing.img           | jaio nbd serve: image DIR/missing.img does not exist (expected a raw or qcow2 image file, or a block device)
            serve -p 0 DIR                       | jaio nbd serve: image DIR is a directory (expected a raw or qcow2 image file, or a block device)
            serve -k DIR/no/such/dir/s IMG       | jaio nbd serve: cannot listen on unix socket DIR/no/such/dir/s: ENOENT, the directory does not exist (expected a path in an existing directory; see -k)
            serve -k IMG IMG                     | jaio nbd serve: -k IMG: IMG exists and is not a socket (expected a new path, or a socket left by an earlier server)
            serve -p 0 --pid-file=DIR/no/pid IMG | jaio nbd serve: cannot write --pid-file=DIR/no/pid: no such file or directory (expected a path in an existing directory this user may write)
            """)
    void badCommandLineGivesOneLineNamingTheValueAndWhatWasExpected(String commandLine, String message) {
        assertRefused(commandLine, message);
    }

    @Test
    void tooLongSocketPathIsRefusedBeforeListening() {
        String longPath = dir.resolve("s".repeat(120)).toString();
        int bytes = longPath.length();
        assertRefused("serve -k " + longPath + " IMG", "jaio nbd serve: -k " + longPath + ": a path of " + bytes
                + " bytes (expected at most 107, the limit of a unix socket address)");
    }

    @Test
    void portInUseNamesTheAddress() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 1, java.net.InetAddress.getByName("127.0.0.1"))) {
            int port = taken.getLocalPort();
            assertRefused("serve -p " + port + " IMG", "jaio nbd serve: cannot listen on 127.0.0.1:" + port
                    + ": EADDRINUSE, the port is in use (expected a free port: another server is listening there; see -p)");
        }
    }

    @Test
    void addressNotOnThisMachineIsNamed() {
        // 192.0.2.1 is TEST-NET-1 (RFC 5737): never an address of this machine; bind() fails, nothing is sent.
        assertRefused("serve -b 192.0.2.1 -p 0 IMG", "jaio nbd serve: cannot listen on 192.0.2.1:0: EADDRNOTAVAIL, the address"
                + " is not on this machine (expected an address of one of this machine's interfaces; see -b)");
    }

    @Test
    void unreadableImageSaysWhatWouldDo() throws Exception {
        Files.setPosixFilePermissions(image, java.util.Set.of());
        boolean readable = Files.isReadable(image);
        if (readable) {
            System.out.println("SKIPPED: running as root, every file is readable: unreadable-image test skipped");
        }
        Assumptions.assumeFalse(readable, "running as root: every file is readable");
        assertRefused("serve -p 0 IMG", "jaio nbd serve: cannot open image IMG read-write: EACCES (Permission denied)"
                + " (expected a file this user may read and write, or -r to serve it read-only)");
    }

    @Test
    void optionsThatQemuNbdAcceptsAreAccepted() throws Exception {
        ServeOptions o = ServeOptions.parse(new String[] {"-e", "0", "-f", "raw", "-p10810", "--", "-odd-name.img"});
        assertEquals(0, o.shared, "-e 0: no limit, as in qemu-nbd");
        assertEquals("raw", o.format);
        assertEquals(10810, o.port);
        assertEquals("-odd-name.img", o.image, "after --, a leading dash is an IMAGE");
        assertEquals(false, ServeOptions.parse(new String[] {"disk.img"}).persistent(), "IMAGE without -t");
        assertEquals(true, ServeOptions.parse(new String[] {}).persistent(), "no IMAGE: the temporary image is served until stopped");
        assertEquals(true, ServeOptions.parse(new String[] {"-t", "disk.img"}).persistent(), "-t");
        assertNull(ServeOptions.parse(new String[] {}).format, "no -f: probed");
    }
}
