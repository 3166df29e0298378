// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd;

import java.io.IOException;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * How the log names a client: {@code client(127.0.0.1:51234)}, {@code client([0:0:0:0:0:0:0:1]:40022)}, or
 * {@code client(unix#3)} (the third connection accepted on the unix socket: unix peers have no
 * address). Fd numbers are not names: the kernel hands the same number to the next client.
 *
 * <p>jaio's {@code Sockets} has no getpeername, so the TCP peer is found the way ss(8) without
 * netlink does: the socket's inode from {@code /proc/self/fd/N}, then the line with that inode in
 * {@code /proc/self/net/tcp} or {@code tcp6}, whose addresses are hex words in host byte order
 * (net/ipv4/tcp_ipv4.c {@code get_tcp4_sock}, net/ipv6/tcp_ipv6.c {@code get_tcp6_sock}).
 *
 * <p>Threading: any thread; called once per accepted connection (it reads /proc, so it is kept
 * off the I/O threads).
 */
final class PeerNames {
    private PeerNames() {
    }

    /** The name of accepted connection number {@code serial} (from 1) on {@code fd}. */
    static String of(int fd, boolean unix, long serial) {
        if (unix) {
            return "client(unix#" + serial + ")";
        }
        String addr = tcpPeer(fd);
        return "client(" + (addr != null ? addr : "tcp#" + serial) + ")";
    }

    /** "address:port" of a TCP socket's peer, or null when /proc does not say. */
    static String tcpPeer(int fd) {
        String inode;
        try {
            String link = Files.readSymbolicLink(Path.of("/proc/self/fd/" + fd)).toString(); // "socket:[12345]"
            if (!link.startsWith("socket:[") || !link.endsWith("]")) {
                return null;
            }
            inode = link.substring("socket:[".length(), link.length() - 1);
        } catch (IOException | UnsupportedOperationException e) {
            return null;
        }
        for (String table : new String[] {"/proc/self/net/tcp", "/proc/self/net/tcp6"}) {
            List<String> lines;
            try {
                lines = Files.readAllLines(Path.of(table));
            } catch (IOException e) {
                continue; // no IPv6 in this kernel, or no /proc
            }
            for (int i = 1; i < lines.size(); i++) { // line 0 is the header
                String[] f = lines.get(i).trim().split("\\s+");
                // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
                if (f.length > 9 && f[9].equals(inode)) {
                    return address(f[2]);
                }
            }
        }
        return null;
    }

    /** "0100007F:C822" or 32 hex digits and a port: the address as a person writes it. */
    static String address(String hexAddrPort) {
        int colon = hexAddrPort.indexOf(':');
        if (colon < 0) {
            return null;
        }
        String hex = hexAddrPort.substring(0, colon);
        int port = Integer.parseInt(hexAddrPort.substring(colon + 1), 16);
        if (hex.length() != 8 && hex.length() != 32) {
            return null;
        }
        ByteBuffer b = ByteBuffer.allocate(hex.length() / 2).order(ByteOrder.nativeOrder());
        for (int i = 0; i < hex.length(); i += 8) {
            b.putInt((int) Long.parseLong(hex.substring(i, i + 8), 16)); // each word is in host order
        }
        try {
            InetAddress a = InetAddress.getByAddress(b.array()); // an IPv4-mapped IPv6 address comes back as IPv4
            String host = a.getHostAddress();
            return (a instanceof Inet6Address ? "[" + host + "]" : host) + ":" + port;
        } catch (UnknownHostException e) {
            return null; // not reached: the length is 4 or 16
        }
    }
}
