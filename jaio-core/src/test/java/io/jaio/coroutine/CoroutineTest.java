// SPDX-License-Identifier: Apache-2.0
package io.jaio.coroutine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.Test;

/**
 * QEMU tests/unit/test-coroutine.c, the /basic and /locking groups (the /perf group is
 * CoroutineBenchmark in jaio-bench), plus the misuse checks. As in QEMU, no context is current,
 * so coroutines run with a null context and same-thread wake-ups queue on the waker.
 */
class CoroutineTest {

    /** /basic/lifecycle: create + enter runs to completion, twice. */
    @Test
    void enteredCoroutineRunsToCompletionAndIsDone() {
        for (int i = 0; i < 2; i++) {
            boolean[] done = {false};
            Coroutine co = Coroutine.create(() -> done[0] = true);
            assertFalse(co.isDone());
            Coroutine.enter(co);
            assertTrue(done[0]);
            assertTrue(co.isDone());
            assertFalse(co.isEntered());
        }
    }

    /** /basic/yield: five yields need six enters. */
    @Test
    void coroutineYieldingFiveTimesNeedsSixEnters() {
        boolean[] done = {false};
        Coroutine co = Coroutine.create(() -> {
            for (int i = 0; i < 5; i++) {
                Coroutine.yield();
            }
            done[0] = true;
        });
        int i = -1;
        while (!done[0]) {
            Coroutine.enter(co);
            i++;
        }
        assertEquals(5, i);
    }

    private static final class NestData {
        int enters;
        int returns;
        final int max;

        NestData(int max) {
            this.max = max;
        }
    }

    private static void nest(NestData nd) {
        nd.enters++;
        if (nd.enters < nd.max) {
            Coroutine.enter(Coroutine.create(() -> nest(nd)));
        }
        nd.returns++;
    }

    /** /basic/nesting: recursive create + enter to depth 128. */
    @Test
    void coroutinesNestToDepth128() {
        for (int max : new int[] {128}) {
            NestData nd = new NestData(max);
            Coroutine.enter(Coroutine.create(() -> nest(nd)));
            assertEquals(max, nd.enters);
            assertEquals(max, nd.returns);
        }
    }

    /** /basic/self. */
    @Test
    void selfInsideIsTheHandleAndNullOutside() {
        AtomicReference<Coroutine> seen = new AtomicReference<>();
        Coroutine co = Coroutine.create(() -> seen.set(Coroutine.self()));
        assertNull(Coroutine.self());
        Coroutine.enter(co);
        assertSame(co, seen.get());
    }

    /** /basic/entered. */
    @Test
    void enteredIsTrueOnTheActiveChainOnly() {
        List<String> failures = new ArrayList<>();
        Coroutine outer = Coroutine.create(() -> {
            Coroutine self = Coroutine.self();
            check(failures, self.isEntered(), "self entered");
            Coroutine child = Coroutine.create(() -> {
                check(failures, self.isEntered(), "caller entered in child");
                check(failures, Coroutine.self().isEntered(), "child entered");
                Coroutine.yield();
                check(failures, self.isEntered(), "caller entered after yield");
                check(failures, Coroutine.self().isEntered(), "child entered after yield");
            });
            check(failures, !child.isEntered(), "fresh child not entered");
            Coroutine.enter(child);
            check(failures, !child.isEntered(), "yielded child not entered");
            Coroutine.enter(child);
        });
        assertFalse(outer.isEntered());
        Coroutine.enter(outer);
        assertTrue(outer.isDone());
        assertEquals(List.of(), failures);
    }

    private static void check(List<String> failures, boolean ok, String what) {
        if (!ok) {
            failures.add(what);
        }
    }

    /** /basic/in_coroutine. */
    @Test
    void inCoroutineIsFalseOutsideAndTrueInside() {
        boolean[] inside = {false};
        assertFalse(Coroutine.inCoroutine());
        Coroutine.enter(Coroutine.create(() -> inside[0] = Coroutine.inCoroutine()));
        assertTrue(inside[0]);
        assertFalse(Coroutine.inCoroutine());
    }

