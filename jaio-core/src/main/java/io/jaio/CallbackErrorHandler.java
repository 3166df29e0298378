// SPDX-License-Identifier: Apache-2.0
package io.jaio;

/**
 * Receives exceptions thrown by user callbacks (bottom halves, timers, fd handlers) and failures
 * the loop met while waiting. The loop goes on after the handler returns; an {@link Error} is
 * never passed here, it propagates out of {@link AioContext#poll}, and the work behind it is not
 * lost: what the thrower's iteration had not run yet runs in the next {@code poll()} (see there).
 * Called on the context's home thread.
 */
@FunctionalInterface
public interface CallbackErrorHandler {
    /**
     * Called with each exception a callback threw, on the home thread.
     *
     * @param context the context whose loop caught it
     * @param source what threw: {@code "bottom half 'name'"}, {@code "timer on REALTIME"},
     *     {@code "io_read of fd 17"}, {@code "fd monitor"}
     * @param error the exception
     */
    void onCallbackError(AioContext context, String source, Throwable error);

    /**
     * The default: log at WARNING through {@code System.Logger} "io.jaio".
     *
     * @return a handler that logs and lets the loop go on
     */
    static CallbackErrorHandler logging() {
        return (ctx, source, error) -> System.getLogger("io.jaio").log(System.Logger.Level.WARNING,
                "context '" + ctx.name() + "': " + source + " threw", error);
    }
}
