// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd;

import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * The AOT cache's training run ({@link NbdTraining}) drives every kind of request through a real
 * server on a unix socket and checks every reply; here it runs briefly in this JVM.
 */
class NbdTrainingTest {
    @Test
    void trainingServesEveryRequestKindAndChecksTheReplies() throws Exception {
        NbdTraining.Totals t = NbdTraining.run(700);
        assertTrue(t.reads() > 64 && t.writes() > 64, "reads and writes at depth 1 and 32: " + t);
        assertTrue(t.flushes() > 0 && t.zeroes() > 0 && t.trims() > 0 && t.blockStatus() > 0 && t.caches() > 0,
                "flush, write-zeroes, trim, block status and cache: " + t);
        assertTrue(NbdMain.running == null, "the training server stopped");
    }
}
