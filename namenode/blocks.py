"""Block map (block -> file, length, generation stamp, replicas) and placement.

Replica locations are not persisted: they are rebuilt from DataNode block
reports, as in HDFS. Pure data structures, no I/O.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(slots=True)
class BlockInfo:
    block_id: int
    inode_id: int
    generation_stamp: int
    num_bytes: int = 0
    committed: bool = False           # length fixed by the writer (AddBlock/Complete)
    replicas: set[str] = field(default_factory=set)   # DataNode uuids with a good replica


class BlockMap:
    def __init__(self):
        self.blocks: dict[int, BlockInfo] = {}
        self.by_datanode: dict[str, set[int]] = {}
        self.corrupt: dict[int, set[str]] = {}     # block id -> uuids with a bad replica
        self.next_block_id = 1 << 30
        self.next_generation_stamp = 1000

    def __len__(self) -> int:
        return len(self.blocks)

    def get(self, block_id: int) -> BlockInfo | None:
        return self.blocks.get(block_id)

    def add(self, block: BlockInfo) -> None:
        self.blocks[block.block_id] = block
        self.next_block_id = max(self.next_block_id, block.block_id + 1)
        self.next_generation_stamp = max(self.next_generation_stamp, block.generation_stamp + 1)

    def remove(self, block_id: int) -> BlockInfo | None:
        """Forget a block; returns it so callers can invalidate its replicas."""
        block = self.blocks.pop(block_id, None)
        if block is not None:
            for uuid in block.replicas:
                self.by_datanode.get(uuid, set()).discard(block_id)
        self.corrupt.pop(block_id, None)
        return block

    def add_replica(self, block: BlockInfo, uuid: str) -> None:
        block.replicas.add(uuid)
        self.by_datanode.setdefault(uuid, set()).add(block.block_id)

    def remove_replica(self, block_id: int, uuid: str) -> None:
        block = self.blocks.get(block_id)
        if block is not None:
            block.replicas.discard(uuid)
        self.by_datanode.get(uuid, set()).discard(block_id)

    def mark_corrupt(self, block_id: int, uuid: str) -> None:
        self.remove_replica(block_id, uuid)
        if block_id in self.blocks:
            self.corrupt.setdefault(block_id, set()).add(uuid)

    def drop_datanode(self, uuid: str) -> set[int]:
        """A DataNode is dead: forget its replicas; returns the affected block ids."""
        affected = self.by_datanode.pop(uuid, set())
        for block_id, uuids in list(self.corrupt.items()):
            if uuid in uuids:
                uuids.discard(uuid)
                affected.add(block_id)
        for block_id in affected:
            block = self.blocks.get(block_id)
            if block is not None:
                block.replicas.discard(uuid)
        return affected

    def corrupt_count(self) -> int:
        return sum(len(uuids) for uuids in self.corrupt.values())


def choose_targets(count: int, candidates: list, writer_host: str = "", exclude_hosts=()) -> list:
    """Pick ``count`` DataNodes on distinct hosts.

    First replica on the writer's host when a live DataNode has that label (so
    a co-located writer/trainer keeps a local copy); the rest on other hosts,
    preferring the emptiest. ``candidates`` are live DataNodeInfo objects."""
    chosen, hosts = [], set(exclude_hosts)
    local = [dn for dn in candidates if dn.host_label == writer_host and dn.host_label not in hosts]
    if local and count > 0:
        chosen.append(local[0])
        hosts.add(local[0].host_label)
    rest = [dn for dn in candidates if dn.host_label not in hosts]
    random.shuffle(rest)   # break ties so equal nodes share the load
    rest.sort(key=lambda dn: (dn.active_transfers, -dn.remaining))
    for dn in rest:
        if len(chosen) >= count:
            break
        if dn.host_label not in hosts:
            chosen.append(dn)
            hosts.add(dn.host_label)
    return chosen
