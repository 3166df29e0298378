// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.logging.ConsoleHandler;
import java.util.logging.Formatter;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/**
 * The server's log as {@code jaio nbd serve} prints it: one line per event on stderr,
 * {@code 2026-12-02T14:03:11.123Z INFO client(127.0.0.1:51234) connected}, at INFO with
 * {@code -v} and WARNING without.
 *
 * <p>The code logs through {@code System.Logger} ("io.jaio", "io.jaio.nbd"), so any backend
 * works. This class only dresses the JDK's default backend (java.util.logging) and only when the
 * user configured nothing: no {@code java.util.logging.config.file} or {@code .config.class}
 * property and no {@code System.LoggerFinder} of their own. Otherwise their configuration decides
 * format and levels, and {@code -v} changes nothing.
 *
 * <p>Threading: {@link #install} on the main thread before the server starts; the formatter on
 * any thread (JUL calls it under the handler's lock).
 */
final class NbdLogging {
    /** Held so that JUL keeps the logger (and its level and handler): it only references loggers weakly. */
    private static Logger jaio;
    /** The --stats lines' logger: INFO always, so they show without -v (they are logged only with --stats). */
    private static Logger stats;

    private NbdLogging() {
    }

    /** Installs the one-line format and the level; returns false (and does nothing) when the user configured logging. */
    static boolean install(boolean verbose) {
        if (System.getProperty("java.util.logging.config.file") != null
                || System.getProperty("java.util.logging.config.class") != null) {
            return false;
        }
        String finder = System.LoggerFinder.getLoggerFinder().getClass().getName();
        if (!finder.startsWith("sun.util.logging.")) {
            return false; // a LoggerFinder of the user's (SLF4J, Log4j...): their backend, their format
        }
        Logger l = Logger.getLogger("io.jaio");
        Handler h = new ConsoleHandler(); // System.err, flushed after every record
        h.setFormatter(new OneLineFormatter());
        h.setLevel(Level.ALL);
        l.addHandler(h);
        l.setUseParentHandlers(false);
        l.setLevel(verbose ? Level.INFO : Level.WARNING);
        jaio = l;
        stats = Logger.getLogger("io.jaio.nbd.stats");
        stats.setLevel(Level.INFO);
        return true;
    }

    /**
     * {@code time level message}: the time in UTC to the millisecond, the System.Logger level
     * name, the message on one line (line breaks become "; "), and a thrown exception's
     * {@code toString()} after a colon. An ERROR (a bug, such as a callback that threw) is
     * followed by its stack trace, indented.
     */
    static final class OneLineFormatter extends Formatter {
        private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("uuuu-MM-dd'T'HH:mm:ss.SSS'Z'")
                .withZone(ZoneOffset.UTC);

        @Override
        public String format(LogRecord r) {
            StringBuilder b = new StringBuilder(160);
            TIME.formatTo(r.getInstant(), b);
            b.append(' ').append(levelName(r.getLevel())).append(' ');
            String message = formatMessage(r);
            b.append(message == null ? "" : message.strip().replace("\r\n", "; ").replace('\r', ' ').replace("\n", "; "));
            Throwable t = r.getThrown();
            if (t != null) {
                b.append(": ").append(String.valueOf(t).replace("\n", "; "));
            }
            b.append(System.lineSeparator());
            if (t != null && r.getLevel().intValue() >= Level.SEVERE.intValue()) {
                StringWriter sw = new StringWriter();
                t.printStackTrace(new PrintWriter(sw));
                for (String line : sw.toString().split("\\R")) {
                    b.append("    ").append(line).append(System.lineSeparator());
                }
            }
            return b.toString();
        }

        /** System.Logger's names for what JUL calls SEVERE, FINE...: the names the code logs with. */
        static String levelName(Level level) {
            int v = level.intValue();
            if (v >= Level.SEVERE.intValue()) {
                return "ERROR";
            }
            if (v >= Level.WARNING.intValue()) {
                return "WARNING";
            }
            if (v >= Level.INFO.intValue()) {
                return "INFO";
            }
            if (v >= Level.FINE.intValue()) {
                return "DEBUG"; // CONFIG and FINE
            }
            return "TRACE";
        }
    }
}