    /** /basic/order: enter runs synchronously until the yield. */
    @Test
    void enterAndYieldTransferControlInOrder() {
        List<int[]> records = new ArrayList<>();
        Coroutine co = Coroutine.create(() -> {
            records.add(new int[] {2, 1});
            assertTrue(Coroutine.inCoroutine());
            Coroutine.yield();
            records.add(new int[] {2, 2});
            assertTrue(Coroutine.inCoroutine());
        });
        records.add(new int[] {1, 1});
        Coroutine.enter(co);
        records.add(new int[] {1, 2});
        assertFalse(Coroutine.inCoroutine());
        Coroutine.enter(co);
        records.add(new int[] {1, 3});
        int[][] expected = {{1, 1}, {2, 1}, {1, 2}, {2, 2}, {1, 3}};
        assertEquals(expected.length, records.size());
        for (int i = 0; i < expected.length; i++) {
            assertArrayEquals(expected[i], records.get(i));
        }
    }

    /** /basic/no-dangling-access: a terminated caller is never touched when its child resumes. */
    @Test
    void resumingAChildDoesNotTouchItsTerminatedCaller() {
        Coroutine c2 = Coroutine.create(Coroutine::yield);
        Coroutine c1 = Coroutine.create(() -> Coroutine.enter(c2));
        Coroutine.enter(c1);
        assertTrue(c1.isDone());
        assertFalse(c2.isDone());
        Coroutine.enter(c2); // c2's caller was c1; it now returns to this thread, not to c1
        assertTrue(c2.isDone());
        assertFalse(Coroutine.inCoroutine());
    }

    // ---- /locking ----

    private boolean locked;
    private int done;

    private void mutexBody(CoMutex m) {
        m.lock();
        assertFalse(locked);
        locked = true;
        Coroutine.yield();
        locked = false;
        m.unlock();
        done++;
    }

    /** /locking/co-mutex: the unlock queues c2, which starts when c1 returns. */
    @Test
    void unlockQueuesTheWaiterWhichRunsWhenTheHolderReturns() {
        CoMutex m = new CoMutex();
        Coroutine c1 = Coroutine.create(() -> mutexBody(m));
        Coroutine c2 = Coroutine.create(() -> mutexBody(m));
        Coroutine.enter(c1);
        assertTrue(locked);
        Coroutine.enter(c2); // blocks on the mutex: yields
        assertFalse(c2.isDone());
        Coroutine.enter(c1);
        assertEquals(1, done);
        assertTrue(locked); // c2 ran from c1's wake-up list, took the lock and yielded
        assertSame(c2, m.holder());
        Coroutine.enter(c2);
        assertEquals(2, done);
        assertFalse(locked);
        assertFalse(m.isLocked());
    }

    /** /locking/co-rwlock/upgrade: the sole reader upgrading queues behind a waiting writer. */
    @Test
    void upgradingReaderQueuesBehindWaitingWriter() {
        CoRwLock rw = new CoRwLock();
        boolean[] c1Done = {false};
        boolean[] c2Done = {false};
        Coroutine c1 = Coroutine.create(() -> {
            rw.rdlock();
            Coroutine.yield();
            rw.upgrade();
            rw.unlock();
            c1Done[0] = true;
        });
        Coroutine c2 = Coroutine.create(() -> {
            rw.wrlock();
            Coroutine.yield();
            rw.unlock();
            c2Done[0] = true;
        });
        Coroutine.enter(c1);
        Coroutine.enter(c2);
        Coroutine.enter(c1); // c1 queues behind c2, and c2 gets the lock
        assertFalse(c1Done[0]);
        Coroutine.enter(c2);
        assertTrue(c1Done[0]);
        assertTrue(c2Done[0]);
    }

    /** /locking/co-rwlock/downgrade: downgrade wakes queued readers; no hang. */
    @Test
    void downgradeLetsQueuedReaderInAndNothingHangs() {
        CoRwLock rw = new CoRwLock();
        boolean[] d = new boolean[5];
        Coroutine c1 = Coroutine.create(() -> {
            rw.rdlock();
            Coroutine.yield();
            rw.unlock();
            Coroutine.yield();
            d[1] = true;
        });
        Coroutine c2 = Coroutine.create(() -> {
            rw.wrlock();
            rw.downgrade();
            rw.unlock();
            d[2] = true;
        });
        Coroutine c3 = Coroutine.create(() -> {
            rw.rdlock();
            rw.unlock();
            d[3] = true;
        });
        Coroutine c4 = Coroutine.create(() -> {
            rw.wrlock();
            rw.unlock();
            d[4] = true;
        });
        Coroutine.enter(c1);
        Coroutine.enter(c2);
        Coroutine.enter(c3);
        Coroutine.enter(c4);
        Coroutine.enter(c1);
        assertTrue(d[2]);
        assertTrue(d[3]);
        assertTrue(d[4]);
        Coroutine.enter(c1);
        assertTrue(d[1]);
    }

