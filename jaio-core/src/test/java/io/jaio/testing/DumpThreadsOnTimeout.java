// SPDX-License-Identifier: Apache-2.0
package io.jaio.testing;

import java.util.Map;
import java.util.concurrent.TimeoutException;

import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.TestExecutionExceptionHandler;

/**
 * Prints every thread's stack when a test hits its timeout, so a hang (a lost wake-up, a poll
 * that never returns) can be diagnosed from the build log. Registered for all tests through
 * {@code META-INF/services} and extension autodetection (see junit-platform.properties).
 */
public final class DumpThreadsOnTimeout implements TestExecutionExceptionHandler {
    /** Called by JUnit's extension autodetection. */
    public DumpThreadsOnTimeout() {
    }

    @Override
    public void handleTestExecutionException(ExtensionContext context, Throwable throwable) throws Throwable {
        if (isTimeout(throwable)) {
            System.err.println("Test " + context.getDisplayName() + " timed out\n" + threadDump());
        }
        throw throwable;
    }

    /** Every live thread's stack. */
    public static String threadDump() {
        StringBuilder sb = new StringBuilder("---- thread dump ----\n");
        for (Map.Entry<Thread, StackTraceElement[]> e : Thread.getAllStackTraces().entrySet()) {
            Thread t = e.getKey();
            sb.append('"').append(t.getName()).append("\" ").append(t.getState()).append('\n');
            for (StackTraceElement f : e.getValue()) {
                sb.append("    at ").append(f).append('\n');
            }
        }
        return sb.toString();
    }

    private static boolean isTimeout(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof TimeoutException) {
                return true;
            }
        }
        return false;
    }
}
