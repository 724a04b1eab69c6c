"""The DataTransfer service: streaming reads, pipelined writes, short-circuit grants.

Write pipeline, per DataNode: a receiver task reads packets, forwards each one
downstream at once, writes it to the replica being written and queues its
seqno; a responder task pops seqnos in order, reads the downstream ack for
each (so forwarding never waits for an ack) and sends its own ack upstream
with [own status, downstream statuses...]. Every DataNode verifies the
checksums of every packet (HDFS checks only at the last one; verification is
cheap here), so finalized replicas are known good.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
from dataclasses import dataclass

import grpc
from google.protobuf.message import DecodeError

from datanode.peers import ChannelCache, DownstreamStream, describe_rpc_error
from datanode.reading import Chunk, encode_read_chunk, open_readable, read_end, replica_chunks
from datanode.storage import BPC, BlockStorage, Replica, ReplicaBeingWritten, block_name
from protos import checksum, errors, rpc
from protos import hfed_pb2 as pb
from protos import hfed_pb2_grpc as pb_grpc
from protos.errors import AccessDenied, ChecksumError, HfedError, InvalidArgument

log = logging.getLogger("hfed.datanode.transfer")

# Generous: a downstream DataNode may be fsyncing and reporting to its NameNode.
DOWNSTREAM_ACK_TIMEOUT = 120.0


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
            response_serializer=bytes),   # ReadBlock yields pre-encoded ReadBlockChunks
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


def grpc_stream_handler(method):
    """grpc_handler for a server-streaming method written as an async generator
    (grpc.aio sends a generator's 1 MiB messages ~4x faster than context.write)."""
    @functools.wraps(method)
    async def wrapper(self, request, context):
        try:
            if isinstance(request, GarbledMessage):
                raise request.reject(self.storage.host_label)
            async with contextlib.aclosing(method(self, request, context)) as items:
                async for item in items:
                    yield item
        except (grpc.aio.AbortError, asyncio.CancelledError):
            raise
        except HfedError as e:
            log.info("%s: %s", method.__name__, e)
            await errors.abort_with(context, e)
        except Exception as e:  # noqa: BLE001
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

    @grpc_stream_handler
    async def ReadBlock(self, request: pb.ReadBlockRequest, context):
        block = request.block
        replica, writing, files = await open_readable(self.storage, block)
        self.active_transfers += 1
        try:
            end = read_end(replica, writing, request.offset, request.length, self.storage.host_label)
            async with contextlib.aclosing(replica_chunks(replica, request.offset - request.offset % BPC, end,
                                                          self.storage.host_label, files)) as chunks:
                async for chunk in chunks:
                    yield encode_read_chunk(chunk)
        finally:
            self.active_transfers -= 1
            for f in files:  # replica_chunks closes them, unless it never started
                f.close()

    # ------------------------------------------------------------ write

    @grpc_handler
    async def WriteBlock(self, request_iterator, context) -> None:
        self.active_transfers += 1
        try:
            await WritePipeline(self, request_iterator, context).run()
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
        replica, writing = self.storage.readable(block.pool_id, block.block_id, block.generation_stamp)
        if writing:
            # Its file still grows and is renamed at finalize: the client streams it instead.
            raise AccessDenied(f"short-circuit read of block {name} of pool {block.pool_id} refused: it is"
                               f" still being written on DataNode {self.storage.host_label}; read it with ReadBlock")
        try:
            await self.storage.verify_once(replica)
        except ChecksumError as e:
            log.error("corrupt replica %s: %s", replica, e)
            if self.links is not None:
                await self.links.report_bad_block(replica.to_block())
            raise
        return pb.ShortCircuitResponse(block_path=replica.block_path, meta_path=replica.meta_path,
                                       length=replica.num_bytes)


@dataclass
class _Received:
    """One packet this DataNode has handled, waiting for its ack to go upstream."""
    seqno: int
    ok: bool = True
    message: str = ""
    last: bool = False
    stored: asyncio.Future | None = None  # its write to disk, when it carried data
    downstream_error: str = ""  # forwarding failed: no downstream ack will come


class WritePipeline:
    """One WriteBlock stream on one DataNode."""

    # Packets received but not yet on disk: bounds memory when the disk is slower.
    STORE_WINDOW = 8

    def __init__(self, servicer: DataTransferServicer, request_iterator, context):
        self.servicer = servicer
        self.storage = servicer.storage
        self.requests = request_iterator.__aiter__()
        self.context = context
        self.rbw: ReplicaBeingWritten | None = None
        self.downstream: DownstreamStream | None = None  # the WriteBlock call to targets[0]
        self.target: pb.DatanodeId | None = None
        self.received: asyncio.Queue[_Received | None] = asyncio.Queue()
        self.finalized = False
        self._finalizing: asyncio.Future | None = None  # the finalize after the last packet
        self.keep_partial = False  # the header's: keep what was written if the stream breaks
        # One writer thread per stream keeps the disk writes in packet order
        # while the event loop already receives and forwards the next packets.
        self._writer = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="blk-writer")
        self._store_slots = asyncio.Semaphore(self.STORE_WINDOW)
        self._last_store: asyncio.Future | None = None
        self._store_error: BaseException | None = None

    def _own(self, ok=True, message="") -> pb.PipelineStatus:
        return pb.PipelineStatus(uuid=self.storage.uuid, ok=ok, message=message)

    async def _next_packet(self):
        try:
            return await self.requests.__anext__()
        except StopAsyncIteration:
            return grpc.aio.EOF

    async def run(self) -> None:
        first = await self._next_packet()
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
            # Shielded: the handler is cancelled when the writer goes away, possibly again
            # while cleaning up, and a clean-up cut short would leave the replica in rbw/
            # (or lose a keep_partial write's acknowledged bytes).
            await asyncio.shield(self._clean_up(receiver, responder))

    async def _clean_up(self, receiver: asyncio.Future, responder: asyncio.Future) -> None:
        for task in (receiver, responder):
            task.cancel()
        await asyncio.gather(receiver, responder, return_exceptions=True)
        if self._last_store is not None:  # let the writer thread finish before closing its files
            await asyncio.wait([self._last_store])
        self._writer.shutdown(wait=False)
        if self.downstream is not None:
            self.downstream.cancel()  # a no-op once its stream has ended
        if self._finalizing is not None:
            await asyncio.wait([self._finalizing])
            if not self._finalizing.cancelled():
                self._finalizing.exception()  # seen: the receiver reported it, if it was still there
        if not self.finalized and self.rbw is not None:
            if self.keep_partial and self.rbw.num_bytes:
                await self._finalize(partial=True)
            else:
                log.warning("write of %s ended before its last packet; replica discarded", self.rbw)
                self.storage.abort(self.rbw)

    async def _finalize(self, partial: bool) -> None:
        """Finalize the replica and report it. ``partial`` (keep_partial, the stream broke):
        at the bytes on disk, every one checksum-verified on arrival; no write is pending."""
        try:
            replica = await self.storage.finalize(self.rbw, verified=True, partial=partial)
        except (HfedError, OSError) as e:
            if not partial:
                raise
            log.error("write of %s broke off and its %d written bytes could not be kept: %s",
                      self.rbw, self.rbw.num_bytes, e)
            return
        self.finalized = True
        if partial:
            log.warning("write of %s ended before its last packet; kept the %d bytes written (keep_partial)",
                        replica, replica.num_bytes)
        else:
            log.info("finalized %s (%d bytes)", replica, replica.num_bytes)
        if self.servicer.links is not None:
            await self.servicer.links.block_received(replica.to_block())

    def _open(self, first: pb.WritePacket) -> None:
        if isinstance(first, GarbledMessage):
            raise first.reject(self.storage.host_label)
        if not first.HasField("header"):
            raise InvalidArgument(f"first WriteBlock packet to DataNode {self.storage.host_label} has no header")
        header = first.header
        block = header.block
        self.rbw = self.storage.create_rbw(block.pool_id, block.block_id, block.generation_stamp)
        self.keep_partial = header.keep_partial
        if header.targets:
            self.target = header.targets[0]
            self.downstream = DownstreamStream(self.servicer.channels, self.target)
        log.debug("receiving %s from %s, %d downstream", self.rbw, header.client_name, len(header.targets))

    async def _receive(self, packet: pb.WritePacket) -> None:
        # Every DataNode checks every packet (cheap since checksum.verify folds
        # CRCs), so a finalized replica is known good and short-circuit readers
        # need no second pass over it.
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
                # Each access to a protobuf bytes field copies it: read them once.
                data, crcs = packet.data, packet.checksums
                self.rbw.check_packet(packet.offset, data, crcs)
                if self.downstream is not None:
                    entry.downstream_error = await self._forward(packet, expected_seqno == 0)
                    if packet.last:
                        self.downstream.done_sending()
                if data:
                    entry.stored = await self._store_in_order(packet.offset, data, crcs, where)
                if packet.last:
                    if self._last_store is not None:
                        await self._last_store  # every earlier write, in order
                    # A task of its own, so a writer that goes away now cannot cut the
                    # finalize in half; the clean-up waits for it.
                    self._finalizing = asyncio.ensure_future(self._finalize(partial=False))
                    await asyncio.shield(self._finalizing)
            except (HfedError, OSError) as e:
                log.warning("write of %s failed: %s", where, e)
                entry.ok, entry.message = False, str(e)
            self.received.put_nowait(entry)
            if not entry.ok or entry.downstream_error or packet.last or self._store_error:
                return
            expected_seqno += 1
            packet = await self._next_packet()
            if packet is grpc.aio.EOF:
                log.warning("writer of %s closed the stream without a last packet", where)
                self.received.put_nowait(None)
                return

    async def _store_in_order(self, offset: int, data: bytes, crcs: bytes, where: str) -> asyncio.Future:
        await self._store_slots.acquire()
        stored = asyncio.get_running_loop().run_in_executor(self._writer, self._store, offset, data, crcs, where)
        stored.add_done_callback(lambda _: self._store_slots.release())
        self._last_store = stored
        return stored

    def _store(self, offset: int, data: bytes, crcs: bytes, where: str) -> None:
        """Writer thread: verify and append one packet."""
        if self._store_error is not None:
            raise self._store_error
        try:
            checksum.verify(data, crcs, offset, where)
            self.rbw.write(data, crcs)
        except BaseException as e:
            self._store_error = e
            raise

    async def _forward(self, packet: pb.WritePacket, first: bool) -> str:
        """Send a packet downstream; the failure message, if it could not be sent."""
        if first:
            forwarded = pb.WritePacket()
            forwarded.CopyFrom(packet)
            del forwarded.header.targets[0]
            packet = forwarded
        try:
            await self.downstream.send(packet)
            return ""
        except Exception as e:  # noqa: BLE001 - any failure here is the downstream node's
            return describe_rpc_error(e, self.downstream.where)

    async def _respond(self) -> None:
        while True:
            entry = await self.received.get()
            if entry is None:
                return
            if entry.ok and entry.stored is not None:
                try:
                    await entry.stored
                except (HfedError, OSError) as e:
                    entry.ok, entry.message = False, str(e)
            statuses = [self._own(entry.ok, entry.message)]
            if entry.ok and self.downstream is not None:
                statuses += await self._downstream_statuses(entry)
            await self.context.write(pb.WriteAck(seqno=entry.seqno, statuses=statuses))
            if entry.last or not all(s.ok for s in statuses):
                return

    async def _downstream_statuses(self, entry: _Received) -> list[pb.PipelineStatus]:
        where = self.downstream.where

        def failed(message: str) -> list[pb.PipelineStatus]:
            log.warning("pipeline for %s: %s", self.rbw, message)
            return [pb.PipelineStatus(uuid=self.target.uuid, ok=False, message=message)]

        if entry.downstream_error:
            return failed(entry.downstream_error)
        try:
            ack = await asyncio.wait_for(self.downstream.read_ack(), DOWNSTREAM_ACK_TIMEOUT)
        except asyncio.TimeoutError:
            return failed(f"{where} did not acknowledge packet {entry.seqno} within {DOWNSTREAM_ACK_TIMEOUT:.0f}s")
        except Exception as e:  # noqa: BLE001
            return failed(describe_rpc_error(e, where))
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
    async with contextlib.aclosing(replica_chunks(replica, 0, replica.num_bytes, storage.host_label)) as chunks:
        await send_block(channels, replica.to_block(), chunks, targets, client_name)


