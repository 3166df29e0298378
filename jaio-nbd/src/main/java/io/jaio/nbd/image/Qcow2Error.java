// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd.image;

/**
 * A failed step inside a qcow2 operation: an errno from the file engine, or metadata that points
 * where it must not (then {@code errno} is EIO and the message names the entry). Thrown inside
 * the operation's coroutine and turned into its {@code -errno} result at the operation's edge,
 * so that the tables' code reads as straight-line steps.
 */
final class Qcow2Error extends RuntimeException {
    private static final long serialVersionUID = 1L;
    static final int EIO = 5;
    static final int ENOSPC = 28;
    static final int EROFS = 30;
    static final int ENOTSUP = 95;
    final int errno;

    Qcow2Error(int errno, String message) {
        super(message, null, false, false);
        this.errno = errno;
    }

    /** {@code result} of a file-engine call, checked: negative becomes a Qcow2Error naming {@code what}. */
    static long check(long result, String what) {
        if (result < 0) {
            throw new Qcow2Error((int) -result, what + ": errno " + (-result));
        }
        return result;
    }
}
