"""DataNode <-> NameNodes: one actor per nameservice.

Each actor registers (retrying until its NameNode answers), sends a full block
report, then heartbeats every heartbeat_interval: it runs the commands the
heartbeat returns (deletes at once; replication and PackCommands,
datanode/packing.py, as tasks off the heartbeat loop), flushes queued
incremental block reports and sends a full report every block_report_interval. When the NameNode asks to re-register (it
restarted and forgot this DataNode) or answers again after being unreachable,
the actor registers anew and sends a full report, which also supersedes any
incremental reports still queued. A registration the NameNode refuses as
AlreadyExists (this uuid is a live DataNode's at another address: a copied data
directory) is not retried: the DataNode stops (datanode/server.py).

Heartbeats carry the cluster mount table version the DataNode knows; a reply
with a newer table names every nameservice, and the DataNode starts an actor
for each one it has none for (a namespace added to the running cluster, as
HDFS's `dfsadmin -refreshNamenodes`). Nameservices gone from the table keep
their actor: their blocks may still be read.
"""
from __future__ import annotations

import asyncio
import logging
import time

import grpc

from datanode import linking, packing, scanner
from datanode.block_keys import BlockKeyRing
from datanode.storage import BlockStorage, block_name
from datanode.transfer import send_replica
from protos import rpc, rpc_errors, security
from protos import hfed_pb2 as pb
from protos import hfed_pb2_grpc as pb_grpc
from protos.config import ClusterConfig, NameserviceConfig
from protos.datatransfer import Connections
from protos.errors import AlreadyExists, HfedError

log = logging.getLogger("hfed.datanode.heartbeat")

# Reconnect quickly to a NameNode that comes back (gRPC's default backoff reaches minutes).
NAMENODE_CHANNEL_OPTIONS = rpc.OPTIONS + [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]
RPC_TIMEOUT = 10.0
# How long a finished write waits for its incremental report before acking anyway
# (the report stays queued and the heartbeat loop retries it).
IBR_WAIT = 2.0
LOG_EVERY_N_FAILURES = 30
CONTAINER_PACKED_ATTEMPTS = 5


