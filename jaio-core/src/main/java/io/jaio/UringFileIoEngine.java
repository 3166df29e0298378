package io.jaio;

import java.lang.foreign.MemorySegment;

/** The io_uring {@link FileIoEngine}. Home thread only. */
final class UringFileIoEngine implements FileIoEngine {
    private final AioContext ctx;

    UringFileIoEngine(AioContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public String name() {
        return "io_uring";
    }

    @Override
    public void read(int fd, long offset, MemorySegment buf, Completion done) {
        throw new UnsupportedOperationException("not yet: " + ctx.name());
    }

    @Override
    public void write(int fd, long offset, MemorySegment buf, boolean fua, Completion done) {
        throw new UnsupportedOperationException("not yet");
    }

    @Override
    public void flush(int fd, Completion done) {
        throw new UnsupportedOperationException("not yet");
    }

    @Override
    public void discard(int fd, long offset, long length, Completion done) {
        throw new UnsupportedOperationException("not yet");
    }

    @Override
    public void writeZeroes(int fd, long offset, long length, boolean mayUnmap, Completion done) {
        throw new UnsupportedOperationException("not yet");
    }
}
