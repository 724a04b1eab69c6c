"""Moving block bytes between the client and DataNodes.

Reading: `iter_block_range` yields the bytes of one block range, trying the
replicas in the order the NameNode gave (the client's own host first). A
replica on the client's host is read short-circuit (the DataNode verified it
and hands out its file path); others are streamed with ReadBlock and every
chunk's CRC32C is checked here. A dead DataNode, a missing replica or a bad
checksum moves on to the next replica, from the byte where the last one
stopped; a corrupt replica is reported so the NameNode can re-replicate.

Writing: `BlockWriter` streams one block down a WriteBlock pipeline, 1 MiB
packets with checksums, without waiting for each ack: a background thread
consumes acks and a bounded window keeps at most `window` packets in flight.
"""
from __future__ import annotations

import logging
import queue
import threading
from typing import Callable, Iterator

import grpc

from protos import checksum, errors, rpc
from protos import hfed_pb2 as pb
from protos import hfed_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)

PACKET_SIZE = rpc.PACKET_SIZE
READ_TIMEOUT = 300.0       # one block range; generous for slow disks
ACK_TIMEOUT = 120.0        # no ack progress for this long: the pipeline is stuck
DEFAULT_WINDOW = 16

CHANNEL_OPTIONS = rpc.OPTIONS + [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.min_reconnect_backoff_ms", 2000),
]


def describe(dn: pb.DatanodeId) -> str:
    return f"{dn.host_label or '?'} ({dn.transfer_address}, uuid {dn.uuid})"


def block_name(block: pb.Block) -> str:
    return f"block {block.block_id} (pool {block.pool_id}, gs {block.generation_stamp})"


class DatanodePool:
    """Cached channels to DataNodes, shared by all reads and writes of one client."""

    def __init__(self, metadata: tuple = ()):
        self.metadata = metadata
        self._lock = threading.Lock()
        self._channels: dict[str, grpc.Channel] = {}
        self._stubs: dict[str, pb_grpc.DataTransferStub] = {}

    def stub(self, address: str) -> pb_grpc.DataTransferStub:
        with self._lock:
            stub = self._stubs.get(address)
            if stub is None:
                channel = grpc.insecure_channel(address, options=CHANNEL_OPTIONS)
                self._channels[address] = channel
                stub = self._stubs[address] = pb_grpc.DataTransferStub(channel)
            return stub

    def close(self) -> None:
        with self._lock:
            for channel in self._channels.values():
                channel.close()
            self._channels.clear()
            self._stubs.clear()


def _rpc_error(err: grpc.RpcError, dn: pb.DatanodeId) -> errors.HfedError:
    error = errors.from_rpc_error(err, f"DataNode {describe(dn)}")
    if dn.host_label and dn.host_label not in error.message:
        return type(error)(f"{error.message} [DataNode {describe(dn)}]", error.path)
    return error


# ------------------------------------------------------------------ reading

def short_circuit_file(pool: DatanodePool, dn: pb.DatanodeId, block: pb.Block, client_host: str,
                       timeout: float = READ_TIMEOUT) -> tuple[str, int]:
    """(path, length) of ``dn``'s verified replica file of ``block``, for a client on the
    DataNode's own host. AccessDenied when the DataNode refuses (another host, a replica
    still being written); other hfed errors name the DataNode."""
    try:
        reply = pool.stub(dn.transfer_address).RequestShortCircuit(
            pb.ShortCircuitRequest(block=block, client_host=client_host),
            metadata=pool.metadata, timeout=timeout, wait_for_ready=False)
    except grpc.RpcError as e:
        raise _rpc_error(e, dn) from None
    return reply.block_path, reply.length


def _short_circuit_chunks(pool: DatanodePool, dn: pb.DatanodeId, block: pb.Block, start: int, end: int,
                          client_host: str) -> Iterator[bytes]:
    block_path, length = short_circuit_file(pool, dn, block, client_host)
    if length < end:
        raise errors.BlockMissing(f"{block_name(block)} on {describe(dn)} has {length} bytes, "
                                  f"need {end}")
    with open(block_path, "rb") as f:  # the DataNode verified this replica's checksums
        f.seek(start)
        pos = start
        while pos < end:
            data = f.read(min(PACKET_SIZE, end - pos))
            if not data:
                raise errors.BlockMissing(f"{block_name(block)}: replica file {block_path} on "
                                          f"{describe(dn)} ended at {pos}, expected {end}")
            pos += len(data)
            yield data


def _streamed_chunks(pool: DatanodePool, dn: pb.DatanodeId, block: pb.Block, start: int, end: int,
                     where: str) -> Iterator[bytes]:
    call = pool.stub(dn.transfer_address).ReadBlock(
        pb.ReadBlockRequest(block=block, offset=start, length=end - start),
        metadata=pool.metadata, timeout=READ_TIMEOUT, wait_for_ready=False)
    pos = start
    try:
        for data in checksum.verified_range(call, start, end, f"{where}, {block_name(block)} from {describe(dn)}"):
            pos += len(data)
            yield data
        if pos < end:
            raise errors.BlockMissing(f"{block_name(block)} from {describe(dn)}: stream ended at {pos}, "
                                      f"expected {end}")
    except grpc.RpcError as e:
        raise _rpc_error(e, dn) from None
    finally:
        call.cancel()


