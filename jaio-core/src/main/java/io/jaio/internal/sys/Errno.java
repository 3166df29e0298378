// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.sys;

/**
 * Linux errno values (x86-64 and aarch64 share them; asm-generic/errno-base.h and errno.h) and
 * their names. Stateless; any thread.
 */
public final class Errno {
    public static final int EPERM = 1;
    public static final int ENOENT = 2;
    public static final int EINTR = 4;
    public static final int EIO = 5;
    public static final int EBADF = 9;
    public static final int EAGAIN = 11;
    public static final int ENOMEM = 12;
    public static final int EACCES = 13;
    public static final int EFAULT = 14;
    public static final int EBUSY = 16;
    public static final int EEXIST = 17;
    public static final int ENODEV = 19;
    public static final int ENOTDIR = 20;
    public static final int EISDIR = 21;
    public static final int EINVAL = 22;
    public static final int ENFILE = 23;
    public static final int EMFILE = 24;
    public static final int EFBIG = 27;
    public static final int ENOSPC = 28;
    public static final int ESPIPE = 29;
    public static final int EROFS = 30;
    public static final int EPIPE = 32;
    public static final int ERANGE = 34;
    public static final int ENOSYS = 38;
    public static final int EOPNOTSUPP = 95;
    public static final int ECONNRESET = 104;
    public static final int ENOTCONN = 107;
    public static final int ETIMEDOUT = 110;
    public static final int ECANCELED = 125;
    public static final int ENXIO = 6;
    public static final int ETIME = 62;
    public static final int EPROTO = 71;
    public static final int EOVERFLOW = 75;
    public static final int ENOTSOCK = 88;
    public static final int EADDRINUSE = 98;
    public static final int EADDRNOTAVAIL = 99;
    public static final int ECONNREFUSED = 111;
    public static final int EALREADY = 114;

    private static final String[] NAMES = new String[134];

    static {
        NAMES[EPERM] = "EPERM";
        NAMES[ENOENT] = "ENOENT";
        NAMES[EINTR] = "EINTR";
        NAMES[EIO] = "EIO";
        NAMES[EBADF] = "EBADF";
        NAMES[EAGAIN] = "EAGAIN";
        NAMES[ENOMEM] = "ENOMEM";
        NAMES[EACCES] = "EACCES";
        NAMES[EFAULT] = "EFAULT";
        NAMES[EBUSY] = "EBUSY";
        NAMES[EEXIST] = "EEXIST";
        NAMES[ENODEV] = "ENODEV";
        NAMES[ENOTDIR] = "ENOTDIR";
        NAMES[EISDIR] = "EISDIR";
        NAMES[EINVAL] = "EINVAL";
        NAMES[ENFILE] = "ENFILE";
        NAMES[EMFILE] = "EMFILE";
        NAMES[EFBIG] = "EFBIG";
        NAMES[ENOSPC] = "ENOSPC";
        NAMES[ESPIPE] = "ESPIPE";
        NAMES[EROFS] = "EROFS";
        NAMES[EPIPE] = "EPIPE";
        NAMES[ERANGE] = "ERANGE";
        NAMES[ENOSYS] = "ENOSYS";
        NAMES[EOPNOTSUPP] = "EOPNOTSUPP";
        NAMES[ECONNRESET] = "ECONNRESET";
        NAMES[ENOTCONN] = "ENOTCONN";
        NAMES[ETIMEDOUT] = "ETIMEDOUT";
        NAMES[ECANCELED] = "ECANCELED";
        NAMES[ENXIO] = "ENXIO";
        NAMES[ETIME] = "ETIME";
        NAMES[EPROTO] = "EPROTO";
        NAMES[EOVERFLOW] = "EOVERFLOW";
        NAMES[ENOTSOCK] = "ENOTSOCK";
        NAMES[EADDRINUSE] = "EADDRINUSE";
        NAMES[EADDRNOTAVAIL] = "EADDRNOTAVAIL";
        NAMES[ECONNREFUSED] = "ECONNREFUSED";
        NAMES[EALREADY] = "EALREADY";
    }

    private Errno() {
    }

    /** {@code EBADF}, or {@code errno=N} for a value without a name here. */
    public static String name(int errno) {
        if (errno > 0 && errno < NAMES.length && NAMES[errno] != null) {
            return NAMES[errno];
        }
        return "errno=" + errno;
    }

    /** {@code EBADF (Bad file descriptor)}: the name plus the C library's text. */
    public static String describe(int errno) {
        return name(errno) + " (" + Syscalls.strerror(errno) + ")";
    }
}
