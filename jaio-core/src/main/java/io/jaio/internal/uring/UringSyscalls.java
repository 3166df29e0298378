// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.uring;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

import io.jaio.internal.sys.Syscalls;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The three io_uring system calls through libc's variadic {@code syscall(2)}, and mmap/munmap.
 * Every variadic argument is passed as a 64-bit long (Linker.Option.firstVariadicArg(1)), since
 * variadic ints are not widened for us. None is linked critical: io_uring_enter may block.
 *
 * <p>Threading: any thread; the errno segment passed in must belong to the caller.
 */
@SuppressWarnings("restricted")
public final class UringSyscalls {
    private static final Linker LINKER = Linker.nativeLinker();
    private static final Linker.Option CCS = Linker.Option.captureCallState("errno");
    private static final MethodHandle SYSCALL4 = LINKER.downcallHandle(LINKER.defaultLookup().find("syscall").orElseThrow(),
            FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG),
            CCS, Linker.Option.firstVariadicArg(1));
    private static final MethodHandle SYSCALL6 = LINKER.downcallHandle(LINKER.defaultLookup().find("syscall").orElseThrow(),
            FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG),
            CCS, Linker.Option.firstVariadicArg(1));
    private static final MethodHandle MMAP = LINKER.downcallHandle(LINKER.defaultLookup().find("mmap").orElseThrow(),
            FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG), CCS);
    private static final MethodHandle MUNMAP = LINKER.downcallHandle(LINKER.defaultLookup().find("munmap").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));

    public static final int PROT_READ = 1;
    public static final int PROT_WRITE = 2;
    public static final int MAP_SHARED = 1;
    public static final int MAP_POPULATE = 0x8000;

    private UringSyscalls() {
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

    /** io_uring_setup(entries, params): the ring fd, or {@code -errno}. */
    public static int setup(MemorySegment ccs, int entries, MemorySegment params) {
        try {
            long r = (long) SYSCALL4.invokeExact(ccs, Uring.SYS_IO_URING_SETUP, (long) entries, params.address(), 0L, 0L);
            return r < 0 ? -Syscalls.errno(ccs) : (int) r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** io_uring_enter(fd, toSubmit, minComplete, flags, arg, argsz): SQEs consumed, or {@code -errno}. */
    public static int enter(MemorySegment ccs, int fd, int toSubmit, int minComplete, int flags, long arg, long argSize) {
        long fault = io.jaio.internal.sys.Faults.checkUringEnter();
        if (fault < 0) {
            return (int) fault;
        }
        try {
            long r = (long) SYSCALL6.invokeExact(ccs, Uring.SYS_IO_URING_ENTER, (long) fd, (long) toSubmit,
                    (long) minComplete, (long) flags, arg, argSize);
            return r < 0 ? -Syscalls.errno(ccs) : (int) r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** io_uring_register(fd, opcode, arg, nrArgs): result, or {@code -errno}. */
    public static int register(MemorySegment ccs, int fd, int opcode, long arg, int nrArgs) {
        try {
            long r = (long) SYSCALL4.invokeExact(ccs, Uring.SYS_IO_URING_REGISTER, (long) fd, (long) opcode, arg, (long) nrArgs);
            return r < 0 ? -Syscalls.errno(ccs) : (int) r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** mmap of a shared ring region: the mapping (reinterpreted to {@code len}), or null with errno in ccs. */
    public static MemorySegment mmap(MemorySegment ccs, long len, int fd, long offset) {
        try {
            MemorySegment p = (MemorySegment) MMAP.invokeExact(ccs, MemorySegment.NULL, len,
                    PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, offset);
            if (p.address() == -1L) {
                return null;
            }
            return p.reinterpret(len);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static void munmap(MemorySegment m) {
        try {
            int r = (int) MUNMAP.invokeExact(m, m.byteSize());
            assert r == 0 : "munmap failed";
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }
}
