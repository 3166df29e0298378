// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd;

import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/** Big-endian, unaligned layouts for the NBD wire format. Stateless. */
final class Wire {
    private Wire() {
    }

    static final ValueLayout.OfInt BE_INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    static final ValueLayout.OfLong BE_LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    static final ValueLayout.OfShort BE_SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
}
