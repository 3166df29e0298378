package io.jaio.internal.coro;

/**
 * The entry point to the fiber mechanism, free of any reference to {@code jdk.internal.vm}, so
 * that loading it never fails. The one class that uses {@code jdk.internal.vm.Continuation},
 * {@link ContinuationFiber}, is loaded only after {@link #checkAvailable()} has verified that
 * {@code java.base} exports {@code jdk.internal.vm} to this module. Without the flag the first
 * coroutine creation throws an {@link IllegalStateException} that names it, instead of an
 * {@link IllegalAccessError} from the class loader.
 *
 * <p>Threading: any thread.
 */
public final class Fibers {
    private Fibers() {
    }

    /** Computed once, on first use (class-holder idiom): null when the export is present. */
    private static final class Probe {
        static final String MISSING_FLAG = probe();

        private static String probe() {
            Module me = Fibers.class.getModule();
            Module base = Object.class.getModule();
            if (base.isExported("jdk.internal.vm", me)) {
                return null;
            }
            String target = me.isNamed() ? me.getName() : "ALL-UNNAMED";
            return "coroutines need the JVM flag --add-exports java.base/jdk.internal.vm=" + target
                    + " (jaio's coroutines run on jdk.internal.vm.Continuation; add it to the java command line"
                    + (me.isNamed() ? ", or =ALL-UNNAMED when jaio is on the class path)" : ", or =io.jaio when jaio is on the module path)");
        }
    }

    /**
     * Throws unless fibers can be made.
     *
     * @throws IllegalStateException naming the missing {@code --add-exports} flag
     */
    public static void checkAvailable() {
        String missing = Probe.MISSING_FLAG;
        if (missing != null) {
            throw new IllegalStateException(missing);
        }
    }

    /** Whether fibers can be made (the export is present). */
    public static boolean isAvailable() {
        return Probe.MISSING_FLAG == null;
    }

    /**
     * A new fiber that will run {@code body}.
     *
     * @throws IllegalStateException naming the missing {@code --add-exports} flag
     */
    public static Fiber create(Runnable body) {
        checkAvailable();
        return new ContinuationFiber(body);
    }

    /**
     * Suspends the innermost running fiber: its {@link Fiber#run()} call returns. Callers make
     * sure a fiber is running.
     *
     * @throws IllegalStateException if the fiber cannot suspend here because a native frame
     *     (an FFM upcall) or a critical section is on its stack; the fiber keeps running
     */
    public static void suspend() {
        ContinuationFiber.suspend();
    }
}
