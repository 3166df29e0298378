// SPDX-License-Identifier: Apache-2.0
package io.jaio;

import java.util.Objects;
import java.util.function.BooleanSupplier;

/**
 * The callbacks of one fd, for {@link AioContext#setFdHandler(int, FdHandler)}: a readable form of
 * the four positional, nullable callbacks of QEMU's {@code aio_set_fd_handler}. Built from
 * {@link #read}, {@link #write} or {@link #readWrite}, then {@link #withPoll} for adaptive
 * polling:
 *
 * <pre>{@code
 * ctx.setFdHandler(fd, FdHandler.read(this::onReadable));
 * ctx.setFdHandler(fd, FdHandler.read(this::onReadable).withWrite(this::onWritable));
 * ctx.setFdHandler(fd, FdHandler.read(this::onReadable).withPoll(ring::hasCompletions, this::reap));
 * }</pre>
 *
 * <p>A record with no behaviour: the context keeps the callbacks, not this object; make one per
 * registration (outside the hot path) or keep it in a field and register it again. Any component
 * may be null; a handler whose components are all null is {@link #NONE}, which removes the
 * registration like {@link AioContext#removeFdHandler}.
 *
 * <p>Threading: immutable, usable from any thread.
 *
 * @param onRead runs on the home thread when the fd is readable (or hung up, or in error), or null
 * @param onWrite runs on the home thread when the fd is writable, or null
 * @param poll during adaptive polling, says whether the fd is ready without a system call; or null
 * @param onPollReady runs on the home thread after {@code poll} returned true; {@code poll} is
 *     ignored without it
 */
public record FdHandler(Runnable onRead, Runnable onWrite, BooleanSupplier poll, Runnable onPollReady) {
    /** No callbacks: registering it removes the fd's registration. */
    public static final FdHandler NONE = new FdHandler(null, null, null, null);

    /**
     * A handler that runs {@code onRead} when the fd is readable.
     *
     * @param onRead the read callback, not null
     * @return a handler with that callback only
     */
    public static FdHandler read(Runnable onRead) {
        return new FdHandler(Objects.requireNonNull(onRead, "onRead"), null, null, null);
    }

    /**
     * A handler that runs {@code onWrite} when the fd is writable.
     *
     * @param onWrite the write callback, not null
     * @return a handler with that callback only
     */
    public static FdHandler write(Runnable onWrite) {
        return new FdHandler(null, Objects.requireNonNull(onWrite, "onWrite"), null, null);
    }

    /**
     * A handler with both a read and a write callback.
     *
     * @param onRead the read callback, not null
     * @param onWrite the write callback, not null
     * @return a handler with those two callbacks
     */
    public static FdHandler readWrite(Runnable onRead, Runnable onWrite) {
        return new FdHandler(Objects.requireNonNull(onRead, "onRead"), Objects.requireNonNull(onWrite, "onWrite"),
                null, null);
    }

    /**
     * This handler with {@code onRead} as its read callback.
     *
     * @param onRead the read callback, or null to drop it
     * @return a new handler; this one is unchanged
     */
    public FdHandler withRead(Runnable onRead) {
        return new FdHandler(onRead, onWrite, poll, onPollReady);
    }

    /**
     * This handler with {@code onWrite} as its write callback (for example to start waiting for
     * room in a socket buffer, and {@code withWrite(null)} to stop).
     *
     * @param onWrite the write callback, or null to drop it
     * @return a new handler; this one is unchanged
     */
    public FdHandler withWrite(Runnable onWrite) {
        return new FdHandler(onRead, onWrite, poll, onPollReady);
    }

    /**
     * This handler with userspace polling (QEMU's {@code io_poll} / {@code io_poll_ready}): while
     * the context polls adaptively ({@link AioContext#setPollParams}), {@code poll} is called
     * instead of a system call and {@code onPollReady} runs when it returns true.
     *
     * @param poll says whether the fd (or what stands behind it) is ready; cheap, no system call
     * @param onPollReady runs when {@code poll} returned true
     * @return a new handler; this one is unchanged
     * @throws NullPointerException if either is null (use {@link #withoutPoll()} to drop polling)
     */
    public FdHandler withPoll(BooleanSupplier poll, Runnable onPollReady) {
        return new FdHandler(onRead, onWrite, Objects.requireNonNull(poll, "poll"),
                Objects.requireNonNull(onPollReady, "onPollReady"));
    }

    /** {@return this handler without userspace polling} */
    public FdHandler withoutPoll() {
        return new FdHandler(onRead, onWrite, null, null);
    }

    /** {@return whether every callback is null, so registering this removes the fd's registration} */
    public boolean isEmpty() {
        return onRead == null && onWrite == null && poll == null && onPollReady == null;
    }
}
