// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.loop;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.List;

/**
 * The one-shot bottom halves of one context (QEMU aio_bh_schedule_oneshot) as a bounded
 * multi-producer, single-consumer ring of (name, callback) slots, so that a one-shot costs no
 * object and one atomic instruction instead of a node and a reusable bottom half's protocol.
 * When the ring is full, {@link BhQueue} falls back to a one-shot node; nothing is ever refused.
 *
 * <p>Implementation notes (the algorithm is the array queue of JCTools' {@code MpscArrayQueue},
 * written for this use).
 * <ul>
 * <li><b>Claim and publish.</b> A producer claims index {@code p} with a compare-and-set of
 *     {@link #producerIndex} after checking {@code p < consumerIndex + CAPACITY}; then it stores
 *     the name (plain) and the callback (release) in slot {@code p & MASK}. A slot whose callback
 *     is still null between those two steps is "claimed, not yet published"; the consumer waits
 *     for it (a producer finishes in a few instructions unless preempted), and
 *     {@link #isEmpty} already counts it as work.</li>
 * <li><b>Limits.</b> {@link #producerLimit} caches {@code consumerIndex + CAPACITY} so that a
 *     producer reads the consumer's index (a line the consumer writes) only when it runs out.
 *     Producers store it without ordering and may overwrite a newer value with an older one:
 *     harmless, every value stored is a lower bound of the true limit, since the consumer index
 *     never goes back; an older one only costs one more read of the consumer index.</li>
 * <li><b>Consume.</b> The home thread reads {@link #producerIndex} once per poll() as that
 *     poll's limit (the slice rule: a one-shot scheduled meanwhile runs in the next poll). It
 *     takes slots in index order, clears each (plain) and then stores the consumer index with
 *     release, so a producer that reuses the slot after reading that index (acquire) never
 *     races the clear. The ring is FIFO, so a nested poll, whose limit is at least its callers',
 *     runs the callers' one-shots first, and the caller then finds its part done.</li>
 * <li><b>Errors.</b> A slot is cleared and the index advanced before its callback runs: an Error
 *     from the callback loses nothing else (the rest stay in the ring for the next poll) and
 *     never runs the thrower twice.</li>
 * <li><b>Wake-up.</b> The claim is a volatile read-modify-write made before the producer's
 *     {@code Wakeup.aioNotify()} reads {@code notified}; the home thread clears {@code notified}
 *     (volatile) before it reads {@link #producerIndex} (volatile). So a producer that skips the
 *     notification because the flag was still set has its claim seen by the poll that follows,
 *     exactly as a push on the cross-thread list is.</li>
 * </ul>
 * Threading: {@link #offer} from any thread; {@link #isEmpty} from any thread (a snapshot); the
 * rest on the home thread.
 */
final class OneShotRing {
    /** Slots; a power of two. 4096 covers a burst of 4096 into a sleeping loop (BhCrossThreadBenchmark). */
    static final int CAPACITY = 4096;
    private static final int MASK = CAPACITY - 1;
    /** Spins on a claimed, unpublished slot before yielding the CPU to the producer that owns it. */
    private static final int PUBLISH_SPINS = 128;

    private static final VarHandle PRODUCER_INDEX;
    private static final VarHandle PRODUCER_LIMIT;
    private static final VarHandle CONSUMER_INDEX;
    private static final VarHandle TASK = MethodHandles.arrayElementVarHandle(Runnable[].class);

