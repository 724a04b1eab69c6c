"""Namespace persistence: the newest valid image plus the edits after it.

``Journal`` owns a NameNode's meta_dir: the lock file that keeps a second
NameNode out, the VERSION file (cluster id, pool id), images (namenode/image.py)
and edit log segments (namenode/editlog.py). Startup loads the newest valid
image and replays later edits through ``Namesystem.apply``, the same path the
live RPCs use (quota checks off: those edits passed them when they were made).

A failed edit log write or sync (disk full, I/O error) means the in-memory
namespace is ahead of the disk: the edit log refuses every waiting RPC, cuts
the segment back to its durable length, and the journal rebuilds the namespace
from image + durable edits, keeping the block locations DataNodes reported.
"""
from __future__ import annotations

import asyncio
import errno
import gc
import json
import logging
import os
import time
import uuid
import weakref
from pathlib import Path

from protos.dir_lock import DirLock
from protos.errors import HfedError, InvalidArgument, NoSpace
from namenode import edits, editlog as editlog_mod, image as image_mod
from namenode.editlog import CorruptLog, EditLog, SegmentFile
from protos.files import fsync_dir, replace_atomically
from namenode.image import CorruptImage

log = logging.getLogger(__name__)
VERSION = "VERSION"


def read_or_create_version(meta_dir: Path, nameservice: str, cluster_id: str) -> dict:
    """The pool id is created once per namespace and kept; a foreign cluster id refuses to start."""
    meta_dir.mkdir(parents=True, exist_ok=True)
    path = meta_dir / VERSION
    if path.exists():
        try:
            version = json.loads(path.read_text())
            version["cluster_id"], version["pool_id"]
        except (ValueError, KeyError, TypeError) as e:
            raise HfedError(f"{path}: unreadable VERSION file ({e!r}); refusing to start "
                            "(restore it from a backup, or use an empty meta_dir for a new namespace)")
        if version["cluster_id"] != cluster_id:
            raise InvalidArgument(f"{path}: meta_dir belongs to cluster {version['cluster_id']}, "
                                  f"not {cluster_id}; refusing to start")
        if version.get("nameservice", nameservice) != nameservice:
            raise InvalidArgument(f"{path}: meta_dir belongs to namespace {version['nameservice']}, "
                                  f"not {nameservice}; refusing to start")
        return version
    if image_mod.list_images(meta_dir) or editlog_mod.list_segments(meta_dir):
        raise HfedError(f"{path}: missing, but {meta_dir} holds images or edits; refusing to start "
                        "(restore VERSION from a backup)")
    version = {"cluster_id": cluster_id, "nameservice": nameservice,
               "pool_id": f"BP-{uuid.uuid4().hex[:12]}-{nameservice}"}
    replace_atomically(path, json.dumps(version), durable=True)
    return version


