// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.loop;

import java.lang.foreign.Arena;

import io.jaio.ErrnoException;
import io.jaio.FdMonitorKind;
import io.jaio.internal.fdmon.EpollFdMonitor;
import io.jaio.internal.fdmon.HandlerTable;
import io.jaio.internal.fdmon.PollFdMonitor;
import io.jaio.internal.uring.UringFdMonitor;

/**
 * The fd monitor a new context runs on: io_uring when the builder asks for it and the kernel
 * agrees, else epoll or poll(2), as {@link FdMonitorKind} describes.
 *
 * @param uring the io_uring monitor, or null when the context does not run on io_uring
 * @param ioUringUnavailable why io_uring is not used (null when it is)
 */
public record FdMonitorChoice(UringFdMonitor uring, String ioUringUnavailable) {
    private static final System.Logger LOG = System.getLogger("io.jaio");

    /**
     * Makes the monitor {@code kind} asks for, falling back from io_uring to poll/epoll (logged at
     * DEBUG), and installs it in {@code table}. Called once by the context's constructor.
     *
     * @throws ErrnoException when the kernel refuses the poll or epoll monitor
     */
    public static FdMonitorChoice install(HandlerTable table, Arena arena, String name, FdMonitorKind kind, boolean allowIoUring,
            int ioUringEntries) throws ErrnoException {
        UringFdMonitor um = null;
        String unavailable = null;
        if (kind == FdMonitorKind.IO_URING) {
            if (!allowIoUring) {
                unavailable = "io_uring disabled for this context (Builder.allowIoUring(false))";
            } else {
                try {
                    um = new UringFdMonitor(table, arena, ioUringEntries);
                } catch (ErrnoException e) {
                    unavailable = e.getMessage();
                }
            }
            if (um == null) {
                String why = unavailable;
                LOG.log(System.Logger.Level.DEBUG, () -> "context '" + name + "': io_uring unavailable (" + why
                        + "); falling back to poll/epoll");
            }
        } else {
            unavailable = "the context was built with fdMonitor(" + kind + ")";
        }
        if (um != null) {
            table.setEpollUpgradeAllowed(false);
            table.setMonitor(um);
        } else if (kind == FdMonitorKind.EPOLL) {
            table.setMonitor(new EpollFdMonitor(table, arena));
        } else {
            table.setMonitor(new PollFdMonitor(table, arena));
        }
        return new FdMonitorChoice(um, unavailable);
    }
}
