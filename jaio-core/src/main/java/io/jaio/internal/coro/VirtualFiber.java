// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.coro;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.util.concurrent.Executor;

import jdk.internal.vm.Continuation;
import jdk.internal.vm.ThreadContainer;

/**
 * A {@link Fiber} that is a virtual thread whose scheduler is this object: the only class in
 * jaio that touches JDK internals ({@code jdk.internal.vm.Continuation} for pinning, and the
 * package-private {@code java.lang.ThreadBuilders.newVirtualThread} factory with a scheduler and
 * {@code VirtualThread.start(ThreadContainer)}).
 * Loaded only through {@link Fibers} after the flag check.
 *
 * <p><b>Why a virtual thread and not a bare continuation.</b> HotSpot's JIT treats
 * {@code Thread.currentThread()} as fixed within a compiled frame. That holds for a virtual
 * thread, whose identity does not change when it moves to another carrier, but not for a bare
 * {@code jdk.internal.vm.Continuation} resumed on another platform thread: a compiled frame then
 * kept seeing the thread it ran on before the move, and so did every thread-local read through
 * it (41,068 stale reads in 100,000 moves between two IOThreads, see CoroutineMigrationTest).
 * Running the body as a virtual thread gives it one identity for its whole life, so a coroutine
 * can move between contexts of different threads (QEMU aio_co_reschedule_self). The cost per
 * resume/suspend is about that of a bare continuation (docs/coroutines.md).
 *
 * <p><b>Scheduling.</b> The virtual thread's scheduler is the fiber itself: {@link #execute}
 * only stores the continuation task the JDK hands over, and {@link #run} runs that task on the
 * calling platform thread, which becomes the carrier until the body suspends or ends. Suspending
 * is {@code Thread.yield()}: the JDK unmounts the virtual thread and, on the carrier, submits
 * the task again, so {@code execute} records it for the next {@code run}.
 *
 * <p><b>Pinned except while suspending.</b> The body runs inside {@code Continuation.pin()}, and
 * {@link #suspend} unpins only around its {@code Thread.yield()}. So anything else that would
 * unmount a virtual thread (a blocking call, {@code LockSupport.park}, a contended monitor, a
 * {@code Thread.yield()} in user code) blocks the carrier instead, as a blocking call blocks
 * the thread of a QEMU coroutine, and the JDK never hands the task over at a moment jaio does
 * not expect. A yield that cannot unmount (a native frame on the stack: an FFM upcall) returns
 * without calling {@code execute}; {@link #suspend} sees that and throws.
 *
 * <p><b>Nesting.</b> A carrier must be a platform thread: a fiber cannot run another fiber
 * from its own virtual thread. So a fiber that enters another one records the request in
 * {@link #request} and suspends; the loop in {@link #trampoline} on the platform thread runs the
 * requested fiber, and when that one suspends or ends, resumes the requester (through
 * {@link #returnTo}). Depth costs no platform stack.
 *
 * <p>Threading: see {@link Fiber}. All fields are touched by the carrier thread and by the body
 * running on it, never at the same time: mounting and unmounting a virtual thread orders them.
 * {@link #done} is volatile because {@link #isDone} may be called from any thread.
 */
final class VirtualFiber implements Fiber, Executor {
    /** {@code ThreadBuilders.newVirtualThread(Executor, String, int, Runnable)}: no builder object per coroutine. */
    private static final MethodHandle NEW_THREAD = newThreadHandle();
    /** {@code VirtualThread.start(ThreadContainer)}: starts outside the JDK's root container. */
    private static final MethodHandle START_IN = startInHandle();
    private static final CoroutineContainer CONTAINER = new CoroutineContainer();

    private final Thread thread;
    /** The continuation task the JDK handed to {@link #execute}, consumed by the next resume. */
    private Runnable resumeTask;
    private boolean started;
    /** Set by {@link #execute}: proves that a {@code Thread.yield()} in {@link #suspend} unmounted. */
    private boolean handedOver;
    /** A fiber this one asked to run (nesting), read by the trampoline after this one suspends. */
    private VirtualFiber request;
    /** The fiber to resume when this one suspends or ends, set by the trampoline. */
    private VirtualFiber returnTo;
    /** Written once by the body's last action; volatile for isDone() on other threads. */
    private volatile boolean done;

    VirtualFiber(Runnable body) {
        Runnable task = () -> body(body);
        try {
            this.thread = (Thread) NEW_THREAD.invokeExact((Executor) this, (String) null, 0, task);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("cannot create a virtual thread with a custom scheduler", t);
        }
    }

    private static MethodHandle newThreadHandle() {
        try {
            Class<?> c = Class.forName("java.lang.ThreadBuilders");
            MethodHandles.Lookup l = MethodHandles.privateLookupIn(c, MethodHandles.lookup()); // needs the add-opens
            return l.findStatic(c, "newVirtualThread",
                    MethodType.methodType(Thread.class, Executor.class, String.class, int.class, Runnable.class));
        } catch (ReflectiveOperationException | RuntimeException e) {
            throw new IllegalStateException("this JDK lacks java.lang.ThreadBuilders.newVirtualThread(Executor, String, int, Runnable)"
                    + " (expected JDK 25, where jaio's coroutines run as virtual threads with a custom scheduler)", e);
        }
    }