class NameserviceActor:
    """This DataNode's relationship with one NameNode."""

    def __init__(self, ns: NameserviceConfig, cfg: ClusterConfig, storage: BlockStorage,
                 datanode_id: pb.DatanodeId, links: "NamenodeLinks"):
        self.ns = ns
        self.cluster_id = cfg.cluster_id
        self.heartbeat_interval = cfg.heartbeat_interval
        self.block_report_interval = cfg.block_report_interval
        self.retry_delay = min(max(cfg.heartbeat_interval, 0.1), 1.0)
        self.storage = storage
        self.datanode_id = datanode_id
        self.links = links
        self.where = f"NameNode of nameservice {ns.name} at {ns.dial_address}"
        self.pool_id: str | None = None
        self.registered = asyncio.Event()  # set once the first registration and report are done
        self.connected = False
        self._received: list[pb.Block] = []
        self._deleted: list[pb.Block] = []
        self._ibr_lock = asyncio.Lock()
        self._commands: set[asyncio.Task] = set()
        self.channel = rpc.aio_channel(ns.dial_address, cfg, NAMENODE_CHANNEL_OPTIONS)
        self.stub = pb_grpc.DatanodeProtocolStub(self.channel)

    async def _call(self, method, request):
        return await method(request, timeout=RPC_TIMEOUT, metadata=self.links.metadata)

    # ------------------------------------------------------------ lifecycle

    async def run(self) -> None:
        while True:
            try:
                await self._register()
            except AlreadyExists as refusal:     # the whole DataNode stops (datanode/server.py)
                self.links.refuse(refusal)
                return
            try:
                await self._full_report()
            except grpc.RpcError as e:
                log.warning("full block report to %s failed: %s", self.where, rpc_errors.from_rpc_error(e, self.where))
                self.connected = False
                await asyncio.sleep(self.retry_delay)
                continue
            self.registered.set()
            reason = await self._heartbeat_loop()
            log.warning("%s: %s; registering again", self.where, reason)

    async def close(self) -> None:
        for task in list(self._commands):
            task.cancel()
        await asyncio.gather(*self._commands, return_exceptions=True)
        await self.channel.close()

    async def _register(self) -> None:
        request = pb.RegisterRequest(id=self.datanode_id, cluster_id=self.cluster_id)
        failures = 0
        while True:
            try:
                response = await self._call(self.stub.Register, request)
                break
            except grpc.RpcError as e:
                error = rpc_errors.from_rpc_error(e, self.where)
                if isinstance(error, AlreadyExists):
                    raise error from None   # our uuid is a live DataNode's elsewhere: retrying cannot help
                if failures % LOG_EVERY_N_FAILURES == 0:
                    log.warning("registration with %s failed (attempt %d), retrying every %.1fs: %s",
                                self.where, failures + 1, self.retry_delay, error)
                failures += 1
                await asyncio.sleep(self.retry_delay)
        if self.pool_id and response.pool_id != self.pool_id:
            log.warning("%s now has block pool %s (was %s)", self.where, response.pool_id, self.pool_id)
        self.pool_id = response.pool_id
        self.links.block_keys.update(self.pool_id, response.block_keys)
        self.storage.add_pool(self.pool_id)
        self.links.pools[self.pool_id] = self
        self.connected = True
        log.info("registered with %s: block pool %s, %d replicas", self.where, self.pool_id,
                 len(self.storage.report(self.pool_id)))

    async def _full_report(self) -> None:
        async with self._ibr_lock:
            # The full report lists every finalized replica: queued increments are redundant.
            self._received.clear()
            self._deleted.clear()
            blocks = self.storage.report(self.pool_id)
            await self._call(self.stub.BlockReport, pb.BlockReportRequest(uuid=self.datanode_id.uuid, blocks=blocks))
            # The full report lists corrupt replicas too (they are on disk until the
            # NameNode deletes them), and a NameNode that just (re)started knows
            # nothing of them: say which ones are bad right after.
            bad = self.storage.corrupt_replicas(self.pool_id)
            if bad:
                await self._call(self.stub.ReportBadBlocks, pb.ReportBadBlocksRequest(
                    replicas=[pb.BadReplica(block=b, datanode_uuid=self.datanode_id.uuid) for b in bad]))
        log.info("full block report to %s: %d blocks%s", self.where, len(blocks),
                 f", {len(bad)} of them corrupt" if bad else "")

    async def _heartbeat_loop(self) -> str:
        """Heartbeat until the NameNode wants a new registration; returns why."""
        next_full_report = time.monotonic() + self.block_report_interval
        while True:
            request = pb.HeartbeatRequest(
                uuid=self.datanode_id.uuid, capacity=self.storage.capacity(), used=self.storage.used(),
                remaining=self.storage.remaining(), active_transfers=self.links.active_transfers(),
                mount_version=self.links.mount_version)
            try:
                response = await self._call(self.stub.Heartbeat, request)
                if response.reregister:
                    return "the NameNode asked this DataNode to register again"
                self.links.block_keys.update(self.pool_id, response.block_keys)
                if response.HasField("mount_table"):
                    self.links.mount_table_seen(response.mount_table, self.where)
                for command in response.commands:
                    self._execute(command)
                await self.flush_incremental_reports()
                if time.monotonic() >= next_full_report:
                    await self._full_report()
                    next_full_report = time.monotonic() + self.block_report_interval
            except grpc.RpcError as e:
                self.connected = False
                return f"unreachable ({rpc_errors.from_rpc_error(e, self.where)})"
            await asyncio.sleep(self.heartbeat_interval)

    # ------------------------------------------------------------ commands

    def _execute(self, command: pb.DatanodeCommand) -> None:
        kind = command.WhichOneof("command")
        if kind == "delete":
            self._delete(command.delete.blocks)
        elif kind in ("transfer", "pack", "verify", "link"):
            work = (self._transfer(command.transfer) if kind == "transfer" else
                    packing.run(self, command.pack) if kind == "pack" else
                    self._link(command.link) if kind == "link" else self._verify(command.verify.blocks))
            task = asyncio.ensure_future(work)   # off the heartbeat loop
            self._commands.add(task)
            task.add_done_callback(self._commands.discard)
        else:
            log.warning("ignoring unknown command %r from %s", kind, self.where)

    def _delete(self, blocks) -> None:
        absent = []
        for block in blocks:
            pool_id = block.pool_id or self.pool_id
            replica = self.storage.delete(pool_id, block.block_id, block.generation_stamp)
            if replica is None:
                absent.append(block_name(block.block_id, block.generation_stamp))
                deleted = pb.Block(pool_id=pool_id, block_id=block.block_id,
                                   generation_stamp=block.generation_stamp)
            else:
                deleted = replica.to_block()
            self._deleted.append(deleted)
        # One line per command, not per replica (a dropped subtree deletes tens of thousands).
        first = blocks[0] if len(blocks) else None
        if len(blocks) == 1:
            pool_id = first.pool_id or self.pool_id
            name = block_name(first.block_id, first.generation_stamp)
            if absent:
                log.info("delete: %s of pool %s is not here", name, pool_id)
            else:
                log.info("deleted %s of pool %s as asked by %s", name, pool_id, self.where)
        elif first is not None:
            log.info("deleted %d replica(s) of pool %s as asked by %s (first %s)%s", len(blocks) - len(absent),
                     first.pool_id or self.pool_id, self.where, block_name(first.block_id, first.generation_stamp),
                     f"; {len(absent)} not here (first {absent[0]})" if absent else "")

    async def _transfer(self, command: pb.TransferCommand) -> None:
        block = command.block
        targets = ", ".join(f"{t.host_label}@{t.transfer_address}" for t in command.targets)
        try:
            replica = self.storage.get(block.pool_id or self.pool_id, block.block_id, block.generation_stamp)
            if self.storage.is_corrupt(replica):
                log.warning("not replicating %s to %s: this replica is corrupt", replica, targets)
                return
            if not command.targets:
                return
            self.links.transfers_in_progress += 1
            try:
                await asyncio.to_thread(send_replica, self.links.peers, self.storage.host_label, replica,
                                        list(command.targets), f"DataNode-{self.storage.host_label}",
                                        command.token)
            finally:
                self.links.transfers_in_progress -= 1
            log.info("replicated %s to %s", replica, targets)
        except (HfedError, OSError) as e:
            log.warning("replication of %s to %s failed: %s",
                        block_name(block.block_id, block.generation_stamp), targets, e)

    async def _link(self, command: pb.LinkCommand) -> None:
        """Hard-link replicas of another pool into this one (datanode/linking.py), one
        command at a time per DataNode, and report what is here now in one report."""
        pool_id = self.pool_id
        async with self.links.link_slots:
            try:
                outcome = await linking.link_replicas(self.storage, pool_id, command)
            except (HfedError, OSError) as e:
                log.warning("LinkCommand from %s into pool %s failed: %s", self.where, pool_id, e)
                return
        await self.blocks_received(outcome.received())

    async def _verify(self, blocks) -> None:
        """A client claimed these replicas are corrupt: check them now, one after another;
        only a replica whose checksums really fail is reported (and marked) bad."""
        for block in blocks:
            pool_id = block.pool_id or self.pool_id
            name = f"{block_name(block.block_id, block.generation_stamp)} of pool {pool_id}"
            try:
                replica = self.storage.get(pool_id, block.block_id, block.generation_stamp)
            except HfedError as e:
                log.info("verify %s as asked by %s: %s", name, self.where, e)
                continue
            outcome = await scanner.verify_now(self.storage, replica, self.links.report_bad_block,
                                               who=f"verification asked by {self.where}")
            if outcome == "ok":
                log.info("verified %s as asked by %s: its checksums match (the claim was wrong)", replica,
                         self.where)

    # ------------------------------------------------------------ reports

    async def flush_incremental_reports(self) -> None:
        """Send every queued received/deleted block in one report; requeue on failure."""
        async with self._ibr_lock:
            if not (self._received or self._deleted):
                return
            received, deleted = self._received, self._deleted
            self._received, self._deleted = [], []
            try:
                await self._call(self.stub.IncrementalBlockReport, pb.IncrementalBlockReportRequest(
                    uuid=self.datanode_id.uuid, received=received, deleted=deleted))
            except BaseException:
                self._received[:0] = received
                self._deleted[:0] = deleted
                raise

    async def block_received(self, block: pb.Block) -> None:
        """Report a finalized replica, waiting at most IBR_WAIT; it stays queued otherwise."""
        self._received.append(block)
        name = f"{block_name(block.block_id, block.generation_stamp)} of pool {block.pool_id}"
        if not self.connected:
            log.warning("%s unreachable: report of %s queued", self.where, name)
            return
        try:
            await asyncio.wait_for(self.flush_incremental_reports(), IBR_WAIT)
        except asyncio.TimeoutError:
            log.warning("report of %s to %s timed out after %.1fs; queued for the next heartbeat",
                        name, self.where, IBR_WAIT)
        except grpc.RpcError as e:
            log.warning("report of %s to %s failed, queued for the next heartbeat: %s",
                        name, self.where, rpc_errors.from_rpc_error(e, self.where))

    async def blocks_received(self, blocks: list[pb.Block]) -> None:
        """Report many finalized replicas in one incremental report (queued on failure)."""
        if not blocks:
            return
        self._received.extend(blocks)
        if not self.connected:
            return
        try:
            await self.flush_incremental_reports()
        except grpc.RpcError as e:
            log.warning("report of %d received blocks to %s failed, queued for the next heartbeat: %s",
                        len(blocks), self.where, rpc_errors.from_rpc_error(e, self.where))

    async def container_packed(self, request: pb.ContainerPackedRequest) -> None:
        """Tell the NameNode how a PackCommand went, retrying a few times (its packer
        gives up on the job after a while and deletes the container then)."""
        for attempt in range(1, CONTAINER_PACKED_ATTEMPTS + 1):
            try:
                await self._call(self.stub.ContainerPacked, request)
                return
            except grpc.RpcError as e:
                log.warning("ContainerPacked for blk_%d to %s failed (attempt %d of %d): %s",
                            request.block.block_id, self.where, attempt, CONTAINER_PACKED_ATTEMPTS,
                            rpc_errors.from_rpc_error(e, self.where))
                if attempt < CONTAINER_PACKED_ATTEMPTS:
                    await asyncio.sleep(self.retry_delay)

    async def report_bad_block(self, block: pb.Block, datanode_uuid: str = "") -> None:
        """Report a corrupt replica: this DataNode's, or another's (``datanode_uuid``)
        whose bytes failed their checksums when this one read them."""
        request = pb.ReportBadBlocksRequest(replicas=[pb.BadReplica(
            block=block, datanode_uuid=datanode_uuid or self.datanode_id.uuid)])
        try:
            await asyncio.wait_for(self._call(self.stub.ReportBadBlocks, request), IBR_WAIT)
        except (asyncio.TimeoutError, grpc.RpcError) as e:
            log.warning("could not report corrupt %s to %s: %s",
                        block_name(block.block_id, block.generation_stamp), self.where, e)


