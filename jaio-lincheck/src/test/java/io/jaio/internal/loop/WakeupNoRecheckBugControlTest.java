// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.loop;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.jetbrains.lincheck.LincheckAssertionError;
import org.junit.jupiter.api.Test;

/**
 * KNOWN-BAD CONTROL, a model of a bug and not jaio's loop: {@link WakeupScenario} with the
 * home thread ignoring what {@code announceBlocking()} re-reads, so it blocks although a notify
 * came between its queue check and its raise of notifyMe and skipped the eventfd write (QEMU's
 * docs/spin BUG, spec 3.1 item 1). Lincheck must find the lost wake-up; the test passes only when
 * it does, which shows the harness can see the bug the real protocol prevents.
 */
public class WakeupNoRecheckBugControlTest extends WakeupScenario {
    public WakeupNoRecheckBugControlTest() {
        super(true);
    }

    @Test
    void theLoopWithoutTheRecheckLosesAWakeUp() {
        java.util.concurrent.atomic.AtomicLong n = LincheckSupport.interleavings(getClass().getSimpleName());
        n.set(0);
        LincheckAssertionError e = assertThrows(LincheckAssertionError.class, () -> LincheckSupport.options(4, 2)
                .sequentialSpecification(Spec.class).check(WakeupNoRecheckBugControlTest.class));
        assertTrue(e.getMessage().contains("LOST WAKE-UP"), () -> "failed for another reason:\n" + e.getMessage());
        System.out.println("WakeupNoRecheckBugControlTest: the lost wake-up was found (as expected) after " + n.get()
                + " interleavings; Lincheck's trace:\n" + e.getMessage());
    }
}
