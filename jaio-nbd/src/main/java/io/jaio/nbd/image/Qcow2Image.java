// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd.image;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import io.jaio.AioContext;
import io.jaio.block.FileIoEngine;
import io.jaio.coroutine.CoFileIo;
import io.jaio.coroutine.CoMutex;
import io.jaio.coroutine.CoRwLock;
import io.jaio.coroutine.Coroutine;

import static io.jaio.nbd.image.Qcow2Header.BE_INT;
import static io.jaio.nbd.image.Qcow2Header.BE_LONG;

/**
 * A qcow2 image served through the {@link BlockDriver} seam, as QEMU's block/qcow2.c serves it:
 * every request runs as a {@link Coroutine} on the connection's I/O thread, with the metadata
 * (L2 tables, refcounts) under one {@link CoMutex} and the data I/O through the connection's
 * {@link FileIoEngine} outside it.
 *
 * <p>Locks. {@code meta} guards the table caches and refcounts; it is held for lookups and for
 * the whole of an allocating write (so two writes into one new cluster are ordered), not for
 * reads and writes of data in clusters already allocated. {@code clusters} (a CoRwLock) keeps a
 * host cluster from being released under an I/O that uses it: reads and writes hold it shared,
 * write-zeroes and discard (which release clusters) exclusive. Order: {@code clusters} before
 * {@code meta}. A backing image has its own locks and never takes its overlay's.
 *
 * <p>Threading: see {@link BlockDriver}. The coroutines of several I/O threads may share one
 * image; the locks are thread-safe and order the table state between them.
 */
public final class Qcow2Image implements BlockDriver {
    static final ValueLayout.OfShort BE_SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(java.nio.ByteOrder.BIG_ENDIAN);
    private static final System.Logger LOG = System.getLogger("io.jaio.nbd");

    final String path;
    final int fd;
    final Qcow2Header header;
    final int clusterBits;
    final int clusterSize;
    private final boolean readOnly;
    final BlockDriver backing;
    /** First bytes of cluster 0 as last written: rewritten whole when a header field changes. */
    private final MemorySegment headerChunk;
    final Qcow2Tables tables;
    final Qcow2Refcounts refcounts;
    private final Qcow2Writer writer;
    final CoMutex meta = new CoMutex();
    final CoRwLock clusters = new CoRwLock();
    /** The file's size as far as this image knows (grows with allocations); guarded by meta, read racily for checks. */
    private volatile long fileSize;

    Qcow2Image(String path, int fd, Qcow2Header header, MemorySegment headerChunk, long fileSize, long[] l1, long[] refTable,
            boolean readOnly, BlockDriver backing) {
        this.path = path;
        this.fd = fd;
        this.header = header;
        this.clusterBits = header.clusterBits;
        this.clusterSize = header.clusterSize;
        this.headerChunk = headerChunk;
        this.fileSize = fileSize;
        this.readOnly = readOnly;
        this.backing = backing;
        this.tables = new Qcow2Tables(this, l1);
        this.refcounts = refTable == null ? null : new Qcow2Refcounts(this, refTable);
        this.writer = readOnly ? null : new Qcow2Writer(this);
    }

    @Override
    public String format() {
        return "qcow2";
    }

    @Override
    public long size() {
        return header.size;
    }

    @Override
    public boolean readOnly() {
        return readOnly;
    }

    @Override
    public int rawFd() {
        return -1;
    }

    /** The backing image, or null. */
    public BlockDriver backing() {
        return backing;
    }

    // ---- the asynchronous surface: one coroutine per request ----

    /** One request's body, run in its coroutine; returns its result. */
    @FunctionalInterface
    private interface CoOp {
        long run();
    }

