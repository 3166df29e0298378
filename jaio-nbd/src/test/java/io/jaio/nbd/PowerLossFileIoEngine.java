// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import io.jaio.AioContext;
import io.jaio.block.FileIoEngine;

/**
 * A test-only {@link FileIoEngine} that simulates a disk with a volatile write cache, for the
 * power-loss tests: what was written since the last completed flush is in a volatile layer, and a
 * simulated power cut ({@link #cut}) keeps only a random subset of it, each write torn into its
 * 4 KiB-aligned pieces, which are kept or lost one by one.
 *
 * <p>How: the file itself holds what the page cache would, so reads, SEEK_DATA (block status) and
 * anything else that looks at the file see every completed write, as a real cache would show
 * them. Each write that is not durable yet is also recorded in the volatile layer with the bytes
 * it replaced (an undo record) and the bytes it wrote. Durable means: written with FUA, or
 * completed before a flush was issued that has completed. A FUA write removes its range from the
 * older records (a drive's cache does not write back a block a later FUA write has replaced). At a
 * cut every record is undone, newest first, which leaves the durable image, and then each 4 KiB
 * piece of each record is written again with probability 1/2, oldest first: the device wrote back
 * some of its cache, in no order a flush constrains, and tore writes at sector groups.
 *
 * <p>No fdatasync is issued: the simulated disk is the file, and what a real flush would add (the
 * page cache reaching the device) is what this engine models. All file access is synchronous
 * positional I/O on a channel of the same file (through {@code /proc/self/fd}; one per fd, so a
 * qcow2 image's data and metadata and its backing file's reads all pass here), so each operation's effect and its undo record are taken at once in the
 * order the server issued them; the completion is still delivered later, from a one-shot bottom
 * half, as the {@link FileIoEngine} contract requires. After {@link #cut} the engine is dead: every
 * completion not yet delivered and every later operation reports {@code -EIO} and touches nothing,
 * so an acknowledgement a client receives is always of an operation that completed before the cut.
 * Write zeroes and discard are recorded as writes of zeroes. One volatile layer covers all the
 * files, and a flush of any of them makes all of them durable (the image's files share one disk).
 *
 * <p>Threading: home thread of {@code ctx} only, {@link #cut} included (run it from a one-shot).
 */
final class PowerLossFileIoEngine implements FileIoEngine {
    static final int PIECE = 4096;
    static final int EIO = 5;

    /** One write not yet durable: the file, the bytes it replaced and the bytes it wrote. */
    private static final class Record {
        final FileChannel file;
        final long offset;
        final byte[] before;
        final byte[] after;
        /** Pieces still volatile; a FUA write over a piece clears it (superseded, durable). */
        final boolean[] live;
        /** Flush generation in which the write completed: a flush issued later makes it durable. */
        final long generation;

        Record(FileChannel file, long offset, byte[] before, byte[] after, long generation) {
            this.file = file;
            this.offset = offset;
            this.before = before;
            this.after = after;
            this.generation = generation;
            this.live = new boolean[pieces(offset, after.length)];
            java.util.Arrays.fill(live, true);
        }
    }

    private final AioContext ctx;
    /**
     * The files, by the fd the server passes, each opened at its first operation (/proc/self/fd):
     * a qcow2 image's own file and its backing chain's files go through one engine. Few (a chain).
     */
    private final java.util.Map<Integer, FileChannel> files = new java.util.HashMap<>();
    private final List<Record> volatileLayer = new ArrayList<>();
    /** Incremented when a flush is issued; records of older generations are made durable by it. */
    private long generation;
    private boolean dead;
    long writes;
    long fuaWrites;
    long flushes;
    long piecesKept;
    long piecesLost;

    PowerLossFileIoEngine(AioContext ctx) {
        this.ctx = ctx;
    }

    /** The context whose home thread runs this engine. */
    AioContext context() {
        return ctx;
    }

