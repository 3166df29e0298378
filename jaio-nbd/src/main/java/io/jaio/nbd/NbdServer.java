// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;

import io.jaio.AioContext;
import io.jaio.ClockType;
import io.jaio.ErrnoException;
import io.jaio.Fds;
import io.jaio.block.FileIoEngine;
import io.jaio.block.FileIoEngines;
import io.jaio.IOThread;
import io.jaio.Sockets;
import io.jaio.Timer;
import io.jaio.TimerScale;

/**
 * The NBD server: a listening socket on the main thread's context, and connections spread
 * round-robin over IOThreads, each with its own file engine on the shared image fd.
 *
 * <p>Threading: {@link #run()} on the thread that built the server (the main context's home
 * thread); {@link Worker} methods on their IOThread; {@link #requestShutdown} from any thread.
 *
 * <p>Logging: per-connection INFO lines (connected, closed, request errors) are built only when
 * the "io.jaio.nbd" logger takes INFO when the server starts ({@code -v}, or the user's own
 * logging configuration); the level is the one switch.
 */
final class NbdServer {
    private static final System.Logger LOG = System.getLogger("io.jaio.nbd");
    /** How long a graceful stop waits for connections to finish their requests. */
    private static final long DRAIN_TIMEOUT_NS = 10_000_000_000L;

    private final ServeOptions opts;
    private final Export export;
    private final AioContext main;
    private final List<Worker> workers = new ArrayList<>();
    private final int listenFd;
    private int nextWorker;
    /** Connections accepted and not yet closed; written on the main thread, volatile for the {@link #clients()} probe. */
    private volatile int clients;
    private long accepted;
    private boolean everConnected;
    private boolean listening;
    /**
     * Why the server stops, in the words of the exit line ("SIGTERM"); null until a stop is asked
     * for. The first reason wins. Set by any thread before {@code main.aioNotify()}; read by
     * {@link #run()} after {@code poll()} returns (the atomic's set/get pair; the notify only wakes).
     */
    private final AtomicReference<String> stopReason = new AtomicReference<>();
    private boolean stopping;
    private long stopDeadline;
    private final Timer drainDeadline;
    private final Timer acceptRetry;
    private long acceptFailures;
    /** How long accepting pauses after running out of fds or memory. */
    static final long ACCEPT_BACKOFF_NS = 100_000_000L;
    /** The export's MBean, or null if the MBean server refused it. */
    private javax.management.ObjectName exportMBean;
    /** The --stats line printer, or null without --stats. */
    private final NbdStatsReporter reporter;

    /** One IOThread and what its connections share. Fields are read on that thread only. */
    static final class Worker {
        final IOThread thread;
        final AioContext ctx;
        final Export export;
        final boolean verbose;
        final NbdServer server;
        /** TLS required with these credentials (--tls-creds), or null: clear text. */
        final TlsCredentials tls;
        /** --handshake-limit in nanoseconds; 0: no limit. */
        final long handshakeLimitNs;
        FileIoEngine engine;
        final List<NbdConnection> connections = new ArrayList<>();
        /** This I/O thread's share of the export's figures (written on it, read from any thread). */
        final NbdStats stats = new NbdStats();
        /**
         * --poll-max-ns, or 0. While any write (WRITE, WRITE_ZEROES, TRIM) is in flight on this
         * thread's connections, adaptive polling is off: the write runs on a writer thread or an
         * io-wq worker that needs a core, and on a machine of few cores a spinning loop takes it
         * (measured on 2 vCPUs: randwrite QD32 129k IOPS without polling, 86k with it). Reads,
         * which complete inline on the ring, keep the polling that cuts their QD1 latency.
         */
        long pollMaxNs;
        private int writesInFlight;

        /** A write request was taken (home thread). */
        void writeStarted() {
            if (writesInFlight++ == 0 && pollMaxNs > 0) {
                ctx.setPollParams(0, 0, 0);
            }
        }

        /** A write request's reply went out or was dropped (home thread). */
        void writeDone() {
            assert writesInFlight > 0 : "writeDone without writeStarted";
            if (--writesInFlight == 0 && pollMaxNs > 0) {
                ctx.setPollParams(pollMaxNs, 0, 0);
            }
        }

        Worker(NbdServer server, IOThread thread, Export export, boolean verbose, TlsCredentials tls, long handshakeLimitNs) {
            this.tls = tls;
            this.handshakeLimitNs = handshakeLimitNs;
            this.server = server;
            this.thread = thread;
            this.ctx = thread.context();
            this.export = export;
            this.verbose = verbose;
        }

