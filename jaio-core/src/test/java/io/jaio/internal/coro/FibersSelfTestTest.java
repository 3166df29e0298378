// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.coro;

import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * The self-test that stands between a JDK whose internals moved and a coroutine that would fail
 * later in an obscure way: it passes on this JDK and names the failure for broken fibers.
 */
class FibersSelfTestTest {
    @Test
    void selfTestPassesOnThisJdkWithTheRealFiber() {
        assertNull(Fibers.selfTest(VirtualFiber::new));
        assertTrue(Fibers.isAvailable());
    }

    @Test
    void linkageErrorFromMovedInternalsBecomesOneSentence() {
        String msg = Fibers.selfTest(body -> {
            throw new NoSuchMethodError("'void jdk.internal.vm.Continuation.pin()'");
        });
        assertTrue(msg.startsWith("coroutines are unavailable on this JDK (java.version=" + System.getProperty("java.version")), msg);
        assertTrue(msg.contains("NoSuchMethodError: 'void jdk.internal.vm.Continuation.pin()'"), msg);
        assertTrue(msg.contains("tested on JDK " + Fibers.TESTED_FEATURE + "; the rest of jaio does not use them"), msg);
    }

    @Test
    void fiberThatDoesNotSuspendIsReported() {
        // A fiber that ignores suspend(): run() goes straight to the end, as it would if the
        // continuation's yield silently stopped working.
        String msg = Fibers.selfTest(body -> new Fiber() {
            private boolean done;

            @Override
            public void run(Fiber caller) {
                body.run();
                done = true;
            }

            @Override
            public void suspend() {
            }

            @Override
            public boolean isDone() {
                return done;
            }
        });
        assertTrue(msg.contains("did not stop at its first suspension (steps=2, done=true)"), msg);
    }

    @Test
    void refusedSuspensionIsReported() {
        String msg = Fibers.selfTest(body -> new Fiber() {
            @Override
            public void run(Fiber caller) {
                body.run();
            }

            @Override
            public void suspend() {
                throw new IllegalStateException("cannot suspend: pinned");
            }

            @Override
            public boolean isDone() {
                return false;
            }
        });
        assertTrue(msg.contains("self-test failed with java.lang.IllegalStateException: cannot suspend: pinned"), msg);
    }
}
