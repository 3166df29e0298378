// SPDX-License-Identifier: Apache-2.0
package io.jaio.examples;

import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicInteger;

import io.jaio.AioContext;
import io.jaio.BottomHalf;
import io.jaio.ClockType;
import io.jaio.Fds;
import io.jaio.IOThread;
import io.jaio.Timer;
import io.jaio.TimerScale;

/**
 * The README's first command until the NBD server exists: a context running bottom halves (one
 * scheduled from another thread), a timer and an fd handler on a pipe, printing what happens.
 * Runs on the main thread, which is the context's home thread.
 */
public final class Demo {
    private Demo() {
    }

    public static void main(String[] args) throws Exception {
        long t0 = System.nanoTime();
        try (AioContext ctx = AioContext.builder().name("demo").build()) {
            ctx.makeCurrent();
            log(t0, "context '" + ctx.name() + "' on " + ctx.fdMonitorName() + ", home thread " + Thread.currentThread().getName());

            AtomicInteger bhRuns = new AtomicInteger();
            BottomHalf[] self = new BottomHalf[1];
            self[0] = ctx.newBottomHalf("counter", () -> {
                int n = bhRuns.incrementAndGet();
                log(t0, "bottom half 'counter' run " + n);
                if (n < 3) {
                    self[0].schedule(); // a self-rescheduling BH runs once per poll()
                }
            });
            self[0].schedule();

            int[] pipe = Fds.pipe();
            StringBuilder received = new StringBuilder();
            ctx.setFdHandler(pipe[0], () -> {
                try {
                    byte[] b;
                    while ((b = Fds.read(pipe[0], 256)) != null) {
                        String s = new String(b, StandardCharsets.UTF_8);
                        received.append(s);
                        log(t0, "fd handler: read \"" + s + "\" from pipe fd " + pipe[0]);
                    }
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }, null, null, null);

            AtomicInteger fired = new AtomicInteger();
            Timer timer = ctx.newTimer(ClockType.REALTIME, TimerScale.MS, () -> {
                fired.incrementAndGet();
                log(t0, "timer fired (20 ms after arming); writing to the pipe");
                Fds.write(pipe[1], "hello from the timer".getBytes(StandardCharsets.UTF_8));
            });
            timer.mod(ctx.clockNs(ClockType.REALTIME) / 1_000_000 + 20);

            // Another thread hands work to the loop with a one-shot bottom half.
            try (IOThread helper = IOThread.start("demo-helper")) {
                helper.context().scheduleOneShot("ask-main", () ->
                        ctx.scheduleOneShot("from-iothread", () -> log(t0, "one-shot bottom half scheduled from thread "
                                + "'IO demo-helper' ran on " + Thread.currentThread().getName())));
                while (received.length() == 0 || bhRuns.get() < 3) {
                    ctx.poll(true);
                }
            }
            long writes = ctx.notifierWriteCount();
            ctx.removeFdHandler(pipe[0]);
            Fds.close(pipe[0]);
            Fds.close(pipe[1]);
            self[0].delete();
            ctx.poll(false);
            log(t0, "done: " + bhRuns.get() + " BH runs, " + fired.get() + " timer firing, " + received.length()
                    + " bytes through the fd handler, " + writes + " eventfd write(s) to wake the loop");
        }
    }

    private static void log(long t0, String msg) {
        System.out.printf("[%8.3f ms] %s%n", (System.nanoTime() - t0) / 1e6, msg);
    }
}
