// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.aio;

import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * Offsets, sizes and constants of the Linux AIO ABI, all from {@code include/uapi/linux/aio_abi.h}
 * (unchanged since 4.13 added {@code aio_rw_flags}). Little-endian layouts only (x86-64 and
 * aarch64): on big-endian machines the {@code PADDED(aio_key, aio_rw_flags)} pair is swapped.
 * Stateless; any thread.
 */
public final class LinuxAioAbi {
    private LinuxAioAbi() {
    }

    // enum { IOCB_CMD_PREAD = 0, IOCB_CMD_PWRITE = 1, IOCB_CMD_FSYNC = 2, IOCB_CMD_FDSYNC = 3, ... }
    public static final short IOCB_CMD_PREAD = 0;
    public static final short IOCB_CMD_PWRITE = 1;
    public static final short IOCB_CMD_FSYNC = 2;
    /** fdatasync through AIO: Linux 4.18+ (fs/aio.c aio_fsync); older kernels answer io_submit with EINVAL. */
    public static final short IOCB_CMD_FDSYNC = 3;

    /** aio_flags: signal the completion on the eventfd in aio_resfd (IOCB_FLAG_RESFD, 1 &lt;&lt; 0). */
    public static final int IOCB_FLAG_RESFD = 1;

    // struct iocb (64 bytes):
    //   __u64 aio_data;                          0   returned in io_event.data
    //   __u32 PADDED(aio_key, aio_rw_flags);     8   aio_key (kernel-set), 12 aio_rw_flags (RWF_*)
    //   __u16 aio_lio_opcode;                   16   IOCB_CMD_*
    //   __s16 aio_reqprio;                      18
    //   __u32 aio_fildes;                       20
    //   __u64 aio_buf;                          24
    //   __u64 aio_nbytes;                       32
    //   __s64 aio_offset;                       40
    //   __u64 aio_reserved2;                    48   must be 0
    //   __u32 aio_flags;                        56   IOCB_FLAG_*
    //   __u32 aio_resfd;                        60   eventfd when IOCB_FLAG_RESFD
    public static final long IOCB_SIZE = 64;
    public static final long IOCB_DATA = 0;
    public static final long IOCB_KEY = 8;
    public static final long IOCB_RW_FLAGS = 12;
    public static final long IOCB_LIO_OPCODE = 16;
    public static final long IOCB_REQPRIO = 18;
    public static final long IOCB_FILDES = 20;
    public static final long IOCB_BUF = 24;
    public static final long IOCB_NBYTES = 32;
    public static final long IOCB_OFFSET = 40;
    public static final long IOCB_RESERVED2 = 48;
    public static final long IOCB_FLAGS = 56;
    public static final long IOCB_RESFD = 60;

    // struct io_event (32 bytes): __u64 data; __u64 obj; __s64 res; __s64 res2;
    public static final long IO_EVENT_SIZE = 32;
    public static final long IO_EVENT_DATA = 0;
    public static final long IO_EVENT_OBJ = 8;
    public static final long IO_EVENT_RES = 16;
    public static final long IO_EVENT_RES2 = 24;

    /** Fills every field of the iocb at {@code iocb} (reserved ones with 0). */
    public static void prepare(MemorySegment iocb, long data, short opcode, int fd, long buf, long nbytes, long offset,
            int rwFlags, int resfd) {
        iocb.set(JAVA_LONG, IOCB_DATA, data);
        iocb.set(JAVA_INT, IOCB_KEY, 0);
        iocb.set(JAVA_INT, IOCB_RW_FLAGS, rwFlags);
        iocb.set(JAVA_SHORT, IOCB_LIO_OPCODE, opcode);
        iocb.set(JAVA_SHORT, IOCB_REQPRIO, (short) 0);
        iocb.set(JAVA_INT, IOCB_FILDES, fd);
        iocb.set(JAVA_LONG, IOCB_BUF, buf);
        iocb.set(JAVA_LONG, IOCB_NBYTES, nbytes);
        iocb.set(JAVA_LONG, IOCB_OFFSET, offset);
        iocb.set(JAVA_LONG, IOCB_RESERVED2, 0L);
        iocb.set(JAVA_INT, IOCB_FLAGS, resfd >= 0 ? IOCB_FLAG_RESFD : 0);
        iocb.set(JAVA_INT, IOCB_RESFD, resfd >= 0 ? resfd : 0);
    }

    /** io_event[i].data: the iocb's aio_data. */
    public static long eventData(MemorySegment events, int i) {
        return events.get(JAVA_LONG, i * IO_EVENT_SIZE + IO_EVENT_DATA);
    }

    /** io_event[i].res: bytes transferred or {@code -errno}. */
    public static long eventRes(MemorySegment events, int i) {
        return events.get(JAVA_LONG, i * IO_EVENT_SIZE + IO_EVENT_RES);
    }
}
