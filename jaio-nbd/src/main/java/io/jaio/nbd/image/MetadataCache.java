// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd.image;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A small least-recently-used cache of one-cluster metadata tables (L2 tables, refcount blocks)
 * keyed by file offset. Tables are written through (every change goes to the file at once), so
 * an evicted table is simply dropped. Guarded by the image's metadata lock: only the coroutine
 * holding it may call.
 */
final class MetadataCache {
    private final int capacity;
    private final int tableBytes;
    private final LinkedHashMap<Long, MemorySegment> map;

    MetadataCache(int capacity, int tableBytes) {
        this.capacity = capacity;
        this.tableBytes = tableBytes;
        this.map = new LinkedHashMap<>(capacity * 2, 0.75f, true) {
            private static final long serialVersionUID = 1L;

            @Override
            protected boolean removeEldestEntry(Map.Entry<Long, MemorySegment> eldest) {
                return size() > MetadataCache.this.capacity;
            }
        };
    }

    /** The cached table at {@code offset}, or null. */
    MemorySegment get(long offset) {
        return map.get(offset);
    }

    /** A new zeroed table buffer (not cached yet). */
    MemorySegment newTable() {
        return Arena.ofAuto().allocate(tableBytes, 4096);
    }

    void put(long offset, MemorySegment table) {
        map.put(offset, table);
    }

    void remove(long offset) {
        map.remove(offset);
    }
}
