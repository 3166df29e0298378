// SPDX-License-Identifier: Apache-2.0
package io.jaio.examples;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

import io.jaio.AioContext;
import io.jaio.AioSource;
import io.jaio.ClockType;
import io.jaio.Fds;
import io.jaio.MainLoop;
import io.jaio.Timer;

/**
 * A context run by a loop that is not its own, in the two ways jaio offers (QEMU's AioContext
 * GSource):
 * <ol>
 * <li><b>Your own loop</b> waits on the context's one fd ({@link AioSource#fd()}) beside its own
 *     work, with the timeout {@link AioSource#prepare()} gives, and calls {@code check()} and
 *     {@code dispatch()} after each wait. Here the outer loop is a hand-written poll(2) loop (the
 *     shape of a GUI toolkit's or another library's loop), with poll(2) called through FFM.</li>
 * <li><b>Another context's loop</b>: {@link AioSource#attachTo(AioContext)} makes a context run
 *     whenever the parent polls; here a "device" context rides on the {@link MainLoop}, whose
 *     {@code mainLoopWait} also runs an fd handler of the iohandler context
 *     ({@code qemu_set_fd_handler}).</li>
 * </ol>
 *
 * <pre>
 * ./jaio example embedded-loop
 * </pre>
 *
 * <p>Threading: one thread, the home thread of every context here (an outer loop must run on the
 * home thread of the contexts it drives).
 */
public final class EmbeddedLoop {
    private static final short POLLIN = 1;
    /** poll(2) from libc: {@code int poll(struct pollfd *fds, nfds_t nfds, int timeout)}. */
    @SuppressWarnings("restricted") // a downcall: the program runs with --enable-native-access
    private static final MethodHandle POLL = Linker.nativeLinker().downcallHandle(
            Linker.nativeLinker().defaultLookup().find("poll").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT));

    private EmbeddedLoop() {
    }

    /** Part 1: a hand-written outer loop that drives a context through its AioSource. */
    static void ownLoop(PrintStream out) throws Throwable {
        try (AioContext ctx = AioContext.builder().name("embedded").build();
                Arena arena = Arena.ofConfined()) {
            AioSource source = ctx.source();
            int[] fired = {0};
            Timer[] timer = new Timer[1];
            timer[0] = ctx.newTimer(ClockType.REALTIME, () -> {
                if (++fired[0] < 3) {
                    timer[0].modIn(Duration.ofMillis(2)); // re-armed from its own callback
                }
            });
            timer[0].modIn(Duration.ofMillis(2));
            MemorySegment pollfd = arena.allocate(8, 4); // struct pollfd { int fd; short events, revents; }
            int iterations = 0;
            int waits = 0;
            while (fired[0] < 3) {
                iterations++;
                int timeoutMs = source.prepare(); // -1: no deadline; 0: work is ready now
                pollfd.set(ValueLayout.JAVA_INT, 0, source.fd());
                pollfd.set(ValueLayout.JAVA_SHORT, 4, POLLIN);
                pollfd.set(ValueLayout.JAVA_SHORT, 6, (short) 0);
                // ... a real outer loop would add its own fds here ...
                int n = (int) POLL.invokeExact(pollfd, 1L, timeoutMs);
                if (n < 0) {
                    throw new IllegalStateException("poll(2) failed");
                }
                if (timeoutMs != 0) {
                    waits++;
                }
                if (source.check()) {
                    source.dispatch(); // bottom halves, completions, fd handlers, due timers
                }
            }
            out.println("own loop: the context's timer fired 3 times in " + iterations
                    + " outer iterations (" + waits + " of them waited in poll(2))");
        }
    }

    /** Part 2: a device context attached to the main loop, beside an iohandler fd handler. */
    static void attached(PrintStream out) throws Exception {
        try (MainLoop main = MainLoop.create()) { // this thread becomes the main thread
            int[] pipe = Fds.pipe();
            StringBuilder received = new StringBuilder();
            main.setFdHandler(pipe[0], () -> {
                try {
                    byte[] b = Fds.read(pipe[0], 64);
                    if (b != null) {
                        received.append(new String(b, StandardCharsets.US_ASCII));
                    }
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }, null);
            try (AioContext device = AioContext.builder().name("device").build()) {
                AioSource.Attachment attachment = device.source().attachTo(main.context());
                int[] ticks = {0};
                Timer tick = device.newTimer(ClockType.REALTIME, () -> ticks[0]++);
                tick.modIn(Duration.ofMillis(1));
                byte[] ping = "ping".getBytes(StandardCharsets.US_ASCII);
                device.scheduleOneShot("write to the pipe", () -> Fds.write(pipe[1], ping));
                int waits = 0;
                while (ticks[0] == 0 || received.length() < 4) {
                    main.mainLoopWait(false); // runs the device context too: it is attached
                    waits++;
                }
                attachment.close();
                out.println("main loop: the attached device context ran its bottom half and its timer, and the"
                        + " iohandler fd handler read \"" + received + "\" (" + waits + " main loop iterations)");
            } finally {
                main.removeFdHandler(pipe[0]);
                Fds.close(pipe[0]);
                Fds.close(pipe[1]);
            }
        }
    }

    /**
     * Runs both parts.
     *
     * @param args none
     * @throws Throwable if a part fails
     */
    public static void main(String[] args) throws Throwable {
        run(System.out);
    }

    static void run(PrintStream out) throws Throwable {
        ownLoop(out);
        attached(out);
    }
}
