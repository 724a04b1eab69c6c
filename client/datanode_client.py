"""Moving block bytes between the client and DataNodes (framed TCP, protos/datatransfer.py).

Reading: `iter_block_range` yields the bytes of one block range, trying the
replicas in the order the NameNode gave (the client's own host first). A
replica on the client's host is read short-circuit (the DataNode verified it
and hands out its file path); others are streamed with READ and every
packet's CRC32Cs are checked here. A dead DataNode, a missing replica or a bad
checksum moves on to the next replica, from the byte where the last one
stopped; a corrupt replica is reported so the NameNode can re-replicate.

Writing: `BlockWriter` cuts what it is given into packets with checksums and
streams them down the block's pipeline (protos/pipeline.py) without waiting
for each ack.
"""
from __future__ import annotations

import logging
from typing import Callable, Iterator

from protos import checksum, datatransfer, errors, tls
from protos import hfed_pb2 as pb
from protos.pipeline import DEFAULT_WINDOW, PipelineFailed, PipelineStream, block_name, describe

log = logging.getLogger(__name__)

PACKET_SIZE = datatransfer.PACKET_SIZE


class DatanodePool(datatransfer.Connections):
    """Pooled DataTransfer connections to DataNodes, shared by every read and write of one client.
    With ``cfg``'s TLS on they are TLS; the cluster CA is loaded at the first connection,
    so a client made before its cluster started works once it has."""

    def __init__(self, per_address: int = 4, cfg=None):
        super().__init__(per_address)
        self.cfg = cfg

    def connect(self, address: str, timeout: float = datatransfer.IO_TIMEOUT):
        if self.ssl_context is None and self.cfg is not None:
            self.ssl_context = tls.context_for(self.cfg)
        return super().connect(address, timeout)


# ------------------------------------------------------------------ reading

def short_circuit_file(pool: DatanodePool, dn: pb.DatanodeId, block: pb.Block, client_host: str,
                       timeout: float = datatransfer.IO_TIMEOUT, token: str = "") -> tuple[str, int]:
    """(path, length) of ``dn``'s verified replica file of ``block``, for a client on the
    DataNode's own host. AccessDenied when the DataNode refuses (another host, a replica
    still being written, no valid READ ``token``); other hfed errors name the DataNode."""
    reply = datatransfer.short_circuit(pool, dn.transfer_address, block, client_host, f"DataNode {describe(dn)}",
                                       timeout, token)
    return reply.block_path, reply.length


def _short_circuit_chunks(pool: DatanodePool, dn: pb.DatanodeId, block: pb.Block, start: int, end: int,
                          client_host: str, token: str) -> Iterator[bytes]:
    block_path, length = short_circuit_file(pool, dn, block, client_host, token=token)
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
                     where: str, token: str) -> Iterator[bytes]:
    return datatransfer.read_block(pool, dn.transfer_address, block, start, end,
                                   f"{where}, {block_name(block)} from DataNode {describe(dn)}", token)


# report_bad(block, datanode, token): the read token goes along, the NameNode's proof that
# the reporter may read the block (it then asks that DataNode to verify the replica).
ReportBad = Callable[[pb.Block, pb.DatanodeId, str], None]


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
                    chunks = _short_circuit_chunks(pool, dn, block, pos, end, client_host, located.token)
                else:
                    chunks = _streamed_chunks(pool, dn, block, pos, end, path, located.token)
                for data in chunks:
                    pos += len(data)
                    yield data
                return
            except errors.ChecksumError as e:
                tried.append(f"{describe(dn)}: {e}")
                if source == "stream" and report_bad is not None:
                    _report(report_bad, block, dn, located.token)
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


def _report(report_bad: ReportBad, block: pb.Block, dn: pb.DatanodeId, token: str) -> None:
    try:
        report_bad(block, dn, token)
    except Exception as e:  # reporting is best effort; the read goes on
        log.warning("could not report corrupt %s on %s: %s", block_name(block), describe(dn), e)


# ------------------------------------------------------------------ writing

def packet_slices(length: int, packet_size: int = PACKET_SIZE) -> list[tuple[int, int]]:
    """(start, end) of each packet for ``length`` bytes of one block."""
    return [(i, min(i + packet_size, length)) for i in range(0, length, packet_size)]


class BlockWriter:
    """Streams one block down its write pipeline.

    write() sends whole packets as soon as they fill; close() sends the tail as the
    last packet and waits for its ack (the replicas are then finalized and reported).
    Errors raise PipelineFailed naming the DataNode.
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
        self._pending = bytearray()
        self._closed = False
        self._stream = PipelineStream(pool, located.block, list(located.locations), client_name, path,
                                      keep_partial=keep_partial, window=window, token=located.token)

    def _send(self, data, last: bool) -> None:
        self._stream.send(self.offset, data, checksum.compute(data, self.bytes_per_checksum), last)
        self.offset += len(data)

    def write(self, data) -> None:
        self._stream.check()
        view = memoryview(data).cast("B")
        if self._pending:  # top up the partial packet first
            take = PACKET_SIZE - len(self._pending)
            self._pending += view[:take]
            view = view[take:]
            if len(self._pending) < PACKET_SIZE:
                return
            self._send(self._pending, last=False)
            self._pending = bytearray()
        while len(view) >= PACKET_SIZE:
            self._send(view[:PACKET_SIZE], last=False)   # sent before write() returns: no copy needed
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
        self._stream.check()
        if self._pending:
            self._send(self._pending, last=False)
            self._pending = bytearray()
        return self._stream.next_seqno - 1

    def wait_acked(self, seqno: int) -> None:
        """Block until packet ``seqno`` and all before it are acknowledged by every DataNode."""
        self._stream.wait_acked(seqno)

    def close(self) -> int:
        """Send the tail as the last packet, wait for its ack; return the block's length."""
        self._send(self._pending, last=True)
        self._pending = bytearray()
        self._stream.finish()
        self._closed = True
        return self.offset

    def abort(self) -> None:
        """Tear the pipeline down without finalizing (errors are ignored)."""
        self._closed = True
        self._stream.abort()
