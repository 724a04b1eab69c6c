"""Block map (block -> file, length, generation stamp, replicas) and placement.

Replica locations are not persisted: they are rebuilt from DataNode block
reports, as in HDFS. Pure data structures, no I/O. Blocks live in columns
indexed by slot, like inodes (namenode/inode_table.py; layout in
namenode/README.md), with a hash index from block id to slot.
"""
from __future__ import annotations

from array import array
from typing import NamedTuple

import numpy as np

from namenode import columns
from namenode.slot_index import CHUNK, EMPTY, NeedsRebuild, SlotIndex

# name, array typecode: one array per attribute, indexed by block slot. A
# replica is a DataNode number (1-based, 0 = none) in one of three columns;
# replicas beyond the third go to ``extra_replicas``.
COLUMNS = (("ids", "q"), ("inode", "i"), ("gs", "q"), ("num_bytes", "q"), ("committed", "B"),
           ("r0", "H"), ("r1", "H"), ("r2", "H"))
REPLICA_COLUMNS = ("r0", "r1", "r2")


_MIX = 2654435761


def _hash(block_id: int) -> int:
    # Block ids are sequential: a multiplicative hash spreads them over the buckets.
    return block_id * _MIX


def _hashes(block_ids: np.ndarray) -> np.ndarray:
    """_hash of many ids (the low 64 bits, all an index uses)."""
    return block_ids.astype(np.uint64) * np.uint64(_MIX)


class BlockInfo:
    """A view of one block's columns. ``replicas`` is a copy: change it through the BlockMap."""
    __slots__ = ("map", "slot")

    def __init__(self, block_map: "BlockMap", slot: int):
        self.map, self.slot = block_map, slot

    def __eq__(self, other) -> bool:
        return isinstance(other, BlockInfo) and other.slot == self.slot and other.map is self.map

    def __hash__(self) -> int:
        return self.slot

    def __repr__(self) -> str:
        return f"BlockInfo({self.block_id}, gs={self.generation_stamp}, {self.num_bytes} bytes)"

    @property
    def block_id(self) -> int:
        return self.map.ids[self.slot]

    @property
    def inode_id(self) -> int:
        return self.map.inode[self.slot]

    @property
    def generation_stamp(self) -> int:
        return self.map.gs[self.slot]

    @property
    def num_bytes(self) -> int:
        return self.map.num_bytes[self.slot]

    @num_bytes.setter
    def num_bytes(self, value: int) -> None:
        self.map.num_bytes[self.slot] = value

    @property
    def committed(self) -> bool:
        """The length is fixed by the writer (AddBlock of the next block, or Complete)."""
        return bool(self.map.committed[self.slot])

    @committed.setter
    def committed(self, value: bool) -> None:
        self.map.committed[self.slot] = value

    @property
    def replicas(self) -> set[str]:
        """DataNode uuids with a good replica."""
        return self.map.replica_uuids(self.slot)


class RemovedBlock(NamedTuple):
    """What is left to know about a block that left the map: enough to delete its replicas."""
    block_id: int
    generation_stamp: int
    num_bytes: int
    replicas: set


