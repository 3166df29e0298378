// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.sys;

import java.util.concurrent.atomic.AtomicLongArray;

/**
 * A seam in the system-call layer for fault-injection tests: a rule, when installed, may make a
 * chosen call fail with an errno of its choosing (EINTR, EAGAIN, ENOMEM, EBADF, EMFILE, ...) or
 * transfer fewer bytes than asked (a short read or write), without entering the kernel.
 *
 * <p>With no rule installed (always, outside tests) each wrapped call pays one volatile read of
 * {@link #rule}. Calls that are not wrapped here cannot be faulted.
 *
 * <p>Threading: any thread. A rule is called on whatever thread makes the system call, so it
 * must be thread-safe; {@link #install} publishes it with a volatile write (pairs with the
 * volatile read in {@link #check}).
 */
public final class Faults {
    /** The calls that can be faulted. */
    public enum Call {
        READ, WRITE, RECV, SEND, SENDMSG, ACCEPT, PPOLL, EPOLL_WAIT, EPOLL_CTL, PREAD, PWRITE, FDATASYNC, FALLOCATE,
        OPEN, URING_ENTER, IO_SETUP
    }

    /** Decides the fate of one call. */
    @FunctionalInterface
    public interface Rule {
        /**
         * @param call the call about to be made
         * @param length the bytes it would transfer (0 for calls without a length)
         * @return 0 to make the call unchanged; {@code -errno} to fail it without entering the
         *     kernel; a positive number to cap its length (a short transfer)
         */
        long apply(Call call, long length);
    }

    private static volatile Rule rule;
    private static final AtomicLongArray INJECTED = new AtomicLongArray(Call.values().length);

    private Faults() {
    }

    /** Installs {@code r} (null removes it). */
    public static void install(Rule r) {
        rule = r;
    }

    /** Removes the rule. */
    public static void clear() {
        rule = null;
    }

    /** How many faults have been injected into {@code call} since start-up. */
    public static long injected(Call call) {
        return INJECTED.get(call.ordinal());
    }

    /** 0, {@code -errno}, or a length cap, for {@code call}; see {@link Rule#apply}. */
    static long check(Call call, long length) {
        Rule r = rule; // pairs with the volatile write in install()
        if (r == null) {
            return 0;
        }
        long v = r.apply(call, length);
        if (v < 0 || (v > 0 && v < length)) {
            INJECTED.incrementAndGet(call.ordinal());
        }
        return v;
    }

    /** {@link #check} for io_uring_enter, which lives in another package. */
    public static long checkUringEnter() {
        return check(Call.URING_ENTER, 0);
    }

    /** {@link #check} for io_setup (Linux AIO), which lives in another package. */
    public static long checkIoSetup() {
        return check(Call.IO_SETUP, 0);
    }

    /** The length to pass to the kernel after a positive {@code check} result. */
    static long capped(long length, long verdict) {
        return verdict > 0 ? Math.min(length, verdict) : length;
    }
}
