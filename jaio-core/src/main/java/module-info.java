// SPDX-License-Identifier: Apache-2.0
/**
 * jaio: QEMU's AioContext event loop for the JVM.
 *
 * <p>Exported, in layers (each builds on the ones before it): {@code io.jaio} (the loop),
 * {@code io.jaio.uring} (the io_uring submission API), {@code io.jaio.block} (thread pool, AIOCBs,
 * file engines) and {@code io.jaio.coroutine} (coroutines and their helpers). The machinery (the
 * loop's internals, fd monitors, FFM bindings, rings, fibers) lives in {@code io.jaio.internal.*},
 * which is not exported. Native access must be enabled for this module
 * ({@code --enable-native-access=io.jaio}, or {@code ALL-UNNAMED} on the class path); coroutines
 * also need {@code --add-exports java.base/jdk.internal.vm=io.jaio --add-opens java.base/java.lang=io.jaio}.
 *
 * <p>{@code jdk.jfr} carries the Flight Recorder events ({@code io.jaio.*}, docs/observability.md);
 * {@code java.management} the context's MBean ({@code AioContext.registerMBean()}).
 */
module io.jaio {
    requires jdk.jfr;
    requires java.management;

    exports io.jaio;
    exports io.jaio.uring;
    exports io.jaio.block;
    exports io.jaio.coroutine;
}
