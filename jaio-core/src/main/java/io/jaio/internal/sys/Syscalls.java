// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

import io.jaio.ErrnoException;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * FFM downcalls to the C library's system-call wrappers. Only bindings live here; the logic that
 * uses them lives with the fd monitors and the context.
 *
 * <p>Every method handle is {@code static final} and invoked with {@code invokeExact}. Calls that
 * report failure through errno take a capture segment first ({@link #newErrnoSegment}); each
 * thread that makes such calls owns one ({@link #threadErrnoSegment} for cold paths, a field of
 * the loop for hot ones). Calls that can block are never linked {@code critical}.
 *
 * <p>Thread safety: all methods may be called from any thread; the capture segment passed in must
 * belong to the calling thread.
 */
@SuppressWarnings("restricted")
public final class Syscalls {
    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LIBC = LINKER.defaultLookup();
    private static final Linker.Option CCS = Linker.Option.captureCallState("errno");
    private static final MemoryLayout CCS_LAYOUT = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CCS_LAYOUT.varHandle(MemoryLayout.PathElement.groupElement("errno"));

    // <sys/eventfd.h>, <fcntl.h>: flag values for x86-64 and aarch64.
    public static final int O_NONBLOCK = 0x800;
    public static final int O_CLOEXEC = 0x80000;
    public static final int EFD_NONBLOCK = O_NONBLOCK;
    public static final int EFD_CLOEXEC = O_CLOEXEC;
    public static final int F_GETFD = 1;
    /** fcntl command: the file status flags (O_DIRECT, O_NONBLOCK, access mode). */
    public static final int F_GETFL = 3;

    private static final MethodHandle EVENTFD = errnoCall("eventfd", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle READ = errnoCall("read", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle WRITE = errnoCall("write", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle WRITE_NOERRNO = plainCall("write", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle CLOSE = errnoCall("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle PIPE2 = errnoCall("pipe2", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle FCNTL = LINKER.downcallHandle(LIBC.find("fcntl").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT), CCS, Linker.Option.firstVariadicArg(2));
    private static final MethodHandle PPOLL = errnoCall("ppoll", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, ADDRESS, ADDRESS));
    private static final MethodHandle EPOLL_CREATE1 = errnoCall("epoll_create1", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle EPOLL_CTL = errnoCall("epoll_ctl", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS));
    private static final MethodHandle EPOLL_WAIT = errnoCall("epoll_wait", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
    /** glibc >= 2.35; null where the C library lacks it (the kernel may still lack it: ENOSYS). */
    private static final MethodHandle EPOLL_PWAIT2 = LIBC.find("epoll_pwait2")
            .map(s -> LINKER.downcallHandle(s, FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, ADDRESS), CCS))
            .orElse(null);
    private static final MethodHandle OPEN = LINKER.downcallHandle(LIBC.find("open").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT), CCS, Linker.Option.firstVariadicArg(2));
    private static final MethodHandle PREAD = errnoCall("pread64", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG));
    private static final MethodHandle PWRITE = errnoCall("pwrite64", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG));
    private static final MethodHandle PWRITEV2 = errnoCall("pwritev2",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG, JAVA_INT));
    /**
     * pwrite64 with the buffer passed as a raw address (a {@code long}): on x86-64 and aarch64 a
     * pointer argument travels in the same integer register as a long, so this is the same call;
     * it lets a thread write from memory it may not touch as a segment (another thread's confined
     * arena) without making a segment per call.
     */
    private static final MethodHandle PWRITE_AT = errnoCall("pwrite64", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG));
    /** pwritev2 with the iovec array passed as a raw address (see {@link #PWRITE_AT}). */
    private static final MethodHandle PWRITEV2_AT = errnoCall("pwritev2",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, JAVA_LONG, JAVA_INT, JAVA_LONG, JAVA_INT));
    private static final MethodHandle FDATASYNC = errnoCall("fdatasync", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle FALLOCATE = errnoCall("fallocate64", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG));
    private static final MethodHandle LSEEK = errnoCall("lseek64", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, JAVA_LONG, JAVA_INT));
    private static final MethodHandle FTRUNCATE = errnoCall("ftruncate64", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG));
    private static final MethodHandle SOCKET = errnoCall("socket", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle BIND = errnoCall("bind", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle LISTEN = errnoCall("listen", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle ACCEPT4 = errnoCall("accept4", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT));
    private static final MethodHandle CONNECT = errnoCall("connect", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle SETSOCKOPT = errnoCall("setsockopt",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle GETSOCKNAME = errnoCall("getsockname", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
    private static final MethodHandle SHUTDOWN = errnoCall("shutdown", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle RECV = errnoCall("recv", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
    private static final MethodHandle SEND = errnoCall("send", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
    private static final MethodHandle SENDMSG = errnoCall("sendmsg", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle SOCKETPAIR = errnoCall("socketpair", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS));
    private static final MethodHandle POSIX_FADVISE = plainCall("posix_fadvise64", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_INT));
    private static final MethodHandle PRCTL = LINKER.downcallHandle(LIBC.find("prctl").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG), Linker.Option.firstVariadicArg(1));
    private static final MethodHandle STRERROR = plainCall("strerror", FunctionDescriptor.of(ADDRESS, JAVA_INT));

    private static final ThreadLocal<MemorySegment> THREAD_ERRNO = ThreadLocal.withInitial(Syscalls::newErrnoSegment);

    private Syscalls() {
    }

    private static MethodHandle errnoCall(String name, FunctionDescriptor fd) {
        return LINKER.downcallHandle(LIBC.find(name).orElseThrow(() -> new UnsatisfiedLinkError("libc lacks " + name)), fd, CCS);
    }

    private static MethodHandle plainCall(String name, FunctionDescriptor fd) {
        return LINKER.downcallHandle(LIBC.find(name).orElseThrow(() -> new UnsatisfiedLinkError("libc lacks " + name)), fd);
    }

    /** A fresh errno capture segment with automatic lifetime, for one thread's use. */
    public static MemorySegment newErrnoSegment() {
        return Arena.ofAuto().allocate(CCS_LAYOUT);
    }

    /** The calling thread's capture segment (a ThreadLocal lookup: cold paths only). */
    public static MemorySegment threadErrnoSegment() {
        return THREAD_ERRNO.get();
    }

    /** The errno captured by the last failing call that used {@code ccs}. */
    public static int errno(MemorySegment ccs) {
        return (int) ERRNO.get(ccs, 0L);
    }

    static String strerror(int errno) {
        try {
            MemorySegment p = (MemorySegment) STRERROR.invokeExact(errno);
            return p.reinterpret(256).getString(0);
        } catch (Throwable t) {
            return "unknown error";
        }
    }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) {
            throw r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        throw new IllegalStateException(t);
    }

    /** eventfd(2); returns the fd or throws. */
    public static int eventfd(int initval, int flags) throws ErrnoException {
        MemorySegment ccs = threadErrnoSegment();
        int r;
        try {
            r = (int) EVENTFD.invokeExact(ccs, initval, flags);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        if (r < 0) {
            throw new ErrnoException("eventfd(" + initval + ", 0x" + Integer.toHexString(flags) + ")", errno(ccs));
        }
        return r;
    }

    /** read(2): bytes read, or {@code -errno}. */
    public static long read(MemorySegment ccs, int fd, MemorySegment buf, long len) {
        long fault = Faults.check(Faults.Call.READ, len);
        if (fault < 0) {
            return fault;
        }
        len = Faults.capped(len, fault);
        try {
            long r = (long) READ.invokeExact(ccs, fd, buf, len);
            return r < 0 ? -errno(ccs) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** write(2): bytes written, or {@code -errno}. */
    public static long write(MemorySegment ccs, int fd, MemorySegment buf, long len) {
        long fault = Faults.check(Faults.Call.WRITE, len);
        if (fault < 0) {
            return fault;
        }
        len = Faults.capped(len, fault);
        try {
            long r = (long) WRITE.invokeExact(ccs, fd, buf, len);
            return r < 0 ? -errno(ccs) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** write(2) without errno: for the eventfd kick, whose only failure (EAGAIN) means "already set". */
    public static long writeNoErrno(int fd, MemorySegment buf, long len) {
        try {
            return (long) WRITE_NOERRNO.invokeExact(fd, buf, len);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** close(2): 0 or {@code -errno}. */
    public static int close(int fd) {
        MemorySegment ccs = threadErrnoSegment();
        try {
            int r = (int) CLOSE.invokeExact(ccs, fd);
            return r < 0 ? -errno(ccs) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** pipe2(2): {read fd, write fd}. */
    public static int[] pipe2(int flags) throws ErrnoException {
        MemorySegment ccs = threadErrnoSegment();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment fds = a.allocate(JAVA_INT, 2);
            int r = (int) PIPE2.invokeExact(ccs, fds, flags);
            if (r < 0) {
                throw new ErrnoException("pipe2(0x" + Integer.toHexString(flags) + ")", errno(ccs));
            }
            return new int[] {fds.getAtIndex(JAVA_INT, 0), fds.getAtIndex(JAVA_INT, 1)};
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** fcntl(fd, F_GETFD): the flags, or {@code -errno} (EBADF for a descriptor that is not open). */
    public static int fcntlGetFd(int fd) {
        MemorySegment ccs = threadErrnoSegment();
        try {
            int r = (int) FCNTL.invokeExact(ccs, fd, F_GETFD, 0);
            return r < 0 ? -errno(ccs) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** fcntl(fd, F_GETFL): the file status flags (open flags such as O_DIRECT), or {@code -errno}. */
    public static int fcntlGetFl(MemorySegment ccs, int fd) {
        try {
            int r = (int) FCNTL.invokeExact(ccs, fd, F_GETFL, 0);
            return r < 0 ? -errno(ccs) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** ppoll(2): number ready, or {@code -errno}. {@code timespec} is NULL for "forever". */
    public static int ppoll(MemorySegment ccs, MemorySegment fds, long nfds, MemorySegment timespec) {
        long fault = Faults.check(Faults.Call.PPOLL, 0);
        if (fault < 0) {
            return (int) fault;
        }
        try {
            int r = (int) PPOLL.invokeExact(ccs, fds, nfds, timespec, MemorySegment.NULL);
            return r < 0 ? -errno(ccs) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** epoll_create1(2). */
    public static int epollCreate1(int flags) throws ErrnoException {
        MemorySegment ccs = threadErrnoSegment();
        int r;
        try {
            r = (int) EPOLL_CREATE1.invokeExact(ccs, flags);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        if (r < 0) {
            throw new ErrnoException("epoll_create1(0x" + Integer.toHexString(flags) + ")", errno(ccs));
        }
        return r;
    }

    /** epoll_ctl(2): 0 or {@code -errno}. */
    public static int epollCtl(MemorySegment ccs, int epfd, int op, int fd, MemorySegment event) {
        long fault = Faults.check(Faults.Call.EPOLL_CTL, 0);
        if (fault < 0) {
            return (int) fault;
        }
        try {
            int r = (int) EPOLL_CTL.invokeExact(ccs, epfd, op, fd, event);
            return r < 0 ? -errno(ccs) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** epoll_wait(2) with a millisecond timeout: number ready, or {@code -errno}. */
    public static int epollWait(MemorySegment ccs, int epfd, MemorySegment events, int max, int timeoutMs) {
        long fault = Faults.check(Faults.Call.EPOLL_WAIT, 0);
        if (fault < 0) {
            return (int) fault;
        }
        try {
            int r = (int) EPOLL_WAIT.invokeExact(ccs, epfd, events, max, timeoutMs);
            return r < 0 ? -errno(ccs) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Whether the C library has epoll_pwait2 (the kernel may still answer ENOSYS). */
    public static boolean hasEpollPwait2() {
        return EPOLL_PWAIT2 != null;
    }

    /** epoll_pwait2(2) with a nanosecond timespec (NULL = forever): number ready, or {@code -errno}. */
    public static int epollPwait2(MemorySegment ccs, int epfd, MemorySegment events, int max, MemorySegment timespec) {
        long fault = Faults.check(Faults.Call.EPOLL_WAIT, 0);
        if (fault < 0) {
            return (int) fault;
        }
        try {
            int r = (int) EPOLL_PWAIT2.invokeExact(ccs, epfd, events, max, timespec, MemorySegment.NULL);
            return r < 0 ? -errno(ccs) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    // <fcntl.h>, <linux/falloc.h>, <unistd.h>: values for x86-64 and aarch64
    public static final int O_RDONLY = 0;
    public static final int O_WRONLY = 1;
    public static final int O_RDWR = 2;
    public static final int O_CREAT = 0x40;
    public static final int O_EXCL = 0x80;
    public static final int O_TRUNC = 0x200;
    /** O_DIRECT: 040000 on x86-64, 0200000 on aarch64. */
    public static final int O_DIRECT = "aarch64".equals(System.getProperty("os.arch")) ? 0x10000 : 0x4000;
    public static final int FALLOC_FL_KEEP_SIZE = 0x01;
    public static final int FALLOC_FL_PUNCH_HOLE = 0x02;
    public static final int FALLOC_FL_ZERO_RANGE = 0x10;
    public static final int RWF_DSYNC = 0x02;
    public static final int SEEK_SET = 0;
    public static final int SEEK_END = 2;
    public static final int SEEK_DATA = 3;
    public static final int SEEK_HOLE = 4;

    /** open(path, flags, mode): the fd, or {@code -errno}. {@code path} is a NUL-terminated string. */
    public static int open(MemorySegment ccs, MemorySegment path, int flags, int mode) {
        long fault = Faults.check(Faults.Call.OPEN, 0);
        if (fault < 0) {
            return (int) fault;
        }
        try {
            int r = (int) OPEN.invokeExact(ccs, path, flags | O_CLOEXEC, mode);
            return r < 0 ? -errno(ccs) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** pread(2): bytes read, or {@code -errno}. */
    public static long pread(MemorySegment ccs, int fd, MemorySegment buf, long len, long offset) {
        long fault = Faults.check(Faults.Call.PREAD, len);
        if (fault < 0) {
            return fault;
        }
        len = Faults.capped(len, fault);
        try {
            long r = (long) PREAD.invokeExact(ccs, fd, buf, len, offset);
            return r < 0 ? -errno(ccs) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** pwrite(2): bytes written, or {@code -errno}. */
    public static long pwrite(MemorySegment ccs, int fd, MemorySegment buf, long len, long offset) {
        long fault = Faults.check(Faults.Call.PWRITE, len);
        if (fault < 0) {
            return fault;
        }
        len = Faults.capped(len, fault);
        try {
            long r = (long) PWRITE.invokeExact(ccs, fd, buf, len, offset);
            return r < 0 ? -errno(ccs) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * pwrite(2) from the raw address {@code address}: bytes written, or {@code -errno}. The
     * caller keeps {@code len} bytes at {@code address} alive for the call. Allocates nothing.
     */
    public static long pwriteAt(MemorySegment ccs, int fd, long address, long len, long offset) {
        long fault = Faults.check(Faults.Call.PWRITE, len);
        if (fault < 0) {
            return fault;
        }
        len = Faults.capped(len, fault);
        try {
            long r = (long) PWRITE_AT.invokeExact(ccs, fd, address, len, offset);
            return r < 0 ? -errno(ccs) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * pwritev2(2) of {@code iovcnt} iovecs at the raw address {@code iovAddress} with RWF_* flags:
     * bytes written, or {@code -errno}. Like {@link #pwritev2}, no fault rule applies. Allocates nothing.
     */
    public static long pwritev2At(MemorySegment ccs, int fd, long iovAddress, int iovcnt, long offset, int flags) {
        try {
            long r = (long) PWRITEV2_AT.invokeExact(ccs, fd, iovAddress, iovcnt, offset, flags);
            return r < 0 ? -errno(ccs) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** pwritev2(2) of {@code iovcnt} iovecs with RWF_* flags: bytes written, or {@code -errno}. */
    public static long pwritev2(MemorySegment ccs, int fd, MemorySegment iov, int iovcnt, long offset, int flags) {
        try {
            long r = (long) PWRITEV2.invokeExact(ccs, fd, iov, iovcnt, offset, flags);
            return r < 0 ? -errno(ccs) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** fdatasync(2): 0 or {@code -errno}. */
    public static int fdatasync(MemorySegment ccs, int fd) {
        long fault = Faults.check(Faults.Call.FDATASYNC, 0);
        if (fault < 0) {
            return (int) fault;
        }
        try {
            int r = (int) FDATASYNC.invokeExact(ccs, fd);
            return r < 0 ? -errno(ccs) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** fallocate(2): 0 or {@code -errno}. */
    public static int fallocate(MemorySegment ccs, int fd, int mode, long offset, long len) {
        long fault = Faults.check(Faults.Call.FALLOCATE, 0);
        if (fault < 0) {
            return (int) fault;
        }
        try {
            int r = (int) FALLOCATE.invokeExact(ccs, fd, mode, offset, len);
            return r < 0 ? -errno(ccs) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** lseek(2): the new offset, or {@code -errno} (ENXIO from SEEK_DATA/SEEK_HOLE past the end). */
    public static long lseek(MemorySegment ccs, int fd, long offset, int whence) {
        try {
            long r = (long) LSEEK.invokeExact(ccs, fd, offset, whence);
            return r < 0 ? -errno(ccs) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** ftruncate(2): 0 or {@code -errno}. */
    public static int ftruncate(MemorySegment ccs, int fd, long length) {
        try {
            int r = (int) FTRUNCATE.invokeExact(ccs, fd, length);
            return r < 0 ? -errno(ccs) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** socket(2): the fd, or {@code -errno}. */
    public static int socket(MemorySegment ccs, int domain, int type, int protocol) {
        try {
            int r = (int) SOCKET.invokeExact(ccs, domain, type, protocol);
            return r < 0 ? -errno(ccs) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** bind(2): 0 or {@code -errno}. */
    public static int bind(MemorySegment ccs, int fd, MemorySegment addr, int len) {
        try {
            int r = (int) BIND.invokeExact(ccs, fd, addr, len);
            return r < 0 ? -errno(ccs) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** listen(2): 0 or {@code -errno}. */
    public static int listen(MemorySegment ccs, int fd, int backlog) {
        try {
            int r = (int) LISTEN.invokeExact(ccs, fd, backlog);
            return r < 0 ? -errno(ccs) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** accept4(2) without the peer address: the fd, or {@code -errno}. */
    public static int accept4(MemorySegment ccs, int fd, int flags) {
        long fault = Faults.check(Faults.Call.ACCEPT, 0);
        if (fault < 0) {
            return (int) fault;
        }
        try {
            int r = (int) ACCEPT4.invokeExact(ccs, fd, MemorySegment.NULL, MemorySegment.NULL, flags);
            return r < 0 ? -errno(ccs) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** connect(2): 0 or {@code -errno}. */
    public static int connect(MemorySegment ccs, int fd, MemorySegment addr, int len) {
        try {
            int r = (int) CONNECT.invokeExact(ccs, fd, addr, len);
            return r < 0 ? -errno(ccs) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** setsockopt(2) with an int value: 0 or {@code -errno}. */
    public static int setsockoptInt(MemorySegment ccs, int fd, int level, int name, int value) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_INT);
            v.set(JAVA_INT, 0, value);
            int r = (int) SETSOCKOPT.invokeExact(ccs, fd, level, name, v, 4);
            return r < 0 ? -errno(ccs) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** getsockname(2) into {@code addr} (len in/out in {@code lenp}): 0 or {@code -errno}. */
    public static int getsockname(MemorySegment ccs, int fd, MemorySegment addr, MemorySegment lenp) {
        try {
            int r = (int) GETSOCKNAME.invokeExact(ccs, fd, addr, lenp);
            return r < 0 ? -errno(ccs) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** shutdown(2): 0 or {@code -errno}. */
    public static int shutdown(MemorySegment ccs, int fd, int how) {
        try {
            int r = (int) SHUTDOWN.invokeExact(ccs, fd, how);
            return r < 0 ? -errno(ccs) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** recv(2): bytes, 0 at EOF, or {@code -errno}. */
    public static long recv(MemorySegment ccs, int fd, MemorySegment buf, long len, int flags) {
        long fault = Faults.check(Faults.Call.RECV, len);
        if (fault < 0) {
            return fault;
        }
        len = Faults.capped(len, fault);
        try {
            long r = (long) RECV.invokeExact(ccs, fd, buf, len, flags);
            return r < 0 ? -errno(ccs) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** send(2): bytes, or {@code -errno}. */
    public static long send(MemorySegment ccs, int fd, MemorySegment buf, long len, int flags) {
        long fault = Faults.check(Faults.Call.SEND, len);
        if (fault < 0) {
            return fault;
        }
        len = Faults.capped(len, fault);
        try {
            long r = (long) SEND.invokeExact(ccs, fd, buf, len, flags);
            return r < 0 ? -errno(ccs) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** sendmsg(2): bytes, or {@code -errno}. */
    public static long sendmsg(MemorySegment ccs, int fd, MemorySegment msghdr, int flags) {
        long fault = Faults.check(Faults.Call.SENDMSG, 0);
        if (fault < 0) {
            return fault;
        }
        try {
            long r = (long) SENDMSG.invokeExact(ccs, fd, msghdr, flags);
            return r < 0 ? -errno(ccs) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** socketpair(2) into {@code fds} (two ints): 0 or {@code -errno}. */
    public static int socketpair(MemorySegment ccs, int domain, int type, int protocol, MemorySegment fds) {
        try {
            int r = (int) SOCKETPAIR.invokeExact(ccs, domain, type, protocol, fds);
            return r < 0 ? -errno(ccs) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** posix_fadvise(2): 0 or a positive errno (it does not use errno). */
    public static int fadvise(int fd, long offset, long len, int advice) {
        try {
            return (int) POSIX_FADVISE.invokeExact(fd, offset, len, advice);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * prctl(PR_SET_TIMERSLACK, ns) for the calling thread: how late the kernel may end its timed
     * waits to batch wake-ups (default 50 us). Returns 0 or -1.
     */
    public static int setTimerSlackNs(long ns) {
        try {
            return (int) PRCTL.invokeExact(29, ns);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** The machine word layout of an 8-byte counter (eventfd values). */
    public static final ValueLayout.OfLong U64 = JAVA_LONG;

    /** The 8-byte value 1 in global memory: what an eventfd write adds. Never written after init. */
    public static final MemorySegment EVENTFD_ONE = u64Constant(1);

    private static MemorySegment u64Constant(long v) {
        MemorySegment s = Arena.global().allocate(8, 8);
        s.set(JAVA_LONG, 0, v);
        return s;
    }
}
