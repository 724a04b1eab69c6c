"""Running a PackCommand: rewrite small files into one packed container block.

The NameNode's packer picks the files and this DataNode (usually the one
holding most of them); the DataNode moves the bytes, as for replication:
1. read each source's entry (protos/small_entry.py) from a local replica, else
   from another DataNode with a DataTransfer READ, checking chunk CRCs either way and the
   entry's own CRC when decoding it; a corrupt replica is reported and the next
   one tried; a source no replica can serve is left out (offset -1), the file
   stays where it is;
2. re-encode every file on its own (zstd when that is smaller), back to back
   with no padding, recording where each entry starts;
3. write the container as one block down a write pipeline to the
   command's targets (this DataNode first: its own WRITE over loopback,
   so the new replica is written, finalized and reported like any other);
4. tell the NameNode (ContainerPacked): the block with its length and the
   offsets once every target acknowledged the last packet, or why it failed.

Steps 1-3 run in one worker thread (local reads, remote reads over pooled
DataTransfer connections, compression, the write), so the event
loop keeps serving reads, writes and heartbeats. One pack runs at a time per
DataNode: a pack holds its whole container in memory.
"""
from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass, field

from datanode.storage import BPC, BlockStorage, Replica, block_name
from datanode.reading import bytes_chunks
from datanode.transfer import send_block
from protos import checksum, errors, small_entry
from protos.datatransfer import Connections, read_block
from protos import hfed_pb2 as pb
from protos.errors import BlockMissing, ChecksumError, HfedError

log = logging.getLogger("hfed.datanode.packing")



# ------------------------------------------------------------------ pure helpers

def entry_range(source: pb.PackSource, container_length: int) -> tuple[int, int]:
    """[start, end) of the container holding ``source``'s file: a raw file exactly; an
    entry's read_span, cut at the container's end (``container_length``, 0 unknown)
    when the container ends sooner (a compressed last entry is shorter than its span)."""
    start = source.offset
    if source.raw:
        return start, start + source.length
    end = start + small_entry.read_span(source.length)
    if container_length > start:
        end = min(end, container_length)
    return start, end


def file_bytes(source: pb.PackSource, buf: bytes, where: str) -> bytes:
    """The file ``source`` names, from the bytes of its entry_range; ChecksumError
    naming ``where`` if they do not hold it whole and intact."""
    if source.raw:
        if len(buf) != source.length:
            raise BlockMissing(f"{where}: {len(buf)} of the file's {source.length} bytes")
        return buf
    return small_entry.decode(buf, where, source.length)


def append_entry(container: bytearray, data: bytes, compress: bool) -> int:
    """Append ``data``'s packed entry (no padding); its offset in the container."""
    offset = len(container)
    container += small_entry.encode(data, compress=compress)
    return offset


# ------------------------------------------------------------------ reading sources

