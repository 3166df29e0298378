// SPDX-License-Identifier: Apache-2.0
package io.jaio.examples;

import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;

import io.jaio.AioContext;
import io.jaio.Fds;
import io.jaio.block.FileIoEngine;
import io.jaio.block.FileIoEngines;
import io.jaio.coroutine.CoFileIo;
import io.jaio.coroutine.Coroutine;

/**
 * A file copy by coroutines on the io_uring file engine: four coroutines share the file, each
 * taking the next 256 KiB chunk, reading it and writing it at the same offset, and yielding to
 * the loop while the kernel works, so four reads or writes are in flight at once. Where the
 * kernel refuses io_uring the thread-pool engine does the same work (the program says which).
 *
 * <pre>
 * ./jaio example file-copy SRC DST    # copies SRC to DST
 * ./jaio example file-copy            # copies a 4 MiB temporary file and compares the copy
 * </pre>
 *
 * <p>Threading: everything runs on the context's home thread, the coroutines included (each
 * coroutine is entered by that thread and yields back to its {@code poll()}).
 */
public final class FileCopy {
    private static final int CHUNK_BYTES = 256 * 1024;
    private static final int COROUTINES = 4;

    private FileCopy() {
    }

    /** The copy's state, shared by the coroutines (all on the home thread: no locking). */
    private static final class Copy {
        final FileIoEngine engine;
        final int in;
        final int out;
        final long size;
        long nextOffset;
        int chunks;
        String error;

        Copy(FileIoEngine engine, int in, int out, long size) {
            this.engine = engine;
            this.in = in;
            this.out = out;
            this.size = size;
        }

        /** One coroutine's loop: claim a chunk, read it, write it, until the file is done. */
        void worker(MemorySegment buf) {
            while (error == null && nextOffset < size) {
                long offset = nextOffset;
                long length = Math.min(CHUNK_BYTES, size - offset);
                nextOffset += length;
                MemorySegment chunk = buf.asSlice(0, length);
                long r = CoFileIo.read(engine, in, offset, chunk); // yields until the read completes
                if (r != length) {
                    error = "read at " + offset + " returned " + r + " (expected " + length + ")";
                    return;
                }
                long w = CoFileIo.write(engine, out, offset, chunk, false);
                if (w != length) {
                    error = "write at " + offset + " returned " + w + " (expected " + length + ")";
                    return;
                }
                chunks++;
            }
        }
    }

    /**
     * Copies {@code src} to {@code dst} (created or truncated).
     *
     * @param out where the summary line goes
     * @param src the file to read
     * @param dst the file to write
     * @return the number of bytes copied
     * @throws IOException if a file cannot be opened or an operation fails
     */
    public static long copy(PrintStream out, Path src, Path dst) throws IOException {
        try (AioContext ctx = AioContext.builder().name("file-copy").build();
                Arena arena = Arena.ofShared()) { // shared: the coroutines' virtual threads touch the buffers
            ctx.makeCurrent(); // coroutines and CoFileIo find their context through AioContext.current()
            FileIoEngine engine = ctx.hasIoUring() ? FileIoEngines.ioUring(ctx) : FileIoEngines.threadPool(ctx);
            int in = Fds.open(src.toString(), Fds.O_RDONLY, 0);
            try {
                int dstFd = Fds.open(dst.toString(), Fds.O_WRONLY | Fds.O_CREAT | Fds.O_TRUNC, 0644);
                try {
                    Copy copy = new Copy(engine, in, dstFd, Fds.size(in));
                    Coroutine[] workers = new Coroutine[COROUTINES];
                    for (int i = 0; i < workers.length; i++) {
                        MemorySegment buf = arena.allocate(CHUNK_BYTES, 4096);
                        workers[i] = Coroutine.create(() -> copy.worker(buf));
                        Coroutine.enter(workers[i]); // runs until its first read is submitted
                    }
                    while (!Arrays.stream(workers).allMatch(Coroutine::isDone)) {
                        ctx.poll(true); // completions resume the coroutines
                    }
                    if (copy.error != null) {
                        throw new IOException(src + " -> " + dst + ": " + copy.error);
                    }
                    int r = Fds.fdatasync(dstFd);
                    if (r < 0) {
                        throw new IOException("fdatasync(" + dst + ") returned " + r);
                    }
                    out.println("copied " + copy.size + " bytes in " + copy.chunks + " chunks of up to "
                            + CHUNK_BYTES / 1024 + " KiB with " + COROUTINES + " coroutines on the "
                            + engine.name() + " engine");
                    return copy.size;
                } finally {
                    Fds.close(dstFd);
                }
            } finally {
                Fds.close(in);
            }
        }
    }

    /**
     * Copies {@code args[0]} to {@code args[1]}; without arguments, copies a temporary 4 MiB file
     * and checks that the copy has the same bytes.
     *
     * @param args {@code SRC DST}, or nothing
     * @throws Exception if the copy fails or differs
     */
    public static void main(String[] args) throws Exception {
        run(System.out, args);
    }

    static void run(PrintStream out, String... args) throws Exception {
        if (args.length == 2) {
            copy(out, Path.of(args[0]), Path.of(args[1]));
            return;
        }
        if (args.length != 0) {
            throw new IllegalArgumentException("arguments " + Arrays.toString(args) + " (expected SRC DST, or none)");
        }
        Path dir = Files.createTempDirectory("jaio-file-copy");
        try {
            Path src = dir.resolve("src.bin");
            Path dst = dir.resolve("dst.bin");
            byte[] data = new byte[4 * 1024 * 1024 + 12345]; // not a multiple of the chunk: the last one is short
            new Random(42).nextBytes(data);
            Files.write(src, data);
            copy(out, src, dst);
            if (Files.mismatch(src, dst) != -1) {
                throw new IOException("the copy differs from the original at byte " + Files.mismatch(src, dst));
            }
            out.println("the copy has the same " + data.length + " bytes as the original");
        } finally {
            Files.deleteIfExists(dir.resolve("src.bin"));
            Files.deleteIfExists(dir.resolve("dst.bin"));
            Files.delete(dir);
        }
    }
}