def _usable_address(address: str) -> bool:
    host, _, port = address.rpartition(":")
    return bool(host) and port.isdigit() and int(port) > 0


class NamenodeLinks:
    """Every NameserviceActor of this DataNode, and routing of reports by block pool."""

    def __init__(self, cfg: ClusterConfig, storage: BlockStorage, datanode_id: pb.DatanodeId,
                 peers: Connections, serving_transfers=lambda: 0):
        self.cfg = cfg
        self.storage = storage
        self.datanode_id = datanode_id
        self.peers = peers  # DataTransfer connections to other DataNodes
        self.block_keys = BlockKeyRing(cfg.security.tokens)   # per pool, from register and heartbeat replies
        self.pools: dict[str, NameserviceActor] = {}
        self.transfers_in_progress = 0
        # PackCommands: one runs at a time (it holds its container in memory); the
        # (pool, block id) of each queued or running one, so a repeat is dropped.
        self.pack_slots = asyncio.Semaphore(1)
        self.packing: set[tuple[str, int]] = set()
        self.link_slots = asyncio.Semaphore(1)   # LinkCommands: one batch of links at a time
        self.mount_version = 0   # of the newest cluster mount table a heartbeat reply carried
        self._left_alone: set[tuple[str, str]] = set()   # (nameservice, address) the table disagrees on, logged once
        self._serving_transfers = serving_transfers
        # What every DatanodeProtocol call carries: a token only holders of the cluster secret can make.
        self.metadata = ((security.TOKEN_KEY, security.datanode_token(security.ensure_secret(cfg.secret_path()),
                                                                      datanode_id.uuid)),) \
            if cfg.security.tokens else rpc.identity_metadata()
        self.actors = [NameserviceActor(ns, cfg, storage, datanode_id, self) for ns in cfg.nameservices.values()]
        self._tasks: list[asyncio.Task] = []
        self._started = False
        # Set when a NameNode refuses this DataNode's registration for good (its uuid is
        # registered by a live DataNode at another address); ``refusal`` says why.
        self.refused = asyncio.Event()
        self.refusal: HfedError | None = None

    def active_transfers(self) -> int:
        return self._serving_transfers() + self.transfers_in_progress

    def refuse(self, refusal: HfedError) -> None:
        if self.refusal is None:
            self.refusal = refusal
            log.error("%s", refusal)
        self.refused.set()

    def start(self) -> None:
        self._started = True
        self._tasks = [asyncio.ensure_future(actor.run()) for actor in self.actors]

    def add_nameservice(self, name: str, address: str) -> NameserviceActor | None:
        """Start talking to a nameservice added to the running cluster: register, full
        report, heartbeats, as the ones configured at start. None if it has an actor."""
        if any(actor.ns.name == name for actor in self.actors):
            return None
        actor = NameserviceActor(NameserviceConfig(name=name, address=address), self.cfg, self.storage,
                                 self.datanode_id, self)
        self.actors.append(actor)
        if self._started:
            self._tasks.append(asyncio.ensure_future(actor.run()))
        log.info("nameservice %s at %s joined the cluster: registering with it", name, address)
        return actor

    def mount_table_seen(self, table: pb.MountTableState, source: str) -> None:
        """A heartbeat reply carried the cluster mount table: join the nameservices it adds.
        One listed without a usable address yet (a NameNode that has not told the holder
        where it serves: port 0) is joined from a later version."""
        if table.version <= self.mount_version:
            return
        listed = {ns.name: ns.address for ns in table.nameservices if _usable_address(ns.address)}
        for name, address in listed.items():
            self.add_nameservice(name, address)
        for actor in self.actors:
            name, address = actor.ns.name, listed.get(actor.ns.name)
            if name not in listed and not any(ns.name == name for ns in table.nameservices):
                self._note_once((name, ""), "nameservice %s is not in mount table version %d (from %s); "
                                "still serving its pool", name, table.version, source)
            elif address is not None and address != actor.ns.dial_address:
                self._note_once((name, address), "mount table version %d (from %s) has nameservice %s at %s;"
                                " this DataNode keeps %s", table.version, source, name, address, actor.ns.dial_address)
        self.mount_version = table.version

    def _note_once(self, key: tuple[str, str], message: str, *args) -> None:
        if key not in self._left_alone:
            self._left_alone.add(key)
            log.warning(message, *args)

    async def wait_registered(self) -> None:
        await asyncio.gather(*(actor.registered.wait() for actor in self.actors))

    async def stop(self) -> None:
        self._started = False
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for actor in self.actors:
            await actor.close()

    async def block_received(self, block: pb.Block) -> None:
        actor = self.pools.get(block.pool_id)
        if actor is None:
            # Not registered yet: the full report after registration will list this replica.
            log.info("no NameNode registered for pool %s yet; %s will be in its first full report",
                     block.pool_id, block_name(block.block_id, block.generation_stamp))
            return
        await actor.block_received(block)

    async def report_bad_block(self, block: pb.Block, datanode_uuid: str = "") -> None:
        actor = self.pools.get(block.pool_id)
        if actor is None:
            log.warning("no NameNode registered for pool %s: corrupt %s not reported", block.pool_id,
                        block_name(block.block_id, block.generation_stamp))
            return
        await actor.report_bad_block(block, datanode_uuid)