ReportBad = Callable[[pb.Block, pb.DatanodeId], None]


def iter_block_range(pool: DatanodePool, located: pb.LocatedBlock, start: int, end: int, *,
                     path: str, client_host: str = "", report_bad: ReportBad | None = None) -> Iterator[bytes]:
    """Yield bytes [start, end) of ``located``'s block (offsets within the block), in order."""
    block = located.block
    pos = start
    tried: list[str] = []
    for dn in located.locations:
        if pos >= end:
            return
        sources = []
        if client_host and dn.host_label == client_host:
            sources.append("short-circuit")
        sources.append("stream")
        for source in sources:
            try:
                if source == "short-circuit":
                    chunks = _short_circuit_chunks(pool, dn, block, pos, end, client_host)
                else:
                    chunks = _streamed_chunks(pool, dn, block, pos, end, path)
                for data in chunks:
                    pos += len(data)
                    yield data
                return
            except errors.ChecksumError as e:
                tried.append(f"{describe(dn)}: {e}")
                if source == "stream" and report_bad is not None:
                    _report(report_bad, block, dn)
                break  # a corrupt replica: the DataNode's other path reads the same bytes
            except errors.AccessDenied as e:
                tried.append(f"{describe(dn)} {source}: {e}")
                continue  # short-circuit refused: stream from the same DataNode
            except (errors.HfedError, OSError) as e:
                tried.append(f"{describe(dn)} {source}: {e}")
                if source == "short-circuit" and isinstance(e, (errors.Unavailable, errors.BlockMissing)):
                    break
                continue
    if pos < end:
        detail = "; ".join(tried) if tried else "no replica locations"
        raise errors.BlockMissing(f"could not read {block_name(block)} of {path} at offset {pos}: "
                                  f"every replica failed (tried {detail})", path)


def _report(report_bad: ReportBad, block: pb.Block, dn: pb.DatanodeId) -> None:
    try:
        report_bad(block, dn)
    except Exception as e:  # reporting is best effort; the read goes on
        log.warning("could not report corrupt %s on %s: %s", block_name(block), describe(dn), e)


# ------------------------------------------------------------------ writing

class PipelineFailed(errors.Unavailable):
    """A write pipeline broke; ``failed_uuid`` is the DataNode to exclude next time."""

    def __init__(self, message: str, failed_uuid: str = "", path: str | None = None):
        super().__init__(message, path)
        self.failed_uuid = failed_uuid


def packet_slices(length: int, packet_size: int = PACKET_SIZE) -> list[tuple[int, int]]:
    """(start, end) of each packet for ``length`` bytes of one block."""
    return [(i, min(i + packet_size, length)) for i in range(0, length, packet_size)]


