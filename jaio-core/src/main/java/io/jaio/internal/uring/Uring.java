// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.uring;

/**
 * io_uring constants and struct offsets, from include/uapi/linux/io_uring.h (Linux 6.x). Bindings
 * only; the logic lives in {@link Ring} and {@link UringFdMonitor}. Stateless; any thread.
 */
public final class Uring {
    private Uring() {
    }

    // Syscall numbers: the same in the generic table (aarch64) and on x86-64.
    public static final long SYS_IO_URING_SETUP = 425;
    public static final long SYS_IO_URING_ENTER = 426;
    public static final long SYS_IO_URING_REGISTER = 427;

    // struct io_uring_params (120 bytes)
    public static final long PARAMS_SIZE = 120;
    public static final long P_SQ_ENTRIES = 0;
    public static final long P_CQ_ENTRIES = 4;
    public static final long P_FLAGS = 8;
    public static final long P_FEATURES = 20;
    public static final long P_SQ_OFF = 40;
    public static final long P_CQ_OFF = 80;
    // struct io_sqring_offsets, relative to P_SQ_OFF
    public static final long SQO_HEAD = 0;
    public static final long SQO_TAIL = 4;
    public static final long SQO_RING_MASK = 8;
    public static final long SQO_RING_ENTRIES = 12;
    public static final long SQO_FLAGS = 16;
    public static final long SQO_DROPPED = 20;
    public static final long SQO_ARRAY = 24;
    // struct io_cqring_offsets, relative to P_CQ_OFF
    public static final long CQO_HEAD = 0;
    public static final long CQO_TAIL = 4;
    public static final long CQO_RING_MASK = 8;
    public static final long CQO_RING_ENTRIES = 12;
    public static final long CQO_OVERFLOW = 16;
    public static final long CQO_CQES = 20;
    public static final long CQO_FLAGS = 24;

    // struct io_uring_sqe (64 bytes)
    public static final long SQE_SIZE = 64;
    public static final long SQE_OPCODE = 0;
    public static final long SQE_FLAGS = 1;
    public static final long SQE_IOPRIO = 2;
    public static final long SQE_FD = 4;
    public static final long SQE_OFF = 8;
    public static final long SQE_ADDR = 16;
    public static final long SQE_LEN = 24;
    public static final long SQE_OP_FLAGS = 28;
    public static final long SQE_USER_DATA = 32;
    public static final long SQE_BUF_INDEX = 40;
    public static final long SQE_PERSONALITY = 42;
    public static final long SQE_FILE_INDEX = 44;
    public static final long SQE_ADDR3 = 48;

    // struct io_uring_cqe (16 bytes)
    public static final long CQE_SIZE = 16;
    public static final long CQE_USER_DATA = 0;
    public static final long CQE_RES = 8;
    public static final long CQE_FLAGS = 12;

    // struct io_uring_getevents_arg (24 bytes): sigmask, sigmask_sz, min_wait_usec/pad, ts
    public static final long GETEVENTS_ARG_SIZE = 24;
    public static final long GEA_TS = 16;

    // mmap offsets
    public static final long OFF_SQ_RING = 0L;
    public static final long OFF_SQES = 0x10000000L;

    // setup flags
    public static final int SETUP_CLAMP = 1 << 4;
    public static final int SETUP_SUBMIT_ALL = 1 << 7;
    public static final int SETUP_COOP_TASKRUN = 1 << 8;
    public static final int SETUP_TASKRUN_FLAG = 1 << 9;
    public static final int SETUP_SINGLE_ISSUER = 1 << 12;
    public static final int SETUP_DEFER_TASKRUN = 1 << 13;
    public static final int SETUP_NO_SQARRAY = 1 << 16;

    // features
    public static final int FEAT_SINGLE_MMAP = 1;
    public static final int FEAT_NODROP = 1 << 1;
    public static final int FEAT_SUBMIT_STABLE = 1 << 2;
    public static final int FEAT_FAST_POLL = 1 << 5;
    public static final int FEAT_EXT_ARG = 1 << 8;

    // io_uring_enter flags
    public static final int ENTER_GETEVENTS = 1;
    public static final int ENTER_EXT_ARG = 1 << 3;

    // sq ring flags
    public static final int SQ_NEED_WAKEUP = 1;
    public static final int SQ_CQ_OVERFLOW = 1 << 1;
    public static final int SQ_TASKRUN = 1 << 2;

    // cqe flags
    public static final int CQE_F_BUFFER = 1;
    public static final int CQE_F_MORE = 1 << 1;

