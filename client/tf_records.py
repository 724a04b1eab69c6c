"""TFRecord files in hfed without TensorFlow: the framing, and a shard writer.

TFRecord framing (as TensorFlow writes it), per record:
    uint64 length (little endian) | uint32 masked CRC32C of those 8 bytes |
    data | uint32 masked CRC32C of data
The mask is ((crc >> 15 | crc << 17) + 0xa282ead8) mod 2**32.

`write_tfrecord_shards` packs records into shards that each fit one block of
the target namespace, so a trainer on a host holding a shard's replica reads
it from the block file with TensorFlow's native reader (client/tf_adapter.py).
"""
from __future__ import annotations

import dataclasses
import logging
import math
import mmap
import os
import struct
from typing import Callable, Iterable, Iterator

import crc32c

from client.fs import HfedFileSystem
from protos import paths

log = logging.getLogger(__name__)

FRAME_OVERHEAD = 16   # length, its CRC, the data's CRC


def masked_crc(data) -> int:
    crc = crc32c.crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def frame(record: bytes) -> bytes:
    header = struct.pack("<Q", len(record))
    return b"".join((header, struct.pack("<I", masked_crc(header)), record, struct.pack("<I", masked_crc(record))))


def iter_records(raw: bytes, where: str = "<bytes>") -> Iterator[bytes]:
    """Records of a TFRecord file's bytes, checking both CRCs; ValueError naming ``where`` and the offset."""
    view = memoryview(raw)
    pos = 0
    while pos < len(view):
        if pos + 12 > len(view):
            raise ValueError(f"{where}: truncated TFRecord header at offset {pos}")
        header = bytes(view[pos:pos + 8])
        (length,) = struct.unpack_from("<Q", view, pos)
        (header_crc,) = struct.unpack_from("<I", view, pos + 8)
        if masked_crc(header) != header_crc:
            raise ValueError(f"{where}: corrupt TFRecord length at offset {pos}")
        end = pos + 12 + length
        if end + 4 > len(view):
            raise ValueError(f"{where}: truncated TFRecord at offset {pos}")
        data = bytes(view[pos + 12:end])
        if masked_crc(data) != struct.unpack_from("<I", view, end)[0]:
            raise ValueError(f"{where}: corrupt TFRecord data at offset {pos}")
        yield data
        pos = end + 4


def count_records(fd: int) -> int:
    """Records in an open TFRecord file, walking only the length fields (no CRC
    checks: the reader checks them). A truncated last record is not counted."""
    size = os.fstat(fd).st_size
    if size == 0:
        return 0
    with mmap.mmap(fd, 0, access=mmap.ACCESS_READ) as view:
        unpack = struct.Struct("<Q").unpack_from
        count = pos = 0
        while pos + 12 <= size:
            pos += FRAME_OVERHEAD + unpack(view, pos)[0]
            if pos > size:
                break
            count += 1
        return count


def count_records_in_stream(chunks: Iterable[bytes], size: int) -> int:
    """Records in a TFRecord file of ``size`` bytes read as ``chunks`` (e.g. from hfed),
    walking only the length fields, as count_records does; no more than one header is buffered."""
    unpack = struct.Struct("<Q").unpack_from
    count = 0
    record_at = 0      # offset of the next record's header
    buffered = b""     # bytes from offset ``buffered_at`` on, once the next header is near
    buffered_at = 0
    end = 0            # offset just past the chunks seen so far
    for chunk in chunks:
        start, end = end, end + len(chunk)
        if record_at >= end:
            continue
        buffered = (buffered if buffered_at + len(buffered) == start else b"") + chunk[max(0, record_at - start):]
        buffered_at = end - len(buffered)
        while record_at + 12 <= end and record_at + 12 <= size:
            (length,) = unpack(buffered, record_at - buffered_at)
            record_at += FRAME_OVERHEAD + length
            if record_at > size:
                return count
            count += 1
        buffered = buffered[max(0, record_at - buffered_at):]
        buffered_at = end - len(buffered)
    return count


def count_lines(fd: int) -> int:
    """Lines as TextLineDataset yields them: one per newline, plus an unterminated last line."""
    return count_lines_in_stream(iter(lambda: os.read(fd, 1 << 20), b""))


def count_lines_in_stream(chunks: Iterable[bytes]) -> int:
    count, last = 0, b"\n"
    for chunk in chunks:
        count += chunk.count(b"\n")
        last = chunk[-1:] or last
    return count + (last != b"\n")


