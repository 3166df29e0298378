// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd;

import java.io.IOException;
import java.io.InputStream;
import java.net.UnknownHostException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;

import io.jaio.AioContext;
import io.jaio.ErrnoException;

import sun.misc.Signal;
import sun.misc.SignalHandler;

/**
 * {@code jaio nbd serve [options] [IMAGE]}: the command-line entry point.
 *
 * <p>What it prints: on stdout the one line {@code jaio-nbd: connect to URI} once it listens; on
 * stderr warnings and errors of the log ({@link NbdLogging}; INFO too with {@code -v}), and one
 * line when it ends, {@code jaio-nbd: exiting: REASON} (SIGINT, SIGTERM, the last client leaving
 * without {@code -t}). A bad option or a start-up failure is one line instead,
 * {@code jaio nbd serve: WHAT (expected ...)}, with exit status 1; a graceful stop exits 0.
 *
 * <p>Threading: the main thread runs the server's main context; the signal handlers run on the
 * JVM's signal thread and only ask for a stop.
 */
public final class NbdMain {
    static final String VERSION = "jaio-nbd 0.1.0";
    private static final long DEFAULT_IMAGE_SIZE = 1L << 30;
    private static final System.Logger LOG = System.getLogger("io.jaio.nbd");
    /** The server run() is serving, for in-process tests that need to stop it; null otherwise. */
    static volatile NbdServer running;

    private NbdMain() {
    }

    /**
     * The {@code jaio-nbd} command: {@code serve [OPTIONS] [IMAGE]} ({@code --help} lists the
     * options); exits with status 0 after a clean stop, non-zero on an error.
     *
     * @param args the command line
     */
    public static void main(String[] args) {
        int status = 1;
        try {
            status = run(args, true);
        } catch (Throwable t) {
            System.err.println("jaio-nbd: exiting: internal error: " + t);
            t.printStackTrace();
        } finally {
            System.exit(status); // also when an Error escaped: I/O threads must not keep the JVM alive
        }
    }

    /** {@link #main} without the process-wide parts (log format, signal handlers), for in-process tests. */
    static int run(String[] args) {
        return run(args, false);
    }

    /**
     * Parses, starts, serves; returns the exit status. {@code process}: this JVM is the server's
     * own, so the log format and the SIGINT/SIGTERM handlers are installed.
     */
    static int run(String[] args, boolean process) {
        if (args.length == 0 || !"serve".equals(args[0])) {
            System.err.println("jaio nbd: " + (args.length == 0 ? "no command" : "command '" + args[0] + "'")
                    + " (expected 'serve'; usage: jaio nbd serve [OPTIONS] [IMAGE], see --help)");
            return 1;
        }
        ServeOptions opts;
        try {
            opts = ServeOptions.parse(Arrays.copyOfRange(args, 1, args.length));
        } catch (ServeOptions.UsageException e) {
            System.err.println("jaio nbd serve: " + e.getMessage());
            return 1;
        }
        if (opts.help) {
            System.out.print(ServeOptions.USAGE);
            return 0;
        }
        if (opts.version) {
            System.out.println(VERSION);
            return 0;
        }
        if (process) {
            NbdLogging.install(opts.verbose);
        }
        Path tempDir = null;
        try {
            String image = opts.image;
            if (image == null) {
                tempDir = temporaryImageDir();
                image = tempDir.resolve("disk.img").toString();
            }
            return serve(opts, image, tempDir != null, process);
        } catch (ServeOptions.UsageException e) {
            System.err.println("jaio nbd serve: " + e.getMessage());
            return 1;
        } catch (IOException e) {
            // the event loop itself could not start (no epoll/eventfd, out of fds)
            System.err.println("jaio nbd serve: cannot start the event loop: " + describe(e)
                    + " (expected a Linux kernel with epoll and eventfd, and free file descriptors)");
            return 1;
        } finally {
            if (tempDir != null) {
                deleteTree(tempDir);
            }
        }
    }

    /** A directory holding a fresh sparse disk.img of {@link #DEFAULT_IMAGE_SIZE}. */
    private static Path temporaryImageDir() throws ServeOptions.UsageException {
        Path dir = null;
        try {
            dir = Files.createTempDirectory("jaio-nbd-");
            try (var raf = new java.io.RandomAccessFile(dir.resolve("disk.img").toFile(), "rw")) {
                raf.setLength(DEFAULT_IMAGE_SIZE); // sparse
            }
            return dir;
        } catch (IOException e) {
            if (dir != null) {
                deleteTree(dir);
            }
            throw new ServeOptions.UsageException("cannot make the temporary image in " + System.getProperty("java.io.tmpdir")
                    + ": " + describe(e) + " (expected a writable temporary directory, -Djava.io.tmpdir=DIR)");
        }
    }

