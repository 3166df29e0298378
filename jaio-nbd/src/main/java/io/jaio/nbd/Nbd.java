// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd;

/**
 * NBD protocol constants, from doc/proto.md of the NetworkBlockDevice/nbd project. All integers
 * on the wire are big-endian. Stateless.
 */
final class Nbd {
    private Nbd() {
    }

    // Handshake
    static final long NBDMAGIC = 0x4e42444d41474943L; // "NBDMAGIC"
    static final long IHAVEOPT = 0x49484156454F5054L; // "IHAVEOPT"
    static final long OPTION_REPLY_MAGIC = 0x3e889045565a9L;
    static final int FLAG_FIXED_NEWSTYLE = 1;
    static final int FLAG_NO_ZEROES = 2;
    static final int FLAG_C_FIXED_NEWSTYLE = 1;
    static final int FLAG_C_NO_ZEROES = 2;

    // Options
    static final int OPT_EXPORT_NAME = 1;
    static final int OPT_ABORT = 2;
    static final int OPT_LIST = 3;
    static final int OPT_STARTTLS = 5;
    static final int OPT_INFO = 6;
    static final int OPT_GO = 7;
    static final int OPT_STRUCTURED_REPLY = 8;
    static final int OPT_LIST_META_CONTEXT = 9;
    static final int OPT_SET_META_CONTEXT = 10;
    static final int OPT_EXTENDED_HEADERS = 11;

    // Option replies
    static final int REP_ACK = 1;
    static final int REP_SERVER = 2;
    static final int REP_INFO = 3;
    static final int REP_META_CONTEXT = 4;
    static final int REP_ERR_UNSUP = 0x80000001;
    static final int REP_ERR_POLICY = 0x80000002;
    static final int REP_ERR_INVALID = 0x80000003;
    static final int REP_ERR_TLS_REQD = 0x80000005;
    static final int REP_ERR_UNKNOWN = 0x80000006;
    static final int REP_ERR_TOO_BIG = 0x80000009;

    // NBD_INFO_*
    static final int INFO_EXPORT = 0;
    static final int INFO_NAME = 1;
    static final int INFO_DESCRIPTION = 2;
    static final int INFO_BLOCK_SIZE = 3;

    // Transmission flags
    static final int TF_HAS_FLAGS = 1;
    static final int TF_READ_ONLY = 1 << 1;
    static final int TF_SEND_FLUSH = 1 << 2;
    static final int TF_SEND_FUA = 1 << 3;
    static final int TF_SEND_TRIM = 1 << 5;
    static final int TF_SEND_WRITE_ZEROES = 1 << 6;
    static final int TF_SEND_DF = 1 << 7;
    static final int TF_CAN_MULTI_CONN = 1 << 8;
    static final int TF_SEND_CACHE = 1 << 10;
    static final int TF_SEND_FAST_ZERO = 1 << 11;

    // Requests and replies
    static final int REQUEST_MAGIC = 0x25609513;
    static final int SIMPLE_REPLY_MAGIC = 0x67446698;
    static final int STRUCTURED_REPLY_MAGIC = 0x668e33ef;
    static final int REQUEST_SIZE = 28;
    static final int SIMPLE_REPLY_SIZE = 16;
    static final int STRUCTURED_HEADER_SIZE = 20;

    static final int CMD_READ = 0;
    static final int CMD_WRITE = 1;
    static final int CMD_DISC = 2;
    static final int CMD_FLUSH = 3;
    static final int CMD_TRIM = 4;
    static final int CMD_CACHE = 5;
    static final int CMD_WRITE_ZEROES = 6;
    static final int CMD_BLOCK_STATUS = 7;

    static final int CMD_FLAG_FUA = 1;
    static final int CMD_FLAG_NO_HOLE = 1 << 1;
    static final int CMD_FLAG_DF = 1 << 2;
    static final int CMD_FLAG_REQ_ONE = 1 << 3;
    static final int CMD_FLAG_FAST_ZERO = 1 << 4;

    static final int REPLY_FLAG_DONE = 1;
    static final int REPLY_TYPE_NONE = 0;
    static final int REPLY_TYPE_OFFSET_DATA = 1;
    static final int REPLY_TYPE_BLOCK_STATUS = 5;
    static final int REPLY_TYPE_ERROR = 0x8001;

    // Errors on the wire
    static final int EPERM = 1;
    static final int EIO = 5;
    static final int ENOMEM = 12;
    static final int EINVAL = 22;
    static final int ENOSPC = 28;
    static final int EOVERFLOW = 75;
    static final int ENOTSUP = 95;
    static final int ESHUTDOWN = 108;

    // base:allocation
    static final String META_BASE_ALLOCATION = "base:allocation";
    static final int META_ID_BASE_ALLOCATION = 1;
    /** QEMU's context: the extent's depth in the backing chain (0 unallocated, 1 the image, 2 its backing, ...). */
    static final String META_ALLOCATION_DEPTH = "qemu:allocation-depth";
    static final int META_ID_ALLOCATION_DEPTH = 2;
    static final int STATE_HOLE = 1;
    static final int STATE_ZERO = 2;

    /** Largest request payload accepted (qemu-nbd's NBD_MAX_BUFFER_SIZE). */
    static final int MAX_PAYLOAD = 32 * 1024 * 1024;
    /** Longest string (export name, meta context query) accepted. */
    static final int MAX_STRING = 4096;
    /** Largest option payload read before giving up on the client. */
    static final int MAX_OPTION_LENGTH = 64 * 1024;

    /** Maps a Linux errno (positive) to the NBD error set. */
    static int wireError(int errno) {
        return switch (errno) {
            case EPERM, EIO, ENOMEM, EINVAL, ENOSPC, EOVERFLOW, ESHUTDOWN -> errno;
            case 95 -> ENOTSUP;
            case 13, 30 -> EPERM; // EACCES, EROFS
            case 27 -> ENOSPC; // EFBIG
            case 122 -> ENOSPC; // EDQUOT
            default -> EIO;
        };
    }
}
