// SPDX-License-Identifier: Apache-2.0
package io.jaio;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;

import io.jaio.block.ThreadPool;
import io.jaio.coroutine.Coroutine;
import io.jaio.uring.IoUring;

import org.junit.jupiter.api.Test;

/**
 * The error rule of the package documentation ({@code io.jaio}'s package-info, "Which failures
 * are checked"), held against the public signatures: calls that set something up with the
 * kernel declare {@link ErrnoException}; calls that queue work from the hot path, and the data
 * path, declare no checked exception. A new public method that breaks the rule fails here.
 */
class ErrorRuleTest {
    /** Methods that set up with the kernel, as {@code Class.method}: each must declare ErrnoException. */
    private static final Set<String> SETUP = Set.of(
            "AioContext.create", "AioContext.setFdHandler", "AioContext.setEventNotifier", "AioContext.source",
            "AioContext$Builder.build", "IOThread.start", "MainLoop.create", "MainLoop.setFdHandler",
            "EventNotifier.create", "AioSource.attachTo", "Fds.pipe", "Fds.open", "Fds.size", "Fds.truncate",
            "Sockets.listenTcp", "Sockets.listenUnix", "Sockets.connectTcp", "Sockets.connectUnix",
            "Sockets.socketPair", "Sockets.localPort", "IoUring.registerFiles", "IoUring.registerFilesSparse",
            "IoUring.updateFiles", "IoUring.unregisterFiles", "IoUring.registerBuffers", "IoUring.unregisterBuffers");
    /** Setup or teardown helpers that throw ErrnoException beside the rule's data path, with the reason. */
    private static final Set<String> CONVENIENCE = Set.of(
            "Fds.close",   // teardown: an EBADF here is a bug the caller wants to hear about
            "Fds.read");   // read(int, int): the allocating test helper; read(int, MemorySegment) returns -errno

    @Test
    void setupCallsDeclareErrnoException() {
        List<String> wrong = new ArrayList<>();
        for (Class<?> c : List.of(AioContext.class, AioContext.Builder.class, IOThread.class, MainLoop.class,
                EventNotifier.class, AioSource.class, Fds.class, Sockets.class, IoUring.class)) {
            for (Method m : c.getDeclaredMethods()) {
                if (!Modifier.isPublic(m.getModifiers())) {
                    continue;
                }
                String name = c.getName().substring(c.getPackageName().length() + 1) + "." + m.getName();
                boolean declares = Arrays.asList(m.getExceptionTypes()).contains(ErrnoException.class);
                if (SETUP.contains(name) && !declares) {
                    wrong.add(name + " sets up with the kernel but does not declare ErrnoException");
                }
                if (!SETUP.contains(name) && !CONVENIENCE.contains(name) && m.getExceptionTypes().length > 0) {
                    wrong.add(name + " declares " + Arrays.toString(m.getExceptionTypes())
                            + " but is not a setup call (add it to SETUP if it is one)");
                }
            }
        }
        assertEquals(List.of(), wrong);
    }

    @Test
    void hotPathCallsDeclareNoCheckedException() {
        List<String> wrong = new ArrayList<>();
        for (Class<?> c : List.of(BottomHalf.class, Timer.class, ThreadPool.class, Coroutine.class, FdHandler.class)) {
            for (Method m : c.getDeclaredMethods()) {
                if (Modifier.isPublic(m.getModifiers()) && m.getExceptionTypes().length > 0) {
                    wrong.add(c.getSimpleName() + "." + m.getName() + " declares " + Arrays.toString(m.getExceptionTypes()));
                }
            }
        }
        for (String queueing : List.of("scheduleOneShot", "newBottomHalf", "newTimer", "aioNotify", "poll")) {
            for (Method m : AioContext.class.getMethods()) {
                if (m.getName().equals(queueing) && m.getExceptionTypes().length > 0) {
                    wrong.add("AioContext." + queueing + " declares " + Arrays.toString(m.getExceptionTypes()));
                }
            }
        }
        assertEquals(List.of(), wrong);
    }
}
