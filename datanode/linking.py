"""LinkCommand: give replicas of one block pool a second name in another, copying nothing.

When a subtree moves between namespaces (client/balance.py), the target NameNode
allocates its own block ids and asks each DataNode holding a source replica to
hard-link it into the target pool:

    <source pool>/finalized/blk_<id>, blk_<id>_<gs>.meta
        -> <target pool>/finalized/blk_<target id>, blk_<target id>_<gs>.meta

Both names share one inode, so the disk holds the bytes once (storage counts
space per file, not per name) and a later DeleteCommand in the source pool
removes only the source's names. Replicas are never modified in place (a new
generation is written to rbw/ and renamed over the old names), so a write in
one pool cannot change the other's bytes.

The meta file is linked first: a crash between the two links leaves a meta file
without data, which the start-up scan reports and ignores, rather than a data
name no scan looks for that would keep the bytes alive after both pools
deleted the block. A repeated command finds the names already there (the same
inode) and reports them again.

A staging container still being written (small files committed into it while its
writer goes on appending) is linked from rbw/ for its committed prefix only.
"""
from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass, field

from datanode.storage import BPC, FINALIZED, BlockStorage, Replica, block_name
from protos import hfed_pb2 as pb
from protos.errors import InvalidArgument
from protos.files import fsync_dir

log = logging.getLogger("hfed.datanode.linking")

LOG_FIRST_SKIPS = 10   # a batch of tens of thousands must not log a line per missing replica
# Blocks planned and adopted on the event loop at a time (between them it serves other
# work) and linked per trip to a worker thread, with one directory fsync each.
SLICE = 1000


@dataclass
class LinkOutcome:
    """What one LinkCommand did: replicas now in the target pool, and why others are not."""
    linked: list[Replica] = field(default_factory=list)    # new names made by this command
    present: list[Replica] = field(default_factory=list)   # already linked (a repeated command)
    skipped: list[str] = field(default_factory=list)       # one reason per block not linked

    def received(self) -> list[pb.Block]:
        """The blocks to report received to the target pool's NameNode."""
        return [r.to_block() for r in self.linked + self.present]


async def link_replicas(storage: BlockStorage, target_pool: str, command: pb.LinkCommand) -> LinkOutcome:
    """Execute one LinkCommand for ``target_pool``. Lookups and the replica map change on
    the event loop; the links and the directory fsync run in a worker thread."""
    outcome = LinkOutcome()
    for start in range(0, len(command.blocks), SLICE):
        planned = _plan(storage, target_pool, command.source_pool, command.blocks[start:start + SLICE], outcome)
        if not planned:
            continue
        done = await asyncio.to_thread(_link_all, storage, planned, outcome)
        for replica in done:
            existing = storage.find(target_pool, replica.block_id)
            if existing is not None and existing.generation_stamp == replica.generation_stamp:
                outcome.present.append(existing)  # a concurrent repeat of this command got there first
            elif existing is not None or storage.is_being_written(target_pool, replica.block_id):
                _skip(outcome, f"{block_name(replica.block_id, replica.generation_stamp)} of pool {target_pool}"
                               f" changed while it was being linked")
            else:
                storage.adopt(replica)
                outcome.linked.append(replica)
    if len(outcome.skipped) > LOG_FIRST_SKIPS:
        log.warning("link into pool %s on DataNode %s: %d more replicas skipped", target_pool,
                    storage.host_label, len(outcome.skipped) - LOG_FIRST_SKIPS)
    log.info("link into pool %s on DataNode %s: %d linked, %d already there, %d skipped", target_pool,
             storage.host_label, len(outcome.linked), len(outcome.present), len(outcome.skipped))
    return outcome


def _skip(outcome: LinkOutcome, reason: str) -> None:
    outcome.skipped.append(reason)
    if len(outcome.skipped) <= LOG_FIRST_SKIPS:
        log.warning("not linking %s", reason)


