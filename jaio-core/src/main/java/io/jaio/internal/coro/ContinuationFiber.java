package io.jaio.internal.coro;

import jdk.internal.vm.Continuation;
import jdk.internal.vm.ContinuationScope;

/**
 * A {@link Fiber} on {@code jdk.internal.vm.Continuation}: the only class in jaio that touches
 * {@code jdk.internal.vm}. Loaded only through {@link Fibers} after the export check.
 *
 * <p>Resume is {@link Continuation#run()}, suspend is {@link Continuation#yield} on one scope
 * private to jaio, so a jaio coroutine never suspends a virtual thread it happens to run in and
 * nested coroutines suspend one level at a time (the innermost continuation of the scope).
 *
 * <p><b>Pinning.</b> A continuation cannot suspend with a native frame on its stack (code called
 * back by native code through an FFM upcall) or inside a {@code Continuation.pin()} section.
 * The freeze then fails before anything is suspended and the JDK calls {@link #onPinned} on the
 * innermost continuation, which here throws an {@link IllegalStateException} saying what
 * happened and how to avoid it; the coroutine keeps running. The exception must be caught
 * before it leaves the upcall: any exception escaping an upcall makes the JVM exit.
 * {@code Continuation.isPinned(scope)} cannot serve as a pre-check on JDK 25: called from Java
 * it sees its own native method frame and always answers NATIVE (and costs 120-300 ns).
 *
 * <p>Threading: one thread at a time (the owning coroutine serialises run()).
 */
final class ContinuationFiber extends Continuation implements Fiber {
    private static final ContinuationScope SCOPE = new ContinuationScope("jaio-coroutine");

    ContinuationFiber(Runnable body) {
        super(SCOPE, body);
    }

    static void suspend() {
        Continuation.yield(SCOPE); // a failed freeze calls onPinned(), which throws
    }

    @Override
    protected void onPinned(Continuation.Pinned reason) {
        throw pinned(reason.name());
    }

    private static IllegalStateException pinned(String reason) {
        String what = switch (reason) {
            case "NATIVE" -> "a native frame (an FFM upcall: code called back by native code)";
            case "CRITICAL_SECTION" -> "a Continuation.pin() critical section";
            default -> reason;
        };
        return new IllegalStateException("Coroutine.yield(): the coroutine cannot suspend while pinned by " + what
                + " on its stack; it keeps running (expected plain Java frames between the coroutine's entry and the"
                + " yield: never yield from code that native code calls back, and catch this before it leaves an upcall)");
    }
}
