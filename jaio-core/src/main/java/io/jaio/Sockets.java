// SPDX-License-Identifier: Apache-2.0
package io.jaio;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;

import io.jaio.internal.sys.Errno;
import io.jaio.internal.sys.Syscalls;

/**
 * Raw stream sockets as fds, for servers built on fd handlers or io_uring: listening and
 * connecting on TCP (IPv4/IPv6) and unix sockets, non-blocking accept, and send/recv/sendmsg on
 * native memory. Every fd is close-on-exec; listening, accepted and paired sockets are
 * non-blocking, and the data-path calls here pass MSG_DONTWAIT, so they never block even on a
 * connected client socket. Results follow the system calls:
 * a count, or {@code -errno} ({@code -EAGAIN} when nothing can be done now); setup failures
 * throw {@link ErrnoException}.
 *
 * <p>Threading: any thread. The data-path calls ({@link #recv}, {@link #send}, {@link #sendmsg},
 * {@link #accept}) look up the calling thread's errno buffer and allocate nothing.
 */
public final class Sockets {
    private static final int AF_UNIX = 1;
    private static final int AF_INET = 2;
    private static final int AF_INET6 = 10;
    private static final int SOCK_STREAM = 1;
    private static final int SOCK_NONBLOCK = Syscalls.O_NONBLOCK;
    private static final int SOCK_CLOEXEC = Syscalls.O_CLOEXEC;
    private static final int SOL_SOCKET = 1;
    private static final int SO_REUSEADDR = 2;
    private static final int IPPROTO_TCP = 6;
    private static final int TCP_NODELAY = 1;
    /** MSG_NOSIGNAL: a write to a closed peer gives EPIPE, not SIGPIPE. */
    public static final int MSG_NOSIGNAL = 0x4000;
    /** MSG_DONTWAIT. */
    public static final int MSG_DONTWAIT = 0x40;
    /** sizeof(struct msghdr) on 64-bit Linux. */
    public static final long MSGHDR_SIZE = 56;
    /** sizeof(struct iovec). */
    public static final long IOVEC_SIZE = 16;
    private static final int UNIX_PATH_MAX = 108;

    private Sockets() {
    }

