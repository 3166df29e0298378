// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd;

/**
 * What the export's and each connection's MBean show (one attribute per field), read from
 * {@link NbdStats}: monotonic counters and two gauges, not a consistent cut (see NbdStats).
 *
 * @param name the export's name, or the connection's peer
 * @param export the export's name
 * @param connections connections open now (1 for a connection's own figures)
 * @param requests requests finished (replied to, or dropped with a dead socket)
 * @param reads NBD_CMD_READ requests
 * @param writes NBD_CMD_WRITE requests
 * @param flushes NBD_CMD_FLUSH requests
 * @param trims NBD_CMD_TRIM requests
 * @param writeZeroes NBD_CMD_WRITE_ZEROES requests
 * @param blockStatus NBD_CMD_BLOCK_STATUS requests
 * @param otherRequests NBD_CMD_CACHE and unknown commands
 * @param errors requests answered with an error
 * @param bytesRead bytes of successful reads
 * @param bytesWritten bytes of successful writes
 * @param inFlight requests parsed and not yet finished
 * @param latencyP50Ns median latency since the start, from the histogram (at most 12.5% high)
 * @param latencyP99Ns 99th percentile latency since the start, likewise
 */
record NbdFigures(String name, String export, int connections, long requests, long reads, long writes, long flushes,
        long trims, long writeZeroes, long blockStatus, long otherRequests, long errors, long bytesRead, long bytesWritten,
        long inFlight, long latencyP50Ns, long latencyP99Ns) {
}