    private FileChannel open(int fd) {
        FileChannel file = files.get(fd);
        if (file == null) {
            try {
                file = FileChannel.open(Path.of("/proc/self/fd/" + fd), StandardOpenOption.READ, StandardOpenOption.WRITE);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            files.put(fd, file);
        }
        return file;
    }

    @Override
    public String name() {
        return "power-loss";
    }

    @Override
    public void read(int fd, long offset, MemorySegment buf, Completion done) {
        check(offset, buf.byteSize());
        FileChannel file = open(fd);
        if (dead) {
            finish(done, -EIO);
            return;
        }
        byte[] b = pread(file, offset, (int) buf.byteSize());
        MemorySegment.copy(MemorySegment.ofArray(b), 0, buf, 0, b.length);
        finish(done, b.length);
    }

    @Override
    public void write(int fd, long offset, MemorySegment buf, boolean fua, Completion done) {
        check(offset, buf.byteSize());
        FileChannel file = open(fd);
        if (dead) {
            finish(done, -EIO);
            return;
        }
        byte[] data = buf.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
        apply(file, offset, data, fua);
        finish(done, data.length);
    }

    @Override
    public void flush(int fd, Completion done) {
        open(fd);
        if (dead) {
            finish(done, -EIO);
            return;
        }
        long issuedAt = ++generation; // records completed before this point become durable
        flushes++;
        ctx.scheduleOneShot("power-loss-flush", () -> {
            if (dead) {
                done.complete(-EIO);
                return;
            }
            volatileLayer.removeIf(r -> r.generation < issuedAt);
            done.complete(0);
        });
    }

    @Override
    public void discard(int fd, long offset, long length, Completion done) {
        writeZeroes(fd, offset, length, true, done);
    }

    @Override
    public void writeZeroes(int fd, long offset, long length, boolean mayUnmap, Completion done) {
        check(offset, length);
        FileChannel file = open(fd);
        if (dead) {
            finish(done, -EIO);
            return;
        }
        if (length > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("length=" + length + " (expected <= 2 GiB in this test engine)");
        }
        apply(file, offset, new byte[(int) length], false);
        finish(done, 0);
    }

    private void apply(FileChannel file, long offset, byte[] data, boolean fua) {
        writes++;
        if (fua) {
            fuaWrites++;
            pwrite(file, offset, data);
            supersede(file, offset, data.length);
        } else {
            byte[] before = pread(file, offset, data.length);
            pwrite(file, offset, data);
            volatileLayer.add(new Record(file, offset, before, data, generation));
        }
    }

    /** A durable write over [offset, offset + length) of {@code file}: older records' pieces there are no longer volatile. */
    private void supersede(FileChannel file, long offset, long length) {
        for (Record r : volatileLayer) {
            long end = r.offset + r.after.length;
            if (r.file != file || end <= offset || r.offset >= offset + length) {
                continue;
            }
            for (int i = 0; i < r.live.length; i++) {
                long ps = Math.max(r.offset, pieceStart(r.offset, i));
                long pe = Math.min(end, pieceStart(r.offset, i + 1));
                if (ps >= offset && pe <= offset + length) {
                    r.live[i] = false; // wholly overwritten by the durable write
                } else if (ps < offset + length && pe > offset && r.live[i]) {
                    // partly overwritten: the piece's other bytes stay volatile; keep the durable
                    // bytes out of both its undo and its redo by copying the new data into both
                    long cs = Math.max(ps, offset);
                    long ce = Math.min(pe, offset + length);
                    byte[] now = pread(file, cs, (int) (ce - cs));
                    System.arraycopy(now, 0, r.before, (int) (cs - r.offset), now.length);
                    System.arraycopy(now, 0, r.after, (int) (cs - r.offset), now.length);
                }
            }
        }
    }

    /**
     * The power cut: undoes every volatile record, newest first, then writes back each live 4 KiB
     * piece with probability 1/2, oldest first; from now on the engine fails everything.
     */
    void cut(Random rnd) {
        dead = true;
        for (int k = volatileLayer.size() - 1; k >= 0; k--) {
            Record r = volatileLayer.get(k);
            for (int i = 0; i < r.live.length; i++) {
                if (r.live[i]) {
                    writePiece(r, i, r.before);
                }
            }
        }
        for (Record r : volatileLayer) {
            for (int i = 0; i < r.live.length; i++) {
                if (!r.live[i]) {
                    continue;
                }
                if (rnd.nextBoolean()) {
                    writePiece(r, i, r.after);
                    piecesKept++;
                } else {
                    piecesLost++;
                }
            }
        }
        volatileLayer.clear();
    }

    /** Closes the engine's channels (after the server stopped). */
    void close() {
        try {
            for (FileChannel file : files.values()) {
                file.close();
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        files.clear();
    }

    private void writePiece(Record r, int i, byte[] src) {
        long ps = Math.max(r.offset, pieceStart(r.offset, i));
        long pe = Math.min(r.offset + r.after.length, pieceStart(r.offset, i + 1));
        pwrite(r.file, ps, java.util.Arrays.copyOfRange(src, (int) (ps - r.offset), (int) (pe - r.offset)));
    }

    /** Start of the i-th 4 KiB piece of a write at {@code offset} (piece 0 starts at the aligned block below). */
    private static long pieceStart(long offset, int i) {
        return (offset / PIECE + i) * PIECE;
    }

    private static int pieces(long offset, int length) {
        if (length == 0) {
            return 0;
        }
        return (int) ((offset + length - 1) / PIECE - offset / PIECE + 1);
    }

    /** Delivers a result from a one-shot, or -EIO if the power went in between. */
    private void finish(Completion done, long result) {
        ctx.scheduleOneShot("power-loss-done", () -> done.complete(dead ? -EIO : result));
    }

    private static void check(long offset, long length) {
        if (offset < 0 || length < 0 || offset + length < 0) {
            throw new IllegalArgumentException("offset=" + offset + " length=" + length + " (expected >= 0, no overflow)");
        }
    }

    private static byte[] pread(FileChannel file, long offset, int length) {
        ByteBuffer b = ByteBuffer.allocate(length);
        try {
            while (b.hasRemaining()) {
                if (file.read(b, offset + b.position()) < 0) {
                    break; // past the end: zeroes, as the contract says
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return b.array();
    }

    private static void pwrite(FileChannel file, long offset, byte[] data) {
        ByteBuffer b = ByteBuffer.wrap(data);
        try {
            while (b.hasRemaining()) {
                file.write(b, offset + b.position());
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
