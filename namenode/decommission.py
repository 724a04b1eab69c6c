"""DataNode decommissioning, as HDFS's exclude list and `dfsadmin -refreshNodes`.

An excluded live DataNode goes "Decommission in progress": it takes no new replicas
(DatanodeRegistry.in_service), its replicas stay readable and serve as copy sources, and
they no longer count towards a block's replication, so the replication monitor
(namenode/replication.py) copies them to in-service DataNodes. Once every block it
holds has enough replicas elsewhere it is "Decommissioned". A block it alone holds with
nowhere to copy it keeps it in progress, with the reason in ``decommission_wait``:
nothing is lost. Taken off the list, it is back in service (its now excess replicas
are trimmed by the monitor). Each NameNode does this for its own block pool.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from namenode.datanodes import DECOMMISSIONED, DECOMMISSIONING, NORMAL, DatanodeInfo

if TYPE_CHECKING:
    from namenode.namesystem import Namesystem

log = logging.getLogger(__name__)

REASONS_SHOWN = 3     # blocks named in a waiting node's reason


def is_excluded(fsn: Namesystem, node: DatanodeInfo) -> bool:
    return node.uuid in fsn.datanode_exclude or node.host_label in fsn.datanode_exclude


def refresh(fsn: Namesystem, exclude) -> None:
    """Take a new exclude list (host labels or uuids): start or stop decommissioning."""
    fsn.datanode_exclude = frozenset(exclude)
    for node in fsn.datanodes.nodes.values():
        excluded = is_excluded(fsn, node)
        if excluded and node.admin_state == NORMAL:
            start(fsn, node)
        elif not excluded and node.admin_state != NORMAL:
            node.admin_state, node.decommission_wait = NORMAL, ""
            fsn.needs_check.update(fsn.blocks.block_ids_on(node.uuid))    # excess copies to trim
            log.info("DataNode %s (%s) is back in service", node.host_label, node.uuid)


def start(fsn: Namesystem, node: DatanodeInfo) -> None:
    node.admin_state, node.decommission_wait = DECOMMISSIONING, ""
    fsn.needs_check.update(fsn.blocks.block_ids_on(node.uuid))
    log.info("DataNode %s (%s): decommission in progress", node.host_label, node.uuid)


def on_register(fsn: Namesystem, node: DatanodeInfo) -> None:
    """A DataNode (re-)registering while on the exclude list is decommissioned again."""
    if is_excluded(fsn, node) and node.admin_state == NORMAL:
        start(fsn, node)


def check(fsn: Namesystem) -> list[DatanodeInfo]:
    """Mark decommissioning DataNodes whose every block is safe elsewhere Decommissioned;
    returns them. A node waits until it has sent its block report (before that its
    blocks are unknown)."""
    done = []
    targets = len({n.host_label for n in fsn.datanodes.in_service()})
    for node in fsn.datanodes.nodes.values():
        if node.admin_state != DECOMMISSIONING or not node.alive or not node.reported:
            continue
        waiting = [why for why in (_unsafe(fsn, block_id, targets) for block_id in fsn.blocks.block_ids_on(node.uuid))
                   if why]
        if waiting:
            reason = (f"{len(waiting)} block(s) not yet safe on in-service DataNodes: "
                      + "; ".join(waiting[:REASONS_SHOWN]) + ("; ..." if len(waiting) > REASONS_SHOWN else ""))
            if reason != node.decommission_wait:
                log.info("DataNode %s: decommission waits: %s", node.host_label, reason)
            node.decommission_wait = reason
            continue
        node.admin_state, node.decommission_wait = DECOMMISSIONED, ""
        log.info("DataNode %s (%s) is decommissioned: every block it holds has its replicas elsewhere",
                 node.host_label, node.uuid)
        done.append(node)
    return done


def _unsafe(fsn: Namesystem, block_id: int, in_service_hosts: int) -> str:
    """Why ``block_id`` still needs a decommissioning holder ("" when it does not): it needs
    its replication factor on in-service DataNodes, or as many as there are hosts (HDFS would
    wait forever there), and one at least."""
    block = fsn.blocks.get(block_id)
    inode = None if block is None else fsn.ns.table.find(block.inode_id)
    if inode is None:
        return ""        # deleted meanwhile
    good = sum(1 for n in fsn.live_locations(block) if n.admin_state == NORMAL)
    being_written = inode.under_construction and inode.blocks and inode.blocks[-1] == block_id
    # A block being written needs one copy elsewhere (its writer's pipeline completes it), as HDFS.
    needed = 1 if being_written else max(1, min(inode.replication, in_service_hosts))
    if good >= needed:
        return ""
    fsn.needs_check.add(block_id)      # the monitor tries again (e.g. a file since closed)
    if not in_service_hosts:
        return f"blk_{block_id} has no in-service DataNode to be copied to"
    if being_written:
        return f"blk_{block_id} is being written ({fsn.ns.path_of(inode)})"
    return f"blk_{block_id} has {good} of {needed} replicas elsewhere"


def report(fsn: Namesystem) -> tuple[list[str], list[str]]:
    """(decommissioning, decommissioned) DataNodes as 'label (uuid)', a waiting one with its reason."""
    nodes = sorted(fsn.datanodes.nodes.values(), key=lambda n: n.host_label)
    progressing = [f"{n.host_label} ({n.uuid})" + (f": waiting: {n.decommission_wait}" if n.decommission_wait else "")
                   for n in nodes if n.admin_state == DECOMMISSIONING]
    return progressing, [f"{n.host_label} ({n.uuid})" for n in nodes if n.admin_state == DECOMMISSIONED]
