"""The DataTransfer service: streaming reads, pipelined writes, short-circuit grants.

Write pipeline, per DataNode: a receiver task reads packets, forwards each one
downstream at once, writes it to the replica being written and queues its
seqno; a responder task pops seqnos in order, reads the downstream ack for
each (so forwarding never waits for an ack) and sends its own ack upstream
with [own status, downstream statuses...]. Only the last DataNode of a
pipeline verifies checksums, as in HDFS.
"""
from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import dataclass

import grpc
from google.protobuf.message import DecodeError

from datanode.storage import BPC, BlockStorage, Replica, ReplicaBeingWritten, block_name
from protos import checksum, errors, rpc
from protos import hfed_pb2 as pb
from protos import hfed_pb2_grpc as pb_grpc
from protos.errors import AccessDenied, ChecksumError, HfedError, InvalidArgument

log = logging.getLogger("hfed.datanode.transfer")

# Generous: a downstream DataNode may be fsyncing and reporting to its NameNode.
DOWNSTREAM_ACK_TIMEOUT = 120.0


class ChannelCache:
    """One channel per peer address, reused by every pipeline and transfer."""

    def __init__(self, options=None):
        self._options = options or rpc.OPTIONS
        self._channels: dict[str, grpc.aio.Channel] = {}

    def get(self, address: str) -> grpc.aio.Channel:
        channel = self._channels.get(address)
        if channel is None:
            channel = grpc.aio.insecure_channel(address, options=self._options)
            self._channels[address] = channel
        return channel

    async def close(self) -> None:
        channels, self._channels = list(self._channels.values()), {}
        for channel in channels:
            await channel.close()


def _describe_rpc_error(err: BaseException, where: str) -> str:
    if isinstance(err, grpc.RpcError):
        return str(errors.from_rpc_error(err, where))
    return f"{where}: {err!r}"


class GarbledMessage:
    """What a request that is not valid protobuf deserializes to: the handler answers
    InvalidArgument (gRPC itself would answer UNKNOWN with a Python traceback name)."""

    def __init__(self, type_name: str, error: Exception):
        self.type_name = type_name
        self.error = error

    def reject(self, host_label: str) -> InvalidArgument:
        return InvalidArgument(f"DataNode {host_label} received a malformed {self.type_name}: {self.error}")


def _tolerant_parser(message_class):
    def parse(raw: bytes):
        try:
            return message_class.FromString(raw)
        except DecodeError as e:
            return GarbledMessage(message_class.DESCRIPTOR.full_name, e)
    return parse


def add_to_server(servicer: "DataTransferServicer", server) -> None:
    """Register the DataTransfer service, parsing requests with GarbledMessage tolerance."""
    handlers = {
        "ReadBlock": grpc.unary_stream_rpc_method_handler(
            servicer.ReadBlock, request_deserializer=_tolerant_parser(pb.ReadBlockRequest),
            response_serializer=pb.ReadBlockChunk.SerializeToString),
        "WriteBlock": grpc.stream_stream_rpc_method_handler(
            servicer.WriteBlock, request_deserializer=_tolerant_parser(pb.WritePacket),
            response_serializer=pb.WriteAck.SerializeToString),
        "RequestShortCircuit": grpc.unary_unary_rpc_method_handler(
            servicer.RequestShortCircuit, request_deserializer=_tolerant_parser(pb.ShortCircuitRequest),
            response_serializer=pb.ShortCircuitResponse.SerializeToString),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("hfed.DataTransfer", handlers),))


def grpc_handler(method):
    """Send hfed errors as their own status; log anything unexpected and send INTERNAL."""
    @functools.wraps(method)
    async def wrapper(self, request, context):
        try:
            if isinstance(request, GarbledMessage):
                raise request.reject(self.storage.host_label)
            return await method(self, request, context)
        except (grpc.aio.AbortError, asyncio.CancelledError):
            raise
        except HfedError as e:
            log.info("%s: %s", method.__name__, e)
            await errors.abort_with(context, e)
        except Exception as e:  # noqa: BLE001 - the caller must get a status, not a hang
            log.exception("%s failed", method.__name__)
            await errors.abort_with(context, HfedError(
                f"DataNode {self.storage.host_label} failed in {method.__name__}: {e!r}"))
    return wrapper