@dataclass
class SourceReader:
    """Reads sources for one pack in a worker thread. Local replicas were looked up on
    the event loop (storage is only mutated there); what turned out corrupt is
    collected for the event loop to mark and report."""
    storage: BlockStorage
    peers: Connections
    local: dict                    # (pool, block id, gs) -> Replica held here, not known corrupt
    bad_local: list = field(default_factory=list)    # Replicas whose chunks failed their CRCs
    bad_remote: list = field(default_factory=list)   # (pb.Block, DataNode uuid)
    _files: dict = field(default_factory=dict)       # local key -> (data fd, meta fd)
    _down: set = field(default_factory=set)          # uuids unreachable during this pack
    _corrupt: set = field(default_factory=set)       # (key, uuid) known corrupt

    def read(self, index: int, source: pb.PackSource) -> tuple[bytes | None, str]:
        """(file bytes, "") or (None, why every replica failed)."""
        if not source.HasField("container"):
            return bytes(source.inline_data), ""
        block = source.container.block
        key = (block.pool_id, block.block_id, block.generation_stamp)
        what = f"source {index} (entry at {source.offset} of {block_name(block.block_id, block.generation_stamp)})"
        tried = []
        replica = self.local.get(key)
        if replica is not None and (key, self.storage.uuid) in self._corrupt:
            tried.append(f"the replica on DataNode {self.storage.host_label} is corrupt")
        elif replica is not None:
            try:
                return self._read_local(key, replica, source, what), ""
            except (HfedError, OSError) as e:
                tried.append(f"here: {e}")
        for dn in source.container.locations:
            if dn.uuid == self.storage.uuid or dn.uuid in self._down or (key, dn.uuid) in self._corrupt:
                continue
            start, end = entry_range(source, block.num_bytes)
            try:
                buf = b"".join(read_block(self.peers, dn.transfer_address, block, start, end,
                                          f"DataNode {dn.host_label} at {dn.transfer_address}",
                                          source.container.token))
            except ChecksumError as e:   # the replica's chunks fail their CRCs: it is corrupt
                tried.append(str(e))
                self._corrupt.add((key, dn.uuid))
                self.bad_remote.append((block, dn.uuid))
                continue
            except errors.Unavailable as e:
                tried.append(str(e))
                self._down.add(dn.uuid)
                continue
            except (HfedError, OSError) as e:
                tried.append(str(e))
                continue
            try:   # intact bytes that are not the entry: wrong offset or a short replica; try another
                return file_bytes(source, buf, f"{what} from DataNode {dn.host_label}"), ""
            except (HfedError, OSError) as e:
                tried.append(str(e))
        return None, f"{what}: " + ("; ".join(tried) or "no replica locations")

    def _read_local(self, key, replica: Replica, source: pb.PackSource, what: str) -> bytes:
        start, end = entry_range(source, replica.num_bytes)
        if end > replica.num_bytes:
            raise BlockMissing(f"{what}: replica {replica} here has {replica.num_bytes} bytes, need {end}")
        fds = self._files.get(key)
        if fds is None:
            fds = self._files[key] = self._open(replica)
        aligned = start - start % BPC
        whole = min(-(-end // BPC) * BPC, replica.num_bytes)   # whole chunks: their CRCs cover them
        where = f"replica {replica} on DataNode {self.storage.host_label}"
        data, crcs = BlockStorage.read_packet(replica, fds[0], fds[1], aligned, whole - aligned)
        try:
            checksum.verify(data, crcs, aligned, where)
        except ChecksumError:
            self._corrupt.add((key, self.storage.uuid))
            self.bad_local.append(replica)
            raise
        return file_bytes(source, data[start - aligned:end - aligned], f"{what} here")

    @staticmethod
    def _open(replica: Replica) -> tuple[int, int]:
        data_fd = os.open(replica.block_path, os.O_RDONLY)
        try:
            return data_fd, os.open(replica.meta_path, os.O_RDONLY)
        except BaseException:
            os.close(data_fd)
            raise

    def close(self) -> None:
        for fds in self._files.values():
            for fd in fds:
                os.close(fd)
        self._files.clear()


def gather(reader: SourceReader, sources, compress: bool) -> tuple[bytearray, list[int], list[str]]:
    """(container bytes, offset of each source's entry or -1, why each -1) (blocking)."""
    container, offsets, problems = bytearray(), [], []
    try:
        for index, source in enumerate(sources):
            data, problem = reader.read(index, source)
            if data is None:
                offsets.append(-1)
                problems.append(problem)
            else:
                offsets.append(append_entry(container, data, compress))
    finally:
        reader.close()
    return container, offsets, problems


# ------------------------------------------------------------------ the command

def local_replicas(storage: BlockStorage, sources) -> dict:
    """Replicas held here (finalized, not known corrupt) of the sources' containers."""
    local = {}
    for source in sources:
        if source.HasField("container"):
            b = source.container.block
            key = (b.pool_id, b.block_id, b.generation_stamp)
            if key not in local:
                try:
                    replica = storage.get(*key)
                except BlockMissing:
                    continue
                if not storage.is_corrupt(replica):
                    local[key] = replica
    return local


async def pack(storage: BlockStorage, links, command: pb.PackCommand, pool_id: str) -> pb.ContainerPackedRequest:
    """Run ``command``; the ContainerPacked request that reports how it went."""
    target = pb.Block(pool_id=command.block.pool_id or pool_id, block_id=command.block.block_id,
                      generation_stamp=command.block.generation_stamp)
    what = f"packed container {block_name(target.block_id, target.generation_stamp)} of pool {target.pool_id}"
    reply = pb.ContainerPackedRequest(uuid=storage.uuid, block=target)
    sources = list(command.sources)
    for source in sources:   # a container's block names its pool; the command's, if it does not
        if source.HasField("container") and not source.container.block.pool_id:
            source.container.block.pool_id = target.pool_id
    reader = SourceReader(storage, links.peers, local_replicas(storage, sources))
    container, offsets, problems = await asyncio.to_thread(gather, reader, sources, command.compress)
    await _report_corrupt(storage, links, reader)
    for problem in problems:
        log.warning("%s: left out %s", what, problem)
    if not command.targets:
        reply.failed = f"{what}: the command names no target DataNode"
    elif sources and all(o < 0 for o in offsets):
        reply.failed = f"{what}: none of the {len(offsets)} sources could be read ({problems[0]})"
    if reply.failed:
        return reply
    target.num_bytes = reply.block.num_bytes = len(container)   # reply.block is a copy
    try:
        await asyncio.to_thread(send_block, links.peers, target, bytes_chunks(container), list(command.targets),
                                f"DataNode-{storage.host_label}-packer", command.token)
    except (HfedError, OSError) as e:
        reply.failed = f"{what}: writing it failed: {e}"
        return reply
    reply.offsets.extend(offsets)
    log.info("%s: %d of %d files, %d bytes, written to %s", what, sum(o >= 0 for o in offsets), len(offsets),
             len(container), ", ".join(t.host_label for t in command.targets))
    return reply


async def _report_corrupt(storage: BlockStorage, links, reader: SourceReader) -> None:
    for replica in reader.bad_local:
        log.error("corrupt replica %s found while packing", replica)
        if storage.holds(replica):
            storage.mark_corrupt(replica)
        await links.report_bad_block(replica.to_block())
    for block, uuid in reader.bad_remote:
        log.error("corrupt replica of %s on DataNode %s found while packing",
                  block_name(block.block_id, block.generation_stamp), uuid)
        await links.report_bad_block(block, uuid)


async def run(actor, command: pb.PackCommand) -> None:
    """Run a PackCommand from ``actor``'s NameNode and report to it (a task: one pack
    at a time per DataNode; a command repeated while its pack is queued or running
    is dropped)."""
    links = actor.links
    key = (command.block.pool_id or actor.pool_id, command.block.block_id)
    if key in links.packing:
        log.info("pack of blk_%d already queued or running; repeated command ignored", key[1])
        return
    links.packing.add(key)
    try:
        async with links.pack_slots:
            links.transfers_in_progress += 1
            try:
                reply = await pack(actor.storage, links, command, actor.pool_id)
            except Exception as e:  # noqa: BLE001 - the NameNode must hear of it, not wait for a timeout
                log.exception("pack of blk_%d failed", key[1])
                reply = pb.ContainerPackedRequest(uuid=actor.storage.uuid, block=command.block,
                                                  failed=f"DataNode {actor.storage.host_label}: {e!r}")
            finally:
                links.transfers_in_progress -= 1
        if reply.failed:
            log.warning("%s", reply.failed)
        await actor.container_packed(reply)
    finally:
        links.packing.discard(key)