class Journal:
    def __init__(self, meta_dir: Path, *, durable: bool = True, keep_images: int = 2, opener=SegmentFile):
        self.meta_dir = Path(meta_dir)
        self.keep_images = max(1, keep_images)
        self.editlog = EditLog(self.meta_dir, durable=durable, opener=opener)
        self.image_txid = 0
        self.last_checkpoint = time.monotonic()
        self.fsn = None
        self._lock = DirLock(self.meta_dir, "NameNode")
        self._checkpointing: asyncio.Lock | None = None
        self.fork_checkpoints = image_mod.can_fork()   # False: snapshot copies (namenode/image.py)

    # ------------------------------------------------------- the edit log
    @property
    def last_txid(self) -> int:
        return self.editlog.last_txid

    def append(self, record: edits.Edit) -> int:
        return self.editlog.append(record)

    async def sync_to(self, txid: int) -> None:
        await self.editlog.sync_to(txid)

    async def edits_since(self, txid: int) -> tuple[list | None, int]:
        """(the records after ``txid``, as (txid, Edit), or None when some are no longer on
        disk; the last txid now). Buffered edits are written first; the files are read
        in a thread while the namespace goes on changing."""
        await self.editlog.drain()
        self.editlog.flush()            # no await since drain: no write is in flight
        through = self.last_txid
        return await asyncio.to_thread(edits_after, self.meta_dir, txid, through), through

    # --------------------------------------------------------------- lock
    def lock(self) -> None:
        """Hold meta_dir/in_use.lock for the life of the process (a second NameNode refuses)."""
        self._lock.acquire()

    # ------------------------------------------------------------ startup
    def load(self, fsn, recover: bool = False) -> int:
        """Newest valid image, then later edits, into ``fsn``; opens a new segment.
        Returns the number of edits replayed."""
        # No cyclic GC passes over the growing heap while millions of objects are
        # made; afterwards they move to the permanent generation (later passes skip them).
        enabled = gc.isenabled()
        gc.disable()
        try:
            return self._load(fsn, recover)
        finally:
            gc.freeze()
            if enabled:
                gc.enable()

    def _load(self, fsn, recover: bool) -> int:
        self.lock()
        first_format = [n for n in ("image.json", "edits.jsonl") if (self.meta_dir / n).exists()]
        if first_format:
            raise HfedError(f"{self.meta_dir}: holds {' and '.join(first_format)} of the first journal format, "
                            "which this version does not read; refusing to start rather than lose them")
        self.fsn = fsn
        self.editlog.label = fsn.nameservice
        for tmp in self.meta_dir.glob("*.tmp"):
            log.warning("%s: removing %s left by an interrupted write", fsn.nameservice, tmp)
            tmp.unlink()
        self.image_txid = self._load_image(fsn)
        replayed, last, lasts, skipped = self._replay(fsn, self.image_txid, recover, repair=True)
        self._finish_segments(lasts)
        self.editlog.open_segment(last + 1)
        me = weakref.ref(self)        # no cycle: a dropped Journal closes its files and lock at once
        self.editlog.on_failure = lambda *args: me() and me()._rolled_back(*args)
        if skipped:
            log.critical("%s: RECOVERED by skipping damaged edits (%s); writing a new image now",
                         fsn.nameservice, "; ".join(skipped))
            self.checkpoint_now(fsn)
        return replayed

    def _load_image(self, fsn) -> int:
        self._image_errors = []
        for txid, path in image_mod.list_images(self.meta_dir):
            try:
                image = image_mod.read(path)
            except (CorruptImage, OSError) as e:
                log.error("%s; trying an older image", e)
                self._image_errors.append(str(e))
                continue
            head = image["header"]
            if head.get("cluster_id") != fsn.cluster_id or head.get("nameservice") != fsn.nameservice:
                raise InvalidArgument(f"{path}: image of cluster {head.get('cluster_id')} namespace "
                                      f"{head.get('nameservice')}, but this NameNode is cluster {fsn.cluster_id} "
                                      f"namespace {fsn.nameservice}; refusing to start")
            if head.get("txid") != txid:
                raise CorruptImage(f"{path}: holds txid {head.get('txid')}, its name says {txid}")
            image_mod.load_into(fsn, image)
            return txid
        return 0

    def _replay(self, fsn, after: int, recover: bool, repair: bool):
        """Apply every edit after txid ``after``. Returns (replayed, last txid,
        {in-progress segment: its last txid}, [what --recover skipped]).
        ``repair`` truncates a torn tail on disk (not while rolling back live)."""
        expected, replayed, lasts, skipped = after + 1, 0, {}, []
        segments = [s for s in editlog_mod.list_segments(self.meta_dir) if s.last is None or s.last > after]
        for n, seg in enumerate(segments):
            if seg.first > expected:
                why = self._gap_message(seg, expected, after)
                if not recover:
                    raise CorruptLog(why + " (start with --recover to skip the missing edits)")
                skipped.append(why)
                log.critical("RECOVER: %s", why)
                expected = seg.first
            data = seg.path.read_bytes()
            tail_ok = seg.inprogress and n == len(segments) - 1
            result = editlog_mod.scan(seg.path, data, seg.first, tail_ok, recover)
            skipped += [f"{seg.path} byte {off}: {why}" for off, why in result.skipped]
            end = result.records[-1][0] if result.records else seg.first - 1
            if seg.last is not None and end != seg.last:
                why = f"{seg.path}: segment ends at txid {end}, its name says {seg.last}"
                if not recover:
                    raise CorruptLog(why + " (start with --recover to go on without the missing edits)")
                skipped.append(why)
            for txid, payload in result.records:
                if txid < expected:
                    continue                      # already in the image
                self._apply(fsn, seg.path, txid, payload, recover, skipped)
                replayed, expected = replayed + 1, txid + 1
            if result.torn:
                log.warning("%s: %s; truncating it to %d bytes (that edit was never acknowledged)",
                            seg.path, result.torn, result.valid_end)
                if repair:
                    os.truncate(seg.path, result.valid_end)
            if seg.inprogress:
                lasts[seg.path] = end if result.records else None
        return replayed, expected - 1, lasts, skipped

    def _gap_message(self, seg, expected: int, after: int) -> str:
        base = f"{seg.path}: edits txid {expected}..{seg.first - 1} are missing"
        if after == 0 and self._image_errors:
            base += " and no image is usable (" + "; ".join(self._image_errors) + ")"
        return base

    @staticmethod
    def _apply(fsn, path, txid: int, payload: bytes, recover: bool, skipped: list) -> None:
        try:
            record = edits.decode(payload)
        except ValueError as e:
            why = f"{path}: txid {txid} is not a known edit ({e!r})"
            if not recover:
                raise CorruptLog(why + " (start with --recover to skip it)")
            skipped.append(why)
            return
        try:
            fsn.quotas.enforce = False      # it passed its quota checks when it was made
            fsn.apply(record)
        except HfedError as e:        # edits are logged only after they applied, so this is divergence
            log.error("%s: replay of txid %d (%s) failed: %s", path, txid, record.kind, e)
        finally:
            fsn.quotas.enforce = True

    def _finish_segments(self, lasts: dict) -> None:
        """Finalize the in-progress segments found at startup (or drop empty ones)."""
        for path, last in lasts.items():
            if last is None:
                path.unlink()
            else:
                first = int(editlog_mod.INPROGRESS.match(path.name).group(1))
                os.replace(path, path.with_name(editlog_mod.finalized_name(first, last)))
        if lasts:
            fsync_dir(self.meta_dir)

    # -------------------------------------------------- failed edit writes
    def _rolled_back(self, err: HfedError, first: int, last: int) -> None:
        """The log lost edits ``first..last`` (never acknowledged): make memory match the disk."""
        fsn = self.fsn
        if fsn is None:
            return
        from namenode.namesystem import Namesystem   # here: namesystem must not depend on journal
        fresh = Namesystem(fsn.nameservice, fsn.cluster_id, fsn.pool_id, fsn.ns.superuser,
                           block_size=fsn.default_block_size, replication=fsn.default_replication,
                           mount_dirs=tuple(fsn.mount_dirs), clock=fsn.clock, monotonic=fsn.monotonic)
        try:
            image_txid = self._load_image(fresh)
            _n, end, _lasts, _skipped = self._replay(fresh, image_txid, recover=False, repair=False)
            if end != self.editlog.durable_txid:
                raise CorruptLog(f"rebuilt to txid {end}, but the log is durable to {self.editlog.durable_txid}")
        except Exception as e:  # noqa: BLE001 - cannot trust memory any more: stop writes
            self.editlog.broken = "; ".join(filter(None, [
                self.editlog.broken, f"could not rebuild the namespace after losing edits {first}..{last}: {e}"]))
            log.critical("%s: %s; entering safe mode", fsn.nameservice, self.editlog.broken)
            fsn.safemode.enter(manual=True)
            return
        transplant(fsn, fresh)
        log.warning("%s: namespace rolled back to txid %d (edits %d..%d were refused: %s)",
                    fsn.nameservice, end, first, last, err)
        if self.editlog.broken:           # memory is right, but the log takes no more edits
            log.critical("%s: edit log unusable (%s); entering safe mode", fsn.nameservice, self.editlog.broken)
            fsn.safemode.enter(manual=True)

    # -------------------------------------------------------- checkpoints
    def due(self, every_txns: int, period: float) -> bool:
        pending = self.editlog.last_txid - self.image_txid
        return pending >= every_txns or (pending > 0 and time.monotonic() - self.last_checkpoint >= period)

    def checkpoint_now(self, fsn) -> tuple[int, Path]:
        """Roll the log and write an image, all on this thread (shutdown, offline tools):
        nothing changes the tables meanwhile, so it encodes them in place, without a copy."""
        txid = self.editlog.roll()
        if txid == self.image_txid and (self.meta_dir / image_mod.image_name(txid)).exists():
            return txid, self.meta_dir / image_mod.image_name(txid)
        return txid, self._write_image(txid, lambda: image_mod.write(
            self.meta_dir, image_mod.snapshot(fsn, txid, copy=False)))

    async def checkpoint(self, fsn) -> tuple[int, Path]:
        """Roll the log and write an image while the namespace goes on changing.
        A forked child writes it from its copy-on-write view of the tables (the
        fork takes ~10 ms per GiB of tables on the event loop; memory grows by the
        pages changed meanwhile). Without fork: a snapshot copied on the event loop
        (~1 s and a second copy of the tables per million inodes), written in a thread."""
        if self._checkpointing is None:
            self._checkpointing = asyncio.Lock()
        async with self._checkpointing:
            await self.editlog.drain()
            txid = self.editlog.roll()           # no await between drain and the snapshot
            path = self.meta_dir / image_mod.image_name(txid)
            if txid == self.image_txid and path.exists():
                return txid, path
            write = None
            if self.fork_checkpoints:
                try:
                    write = image_mod.fork_write(self.meta_dir, fsn, txid).wait
                except OSError as e:
                    log.warning("%s: cannot fork the image writer (%s); copying the namespace instead",
                                self.editlog.label, e)
            if write is None:
                snap = image_mod.snapshot(fsn, txid)
                write = lambda: image_mod.write(self.meta_dir, snap)   # noqa: E731
            return txid, await asyncio.to_thread(self._write_image, txid, write)

    def _write_image(self, txid: int, write) -> Path:
        started = time.monotonic()
        try:
            path = write()
        except OSError as e:
            cls = NoSpace if e.errno in (errno.ENOSPC, errno.EDQUOT) else HfedError
            raise cls(f"{self.meta_dir}: cannot write the image at txid {txid}: {e.strerror or e}") from None
        self.image_txid, self.last_checkpoint = txid, time.monotonic()
        log.info("%s: image at txid %d written (%d bytes, %.2f s)", self.editlog.label, txid,
                 path.stat().st_size, time.monotonic() - started)
        self.prune()
        return path

    def prune(self) -> None:
        """Keep ``keep_images`` images and the segments needed to replay after the oldest."""
        images = image_mod.list_images(self.meta_dir)
        kept = images[:self.keep_images]
        for _txid, path in images[self.keep_images:]:
            path.unlink(missing_ok=True)
        if not kept:
            return
        oldest = kept[-1][0]
        for seg in editlog_mod.list_segments(self.meta_dir):
            if seg.last is not None and seg.last <= oldest:
                seg.path.unlink(missing_ok=True)
        fsync_dir(self.meta_dir)

    save_image = checkpoint_now          # the first journal's name for it

    def close(self) -> None:
        try:
            if self.editlog.segment is not None and not self.editlog.broken:
                self.editlog.flush()
        finally:
            self.editlog.close()
            self._lock.release()


