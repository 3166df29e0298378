// SPDX-License-Identifier: Apache-2.0
package io.jaio;

import java.io.IOException;

/**
 * A system call failed. Carries the call (with its interesting arguments) and the errno, so the
 * message reads like {@code epoll_ctl(ADD, fd=17): EBADF (Bad file descriptor)}.
 *
 * <p>Immutable; safe to share between threads.
 */
public class ErrnoException extends IOException {
    private static final long serialVersionUID = 1L;

    /** The failed call with its arguments. */
    private final String syscall;
    /** The positive errno value. */
    private final int errno;

    /**
     * An exception for {@code syscall} failing with {@code errno}.
     *
     * @param syscall the call and its arguments, for example {@code "epoll_ctl(ADD, fd=17)"}
     * @param errno the positive errno value the call failed with
     */
    public ErrnoException(String syscall, int errno) {
        super(syscall + ": " + io.jaio.internal.sys.Errno.describe(errno));
        this.syscall = syscall;
        this.errno = errno;
    }

    /** {@return the failed call with its arguments} */
    public String syscall() {
        return syscall;
    }

    /** {@return the positive errno value} */
    public int errno() {
        return errno;
    }

    /** {@return the symbolic errno name, such as {@code EBADF}, or {@code errno=N} when it has none here} */
    public String errnoName() {
        return io.jaio.internal.sys.Errno.name(errno);
    }
}
