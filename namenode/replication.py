"""Replication monitor: keep every block at its file's replication factor.

Only blocks whose replica set changed (DataNode death, reports, setrep, bad
replicas) are examined, so a tick costs nothing on a quiet namespace however
many blocks it holds. Transfers in flight are remembered (``pending``) until
the target reports the replica or the deadline passes.
"""
from __future__ import annotations

import numpy as np

from namenode.blocks import choose_targets
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
        holders = {n.host_label for n in live} | {fsn.datanodes.nodes[u].host_label for u in in_flight
                                                   if u in fsn.datanodes.nodes}
        holders |= {fsn.datanodes.nodes[u].host_label for u in fsn.blocks.corrupt.get(block_id, ())
                    if u in fsn.datanodes.nodes}
        targets = choose_targets(missing, fsn.datanodes.in_service(), exclude_hosts=holders)
        if not targets:
            fsn.delete_corrupt_replicas(block)    # frees a host once the deletion is reported
            return "retry"
        source = min(live, key=lambda n: n.active_transfers)
        source.commands.append(TransferCmd(block.block_id, block.generation_stamp, block.num_bytes, targets))
        source.active_transfers += 1
        fsn.pending[block_id] = (in_flight | {t.uuid for t in targets}, now + PENDING_TIMEOUT)
        return "scheduled"
    if len(counted) > expected and not in_flight:
        # Excess: drop replicas from the fullest DataNodes (a decommissioning one keeps its copies).
        for node in sorted(counted, key=lambda n: n.remaining)[:len(counted) - expected]:
            fsn.blocks.remove_replica(block_id, node.uuid)
            fsn.queue_delete(node.uuid, block_id, block.generation_stamp, block.num_bytes)
    if len(counted) >= expected and fsn.blocks.corrupt.get(block_id):
        fsn.delete_corrupt_replicas(block)        # enough good copies again
    return "ok"


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
