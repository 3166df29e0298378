// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import io.jaio.ErrnoException;
import io.jaio.Fds;
import io.jaio.nbd.image.BlockDriver;
import io.jaio.nbd.image.ImageException;
import io.jaio.nbd.image.Images;
import io.jaio.nbd.image.RawImage;

/**
 * The served image: its {@link BlockDriver} (raw: the open fd itself; qcow2: the format's
 * tables over it), its guest size and the export's flags. Immutable after open; any thread
 * (the driver is shared by every connection's file engine).
 */
final class Export {
    final String name;
    final String path;
    /** The raw image's fd (SEEK_DATA, readahead), or -1 for a format with tables. */
    final int fd;
    final long size;
    final BlockDriver driver;
    final boolean readOnly;
    final boolean direct;
    final int transmissionFlags;
    // The two options below are set once by open(ServeOptions, ...) before the server starts its
    // I/O threads, whose start publishes them; read-only afterwards.
    /** {@code --snapshot}: the temporary directory of the served overlay, deleted on close; else null. */
    Path overlayDir;
    /** {@code --discard=ignore}: TRIM succeeds without touching the image. */
    boolean discardIgnore;
    /** {@code --detect-zeroes}: 0 off, 1 on (zero writes become write-zeroes), 2 unmap (and may deallocate). */
    int detectZeroes;

    private Export(String name, String path, BlockDriver driver, boolean readOnly, boolean direct, boolean multiConn) {
        this.name = name;
        this.path = path;
        this.driver = driver;
        this.fd = driver.rawFd();
        this.size = driver.size();
        this.readOnly = readOnly;
        this.direct = direct;
        int f = Nbd.TF_HAS_FLAGS | Nbd.TF_SEND_FLUSH | Nbd.TF_SEND_FUA | Nbd.TF_SEND_DF | Nbd.TF_SEND_CACHE;
        if (readOnly) {
            f |= Nbd.TF_READ_ONLY;
        } else {
            f |= Nbd.TF_SEND_TRIM | Nbd.TF_SEND_WRITE_ZEROES | Nbd.TF_SEND_FAST_ZERO;
        }
        // One file and one page cache behind every connection, so a flush on any connection makes
        // every acknowledged write durable, which is what multi-conn promises. It is advertised only
        // when the server lets more than one client in at once (-e other than 1), as qemu-nbd does:
        // a client such as nbdcopy that sees it opens several connections, and with -e 1 the second
        // would wait in the listen queue until the first leaves, which it never does.
        if (multiConn) {
            f |= Nbd.TF_CAN_MULTI_CONN;
        }
        this.transmissionFlags = f;
    }

    /**
     * Opens {@code path}. Errors are one clear line: missing, a directory, unreadable. An empty
     * image is served as an export of size 0 (every request with a length is out of range).
     */
    static Export open(String name, String path, boolean readOnly, boolean direct) throws ServeOptions.UsageException {
        return open(name, path, readOnly, direct, "raw");
    }

    /**
     * Opens {@code path} as the options say: read-only, cache, format ({@code format}, null:
     * probed), discard, detect-zeroes, and with {@code --snapshot} a temporary qcow2 overlay over
     * it (the overlay's directory is deleted by {@link #close()}).
     */
    static Export open(ServeOptions opts, String path, String format) throws ServeOptions.UsageException {
        Path overlay = opts.snapshot ? snapshotOverlay(opts, path, format) : null;
        Export e;
        try {
            e = overlay != null ? open(opts.exportName, overlay.resolve("overlay.qcow2").toString(), false, false, "qcow2", opts.shared != 1)
                    : open(opts.exportName, path, opts.readOnly, opts.cacheNone, format, opts.shared != 1);
        } catch (ServeOptions.UsageException | RuntimeException ex) {
            if (overlay != null) {
                NbdMain.deleteTree(overlay);
            }
            throw ex;
        }
        e.overlayDir = overlay;
        e.discardIgnore = "ignore".equals(opts.discard);
        e.detectZeroes = switch (opts.detectZeroes) {
            case "on" -> 1;
            case "unmap" -> 2;
            default -> 0;
        };
        return e;
    }

    /**
     * Opens {@code path} as {@code format} ("raw" or "qcow2"; null: probed, qcow2 if it starts
     * with qcow2's magic). A qcow2 image's header, tables and backing chain are checked here,
     * and a refusal is one line naming the value and what was expected.
     */
    static Export open(String name, String path, boolean readOnly, boolean direct, String format) throws ServeOptions.UsageException {
        return open(name, path, readOnly, direct, format, true);
    }