        /**
         * A worker with no server and no IOThread, on a context the caller polls: the seam through
         * which tests and the wire fuzzer hand a socket to an {@link NbdConnection} without a
         * listening socket. Closed connections are not reported to any server.
         */
        Worker(AioContext ctx, Export export, FileIoEngine engine) {
            this(ctx, export, engine, null, 0);
        }

        /** The test seam of {@link #Worker(AioContext, Export, FileIoEngine)} with TLS and a handshake limit. */
        Worker(AioContext ctx, Export export, FileIoEngine engine, TlsCredentials tls, long handshakeLimitNs) {
            this.tls = tls;
            this.handshakeLimitNs = handshakeLimitNs;
            this.server = null;
            this.thread = null;
            this.ctx = ctx;
            this.export = export;
            this.verbose = false;
            this.engine = engine;
        }

        /**
         * Serves {@code fd}; {@code aio} is --aio's value (null: io_uring where the context has
         * it), {@code writeThreads} --write-threads' (0: the default).
         */
        void accept(int fd, String peer, String aio, int writeThreads) {
            if (engine == null) {
                try {
                    engine = engineFor(ctx, aio, writeThreads);
                } catch (ErrnoException e) {
                    LOG.log(System.Logger.Level.WARNING, peer + " refused: no file engine: " + e.getMessage());
                    try {
                        Fds.close(fd);
                    } catch (ErrnoException closeFailed) {
                        LOG.log(System.Logger.Level.WARNING, "cannot close " + peer + ": " + closeFailed.getMessage());
                    }
                    if (server != null) {
                        server.main.scheduleOneShot("nbd-client-left", server::onClientLeft);
                    }
                    return;
                }
            }
            NbdConnection c = new NbdConnection(this, fd, peer);
            connections.add(c);
            if (server != null) {
                c.figures.registerMBean();
            }
            if (verbose) {
                LOG.log(System.Logger.Level.INFO, () -> peer + " connected (file engine " + engine.name() + ")");
            }
            c.start();
        }

        void connectionClosed(NbdConnection c) {
            connections.remove(c);
            if (verbose) {
                LOG.log(System.Logger.Level.INFO, () -> c.peer + " closed");
            }
            if (server != null) {
                server.main.scheduleOneShot("nbd-client-left", server::onClientLeft);
            }
        }

        /** Stops every connection taking requests; they close once their replies are out. */
        void drain() {
            for (NbdConnection c : List.copyOf(connections)) {
                c.beginClose(null, false);
            }
        }
    }

    /**
     * Test hook, package-private: when set, every worker's file engine is made by this function (on
     * the worker's home thread) instead of from --aio, so that a test can put an engine that
     * simulates power loss under a real server. Set before the server accepts its first client;
     * volatile so that the IOThreads see it.
     */
    static volatile java.util.function.Function<AioContext, FileIoEngine> testEngineFactory;

    /**
     * The file engine of --aio's value on {@code ctx} (its home thread): "native" is Linux AIO,
     * "threads" the thread pool, "write-threads" io_uring for reads with {@code writeThreads}
     * writer threads (0: the default count), "io_uring" or null io_uring where the context has it
     * (else the thread pool). The server passes {@link ServeOptions#aioMode()}.
     *
     * @throws ErrnoException when Linux AIO is refused (io_setup)
     */
    static FileIoEngine engineFor(AioContext ctx, String aio, int writeThreads) throws ErrnoException {
        java.util.function.Function<AioContext, FileIoEngine> testEngine = testEngineFactory;
        if (testEngine != null) {
            return testEngine.apply(ctx);
        }
        if ("native".equals(aio)) {
            return FileIoEngines.linuxAio(ctx);
        }
        if ("write-threads".equals(aio)) {
            return writeThreads == 0 ? FileIoEngines.writeThreads(ctx) : FileIoEngines.writeThreads(ctx, writeThreads);
        }
        return "threads".equals(aio) || !ctx.hasIoUring() ? FileIoEngines.threadPool(ctx) : FileIoEngines.ioUring(ctx);
    }

    NbdServer(ServeOptions opts, Export export, AioContext main) throws ErrnoException, java.net.UnknownHostException {
        this(opts, export, main, null);
    }

