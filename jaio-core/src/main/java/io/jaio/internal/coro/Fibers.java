package io.jaio.internal.coro;

/**
 * The entry point to the fiber mechanism, free of any reference to {@code jdk.internal.vm}, so
 * that loading it never fails. The class that uses the JDK internals, {@link VirtualFiber}, is
 * loaded only after {@link #checkAvailable()} has verified that {@code java.base} exports
 * {@code jdk.internal.vm} and opens {@code java.lang} to this module. Without the flags the first
 * coroutine creation throws an {@link IllegalStateException} that names them, instead of an
 * {@link IllegalAccessError} from the class loader.
 *
 * <p>Threading: any thread.
 */
public final class Fibers {
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

    /**
     * Throws unless fibers can be made.
     *
     * @throws IllegalStateException naming the missing flags
     */
    public static void checkAvailable() {
        String missing = Probe.MISSING_FLAG;
        if (missing != null) {
            throw new IllegalStateException(missing);
        }
    }

    /** Whether fibers can be made (the flags are present). */
    public static boolean isAvailable() {
        return Probe.MISSING_FLAG == null;
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
