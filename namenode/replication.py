"""Replication monitor: keep every block at its file's replication factor.

Only blocks whose replica set changed (DataNode death, reports, setrep, bad
replicas) are examined, so a tick costs nothing on a quiet namespace however
many blocks it holds. Transfers in flight are remembered (``pending``) until
the target reports the replica or the deadline passes.
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from namenode.placement import choose_targets
from namenode.datanodes import NORMAL
from namenode.namesystem import Namesystem, TransferCmd

PENDING_TIMEOUT = 30.0     # seconds before an unreported transfer is retried
MAX_TRANSFERS_PER_TICK = 256


def tick(fsn: Namesystem) -> int:
    """One pass; returns the number of transfers scheduled."""
    now = fsn.monotonic()
    for block_id, (_targets, deadline) in list(fsn.pending.items()):
        if deadline < now:
            del fsn.pending[block_id]
            fsn.needs_check.add(block_id)
    scheduled = 0
    retry = set()
    while fsn.needs_check and scheduled < MAX_TRANSFERS_PER_TICK:
        block_id = fsn.needs_check.pop()
        outcome = _check_block(fsn, block_id, now)
        if outcome == "scheduled":
            scheduled += 1
        elif outcome == "retry":
            retry.add(block_id)
    fsn.needs_check |= retry
    return scheduled


def _being_written(inode, block_id: int) -> bool:
    """The writer's pipeline owns a file's last block until the file is complete."""
    return inode.under_construction and bool(inode.blocks) and inode.blocks[-1] == block_id


def _check_block(fsn: Namesystem, block_id: int, now: float) -> str:
    block = fsn.blocks.get(block_id)
    if block is None:
        return "gone"
    inode = fsn.ns.table.find(block.inode_id)
    if inode is None or _being_written(inode, block_id):
        return "skip"
    expected = inode.replication
    live = fsn.live_locations(block)
    # Replicas on decommissioning DataNodes are sources, but do not count (namenode/decommission.py).
    counted = [n for n in live if n.admin_state == NORMAL]
    in_flight = fsn.pending.get(block_id, (set(), 0))[0]
    missing = expected - len(counted) - len(in_flight)
    if missing > 0:
        if not live:
            return "retry"   # no source: missing until some DataNode reports it
        return _transfer(fsn, block, missing, live, counted, in_flight, now) or "retry"
    if not in_flight and len(counted) == expected and _on_one_rack_of_several(fsn, counted):
        # HDFS's mis-replicated block: one more replica on another rack, then the excess
        # rule below drops one from the crowded rack.
        return _transfer(fsn, block, 1, live, counted, in_flight, now, other_rack_only=True) or "ok"
    if len(counted) > expected and not in_flight:
        for node in _excess(counted, len(counted) - expected):
            fsn.blocks.remove_replica(block_id, node.uuid)
            fsn.queue_delete(node.uuid, block_id, block.generation_stamp, block.num_bytes)
    if len(counted) >= expected and fsn.blocks.corrupt.get(block_id):
        fsn.delete_corrupt_replicas(block)        # enough good copies again
    return "ok"


def _transfer(fsn: Namesystem, block, count: int, live: list, counted: list, in_flight: set, now: float,
              other_rack_only: bool = False) -> str | None:
    """Copy ``block`` from its least busy live holder to ``count`` new DataNodes chosen by the
    placement policy; None when no DataNode can take it."""
    nodes = fsn.datanodes.nodes
    receiving = [nodes[u] for u in in_flight if u in nodes and nodes[u].alive]
    holders = {n.host_label for n in live} | {n.host_label for n in receiving}
    holders |= {nodes[u].host_label for u in fsn.blocks.corrupt.get(block.block_id, ()) if u in nodes}
    candidates = fsn.datanodes.in_service()
    if other_rack_only:
        candidates = [dn for dn in candidates if dn.rack != counted[0].rack]
    targets = choose_targets(count, candidates, exclude_hosts=holders, existing=counted + receiving)
    if not targets:
        fsn.delete_corrupt_replicas(block)    # frees a host once the deletion is reported
        return None
    source = min(live, key=lambda n: n.active_transfers)
    source.commands.append(TransferCmd(block.block_id, block.generation_stamp, block.num_bytes, targets))
    source.active_transfers += 1
    fsn.pending[block.block_id] = (in_flight | {t.uuid for t in targets}, now + PENDING_TIMEOUT)
    return "scheduled"


def _on_one_rack_of_several(fsn: Namesystem, counted: list) -> bool:
    """A block of 2+ replicas all on one rack while DataNodes in service span more racks."""
    if len(counted) < 2 or len({n.rack for n in counted}) != 1:
        return False
    return any(dn.rack != counted[0].rack for dn in fsn.datanodes.in_service())


def _excess(counted: list, how_many: int) -> list:
    """Replicas to drop (HDFS's rule): each from the rack holding the most replicas, so the
    block keeps every rack it spans; within it the DataNode with the least space left."""
    keep, dropped = list(counted), []
    for _ in range(how_many):
        per_rack = Counter(n.rack for n in keep)
        crowded = max(per_rack.values())
        node = min((n for n in keep if per_rack[n.rack] == crowded), key=lambda n: n.remaining)
        keep.remove(node)
        dropped.append(node)
    return dropped


def under_replicated(fsn: Namesystem) -> tuple[int, int]:
    """(under-replicated, missing) block counts — a full scan, for reports only."""
    blocks = fsn.blocks
    live = blocks.live_replica_counts(node.uuid for node in fsn.datanodes.live())
    expected = np.frombuffer(fsn.ns.table.replication, dtype=np.uint16)[blocks.column("inode")]
    counted = blocks.column("ids") != 0
    for slot in _last_blocks_being_written(fsn):
        counted[slot] = False
    missing = int(np.count_nonzero(counted & (live == 0)))
    under = int(np.count_nonzero(counted & (live > 0) & (live < expected)))
    return under, missing


def _last_blocks_being_written(fsn: Namesystem) -> list[int]:
    """Block slots a writer's pipeline still owns (see _being_written)."""
    table, slots = fsn.ns.table, []
    for inode_slot in table.leases:
        blocks = table.blocks_of(inode_slot)
        slot = fsn.blocks.slot_of(blocks[-1]) if blocks else None
        if slot is not None:
            slots.append(slot)
    return slots