def edits_after(meta_dir: Path, after: int, through: int) -> list | None:
    """(txid, Edit) of the records after ``after`` up to ``through`` in the segments on disk;
    None when some are gone (pruned after a checkpoint)."""
    for _attempt in range(3):          # a checkpoint may rename a segment while we read
        try:
            return _read_edits(meta_dir, after, through)
        except FileNotFoundError:
            continue
    return _read_edits(meta_dir, after, through)


def _read_edits(meta_dir: Path, after: int, through: int) -> list | None:
    out, expected = [], after + 1
    for seg in editlog_mod.list_segments(meta_dir):
        if expected > through:
            break
        if seg.last is not None and seg.last < expected:
            continue
        if seg.first > expected:
            return None
        result = editlog_mod.scan(seg.path, seg.path.read_bytes(), seg.first, tail_ok=seg.inprogress,
                                  recover=False)
        for txid, payload in result.records:
            if expected <= txid <= through:
                out.append((txid, edits.decode(payload)))
                expected = txid + 1
    return out if expected > through else None


def transplant(fsn, fresh) -> None:
    """Give ``fsn`` the namespace of ``fresh``, keeping reported block locations
    (they are not in the log; DataNodes would only report them again)."""
    for block in fresh.blocks.all_blocks():
        old = fsn.blocks.get(block.block_id)
        if old is not None and old.generation_stamp == block.generation_stamp:
            for uuid_ in old.replicas:
                fresh.blocks.add_replica(block, uuid_)
            if block.block_id in fsn.blocks.corrupt:
                fresh.blocks.corrupt[block.block_id] = set(fsn.blocks.corrupt[block.block_id])
    fsn.ns, fsn.blocks, fsn.leases, fsn.moves = fresh.ns, fresh.blocks, fresh.leases, fresh.moves
    fsn.quotas = fresh.quotas
    fsn.pending = {b: p for b, p in fsn.pending.items() if b in fresh.blocks}
    fsn.needs_check = {block.block_id for block in fresh.blocks.all_blocks()}