    /** A reader does not overtake a queued writer; queued readers enter together. */
    @Test
    void readersQueueBehindAWriterAndEnterTogether() {
        CoRwLock rw = new CoRwLock();
        List<String> order = new ArrayList<>();
        Coroutine r0 = Coroutine.create(() -> {
            rw.rdlock();
            Coroutine.yield();
            rw.unlock();
        });
        Coroutine w = Coroutine.create(() -> {
            rw.wrlock();
            order.add("w");
            Coroutine.yield();
            rw.unlock();
        });
        Coroutine r1 = Coroutine.create(() -> {
            rw.rdlock();
            order.add("r1");
            Coroutine.yield();
            rw.unlock();
        });
        Coroutine r2 = Coroutine.create(() -> {
            rw.rdlock();
            order.add("r2");
            Coroutine.yield();
            rw.unlock();
        });
        Coroutine.enter(r0);
        Coroutine.enter(w); // queued: r0 reads
        Coroutine.enter(r1); // queued behind w although only readers own the lock
        Coroutine.enter(r2);
        assertEquals(List.of(), order);
        Coroutine.enter(r0); // unlock: w runs
        assertEquals(List.of("w"), order);
        Coroutine.enter(w); // unlock: r1 then r2 (chain-woken)
        assertEquals(List.of("w", "r1", "r2"), order);
        Coroutine.enter(r1);
        Coroutine.enter(r2);
        assertTrue(r0.isDone() && w.isDone() && r1.isDone() && r2.isDone());
    }

    /** CoQueue: FIFO wake order; restartAll wakes everyone waiting. */
    @Test
    void coQueueWakesInFifoOrder() {
        CoQueue q = new CoQueue();
        List<Integer> order = new ArrayList<>();
        Coroutine[] cs = new Coroutine[4];
        for (int i = 0; i < cs.length; i++) {
            int id = i;
            cs[i] = Coroutine.create(() -> {
                q.await();
                order.add(id);
            });
            Coroutine.enter(cs[i]);
        }
        assertTrue(q.next());
        assertEquals(List.of(0), order);
        q.restartAll();
        assertEquals(List.of(0, 1, 2, 3), order);
        assertTrue(q.isEmpty());
        assertFalse(q.next());
    }

    /** qemu_co_queue_wait with a CoMutex: released while waiting, held again on return. */
    @Test
    void coQueueAwaitReleasesAndRetakesTheMutex() {
        CoMutex m = new CoMutex();
        CoQueue q = new CoQueue();
        boolean[] ready = {false};
        boolean[] sawHeld = {false};
        Coroutine waiter = Coroutine.create(() -> {
            m.lock();
            while (!ready[0]) {
                q.await(m);
            }
            sawHeld[0] = m.holder() == Coroutine.self();
            m.unlock();
        });
        Coroutine signaller = Coroutine.create(() -> {
            m.lock(); // free: the waiter released it in await
            ready[0] = true;
            q.next(); // queued on our wake-up list
            m.unlock();
        });
        Coroutine.enter(waiter);
        assertFalse(m.isLocked());
        Coroutine.enter(signaller);
        assertTrue(waiter.isDone());
        assertTrue(sawHeld[0]);
        assertFalse(m.isLocked());
    }

    // ---- misuse ----

    @Test
    void yieldOutsideACoroutineIsYieldingToNoOne() {
        IllegalStateException e = assertThrows(IllegalStateException.class, Coroutine::yield);
        assertTrue(e.getMessage().contains("yielding to no one"), e.getMessage());
    }