    /**
     * The format to serve {@code image} as: {@code -f}'s, else probed (qcow2 magic, else raw).
     * A probed raw image gets qemu-nbd's warning, at INFO (shown with {@code -v}) so that the
     * plain {@code jaio nbd serve disk.img} keeps printing its two lines: a guest that writes a
     * qcow2 header into its block 0 would make the next probe read the file as qcow2.
     */
    static String probeFormat(String image, String format) {
        if (format != null) {
            return format;
        }
        if (io.jaio.nbd.image.Images.looksLikeQcow2(image)) {
            return "qcow2";
        }
        if (Files.isRegularFile(Path.of(image))) {
            LOG.log(System.Logger.Level.INFO, () -> "warning: image format was not specified for '" + image + "' and probing"
                    + " guessed raw; specify -f raw to say so (a guest that writes a qcow2 header to block 0 would change"
                    + " what the next probe sees)");
        }
        return "raw";
    }

    private static int serve(ServeOptions opts, String image, boolean temporary, boolean process)
            throws ServeOptions.UsageException, IOException {
        TlsCredentials tls = TlsCredentials.fromOptions(opts);
        String format = temporary ? "raw" : probeFormat(image, opts.format);
        Export export = Export.open(opts, image, format);
        try (AioContext main = AioContext.builder().name("nbd-main").build()) {
            main.makeCurrent();
            if ("native".equals(opts.aio)) {
                probeLinuxAio(main);
            }
            NbdServer server = listen(opts, export, main, tls);
            ServeOptions.UsageException pidFailure = opts.pidFile != null ? writePidFile(opts) : null;
            if (pidFailure != null) {
                server.requestShutdown("start-up failed"); // stops the I/O threads; nobody is connected
            } else {
                if (process) {
                    installSignalHandlers(server);
                }
                LOG.log(System.Logger.Level.INFO, () -> "serving " + image
                        + (temporary ? " (temporary 1 GiB sparse image, deleted on exit)" : "")
                        + " as " + (export.overlayDir != null ? "a qcow2 overlay (--snapshot, deleted on exit) over " + format
                                : export.driver.format()) + ", " + export.size
                        + " bytes" + (export.readOnly ? ", read-only" : "") + (opts.cacheNone ? ", cache=none" : ", cache=writeback")
                        + (opts.persistent() ? ", until stopped" : ", until the last client leaves")
                        + (tls != null ? "; " + tls.describe : ""));
                System.out.println("jaio-nbd: connect to " + uri(opts, server));
                System.out.flush();
            }
            int status;
            running = server;
            try {
                status = server.run();
            } finally {
                running = null;
                server.closeMain();
            }
            if (pidFailure != null) {
                throw pidFailure;
            }
            System.err.println("jaio-nbd: exiting: " + server.stopReason());
            if (opts.pidFile != null) {
                try {
                    Files.deleteIfExists(Path.of(opts.pidFile));
                } catch (IOException e) {
                    LOG.log(System.Logger.Level.WARNING, "cannot delete the pid file " + opts.pidFile + ": " + describe(e));
                }
            }
            return status;
        } finally {
            export.close();
        }
    }

    /**
     * Refuses --aio=native at start-up where the kernel refuses Linux AIO (io_setup: ENOSYS
     * without CONFIG_AIO, EAGAIN past /proc/sys/fs/aio-max-nr), rather than at each connection.
     * The main context keeps the probe's (idle) AIO context until it closes.
     */
    private static void probeLinuxAio(AioContext main) throws ServeOptions.UsageException {
        try {
            io.jaio.block.FileIoEngines.linuxAio(main);
        } catch (ErrnoException e) {
            throw new ServeOptions.UsageException("--aio=native: " + e.getMessage() + " (expected a kernel with Linux AIO;"
                    + " --aio=io_uring or --aio=threads work without it)");
        }
    }

    /** The server, listening; a failure to listen is one sentence naming the address and what was expected. */
    private static NbdServer listen(ServeOptions opts, Export export, AioContext main, TlsCredentials tls)
            throws ServeOptions.UsageException {
        if (opts.socketPath != null) {
            refuseNonSocket(opts);
        }
        try {
            return new NbdServer(opts, export, main, tls);
        } catch (UnknownHostException e) {
            throw new ServeOptions.UsageException((opts.bindTyped != null ? opts.bindTyped : "-b " + opts.bind)
                    + " (expected an IP address or a host name that resolves)");
        } catch (ErrnoException e) {
            throw new ServeOptions.UsageException(listenFailure(opts, e));
        }
    }