@dataclasses.dataclass(frozen=True)
class ShardInfo:
    path: str
    records: int
    size: int
    first_replica_host: str   # "" when the NameNode chose freely


def write_tfrecord_shards(fs: HfedFileSystem, records: Iterable[bytes], directory: str, *,
                          replication: int | None = None, hosts: list[str] | None = None,
                          prefix: str = "part", block_size: int | None = None, overwrite: bool = False,
                          on_shard: Callable[[ShardInfo], None] | None = None, workers: int | None = None,
                          shards_per_worker: int | None = None,
                          records_per_shard: int | None = None) -> list[ShardInfo]:
    """Write ``records`` (serialized tf.train.Example bytes, or any bytes) as TFRecord
    shards ``directory/prefix-NNNNN.tfrecord``, each no larger than one block.

    ``block_size`` defaults to the target namespace's default (GetServerDefaults).
    ``hosts``: shard i is written by a client declaring host ``hosts[i % len(hosts)]``,
    so the NameNode puts its first replica there (the remaining ``replication - 1``
    replicas go wherever placement chooses).
    ``workers`` (default: the number of ``hosts``) trainers will read the shards:
    ``shards_per_worker`` asks for at least that many shards per worker (records are
    spread evenly over them; this holds all records in memory to count them), and
    ``records_per_shard`` caps a shard's records; a shard never exceeds one block.
    Fewer shards than workers leaves some worker without input: logged as a warning.
    """
    directory = fs._path(directory)
    nameservice = fs.session.resolve(directory).nameservice
    limit = block_size or fs.session.default_block_size(nameservice)
    workers = workers if workers is not None else (len(hosts) if hosts else None)
    for name, value in (("workers", workers), ("shards_per_worker", shards_per_worker),
                        ("records_per_shard", records_per_shard)):
        if value is not None and value < 1:
            raise ValueError(f"{name} must be at least 1, got {value} (writing {directory}, "
                             f"namespace {nameservice})")
    if shards_per_worker is not None:
        if workers is None:
            raise ValueError(f"shards_per_worker needs workers (or hosts) for {directory} "
                             f"(namespace {nameservice})")
        records = list(records)
        per_shard = max(1, math.ceil(len(records) / (shards_per_worker * workers)))
        records_per_shard = min(records_per_shard or per_shard, per_shard)
    fs.makedirs(directory, exist_ok=True)
    writers = [_client_on(fs, host) for host in hosts] if hosts else [fs]
    shards: list[ShardInfo] = []
    pending: list[bytes] = []
    pending_size = 0

    def flush() -> None:
        nonlocal pending, pending_size
        index = len(shards)
        client = writers[index % len(writers)]
        path = paths.join(directory, f"{prefix}-{index:05d}.tfrecord")
        # pack=False: a shard is read from its own block file on its host, never from a container.
        with client.open(path, "wb" if overwrite else "xb", replication=replication, block_size=limit,
                         pack=False) as f:
            f.write(b"".join(pending))
        shard = ShardInfo(path, len(pending), pending_size, client.session.host if hosts else "")
        shards.append(shard)
        if on_shard:
            on_shard(shard)
        pending, pending_size = [], 0

    try:
        for record in records:
            framed = frame(record)
            if len(framed) > limit:
                raise ValueError(f"a record of {len(record)} bytes does not fit one {limit}-byte block of "
                                 f"{directory} (namespace {nameservice})")
            if pending_size + len(framed) > limit or (records_per_shard and len(pending) >= records_per_shard):
                flush()
            pending.append(framed)
            pending_size += len(framed)
        if pending or not shards:
            flush()
    finally:
        for client in writers:
            if client is not fs:
                client.close()
    if workers is not None and len(shards) < workers:
        log.warning("%s [namespace %s]: %d shard(s) for %d workers: %d worker(s) will read nothing; "
                    "ask for shards_per_worker=1 or a smaller records_per_shard", directory, nameservice,
                    len(shards), workers, workers - len(shards))
    return shards


def _client_on(fs: HfedFileSystem, host: str) -> HfedFileSystem:
    """A client like ``fs`` (same cluster and user) that declares ``host`` as its own."""
    session = fs.session
    return HfedFileSystem(conf=session.cfg, user=session.user, groups=session.groups, host=host,
                          skip_instance_cache=True)
