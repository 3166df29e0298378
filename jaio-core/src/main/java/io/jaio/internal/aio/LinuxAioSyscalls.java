// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.aio;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

import io.jaio.internal.sys.Faults;
import io.jaio.internal.sys.Syscalls;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The Linux AIO system calls (io_setup, io_destroy, io_submit, io_getevents, io_cancel) through
 * libc's variadic {@code syscall(2)}: glibc has no wrappers (libaio does, and it is not linked).
 * Every variadic argument is passed as a 64-bit long. None is linked critical: io_getevents with
 * a timeout and io_destroy block.
 *
 * <p>Syscall numbers differ by architecture: arch/x86/entry/syscalls/syscall_64.tbl (206..210)
 * and the generic table include/uapi/asm-generic/unistd.h used by aarch64 (0..4); chosen by
 * {@code os.arch}.
 *
 * <p>Threading: any thread; the errno segment passed in must belong to the caller.
 */
@SuppressWarnings("restricted")
public final class LinuxAioSyscalls {
    private static final Linker LINKER = Linker.nativeLinker();
    private static final MethodHandle SYSCALL5 = LINKER.downcallHandle(LINKER.defaultLookup().find("syscall").orElseThrow(),
            FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG),
            Linker.Option.captureCallState("errno"), Linker.Option.firstVariadicArg(1));

    private static final boolean AARCH64 = "aarch64".equals(System.getProperty("os.arch"));
    public static final long SYS_IO_SETUP = AARCH64 ? 0 : 206;
    public static final long SYS_IO_DESTROY = AARCH64 ? 1 : 207;
    public static final long SYS_IO_SUBMIT = AARCH64 ? 2 : 209;
    public static final long SYS_IO_CANCEL = AARCH64 ? 3 : 210;
    public static final long SYS_IO_GETEVENTS = AARCH64 ? 4 : 208;

    private LinuxAioSyscalls() {
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

    private static long call(MemorySegment ccs, long nr, long a, long b, long c, long d, long e) {
        try {
            long r = (long) SYSCALL5.invokeExact(ccs, nr, a, b, c, d, e);
            return r < 0 ? -Syscalls.errno(ccs) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * io_setup(nr_events, &amp;ctx_id): writes the context id (the address of the kernel's ring) into
     * {@code ctxIdOut} (8 bytes, zeroed first as the kernel requires). Returns 0 or {@code -errno}
     * (ENOSYS without CONFIG_AIO; EAGAIN when nr_events passes /proc/sys/fs/aio-max-nr).
     */
    public static int setup(MemorySegment ccs, int nrEvents, MemorySegment ctxIdOut) {
        long fault = Faults.checkIoSetup();
        if (fault < 0) {
            return (int) fault;
        }
        ctxIdOut.set(JAVA_LONG, 0, 0L);
        return (int) call(ccs, SYS_IO_SETUP, nrEvents, ctxIdOut.address(), 0, 0, 0);
    }

    /** io_destroy(ctx_id): cancels what it can and waits for the rest. 0 or {@code -errno}. */
    public static int destroy(MemorySegment ccs, long ctxId) {
        return (int) call(ccs, SYS_IO_DESTROY, ctxId, 0, 0, 0, 0);
    }

    /**
     * io_submit(ctx_id, nr, iocbpp): the number of iocbs taken from the front of the array (which
     * may be fewer than {@code nr}), or {@code -errno} when the first one was refused.
     */
    public static int submit(MemorySegment ccs, long ctxId, int nr, MemorySegment iocbPtrs) {
        return (int) call(ccs, SYS_IO_SUBMIT, ctxId, nr, iocbPtrs.address(), 0, 0);
    }

    /**
     * io_getevents(ctx_id, min_nr, nr, events, timeout): the events written (0..nr), or
     * {@code -errno}. {@code timeout} is a struct __kernel_timespec or NULL (wait for min_nr).
     */
    public static int getEvents(MemorySegment ccs, long ctxId, int minNr, int nr, MemorySegment events, MemorySegment timeout) {
        return (int) call(ccs, SYS_IO_GETEVENTS, ctxId, minNr, nr, events.address(), timeout.address());
    }

    /** io_cancel(ctx_id, iocb, result): 0 (result written), or {@code -errno} (EINVAL: cannot be cancelled). */
    public static int cancel(MemorySegment ccs, long ctxId, MemorySegment iocb, MemorySegment result) {
        return (int) call(ccs, SYS_IO_CANCEL, ctxId, iocb.address(), result.address(), 0, 0);
    }
}