    /** A server that requires TLS with {@code tls} (null: clear text). */
    NbdServer(ServeOptions opts, Export export, AioContext main, TlsCredentials tls)
            throws ErrnoException, java.net.UnknownHostException {
        this.opts = opts;
        this.export = export;
        this.main = main;
        this.listenFd = opts.socketPath != null ? Sockets.listenUnix(opts.socketPath, 128)
                : Sockets.listenTcp(opts.bind, opts.port, 128);
        for (int i = 0; i < opts.iothreads; i++) {
            AioContext.Builder b = AioContext.builder().name("nbd-io" + i).pollParams(opts.pollMaxNs, 0, 0);
            Worker w = new Worker(this, IOThread.start("nbd-io" + i, b), export, LOG.isLoggable(System.Logger.Level.INFO), tls,
                    opts.handshakeLimitNs);
            w.pollMaxNs = opts.pollMaxNs; // before any connection: the hand-off's BH orders it for the I/O thread
            workers.add(w);
        }
        this.drainDeadline = main.newTimer(ClockType.REALTIME, TimerScale.NS, () -> { });
        this.acceptRetry = main.newTimer(ClockType.REALTIME, TimerScale.NS, this::onAcceptRetry);
        registerMBeans();
        this.reporter = opts.statsSeconds > 0 ? new NbdStatsReporter(this, main, opts.statsSeconds) : null;
        setListening(true);
    }

    /**
     * The export as {@code io.jaio.nbd:type=Export,name=<export>}, and every context as
     * {@code io.jaio:type=AioContext,name=<context>}. A refusal is logged, never fatal.
     */
    private void registerMBeans() {
        try {
            exportMBean = RecordMBean.register(new RecordMBean(NbdFigures.class, this::exportFigures, "NBD export"),
                    "io.jaio.nbd:type=Export", export.name);
            main.registerMBean();
            for (Worker w : workers) {
                w.ctx.registerMBean(); // unregistered when the I/O thread closes its context
            }
        } catch (javax.management.JMException | IllegalStateException e) {
            LOG.log(System.Logger.Level.WARNING, "MBeans not registered: " + e);
        }
    }

    /** The export's figures: every I/O thread's share summed (any thread: racy reads, see NbdStats). */
    NbdFigures exportFigures() {
        return exportSums().figures(export.name, export.name, clients);
    }

    /** Every I/O thread's share of the export's figures, summed. Any thread. */
    NbdStats.Sums exportSums() {
        NbdStats.Sums s = new NbdStats.Sums();
        for (Worker w : workers) {
            w.stats.addInto(s);
        }
        return s;
    }

    /** The port actually bound (for -p 0), or -1 on a unix socket. */
    int port() throws ErrnoException {
        return opts.socketPath != null ? -1 : Sockets.localPort(listenFd);
    }

    private void setListening(boolean on) throws ErrnoException {
        if (on == listening) {
            return;
        }
        listening = on;
        if (on) {
            main.setFdHandler(listenFd, this::onAcceptable, null, null, null);
        } else {
            main.removeFdHandler(listenFd);
        }
    }

    private void onAcceptable() {
        for (int i = 0; i < 64 && !full() && !stopping; i++) {
            int fd = Sockets.accept(listenFd);
            if (fd < 0) {
                if (fd != -11) {
                    acceptFailed(-fd);
                }
                return;
            }
            clients++;
            accepted++;
            everConnected = true;
            if (opts.socketPath == null) {
                Sockets.setNoDelay(fd);
            }
            Worker w = workers.get(nextWorker++ % workers.size());
            String peer = PeerNames.of(fd, opts.socketPath != null, accepted);
            String aio = opts.aioMode();
            int writeThreads = opts.writeThreads;
            w.ctx.scheduleOneShot("nbd-accept", () -> w.accept(fd, peer, aio, writeThreads));
        }
        if (full()) {
            try {
                setListening(false); // like qemu-nbd: stop accepting until a client leaves
            } catch (ErrnoException e) {
                LOG.log(System.Logger.Level.WARNING, "cannot stop watching the listening socket: " + e.getMessage());
            }
        }
    }

    /**
     * accept() failed. Out of fds or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM), the pending
     * connection stays queued and the listening socket stays readable, so watching it would spin:
     * stop watching for {@link #ACCEPT_BACKOFF_NS} and try again. Other errors (ECONNABORTED:
     * the client gave up) concern one connection only.
     */
    private void acceptFailed(int errno) {
        boolean resources = errno == 24 || errno == 23 || errno == 105 || errno == 12;
        if (!resources) {
            LOG.log(System.Logger.Level.INFO, () -> "accept failed: errno " + errno + "; still listening");
            return;
        }
        acceptFailures++;
        if (acceptFailures == 1 || acceptFailures % 100 == 0) {
            LOG.log(System.Logger.Level.WARNING, "accept failed: errno " + errno + " (out of fds or memory, "
                    + acceptFailures + " time(s)); pausing accepts for " + ACCEPT_BACKOFF_NS / 1_000_000 + " ms");
        }
        try {
            setListening(false);
        } catch (ErrnoException e) {
            LOG.log(System.Logger.Level.WARNING, "cannot stop watching the listening socket: " + e.getMessage());
        }
        acceptRetry.modNs(main.clockNs(ClockType.REALTIME) + ACCEPT_BACKOFF_NS);
    }

