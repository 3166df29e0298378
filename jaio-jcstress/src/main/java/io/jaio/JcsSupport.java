package io.jaio;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.util.concurrent.atomic.AtomicReference;

/**
 * What the jcstress tests share: one real context per forked JVM, and handles on the private
 * methods of the classes under test.
 *
 * <p>The tests live in package {@code io.jaio} so that they can build jaio's real package-private
 * pieces ({@link BhQueue}, {@link BottomHalf}, {@link ThreadPool}, {@link CoScheduleQueue}) per
 * jcstress state. Each state owns its own {@link BhQueue}, drained by the actor that plays the
 * home thread, so no state needs a kernel fd. The shared context only lends its identity: it is
 * never polled, so its {@code Wakeup.notifyMe} stays 0 and its notifier is never written (the wake-up
 * protocol itself is tested on a model, see {@link WakeupProtocolTest}).
 */
final class JcsSupport {
    /** The context every state's queue belongs to; never polled, never closed (the fork exits). */
    static final AioContext CTX;
    /** A callback exception: the tests' callbacks do not throw, so any is a test failure. */
    static final AtomicReference<Throwable> CALLBACK_ERROR = new AtomicReference<>();

    static final MethodHandle RUN_TASK;
    static final MethodHandle TAKE_FIFO;

    static {
        try {
            CTX = AioContext.builder().name("jcstress").fdMonitor(FdMonitorKind.POLL).allowIoUring(false)
                    .errorHandler((ctx, source, error) -> CALLBACK_ERROR.compareAndSet(null, error)).build();
            MethodHandles.Lookup pool = MethodHandles.privateLookupIn(ThreadPool.class, MethodHandles.lookup());
            RUN_TASK = pool.findVirtual(ThreadPool.class, "runTask", MethodType.methodType(void.class, ThreadPoolTask.class));
            MethodHandles.Lookup co = MethodHandles.privateLookupIn(CoScheduleQueue.class, MethodHandles.lookup());
            TAKE_FIFO = co.findVirtual(CoScheduleQueue.class, "takeFifo", MethodType.methodType(Coroutine.class));
        } catch (ReflectiveOperationException | ErrnoException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private JcsSupport() {
    }

    /** A reusable bottom half on {@code q} that counts its runs in {@code runs[slot]}. */
    static BottomHalf counting(BhQueue q, int[] runs, int slot) {
        return q.create("jcs-" + slot, () -> runs[slot]++, null, false);
    }

    /** ThreadPool.runTask: what a worker does after run(): ret, DONE (release), push, schedule. */
    static void runTask(ThreadPool pool, ThreadPoolTask task) {
        try {
            RUN_TASK.invokeExact(pool, task);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** CoScheduleQueue.takeFifo: the consumer's exchange of the stack, oldest first. */
    static Coroutine takeFifo(CoScheduleQueue q) {
        try {
            return (Coroutine) TAKE_FIFO.invokeExact(q);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static Coroutine schedNext(Coroutine co) {
        return (Coroutine) Coroutine.SCHED_NEXT.get(co);
    }

    /** Whether {@code bh} is on no list: PENDING clear. */
    static boolean notPending(BottomHalf bh) {
        return ((int) BottomHalf.FLAGS.getVolatile(bh) & BottomHalf.PENDING) == 0;
    }

    static int flags(BottomHalf bh) {
        return (int) BottomHalf.FLAGS.getVolatile(bh);
    }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) {
            throw r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        throw new IllegalStateException(t);
    }
}
