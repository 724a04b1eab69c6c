"""The small-file packer: staged small files -> container blocks; compaction.

One per NameNode, on its event loop. When enough small files wait (count,
bytes or age), it writes them back to back into one container file under
/.hfed-containers (one block, normal replication and checksums), waits until
the block is complete on the DataNodes, and only then commits a ``pack``
record pointing each file at (container, offset, length); a crash before that
leaves the files staged and the container an orphan, deleted later.
Containers whose live bytes fall below compact_live_fraction have their live
files staged again (``restage``) and are deleted once empty.

The packer is a client of the DataNodes: it writes and reads blocks with the
client library's pipeline writer and reader, in a thread.
"""
from __future__ import annotations

import asyncio
import base64
import logging
import time

from client.datanode_client import BlockWriter, DatanodePool, iter_block_range
from protos import hfed_pb2 as pb
from protos.errors import HfedError
from namenode.inode_table import Inode
from namenode.ops import dirs, files
from namenode.ops.small import CONTAINER_DIR
from namenode.servicer import datanode_id

log = logging.getLogger(__name__)
PACKER_CLIENT = "hfed-packer"
COMPLETE_TIMEOUT = 30.0       # seconds for a DataNode to report the container's replica


class Packer:
    def __init__(self, fsn, *, pack_count: int, pack_bytes: int, pack_age: float, compact_live_fraction: float):
        self.fsn = fsn
        self.pack_count, self.pack_bytes, self.pack_age = pack_count, pack_bytes, pack_age
        self.compact_live_fraction = compact_live_fraction
        self.pool = DatanodePool()
        self._lock = asyncio.Lock()
        self._writing: set[str] = set()      # container paths in flight (not orphans)
        self._seq = 0

    @property
    def _superuser(self):
        return self.fsn.ns.caller(self.fsn.ns.superuser)

    def due(self) -> bool:
        small = self.fsn.ns.table.small
        return bool(small.staged) and (len(small.staged) >= self.pack_count or small.staged_bytes >= self.pack_bytes
                                       or small.oldest_age() >= self.pack_age)

    async def run(self, interval: float = 1.0) -> None:
        """Background loop: pack when due; compact and drop orphans now and then."""
        last_tidy = 0.0
        while True:
            await asyncio.sleep(interval)
            if self.fsn.safemode.on:
                continue
            try:
                if self.due():
                    await self.pack_now(tidy=False, only_while_due=True)
                if time.monotonic() - last_tidy >= 10 * interval:
                    last_tidy = time.monotonic()
                    await self.pack_now(pack=False)
            except Exception as e:  # noqa: BLE001 - staged files stay staged; try again next time
                log.warning("%s: packing failed (staged files stay staged): %s", self.fsn.nameservice, e)

    async def pack_now(self, pack: bool = True, tidy: bool = True, only_while_due: bool = False) -> dict:
        """Compact sparse containers, delete orphans, then pack the files staged now
        (or, for the background loop, only while a threshold is reached: files that
        arrive while a container is written wait for the next full one)."""
        counts = {"files_packed": 0, "containers_written": 0, "containers_compacted": 0}
        async with self._lock:
            if tidy:
                counts["containers_compacted"] = await self._compact()
                self._delete_orphans()
            waiting = set(self.fsn.ns.table.small.staged) if pack else set()
            while waiting and (self.due() if only_while_due else True):
                packed, taken = await self._pack_once(waiting)
                if not taken:
                    break
                waiting -= taken
                counts["files_packed"] += packed
                counts["containers_written"] += 1
        return counts

    # ------------------------------------------------------------ packing
    async def _pack_once(self, candidates: set[int]) -> tuple[int, set[int]]:
        """One container of the oldest staged ``candidates`` (up to pack_bytes);
        returns (files switched to it, slots taken)."""
        fsn = self.fsn
        table = fsn.ns.table
        chosen, total = [], 0
        for slot, data in table.small.staged.items():
            if slot not in candidates:
                continue
            if chosen and total + len(data) > self.pack_bytes:
                break
            chosen.append([fsn.ns.path_of(Inode(table, slot)), slot, total, len(data)])
            total += len(data)
        if not chosen:
            return 0, set()
        payload = b"".join(table.small.staged[slot] for _path, slot, _off, _len in chosen)
        self._seq += 1
        path = f"{CONTAINER_DIR}/c{fsn.now_ms()}-{self._seq}"
        block_id = await self._write_container(path, payload)
        switched = fsn.commit({"op": "pack", "container": path, "block_id": block_id, "entries": chosen})
        if fsn.journal is not None:
            await fsn.journal.sync_to(fsn.journal.last_txid)
        log.info("%s: packed %d small files (%d bytes) into %s", fsn.nameservice, switched, total, path)
        return switched, {slot for _path, slot, _off, _len in chosen}

    async def _write_container(self, path: str, payload: bytes) -> int:
        """Create ``path`` with one block holding ``payload``, complete on the DataNodes."""
        fsn, su = self.fsn, self._superuser
        block_size = max(512, -(-len(payload) // 512) * 512)
        self._writing.add(path)
        try:
            files.create(fsn, su, path, 0o600, False, True, 0, block_size, PACKER_CLIENT)
            try:
                block, targets = files.add_block(fsn, su, path, PACKER_CLIENT, None, set(), "")
                block_id = block.block_id
                located = pb.LocatedBlock(
                    block=pb.Block(block_id=block_id, generation_stamp=block.generation_stamp, pool_id=fsn.pool_id),
                    offset=0, locations=[datanode_id(n) for n in targets])
                await asyncio.to_thread(self._write, located, path, payload)
                deadline = time.monotonic() + COMPLETE_TIMEOUT
                while not files.complete(fsn, su, path, PACKER_CLIENT, (block_id, len(payload))):
                    if time.monotonic() > deadline:
                        raise HfedError(f"{fsn.ns.where(path)}: no DataNode reported the container block")
                    await asyncio.sleep(0.05)
                return block_id
            except BaseException:
                self._delete(path)
                raise
        finally:
            self._writing.discard(path)

    def _write(self, located: pb.LocatedBlock, path: str, payload: bytes) -> None:
        writer = BlockWriter(self.pool, located, PACKER_CLIENT, path)
        try:
            writer.write(payload)
            writer.close()
        except BaseException:
            writer.abort()
            raise

    # --------------------------------------------------------- compaction
    def _container_path(self, block_id: int) -> str | None:
        block = self.fsn.blocks.get(block_id)
        inode = self.fsn.ns.table.find(block.inode_id) if block is not None else None
        return self.fsn.ns.path_of(inode) if inode is not None else None

    async def _compact(self) -> int:
        """Restage the live files of containers below the live fraction; delete emptied ones."""
        fsn, small = self.fsn, self.fsn.ns.table.small
        compacted = 0
        for container, (live_files, live_bytes) in list(small.containers.items()):
            block = fsn.blocks.get(container)
            size = block.num_bytes if block is not None else 0
            if live_files and live_bytes >= self.compact_live_fraction * size:
                continue
            path = self._container_path(container)
            if live_files:
                rows = small.rows_in(container)
                located = pb.LocatedBlock(
                    block=pb.Block(block_id=container, generation_stamp=block.generation_stamp,
                                   num_bytes=size, pool_id=fsn.pool_id),
                    offset=0, locations=[datanode_id(n) for n in fsn.live_locations(block)])
                data = await asyncio.to_thread(
                    lambda: b"".join(iter_block_range(self.pool, located, 0, size, path=path or CONTAINER_DIR)))
                table = fsn.ns.table
                entries = []
                for row in rows:
                    slot = small.inode[row]
                    if slot < 0 or small.container[row] != container:
                        continue        # deleted while the container was read
                    offset, length = small.offset[row], small.length[row]
                    entries.append([fsn.ns.path_of(Inode(table, slot)), slot,
                                    base64.b64encode(data[offset:offset + length]).decode()])
                fsn.commit({"op": "restage", "container_block": container, "entries": entries})
            if small.containers.get(container, [0])[0] == 0:
                small.containers.pop(container, None)
                if path is not None:
                    self._delete(path)
                compacted += 1
        return compacted

    def _delete_orphans(self) -> None:
        """Containers no packed file points at (a crash between writing and packing)."""
        fsn = self.fsn
        inode = fsn.ns.resolve(CONTAINER_DIR)[-1]
        if inode is None:
            return
        small = fsn.ns.table.small
        for name, child in list(fsn.ns.table.children(inode.id)):
            path = f"{CONTAINER_DIR}/{name}"
            blocks = child.blocks
            if path in self._writing:
                continue
            if not blocks:
                self._delete(path)
            elif small.containers.get(blocks[0], [0])[0] == 0:
                small.containers.pop(blocks[0], None)
                self._delete(path)

    def _delete(self, path: str) -> None:
        try:
            dirs.delete(self.fsn, self._superuser, path, False)
        except HfedError as e:
            log.warning("%s: could not delete container %s: %s", self.fsn.nameservice, path, e)
