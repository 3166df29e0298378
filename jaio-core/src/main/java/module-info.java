/**
 * jaio: QEMU's AioContext event loop for the JVM.
 *
 * <p>Only {@code io.jaio} is exported; the fd monitors, FFM bindings and data structures live in
 * {@code io.jaio.internal.*}. Native access must be enabled for this module
 * ({@code --enable-native-access=io.jaio}, or {@code ALL-UNNAMED} on the class path).
 */
module io.jaio {
    exports io.jaio;
}
