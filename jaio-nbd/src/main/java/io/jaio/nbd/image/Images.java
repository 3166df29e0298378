// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd.image;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;

import io.jaio.ErrnoException;
import io.jaio.Fds;

import static io.jaio.nbd.image.Qcow2Header.BE_INT;
import static io.jaio.nbd.image.Qcow2Header.BE_LONG;

/**
 * Opening images: the format probe (qcow2 magic, else raw), qcow2's header checks, its L1 and
 * refcount tables, and its backing chain (a relative backing name is resolved against the
 * overlay's directory, as QEMU does; the format comes from the backing-format header extension
 * or is probed). Runs once at start-up, before serving, with blocking reads. Any thread.
 */
public final class Images {
    /** Backing chains longer than this are refused (a loop, or nothing anyone serves). */
    static final int MAX_CHAIN = 64;

    private Images() {
    }

    /**
     * An opened file: fd and size, for the caller to wrap.
     *
     * @param fd the open file descriptor, owned by the caller
     * @param size the file's size in bytes
     */
    public record Opened(int fd, long size) {
    }

    /** Whether the file at {@code path} starts with the qcow2 magic (false when shorter or unreadable). */
    public static boolean looksLikeQcow2(String path) {
        try (var in = Files.newInputStream(Path.of(path))) {
            byte[] b = in.readNBytes(4);
            return b.length == 4 && (b[0] & 0xff) == 'Q' && (b[1] & 0xff) == 'F' && (b[2] & 0xff) == 'I' && (b[3] & 0xff) == 0xfb;
        } catch (java.io.IOException e) {
            return false;
        }
    }

    /**
     * Opens the qcow2 image at {@code path} whose fd the caller opened ({@code readOnly} as the fd
     * was opened), and its backing chain, read-only.
     */
    public static Qcow2Image openQcow2(String path, int fd, long fileSize, boolean readOnly) throws ImageException {
        return openQcow2(path, fd, fileSize, readOnly, new HashSet<>(), 0);
    }

    private static Qcow2Image openQcow2(String path, int fd, long fileSize, boolean readOnly, Set<String> chain, int depth)
            throws ImageException {
        MemorySegment first = readAt(path, fd, 0, (int) Math.min(fileSize, 104), 104);
        int bits = fileSize >= 24 ? first.get(BE_INT, 20) : 0;
        int cs = bits >= 9 && bits <= 21 ? 1 << bits : 104;
        MemorySegment cluster0 = readAt(path, fd, 0, (int) Math.min(fileSize, cs), Math.max(cs, 104));
        Qcow2Header h = Qcow2Header.parse(path, cluster0, fileSize);
        if (!readOnly) {
            if (h.corrupt()) {
                throw new ImageException("qcow2 image " + path + " is marked corrupt (expected -r to read it, or a repair"
                        + " with qemu-img check -r all first)");
            }
            if (h.dirty()) {
                throw new ImageException("qcow2 image " + path + " is marked dirty: its refcounts may be stale after lazy"
                        + " refcount updates (expected a repair with qemu-img check -r all first, or -r to read it)");
            }
            if (h.nbSnapshots != 0) {
                throw new ImageException("qcow2 image " + path + " has " + Integer.toUnsignedString(h.nbSnapshots)
                        + " internal snapshots (expected an image without them for writing, or -r to read it)");
            }
        }
        long[] l1 = readTable(path, fd, h.l1Offset, h.l1Size);
        long[] refTable = readOnly ? null
                : readTable(path, fd, h.refcountTableOffset, (int) ((long) h.refcountTableClusters * h.clusterSize / 8));
        BlockDriver backing = h.backingFile == null ? null : openBacking(path, h, chain, depth);
        MemorySegment headerChunk = Arena.ofAuto().allocate(Math.min(h.clusterSize, Qcow2Tables.CHUNK), 4096);
        MemorySegment.copy(cluster0, 0, headerChunk, 0, headerChunk.byteSize());
        Qcow2Image img = new Qcow2Image(path, fd, h, headerChunk, fileSize, l1, refTable, readOnly, backing);
        if (!readOnly && h.autoclear != 0) {
            // We do not keep bitmaps (or any other auto-clear feature) up to date: say so before writing.
            h.autoclear = 0;
            img.fillHeader();
            if (Fds.pwrite(fd, headerChunk, 0) != headerChunk.byteSize() || Fds.fdatasync(fd) != 0) {
                throw new ImageException("qcow2 image " + path + ": cannot clear its auto-clear feature bits (expected a writable image)");
            }
        }
        return img;
    }

