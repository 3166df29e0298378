// SPDX-License-Identifier: Apache-2.0
package io.jaio.block;

import io.jaio.AioContext;

/**
 * An asynchronous control block (QEMU's {@code BlockAIOCB}): an operation in flight that can be
 * cancelled, with a reference count. The operation holds one reference from its start until its
 * completion callback has run; {@link #ref()} keeps the object from being recycled while a caller
 * still looks at it.
 *
 * <p>Cancellation is a request: {@link #cancelAsync()} asks and returns; the completion callback
 * still runs exactly once, with {@code -ECANCELED} when the cancellation took effect or the real
 * result when it came too late. {@link #cancel()} also waits for that callback, polling the home
 * context.
 *
 * <p>Threading: home thread of the context the operation belongs to.
 */
public abstract class Aiocb {
    private int refcnt;

    /** A control block with no references (not in flight). */
    protected Aiocb() {
    }

    /** {@return the context whose home thread completes this operation} */
    public abstract AioContext context();

    /** Asks for cancellation and returns at once. Does nothing if the operation is not in flight. */
    public abstract void cancelAsync();

    /**
     * Cancels and waits until the completion callback has run (with {@code -ECANCELED} or the
     * real result), polling the context (QEMU bdrv_aio_cancel). Home thread, not from inside a
     * coroutine.
     */
    public final void cancel() {
        AioContext ctx = context();
        if (!ctx.inHomeThread()) {
            throw new IllegalStateException("Aiocb.cancel() from thread '" + Thread.currentThread().getName()
                    + "' (expected the home thread of context '" + ctx.name() + "')");
        }
        if (refcnt == 0) {
            return; // not in flight: nothing to wait for
        }
        ref();
        try {
            cancelAsync();
            while (refcnt > 1) { // the operation's own reference goes when its callback has run
                ctx.poll(true);
            }
        } finally {
            unref();
        }
    }

    /** Takes a reference. */
    public final void ref() {
        refcnt++;
    }

    /** Drops a reference; at zero the object may be reused ({@link #onReleased()}). */
    public final void unref() {
        if (refcnt <= 0) {
            throw new IllegalStateException("Aiocb " + this + " unref with refcnt=" + refcnt + " (expected > 0)");
        }
        if (--refcnt == 0) {
            onReleased();
        }
    }

    /**
     * The current reference count (0 when the operation is not in flight and nobody holds it).
     *
     * @return the current reference count
     */
    public final int refCount() {
        return refcnt;
    }

    /** Called when the last reference goes; subclasses that pool themselves recycle here. */
    protected void onReleased() {
    }
}
