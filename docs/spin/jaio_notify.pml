/*
 * jaio's wake-up protocol (Wakeup.aioNotify, wakeForChange, PollLoop.pollLocked), after QEMU's
 * docs/spin/aio_notify.promela and aio_notify_accept.promela. Promela interleaves statements
 * sequentially consistently: this model checks the protocol's logic (which side re-checks what,
 * in which order); the memory-ordering half (volatile accesses as the store->load fence) is
 * checked by the jcstress tests WakeupProtocolTest / WakeupMissingFenceBugControl.
 *
 * Check it (docs/spin/check.sh runs all of these):
 *     spin -a docs/spin/jaio_notify.pml && gcc -O2 -o pan pan.c && ./pan -a -f
 * The fixed protocol must report "errors: 0". Each bug variant must report an acceptance cycle:
 *     -DBUG            the home thread's own schedules inside the poll window skip aioNotify
 *                      (wakeForChange without waitWindow)
 *     -DBUG_NORECHECK  poll() does not re-read notified after raising notifyMe (QEMU 3.1 item 1)
 *     -DBUG2           QEMU's BUG2 (aio_notify_accept.promela) in the old design: the accept
 *                      also drains the eventfd when notified was set, and aio_notify writes the
 *                      eventfd before it sets notified. jaio drains only in the eventfd's own
 *                      read handler and sets notified first, which is what makes its skip safe
 *
 * Property: whenever work is pending (req) it is eventually consumed: ltl no_lost_wakeup.
 * A home thread blocked on the eventfd with req set and no writer left is a run where req stays
 * true forever, which ./pan -a finds as an acceptance cycle.
 */

bool req;        /* a bottom half is queued and not yet taken by BhQueue.poll()'s exchange */
bool notified;   /* Wakeup.notified */
byte notify_me;  /* Wakeup.notifyMe (steps of 2) */
bool event;      /* the eventfd is readable (level-triggered) */
bool window;     /* Wakeup.waitWindow: between computeTimeoutNs() and the end of the wait */
byte home_schedules; /* bounds the home thread's own schedules */

#define NOTIFIERS 2
#define PER_NOTIFIER 2
#define HOME_SCHEDULES 2

/* Wakeup.aioNotify(): skip when already notified; set notified; read notifyMe; kick. */
inline aio_notify() {
    if
    :: notified -> skip
    :: else ->
#ifdef BUG2
        if
        :: notify_me != 0 -> event = 1
        :: else -> skip
        fi;
        notified = 1
#else
        notified = 1;
        if
        :: notify_me != 0 -> event = 1
        :: else -> skip
        fi
#endif
    fi
}

/* Any thread: BottomHalf.schedule() = push, then wakeForChange() -> aioNotify(). */
proctype notifier() {
    byte n = 0;
    do
    :: n < PER_NOTIFIER ->
        req = 1;
        aio_notify();
        n++
    :: n < PER_NOTIFIER -> break /* a notifier may stop early */
    :: n == PER_NOTIFIER -> break
    od
}

/* The home thread scheduling a bottom half itself, from a callback (wakeForChange). */
inline home_schedule() {
    if
    :: home_schedules < HOME_SCHEDULES ->
        home_schedules++;
        req = 1;
#ifdef BUG
        skip /* the shortcut without waitWindow: the home thread never notifies itself */
#else
        if
        :: window -> aio_notify()
        :: else -> skip /* the next computeTimeoutNs() sees req */
        fi
#endif
    :: skip
    fi
}

/* The home thread: PollLoop.pollLocked() iterations forever. */
active proctype home() {
    bool timeout_zero;
    bool ready;
    do
    :: true ->
        window = 1;
        timeout_zero = req;              /* computeTimeoutNs(): BhQueue.timeoutNs() */
        home_schedule();                 /* io_poll / io_poll_begin callbacks (tryPollMode) */
        if
        :: !timeout_zero ->
            notify_me = notify_me + 2;   /* NOTIFY_ME.setVolatile(nm + 2) */
#ifndef BUG_NORECHECK
            if
            :: notified -> timeout_zero = 1
            :: else -> skip
            fi
#endif
        :: else -> skip
        fi;
        home_schedule();                 /* io_poll_end callbacks (setStarted(false)) */
        if                               /* monitor.wait(): block until the eventfd is readable */
        :: !timeout_zero -> event; ready = 1
        :: else -> ready = event         /* a zero-timeout poll still reports readiness */
        fi;
        window = 0;
        if
        :: !timeout_zero -> notify_me = notify_me - 2
        :: else -> skip
        fi;
        if                               /* the accept: clear notified */
        :: notified ->
            notified = 0;
#ifdef BUG2
            event = 0;
#endif
            skip
        :: else -> skip
        fi;
        req = 0;                         /* BhQueue.poll(): the exchange takes every queued BH */
        home_schedule();                 /* bottom-half callbacks: outside the window */
        if                               /* dispatchReadyHandlers(): the eventfd's read handler drains it */
        :: ready -> event = 0
        :: else -> skip
        fi
    od
}

init {
    byte i = 0;
    atomic {
        do
        :: i < NOTIFIERS -> run notifier(); i++
        :: else -> break
        od
    }
}

ltl no_lost_wakeup { [] (req -> <> !req) }
