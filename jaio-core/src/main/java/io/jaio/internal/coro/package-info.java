// SPDX-License-Identifier: Apache-2.0
/**
 * Fibers for coroutines (not exported): a virtual thread scheduled by the thread that enters it
 * ({@code VirtualFiber}, the only class that touches {@code jdk.internal.vm}), behind
 * {@code Fibers}, which checks the JVM flags first so that a JVM without them still loads
 * everything else.
 *
 * <p>Threading: see {@code Fiber}: one thread runs a fiber at a time.
 *
 * <p>Builds on: the JDK's internals only; used by {@code io.jaio.coroutine}.
 */
package io.jaio.internal.coro;
