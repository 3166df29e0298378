// SPDX-License-Identifier: Apache-2.0
/**
 * jaio-examples: small programs on jaio's public API ({@code ./jaio demo} runs {@link io.jaio.examples.Demo}).
 * They are not part of the library: applications depend on {@code io.jaio:jaio-core} only.
 */
module io.jaio.examples {
    requires io.jaio;
}