    /**
     * As {@link #open(String, String, boolean, boolean, String)}; {@code multiConn}: advertise
     * multi-conn, which a server should only do when it admits more than one client at once.
     */
    static Export open(String name, String path, boolean readOnly, boolean direct, String format, boolean multiConn)
            throws ServeOptions.UsageException {
        Path p = Path.of(path);
        if (!Files.exists(p)) {
            throw new ServeOptions.UsageException("image " + path + " does not exist (expected a raw or qcow2 image file, or a block device)");
        }
        if (Files.isDirectory(p)) {
            throw new ServeOptions.UsageException("image " + path + " is a directory (expected a raw or qcow2 image file, or a block device)");
        }
        String fmt = format != null ? format : Images.looksLikeQcow2(path) ? "qcow2" : "raw";
        if (direct && fmt.equals("qcow2")) {
            throw new ServeOptions.UsageException("--cache=none with the qcow2 image " + path
                    + " (expected --cache=writeback: qcow2 is served through the page cache)");
        }
        int flags = (readOnly ? Fds.O_RDONLY : Fds.O_RDWR) | (direct ? Fds.O_DIRECT : 0);
        int fd;
        try {
            fd = Fds.open(path, flags, 0);
        } catch (ErrnoException e) {
            throw new ServeOptions.UsageException(openFailure(path, readOnly, direct, e));
        }
        long size;
        try {
            size = Fds.size(fd);
        } catch (ErrnoException e) {
            closeQuietly(fd);
            throw new ServeOptions.UsageException("cannot size image " + path + ": " + e.getMessage()
                    + " (expected a raw or qcow2 image file, or a block device)");
        }
        if (fmt.equals("raw")) {
            return new Export(name, path, new RawImage(fd, size, readOnly), readOnly, direct, multiConn);
        }
        try {
            return new Export(name, path, Images.openQcow2(path, fd, size, readOnly), readOnly, direct, multiConn);
        } catch (ImageException e) {
            closeQuietly(fd);
            throw new ServeOptions.UsageException(e.getMessage());
        }
    }

    /** Why the image cannot be opened, and what would do: one sentence. */
    static String openFailure(String path, boolean readOnly, boolean direct, ErrnoException e) {
        String how = readOnly ? "read-only" : "read-write";
        String expected = switch (e.errnoName()) {
            case "EACCES", "EPERM" -> readOnly ? "a file this user may read"
                    : "a file this user may read and write, or -r to serve it read-only";
            case "EROFS" -> "-r for an image on a read-only file system";
            case "EINVAL" -> direct ? "a file system that takes O_DIRECT for --cache=none, or --cache=writeback"
                    : "a raw image file or block device";
            case "EBUSY", "ETXTBSY" -> "an image that no other program holds open exclusively";
            default -> "a raw image file or block device this user may open";
        };
        return "cannot open image " + path + " " + how + (direct ? " with O_DIRECT" : "") + ": "
                + e.getMessage().substring(Math.min(e.getMessage().length(), e.syscall().length() + 2))
                + " (expected " + expected + ")";
    }

    private static void closeQuietly(int fd) {
        try {
            Fds.close(fd);
        } catch (ErrnoException ignored) {
            // already failing; the first error is the one reported
        }
    }

    void close() {
        driver.close();
        if (overlayDir != null) {
            NbdMain.deleteTree(overlayDir);
        }
    }

    /**
     * {@code --snapshot}: a temporary directory holding overlay.qcow2, an empty qcow2 image over
     * {@code image} (its absolute path and format), of the image's guest size.
     */
    private static Path snapshotOverlay(ServeOptions opts, String image, String format) throws ServeOptions.UsageException {
        Export probe = open(opts.exportName, image, true, false, format);
        long size = probe.size;
        probe.close();
        Path dir = null;
        try {
            dir = Files.createTempDirectory("jaio-nbd-snapshot-");
            io.jaio.nbd.image.Qcow2Create.create(dir.resolve("overlay.qcow2"), size, Path.of(image).toAbsolutePath().toString(),
                    format);
            return dir;
        } catch (IOException e) {
            if (dir != null) {
                NbdMain.deleteTree(dir);
            }
            throw new ServeOptions.UsageException("--snapshot: cannot make the temporary overlay in "
                    + System.getProperty("java.io.tmpdir") + ": " + NbdMain.describe(e) + " (expected a writable temporary directory)");
        }
    }

}
