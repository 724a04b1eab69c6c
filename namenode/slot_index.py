"""An open-addressing hash index from a key to a slot number, in one int32 array.

A Python dict costs ~100 bytes per entry once its key and value objects are
counted; this index costs 4 bytes per bucket (5.7-8 bytes per entry at its
load factor). It stores only slot numbers: the caller's columns hold the keys,
so lookups are written by the caller as a probe loop over ``buckets`` that
compares the candidate slot's key columns (see InodeTable.lookup_slot and
BlockMap.slot_of). Deleted entries leave a tombstone until the next rebuild.
Rebuilds (growth, image loading) are vectorised: the owners compute every key
hash with numpy with the same function their lookups use one key at a time.
"""
from __future__ import annotations

from array import array

import numpy as np

EMPTY, DELETED = -1, -2
_MIN_BUCKETS = 8


class SlotIndex:
    def __init__(self, capacity: int = _MIN_BUCKETS):
        self.buckets = array("i", [EMPTY]) * capacity
        self.mask = capacity - 1
        self.count = 0          # live entries
        self._used = 0          # live entries + tombstones

    def insert(self, key_hash: int, slot: int) -> None:
        """Add ``slot`` (the caller has checked its key is not present)."""
        if (self._used + 1) * 10 > len(self.buckets) * 7:
            raise NeedsRebuild
        buckets, mask = self.buckets, self.mask
        i = key_hash & mask
        while buckets[i] >= 0:
            i = (i + 1) & mask
        if buckets[i] == EMPTY:
            self._used += 1
        buckets[i] = slot
        self.count += 1

    def remove(self, key_hash: int, slot: int) -> None:
        buckets, mask = self.buckets, self.mask
        i = key_hash & mask
        while buckets[i] != slot:
            if buckets[i] == EMPTY:
                raise KeyError(slot)
            i = (i + 1) & mask
        buckets[i] = DELETED
        self.count -= 1

    def build(self, key_hashes: np.ndarray, slots: np.ndarray) -> None:
        """Refill from arrays of key hashes (uint64) and slots at half load, vectorised:
        each round places, per free bucket, the first entry probing it; the rest
        step on, so every entry ends where one-at-a-time inserts could have put it."""
        count = len(slots)
        capacity = _MIN_BUCKETS
        while capacity < 2 * count:
            capacity *= 2
        mask = capacity - 1
        buckets = np.full(capacity, EMPTY, dtype=np.int32)
        position = (np.asarray(key_hashes, dtype=np.uint64) & np.uint64(mask)).astype(np.int64)
        waiting = np.arange(count)
        while len(waiting):
            probe = position[waiting]
            free = buckets[probe] == EMPTY
            claimed, first = np.unique(probe[free], return_index=True)
            winners = waiting[free][first]
            buckets[claimed] = slots[winners]
            placed = np.zeros(count, dtype=bool)
            placed[winners] = True
            waiting = waiting[~placed[waiting]]
            position[waiting] = (position[waiting] + 1) & mask
        self.buckets = array("i", buckets.tobytes())
        self.mask, self.count, self._used = mask, count, count

    def nbytes(self) -> int:
        return self.buckets.itemsize * len(self.buckets)


class NeedsRebuild(Exception):
    """Raised by insert when the index is too full: the owner rebuilds it from its columns."""