class BlockMap:
    def __init__(self):
        columns.create(self, COLUMNS)
        self.index = SlotIndex()
        self.extra_replicas: dict[int, set[int]] = {}   # slot -> DataNode numbers past the third replica
        self.corrupt: dict[int, set[str]] = {}          # block id -> uuids with a bad replica
        self.uuids: list[str] = [""]                    # DataNode number -> uuid (0 = none)
        self._numbers: dict[str, int] = {}
        self._free = array("i")
        self.next_block_id = 1 << 30
        self.next_generation_stamp = 1000

    def __len__(self) -> int:
        return self.index.count

    def __contains__(self, block_id: int) -> bool:
        return self.slot_of(block_id) is not None

    def slot_of(self, block_id: int) -> int | None:
        buckets, mask, ids = self.index.buckets, self.index.mask, self.ids
        i = _hash(block_id) & mask
        while True:
            slot = buckets[i]
            if slot == EMPTY:
                return None
            if slot >= 0 and ids[slot] == block_id:
                return slot
            i = (i + 1) & mask

    def get(self, block_id: int) -> BlockInfo | None:
        slot = self.slot_of(block_id)
        return None if slot is None else BlockInfo(self, slot)

    def all_blocks(self):
        ids = self.ids
        return (BlockInfo(self, slot) for slot in range(len(ids)) if ids[slot])

    def add(self, block_id: int, inode_id: int, generation_stamp: int, num_bytes: int = 0,
            committed: bool = False) -> BlockInfo:
        slot = self._free.pop() if self._free else columns.append_row(self, COLUMNS)
        self.ids[slot], self.inode[slot], self.gs[slot] = block_id, inode_id, generation_stamp
        self.num_bytes[slot], self.committed[slot] = num_bytes, committed
        self.r0[slot] = self.r1[slot] = self.r2[slot] = 0
        try:
            self.index.insert(_hash(block_id), slot)
        except NeedsRebuild:
            self._rebuild_index()          # includes ``slot``: its id is already set
        self.next_block_id = max(self.next_block_id, block_id + 1)
        self.next_generation_stamp = max(self.next_generation_stamp, generation_stamp + 1)
        return BlockInfo(self, slot)

    def remove(self, block_id: int) -> RemovedBlock | None:
        """Forget a block; returns what callers need to invalidate its replicas."""
        self.corrupt.pop(block_id, None)
        slot = self.slot_of(block_id)
        if slot is None:
            return None
        gone = RemovedBlock(block_id, self.gs[slot], self.num_bytes[slot], self.replica_uuids(slot))
        self.index.remove(_hash(block_id), slot)
        self.ids[slot] = 0
        self.extra_replicas.pop(slot, None)
        self._free.append(slot)
        return gone

    # ------------------------------------------------------------ replicas
    def number_of(self, uuid: str) -> int:
        number = self._numbers.get(uuid)
        if number is None:
            if len(self.uuids) > 0xFFFF:
                raise OverflowError(f"more than {0xFFFF} DataNodes")
            number = self._numbers[uuid] = len(self.uuids)
            self.uuids.append(uuid)
        return number

    def replica_uuids(self, slot: int) -> set[str]:
        uuids = self.uuids
        found = {uuids[n] for n in (self.r0[slot], self.r1[slot], self.r2[slot]) if n}
        extra = self.extra_replicas.get(slot)
        return found | {uuids[n] for n in extra} if extra else found

    def add_replica(self, block: BlockInfo, uuid: str) -> None:
        slot, number = block.slot, self.number_of(uuid)
        columns = (self.r0, self.r1, self.r2)
        if any(column[slot] == number for column in columns):
            return
        for column in columns:
            if not column[slot]:
                column[slot] = number
                return
        self.extra_replicas.setdefault(slot, set()).add(number)

    def remove_replica(self, block_id: int, uuid: str) -> None:
        slot, number = self.slot_of(block_id), self._numbers.get(uuid)
        if slot is None or number is None:
            return
        for column in (self.r0, self.r1, self.r2):
            if column[slot] == number:
                column[slot] = 0
        extra = self.extra_replicas.get(slot)
        if extra is not None:
            extra.discard(number)
            if not extra:
                del self.extra_replicas[slot]

    def mark_corrupt(self, block_id: int, uuid: str) -> None:
        self.remove_replica(block_id, uuid)
        if block_id in self:
            self.corrupt.setdefault(block_id, set()).add(uuid)

    def _slots_on(self, number: int, clear: bool = False) -> np.ndarray:
        """Slots holding a replica on DataNode ``number`` (a vectorised scan of the replica columns)."""
        found = []
        for name in REPLICA_COLUMNS:
            column = np.frombuffer(getattr(self, name), dtype=np.uint16)
            hits = np.flatnonzero(column == number)
            if clear:
                column[hits] = 0
            found.append(hits)
        found.append(np.array([s for s, extra in self.extra_replicas.items() if number in extra], dtype=np.int64))
        if clear:
            for slot in found[-1]:
                self.extra_replicas[int(slot)].discard(number)
        return np.concatenate(found)

    def block_ids_on(self, uuid: str) -> list[int]:
        """Ids of the blocks with a good replica on DataNode ``uuid``."""
        number = self._numbers.get(uuid)
        if number is None:
            return []
        return np.frombuffer(self.ids, dtype=np.int64)[self._slots_on(number)].tolist()

    def replica_count(self, uuid: str) -> int:
        number = self._numbers.get(uuid)
        return 0 if number is None else len(self._slots_on(number))

    def drop_datanode(self, uuid: str) -> set[int]:
        """A DataNode is dead or re-registering: forget its replicas; returns the affected block ids."""
        affected: set[int] = set()
        number = self._numbers.get(uuid)
        if number is not None:
            slots = self._slots_on(number, clear=True)
            affected.update(np.frombuffer(self.ids, dtype=np.int64)[slots].tolist())
        for block_id, uuids in list(self.corrupt.items()):
            if uuid in uuids:
                uuids.discard(uuid)
                affected.add(block_id)
        return affected

    def corrupt_count(self) -> int:
        return sum(len(uuids) for uuids in self.corrupt.values())

    def column(self, name: str) -> np.ndarray:
        """A numpy copy of one column (for reports and images)."""
        return columns.copy(self, COLUMNS, name)

    def view(self, name: str) -> np.ndarray:
        """A numpy view of one column (no copy; do not keep it across adds)."""
        return columns.view(self, COLUMNS, name)

    def _rebuild_index(self) -> None:
        """Refill the id index from the ids column, a chunk of slots at a time."""
        ids = self.view("ids")
        self.index.rebuild(int(np.count_nonzero(ids)), self._index_chunks(ids))

    @staticmethod
    def _index_chunks(ids: np.ndarray):
        for start in range(0, len(ids), CHUNK):
            used = np.flatnonzero(ids[start:start + CHUNK])
            yield _hashes(ids[start + used]), (used + start).astype(np.int32)

    def load(self, block_id, inode_id, generation_stamp, num_bytes, committed) -> None:
        """Fill an empty map from image columns (numpy arrays of equal length)."""
        columns.fill(self, COLUMNS, {"ids": block_id, "inode": inode_id, "gs": generation_stamp,
                                     "num_bytes": num_bytes, "committed": committed}, len(block_id))
        self._rebuild_index()
        if len(block_id):
            self.next_block_id = max(self.next_block_id, int(block_id.max()) + 1)
            self.next_generation_stamp = max(self.next_generation_stamp, int(generation_stamp.max()) + 1)

    def live_replica_counts(self, live_uuids) -> np.ndarray:
        """Per slot, how many of its good replicas are on live DataNodes (free slots: 0)."""
        live = np.zeros(len(self.uuids), dtype=np.int32)
        for uuid in live_uuids:
            if uuid in self._numbers:
                live[self._numbers[uuid]] = 1
        live[0] = 0
        counts = sum(live[self.column(name)] for name in REPLICA_COLUMNS) if len(self.ids) else np.zeros(0, np.int32)
        for slot, extra in self.extra_replicas.items():
            counts[slot] += int(sum(live[n] for n in extra))
        return counts

    def nbytes(self) -> int:
        return columns.nbytes(self, COLUMNS) + self.index.nbytes()

