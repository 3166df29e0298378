package io.jaio.nbd;

import java.io.IOException;
import java.lang.reflect.Proxy;
import java.nio.file.Files;
import java.nio.file.Path;

import io.jaio.AioContext;
import io.jaio.ErrnoException;

/**
 * {@code jaio nbd serve [options] [IMAGE]}: the command-line entry point. Errors in options or
 * the image give one line on stderr and exit status 1; SIGINT and SIGTERM stop the server
 * gracefully with status 0.
 *
 * <p>Threading: the main thread runs the server's main context.
 */
public final class NbdMain {
    static final String VERSION = "jaio-nbd 0.1.0";
    private static final long DEFAULT_IMAGE_SIZE = 1L << 30;
    /** The server run() is serving, for in-process tests that need to stop it; null otherwise. */
    static volatile NbdServer running;

    private NbdMain() {
    }

    public static void main(String[] args) {
        int status = 1;
        try {
            status = run(args);
        } catch (Throwable t) {
            System.err.println("jaio nbd serve: internal error: " + t);
            t.printStackTrace();
        } finally {
            System.exit(status); // also when an Error escaped: I/O threads must not keep the JVM alive
        }
    }

    static int run(String[] args) {
        if (args.length == 0 || !"serve".equals(args[0])) {
            System.err.println("jaio nbd: expected 'serve' (usage: jaio nbd serve [OPTIONS] [IMAGE]; see --help)");
            return 1;
        }
        String[] rest = java.util.Arrays.copyOfRange(args, 1, args.length);
        ServeOptions opts;
        try {
            opts = ServeOptions.parse(rest);
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
        Path tempDir = null;
        String image = opts.image;
        try {
            if (image == null) {
                tempDir = Files.createTempDirectory("jaio-nbd-");
                Path img = tempDir.resolve("disk.img");
                try (var raf = new java.io.RandomAccessFile(img.toFile(), "rw")) {
                    raf.setLength(DEFAULT_IMAGE_SIZE); // sparse
                }
                image = img.toString();
            }
            return serve(opts, image, tempDir != null);
        } catch (ServeOptions.UsageException e) {
            System.err.println("jaio nbd serve: " + e.getMessage());
            return 1;
        } catch (Exception e) {
            System.err.println("jaio nbd serve: " + e);
            return 1;
        } finally {
            if (tempDir != null) {
                deleteTree(tempDir);
            }
        }
    }

    private static int serve(ServeOptions opts, String image, boolean temporary) throws Exception {
        Export export = Export.open(opts.exportName, image, opts.readOnly, opts.cacheNone);
        try (AioContext main = AioContext.builder().name("nbd-main").build()) {
            main.makeCurrent();
            NbdServer server;
            try {
                server = new NbdServer(opts, export, main);
            } catch (io.jaio.ErrnoException e) {
                throw new ServeOptions.UsageException("cannot listen: " + e.getMessage());
            }
            installSignalHandlers(server);
            running = server;
            if (opts.pidFile != null) {
                Files.writeString(Path.of(opts.pidFile), ProcessHandle.current().pid() + "\n");
            }
            String uri = uri(opts, server);
            System.out.println("jaio-nbd: serving " + image + (temporary ? " (temporary 1 GiB sparse image)" : "")
                    + ", " + export.size + " bytes" + (export.readOnly ? ", read-only" : "")
                    + (opts.cacheNone ? ", cache=none" : ", cache=writeback"));
            System.out.println("jaio-nbd: connect to " + uri);
            System.out.flush();
            int status;
            try {
                status = server.run();
            } finally {
                running = null;
                server.closeMain();
            }
            if (opts.pidFile != null) {
                Files.deleteIfExists(Path.of(opts.pidFile));
            }
            return status;
        } finally {
            export.close();
        }
    }

    static String uri(ServeOptions opts, NbdServer server) throws io.jaio.ErrnoException {
        String name = opts.exportName;
        if (opts.socketPath != null) {
            return "nbd+unix:///" + name + "?socket=" + opts.socketPath;
        }
        String host = opts.bind.contains(":") ? "[" + opts.bind + "]" : opts.bind;
        return "nbd://" + host + ":" + server.port() + "/" + name;
    }

    /** SIGINT and SIGTERM request a graceful stop (sun.misc.Signal, reached reflectively). */
    private static void installSignalHandlers(NbdServer server) {
        try {
            Class<?> signal = Class.forName("sun.misc.Signal");
            Class<?> handler = Class.forName("sun.misc.SignalHandler");
            Object h = Proxy.newProxyInstance(NbdMain.class.getClassLoader(), new Class<?>[] {handler}, (p, m, a) -> {
                if ("handle".equals(m.getName())) {
                    server.requestShutdown();
                }
                return null;
            });
            for (String name : new String[] {"TERM", "INT"}) {
                Object sig = signal.getConstructor(String.class).newInstance(name);
                signal.getMethod("handle", signal, handler).invoke(null, sig, h);
            }
        } catch (ReflectiveOperationException | RuntimeException e) {
            // Without sun.misc.Signal the JVM's default handling still ends the process.
            Runtime.getRuntime().addShutdownHook(new Thread(server::requestShutdown));
        }
    }

    private static void deleteTree(Path dir) {
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