class DataTransferServicer(pb_grpc.DataTransferServicer):
    def __init__(self, storage: BlockStorage, links=None, channels: ChannelCache | None = None):
        self.storage = storage
        self.links = links  # heartbeat.NamenodeLinks: incremental and bad-block reports
        self.channels = channels or ChannelCache()
        self.active_transfers = 0

    # ------------------------------------------------------------ read

    @grpc_handler
    async def ReadBlock(self, request: pb.ReadBlockRequest, context) -> None:
        block = request.block
        replica = self.storage.get(block.pool_id, block.block_id, block.generation_stamp)
        if request.offset > replica.num_bytes:
            raise InvalidArgument(f"offset {request.offset} is past the end of block {replica}"
                                  f" ({replica.num_bytes} bytes) on DataNode {self.storage.host_label}")
        end = replica.num_bytes if request.length == 0 else min(replica.num_bytes, request.offset + request.length)
        end = min(-(-end // BPC) * BPC, replica.num_bytes)  # whole chunks only
        self.active_transfers += 1
        try:
            await stream_replica(replica, request.offset - request.offset % BPC, end, context.write,
                                 self.storage.host_label)
        finally:
            self.active_transfers -= 1

    # ------------------------------------------------------------ write

    @grpc_handler
    async def WriteBlock(self, request_iterator, context) -> None:
        self.active_transfers += 1
        try:
            await WritePipeline(self, context).run()
        finally:
            self.active_transfers -= 1

    # ------------------------------------------------------------ short-circuit

    @grpc_handler
    async def RequestShortCircuit(self, request: pb.ShortCircuitRequest, context) -> pb.ShortCircuitResponse:
        block = request.block
        name = block_name(block.block_id, block.generation_stamp)
        if request.client_host != self.storage.host_label:
            raise AccessDenied(f"short-circuit read of block {name} of pool {block.pool_id} refused: client host"
                               f" {request.client_host!r} is not DataNode host {self.storage.host_label!r}")
        replica = self.storage.get(block.pool_id, block.block_id, block.generation_stamp)
        try:
            await self.storage.verify_once(replica)
        except ChecksumError as e:
            log.error("corrupt replica %s: %s", replica, e)
            if self.links is not None:
                await self.links.report_bad_block(replica.to_block())
            raise
        return pb.ShortCircuitResponse(block_path=replica.block_path, meta_path=replica.meta_path,
                                       length=replica.num_bytes)


async def stream_replica(replica: Replica, start: int, end: int, send, host_label: str) -> None:
    """Send [start, end) of a replica as ReadBlockChunks via ``send``, reading the
    next packet from disk while the current one is on its way."""
    data_file = open(replica.block_path, "rb", buffering=0)
    meta_file = open(replica.meta_path, "rb", buffering=0)
    pending = None
    try:
        where = f"replica {replica} on DataNode {host_label}"
        header = await asyncio.to_thread(meta_file.read, checksum.HEADER_SIZE)
        if checksum.parse_header(header, where) != BPC:
            raise ChecksumError(f"{where}: unsupported bytes per checksum")

        def read(pos):
            n = min(rpc.PACKET_SIZE, end - pos)
            return pos, BlockStorage.read_packet(replica, data_file.fileno(), meta_file.fileno(), pos, n)

        pending = asyncio.ensure_future(asyncio.to_thread(read, start)) if start < end else None
        while pending is not None:
            pos, (data, crcs) = await pending
            following = pos + len(data)
            pending = asyncio.ensure_future(asyncio.to_thread(read, following)) if following < end else None
            await send(pb.ReadBlockChunk(offset=pos, data=data, checksums=crcs, bytes_per_checksum=BPC))
    finally:
        if pending is not None:
            # The worker thread may still be reading: let it finish before closing its files.
            await asyncio.wait([pending])
            if not pending.cancelled():
                pending.exception()
        data_file.close()
        meta_file.close()


@dataclass
class _Received:
    """One packet this DataNode has handled, waiting for its ack to go upstream."""
    seqno: int
    ok: bool = True
    message: str = ""
    last: bool = False
    downstream_error: str = ""  # forwarding failed: no downstream ack will come


class WritePipeline:
    """One WriteBlock stream on one DataNode."""

    def __init__(self, servicer: DataTransferServicer, context):
        self.servicer = servicer
        self.storage = servicer.storage
        self.context = context
        self.rbw: ReplicaBeingWritten | None = None
        self.downstream = None  # the WriteBlock call to targets[0]
        self.target: pb.DatanodeId | None = None
        self.received: asyncio.Queue[_Received | None] = asyncio.Queue()
        self.finalized = False

    def _own(self, ok=True, message="") -> pb.PipelineStatus:
        return pb.PipelineStatus(uuid=self.storage.uuid, ok=ok, message=message)

    async def run(self) -> None:
        first = await self.context.read()
        if first is grpc.aio.EOF:
            return
        try:
            self._open(first)
        except (HfedError, OSError) as e:
            log.warning("write refused: %s", e)
            seqno = first.seqno if isinstance(first, pb.WritePacket) else 0
            await self.context.write(pb.WriteAck(seqno=seqno, statuses=[self._own(False, str(e))]))
            return
        receiver = asyncio.ensure_future(self._receive(first))
        responder = asyncio.ensure_future(self._respond())
        try:
            await responder
        finally:
            for task in (receiver, responder):
                task.cancel()
            await asyncio.gather(receiver, responder, return_exceptions=True)
            if not self.finalized and self.rbw is not None:
                log.warning("write of %s ended before its last packet; replica discarded", self.rbw)
                self.storage.abort(self.rbw)
            if self.downstream is not None:
                self.downstream.cancel()

    def _open(self, first: pb.WritePacket) -> None:
        if isinstance(first, GarbledMessage):
            raise first.reject(self.storage.host_label)
        if not first.HasField("header"):
            raise InvalidArgument(f"first WriteBlock packet to DataNode {self.storage.host_label} has no header")
        header = first.header
        block = header.block
        self.rbw = self.storage.create_rbw(block.pool_id, block.block_id, block.generation_stamp)
        if header.targets:
            self.target = header.targets[0]
            channel = self.servicer.channels.get(self.target.transfer_address)
            self.downstream = pb_grpc.DataTransferStub(channel).WriteBlock(metadata=rpc.identity_metadata())
        log.debug("receiving %s from %s, %d downstream", self.rbw, header.client_name, len(header.targets))

    async def _receive(self, packet: pb.WritePacket) -> None:
        is_last_datanode = self.downstream is None
        where = f"block {self.rbw} on DataNode {self.storage.host_label}"
        expected_seqno = 0
        while True:
            if isinstance(packet, GarbledMessage):
                packet_error = packet.reject(self.storage.host_label)
                packet = pb.WritePacket(seqno=expected_seqno)
            else:
                packet_error = None
            entry = _Received(packet.seqno, last=packet.last)
            try:
                if packet_error is not None:
                    raise packet_error
                if packet.seqno != expected_seqno:
                    raise InvalidArgument(f"packet seqno {packet.seqno} for {where}, expected {expected_seqno}")
                self.rbw.check_packet(packet.offset, packet.data, packet.checksums)
                if self.downstream is not None:
                    entry.downstream_error = await self._forward(packet, expected_seqno == 0)
                if packet.data:
                    await asyncio.to_thread(self._store, packet, is_last_datanode, where)
                if packet.last:
                    replica = await self.storage.finalize(self.rbw)
                    self.finalized = True
                    log.info("finalized %s (%d bytes)", replica, replica.num_bytes)
                    if self.servicer.links is not None:
                        await self.servicer.links.block_received(replica.to_block())
            except (HfedError, OSError) as e:
                log.warning("write of %s failed: %s", where, e)
                entry.ok, entry.message = False, str(e)
            self.received.put_nowait(entry)
            if not entry.ok or entry.downstream_error or packet.last:
                return
            expected_seqno += 1
            packet = await self.context.read()
            if packet is grpc.aio.EOF:
                log.warning("writer of %s closed the stream without a last packet", where)
                self.received.put_nowait(None)
                return

    def _store(self, packet: pb.WritePacket, verify: bool, where: str) -> None:
        if verify:
            checksum.verify(packet.data, packet.checksums, packet.offset, where)
        self.rbw.write(packet.data, packet.checksums)

    async def _forward(self, packet: pb.WritePacket, first: bool) -> str:
        """Send a packet downstream; the failure message, if it could not be sent."""
        if first:
            forwarded = pb.WritePacket()
            forwarded.CopyFrom(packet)
            del forwarded.header.targets[0]
            packet = forwarded
        try:
            await self.downstream.write(packet)
            return ""
        except Exception as e:  # noqa: BLE001 - any failure here is the downstream node's
            return _describe_rpc_error(e, f"DataNode {self.target.host_label} at {self.target.transfer_address}")

    async def _respond(self) -> None:
        while True:
            entry = await self.received.get()
            if entry is None:
                return
            statuses = [self._own(entry.ok, entry.message)]
            if entry.ok and self.downstream is not None:
                statuses += await self._downstream_statuses(entry)
            await self.context.write(pb.WriteAck(seqno=entry.seqno, statuses=statuses))
            if entry.last or not all(s.ok for s in statuses):
                return

    async def _downstream_statuses(self, entry: _Received) -> list[pb.PipelineStatus]:
        where = f"DataNode {self.target.host_label} at {self.target.transfer_address}"

        def failed(message: str) -> list[pb.PipelineStatus]:
            log.warning("pipeline for %s: %s", self.rbw, message)
            return [pb.PipelineStatus(uuid=self.target.uuid, ok=False, message=message)]

        if entry.downstream_error:
            return failed(entry.downstream_error)
        try:
            ack = await asyncio.wait_for(self.downstream.read(), DOWNSTREAM_ACK_TIMEOUT)
        except asyncio.TimeoutError:
            return failed(f"{where} did not acknowledge packet {entry.seqno} within {DOWNSTREAM_ACK_TIMEOUT:.0f}s")
        except Exception as e:  # noqa: BLE001
            return failed(_describe_rpc_error(e, where))
        if ack is grpc.aio.EOF:
            return failed(f"{where} ended the stream before acknowledging packet {entry.seqno}")
        if ack.seqno != entry.seqno:
            return failed(f"{where} acknowledged packet {ack.seqno}, expected {entry.seqno}")
        return list(ack.statuses)


async def send_replica(storage: BlockStorage, channels: ChannelCache, replica: Replica,
                       targets: list[pb.DatanodeId], client_name: str) -> None:
    """Copy a finalized replica to targets[0] (and on down the pipeline) with WriteBlock.
    Raises HfedError naming the failing DataNode. The stored checksums travel
    along, so the last target detects a corrupt source."""
    first, rest = targets[0], list(targets[1:])
    where = f"DataNode {first.host_label} at {first.transfer_address}"
    call = pb_grpc.DataTransferStub(channels.get(first.transfer_address)).WriteBlock(
        metadata=rpc.identity_metadata())
    last_seqno = max(0, -(-replica.num_bytes // rpc.PACKET_SIZE) - 1)

    async def collect_acks():
        while True:
            ack = await call.read()
            if ack is grpc.aio.EOF:
                raise errors.Unavailable(f"{where} ended the transfer of {replica} before the last ack")
            bad = [s for s in ack.statuses if not s.ok]
            if bad:
                raise HfedError(f"transfer of {replica} failed: DataNode {bad[0].uuid}: {bad[0].message}")
            if ack.seqno == last_seqno:
                return

    acks = asyncio.ensure_future(collect_acks())
    try:
        seqno = 0

        async def send(chunk: pb.ReadBlockChunk):
            nonlocal seqno
            packet = pb.WritePacket(seqno=seqno, offset=chunk.offset, data=chunk.data, checksums=chunk.checksums,
                                    last=seqno == last_seqno)
            if seqno == 0:
                packet.header.block.CopyFrom(replica.to_block())
                packet.header.targets.extend(rest)
                packet.header.client_name = client_name
            seqno += 1
            if acks.done():  # the pipeline already failed: stop reading the replica
                raise InvalidArgument(f"transfer of {replica} to {where} stopped")
            await call.write(packet)

        if replica.num_bytes == 0:
            await send(pb.ReadBlockChunk(offset=0))
        else:
            await stream_replica(replica, 0, replica.num_bytes, send, storage.host_label)
        await call.done_writing()
    except Exception as e:  # noqa: BLE001 - the ack stream carries the real reason, if any
        await asyncio.wait([acks], timeout=5)
        if acks.done() and not acks.cancelled() and acks.exception() is not None:
            raise acks.exception() from None
        acks.cancel()
        call.cancel()
        if isinstance(e, HfedError):
            raise
        raise errors.Unavailable(_describe_rpc_error(e, where)) from None
    try:
        await acks
    except grpc.RpcError as e:
        raise errors.from_rpc_error(e, where) from None