class BlockWriter:
    """Streams one block down its WriteBlock pipeline.

    write() sends whole 1 MiB packets as soon as they fill; close() sends the
    tail with last=True and waits for the final ack (the replicas are then
    finalized and reported). Errors raise PipelineFailed naming the DataNode.
    """

    def __init__(self, pool: DatanodePool, located: pb.LocatedBlock, client_name: str, path: str,
                 window: int = DEFAULT_WINDOW, bytes_per_checksum: int = checksum.BYTES_PER_CHECKSUM,
                 keep_partial: bool = False):
        """``keep_partial``: DataNodes keep what was written if the stream breaks (flushed
        writes, see flush())."""
        if not located.locations:
            raise errors.NoSpace(f"{path}: the NameNode gave no DataNode for {block_name(located.block)}", path)
        self.located = located
        self.path = path
        self.bytes_per_checksum = bytes_per_checksum
        self.offset = 0
        self._seqno = 0
        self._pending = bytearray()
        self._by_uuid = {dn.uuid: dn for dn in located.locations}
        self._requests: queue.Queue = queue.Queue()
        self._window = threading.Semaphore(window)
        self._error: PipelineFailed | None = None
        self._last_acked = -1
        self._final_seqno: int | None = None
        self._done = threading.Event()
        self._acked = threading.Condition()
        self._closed = False
        block = pb.Block(pool_id=located.block.pool_id, block_id=located.block.block_id,
                         generation_stamp=located.block.generation_stamp)
        self._header = pb.WriteHeader(block=block, targets=list(located.locations[1:]), client_name=client_name,
                                      keep_partial=keep_partial)
        first = located.locations[0]
        self._call = pool.stub(first.transfer_address).WriteBlock(
            self._request_stream(), metadata=pool.metadata, wait_for_ready=False)
        self._acks = threading.Thread(target=self._consume_acks, name=f"acks-blk_{block.block_id}", daemon=True)
        self._acks.start()

    def _request_stream(self):
        while True:
            packet = self._requests.get()
            if packet is None:
                return
            yield packet

    def _consume_acks(self) -> None:
        first = self.located.locations[0]
        try:
            for ack in self._call:
                bad = next((s for s in ack.statuses if not s.ok), None)
                if bad is not None:
                    dn = self._by_uuid.get(bad.uuid)
                    who = describe(dn) if dn else f"uuid {bad.uuid}"
                    self._fail(PipelineFailed(f"writing {self.path}: DataNode {who} failed "
                                              f"{block_name(self.located.block)}: {bad.message}",
                                              bad.uuid, self.path))
                    return
                with self._acked:
                    self._last_acked = ack.seqno
                    self._acked.notify_all()
                self._window.release()
                if self._final_seqno is not None and ack.seqno >= self._final_seqno:
                    return
            if self._final_seqno is None or self._last_acked < self._final_seqno:
                self._fail(PipelineFailed(f"writing {self.path}: pipeline from {describe(first)} ended before "
                                          f"the last ack of {block_name(self.located.block)}",
                                          first.uuid, self.path))
        except grpc.RpcError as e:
            if not self._closed or self._error is None:
                error = _rpc_error(e, first)
                self._fail(PipelineFailed(f"writing {self.path}: {error}", first.uuid, self.path))
        finally:
            self._done.set()

    def _fail(self, error: PipelineFailed) -> None:
        with self._acked:
            if self._error is None:
                self._error = error
            self._acked.notify_all()
        self._requests.put(None)
        self._window.release()  # wake a writer blocked on the window

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    def _send(self, data: bytes, last: bool) -> None:
        waited = 0.0
        while not self._window.acquire(timeout=0.5):
            self._check()
            waited += 0.5
            if waited >= ACK_TIMEOUT:
                self.abort()
                raise PipelineFailed(f"writing {self.path}: no ack from {describe(self.located.locations[0])} "
                                     f"for {ACK_TIMEOUT:.0f}s", self.located.locations[0].uuid, self.path)
        self._check()
        packet = pb.WritePacket(seqno=self._seqno, offset=self.offset, data=data,
                                checksums=checksum.compute(data, self.bytes_per_checksum), last=last)
        if self._seqno == 0:
            packet.header.CopyFrom(self._header)
        if last:
            self._final_seqno = self._seqno
        self._requests.put(packet)
        self._seqno += 1
        self.offset += len(data)

    def write(self, data) -> None:
        self._check()
        view = memoryview(data).cast("B")
        if self._pending:  # top up the partial packet first
            take = PACKET_SIZE - len(self._pending)
            self._pending += view[:take]
            view = view[take:]
            if len(self._pending) < PACKET_SIZE:
                return
            self._send(bytes(self._pending), last=False)
            self._pending.clear()
        while len(view) >= PACKET_SIZE:
            self._send(bytes(view[:PACKET_SIZE]), last=False)
            view = view[PACKET_SIZE:]
        self._pending += view

    @property
    def finished(self) -> bool:
        """close() or abort() ran: nothing more can be written."""
        return self._closed

    def flush(self) -> int:
        """Send what is buffered and wait until every DataNode of the pipeline has
        acknowledged all of it (HDFS's hflush); returns the bytes acknowledged."""
        self.wait_acked(self.push())
        return self.offset

    def push(self) -> int:
        """Send what is buffered now, even a partial packet (it must end on a checksum
        chunk unless nothing follows); returns the seqno to wait for with wait_acked."""
        self._check()
        if self._pending:
            self._send(bytes(self._pending), last=False)
            self._pending.clear()
        return self._seqno - 1

    def wait_acked(self, seqno: int) -> None:
        """Block until packet ``seqno`` and all before it are acknowledged by every DataNode."""
        with self._acked:
            if not self._acked.wait_for(lambda: self._last_acked >= seqno or self._error is not None,
                                        ACK_TIMEOUT):
                self._error = self._error or PipelineFailed(
                    f"writing {self.path}: no ack from {describe(self.located.locations[0])} for "
                    f"{ACK_TIMEOUT:.0f}s", self.located.locations[0].uuid, self.path)
        self._check()

    def close(self) -> int:
        """Send the tail (last=True), wait for the final ack; return the block's length."""
        self._check()
        self._send(bytes(self._pending), last=True)
        self._pending.clear()
        self._requests.put(None)  # half-close: nothing follows the last packet
        if not self._done.wait(ACK_TIMEOUT):
            self.abort()
            raise PipelineFailed(f"writing {self.path}: no final ack for {block_name(self.located.block)} "
                                 f"within {ACK_TIMEOUT:.0f}s", self.located.locations[0].uuid, self.path)
        self._check()
        self._closed = True
        return self.offset

    def abort(self) -> None:
        """Tear the pipeline down without finalizing (errors are ignored)."""
        self._closed = True
        if self._error is None:
            self._error = PipelineFailed(f"writing {self.path}: pipeline aborted", "", self.path)
        self._requests.put(None)
        self._call.cancel()
        self._window.release()
