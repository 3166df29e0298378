// SPDX-License-Identifier: Apache-2.0
package io.jaio;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import io.jaio.internal.sys.Errno;
import io.jaio.internal.sys.Syscalls;

/**
 * A level-triggered wake-up flag on an eventfd (QEMU's {@code EventNotifier}): {@link #set()}
 * makes the fd readable until {@link #testAndClear()} drains it. Register it with
 * {@link AioContext#setEventNotifier}.
 *
 * <p>Threading: {@link #set()} and {@link #testAndClear()} may be called from any thread;
 * {@link #close()} once, after the notifier is unregistered from every context.
 */
public final class EventNotifier implements AutoCloseable {

    private final int fd;
    private volatile boolean closed;

    private EventNotifier(int fd) {
        this.fd = fd;
    }

    /**
     * Creates a non-blocking, close-on-exec eventfd.
     *
     * @param active whether the notifier starts set
     * @return the new notifier, owned by the caller (close it)
     * @throws ErrnoException if eventfd(2) fails (EMFILE, ENFILE)
     */
    public static EventNotifier create(boolean active) throws ErrnoException {
        int fd = Syscalls.eventfd(0, Syscalls.EFD_NONBLOCK | Syscalls.EFD_CLOEXEC);
        EventNotifier n = new EventNotifier(fd);
        if (active) {
            n.set();
        }
        return n;
    }

    /** {@return the eventfd} */
    public int fd() {
        return fd;
    }

    /** Makes the notifier readable. EAGAIN (counter saturated) counts as success. Any thread. */
    public void set() {
        checkOpen();
        for (int attempt = 0; attempt < 100; attempt++) {
            long r = Syscalls.write(Syscalls.threadErrnoSegment(), fd, Syscalls.EVENTFD_ONE, 8);
            if (r >= 0 || r == -Errno.EAGAIN) {
                return;
            }
            if (r != -Errno.EINTR) {
                throw new IllegalStateException("write(eventfd " + fd + "): " + Errno.describe((int) -r));
            }
        }
    }

    /**
     * Drains the notifier; returns whether it was set. Any thread.
     *
     * @return whether the notifier was set
     */
    public boolean testAndClear() {
        checkOpen();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(8, 8);
            long r = Syscalls.read(Syscalls.threadErrnoSegment(), fd, buf, 8);
            return r == 8;
        }
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("event notifier fd " + fd + " is closed");
        }
    }

    /** Closes the eventfd. Idempotent. */
    @Override
    public void close() {
        if (!closed) {
            closed = true;
            Syscalls.close(fd);
        }
    }

    @Override
    public String toString() {
        return "EventNotifier[fd=" + fd + "]";
    }
}
