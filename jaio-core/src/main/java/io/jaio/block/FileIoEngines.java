// SPDX-License-Identifier: Apache-2.0
package io.jaio.block;

import io.jaio.AioContext;
import io.jaio.internal.loop.ContextCore;

/**
 * Makes {@link FileIoEngine}s for a context. Home thread of that context.
 */
public final class FileIoEngines {
    private FileIoEngines() {
    }

    /**
     * The io_uring engine: each operation is one request on the context's ring.
     *
     * @throws IllegalStateException if the context does not run on io_uring
     */
    public static FileIoEngine ioUring(AioContext ctx) {
        ContextCore.checkHome(ctx, "FileIoEngines.ioUring()");
        ContextCore.checkOpen(ctx);
        if (!ctx.hasIoUring()) {
            throw new IllegalStateException("FileIoEngines.ioUring() on context '" + ctx.name() + "', which does not run on io_uring ("
                    + ctx.ioUringUnavailableReason() + "); check hasIoUring() first");
        }
        return new UringFileIoEngine(ctx);
    }

    /** The thread-pool engine: positional system calls on the context's thread pool. */
    public static FileIoEngine threadPool(AioContext ctx) {
        return new ThreadPoolFileIoEngine(ctx);
    }

    /** io_uring where the context has it, else the thread pool. */
    public static FileIoEngine best(AioContext ctx) {
        return ctx.hasIoUring() ? ioUring(ctx) : threadPool(ctx);
    }
}
