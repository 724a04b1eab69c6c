"""The small-file packer: staging containers -> compressed packed containers, on DataNodes.

One per NameNode, on its event loop; it never touches a file's bytes. When
enough small files sit in closed staging containers (pack_count files,
pack_bytes bytes, or the oldest closed pack_age seconds ago), or a packed
container has fallen below compact_live_fraction live bytes, or files of an
older hfed still wait (staged bytes, containers without entry headers), it:
1. creates a packed container (a one-block file under /.hfed-containers) and
   hands a PackCommand to the DataNode that holds most of the sources: read
   each file's entry, compress it on its own, write them back to back down a
   pipeline (no padding, holes of deleted files dropped);
2. waits for that DataNode's ContainerPacked (where each entry landed) and
   for a replica to be reported, completes the container;
3. commits one ``packed`` record moving every file that is still the entry it
   read; a file deleted or rewritten meanwhile stays as it is;
4. deletes containers no file points at any more.
A crash anywhere before 3 leaves every file where it was; the unfinished
container is deleted by the next tidy-up.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

import numpy as np

from protos.errors import HfedError, NoSpace
from namenode import edits
from namenode.ops import dirs, files
from namenode.ops.small import CONTAINER_DIR, PACKED, STAGING, create_container
from namenode.small_files import PACKED_BIT

log = logging.getLogger(__name__)
PACKER_CLIENT = "hfed-packer"
PACK_TIMEOUT = 120.0          # seconds for a DataNode to write a packed container
SCAN_SLOTS = 1 << 16          # inode slots looked at per step when gathering a job's files
MAX_SOURCES = 2_048           # files per packed container: bounds the memory one command takes
                              # (~0.5 block files per 1,000 small files)


@dataclass
class PackJob:
    """One packed container being written: the files it takes, as columns (numpy int64,
    source order), so a job of thousands of files is a few arrays, not Python objects."""
    path: str
    block_id: int
    slots: np.ndarray
    blocks: np.ndarray             # source container block id (0: staged bytes of an older hfed)
    offsets: np.ndarray            # entry offset in the source container
    lengths: np.ndarray
    done: asyncio.Event = field(default_factory=asyncio.Event)
    new_offsets: np.ndarray | None = None
    num_bytes: int = 0
    failed: str = ""

    def __len__(self) -> int:
        return len(self.slots)


@dataclass
class PackCmd:
    """Ask a DataNode to write a packed container (a proto PackCommand once sent)."""
    block_id: int
    generation_stamp: int
    targets: list                  # DatanodeInfo, the executing DataNode first
    job: PackJob
    containers: dict               # source block id -> (BlockInfo, [DatanodeInfo], raw)
    inline: dict                   # source index -> bytes staged by an older hfed
    compress: bool = True


class Packer:
    def __init__(self, fsn, *, pack_count: int, pack_bytes: int, pack_age: float, compact_live_fraction: float,
                 compress: bool = True):
        self.fsn = fsn
        self.pack_count, self.pack_bytes, self.pack_age = pack_count, pack_bytes, pack_age
        self.compact_live_fraction = compact_live_fraction
        self.compress = compress
        self.jobs: dict[int, PackJob] = {}          # packed container block id -> job in flight
        self.closed_at: dict[int, float] = {}       # staging container block id -> when first seen closed
        self._lock = asyncio.Lock()

    @property
    def _superuser(self):
        return self.fsn.ns.caller(self.fsn.ns.superuser)

    # --------------------------------------------------------- what to pack
    def _container_files(self) -> list:
        """(name, inode) of every file under CONTAINER_DIR."""
        folder = self.fsn.ns.resolve(CONTAINER_DIR)[-1]
        return [] if folder is None else list(self.fsn.ns.table.children(folder.id))

    def _eligible(self, everything: bool) -> list[int]:
        """Container block ids whose files should move now (oldest first)."""
        small, now = self.fsn.ns.table.small, time.monotonic()
        staging, sparse, legacy = [], [], []
        files_waiting = bytes_waiting = 0
        oldest = now
        for name, inode in self._container_files():
            if inode.lease_holder or not inode.blocks:
                continue                      # still being written
            block_id = inode.blocks[0]
            live_files, live_bytes = small.live_of(block_id)
            if not live_files:
                continue
            if name.startswith(STAGING):
                staging.append(block_id)
                files_waiting += live_files
                bytes_waiting += live_bytes
                oldest = min(oldest, self.closed_at.setdefault(block_id, now))
            elif block_id in small.raw:
                legacy.append(block_id)
            else:
                block = self.fsn.blocks.get(block_id)
                # no replica yet: a container that moved in from another namespace, links pending
                if block is not None and block.replicas and live_bytes < self.compact_live_fraction * block.num_bytes:
                    sparse.append(block_id)
        if everything or small.staged or legacy or sparse:
            return legacy + sparse + staging
        if files_waiting >= self.pack_count or bytes_waiting >= self.pack_bytes or now - oldest >= self.pack_age:
            return staging
        return []

    def due(self) -> bool:
        return bool(self.fsn.ns.table.small.staged) or bool(self._eligible(False))

    def _jobs(self, containers: list[int]):
        """The files to move, one job's columns at a time (slots, source blocks, offsets,
        lengths, each job sorted by container and offset): up to pack_bytes of file bytes and
        MAX_SOURCES files (at least one), staged files of an older hfed first. The inode
        table is scanned SCAN_SLOTS at a time, so the scan's temporaries stay small however
        many files wait (the memory budget has to hold them)."""
        table = self.fsn.ns.table
        small = table.small
        pending = [np.array([(slot, 0, 0, len(data)) for slot, data in small.staged.items()],
                            dtype=np.int64).reshape(-1, 4)]
        wanted = np.array([small.number[b] for b in containers if b in small.number], dtype=np.uint32)
        start = 0
        while len(wanted) and start < len(table.mode):
            pending.append(self._scan(start, wanted))
            start += SCAN_SLOTS
            yield from self._full_jobs(pending, final=False)
        yield from self._full_jobs(pending, final=True)

    def _scan(self, start: int, wanted: np.ndarray) -> np.ndarray:
        """Rows (slot, container block, offset, length) of the packed files among inode slots
        [start, start + SCAN_SLOTS) whose container number is in ``wanted``. The column views
        are dropped on return: no view may outlive a turn of the event loop, when tables grow."""
        table = self.fsn.ns.table
        small = table.small
        slots = np.flatnonzero(np.frombuffer(table.mode, dtype=np.uint16)[start:start + SCAN_SLOTS] & PACKED_BIT)
        slots += start
        rows = np.frombuffer(table.first_block, dtype=np.int64)[slots]
        numbers = np.frombuffer(small.container, dtype=np.uint32)[rows]
        mine = np.isin(numbers, wanted)
        rows, numbers = rows[mine], numbers[mine]
        return np.stack([slots[mine], np.frombuffer(small.blocks, dtype=np.int64)[numbers],
                         np.frombuffer(small.offset, dtype=np.uint32)[rows].astype(np.int64),
                         np.frombuffer(small.length, dtype=np.uint32)[rows].astype(np.int64)], axis=1)

    def _full_jobs(self, pending: list, final: bool):
        """Jobs cut from the files gathered so far; the tail waits for more unless ``final``."""
        todo = np.concatenate(pending) if len(pending) > 1 else pending[0]
        pending.clear()
        start = 0
        while start < len(todo):
            ends = np.cumsum(todo[start:start + MAX_SOURCES, 3])
            stop = start + max(1, int(np.searchsorted(ends, self.pack_bytes, side="right")))
            if stop == len(todo) and not final and len(todo) - start < MAX_SOURCES \
                    and ends[-1] < self.pack_bytes:
                break                         # not full yet: more files may join it
            job = todo[start:stop]
            yield job[np.lexsort((job[:, 2], job[:, 1]))].T
            start = stop
        pending.append(todo[start:])

    # ---------------------------------------------------------------- loop
    async def run(self, interval: float = 1.0) -> None:
        """Background loop: pack when due; tidy up now and then."""
        last_tidy, waiting_for_room = 0.0, False
        while True:
            await asyncio.sleep(interval)
            if self.fsn.safemode.on:
                continue
            try:
                if self.due():
                    await self.pack_now(tidy=False)
                if time.monotonic() - last_tidy >= 10 * interval:
                    last_tidy = time.monotonic()
                    await self.pack_now(pack=False)
                waiting_for_room = False
            except NoSpace as e:   # at the memory budget: a packed container is a new file too
                if not waiting_for_room:
                    log.warning("%s: packing waits for room under the memory budget: %s", self.fsn.nameservice, e)
                waiting_for_room = True
            except Exception as e:  # noqa: BLE001 - every file stays where it is; try again next time
                log.warning("%s: packing failed (small files stay where they are): %s", self.fsn.nameservice, e)

    async def pack_now(self, pack: bool = True, tidy: bool = True, everything: bool = False) -> dict:
        """Pack what is due (``everything``: every closed container with live files), then
        delete containers no file uses. Returns counts of files, containers written and deleted."""
        counts = {"files_packed": 0, "containers_written": 0, "containers_compacted": 0}
        async with self._lock:
            if pack:
                for entries in self._jobs(self._eligible(everything)):
                    counts["files_packed"] += await self._pack_once(entries)
                    counts["containers_written"] += 1
            if tidy:
                counts["containers_compacted"] = self._delete_unused()
        return counts

    # ------------------------------------------------------------ packing
    async def _pack_once(self, columns: np.ndarray) -> int:
        fsn, su = self.fsn, self._superuser
        fsn.renew_lease(PACKER_CLIENT)
        slots, blocks, offsets, lengths = columns
        small = fsn.ns.table.small
        containers = {}
        for block in filter(None, map(fsn.blocks.get, np.unique(blocks[blocks != 0]).tolist())):
            containers[block.block_id] = (block, fsn.live_locations(block), block.block_id in small.raw)
        inline = {i: small.staged[slot] for i, slot in enumerate(slots.tolist())
                  if not blocks[i] and slot in small.staged}
        runner = self._runner(containers)
        path = create_container(fsn, PACKED, PACKER_CLIENT)
        job = None
        try:
            block, targets = files.add_block(fsn, su, path, PACKER_CLIENT, None, set(), runner.host_label)
            job = self.jobs[block.block_id] = PackJob(path, block.block_id, slots, blocks, offsets, lengths)
            targets.sort(key=lambda n: n is not runner)       # the DataNode that reads most locally runs it
            targets[0].commands.append(PackCmd(block.block_id, block.generation_stamp, targets, job, containers,
                                               inline, self.compress))
            await asyncio.wait_for(job.done.wait(), PACK_TIMEOUT)
            if job.failed:
                raise HfedError(f"{fsn.ns.where(path)}: DataNode could not write the packed container: {job.failed}")
            deadline = time.monotonic() + PACK_TIMEOUT
            while not files.complete(fsn, su, path, PACKER_CLIENT, (block.block_id, job.num_bytes)):
                if time.monotonic() > deadline:
                    raise HfedError(f"{fsn.ns.where(path)}: no DataNode reported the packed container")
                await asyncio.sleep(0.05)
        except BaseException:
            self._delete(path)
            raise
        finally:
            if job is not None:
                self.jobs.pop(job.block_id, None)
        landed = job.new_offsets >= 0
        moved = np.stack([slots, blocks, offsets, job.new_offsets, lengths])[:, landed]
        switched = fsn.commit(edits.Packed.of(path, block.block_id, moved))
        if fsn.journal is not None:
            await fsn.journal.sync_to(fsn.journal.last_txid)
        log.info("%s: packed %d small files into %s (%d bytes)", fsn.nameservice, switched, path, job.num_bytes)
        return switched

    def _runner(self, containers: dict):
        """The live DataNode holding replicas of the most source containers."""
        votes: dict[str, int] = {}
        for block, _nodes, _raw in containers.values():
            for uuid in block.replicas:
                votes[uuid] = votes.get(uuid, 0) + 1
        live = self.fsn.datanodes.in_service()      # the runner writes the new container's first replica
        if not live:
            raise HfedError(f"namespace {self.fsn.nameservice}: no live in-service DataNode to pack small files")
        return max(live, key=lambda n: votes.get(n.uuid, 0))

    def on_packed(self, block_id: int, num_bytes: int, offsets, failed: str) -> None:
        """A DataNode finished (or failed) a PackCommand."""
        job = self.jobs.get(block_id)
        if job is None:
            return           # a job this NameNode gave up on (or from before a restart): tidy-up deletes it
        if not failed and len(offsets) != len(job):
            failed = f"{len(offsets)} offsets for {len(job)} files"
        job.new_offsets = np.array(offsets, dtype=np.int64) if not failed else None
        job.num_bytes, job.failed = num_bytes, failed
        job.done.set()

    # ------------------------------------------------------------- tidy-up
    def _delete_unused(self) -> int:
        """Delete closed containers no file points at, and packed containers of jobs
        that no longer run (a crash or restart in the middle)."""
        small, deleted = self.fsn.ns.table.small, 0
        for name, child in self._container_files():
            blocks = child.blocks
            if child.lease_holder:
                if child.lease_holder != PACKER_CLIENT or (blocks and blocks[0] in self.jobs):
                    continue      # being written (a writer's staging container, or a packing job)
            elif blocks and small.live_of(blocks[0])[0]:
                continue
            self._delete(f"{CONTAINER_DIR}/{name}")
            if blocks:
                self.closed_at.pop(blocks[0], None)
            deleted += 1
        return deleted

    def _delete(self, path: str) -> None:
        try:
            dirs.delete(self.fsn, self._superuser, path, False)
        except HfedError as e:
            log.warning("%s: could not delete container %s: %s", self.fsn.nameservice, path, e)
