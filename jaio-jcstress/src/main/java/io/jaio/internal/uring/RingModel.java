// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.uring;

import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;

/**
 * A model of the io_uring ring memory that io.jaio.internal.uring.Ring shares with the kernel: the
 * same {@code JAVA_INT.varHandle()} and the same access modes on the head and tail words, and
 * plain accesses to the SQE and CQE bodies. The real Ring needs io_uring_setup and mmap; the
 * kernel's side (smp_load_acquire of sq.tail, smp_store_release of cq.tail, of sq.head, and the
 * acquire of cq.head before reusing a slot) is played by an actor.
 */
final class RingModel {
    /** Ring's own handle: {@code private static final VarHandle INT = JAVA_INT.varHandle();}. */
    static final VarHandle INT = JAVA_INT.varHandle();
    static final long SQ_TAIL = 0;
    static final long CQ_HEAD = 64;
    static final long CQ_TAIL = 128;
    /** One 64-byte SQE; user_data at offset 32 (include/uapi/linux/io_uring.h). */
    static final long SQE = 256;
    static final long SQE_USER_DATA = SQE + 32;
    /** One 16-byte CQE: user_data, res, flags. */
    static final long CQE = 512;
    static final long CQE_USER_DATA = CQE;
    static final long CQE_RES = CQE + 8;

    final MemorySegment mem = Arena.ofAuto().allocate(1024, 64);
}
