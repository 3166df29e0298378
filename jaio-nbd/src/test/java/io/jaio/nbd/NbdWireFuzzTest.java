// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd;

import java.nio.file.Files;
import java.nio.file.Path;

import com.code_intelligence.jazzer.junit.FuzzTest;

import org.junit.jupiter.api.AfterAll;

/**
 * Coverage-guided fuzzing (Jazzer, libFuzzer inside) of the handshake and the request parser,
 * in process, through {@link NbdWireHarness}: see there for how an input is read and what every
 * input must satisfy.
 */
class NbdWireFuzzTest {
    private static NbdWireHarness harness;
    private static long startNs;

    @FuzzTest(maxDuration = "30s")
    void handshakeAndRequests(byte[] input) throws Exception {
        if (harness == null) {
            harness = new NbdWireHarness(Files.createTempDirectory("nbd-wire-fuzz-"));
            startNs = System.nanoTime();
        }
        harness.run(input);
    }

    @AfterAll
    static void report() throws Exception {
        if (harness == null) {
            return;
        }
        System.out.printf("NbdWireFuzzTest: %d executions in %.1f s, %d requests sent, %d replies checked, %d connections closed%n",
                harness.executions, (System.nanoTime() - startNs) / 1e9, harness.requestsSent, harness.repliesChecked,
                harness.connectionsClosedByServer);
        Path dir = harness.dir();
        harness.close();
        harness = null;
        NbdTestSupport.deleteTree(dir); // the images, and the harness's TLS certificates in pki/
    }
}
