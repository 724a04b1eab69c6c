"""An open-addressing hash index from a key to a slot number, in one int32 region.

A Python dict costs ~100 bytes per entry once its key and value objects are
counted; this index costs 4 bytes per bucket (5.7-8 bytes per entry at its
load factor). It stores only slot numbers: the caller's columns hold the keys,
so lookups are written by the caller as a probe loop over ``buckets`` that
compares the candidate slot's key columns (see InodeTable.lookup_slot and
BlockMap.slot_of). Deleted entries leave a tombstone until the next rebuild.

Growth without a second table: the buckets are the front of one reservation
(namenode/columns.py) big enough for any size the index can reach, so a
rebuild clears the region at its new size and refills it in place. The keys
come from the owner's columns, not from the old buckets, so nothing of the old
table needs to survive. The owner hands the keys over in chunks (hashes
computed with numpy with the same function its lookups use one key at a time),
which bounds the rebuild's temporaries to a chunk instead of several arrays as
long as the table.
"""
from __future__ import annotations

import numpy as np

from namenode import columns

EMPTY, DELETED = -1, -2
_MIN_BUCKETS = 8
MAX_BUCKETS = 1 << 32          # twice the most slots an int32 can number: half load at the largest
CHUNK = 1 << 16                # keys per rebuild step (owners chunk their columns by this)


class SlotIndex:
    def __init__(self, capacity: int = _MIN_BUCKETS):
        self._region = columns.staggered(columns.reserve(MAX_BUCKETS * 4 + columns.PAGE), "i")
        self.buckets = self._region[:0]
        self._resize(capacity)
        self.count = 0          # live entries
        self._used = 0          # live entries + tombstones

    def _resize(self, capacity: int) -> None:
        """``capacity`` empty buckets at the front of the region (pages past them go back)."""
        if capacity > len(self._region):     # only where the full reservation was refused
            self._region = columns.staggered(
                columns.reserve(max(capacity, 4 * len(self._region)) * 4 + columns.PAGE, first=False), "i")
            if capacity > len(self._region):
                raise MemoryError(f"cannot reserve {capacity} index buckets")
        shrinking = capacity < len(self.buckets)
        self.buckets = self._region[:capacity]
        np.frombuffer(self.buckets, dtype=np.int32)[:] = EMPTY
        if shrinking:
            columns.release(self._region.obj, capacity * 4)
        self.mask = capacity - 1

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

    def rebuild(self, count: int, chunks) -> None:
        """Refill, at half load, with ``count`` entries handed over as an iterable of
        (key hashes uint64, slots) array pairs."""
        capacity = _MIN_BUCKETS
        while capacity < 2 * count:
            capacity *= 2
        self._resize(capacity)
        buckets = np.frombuffer(self.buckets, dtype=np.int32)
        placed = 0
        for key_hashes, slots in chunks:
            placed += len(slots)
            if placed * 10 > capacity * 7:
                raise ValueError(f"rebuild of {count} entries was handed more")
            _place(buckets, np.asarray(key_hashes, dtype=np.uint64), np.asarray(slots, dtype=np.int32))
        self.count = self._used = placed

    def build(self, key_hashes: np.ndarray, slots: np.ndarray) -> None:
        """Refill from one array of key hashes and one of slots."""
        self.rebuild(len(slots), [(key_hashes, slots)])

    def nbytes(self) -> int:
        return self.buckets.nbytes


def _place(buckets: np.ndarray, key_hashes: np.ndarray, slots: np.ndarray) -> None:
    """Insert many entries, vectorised: each round places, per free bucket, the first
    entry probing it; the rest step on, so every entry ends where one-at-a-time
    inserts could have put it."""
    mask = len(buckets) - 1
    position = (key_hashes & np.uint64(mask)).astype(np.int64)
    waiting = np.arange(len(slots))
    while len(waiting):
        probe = position[waiting]
        free = buckets[probe] == EMPTY
        claimed, first = np.unique(probe[free], return_index=True)
        winners = waiting[free][first]
        buckets[claimed] = slots[winners]
        placed = np.zeros(len(slots), dtype=bool)
        placed[winners] = True
        waiting = waiting[~placed[waiting]]
        position[waiting] = (position[waiting] + 1) & mask


class NeedsRebuild(Exception):
    """Raised by insert when the index is too full: the owner rebuilds it from its columns."""