    /** Whether {@code -e} clients are connected ({@code -e 0}: never). */
    private boolean full() {
        return opts.shared != 0 && clients >= opts.shared;
    }

    private void onAcceptRetry() {
        if (!stopping && !full()) {
            try {
                setListening(true);
            } catch (ErrnoException e) {
                LOG.log(System.Logger.Level.WARNING, "cannot watch the listening socket: " + e.getMessage());
            }
        }
    }

    /** Connections accepted and not yet closed, their requests drained (a test probe; any thread). */
    int clients() {
        return clients;
    }

    /** Number of accept() failures for lack of resources so far (a test probe). */
    long acceptFailures() {
        return acceptFailures;
    }

    private void onClientLeft() {
        clients--;
        if (!opts.persistent() && clients == 0 && everConnected) {
            requestShutdown("last client left; not persistent (-t)");
            return;
        }
        if (!stopping && !full()) {
            try {
                setListening(true);
            } catch (ErrnoException e) {
                LOG.log(System.Logger.Level.WARNING, "cannot watch the listening socket: " + e.getMessage());
            }
        }
    }

    /**
     * Asks for a graceful stop; {@code reason} is what the exit line says ("SIGTERM"). Any thread
     * (a signal handler). A second request keeps the first reason.
     */
    void requestShutdown(String reason) {
        stopReason.compareAndSet(null, reason); // pairs with the get in run()
        main.aioNotify();
    }

    /** Why the server stopped (after {@link #run()}), or null while no stop was asked for. */
    String stopReason() {
        return stopReason.get();
    }

    /** Runs until stopped; returns the exit status. Main context's home thread. */
    int run() {
        while (true) {
            main.poll(true);
            if (!stopping && stopReason.get() != null) { // pairs with the compareAndSet in requestShutdown
                beginStop();
            }
            if (stopping && (clients == 0 || System.nanoTime() > stopDeadline)) {
                break;
            }
        }
        if (clients > 0) {
            LOG.log(System.Logger.Level.WARNING, clients + " connection(s) still busy after the drain timeout");
        }
        int status = 0;
        for (Worker w : workers) {
            try {
                w.thread.stop();
            } catch (IllegalStateException e) {
                LOG.log(System.Logger.Level.WARNING, "I/O thread ended with an error", e);
                status = 1;
            }
        }
        if (!export.readOnly && export.driver.syncNow() < 0) {
            LOG.log(System.Logger.Level.WARNING, "final fdatasync of " + export.path + " failed");
            status = 1;
        }
        return status;
    }

    private void beginStop() {
        stopping = true;
        stopDeadline = System.nanoTime() + DRAIN_TIMEOUT_NS;
        try {
            setListening(false);
        } catch (ErrnoException e) {
            LOG.log(System.Logger.Level.DEBUG, () -> "listener: " + e.getMessage());
        }
        try {
            Fds.close(listenFd);
        } catch (ErrnoException e) {
            LOG.log(System.Logger.Level.DEBUG, () -> "close listener: " + e.getMessage());
        }
        if (opts.socketPath != null) {
            try {
                java.nio.file.Files.deleteIfExists(java.nio.file.Path.of(opts.socketPath));
            } catch (java.io.IOException e) {
                LOG.log(System.Logger.Level.DEBUG, () -> "unlink socket: " + e.getMessage());
            }
        }
        for (Worker w : workers) {
            w.ctx.scheduleOneShot("nbd-drain", w::drain);
        }
        drainDeadline.modNs(stopDeadline); // wakes run() at the deadline even if no client leaves
    }

    /** Disarms the drain deadline; call after {@link #run()}, before closing the main context. */
    void closeMain() {
        drainDeadline.delete();
        acceptRetry.delete();
        if (reporter != null) {
            reporter.close();
        }
        if (exportMBean != null) {
            RecordMBean.unregister(exportMBean);
            exportMBean = null;
        }
    }
}
