// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.coro;

import java.util.function.Function;

/**
 * The entry point to the fiber mechanism, free of any reference to {@code jdk.internal.vm}, so
 * that loading it never fails. The class that uses the JDK internals, {@link VirtualFiber}, is
 * loaded only after {@link #checkAvailable()} has verified that {@code java.base} exports
 * {@code jdk.internal.vm} and opens {@code java.lang} to this module. Without the flags the first
 * coroutine creation throws an {@link IllegalStateException} that names them, instead of an
 * {@link IllegalAccessError} from the class loader.
 *
 * <p>The JDK internals that {@link VirtualFiber} uses ({@code jdk.internal.vm.Continuation},
 * {@code java.lang.ThreadBuilders.newVirtualThread}, {@code VirtualThread.start(ThreadContainer)})
 * can change in any JDK release; jaio is tested on JDK {@value #TESTED_FEATURE}. Before the first
 * fiber is handed out, a self-test makes one fiber, suspends it once and finishes it. If that
 * fails on this JDK (a {@link LinkageError} or a refused operation), every {@link #create} throws
 * one {@link IllegalStateException} that says so; nothing else in jaio uses these internals, so
 * the loop, timers, fd handlers, io_uring and the thread pool are unaffected.
 *
 * <p>Threading: any thread.
 */
public final class Fibers {
    /** The JDK feature release whose internals jaio's coroutines are built and tested against. */
    public static final int TESTED_FEATURE = 25;

    private Fibers() {
    }

    /** Computed once, on first use (class-holder idiom): null when both flags are present. */
    private static final class Probe {
        static final String MISSING_FLAG = probe();

        private static String probe() {
            Module me = Fibers.class.getModule();
            Module base = Object.class.getModule();
            String target = me.isNamed() ? me.getName() : "ALL-UNNAMED";
            StringBuilder missing = new StringBuilder();
            if (!base.isExported("jdk.internal.vm", me)) {
                missing.append(" --add-exports java.base/jdk.internal.vm=").append(target);
            }
            if (!base.isOpen("java.lang", me)) {
                missing.append(" --add-opens java.base/java.lang=").append(target);
            }
            if (missing.isEmpty()) {
                return null;
            }
            return "coroutines need the JVM flag(s)" + missing
                    + " (jaio runs each coroutine as a virtual thread whose scheduler is the thread that enters it;"
                    + " add them to the java command line" + (me.isNamed() ? ", or =ALL-UNNAMED when jaio is on the class path)"
                            : ", or =io.jaio when jaio is on the module path)");
        }
    }

    /** Computed once, after the flags are known to be present: null when the self-test passed. */
    private static final class SelfTest {
        static final String FAILURE = runSelfTest();

        private static String runSelfTest() {
            if (!Thread.currentThread().isVirtual()) {
                return selfTest(VirtualFiber::new);
            }
            // A fiber must be run from a platform thread: test on one (once per JVM).
            String[] result = new String[1];
            Thread t = Thread.ofPlatform().name("jaio-fiber-self-test").unstarted(() -> result[0] = selfTest(VirtualFiber::new));
            t.start();
            try {
                t.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return "the coroutine self-test was interrupted";
            }
            return result[0]; // join() orders the write in the test thread before this read
        }
    }

    /**
     * Makes one fiber with {@code factory}, runs it to its one suspension, resumes it to its end,
     * and checks each step. Must be called on a platform thread.
     *
     * @return null when every step behaved, else one sentence saying that coroutines are
     *     unavailable on this JDK and why
     */
    public static String selfTest(Function<Runnable, Fiber> factory) {
        String jdk = "java.version=" + System.getProperty("java.version") + ", " + System.getProperty("java.vm.vendor");
        String what = "jaio's coroutines use JDK internals (jdk.internal.vm.Continuation, java.lang.ThreadBuilders)"
                + " built and tested on JDK " + TESTED_FEATURE + "; the rest of jaio does not use them";
        try {
            Fiber[] fiber = new Fiber[1];
            int[] steps = new int[1];
            fiber[0] = factory.apply(() -> {
                steps[0]++;
                fiber[0].suspend();
                steps[0]++;
            });
            fiber[0].run(null);
            if (steps[0] != 1 || fiber[0].isDone()) {
                return "coroutines are unavailable on this JDK (" + jdk + "): a fiber did not stop at its first"
                        + " suspension (steps=" + steps[0] + ", done=" + fiber[0].isDone() + "); " + what;
            }
            fiber[0].run(null);
            if (steps[0] != 2 || !fiber[0].isDone()) {
                return "coroutines are unavailable on this JDK (" + jdk + "): a resumed fiber did not run to its end"
                        + " (steps=" + steps[0] + ", done=" + fiber[0].isDone() + "); " + what;
            }
            return null;
        } catch (LinkageError | RuntimeException e) {
            return "coroutines are unavailable on this JDK (" + jdk + "): their self-test failed with " + e + "; " + what;
        }
    }

    /**
     * Throws unless fibers can be made.
     *
     * @throws IllegalStateException naming the missing flags, or saying that this JDK's internals
     *     do not work as the fibers expect
     */
    public static void checkAvailable() {
        String missing = Probe.MISSING_FLAG;
        if (missing != null) {
            throw new IllegalStateException(missing);
        }
        String failure = SelfTest.FAILURE;
        if (failure != null) {
            throw new IllegalStateException(failure);
        }
    }

    /** Whether fibers can be made (the flags are present and the self-test passed). */
    public static boolean isAvailable() {
        return Probe.MISSING_FLAG == null && SelfTest.FAILURE == null;
    }

    /**
     * A new fiber that will run {@code body}.
     *
     * @throws IllegalStateException naming the missing flags
     */
    public static Fiber create(Runnable body) {
        checkAvailable();
        return new VirtualFiber(body);
    }
}
