"""The NameNode's state in one object: namespace, block map, DataNodes, leases.

Every namespace mutation goes through ``commit(record)``: the edit record's
``apply`` function (namenode/ops; records in namenode/edits.py) changes the
tables and the record is then appended to the journal, so the live RPC and
journal replay run the same code. Block locations, DataNode state and
commands are not journaled.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from namenode import decommission, ops, subtree
from namenode.edits import Edit
from namenode.blocks import BlockInfo, BlockMap, RemovedBlock
from namenode.datanodes import NORMAL, DatanodeRegistry
from namenode.namespace import Inode, Namespace
from namenode.quotas import Quotas
from namenode.safemode import SafeMode
from namenode.small_files import Layout
from namenode.topology import Topology, address_host


LINKS_PER_COMMAND = 4096


@dataclass
class TransferCmd:
    """Ask a DataNode to copy a replica to other DataNodes."""
    block_id: int
    generation_stamp: int
    num_bytes: int
    targets: list  # DatanodeInfo


DELETES_PER_COMMAND = 1000   # replicas one DeleteCmd names (a dropped subtree queues tens of thousands)


@dataclass
class DeleteCmd:
    """Ask a DataNode to delete replicas: (block_id, generation_stamp, num_bytes)."""
    blocks: list


@dataclass
class VerifyCmd:
    """Ask a DataNode to check replicas' checksums now (a client claimed they are
    corrupt): (block_id, generation_stamp, num_bytes). It reports them bad only if they are."""
    blocks: list


@dataclass
class LinkCmd:
    """Ask a DataNode to hard-link replicas of another block pool into this one (a subtree
    moved in): (source block id, generation stamp, num_bytes, target block id)."""
    source_pool: str
    blocks: list


@dataclass
class Lease:
    holder: str
    renewed: float
    files: set[int] = field(default_factory=set)


class Namesystem:
    def __init__(self, nameservice: str, cluster_id: str, pool_id: str, superuser: str, *,
                 block_size: int = 128 << 20, replication: int = 3, dead_interval: float = 10.0,
                 mount_dirs: tuple[str, ...] = (), lease_hard_limit: float = 3600.0,
                 clock=time.time, monotonic=time.monotonic):
        self.nameservice, self.cluster_id, self.pool_id = nameservice, cluster_id, pool_id
        self.clock, self.monotonic = clock, monotonic
        self.ns = Namespace(nameservice, superuser, now_ms=self.now_ms())
        self.blocks = BlockMap()
        self.datanodes = DatanodeRegistry(dead_interval)
        self.leases: dict[str, Lease] = {}
        self.lease_hard_limit = lease_hard_limit   # a writer silent this long loses its files
        self.default_block_size, self.default_replication = block_size, replication
        self.mount_dirs = frozenset(mount_dirs)
        self.needs_check: set[int] = set()               # blocks whose replication may be off
        self.pending: dict[int, tuple[set[str], float]] = {}  # block -> (targets, deadline)
        self.deleting: set[tuple[int, str]] = set()       # corrupt replicas asked to go
        self.journal = None
        self.safemode = SafeMode()
        self.budget = None          # namenode.budget.MemoryBudget when the config sets one
        self.small_file_threshold = 0   # files below this many bytes may be closed without blocks (0: off)
        self.container_bytes = 64 << 20  # size limit of a staging container (pack_bytes)
        self.container_seq = 0           # names containers apart within one millisecond
        self.packer = None              # namenode.packer.Packer, set by the server
        self.http_address = ""          # host:port of the NameNode's HTTP server, set by the server
        self.started = time.time()      # when this process built its namesystem (status page, metrics)
        self.metrics = None             # namenode.metrics.NamenodeMetrics, set by the server
        self.delegation = None          # namenode.delegation.DelegationTokens when tokens are on
        self.user_token_lifetime = 30 * 86400.0   # seconds, of user tokens the superuser issues
        self.block_keys = None          # namenode.block_keys.BlockKeys when block tokens are on
        self.mount_table = None         # namenode.mounts.ClusterMounts: this NameNode's copy of the cluster's
        self.moves: dict = {}           # move id -> namenode.subtree.MoveMap, moves into this namespace
        self.fences: dict[str, str] = {}   # subtree being moved away -> move id (memory only)
        self.datanode_exclude: frozenset[str] = frozenset()   # [datanodes] exclude (namenode/decommission.py)
        self.config_source = ""         # the config file -refreshNodes re-reads, set by the server
        self.topology = Topology()       # racks ([topology]; set by the server)
        self.quotas = Quotas(ops.APPLY)  # directory quotas and their counted usage (namenode/quotas.py)

    def check_room(self, path: str) -> None:
        """Refuse an operation that adds objects once the memory budget is spent
        (NoSpace naming the path, namespace, object count, memory and budget)."""
        if self.budget is not None:
            self.budget.check(self, path)

    def check_writable(self, path: str) -> None:
        """Refuse namespace changes in safe mode (SafeMode error naming the path)."""
        self.safemode.check_writable(self, path)

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def commit(self, record: Edit):
        """Apply a mutation, then journal it (nothing is journaled if it fails)."""
        if self.fences:
            subtree.check_fences(self, record)
        result = self.apply(record)
        if self.journal is not None:
            self.journal.append(record)
        return result

    def apply(self, record: Edit):
        """Change the tables as ``record`` says (live calls and journal replay alike),
        counting it against directory quotas when there are any."""
        return self.quotas.appliers[type(record)](self, record)

    # ----------------------------------------------------------- file helpers
    def file_length(self, inode: Inode) -> int:
        table = self.ns.table
        if table.layout(inode.id) != Layout.BLOCKS:
            return table.small_length(inode.id)
        if table.small.appending and inode.id in table.small.appending:   # its old bytes until blocks hold them
            return table.small.length[table.small.appending[inode.id]]
        return self.blocks_length(inode)

    def blocks_length(self, inode: Inode) -> int:
        """Bytes in the file's blocks (an appended small file's old entry not counted)."""
        blocks, total = self.blocks, 0
        for block_id in inode.blocks:
            slot = blocks.slot_of(block_id)
            if slot is not None:
                total += blocks.num_bytes[slot]
        return total

    def add_lease(self, holder: str, inode: Inode) -> None:
        inode.lease_holder = holder
        lease = self.leases.setdefault(holder, Lease(holder, self.monotonic()))
        lease.files.add(inode.id)

    def release_lease(self, inode: Inode) -> None:
        lease = self.leases.get(inode.lease_holder)
        if lease is not None:
            lease.files.discard(inode.id)
            if not lease.files:
                del self.leases[inode.lease_holder]
        inode.lease_holder = ""

    def renew_lease(self, holder: str) -> None:
        lease = self.leases.get(holder)
        if lease is not None:
            lease.renewed = self.monotonic()

    def expired_leases(self) -> list[Lease]:
        now = self.monotonic()
        return [lease for lease in self.leases.values() if now - lease.renewed > self.lease_hard_limit]

    def recover_expired_leases(self) -> list[str]:
        """Close every file of writers past the hard limit; returns their paths."""
        recovered = []
        for lease in self.expired_leases():
            for inode_id in sorted(lease.files):
                inode = self.ns.table.find(inode_id)
                if inode is not None:
                    path = self.ns.path_of(inode)
                    ops.files.recover_lease(self, path)
                    recovered.append(path)
        return recovered

    def invalidate(self, block: BlockInfo | RemovedBlock) -> None:
        """A block left the namespace: tell every DataNode holding it to delete it."""
        for uuid in block.replicas | self.blocks.corrupt.get(block.block_id, set()):
            self.queue_delete(uuid, block.block_id, block.generation_stamp, block.num_bytes)

    def delete_corrupt_replicas(self, block: BlockInfo) -> None:
        """Ask holders of bad copies to drop them; they stay 'corrupt' until the
        deletion is reported, so no new replica is placed on top of one."""
        for uuid in self.blocks.corrupt.get(block.block_id, ()):
            if (block.block_id, uuid) not in self.deleting and self.datanodes.is_live(uuid):
                self.deleting.add((block.block_id, uuid))
                self.queue_delete(uuid, block.block_id, block.generation_stamp, block.num_bytes)

    def queue_delete(self, uuid: str, block_id: int, generation_stamp: int, num_bytes: int) -> None:
        node = self.datanodes.nodes.get(uuid)
        if node is not None and node.alive:
            last = node.commands[-1] if node.commands else None
            if isinstance(last, DeleteCmd) and len(last.blocks) < DELETES_PER_COMMAND:
                last.blocks.append((block_id, generation_stamp, num_bytes))   # a big delete: few commands
            else:
                node.commands.append(DeleteCmd([(block_id, generation_stamp, num_bytes)]))

    def queue_links(self, source_pool: str, links: dict[str, list], deadline: float) -> int:
        """Hand each live DataNode its (source id, gs, num_bytes, target id) links, in
        batches; the targets count as pending on it until reported. Returns links queued."""
        queued = 0
        for uuid, blocks in links.items():
            node = self.datanodes.nodes.get(uuid)
            if node is None or not node.alive:
                continue
            for start in range(0, len(blocks), LINKS_PER_COMMAND):
                node.commands.append(LinkCmd(source_pool, blocks[start:start + LINKS_PER_COMMAND]))
            for _src, _gs, _n, target in blocks:
                waiting = self.pending.get(target)
                self.pending[target] = ((waiting[0] if waiting else set()) | {uuid}, deadline)
            queued += len(blocks)
        return queued

    def live_locations(self, block: BlockInfo, client_host: str = "") -> list:
        """Live DataNodes with a good replica, nearest to the client first (its own host, then
        its rack, as HDFS sorts by network distance), decommissioning ones last."""
        nodes = [self.datanodes.nodes[u] for u in block.replicas if self.datanodes.is_live(u)]
        return self.by_distance(nodes, client_host, lambda n: n.admin_state != NORMAL)

    def by_distance(self, nodes: list, client_host: str, first_key=lambda n: 0) -> list:
        """``nodes`` sorted by ``first_key``, then network distance from ``client_host``, then load."""
        topology, rack = self.topology, self.topology.client_rack(client_host)
        nodes.sort(key=lambda n: (first_key(n), topology.distance(client_host, rack, n), n.active_transfers,
                                  n.host_label))
        return nodes

    # --------------------------------------------------- DataNode protocol
    def register_datanode(self, uuid: str, host_label: str, address: str, http_address: str = ""):
        self.blocks.drop_datanode(uuid)           # its next full report rebuilds them
        node = self.datanodes.register(uuid, host_label, address, self.monotonic(), http_address)
        node.rack = self.topology.rack_of(host_label, address_host(address))
        decommission.on_register(self, node)
        return node

    def block_report(self, uuid: str, reported: list[tuple[int, int, int]]) -> None:
        """Full report: the DataNode holds exactly these (block_id, gs, num_bytes)."""
        still_bad = {b for b, uuids in self.blocks.corrupt.items() if uuid in uuids} & {r[0] for r in reported}
        for block_id in self.blocks.drop_datanode(uuid):
            self.needs_check.add(block_id)
        for block_id in still_bad:     # a bad copy stays bad until the DataNode deletes it
            self.blocks.corrupt.setdefault(block_id, set()).add(uuid)
        for block_id, gs, num_bytes in reported:
            self._add_reported_replica(uuid, block_id, gs, num_bytes)
        self.datanodes.nodes[uuid].reported = True

    def incremental_report(self, uuid: str, received, deleted) -> None:
        for block_id, gs, num_bytes in received:
            self._add_reported_replica(uuid, block_id, gs, num_bytes)
        for block_id, _gs, _n in deleted:
            self.blocks.remove_replica(block_id, uuid)
            self.blocks.corrupt.get(block_id, set()).discard(uuid)
            self.deleting.discard((block_id, uuid))
            self.needs_check.add(block_id)

    def _add_reported_replica(self, uuid: str, block_id: int, gs: int, num_bytes: int) -> None:
        block = self.blocks.get(block_id)
        if block is None or gs < block.generation_stamp:
            self.queue_delete(uuid, block_id, gs, num_bytes)      # orphan or stale replica
            return
        if uuid in self.blocks.corrupt.get(block_id, ()):
            return                                                # known bad, deletion pending
        if block.committed and num_bytes != block.num_bytes and not (
                num_bytes > block.num_bytes and self.ns.table.small.is_container(block_id)):
            # Wrong length: not this block. A container's replica may be longer: a
            # writer that broke off after its last commit left entries nobody uses.
            self.blocks.mark_corrupt(block_id, uuid)
        else:
            if not block.committed:
                block.num_bytes = max(block.num_bytes, num_bytes)
            self.blocks.add_replica(block, uuid)
            self.ns.table.small.unreported_targets.pop(block_id, None)
        pending = self.pending.get(block_id)
        if pending is not None:
            pending[0].discard(uuid)
            if not pending[0]:
                del self.pending[block_id]
        self.needs_check.add(block_id)

    def report_bad_replica(self, block_id: int, uuid: str) -> None:
        if block_id in self.blocks:
            self.blocks.mark_corrupt(block_id, uuid)
            self.needs_check.add(block_id)

    def queue_verify(self, block_id: int, uuid: str) -> bool:
        """A client says ``uuid``'s replica of ``block_id`` is corrupt: ask that DataNode to
        verify it (one queued check per replica). False when there is nothing to verify."""
        block = self.blocks.get(block_id)
        node = self.datanodes.nodes.get(uuid)
        if block is None or node is None or not node.alive or uuid not in block.replicas:
            return False
        for cmd in node.commands:
            if isinstance(cmd, VerifyCmd) and any(b[0] == block_id for b in cmd.blocks):
                return True
        node.commands.append(VerifyCmd([(block_id, block.generation_stamp, block.num_bytes)]))
        return True

    def heartbeat(self, uuid: str, capacity: int, used: int, remaining: int, transfers: int):
        """Commands for the DataNode, or None when it must register again."""
        node = self.datanodes.heartbeat(uuid, self.monotonic(), capacity, used, remaining, transfers)
        return None if node is None else self.datanodes.take_commands(uuid)

    def check_datanodes(self) -> list:
        """Declare silent DataNodes dead and schedule their blocks for re-replication."""
        dead = self.datanodes.find_dead(self.monotonic())
        for node in dead:
            self.needs_check.update(self.blocks.drop_datanode(node.uuid))
        return dead
