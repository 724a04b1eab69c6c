"""What a NameNode reports about itself: the GetStats RPC, /metrics, /jmx and the
status page all read these two functions, so every view shows the same figures.

Cheap enough to call every second: counts the tables keep, one vectorised pass
over the block column for under-replicated and missing blocks, no walk over inodes.
"""
from __future__ import annotations

from typing import NamedTuple

from namenode import budget as budget_mod, replication
from namenode.namesystem import Namesystem


class DatanodeRow(NamedTuple):
    """One registered DataNode as this NameNode sees it."""
    node: object                # namenode.datanodes.DatanodeInfo
    alive: bool
    capacity: int
    used: int
    remaining: int
    last_heartbeat_s_ago: float
    num_blocks: int             # replicas of this namespace's blocks on it


def namesystem_figures(fsn: Namesystem) -> dict:
    """Identity, objects, memory and budget, small files and replication health, keyed
    as GetStatsResponse's fields (datanodes, security and caller aside)."""
    under, missing = replication.under_replicated(fsn)
    figures = (fsn.budget or budget_mod.MemoryBudget()).usage(fsn)   # objects, memory, budget
    packing = fsn.ns.table.small
    containers = [fsn.blocks.get(c) for c in packing.number]
    figures.update(small_staged=len(packing.staged), small_staged_bytes=packing.staged_bytes,
                   small_packed=packing.packed, containers=len(packing.number),
                   container_live_bytes=sum(stats[1] for stats in packing.live.values()),
                   container_bytes=sum(b.num_bytes for b in containers if b is not None))
    figures.update(nameservice=fsn.nameservice, cluster_id=fsn.cluster_id, pool_id=fsn.pool_id,
                   under_replicated=under, missing=missing, corrupt_replicas=fsn.blocks.corrupt_count(),
                   pending_replications=len(fsn.pending), http_address=fsn.http_address,
                   started_ms=int(fsn.started * 1000))
    return figures


def datanode_rows(fsn: Namesystem) -> list[DatanodeRow]:
    """Every registered DataNode, by host label."""
    now = fsn.monotonic()
    return [DatanodeRow(n, n.alive, n.capacity, n.used, n.remaining, now - n.last_heartbeat,
                        fsn.blocks.replica_count(n.uuid))
            for n in sorted(fsn.datanodes.nodes.values(), key=lambda n: n.host_label)]
