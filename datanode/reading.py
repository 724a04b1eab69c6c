"""Reading replicas: finalized ones, and the bytes a write has put on disk so far.

Both read the same way (block file + meta file, the stored CRCs travelling with
the data), so ReadBlock, replication and packing share these packet sources.
"""
from __future__ import annotations

import asyncio
from typing import NamedTuple

from datanode.storage import BPC, BlockStorage, Replica, block_name
from protos import checksum, errors, rpc
from protos import hfed_pb2 as pb
from protos.errors import ChecksumError, InvalidArgument


# Attempts to open a replica's two files: a replica being written moves to finalized/
# when its write ends, so a reader that looked it up just before then finds neither
# path (or one) and looks up again.
OPEN_ATTEMPTS = 5


async def open_readable(storage: BlockStorage, block: pb.Block) -> tuple[Replica, bool, tuple]:
    """(replica, being written, (data file, meta file) opened for reading) for ``block``;
    once open, the files stay readable whatever renames or deletes them.
    BlockMissing naming block and DataNode when it is not here."""
    for attempt in range(OPEN_ATTEMPTS):
        replica, writing = storage.readable(block.pool_id, block.block_id, block.generation_stamp)
        try:
            data_file = open(replica.block_path, "rb", buffering=0)
        except FileNotFoundError:
            await asyncio.sleep(0.002 * (attempt + 1))  # let the finalize (or delete) that moved it finish
            continue
        try:
            meta_file = open(replica.meta_path, "rb", buffering=0)
        except FileNotFoundError:
            data_file.close()
            await asyncio.sleep(0.002 * (attempt + 1))
            continue
        return replica, writing, (data_file, meta_file)
    raise errors.BlockMissing(f"block {block_name(block.block_id, block.generation_stamp)} of pool {block.pool_id}"
                              f" vanished from DataNode {storage.host_label} while being opened")


def read_end(replica: Replica, writing: bool, offset: int, length: int, host_label: str) -> int:
    """Where a read of [offset, offset+length) of ``replica`` ends (length 0: to the end),
    in whole chunks. A finalized replica serves what it has of the range; a replica being
    written only a range within the bytes on disk (a reader wanting acknowledged bytes
    the write has not stored here yet tries another replica)."""
    if writing:
        want = replica.num_bytes if length == 0 else offset + length
        if want > replica.num_bytes:
            raise errors.BlockMissing(f"block {replica} is being written on DataNode {host_label} and has"
                                      f" {replica.num_bytes} bytes on disk: [{offset}, {want}) is not all written")
    if offset > replica.num_bytes:
        raise InvalidArgument(f"offset {offset} is past the end of block {replica}"
                              f" ({replica.num_bytes} bytes) on DataNode {host_label}")
    end = replica.num_bytes if length == 0 else min(replica.num_bytes, offset + length)
    return min(-(-end // BPC) * BPC, replica.num_bytes)  # whole chunks only


class Chunk(NamedTuple):
    """A packet of a replica: its offset, data and stored checksums."""
    offset: int
    data: bytes
    crcs: bytes


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def encode_read_chunk(chunk: Chunk) -> bytes:
    """The wire bytes of pb.ReadBlockChunk(offset, data, checksums, bytes_per_checksum).

    Building the message and then serializing it copies the 4 MiB of data
    twice; writing the four fields' protobuf encoding directly copies it once."""
    return b"".join((b"\x08", _varint(chunk.offset), b"\x12", _varint(len(chunk.data)), chunk.data,
                     b"\x1a", _varint(len(chunk.crcs)), chunk.crcs, b"\x20", _varint(BPC)))


async def replica_chunks(replica: Replica, start: int, end: int, host_label: str, files: tuple = ()):
    """Chunks of [start, end) of a replica (start chunk aligned), reading
    the next packet from disk while the current one is on its way.
    ``files``: its (data, meta) files already open (closed here), else opened here."""
    data_file, meta_file = files or (open(replica.block_path, "rb", buffering=0),
                                     open(replica.meta_path, "rb", buffering=0))
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
            yield Chunk(pos, data, crcs)
    finally:
        if pending is not None:
            # The worker thread may still be reading: let it finish before closing its files.
            await asyncio.wait([pending])
            if not pending.cancelled():
                pending.exception()
        data_file.close()
        meta_file.close()


async def bytes_chunks(data: bytes):
    """Packets of ``data`` as a block from offset 0, checksums computed off the event loop."""
    view = memoryview(data)
    for pos in range(0, len(data), rpc.PACKET_SIZE):
        piece = bytes(view[pos:pos + rpc.PACKET_SIZE])
        yield Chunk(pos, piece, await asyncio.to_thread(checksum.compute, piece))