def _plan(storage: BlockStorage, target_pool: str, default_source_pool: str, blocks,
          outcome: LinkOutcome) -> list[tuple[Replica, Replica]]:
    """(source replica, target replica to make) for each block that can be linked."""
    target_dir = storage.pool_dir(target_pool, FINALIZED)
    planned = []
    for linked in blocks:
        source_pool = linked.source.pool_id or default_source_pool
        name = block_name(linked.source.block_id, linked.source.generation_stamp)
        target_name = block_name(linked.target_block_id, linked.source.generation_stamp)
        what = (f"{name} of pool {source_pool} as {target_name} of pool {target_pool}"
                f" on DataNode {storage.host_label}")
        try:
            storage.pool_dir(source_pool)
        except InvalidArgument as e:
            _skip(outcome, f"{what}: {e}")
            continue
        if source_pool == target_pool or not linked.target_block_id:
            _skip(outcome, f"{what}: the source and target must be different blocks of different pools")
            continue
        existing = storage.find(target_pool, linked.target_block_id)
        if existing is not None and existing.num_bytes < linked.source.num_bytes:
            existing = _lengthened(storage, source_pool, linked.source, existing)
        if existing is not None:
            if existing.generation_stamp == linked.source.generation_stamp:
                outcome.present.append(existing)
            else:
                _skip(outcome, f"{what}: the target pool holds {existing}")
            continue
        if storage.is_being_written(target_pool, linked.target_block_id):
            _skip(outcome, f"{what}: {target_name} is being written in pool {target_pool}")
            continue
        source = storage.find(source_pool, linked.source.block_id)
        if source is None or source.generation_stamp != linked.source.generation_stamp:
            source = _committed_prefix(storage, source_pool, linked.source)
        if source is None:
            _skip(outcome, f"{what}: no such replica here")
            continue
        if storage.is_corrupt(source):
            _skip(outcome, f"{what}: the source replica is corrupt")
            continue
        if linked.source.num_bytes > source.num_bytes:
            # Longer is fine: a staging container's replica holds entries written after its last commit.
            _skip(outcome, f"{what}: the source replica has {source.num_bytes} bytes,"
                           f" the block {linked.source.num_bytes}")
            continue
        target = Replica(target_pool, linked.target_block_id, source.generation_stamp, source.num_bytes,
                         os.path.join(target_dir, f"blk_{linked.target_block_id}"),
                         os.path.join(target_dir, target_name + ".meta"))
        planned.append((source, target))
    return planned


def _committed_prefix(storage: BlockStorage, pool_id: str, block: pb.Block) -> Replica | None:
    """A staging container still being written (its writer goes on appending small files):
    the target gets its committed prefix, ``block.num_bytes``, which ends on a checksum
    chunk (entries are chunk-aligned), so the bytes and checksums it names never change
    again; the writer's later appends only lengthen the shared file past it."""
    rbw = storage.being_written(pool_id, block.block_id)
    if (rbw is None or rbw.generation_stamp != block.generation_stamp or not block.num_bytes
            or block.num_bytes % BPC or rbw.num_bytes < block.num_bytes):
        return None
    return Replica(pool_id, block.block_id, block.generation_stamp, block.num_bytes, rbw.block_path, rbw.meta_path)


def _lengthened(storage: BlockStorage, pool_id: str, block: pb.Block, linked: Replica) -> Replica | None:
    """A staging container linked while it was written, asked for again at a longer committed
    length: the same file (one inode) holds more now, so the replica here grows to it.
    None (link it anew) when the source is no longer that file."""
    source = storage.find(pool_id, block.block_id)
    if source is None or source.generation_stamp != block.generation_stamp:
        source = _committed_prefix(storage, pool_id, block)
    try:
        same = source is not None and os.path.samefile(source.block_path, linked.block_path)
    except OSError:
        same = False
    if not same or source.num_bytes < block.num_bytes:
        return None
    grown = Replica(linked.pool_id, linked.block_id, linked.generation_stamp, source.num_bytes,
                    linked.block_path, linked.meta_path)
    storage.adopt(grown)
    return grown


def _link_all(storage: BlockStorage, planned: list[tuple[Replica, Replica]], outcome: LinkOutcome) -> list[Replica]:
    """Worker thread: make the target names, then fsync the target directory once."""
    done = []
    for source, target in planned:
        try:
            with storage.names_lock:   # against a delete of the source judging whether it held the last name
                _link(source.meta_path, target.meta_path)
                try:
                    _link(source.block_path, target.block_path)
                except OSError:
                    _unlink_if_same(source.meta_path, target.meta_path)
                    raise
        except OSError as e:
            # Appending to a list is thread safe; the event loop reads it only after this returns.
            _skip(outcome, f"{source} as {block_name(target.block_id, target.generation_stamp)} of pool"
                           f" {target.pool_id} on DataNode {storage.host_label}: {e}")
            continue
        done.append(target)
    if done:
        fsync_dir(os.path.dirname(done[0].block_path))
    return done


def _link(source: str, target: str) -> None:
    """Make ``target`` a second name of ``source``; a name already there for this very
    file is fine (a repeated command), another file under it (the remains of an
    interrupted link of a replica since gone) is replaced."""
    try:
        os.link(source, target)
    except FileExistsError:
        if os.path.samefile(source, target):
            return
        os.unlink(target)
        os.link(source, target)


def _unlink_if_same(source: str, target: str) -> None:
    try:
        if os.path.samefile(source, target):
            os.unlink(target)
    except FileNotFoundError:
        pass
