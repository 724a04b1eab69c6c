"""File content checksums without reading the data: HDFS's COMPOSITE-CRC32C.

One NameNode call (GetBlockLocations) says where each block is; each block's
DataNode folds the CRC32Cs it stored beside the block when it was written into
the CRC32C of the block's bytes (DataTransfer BLOCK_CHECKSUM, protos/DATATRANSFER.md)
and the client joins the block CRCs in file order (protos/checksum.combine).
The result is the CRC32C of the whole file: the same value for the same bytes
whatever the block size, so it compares files across namespaces, clusters and
local copies (crc32c of the local bytes). The blocks are spread over the
DataNodes holding them and the DataNodes asked concurrently; a replica that fails (down, missing, checksums truncated) falls back to the next
one, a corrupt one is reported to the NameNode as a read would.

Small files have no block of their own: a packed one is one ranged read of its
container (client/streams.py), a staged one came with the locations; their bytes
(below the small-file threshold) are checksummed here.
"""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import crc32c

from client.mount_table import Resolved
from client.session import ClusterSession
from client.streams import HfedReader, block_spans
from protos import checksum, datatransfer, errors, paths
from protos import hfed_pb2 as pb
from protos.pipeline import block_name, describe

log = logging.getLogger(__name__)

ALGORITHM = "COMPOSITE-CRC32C"   # HDFS's name (dfs.checksum.combine.mode=COMPOSITE_CRC, CRC32C chunks)
WORKERS = 8                      # DataNodes asked at once: they fold CRCs in parallel


@dataclass(frozen=True)
class FileChecksum:
    """What HDFS's FileChecksum says: ``algorithm``, ``bytes`` (the CRC32C, 4 bytes big-endian)
    and ``length`` (of ``bytes``, as HDFS and WebHDFS's FileChecksum JSON have it); plus
    ``file_length``, the bytes of the file it covers."""
    algorithm: str
    bytes: bytes
    file_length: int

    @property
    def length(self) -> int:
        return len(self.bytes)

    @property
    def value(self) -> int:
        return int.from_bytes(self.bytes, "big")

    @property
    def hex(self) -> str:
        return self.bytes.hex()


def of_crc(crc: int, file_length: int) -> FileChecksum:
    return FileChecksum(ALGORITHM, crc.to_bytes(4, "big"), file_length)


def path_checksum(session: ClusterSession, path: str) -> FileChecksum:
    """file_checksum of an absolute path (checked, then routed by the mount table)."""
    return file_checksum(session, session.resolve(paths.check(path)))


def file_checksum(session: ClusterSession, target: Resolved, workers: int = WORKERS) -> FileChecksum:
    """The COMPOSITE-CRC32C of the file at ``target``. IsADirectory for a directory,
    NotFound for a missing path (from the NameNode, naming path and namespace);
    BlockMissing naming the block and every replica tried when no replica answers
    (after asking the NameNode once more: it may know newer replicas by then)."""
    for attempt in (0, 1):
        located = session.block_locations(target)
        try:
            return of_crc(_file_crc(session, target, located, workers), located.file_length)
        except errors.BlockMissing:
            if attempt:
                raise


def _file_crc(session: ClusterSession, target: Resolved, located: pb.LocatedBlocks, workers: int) -> int:
    if located.layout == pb.STAGED:
        return crc32c.crc32c(located.inline_data)
    if located.layout == pb.PACKED:
        with HfedReader(session, target) as reader:   # one ranged read of the container, entry checked
            return crc32c.crc32c(reader.read())
    spans = block_spans(list(located.blocks), located.file_length)
    jobs = [(lb, end - start) for lb, (start, end) in zip(located.blocks, spans) if end > start]
    crcs = [0] * len(jobs)

    def run(uuid: str, indices: list[int]) -> None:
        for i in indices:
            crcs[i] = block_crc(session, target, *jobs[i], prefer=uuid)
    plan = list(_spread(jobs).items())
    if len(plan) > 1 and workers > 1:
        with ThreadPoolExecutor(min(workers, len(plan)), thread_name_prefix="checksum") as pool:
            list(pool.map(lambda item: run(*item), plan))      # list(): raises the first error
    else:
        for uuid, indices in plan:
            run(uuid, indices)
    value = 0
    for crc, (_, length) in zip(crcs, jobs):
        value = checksum.combine(value, crc, length)
    return value


def _spread(jobs: list[tuple[pb.LocatedBlock, int]]) -> dict[str, list[int]]:
    """DataNode uuid -> the blocks (indices) to ask it for: each block goes to the replica whose
    DataNode has the fewest so far (the nearest on a tie). One connection per DataNode then
    asks for its blocks in turn while the DataNodes fold in parallel: measured here, fewer
    TLS handshakes and less contention than one connection per block."""
    load: dict[str, int] = {}
    plan: dict[str, list[int]] = {}
    for i, (located, _) in enumerate(jobs):
        uuid = min((dn.uuid for dn in located.locations), key=lambda u: load.get(u, 0), default="")
        load[uuid] = load.get(uuid, 0) + 1
        plan.setdefault(uuid, []).append(i)
    return plan


def block_crc(session: ClusterSession, target: Resolved, located: pb.LocatedBlock, length: int,
              prefer: str = "") -> int:
    """CRC32C of the block's first ``length`` bytes, from the first replica that answers
    (the one on DataNode ``prefer`` first, then the NameNode's order)."""
    tried = []
    for dn in sorted(located.locations, key=lambda dn: dn.uuid != prefer):
        where = f"{target.path} (namespace {target.nameservice}), {block_name(located.block)} on DataNode {describe(dn)}"
        try:
            reply = datatransfer.block_checksum(session.datanodes, dn.transfer_address, located.block, length,
                                                where, located.token)
            if reply.length != length:
                raise errors.BlockMissing(f"{where}: checksum covers {reply.length} bytes, not {length}")
            return reply.crc32c
        except errors.ChecksumError as e:
            tried.append(str(e))
            _report(session, target, located, dn)
        except (errors.HfedError, OSError) as e:
            tried.append(str(e))
    detail = "; ".join(tried) if tried else "no replica locations"
    raise errors.BlockMissing(f"could not checksum {block_name(located.block)} of {target.path} (namespace "
                              f"{target.nameservice}): every replica failed (tried {detail})", target.path)


def _report(session: ClusterSession, target: Resolved, located: pb.LocatedBlock, dn: pb.DatanodeId) -> None:
    try:
        session.report_bad_replica(target.nameservice, located.block, dn.uuid, located.token)
    except Exception as e:  # noqa: BLE001 - reporting is best effort; the checksum goes on
        log.warning("could not report corrupt %s on %s: %s", block_name(located.block), describe(dn), e)