    private static BlockDriver openBacking(String path, Qcow2Header h, Set<String> chain, int depth) throws ImageException {
        String name = h.backingFile;
        if (name.startsWith("json:") || name.contains("://")) {
            throw new ImageException("qcow2 image " + path + ": backing file '" + name + "' (expected a file name; json: and"
                    + " protocol backing files are not served)");
        }
        Path p = Path.of(name);
        if (!p.isAbsolute()) {
            Path dir = Path.of(path).toAbsolutePath().getParent();
            p = dir.resolve(name);
        }
        String bpath = p.toString();
        String real;
        try {
            real = p.toRealPath().toString();
        } catch (java.io.IOException e) {
            throw new ImageException("qcow2 image " + path + ": backing file " + bpath + " cannot be opened: "
                    + (e instanceof java.nio.file.NoSuchFileException ? "no such file" : e.getMessage())
                    + " (expected the backing file named in the image's header)");
        }
        chain.add(Path.of(path).toAbsolutePath().normalize().toString());
        if (!chain.add(real) || depth + 1 > MAX_CHAIN) {
            throw new ImageException("qcow2 image " + path + ": backing chain loops or is deeper than " + MAX_CHAIN
                    + " at " + bpath + " (expected a chain of distinct files)");
        }
        String fmt = h.backingFormat;
        if (fmt == null) {
            fmt = looksLikeQcow2(bpath) ? "qcow2" : "raw";
        } else if (!fmt.equals("raw") && !fmt.equals("qcow2")) {
            throw new ImageException("qcow2 image " + path + ": backing format '" + fmt + "' of " + bpath
                    + " (expected raw or qcow2)");
        }
        int fd;
        long size;
        try {
            fd = Fds.open(bpath, Fds.O_RDONLY, 0);
            size = Fds.size(fd);
        } catch (ErrnoException e) {
            throw new ImageException("qcow2 image " + path + ": cannot open backing file " + bpath + ": " + e.getMessage()
                    + " (expected a readable file)");
        }
        try {
            if (fmt.equals("raw")) {
                return new RawImage(fd, size, true);
            }
            return openQcow2(bpath, fd, size, true, chain, depth + 1);
        } catch (ImageException | RuntimeException e) {
            try {
                Fds.close(fd);
            } catch (ErrnoException ignored) {
                // the first error is the one reported
            }
            throw e;
        }
    }

    private static MemorySegment readAt(String path, int fd, long off, int n, int cap) throws ImageException {
        MemorySegment buf = Arena.ofAuto().allocate(Math.max(cap, 1), 4096);
        long done = 0;
        while (done < n) { // bounded: each round reads at least one byte or fails
            long r = Fds.pread(fd, buf.asSlice(done, n - done), off + done);
            if (r < 0) {
                throw new ImageException("qcow2 image " + path + ": read at " + (off + done) + " failed: errno " + (-r)
                        + " (expected a readable file)");
            }
            if (r == 0) {
                break; // end of file: the rest stays zero (sizes were checked against the file already)
            }
            done += r;
        }
        return buf;
    }

    private static long[] readTable(String path, int fd, long off, int entries) throws ImageException {
        if (entries < 0) {
            throw new ImageException("qcow2 image " + path + ": table of " + Integer.toUnsignedString(entries)
                    + " entries (expected a table size QEMU accepts)");
        }
        MemorySegment buf = readAt(path, fd, off, entries * 8, entries * 8);
        long[] t = new long[entries];
        for (int i = 0; i < entries; i++) {
            t[i] = buf.getAtIndex(BE_LONG, i);
        }
        return t;
    }
}
