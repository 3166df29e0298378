// SPDX-License-Identifier: Apache-2.0
package io.jaio.bench;

import java.util.concurrent.TimeUnit;

import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.nio.NioIoHandler;

/** The Netty 4.2 event loops the benchmarks compare against: one loop per group. */
final class NettyLoops {
    private NettyLoops() {
    }

    /** "nio" or "epoll": a single-thread group on that IoHandler. */
    static MultiThreadIoEventLoopGroup newGroup(String transport) {
        IoHandlerFactory f = switch (transport) {
            case "nio" -> NioIoHandler.newFactory();
            case "epoll" -> EpollIoHandler.newFactory();
            default -> throw new IllegalArgumentException("transport=" + transport + " (expected nio or epoll)");
        };
        return new MultiThreadIoEventLoopGroup(1, f);
    }

    static void shutdown(MultiThreadIoEventLoopGroup g) {
        g.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }
}
