// SPDX-License-Identifier: Apache-2.0
/**
 * jaio-nbd: an NBD server built on jaio's public API only.
 *
 * <p>{@code jdk.unsupported} gives {@code sun.misc.Signal} (SIGINT and SIGTERM stop the server
 * gracefully); {@code java.logging} is the log's default backend, dressed by {@code NbdLogging}
 * when the user configured none. {@code jdk.jfr} carries the io.jaio.nbd.* Flight Recorder events,
 * {@code java.management} the export's and connections' MBeans. {@code aircompressor} (an
 * automatic module: the jar has no module-info) decodes zstd-compressed qcow2 clusters in pure Java.
 */
module io.jaio.nbd {
    requires io.jaio;
    requires java.logging;
    requires jdk.unsupported;
    requires jdk.jfr;
    requires java.management;
    requires aircompressor;
}