    static {
        try {
            MethodHandles.Lookup l = MethodHandles.lookup();
            PRODUCER_INDEX = l.findVarHandle(OneShotRing.class, "producerIndex", long.class);
            PRODUCER_LIMIT = l.findVarHandle(OneShotRing.class, "producerLimit", long.class);
            CONSUMER_INDEX = l.findVarHandle(OneShotRing.class, "consumerIndex", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final String[] names = new String[CAPACITY];
    /** Accessed through TASK: null = free (or claimed and not yet published). */
    private final Runnable[] tasks = new Runnable[CAPACITY];
    /** Next index to claim; accessed through PRODUCER_INDEX. */
    @SuppressWarnings("unused")
    private long producerIndex;
    /** A lower bound of consumerIndex + CAPACITY; accessed through PRODUCER_LIMIT (opaque). */
    @SuppressWarnings("unused")
    private long producerLimit = CAPACITY;
    /** Next index to run; written by the home thread only (release), read by producers (acquire). */
    @SuppressWarnings("unused")
    private long consumerIndex;

    /** Puts one one-shot in the ring; false when the ring is full. Any thread. */
    boolean offer(String name, Runnable task) {
        long limit = (long) PRODUCER_LIMIT.getOpaque(this); // a lower bound: see the notes
        long p;
        do {
            p = (long) PRODUCER_INDEX.getVolatile(this); // pairs with the CAS of other producers
            if (p >= limit) {
                limit = (long) CONSUMER_INDEX.getAcquire(this) + CAPACITY; // pairs with setRelease in runNext()
                if (p >= limit) {
                    return false;
                }
                PRODUCER_LIMIT.setOpaque(this, limit);
            }
        } while (!PRODUCER_INDEX.compareAndSet(this, p, p + 1)); // fails only when another producer claimed p
        int i = (int) p & MASK;
        names[i] = name; // plain: published by the release store below
        TASK.setRelease(tasks, i, task); // pairs with getAcquire in runNext()
        return true;
    }

    /** Whether no one-shot is claimed and not yet run (a snapshot). Any thread. */
    boolean isEmpty() {
        // volatile: after the caller's clear of notified, see the class notes; pairs with the CAS in offer()
        return (long) PRODUCER_INDEX.getVolatile(this) == (long) CONSUMER_INDEX.getAcquire(this);
    }

    // ---- home thread ----

    /** The limit of a poll(): every one-shot claimed so far. Volatile: see "Wake-up" in the notes. */
    long limit() {
        return (long) PRODUCER_INDEX.getVolatile(this); // pairs with the CAS in offer()
    }

    /** {@link #isEmpty} on the home thread, which writes the consumer index (plain read of it). */
    boolean isEmptyHome() {
        // volatile: after the caller's clear of notified, see the class notes; pairs with the CAS in offer()
        return (long) PRODUCER_INDEX.getVolatile(this) == (long) CONSUMER_INDEX.get(this);
    }

    /** Whether one-shots below {@code limit} are still to run. */
    boolean hasBefore(long limit) {
        return (long) CONSUMER_INDEX.get(this) < limit; // plain: only the home thread writes it
    }

    /**
     * Takes the next one-shot (the caller checked {@link #hasBefore}), frees its slot and runs it
     * through {@code callbacks}.
     */
    void runNext(CallbackRunner callbacks) {
        long c = (long) CONSUMER_INDEX.get(this);
        int i = (int) c & MASK;
        Runnable task = awaitPublished(i);
        String name = names[i];
        names[i] = null;
        TASK.set(tasks, i, (Runnable) null); // plain: ordered before the release store below
        CONSUMER_INDEX.setRelease(this, c + 1); // pairs with getAcquire in offer()
        callbacks.runOneShot(name, task);
    }

    /**
     * The callback of slot {@code i}, which a producer has claimed: waits out a producer that is
     * between its claim and its publication (a few instructions unless it was preempted).
     */
    private Runnable awaitPublished(int i) {
        Runnable task;
        int spins = 0;
        while ((task = (Runnable) TASK.getAcquire(tasks, i)) == null) { // pairs with setRelease in offer()
            if (++spins < PUBLISH_SPINS) {
                Thread.onSpinWait();
            } else {
                Thread.yield();
            }
        }
        return task;
    }

    /**
     * close(): names every one-shot claimed and never run, and frees the slots. A claim still
     * being published is waited for, so the report has its name. Home thread.
     */
    void collectLeaks(List<String> leaks) {
        long p = (long) PRODUCER_INDEX.getVolatile(this);
        long c = (long) CONSUMER_INDEX.get(this);
        for (; c < p; c++) { // bounded by CAPACITY: producers never claim past the consumer index + CAPACITY
            int i = (int) c & MASK;
            awaitPublished(i); // its release store also publishes the name
            String name = names[i];
            leaks.add("one-shot bottom half '" + name + "' was scheduled but never ran");
            names[i] = null;
            TASK.set(tasks, i, (Runnable) null);
        }
        CONSUMER_INDEX.setRelease(this, c); // pairs with getAcquire in offer()
    }
}
