package io.jaio.nbd;

import java.util.ArrayList;
import java.util.List;

/**
 * The options of {@code jaio nbd serve}, parsed and checked (qemu-nbd's names where they
 * exist). Immutable after {@link #parse}; any thread.
 */
final class ServeOptions {
    String socketPath;
    String bind = "127.0.0.1";
    int port = 10809;
    String exportName = "";
    boolean readOnly;
    int shared = 1;
    boolean persistent;
    String aio; // null = io_uring when available
    boolean cacheNone;
    int iothreads = 1;
    long pollMaxNs = 0;
    String pidFile;
    boolean verbose;
    boolean help;
    boolean version;
    String image;

    /** Thrown for bad command lines; the message is the one line printed. */
    static final class UsageException extends Exception {
        private static final long serialVersionUID = 1L;

        UsageException(String message) {
            super(message);
        }
    }

    static ServeOptions parse(String[] args) throws UsageException {
        ServeOptions o = new ServeOptions();
        List<String> positional = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            String value = null;
            int eq = a.indexOf('=');
            String name = a;
            if (a.startsWith("--") && eq > 0) {
                name = a.substring(0, eq);
                value = a.substring(eq + 1);
            }
            switch (name) {
                case "-k", "--socket" -> o.socketPath = (value != null ? value : next(args, ++i, name));
                case "-b", "--bind" -> o.bind = (value != null ? value : next(args, ++i, name));
                case "-p", "--port" -> o.port = intIn(value != null ? value : next(args, ++i, name), name, 0, 65535);
                case "-x", "--export-name" -> o.exportName = (value != null ? value : next(args, ++i, name));
                case "-r", "--read-only" -> o.readOnly = true;
                case "-e", "--shared" -> o.shared = intIn(value != null ? value : next(args, ++i, name), name, 1, 1024);
                case "-t", "--persistent" -> o.persistent = true;
                case "--aio" -> o.aio = oneOf(value != null ? value : next(args, ++i, name), name, "io_uring", "threads");
                case "--cache" -> o.cacheNone = "none".equals(oneOf(value != null ? value : next(args, ++i, name), name,
                        "writeback", "none"));
                case "--iothreads" -> o.iothreads = intIn(value != null ? value : next(args, ++i, name), name, 1, 64);
                case "--poll-max-ns" -> o.pollMaxNs = intIn(value != null ? value : next(args, ++i, name), name, 0, 1_000_000_000);
                case "--pid-file" -> o.pidFile = (value != null ? value : next(args, ++i, name));
                case "-v", "--verbose" -> o.verbose = true;
                case "-h", "--help" -> o.help = true;
                case "-V", "--version" -> o.version = true;
                default -> {
                    if (a.startsWith("-") && a.length() > 1) {
                        throw new UsageException("unknown option '" + a + "' (see --help)");
                    }
                    positional.add(a);
                }
            }
        }
        if (positional.size() > 1) {
            throw new UsageException("one IMAGE expected, got " + positional.size() + ": " + String.join(" ", positional));
        }
        if (!positional.isEmpty()) {
            o.image = positional.get(0);
        }
        if (o.exportName.length() > Nbd.MAX_STRING) {
            throw new UsageException("--export-name of " + o.exportName.length() + " characters (expected at most "
                    + Nbd.MAX_STRING + ")");
        }
        return o;
    }

    private static String next(String[] args, int i, String name) throws UsageException {
        if (i >= args.length) {
            throw new UsageException("option " + name + " needs a value");
        }
        return args[i];
    }

    private static int intIn(String v, String name, int min, int max) throws UsageException {
        try {
            long n = Long.parseLong(v);
            if (n < min || n > max) {
                throw new UsageException(name + "=" + v + " (expected " + min + ".." + max + ")");
            }
            return (int) n;
        } catch (NumberFormatException e) {
            throw new UsageException(name + "=" + v + " (expected a number " + min + ".." + max + ")");
        }
    }

    private static String oneOf(String v, String name, String... allowed) throws UsageException {
        for (String a : allowed) {
            if (a.equals(v)) {
                return v;
            }
        }
        throw new UsageException(name + "=" + v + " (expected " + String.join(" or ", allowed) + ")");
    }

    static final String USAGE = """
            Usage: jaio nbd serve [OPTIONS] [IMAGE]
            Serve a raw disk image (a regular file or a block device) over the NBD protocol.
            Without IMAGE, a sparse 1 GiB image is made in a temporary directory and deleted on exit.

              -k, --socket=PATH      listen on a unix socket at PATH (instead of TCP)
              -b, --bind=ADDR        TCP address to listen on (default 127.0.0.1)
              -p, --port=N           TCP port (default 10809)
              -x, --export-name=NAME export name (default "")
              -r, --read-only        refuse writes
              -e, --shared=N         serve up to N clients at once (default 1)
              -t, --persistent       keep serving after the last client disconnects
                  --aio=MODE         io_uring (default when the kernel allows it) or threads
                  --cache=MODE       writeback (default) or none (O_DIRECT)
                  --iothreads=N      event-loop threads that connections are spread over (default 1)
                  --poll-max-ns=NS   adaptive busy polling of the I/O threads (default 0: off)
                  --pid-file=PATH    write the server's PID to PATH
              -v, --verbose          log connections and request errors
              -h, --help             this help
              -V, --version          print the version

            SIGINT/SIGTERM: stop accepting, finish requests in flight, flush, exit 0.
            """;
}
