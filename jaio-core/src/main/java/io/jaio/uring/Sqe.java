// SPDX-License-Identifier: Apache-2.0
package io.jaio.uring;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import io.jaio.internal.uring.Uring;

/**
 * A view of the submission queue entry being prepared ({@code struct io_uring_sqe}, 64 bytes;
 * field names as in include/uapi/linux/io_uring.h). Valid only inside
 * {@link SqePreparer#prepare}: the context reuses one view for every entry. Setters return the
 * view for chaining. {@code user_data} is not settable: the context routes completions with it.
 *
 * <p>Threading: home thread, inside {@code prepare} only.
 */
public final class Sqe {
    private MemorySegment sqes;
    private long off = -1;

    Sqe() {
    }

    void bind(MemorySegment sqes, long off) {
        this.sqes = sqes;
        this.off = off;
    }

    void unbind() {
        this.off = -1;
    }

    private long at(long field) {
        if (off < 0) {
            throw new IllegalStateException("Sqe used outside SqePreparer.prepare (expected inside it)");
        }
        return off + field;
    }

    /**
     * IORING_OP_* opcode.
     *
     * @param opcode the operation
     * @return this entry
     */
    public Sqe opcode(int opcode) {
        sqes.set(ValueLayout.JAVA_BYTE, at(Uring.SQE_OPCODE), (byte) opcode);
        return this;
    }

    /**
     * IOSQE_* flags.
     *
     * @param flags IOSQE_* bits
     * @return this entry
     */
    public Sqe flags(int flags) {
        sqes.set(ValueLayout.JAVA_BYTE, at(Uring.SQE_FLAGS), (byte) flags);
        return this;
    }

    /** Adds IOSQE_* flags to those the entry has. */
    Sqe orFlags(int flags) {
        long at = at(Uring.SQE_FLAGS);
        sqes.set(ValueLayout.JAVA_BYTE, at, (byte) (sqes.get(ValueLayout.JAVA_BYTE, at) | flags));
        return this;
    }

    /**
     * Sets the I/O priority.
     *
     * @param ioprio the priority in ioprio_set(2) encoding
     * @return this entry
     */
    public Sqe ioprio(int ioprio) {
        sqes.set(ValueLayout.JAVA_SHORT, at(Uring.SQE_IOPRIO), (short) ioprio);
        return this;
    }

    /**
     * Sets the fd.
     *
     * @param fd the descriptor, or the registered slot under IOSQE_FIXED_FILE
     * @return this entry
     */
    public Sqe fd(int fd) {
        sqes.set(ValueLayout.JAVA_INT, at(Uring.SQE_FD), fd);
        return this;
    }

    /**
     * {@code off} / {@code addr2}.
     *
     * @param off the file offset, or the second address
     * @return this entry
     */
    public Sqe off(long off) {
        sqes.set(ValueLayout.JAVA_LONG, at(Uring.SQE_OFF), off);
        return this;
    }

    /**
     * {@code addr}: an address the kernel reads or writes.
     *
     * @param addr a native address
     * @return this entry
     */
    public Sqe addr(long addr) {
        sqes.set(ValueLayout.JAVA_LONG, at(Uring.SQE_ADDR), addr);
        return this;
    }

    /**
     * {@code addr} set to a native segment's address.
     *
     * @param segment native memory, alive until the completion
     * @return this entry
     */
    public Sqe addr(MemorySegment segment) {
        if (!segment.isNative()) {
            throw new IllegalArgumentException("segment " + segment + " is on the heap (expected native memory: "
                    + "the kernel keeps its address until the completion)");
        }
        return addr(segment.address());
    }

    /**
     * Sets the length.
     *
     * @param len bytes, iovec count or another count, by operation
     * @return this entry
     */
    public Sqe len(int len) {
        sqes.set(ValueLayout.JAVA_INT, at(Uring.SQE_LEN), len);
        return this;
    }

    /**
     * The per-operation flags word (rw_flags, fsync_flags, poll32_events, msg_flags, ...).
     *
     * @param flags the operation's flags
     * @return this entry
     */
    public Sqe opFlags(int flags) {
        sqes.set(ValueLayout.JAVA_INT, at(Uring.SQE_OP_FLAGS), flags);
        return this;
    }

    /**
     * Sets the registered buffer index (READ_FIXED, WRITE_FIXED).
     *
     * @param index the buf_index of a registered buffer
     * @return this entry
     */
    public Sqe bufIndex(int index) {
        sqes.set(ValueLayout.JAVA_SHORT, at(Uring.SQE_BUF_INDEX), (short) index);
        return this;
    }

    /**
     * Sets the credentials to run the request with.
     *
     * @param personality an id from IORING_REGISTER_PERSONALITY
     * @return this entry
     */
    public Sqe personality(int personality) {
        sqes.set(ValueLayout.JAVA_SHORT, at(Uring.SQE_PERSONALITY), (short) personality);
        return this;
    }

    /**
     * {@code splice_fd_in} / {@code file_index} / {@code addr_len}.
     *
     * @param value the fd, slot or address length, by operation
     * @return this entry
     */
    public Sqe fileIndex(int value) {
        sqes.set(ValueLayout.JAVA_INT, at(Uring.SQE_FILE_INDEX), value);
        return this;
    }

    /**
     * Sets the third address.
     *
     * @param addr3 a native address, by operation
     * @return this entry
     */
    public Sqe addr3(long addr3) {
        sqes.set(ValueLayout.JAVA_LONG, at(Uring.SQE_ADDR3), addr3);
        return this;
    }

    void userData(long ud) {
        sqes.set(ValueLayout.JAVA_LONG, at(Uring.SQE_USER_DATA), ud);
    }
}
