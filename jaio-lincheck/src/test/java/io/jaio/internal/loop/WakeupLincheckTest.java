// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.loop;

import org.junit.jupiter.api.Test;

/**
 * The wake-up protocol with three notifiers against the home thread's iteration, model-checked on
 * the real {@link Wakeup} (see {@link WakeupScenario}): no interleaving leaves the home thread
 * asleep with a bottom half queued and its eventfd unwritten.
 */
public class WakeupLincheckTest extends WakeupScenario {
    public WakeupLincheckTest() {
        super(false);
    }

    @Test
    void threeNotifiersNeverLeaveTheHomeThreadAsleepWithWork() {
        LincheckSupport.checkAndReport(LincheckSupport.options(4, 2).sequentialSpecification(Spec.class), WakeupLincheckTest.class);
    }
}