    // sqe flags
    public static final int IOSQE_FIXED_FILE = 1;
    public static final int IOSQE_IO_DRAIN = 1 << 1;
    public static final int IOSQE_IO_LINK = 1 << 2;
    public static final int IOSQE_IO_HARDLINK = 1 << 3;
    public static final int IOSQE_ASYNC = 1 << 4;

    // opcodes (enum io_uring_op)
    public static final int OP_NOP = 0;
    public static final int OP_READV = 1;
    public static final int OP_WRITEV = 2;
    public static final int OP_FSYNC = 3;
    public static final int OP_READ_FIXED = 4;
    public static final int OP_WRITE_FIXED = 5;
    public static final int OP_POLL_ADD = 6;
    public static final int OP_POLL_REMOVE = 7;
    public static final int OP_SENDMSG = 9;
    public static final int OP_RECVMSG = 10;
    public static final int OP_TIMEOUT = 11;
    public static final int OP_TIMEOUT_REMOVE = 12;
    public static final int OP_ACCEPT = 13;
    public static final int OP_ASYNC_CANCEL = 14;
    public static final int OP_LINK_TIMEOUT = 15;
    public static final int OP_CONNECT = 16;
    public static final int OP_FALLOCATE = 17;
    public static final int OP_OPENAT = 18;
    public static final int OP_CLOSE = 19;
    public static final int OP_STATX = 21;
    public static final int OP_READ = 22;
    public static final int OP_WRITE = 23;
    public static final int OP_SEND = 26;
    public static final int OP_RECV = 27;
    /** Last opcode this code knows. */
    public static final int OP_LAST_KNOWN = 57;

    // op flags
    public static final int FSYNC_DATASYNC = 1;
    public static final int TIMEOUT_ABS = 1;
    /** POLL_ADD command flags go in sqe->len (poll32_events holds the events). */
    public static final int POLL_ADD_MULTI = 1;
    public static final int POLL_UPDATE_EVENTS = 1 << 1;
    public static final int POLL_UPDATE_USER_DATA = 1 << 2;
    /** Level-triggered poll (5.19+); without it POLL_ADD is edge-triggered (EPOLLET). */
    public static final int POLL_ADD_LEVEL = 1 << 3;
    /** IORING_ACCEPT_MULTISHOT, in sqe->ioprio. */
    public static final int ACCEPT_MULTISHOT = 1;
    public static final int ASYNC_CANCEL_ALL = 1;
    public static final int ASYNC_CANCEL_ANY = 1 << 2;

    // io_uring_register opcodes
    public static final int REGISTER_BUFFERS = 0;
    public static final int UNREGISTER_BUFFERS = 1;
    public static final int REGISTER_FILES = 2;
    public static final int UNREGISTER_FILES = 3;
    /** arg: struct io_uring_files_update (rsrc_update), nr_args: how many fds. */
    public static final int REGISTER_FILES_UPDATE = 6;
    public static final int REGISTER_PROBE = 8;
    /** arg: struct io_uring_rsrc_register, nr_args: its size (5.13+). */
    public static final int REGISTER_FILES2 = 13;
    /** struct io_uring_rsrc_register flag: a table of empty slots, no data (5.19+). */
    public static final int RSRC_REGISTER_SPARSE = 1;
    /** struct io_uring_rsrc_register: nr, flags, resv2, data, tags (32 bytes). */
    public static final long RSRC_REGISTER_SIZE = 32;
    public static final long RSRC_REGISTER_NR = 0;
    public static final long RSRC_REGISTER_FLAGS = 4;
    public static final long RSRC_REGISTER_DATA = 16;
    public static final long RSRC_REGISTER_TAGS = 24;
    /** struct io_uring_files_update / io_uring_rsrc_update: offset, resv, data (16 bytes). */
    public static final long RSRC_UPDATE_SIZE = 16;
    public static final long RSRC_UPDATE_OFFSET = 0;
    public static final long RSRC_UPDATE_DATA = 8;
    /** A files-update entry that leaves its slot as it is. */
    public static final int REGISTER_FILES_SKIP = -2;
    /** IORING_MAX_REG_BUFFERS (io_uring/rsrc.c): at most this many registered buffers. */
    public static final int MAX_REG_BUFFERS = 1 << 14;
    /** The kernel refuses a registered buffer larger than 1 GiB (io_uring/rsrc.c, SZ_1G). */
    public static final long MAX_REG_BUFFER_BYTES = 1L << 30;
    /** struct io_uring_probe header (16 bytes), then 8-byte io_uring_probe_op entries. */
    public static final long PROBE_HEADER = 16;
    public static final long PROBE_OP_SIZE = 8;
    public static final int IO_URING_OP_SUPPORTED = 1;
}