    /**
     * Sockets.listenUnix replaces whatever is at the path: refuse a path that holds anything but
     * a (stale) socket, so that {@code -k disk.img} cannot delete an image.
     */
    private static void refuseNonSocket(ServeOptions opts) throws ServeOptions.UsageException {
        Path p = Path.of(opts.socketPath);
        int mode;
        try {
            mode = (Integer) Files.getAttribute(p, "unix:mode", LinkOption.NOFOLLOW_LINKS);
        } catch (NoSuchFileException e) {
            return; // the usual case
        } catch (IOException | UnsupportedOperationException e) {
            return; // listening will say what is wrong
        }
        if ((mode & 0170000) != 0140000) { // S_IFMT, S_IFSOCK of sys/stat.h
            throw new ServeOptions.UsageException(opts.socketTyped + ": " + opts.socketPath + " exists and is not a socket"
                    + " (expected a new path, or a socket left by an earlier server)");
        }
    }

    static String listenFailure(ServeOptions opts, ErrnoException e) {
        boolean unix = opts.socketPath != null;
        String where = unix ? "unix socket " + opts.socketPath
                : (opts.bind.contains(":") ? "[" + opts.bind + "]" : opts.bind) + ":" + opts.port;
        String what;
        String expected;
        switch (e.errnoName()) {
            case "EADDRINUSE" -> {
                what = "the port is in use";
                expected = "a free port: another server is listening there; see -p";
            }
            case "EACCES", "EPERM" -> {
                what = "permission denied";
                expected = unix ? "a path in a directory this user may write; see -k"
                        : "a port above 1023, lower ones need privileges; see -p";
            }
            case "EADDRNOTAVAIL" -> {
                what = "the address is not on this machine";
                expected = "an address of one of this machine's interfaces; see -b";
            }
            case "ENOENT", "ENOTDIR" -> {
                what = "the directory does not exist";
                expected = "a path in an existing directory; see -k";
            }
            default -> {
                what = e.getMessage().substring(Math.min(e.getMessage().length(), e.syscall().length() + 2));
                expected = unix ? "a path where a unix socket can be made; see -k" : "an address and port to listen on; see -b and -p";
            }
        }
        return "cannot listen on " + where + ": " + e.errnoName() + ", " + what + " (expected " + expected + ")";
    }

    /** Writes the pid file; returns the failure to report, or null. */
    private static ServeOptions.UsageException writePidFile(ServeOptions opts) {
        try {
            Files.writeString(Path.of(opts.pidFile), ProcessHandle.current().pid() + "\n");
            return null;
        } catch (IOException e) {
            return new ServeOptions.UsageException("cannot write " + opts.pidFileTyped + ": " + describe(e)
                    + " (expected a path in an existing directory this user may write)");
        }
    }

    /** An I/O failure in words, without the Java class name. */
    static String describe(IOException e) {
        if (e instanceof ErrnoException ee) {
            return ee.getMessage();
        }
        if (e instanceof NoSuchFileException) {
            return "no such file or directory";
        }
        if (e instanceof AccessDeniedException) {
            return "permission denied";
        }
        if (e instanceof FileSystemException f && f.getReason() != null) {
            return f.getReason();
        }
        return e.getMessage() != null ? e.getMessage() : "an I/O error";
    }

    static String uri(ServeOptions opts, NbdServer server) {
        String name = opts.exportName;
        String scheme = opts.tlsCredsId != null ? "nbds" : "nbd";
        if (opts.socketPath != null) {
            return scheme + "+unix:///" + name + "?socket=" + opts.socketPath;
        }
        String host = opts.bind.contains(":") ? "[" + opts.bind + "]" : opts.bind;
        try {
            return scheme + "://" + host + ":" + server.port() + "/" + name;
        } catch (ErrnoException e) {
            return scheme + "://" + host + ":" + opts.port + "/" + name; // getsockname on our own socket does not fail
        }
    }

    /**
     * SIGINT and SIGTERM ask for a graceful stop, and the exit line names the signal. A signal
     * that was ignored when the JVM started (nohup, a background job of a script) stays ignored,
     * as the shell meant: the JVM does not take it over, and the log says so with -v.
     */
    private static void installSignalHandlers(NbdServer server) {
        SignalHandler stop = sig -> server.requestShutdown("SIG" + sig.getName());
        for (String name : new String[] {"TERM", "INT"}) {
            SignalHandler old = Signal.handle(new Signal(name), stop);
            if (old == SignalHandler.SIG_IGN) {
                LOG.log(System.Logger.Level.INFO, () -> "SIG" + name + " was ignored when the JVM started: it does not stop the server");
            }
        }
    }

    static void deleteTree(Path dir) {
        try (var s = Files.walk(dir)) {
            s.sorted(java.util.Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException ignored) {
                    // best effort: a temp directory
                }
            });
        } catch (IOException ignored) {
            // best effort
        }
    }
}
