// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.fdmon;

/**
 * The handlers found ready by one {@code poll()} call, in an intrusive list (QEMU's
 * {@code AioHandlerList ready_list}). Adding a node first takes it off whatever ready list it is
 * on, which may belong to an outer, nested {@code poll()}: that is how a nested call dispatches
 * what its parent found.
 *
 * <p>Home thread only. The context keeps one list per nesting depth, so polling allocates nothing.
 */
public final class ReadyList {
    private AioHandler head;
    /** The timeout this poll() level is working with, in ns (-1 = infinite); see PollSet. */
    public long timeoutNs;

    /** Adds {@code n} at the head with {@code revents} (QEMU: aio_add_ready_handler). */
    public void add(AioHandler n, int revents) {
        unlink(n);
        n.revents = revents;
        link(n);
    }

    /** Adds {@code n} at the head as found ready by userspace polling (aio_add_poll_ready_handler). */
    public void addPollReady(AioHandler n) {
        unlink(n);
        n.pollReady = true;
        link(n);
    }

    /** Removes and returns the head, or null. */
    public AioHandler pop() {
        AioHandler n = head;
        if (n != null) {
            remove(n);
        }
        return n;
    }

    public boolean isEmpty() {
        return head == null;
    }

    /** Forgets every node (used when a context closes). */
    public void clear() {
        while (pop() != null) {
            // pop() unlinks; the loop ends when the list is empty
        }
    }

    private static void unlink(AioHandler n) {
        if (n.readyOwner != null) {
            n.readyOwner.remove(n);
        }
    }

    private void link(AioHandler n) {
        n.readyOwner = this;
        n.readyPrev = null;
        n.readyNext = head;
        if (head != null) {
            head.readyPrev = n;
        }
        head = n;
    }

    private void remove(AioHandler n) {
        if (n.readyPrev != null) {
            n.readyPrev.readyNext = n.readyNext;
        } else {
            head = n.readyNext;
        }
        if (n.readyNext != null) {
            n.readyNext.readyPrev = n.readyPrev;
        }
        n.readyNext = null;
        n.readyPrev = null;
        n.readyOwner = null;
    }
}