    /**
     * Runs {@code op} in a new coroutine entered by the current context's next poll (never
     * inside this call, as the engine contract wants), then completes {@code done} with its
     * result; a {@link Qcow2Error} becomes its {@code -errno} and is logged once.
     */
    private void start(FileIoEngine.Completion done, String what, CoOp op) {
        AioContext ctx = AioContext.current();
        Coroutine co = Coroutine.create(() -> {
            long r;
            try {
                r = op.run();
            } catch (Qcow2Error e) {
                LOG.log(System.Logger.Level.WARNING, () -> "qcow2 " + path + ": " + what + ": " + e.getMessage());
                r = -e.errno;
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.WARNING, "qcow2 " + path + ": " + what + " failed", e);
                r = -Qcow2Error.EIO;
            }
            done.complete(r);
        });
        co.scheduleIn(ctx);
    }

    @Override
    public void read(FileIoEngine engine, long offset, MemorySegment buf, FileIoEngine.Completion done) {
        start(done, "read", () -> coRead(engine, offset, buf));
    }

    @Override
    public void write(FileIoEngine engine, long offset, MemorySegment buf, boolean fua, FileIoEngine.Completion done) {
        if (writer == null) {
            throw new IllegalStateException("write to read-only qcow2 image " + path);
        }
        start(done, "write", () -> writer.write(engine, offset, buf, fua));
    }

    /** Metadata is written through, so one fdatasync makes every completed write durable. */
    @Override
    public void flush(FileIoEngine engine, FileIoEngine.Completion done) {
        engine.flush(fd, done);
    }

    @Override
    public void discard(FileIoEngine engine, long offset, long length, FileIoEngine.Completion done) {
        start(done, "discard", () -> writer.zeroes(engine, offset, length, true, true));
    }

    @Override
    public void writeZeroes(FileIoEngine engine, long offset, long length, boolean mayUnmap, FileIoEngine.Completion done) {
        start(done, "write zeroes", () -> writer.zeroes(engine, offset, length, mayUnmap, false));
    }

    /** {@link #coStatus} as a request: {@code out} is filled before {@code done} runs. */
    public void status(FileIoEngine engine, long offset, long length, long[] out, FileIoEngine.Completion done) {
        start(done, "block status", () -> coStatus(engine, offset, length, out));
    }

    // ---- reading ----

    @Override
    public long coRead(FileIoEngine e, long offset, MemorySegment buf) {
        long len = buf.byteSize();
        if (offset >= header.size) { // an overlay larger than this backing file: zeroes
            buf.fill((byte) 0);
            return len;
        }
        if (len > header.size - offset) {
            buf.asSlice(header.size - offset).fill((byte) 0);
            buf = buf.asSlice(0, header.size - offset);
        }
        clusters.rdlock();
        try {
            readLocked(e, offset, buf);
        } finally {
            clusters.unlock();
        }
        return len;
    }

    private void readLocked(FileIoEngine e, long offset, MemorySegment buf) {
        long len = buf.byteSize();
        long pos = 0;
        while (pos < len) { // bounded: each round consumes at least one byte
            long g = offset + pos;
            long cl = g >>> clusterBits;
            long in = g & (clusterSize - 1);
            long n = Math.min(len - pos, clusterSize - in);
            long entry;
            meta.lock();
            try {
                entry = tables.l2Entry(e, cl);
                long host = Qcow2Tables.hostOffset(entry);
                if (!Qcow2Tables.isCompressed(entry) && !Qcow2Tables.isZero(entry) && host != 0) {
                    checkClusterOffset(host, "L2 entry of guest cluster " + cl);
                    // contiguous host clusters: one read
                    while (pos + n < len) {
                        long next = tables.l2Entry(e, cl + 1);
                        if (Qcow2Tables.isCompressed(next) || Qcow2Tables.isZero(next)
                                || Qcow2Tables.hostOffset(next) != host + ((cl + 1 - (g >>> clusterBits)) << clusterBits)) {
                            break;
                        }
                        cl++;
                        n += Math.min(len - pos - n, clusterSize);
                    }
                }
            } finally {
                meta.unlock();
            }
            MemorySegment dst = buf.asSlice(pos, n);
            long host = Qcow2Tables.hostOffset(entry);
            if (Qcow2Tables.isCompressed(entry)) {
                MemorySegment tmp = scratch(clusterSize);
                tables.readCompressed(e, entry, tmp, cl);
                MemorySegment.copy(tmp, in, dst, 0, n);
            } else if (Qcow2Tables.isZero(entry)) {
                dst.fill((byte) 0);
            } else if (host == 0) {
                if (backing != null) {
                    Qcow2Error.check(backing.coRead(e, g, dst), "read of the backing file " + header.backingFile);
                } else {
                    dst.fill((byte) 0);
                }
            } else {
                Qcow2Error.check(CoFileIo.read(e, fd, host + in, dst), "read of data at " + (host + in));
            }
            pos += n;
        }
    }

    // ---- status ----

    /** Up to this many clusters are classified per call, so one call holds the lock briefly. */
    private static final int STATUS_CLUSTERS = 8192;

    @Override
    public long coStatus(FileIoEngine e, long offset, long length, long[] out) {
        long end = Math.min(offset + length, header.size);
        if (offset >= header.size) {
            out[0] = length;
            out[1] = STATUS_HOLE | STATUS_ZERO;
            out[2] = 0;
            return 0;
        }
        int kind;
        long n;
        meta.lock();
        try {
            long cl = offset >>> clusterBits;
            kind = kind(tables.l2Entry(e, cl));
            long stop = ((cl + 1) << clusterBits);
            for (int i = 0; i < STATUS_CLUSTERS && stop < end && kind(tables.l2Entry(e, stop >>> clusterBits)) == kind; i++) {
                stop += clusterSize;
            }
            n = Math.min(stop, end) - offset;
        } finally {
            meta.unlock();
        }
        if (kind == 0 && backing != null && offset >= backing.size()) {
            // Past the end of a shorter backing file: QEMU counts it as the backing file's (zeroes it supplies).
            out[0] = n;
            out[1] = STATUS_HOLE | STATUS_ZERO;
            out[2] = 2;
            return 0;
        }
        if (kind == 0 && backing != null) {
            long r = backing.coStatus(e, offset, Math.min(n, backing.size() - offset), out);
            if (r < 0) {
                return r;
            }
            out[2] = out[2] == 0 ? 0 : out[2] + 1;
            return 0;
        }
        out[0] = n;
        out[1] = kind == 2 ? 0 : STATUS_HOLE | STATUS_ZERO;
        out[2] = kind == 0 ? 0 : 1;
        return 0;
    }

    /** 0 unallocated, 1 zero cluster, 2 data (standard or compressed). */
    private static int kind(long entry) {
        if (Qcow2Tables.isCompressed(entry)) {
            return 2;
        }
        if (Qcow2Tables.isZero(entry)) {
            return 1;
        }
        return Qcow2Tables.hostOffset(entry) == 0 ? 0 : 2;
    }

    // ---- helpers for the tables, refcounts and writer ----

    /** Refuses a table or data offset that is misaligned or past the end of the file. */
    void checkClusterOffset(long off, String what) {
        if ((off & (clusterSize - 1)) != 0 || off < clusterSize || off >= fileSize) {
            throw new Qcow2Error(Qcow2Error.EIO, what + " points to " + off + " (expected a cluster-aligned offset after the"
                    + " header, inside the file of " + fileSize + " bytes): the image is corrupt, see qemu-img check");
        }
    }

    long fileSize() {
        return fileSize;
    }

    /** Notes that the file now reaches {@code end} (an allocation). Under meta. */
    void extendFile(long end) {
        if (end > fileSize) {
            fileSize = end;
        }
    }

    void flushOrThrow(FileIoEngine e) {
        Qcow2Error.check(CoFileIo.flush(e, fd), "flush");
    }

    /** Rewrites the header chunk with the current refcount table and feature fields. Under meta. */
    void writeHeader(FileIoEngine e) {
        fillHeader();
        Qcow2Error.check(CoFileIo.write(e, fd, 0, headerChunk, false), "write of the header");
    }

    void fillHeader() {
        headerChunk.set(BE_LONG, 48, header.refcountTableOffset);
        headerChunk.set(BE_INT, 56, header.refcountTableClusters);
        if (header.version >= 3) {
            headerChunk.set(BE_LONG, 72, header.incompatible);
            headerChunk.set(BE_LONG, 88, header.autoclear);
        }
    }

    MemorySegment headerChunk() {
        return headerChunk;
    }

    /** A fresh 4 KiB-aligned native buffer of {@code n} bytes (freed by the GC). */
    MemorySegment scratch(int n) {
        return Arena.ofAuto().allocate(Math.max(n, 1), 4096).asSlice(0, n);
    }

    MemorySegment compressedScratch(int n) {
        return scratch(n);
    }

    @Override
    public int syncNow() {
        return io.jaio.Fds.fdatasync(fd);
    }

    @Override
    public void close() {
        try {
            io.jaio.Fds.close(fd);
        } catch (io.jaio.ErrnoException ignored) {
            // closing at exit: nothing left to report it to
        }
        if (backing != null) {
            backing.close();
        }
    }

    @Override
    public String toString() {
        return "qcow2 v" + header.version + " " + path + " (" + header.size + " bytes, " + clusterSize + "-byte clusters"
                + (backing != null ? ", backing " + header.backingFile : "") + ")";
    }
}
