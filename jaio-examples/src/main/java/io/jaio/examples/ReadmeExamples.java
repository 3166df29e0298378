// SPDX-License-Identifier: Apache-2.0
package io.jaio.examples;

import java.time.Duration;

import io.jaio.AioContext;
import io.jaio.BottomHalf;
import io.jaio.ClockType;
import io.jaio.FdHandler;
import io.jaio.Fds;
import io.jaio.IOThread;
import io.jaio.Timer;
import io.jaio.block.ThreadPool;
import io.jaio.coroutine.CoThreadPool;
import io.jaio.coroutine.Coroutine;

/**
 * The README's two code examples, compiled and run by the suite ({@code ReadmeExamplesTest}
 * checks that the README shows exactly these lines). Run {@link #loop} on any thread; it becomes
 * the home thread of the context it makes. {@link #coroutines} needs the coroutine flags.
 */
public final class ReadmeExamples {
    private ReadmeExamples() {
    }

    /** The README's "Example" block. */
    public static void loop() throws Exception {
        // README:begin loop
        try (AioContext ctx = AioContext.builder().name("example").build()) {   // this thread is its home
            BottomHalf bh = ctx.newBottomHalf("hello", () -> System.out.println("bottom half ran"));
            bh.schedule();                        // any thread may schedule; it runs in poll()
            ctx.poll(true);                       // runs it; returns true: progress was made

            Timer timer = ctx.newTimer(ClockType.REALTIME, () -> System.out.println("timer fired"));
            timer.modIn(Duration.ofMillis(10));   // 10 ms from now on the timer's clock
            ctx.poll(true);                       // blocks until the timer is due, then runs it

            int[] pipe = Fds.pipe();
            ctx.setFdHandler(pipe[0], FdHandler.read(() -> System.out.println("readable")));
            Fds.write(pipe[1], new byte[] {1});
            ctx.poll(true);                       // runs the read handler
            ctx.removeFdHandler(pipe[0]);
            Fds.close(pipe[0]);
            Fds.close(pipe[1]);
            bh.delete();                          // close() reports undeleted BHs and armed timers
        }

        // From another thread: an IOThread owns its context and polls it until stopped.
        try (IOThread io = IOThread.start("worker")) {
            io.context().scheduleOneShot("job", () -> System.out.println("on " + Thread.currentThread()));
        }
        // README:end
    }

    /** The README's coroutine block. */
    public static void coroutines() throws Exception {
        // README:begin coroutines
        try (AioContext ctx = AioContext.builder().name("co").build()) {
            ctx.makeCurrent();                    // coroutines find their context through current()
            Coroutine co = Coroutine.create(() -> {
                long sum = CoThreadPool.submit(ThreadPool.of(ctx), () -> 40 + 2);   // yields until a worker is done
                System.out.println("worker said " + sum);
                Coroutine.sleep(ClockType.REALTIME, Duration.ofMillis(1));   // yields on a timer for 1 ms
                System.out.println("slept");
            });
            Coroutine.enter(co);                  // runs until the first yield, then returns
            while (!co.isDone()) {
                ctx.poll(true);                   // completions and timers resume the coroutine
            }
        }
        // README:end
    }

    /** Runs both examples. */
    public static void main(String[] args) throws Exception {
        loop();
        coroutines();
    }
}
