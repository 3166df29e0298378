// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The options of {@code jaio nbd serve}, parsed and checked (qemu-nbd's names and meanings where
 * they exist). Every refusal is one {@link UsageException} whose message shows the option as the
 * user typed it ({@code -p 99999}, {@code --port=99999}) and what was expected. Immutable after
 * {@link #parse}; any thread.
 */
final class ServeOptions {
    /** The longest unix socket path: sizeof(sun_path) in linux/un.h (108) less the NUL. */
    static final int MAX_SOCKET_PATH_BYTES = 107;

    String socketPath;
    String bind = "127.0.0.1";
    int port = 10809;
    String exportName = "";
    boolean readOnly;
    /** Clients served at once; 0 means no limit (qemu-nbd's {@code -e 0}). */
    int shared = 1;
    boolean persistent;
    /** {@code -f}: null when not given (the image is probed), else "raw" or "qcow2". */
    String format;
    /**
     * {@code --aio}: "io_uring", "native" (Linux AIO), "threads" or "write-threads" (reads on
     * io_uring, writes on writer threads); null = not given, see {@link #aioMode()}.
     */
    String aio;
    /** {@code --write-threads}: writer threads per I/O thread of --aio=write-threads; 0 = chosen from the cores. */
    int writeThreads;
    boolean cacheNone;
    /** {@code --discard}: "unmap" (TRIM deallocates; jaio-nbd's behaviour before the option) or "ignore" (qemu-nbd's default). */
    String discard = "unmap";
    /** {@code --detect-zeroes}: "off", "on" (a write of zeroes becomes write-zeroes) or "unmap" (and may deallocate). */
    String detectZeroes = "off";
    /** {@code -s}: writes go to a temporary qcow2 overlay, deleted on exit; the image is opened read-only. */
    boolean snapshot;
    /**
     * --iothreads: one per core, at most 4, by default. A client with several connections
     * (nbdcopy, qemu-img convert with multi-conn) then copies on every core: measured on 2 cores,
     * nbdcopy 1977 MiB/s on one I/O thread, 2483 on two, every single-connection row unchanged
     * (docs/performance.md, section 9, session 6).
     */
    int iothreads = DEFAULT_IOTHREADS;
    static final int DEFAULT_IOTHREADS = Math.max(1, Math.min(4, Runtime.getRuntime().availableProcessors()));
    /** --poll-max-ns: adaptive polling on the I/O threads, on by default (measured: docs/performance.md 9). */
    long pollMaxNs = DEFAULT_POLL_MAX_NS;
    static final long DEFAULT_POLL_MAX_NS = 100_000;
    /** --stats: seconds between summary lines on stderr (0: none). */
    int statsSeconds = 0;
    String pidFile;
    boolean verbose;
    boolean help;
    boolean version;
    String image;
    /** How the user typed -k, -b, -p and --pid-file ("-b 999.1.1.1"), for start-up errors; null when not given. */
    String socketTyped;
    String bindTyped;
    String portTyped;
    String pidFileTyped;
    /** --handshake-limit: a client that has not finished the handshake (TLS included) by then is dropped; 0: never. */
    long handshakeLimitNs = DEFAULT_HANDSHAKE_LIMIT_S * 1_000_000_000L;
    /** The --object definitions, each with its "qom-type" and keys, in command-line order. */
    final List<java.util.Map<String, String>> objects = new ArrayList<>();
    /** --tls-creds ID and --tls-authz ID as given, or null. */
    String tlsCredsId;
    String tlsAuthzId;
    /** From the tls-creds-x509 object --tls-creds names (null without TLS): dir=, verify-peer=, how it was typed. */
    String tlsDir;
    boolean tlsVerifyPeer;
    String tlsObjectTyped;
    /** The identity= of the authz-simple object --tls-authz names, or null. */
    String tlsIdentity;
    String tlsAuthzTyped;

    /** qemu-nbd's default --handshake-limit (NBD_DEFAULT_HANDSHAKE_MAX_SECS). */
    static final int DEFAULT_HANDSHAKE_LIMIT_S = 10;

    /** Thrown for bad command lines and start-up failures; the message is the one line printed. */
    static final class UsageException extends Exception {
        private static final long serialVersionUID = 1L;

        UsageException(String message) {
            super(message);
        }
    }

    /** One option's value as the user typed it: the text, and the option with it ("-p 99999"). */
    private record Value(String text, String typed) {
    }

    /** What each option that takes a value expects, as the messages say it. */
    private static final String PORT = "a TCP port 0..65535";
    private static final String SHARED = "a number of clients >= 0, 0 for no limit";
    private static final String IOTHREADS = "a number of I/O threads 1..64";
    private static final String WRITE_THREADS = "a number of writer threads 1..64";
    private static final String POLL = "nanoseconds 0..1000000000";
    private static final String STATS = "seconds 1..3600";
    private static final String HANDSHAKE = "seconds 0..86400, 0 for no limit";
    private static final String OBJECT = "tls-creds-x509,id=ID,dir=DIR,endpoint=server[,verify-peer=on|off] or"
            + " authz-simple,id=ID,identity=DN";

    static ServeOptions parse(String[] args) throws UsageException {
        ServeOptions o = new ServeOptions();
        List<String> positional = new ArrayList<>();
        boolean optionsEnded = false;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (optionsEnded || !a.startsWith("-") || a.length() == 1) {
                positional.add(a);
                continue;
            }
            if (a.equals("--")) {
                optionsEnded = true;
                continue;
            }
            String name = a;
            String attached = null; // --name=value, or -pVALUE
            int eq = a.indexOf('=');
            if (a.startsWith("--") && eq > 0) {
                name = a.substring(0, eq);
                attached = a.substring(eq + 1);
            } else if (!a.startsWith("--") && a.length() > 2 && takesValue(a.substring(0, 2))) {
                name = a.substring(0, 2); // -p10809, as getopt takes it; -p=10809 too, as people type it
                attached = a.charAt(2) == '=' ? a.substring(3) : a.substring(2);
            }
            if (!takesValue(name) && attached != null) {
                throw new UsageException(a + " (expected " + name + " without a value)");
            }
            Value v = null;
            if (takesValue(name)) {
                if (attached != null) {
                    v = new Value(attached, a);
                } else if (i + 1 < args.length) {
                    v = new Value(args[++i], name + " " + args[i]);
                } else {
                    throw new UsageException(name + " needs a value (expected " + expects(name) + ")");
                }
            }
            switch (name) {
                case "-k", "--socket" -> {
                    o.socketPath = v.text;
                    o.socketTyped = v.typed;
                }
                case "-b", "--bind" -> {
                    o.bind = v.text;
                    o.bindTyped = v.typed;
                }
                case "-p", "--port" -> {
                    o.port = (int) number(v, 0, 65535, PORT);
                    o.portTyped = v.typed;
                }
                case "-x", "--export-name" -> o.exportName = v.text;
                case "-r", "--read-only" -> o.readOnly = true;
                case "-e", "--shared" -> o.shared = (int) number(v, 0, Integer.MAX_VALUE, SHARED);
                case "-t", "--persistent" -> o.persistent = true;
                case "-f", "--format" -> o.format = format(v);
                case "--aio" -> o.aio = oneOf(v, "io_uring", "native", "threads", "write-threads");
                case "--write-threads" -> o.writeThreads = (int) number(v, 1, 64, WRITE_THREADS);
                case "--cache" -> o.cacheNone = "none".equals(oneOf(v, "writeback", "none"));
                case "--discard" -> o.discard = oneOf(v, "ignore", "unmap");
                case "--detect-zeroes" -> o.detectZeroes = oneOf(v, "off", "on", "unmap");
                case "-s", "--snapshot" -> o.snapshot = true;
                case "--iothreads" -> o.iothreads = (int) number(v, 1, 64, IOTHREADS);
                case "--poll-max-ns" -> o.pollMaxNs = number(v, 0, 1_000_000_000, POLL);
                case "--stats" -> o.statsSeconds = (int) number(v, 1, 3600, STATS);
                case "--pid-file" -> {
                    o.pidFile = v.text;
                    o.pidFileTyped = v.typed;
                }
                case "--handshake-limit" -> o.handshakeLimitNs = number(v, 0, 86400, HANDSHAKE) * 1_000_000_000L;
                case "--object" -> o.objects.add(object(v));
                case "--tls-creds" -> o.tlsCredsId = v.text;
                case "--tls-authz" -> o.tlsAuthzId = v.text;
                case "-v", "--verbose" -> o.verbose = true;
                case "-h", "--help" -> o.help = true;
                case "-V", "--version" -> o.version = true;
                default -> throw new UsageException("unknown option " + a + " (expected an option that --help lists)");
            }
        }
        if (positional.size() > 1) {
            throw new UsageException("IMAGE given " + positional.size() + " times: " + String.join(" ", positional)
                    + " (expected at most one IMAGE)");
        }
        if (!positional.isEmpty()) {
            o.image = positional.get(0);
        }
        o.check();
        return o;
    }

    /**
     * Whether the server outlives its last client: with {@code -t}, and always for the temporary
     * image made when no IMAGE is given (nobody else could use it afterwards).
     */
    boolean persistent() {
        return persistent || image == null;
    }

    /**
     * The engine to use: --aio as given, else "write-threads" for buffered images (the page
     * cache: io_uring would hand every buffered write to io-wq) and "io_uring" with
     * {@code --cache=none}; io_uring falls back to the thread pool where the kernel refuses it.
     */
    String aioMode() {
        return aio != null ? aio : cacheNone ? "io_uring" : "write-threads";
    }

    /** Checks between options and of values that need no system call. */
    private void check() throws UsageException {
        if (exportName.getBytes(StandardCharsets.UTF_8).length > Nbd.MAX_STRING) {
            throw new UsageException("-x NAME of " + exportName.getBytes(StandardCharsets.UTF_8).length
                    + " bytes (expected at most " + Nbd.MAX_STRING + ")");
        }
        if (socketPath != null) {
            if (socketPath.isEmpty()) {
                throw new UsageException(socketTyped + " (expected the path of a unix socket to create)");
            }
            int bytes = socketPath.getBytes(StandardCharsets.UTF_8).length;
            if (bytes > MAX_SOCKET_PATH_BYTES) {
                throw new UsageException(socketTyped + ": a path of " + bytes + " bytes (expected at most "
                        + MAX_SOCKET_PATH_BYTES + ", the limit of a unix socket address)");
            }
            String tcp = bindTyped != null ? bindTyped : portTyped;
            if (tcp != null) {
                throw new UsageException(socketTyped + " with " + tcp + " (expected a unix socket or a TCP address, not both)");
            }
        }
        if (writeThreads != 0 && !"write-threads".equals(aioMode())) {
            throw new UsageException("--write-threads=" + writeThreads + " with --aio=" + aioMode()
                    + (aio == null ? " (the default with --cache=none)" : "")
                    + " (expected --aio=write-threads, the mode whose writer threads it counts)");
        }
        if ("native".equals(aio) && !cacheNone) {
            throw new UsageException("--aio=native needs --cache=none (O_DIRECT): Linux AIO blocks on buffered files");
        }
        if ("unmap".equals(detectZeroes) && !"unmap".equals(discard)) {
            throw new UsageException("--detect-zeroes=unmap with --discard=" + discard
                    + " (expected --discard=unmap, as qemu-nbd requires, or --detect-zeroes=on)");
        }
        if (snapshot && readOnly) {
            throw new UsageException("--snapshot with -r (expected one of them: -s already leaves the image untouched)");
        }
        if (snapshot && image == null) {
            throw new UsageException("--snapshot without IMAGE (expected an image to put the temporary overlay over)");
        }
        if (pidFile != null && pidFile.isEmpty()) {
            throw new UsageException(pidFileTyped + " (expected the path of a file to write)");
        }
        checkTls();
    }

    /**
     * The --object definitions and what --tls-creds and --tls-authz name, as qemu-nbd checks
     * them: the credentials must be a tls-creds-x509 object with endpoint=server, the authz an
     * authz-simple object, and --tls-authz needs client certificates (verify-peer=on).
     */
    private void checkTls() throws UsageException {
        java.util.Map<String, java.util.Map<String, String>> byId = new java.util.HashMap<>();
        for (var obj : objects) {
            String typed = obj.get(" typed");
            String id = obj.get("id");
            if (id == null || id.isEmpty()) {
                throw new UsageException(typed + ": no id= (expected " + OBJECT + ")");
            }
            if (byId.put(id, obj) != null) {
                throw new UsageException(typed + ": id=" + id + " is defined twice (expected one --object per id)");
            }
            switch (obj.get("qom-type")) {
                case "tls-creds-x509" -> {
                    for (String k : obj.keySet()) {
                        if (!java.util.Set.of("qom-type", " typed", "id", "dir", "endpoint", "verify-peer").contains(k)) {
                            throw new UsageException(typed + ": " + k + "= is not supported (expected id, dir, endpoint and"
                                    + " verify-peer)");
                        }
                    }
                    String ep = obj.getOrDefault("endpoint", "client");
                    if (!ep.equals("server") && !ep.equals("client")) {
                        throw new UsageException(typed + ": endpoint=" + ep + " (expected server or client)");
                    }
                    if (obj.get("dir") == null || obj.get("dir").isEmpty()) {
                        throw new UsageException(typed + ": no dir= (expected the directory of ca-cert.pem, server-cert.pem"
                                + " and server-key.pem)");
                    }
                    onOff(typed, obj.getOrDefault("verify-peer", "on"));
                }
                case "authz-simple" -> {
                    for (String k : obj.keySet()) {
                        if (!java.util.Set.of("qom-type", " typed", "id", "identity").contains(k)) {
                            throw new UsageException(typed + ": " + k + "= is not supported (expected id and identity)");
                        }
                    }
                    if (obj.get("identity") == null || obj.get("identity").isEmpty()) {
                        throw new UsageException(typed + ": no identity= (expected the distinguished name of a client"
                                + " certificate, CN=...,O=...)");
                    }
                }
                default -> throw new UsageException(typed + ": object type " + obj.get("qom-type") + " is not supported"
                        + " (expected " + OBJECT + ")");
            }
        }
        if (tlsCredsId == null) {
            if (tlsAuthzId != null) {
                throw new UsageException("--tls-authz " + tlsAuthzId + " without --tls-creds (expected TLS to be on)");
            }
            return;
        }
        var creds = byId.get(tlsCredsId);
        if (creds == null || !creds.get("qom-type").equals("tls-creds-x509")) {
            throw new UsageException("--tls-creds " + tlsCredsId + ": no --object tls-creds-x509,id=" + tlsCredsId
                    + " (expected the id of a tls-creds-x509 object)");
        }
        tlsObjectTyped = "--object tls-creds-x509,id=" + tlsCredsId;
        if (!creds.getOrDefault("endpoint", "client").equals("server")) {
            throw new UsageException(tlsObjectTyped + ": endpoint=" + creds.getOrDefault("endpoint", "client (the default)")
                    + " (expected endpoint=server: these credentials serve)");
        }
        tlsDir = creds.get("dir");
        tlsVerifyPeer = onOff(creds.get(" typed"), creds.getOrDefault("verify-peer", "on"));
        if (tlsAuthzId != null) {
            var authz = byId.get(tlsAuthzId);
            if (authz == null || !authz.get("qom-type").equals("authz-simple")) {
                throw new UsageException("--tls-authz " + tlsAuthzId + ": no --object authz-simple,id=" + tlsAuthzId
                        + " (expected the id of an authz-simple object)");
            }
            if (!tlsVerifyPeer) {
                throw new UsageException("--tls-authz " + tlsAuthzId + " with verify-peer=off (expected verify-peer=on:"
                        + " the identity is read from the client's certificate)");
            }
            tlsIdentity = authz.get("identity");
            tlsAuthzTyped = "--object authz-simple,id=" + tlsAuthzId;
        }
    }

    private static boolean onOff(String typed, String v) throws UsageException {
        return switch (v) {
            case "on", "yes", "true" -> true;
            case "off", "no", "false" -> false;
            default -> throw new UsageException(typed + ": verify-peer=" + v + " (expected on or off)");
        };
    }

    /**
     * One --object value, QEMU's way: {@code TYPE,key=value,...}, where ",," is a comma inside a
     * value (a DN's). The map holds "qom-type", the keys, and " typed" (the option as typed).
     */
    private static java.util.Map<String, String> object(Value v) throws UsageException {
        List<String> parts = new ArrayList<>();
        StringBuilder cur = new StringBuilder();
        String t = v.text;
        for (int i = 0; i < t.length(); i++) {
            char ch = t.charAt(i);
            if (ch == ',' && i + 1 < t.length() && t.charAt(i + 1) == ',') {
                cur.append(',');
                i++;
            } else if (ch == ',') {
                parts.add(cur.toString());
                cur.setLength(0);
            } else {
                cur.append(ch);
            }
        }
        parts.add(cur.toString());
        java.util.Map<String, String> m = new java.util.LinkedHashMap<>();
        m.put(" typed", v.typed);
        String type = parts.get(0);
        if (type.isEmpty() || type.contains("=")) {
            throw new UsageException(v.typed + " (expected " + OBJECT + ")");
        }
        m.put("qom-type", type);
        for (String part : parts.subList(1, parts.size())) {
            int eq = part.indexOf('=');
            if (eq <= 0) {
                throw new UsageException(v.typed + ": '" + part + "' (expected key=value; a comma inside a value is written ,,)");
            }
            if (m.put(part.substring(0, eq), part.substring(eq + 1)) != null) {
                throw new UsageException(v.typed + ": " + part.substring(0, eq) + "= given twice (expected each key once)");
            }
        }
        return m;
    }

    private static boolean takesValue(String name) {
        return switch (name) {
            case "-k", "--socket", "-b", "--bind", "-p", "--port", "-x", "--export-name", "-e", "--shared", "-f", "--format",
                    "--aio", "--write-threads", "--cache", "--iothreads", "--poll-max-ns", "--stats", "--pid-file", "--handshake-limit",
                    "--object", "--tls-creds", "--tls-authz", "--discard", "--detect-zeroes" -> true;
            default -> false;
        };
    }

    /** What the option's value should be, for "needs a value" messages. */
    private static String expects(String name) {
        return switch (name) {
            case "-k", "--socket" -> "the path of a unix socket";
            case "-b", "--bind" -> "an IP address or host name";
            case "-p", "--port" -> PORT;
            case "-x", "--export-name" -> "an export name";
            case "-e", "--shared" -> SHARED;
            case "-f", "--format" -> "raw or qcow2";
            case "--aio" -> "io_uring or native or threads or write-threads";
            case "--write-threads" -> WRITE_THREADS;
            case "--cache" -> "writeback or none";
            case "--discard" -> "ignore or unmap";
            case "--detect-zeroes" -> "off or on or unmap";
            case "--iothreads" -> IOTHREADS;
            case "--poll-max-ns" -> POLL;
            case "--stats" -> STATS;
            case "--pid-file" -> "the path of a file";
            case "--handshake-limit" -> HANDSHAKE;
            case "--object" -> OBJECT;
            case "--tls-creds" -> "the id of a --object tls-creds-x509";
            case "--tls-authz" -> "the id of a --object authz-simple";
            default -> "a value";
        };
    }

    private static long number(Value v, long min, long max, String expected) throws UsageException {
        long n;
        try {
            n = Long.parseLong(v.text);
        } catch (NumberFormatException e) {
            throw new UsageException(v.typed + " (expected " + expected + ")");
        }
        if (n < min || n > max) {
            throw new UsageException(v.typed + " (expected " + expected + ")");
        }
        return n;
    }

    private static String oneOf(Value v, String... allowed) throws UsageException {
        for (String a : allowed) {
            if (a.equals(v.text)) {
                return v.text;
            }
        }
        throw new UsageException(v.typed + " (expected " + String.join(" or ", allowed) + ")");
    }

    private static String format(Value v) throws UsageException {
        return oneOf(v, "raw", "qcow2");
    }

    static final String USAGE = """
            Usage: jaio nbd serve [OPTIONS] [IMAGE]
            Serve a disk image (raw or qcow2; a regular file or a block device) over the NBD protocol.
            Without IMAGE, a sparse 1 GiB image is made in a temporary directory, served until
            SIGINT/SIGTERM (as with -t) and deleted on exit.

              -k, --socket=PATH      listen on a unix socket at PATH (instead of TCP)
              -b, --bind=ADDR        TCP address to listen on (default 127.0.0.1)
              -p, --port=N           TCP port (default 10809; 0 picks a free one)
              -x, --export-name=NAME export name (default "")
              -r, --read-only        refuse writes
              -f, --format=FORMAT    raw or qcow2; without -f the format is probed: qcow2 if IMAGE starts
                                     with qcow2's magic, else raw (with a warning, as qemu-nbd gives)
              -s, --snapshot         serve a temporary qcow2 overlay over IMAGE: writes go to the overlay,
                                     IMAGE is opened read-only and untouched; the overlay is deleted on exit
                  --discard=MODE     unmap (default: TRIM deallocates) or ignore (TRIM does nothing)
                  --detect-zeroes=M  off (default), on (a write of zeroes is served as write-zeroes) or
                                     unmap (also deallocates; needs --discard=unmap)
              -e, --shared=N         serve up to N clients at once (default 1; 0: no limit)
              -t, --persistent       keep serving after the last client disconnects (the default
                                     without IMAGE); with IMAGE and no -t, exit when it does
                  --aio=MODE         write-threads (the default, except with --cache=none):
                                     reads and flushes on io_uring, writes, write-zeroes and
                                     trims as plain pwrite/fallocate on a few dedicated writer
                                     threads (buffered writes through io_uring run one at a
                                     time per file on ext4); io_uring (the default with
                                     --cache=none); native (Linux AIO; needs --cache=none);
                                     threads (the thread pool for everything). Without io_uring
                                     in the kernel, reads go to the thread pool
                  --write-threads=N  writer threads per I/O thread of write-threads (default:
                                     one per two cores, 1 to 4)
                  --cache=MODE       writeback (default) or none (O_DIRECT; raw images only)
                  --iothreads=N      event-loop threads that connections are spread over
                                     (default: one per core, at most 4)
                  --poll-max-ns=NS   adaptive busy polling of the I/O threads, up to NS per wait
                                     (default 100000; 0: off); sockets join it with io_uring;
                                     paused while writes are in flight
                  --stats=N          every N seconds, log one line to stderr: requests/s, MiB/s,
                                     p50/p99 latency and requests in flight
                  --pid-file=PATH    write the server's PID to PATH
                  --handshake-limit=N
                                     drop a client that has not finished the handshake (TLS
                                     included) within N seconds (default 10, as qemu-nbd; 0: never)
                  --object tls-creds-x509,id=ID,dir=DIR,endpoint=server[,verify-peer=on|off]
                                     TLS credentials as QEMU loads them: DIR holds ca-cert.pem,
                                     server-cert.pem and server-key.pem (PEM; PKCS#8, RSA or EC
                                     keys). verify-peer=on (the default, as QEMU) requires a
                                     client certificate that chains to ca-cert.pem
                  --object authz-simple,id=ID,identity=DN
                                     a client identity for --tls-authz (a comma inside DN: ,,)
                  --tls-creds=ID     require TLS 1.3 (NBD_OPT_STARTTLS) with the credentials ID;
                                     clients connect with nbds:// URIs
                  --tls-authz=ID     allow only the client whose certificate's subject is ID's
                                     identity (needs verify-peer=on)
              -v, --verbose          log connections, request errors and the stop at INFO level
              -h, --help             this help
              -V, --version          print the version

            SIGINT/SIGTERM: stop accepting, finish requests in flight, flush, exit 0. Every exit
            prints its reason in one line: "jaio-nbd: exiting: REASON".
            """;
}