    @Test
    void enteringAFinishedCoroutineFails() {
        Coroutine co = Coroutine.create(() -> { });
        Coroutine.enter(co);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> Coroutine.enter(co));
        assertTrue(e.getMessage().contains("has returned"), e.getMessage());
    }

    @Test
    void enteringARunningCoroutineFailsAsRecursive() {
        AtomicReference<Throwable> seen = new AtomicReference<>();
        Coroutine[] self = new Coroutine[1];
        self[0] = Coroutine.create(() -> seen.set(assertThrows(IllegalStateException.class, () -> Coroutine.enter(self[0]))));
        Coroutine.enter(self[0]);
        assertTrue(seen.get().getMessage().contains("re-entered recursively"), seen.get().getMessage());
    }

    @Test
    void unlockingAMutexNotHeldFailsAndLockIsNotReentrant() {
        CoMutex m = new CoMutex();
        List<String> msgs = new ArrayList<>();
        Coroutine.enter(Coroutine.create(() -> {
            msgs.add(assertThrows(IllegalStateException.class, m::unlock).getMessage());
            m.lock();
            msgs.add(assertThrows(IllegalStateException.class, m::lock).getMessage());
            m.unlock();
        }));
        assertTrue(msgs.get(0).contains("does not hold it"), msgs.get(0));
        assertTrue(msgs.get(1).contains("not reentrant"), msgs.get(1));
        assertThrows(IllegalStateException.class, m::lock); // outside a coroutine
    }

    @Test
    void exceptionEscapingACoroutineWithoutContextIsRethrownByEnter() {
        Coroutine co = Coroutine.create(() -> {
            throw new IllegalArgumentException("boom");
        });
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Coroutine.enter(co));
        assertEquals("boom", e.getMessage());
        assertTrue(co.isDone());
    }

    @Test
    void returningWhileHoldingAMutexIsReported() {
        CoMutex m = new CoMutex();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> Coroutine.enter(Coroutine.create(m::lock)));
        assertTrue(e.getMessage().contains("holding 1"), e.getMessage());
    }

    @Test
    void rwLockMisuseFailsClearly() {
        CoRwLock rw = new CoRwLock();
        List<String> msgs = new ArrayList<>();
        Coroutine.enter(Coroutine.create(() -> {
            msgs.add(assertThrows(IllegalStateException.class, rw::unlock).getMessage());
            msgs.add(assertThrows(IllegalStateException.class, rw::upgrade).getMessage());
            msgs.add(assertThrows(IllegalStateException.class, rw::downgrade).getMessage());
        }));
        assertEquals(3, msgs.size());
        assertTrue(msgs.get(0).contains("nobody holds"), msgs.get(0));
    }

    // ---- pinning ----

    /** Set by the upcall below: what Coroutine.yield() threw with qsort's frame on the stack. */
    private static volatile String pinnedMessage;
    private static volatile boolean yieldReturned;

    @SuppressWarnings("unused") // called by qsort through the upcall stub
    private static int compareAndTryToYield(MemorySegment a, MemorySegment b) {
        if (pinnedMessage == null) {
            try {
                Coroutine.yield();
                yieldReturned = true;
            } catch (IllegalStateException e) {
                pinnedMessage = e.getMessage(); // caught here: an exception leaving an upcall kills the JVM
            }
        }
        return Integer.compare(a.get(ValueLayout.JAVA_INT, 0), b.get(ValueLayout.JAVA_INT, 0));
    }

    /** A yield under an FFM upcall (native frame on the stack) throws a clear exception instead of crashing. */
    @Test
    @SuppressWarnings("restricted")
    void yieldWithANativeFrameOnTheStackThrowsInsteadOfSuspending() throws Throwable {
        Linker linker = Linker.nativeLinker();
        MethodHandle qsort = linker.downcallHandle(linker.defaultLookup().find("qsort").orElseThrow(),
                FunctionDescriptor.ofVoid(ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.ADDRESS));
        MethodHandle cmp = MethodHandles.lookup().findStatic(CoroutineTest.class, "compareAndTryToYield",
                MethodType.methodType(int.class, MemorySegment.class, MemorySegment.class));
        FunctionDescriptor cmpDesc = FunctionDescriptor.of(ValueLayout.JAVA_INT,
                ValueLayout.ADDRESS.withTargetLayout(ValueLayout.JAVA_INT), ValueLayout.ADDRESS.withTargetLayout(ValueLayout.JAVA_INT));
        pinnedMessage = null;
        yieldReturned = false;
        try (Arena arena = Arena.ofShared()) { // the coroutine runs on its own (virtual) thread
            MemorySegment stub = linker.upcallStub(cmp, cmpDesc, arena);
            MemorySegment array = arena.allocateFrom(ValueLayout.JAVA_INT, 3, 1, 2);
            Coroutine co = Coroutine.create(() -> {
                try {
                    qsort.invokeExact(array, 3L, 4L, stub);
                } catch (Throwable t) {
                    throw new AssertionError(t);
                }
            });
            Coroutine.enter(co);
            assertTrue(co.isDone(), "the coroutine kept running after the refused yield");
            assertFalse(yieldReturned);
            assertTrue(pinnedMessage != null && pinnedMessage.contains("cannot suspend") && pinnedMessage.contains("FFM upcall"), String.valueOf(pinnedMessage));
            assertArrayEquals(new int[] {1, 2, 3}, array.toArray(ValueLayout.JAVA_INT));
        }
    }
}