    /**
     * A listening TCP socket on {@code host} (an IP literal or name) and {@code port} (0 = any).
     *
     * @param host an IP literal or a name to resolve
     * @param port the port, 0 for any free one
     * @param backlog the listen(2) backlog
     * @return the listening socket, non-blocking and close-on-exec
     * @throws ErrnoException if socket, bind or listen fails (EADDRINUSE, EACCES)
     * @throws UnknownHostException if {@code host} does not resolve
     */
    public static int listenTcp(String host, int port, int backlog) throws ErrnoException, UnknownHostException {
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("port=" + port + " (expected 0..65535)");
        }
        InetAddress addr = InetAddress.getByName(host);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment sa = sockaddr(a, addr, port);
            int fd = newSocket(addr instanceof Inet6Address ? AF_INET6 : AF_INET);
            MemorySegment ccs = Syscalls.threadErrnoSegment();
            Syscalls.setsockoptInt(ccs, fd, SOL_SOCKET, SO_REUSEADDR, 1);
            bindListen(fd, sa, "tcp " + host + ":" + port, backlog);
            return fd;
        }
    }

    /**
     * A listening unix socket at {@code path}; an existing socket file there is replaced.
     *
     * @param path the socket file to bind (at most 107 bytes)
     * @param backlog the listen(2) backlog
     * @return the listening socket, non-blocking and close-on-exec
     * @throws ErrnoException if socket, bind or listen fails
     */
    public static int listenUnix(String path, int backlog) throws ErrnoException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment sa = sockaddrUn(a, path);
            try {
                java.nio.file.Files.deleteIfExists(java.nio.file.Path.of(path));
            } catch (java.io.IOException e) {
                throw new ErrnoException("unlink(" + path + ") [" + e.getMessage() + "]", Errno.EACCES);
            }
            int fd = newSocket(AF_UNIX);
            bindListen(fd, sa, "unix " + path, backlog);
            return fd;
        }
    }

    /**
     * Connects a TCP socket (blocking until connected, then non-blocking). For clients and tests.
     *
     * @param host an IP literal or a name to resolve
     * @param port the server's port
     * @return the connected socket, non-blocking and close-on-exec
     * @throws ErrnoException if the connection fails (ECONNREFUSED, ETIMEDOUT)
     * @throws UnknownHostException if {@code host} does not resolve
     */
    public static int connectTcp(String host, int port) throws ErrnoException, UnknownHostException {
        InetAddress addr = InetAddress.getByName(host);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment sa = sockaddr(a, addr, port);
            int fd = Syscalls.socket(Syscalls.threadErrnoSegment(), addr instanceof Inet6Address ? AF_INET6 : AF_INET,
                    SOCK_STREAM | SOCK_CLOEXEC, 0);
            return connect(fd, sa, "tcp " + host + ":" + port);
        }
    }

    /**
     * Connects a unix socket (blocking until connected, then non-blocking).
     *
     * @param path the server's socket file
     * @return the connected socket, non-blocking and close-on-exec
     * @throws ErrnoException if the connection fails (ENOENT, ECONNREFUSED)
     */
    public static int connectUnix(String path) throws ErrnoException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment sa = sockaddrUn(a, path);
            int fd = Syscalls.socket(Syscalls.threadErrnoSegment(), AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            return connect(fd, sa, "unix " + path);
        }
    }

    /**
     * A connected pair of non-blocking unix stream sockets.
     *
     * @return the two connected sockets
     * @throws ErrnoException if socketpair(2) fails (EMFILE)
     */
    public static int[] socketPair() throws ErrnoException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment fds = a.allocate(ValueLayout.JAVA_INT, 2);
            int r = Syscalls.socketpair(Syscalls.threadErrnoSegment(), AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds);
            if (r < 0) {
                throw new ErrnoException("socketpair(AF_UNIX)", -r);
            }
            return new int[] {fds.getAtIndex(ValueLayout.JAVA_INT, 0), fds.getAtIndex(ValueLayout.JAVA_INT, 1)};
        }
    }

    /**
     * The local port of a bound TCP socket.
     *
     * @param fd a bound TCP socket
     * @return the port in host byte order
     * @throws ErrnoException if getsockname fails
     */
    public static int localPort(int fd) throws ErrnoException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment sa = a.allocate(128, 8);
            MemorySegment len = a.allocate(ValueLayout.JAVA_INT);
            len.set(ValueLayout.JAVA_INT, 0, 128);
            int r = Syscalls.getsockname(Syscalls.threadErrnoSegment(), fd, sa, len);
            if (r < 0) {
                throw new ErrnoException("getsockname(" + fd + ")", -r);
            }
            return Short.toUnsignedInt(Short.reverseBytes(sa.get(ValueLayout.JAVA_SHORT, 2)));
        }
    }

    /**
     * Accepts one connection: a non-blocking fd, or {@code -errno} ({@code -EAGAIN}: none pending).
     *
     * @param listenFd a listening socket
     * @return the accepted socket, or {@code -errno}
     */
    public static int accept(int listenFd) {
        return Syscalls.accept4(Syscalls.threadErrnoSegment(), listenFd, SOCK_NONBLOCK | SOCK_CLOEXEC);
    }

    /**
     * Turns off Nagle's algorithm on a TCP socket (ignored elsewhere).
     *
     * @param fd a TCP socket
     */
    public static void setNoDelay(int fd) {
        Syscalls.setsockoptInt(Syscalls.threadErrnoSegment(), fd, IPPROTO_TCP, TCP_NODELAY, 1);
    }

    /**
     * recv into {@code buf}: bytes, 0 at end of stream, or {@code -errno}.
     *
     * @param fd a connected socket
     * @param buf native memory to fill (up to its size)
     * @return bytes received, 0 at end of stream, or {@code -errno}
     */
    public static long recv(int fd, MemorySegment buf) {
        return Syscalls.recv(Syscalls.threadErrnoSegment(), fd, buf, buf.byteSize(), MSG_DONTWAIT);
    }

    /**
     * send of {@code buf} with MSG_NOSIGNAL: bytes, or {@code -errno}.
     *
     * @param fd a connected socket
     * @param buf native memory to send
     * @return bytes sent, or {@code -errno}
     */
    public static long send(int fd, MemorySegment buf) {
        return Syscalls.send(Syscalls.threadErrnoSegment(), fd, buf, buf.byteSize(), MSG_NOSIGNAL | MSG_DONTWAIT);
    }

    /**
     * sendmsg of a prepared {@code struct msghdr} (use {@link #prepareMsghdr}) with MSG_NOSIGNAL:
     * bytes, or {@code -errno}.
     *
     * @param fd a connected socket
     * @param msghdr the prepared header ({@link #MSGHDR_SIZE} bytes)
     * @return bytes sent, or {@code -errno}
     */
    public static long sendmsg(int fd, MemorySegment msghdr) {
        return Syscalls.sendmsg(Syscalls.threadErrnoSegment(), fd, msghdr, MSG_NOSIGNAL | MSG_DONTWAIT);
    }

    /**
     * Points {@code msghdr} at {@code count} iovecs starting at {@code iovecs} (no name, no control data).
     *
     * @param msghdr native memory of {@link #MSGHDR_SIZE} bytes to fill
     * @param iovecs native memory holding {@code count} iovecs
     * @param count the number of iovecs
     */
    public static void prepareMsghdr(MemorySegment msghdr, MemorySegment iovecs, int count) {
        msghdr.set(ValueLayout.JAVA_LONG, 0, 0L); // msg_name
        msghdr.set(ValueLayout.JAVA_INT, 8, 0); // msg_namelen
        msghdr.set(ValueLayout.JAVA_LONG, 16, iovecs.address()); // msg_iov
        msghdr.set(ValueLayout.JAVA_LONG, 24, count); // msg_iovlen
        msghdr.set(ValueLayout.JAVA_LONG, 32, 0L); // msg_control
        msghdr.set(ValueLayout.JAVA_LONG, 40, 0L); // msg_controllen
        msghdr.set(ValueLayout.JAVA_INT, 48, 0); // msg_flags
    }

    /**
     * Shuts down both directions (the fd stays open).
     *
     * @param fd a connected socket
     */
    public static void shutdown(int fd) {
        Syscalls.shutdown(Syscalls.threadErrnoSegment(), fd, 2);
    }

    private static int newSocket(int family) throws ErrnoException {
        int fd = Syscalls.socket(Syscalls.threadErrnoSegment(), family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            throw new ErrnoException("socket(" + family + ", SOCK_STREAM)", -fd);
        }
        return fd;
    }

    private static void bindListen(int fd, MemorySegment sa, String what, int backlog) throws ErrnoException {
        MemorySegment ccs = Syscalls.threadErrnoSegment();
        int r = Syscalls.bind(ccs, fd, sa, (int) sa.byteSize());
        if (r < 0) {
            Syscalls.close(fd);
            throw new ErrnoException("bind(" + what + ")", -r);
        }
        r = Syscalls.listen(ccs, fd, backlog);
        if (r < 0) {
            Syscalls.close(fd);
            throw new ErrnoException("listen(" + what + ")", -r);
        }
    }

    private static int connect(int fd, MemorySegment sa, String what) throws ErrnoException {
        if (fd < 0) {
            throw new ErrnoException("socket(" + what + ")", -fd);
        }
        MemorySegment ccs = Syscalls.threadErrnoSegment();
        int r = Syscalls.connect(ccs, fd, sa, (int) sa.byteSize());
        if (r < 0) {
            Syscalls.close(fd);
            throw new ErrnoException("connect(" + what + ")", -r);
        }
        // The fd stays in blocking mode; recv/send/sendmsg here pass MSG_DONTWAIT, which makes
        // each data-path call non-blocking all the same.
        return fd;
    }

    private static MemorySegment sockaddr(Arena a, InetAddress addr, int port) {
        if (addr instanceof Inet4Address v4) {
            MemorySegment sa = a.allocate(16, 8);
            sa.set(ValueLayout.JAVA_SHORT, 0, (short) AF_INET);
            sa.set(ValueLayout.JAVA_SHORT, 2, Short.reverseBytes((short) port));
            MemorySegment.copy(v4.getAddress(), 0, sa, ValueLayout.JAVA_BYTE, 4, 4);
            return sa;
        }
        MemorySegment sa = a.allocate(28, 8);
        sa.set(ValueLayout.JAVA_SHORT, 0, (short) AF_INET6);
        sa.set(ValueLayout.JAVA_SHORT, 2, Short.reverseBytes((short) port));
        MemorySegment.copy(addr.getAddress(), 0, sa, ValueLayout.JAVA_BYTE, 8, 16);
        if (addr instanceof Inet6Address v6) {
            sa.set(ValueLayout.JAVA_INT, 24, v6.getScopeId());
        }
        return sa;
    }

    private static MemorySegment sockaddrUn(Arena a, String path) {
        byte[] p = path.getBytes(StandardCharsets.UTF_8);
        if (p.length >= UNIX_PATH_MAX) {
            throw new IllegalArgumentException("unix socket path of " + p.length + " bytes (expected < " + UNIX_PATH_MAX
                    + "): " + path);
        }
        MemorySegment sa = a.allocate(2 + UNIX_PATH_MAX, 8);
        sa.set(ValueLayout.JAVA_SHORT, 0, (short) AF_UNIX);
        MemorySegment.copy(p, 0, sa, ValueLayout.JAVA_BYTE, 2, p.length);
        return sa;
    }
}