    private static MethodHandle startInHandle() {
        try {
            Class<?> vt = Class.forName("java.lang.VirtualThread");
            MethodHandles.Lookup l = MethodHandles.privateLookupIn(vt, MethodHandles.lookup()); // needs the add-opens
            return l.findVirtual(vt, "start", MethodType.methodType(void.class, ThreadContainer.class))
                    .asType(MethodType.methodType(void.class, Thread.class, ThreadContainer.class));
        } catch (ReflectiveOperationException | RuntimeException e) {
            throw new IllegalStateException("this JDK lacks java.lang.VirtualThread.start(ThreadContainer)"
                    + " (expected JDK 25, where jaio's coroutines run as virtual threads with a custom scheduler)", e);
        }
    }

    /**
     * The container jaio's coroutine threads start in. {@code Thread.start()} would put them in
     * the JDK's root container, which by default ({@code jdk.trackAllThreads}) holds every
     * started virtual thread in a set until it ends, so a coroutine that is never finished
     * (abandoned while yielded, as a bare continuation could be) would never be collected. This
     * one only counts them. Any thread.
     */
    private static final class CoroutineContainer extends ThreadContainer {
        private final java.util.concurrent.atomic.LongAdder live = new java.util.concurrent.atomic.LongAdder();

        CoroutineContainer() {
            super(true); // shared: not pushed on any thread's scope stack
        }

        @Override
        public String name() {
            return "jaio-coroutines";
        }

        @Override
        protected void onStart(Thread thread) {
            live.increment();
        }

        @Override
        protected void onExit(Thread thread) {
            live.decrement();
        }

        @Override
        public long threadCount() {
            return live.sum(); // started and not finished, abandoned ones included
        }

        @Override
        public java.util.stream.Stream<Thread> threads() {
            return java.util.stream.Stream.empty(); // not tracked, so that abandoned coroutines can be collected
        }
    }

    private void body(Runnable body) {
        Continuation.pin(); // see "Pinned except while suspending"
        try {
            body.run(); // the owner catches everything the entry throws
        } finally {
            done = true; // volatile write: pairs with the read in isDone()
            Continuation.unpin();
        }
    }

    /** The JDK hands over the continuation task: when started, and after each unmount in {@link #suspend}. */
    @Override
    public void execute(Runnable task) {
        assert resumeTask == null : "a second continuation task for one virtual thread";
        resumeTask = task;
        handedOver = true;
    }

    @Override
    public void run(Fiber caller) {
        if (caller != null) {
            VirtualFiber c = (VirtualFiber) caller;
            c.request = this;
            try {
                c.suspend(); // the trampoline runs this fiber, then resumes c
            } catch (IllegalStateException pinned) {
                c.request = null;
                throw pinned;
            }
            return;
        }
        if (Thread.currentThread().isVirtual()) {
            throw new IllegalStateException("a coroutine was entered on virtual thread " + Thread.currentThread()
                    + ", which is not a coroutine (expected a platform thread, such as a context's home thread, or a coroutine)");
        }
        trampoline(this);
    }

    /**
     * Runs {@code first} on this platform thread until it suspends or ends, together with every
     * fiber it asks to run on the way. Bounded: each round resumes one fiber, and a round that
     * does not descend (request) ascends (returnTo) until it leaves {@code first}.
     */
    private static void trampoline(VirtualFiber first) {
        VirtualFiber f = first;
        while (true) {
            f.resumeOnce();
            VirtualFiber next = f.request;
            if (next != null) {
                f.request = null;
                next.returnTo = f;
                f = next;
                continue;
            }
            if (f == first) {
                return;
            }
            VirtualFiber back = f.returnTo;
            f.returnTo = null;
            f = back;
        }
    }

    private void resumeOnce() {
        if (!started) {
            started = true;
            try {
                START_IN.invokeExact(thread, (ThreadContainer) CONTAINER); // the JDK calls execute() with the first task
            } catch (RuntimeException | Error e) {
                throw e;
            } catch (Throwable t) {
                throw new IllegalStateException("cannot start a coroutine's virtual thread", t);
            }
        }
        Runnable task = resumeTask;
        resumeTask = null;
        assert task != null : "resuming a fiber that has not suspended";
        task.run(); // mounts the virtual thread here and runs it until it suspends or ends
    }

    @Override
    public void suspend() {
        assert Thread.currentThread() == thread : "suspend() outside its own fiber";
        handedOver = false;
        Continuation.unpin();
        try {
            Thread.yield(); // unmounts unless pinned; on success returns once resumed
        } finally {
            Continuation.pin();
        }
        if (!handedOver) {
            throw new IllegalStateException("Coroutine.yield(): the coroutine cannot suspend with a native frame (an FFM"
                    + " upcall: code called back by native code) or a Continuation.pin() section on its stack; it keeps"
                    + " running (expected plain Java frames between the coroutine's entry and the yield: never yield from"
                    + " code that native code calls back, and catch this before it leaves an upcall)");
        }
    }

    @Override
    public boolean isDone() {
        return done; // pairs with the volatile write at the end of body()
    }
}