async def send_block(channels: ChannelCache, block: pb.Block, chunks, targets: list[pb.DatanodeId],
                     client_name: str) -> None:
    """Write ``block`` (its num_bytes, as the whole-packet Chunks the async iterator
    ``chunks`` yields from offset 0) as a new replica on targets[0] and on down the
    pipeline to the other targets; return once every target acknowledged the last
    packet (each then finalized and reported its replica). Raises HfedError naming
    the failing DataNode."""
    stream = DownstreamStream(channels, targets[0])
    what = f"{block_name(block.block_id, block.generation_stamp)} of pool {block.pool_id}"
    last_seqno = max(0, -(-block.num_bytes // rpc.PACKET_SIZE) - 1)

    async def collect_acks():
        while True:
            ack = await stream.read_ack()
            if ack is grpc.aio.EOF:
                raise errors.Unavailable(f"{stream.where} ended the transfer of {what} before the last ack")
            bad = [s for s in ack.statuses if not s.ok]
            if bad:
                raise HfedError(f"transfer of {what} failed: DataNode {bad[0].uuid}: {bad[0].message}")
            if ack.seqno == last_seqno:
                return

    acks = asyncio.ensure_future(collect_acks())
    try:
        seqno = 0
        async for chunk in chunks:
            if acks.done():  # the pipeline failed: stop reading the source
                break
            await stream.send(_packet(block, seqno, chunk, seqno == last_seqno, targets[1:], client_name))
            seqno += 1
        if block.num_bytes == 0:
            await stream.send(_packet(block, 0, Chunk(0, b"", b""), True, targets[1:], client_name))
        stream.done_sending()
        await acks
    except grpc.RpcError as e:
        raise errors.from_rpc_error(e, stream.where) from None
    except HfedError:
        raise
    except Exception as e:  # noqa: BLE001
        raise errors.Unavailable(describe_rpc_error(e, stream.where)) from None
    finally:
        acks.cancel()
        stream.cancel()


def _packet(block: pb.Block, seqno: int, chunk: "Chunk", last: bool,
            downstream: list[pb.DatanodeId], client_name: str) -> pb.WritePacket:
    packet = pb.WritePacket(seqno=seqno, offset=chunk.offset, data=chunk.data, checksums=chunk.crcs, last=last)
    if seqno == 0:
        packet.header.block.CopyFrom(block)
        packet.header.targets.extend(downstream)
        packet.header.client_name = client_name
    return packet
