"""Edit log + images: replay equals live state, damaged files, disk errors, the lock."""
import asyncio
import errno
import random

import pytest

from protos.errors import HfedError, NoSpace
from namenode import editlog, edits, image
from namenode.editlog import CorruptLog, SegmentFile
from namenode.journal import Journal, read_or_create_version
from namenode.namesystem import Namesystem
from namenode.ops import attrs, dirs, files


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        self.t += 0.001          # distinct mtimes, so a replay that loses one shows
        return self.t


def new_fsn(clock, cluster="CID"):
    return Namesystem("ns-a", cluster, "BP-1", "admin", block_size=1024, clock=clock, monotonic=clock)


def opened(meta, clock, **kw):
    """A Namesystem loaded from ``meta`` and journaling into it."""
    fsn, journal = new_fsn(clock), Journal(meta, **kw)
    journal.load(fsn)
    fsn.journal = journal
    for i in range(3):
        fsn.register_datanode(f"uuid-{i}", f"host-{i}", f"127.0.0.1:{9000 + i}")
    return fsn, journal


def restored(meta, clock, recover=False):
    fsn, journal = new_fsn(clock), Journal(meta)
    journal.load(fsn, recover=recover)
    journal.close()
    return fsn


def state(fsn):
    """Everything the journal must bring back (not block locations: DataNodes report those)."""
    inodes = sorted((fsn.ns.path_of(i), i.id, i.is_dir, i.permission, i.owner, i.group, i.mtime, i.atime,
                     i.replication, i.block_size, tuple(i.blocks), i.lease_holder)
                    for i in fsn.ns.table.all_inodes())
    # An uncommitted block's length comes from replica reports, not from the log.
    blocks = sorted((b.block_id, b.inode_id, b.generation_stamp, b.num_bytes if b.committed else None, b.committed)
                    for b in fsn.blocks.all_blocks())
    leases = sorted((h, tuple(sorted(lease.files))) for h, lease in fsn.leases.items())
    return inodes, blocks, leases, fsn.ns.table.next_id, fsn.blocks.next_block_id


# ------------------------------------------------------------ random workload
NAMES = ["a", "b", "c", "d"]


def random_path(rng, depth=3):
    return "/" + "/".join(rng.choice(NAMES) for _ in range(rng.randint(1, depth)))


def random_op(fsn, rng, root):
    """One random mutation; invalid ones raise and journal nothing."""
    kind = rng.choice(["mkdirs", "create", "write", "rename", "delete", "perm", "owner", "repl", "times"])
    path = random_path(rng)
    if kind == "mkdirs":
        dirs.mkdirs(fsn, root, path, rng.choice([0o755, 0o700]), rng.random() < 0.8)
    elif kind == "create":
        files.create(fsn, root, path, 0o644, rng.random() < 0.5, rng.random() < 0.8, 2, 0, "c1")
    elif kind == "write":      # create + blocks + complete, replicas reported so complete succeeds
        files.create(fsn, root, path, 0o644, True, True, 2, 0, "c2")
        previous = None
        for _ in range(rng.randint(0, 2)):
            block, targets = files.add_block(fsn, root, path, "c2", previous, set(), "")
            size = rng.randint(1, 1024)
            for node in targets:
                fsn.incremental_report(node.uuid, [(block.block_id, block.generation_stamp, size)], [])
            previous = (block.block_id, size)
        if rng.random() < 0.8:
            files.complete(fsn, root, path, "c2", previous)
    elif kind == "rename":
        dirs.rename(fsn, root, path, random_path(rng))
    elif kind == "delete":
        dirs.delete(fsn, root, path, rng.random() < 0.7)
    elif kind == "perm":
        attrs.set_permission(fsn, root, path, rng.choice([0o700, 0o755, 0o1777]))
    elif kind == "owner":
        attrs.set_owner(fsn, root, path, rng.choice(["alice", "bob", ""]), rng.choice(["staff", "eng"]))
    elif kind == "repl":
        attrs.set_replication(fsn, root, path, rng.randint(1, 3))
    else:
        attrs.set_times(fsn, root, path, rng.randint(0, 10 ** 12), -1)


def run_workload(fsn, seed, n):
    rng, root, done = random.Random(seed), fsn.ns.caller("admin"), 0
    for _ in range(n):
        try:
            random_op(fsn, rng, root)
            done += 1
        except HfedError:
            pass
    return done


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_random_ops_restored_from_image_and_edits_equal_live_state(tmp_path, seed):
    clock = Clock()
    fsn, journal = opened(tmp_path, clock)
    run_workload(fsn, seed, 150)
    journal.checkpoint_now(fsn)                   # image in the middle ...
    run_workload(fsn, seed + 100, 150)            # ... and edits after it
    live = state(fsn)
    journal.close()
    assert state(restored(tmp_path, clock)) == live
    assert fsn.journal.last_txid > 100


def test_edits_only_restore_equals_live_state(tmp_path):
    clock = Clock()
    fsn, journal = opened(tmp_path, clock)
    assert run_workload(fsn, 42, 300) > 50
    live = state(fsn)
    journal.close()
    assert not image.list_images(tmp_path)
    assert state(restored(tmp_path, clock)) == live
    again = restored(tmp_path, clock)             # a second start reads the finalized segment the same
    assert state(again) == live


def test_segments_are_named_by_txid_and_old_ones_pruned(tmp_path):
    clock = Clock()
    fsn, journal = opened(tmp_path, clock, keep_images=2)
    for i in range(4):
        dirs.mkdirs(fsn, fsn.ns.caller("admin"), f"/d{i}", 0o755, True)
        journal.checkpoint_now(fsn)
    dirs.mkdirs(fsn, fsn.ns.caller("admin"), "/last", 0o755, True)
    journal.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert [n for n in names if n.startswith("fsimage_")] == [image.image_name(3), image.image_name(4)]
    assert editlog.inprogress_name(5) in names
    assert [n for n in names if n.startswith("edits_0")] == [editlog.finalized_name(4, 4)]
    assert {p for p, *_ in state(restored(tmp_path, clock))[0]} == {"/", "/d0", "/d1", "/d2", "/d3", "/last"}


# ------------------------------------------------------------- damaged files
def journal_with_dirs(meta, clock, n):
    fsn, journal = opened(meta, clock)
    for i in range(n):
        dirs.mkdirs(fsn, fsn.ns.caller("admin"), f"/d{i}", 0o755, True)
    journal.close()
    return fsn


def inprogress(meta):
    [seg] = [s for s in editlog.list_segments(meta) if s.inprogress]
    return seg.path


def test_torn_tail_is_truncated_with_a_log_line(tmp_path, caplog):
    clock = Clock()
    journal_with_dirs(tmp_path, clock, 5)
    path = inprogress(tmp_path)
    whole = path.stat().st_size
    with open(path, "ab") as f:            # a crash in the middle of the sixth record
        f.write(editlog.frame(6, edits.Mkdirs("/d5", 0o755, "u", "g", 0, False).encode())[:-7])
    fsn = restored(tmp_path, clock)
    assert {p for p, *_ in state(fsn)[0]} == {"/"} | {f"/d{i}" for i in range(5)}
    assert "torn record" in caplog.text and "truncating" in caplog.text
    finalized = [s for s in editlog.list_segments(tmp_path) if s.last == 5]
    assert finalized and finalized[0].path.stat().st_size == whole


def test_zero_filled_tail_is_torn_too(tmp_path):
    clock = Clock()
    journal_with_dirs(tmp_path, clock, 3)
    with open(inprogress(tmp_path), "ab") as f:
        f.write(b"\0" * 4096)
    assert len(state(restored(tmp_path, clock))[0]) == 4


def test_corruption_in_the_middle_refuses_to_start_naming_file_and_txid(tmp_path):
    clock = Clock()
    journal_with_dirs(tmp_path, clock, 6)
    path = inprogress(tmp_path)
    data = bytearray(path.read_bytes())
    third = len(editlog.FILE_HEADER)
    for _ in range(2):                                  # skip records 1 and 2
        third += editlog.RECORD.size + editlog.RECORD.unpack_from(data, third)[0]
    data[third + editlog.RECORD.size + 3] ^= 0xFF       # damage txid 3's payload
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptLog, match=rf"{path.name}: corrupt edit log at byte {third}, txid 3.*--recover"):
        restored(tmp_path, clock)
    assert path.exists()                                # nothing was changed
    fsn = restored(tmp_path, clock, recover=True)       # skips txid 3 only, writes a new image
    assert {p for p, *_ in state(fsn)[0]} == {"/", "/d0", "/d1", "/d3", "/d4", "/d5"}
    assert image.list_images(tmp_path)
    assert state(restored(tmp_path, clock)) == state(fsn)   # and starts normally afterwards


def test_a_missing_segment_refuses_to_start(tmp_path):
    clock = Clock()
    fsn, journal = opened(tmp_path, clock)
    dirs.mkdirs(fsn, fsn.ns.caller("admin"), "/a", 0o755, True)
    journal.editlog.roll()
    dirs.mkdirs(fsn, fsn.ns.caller("admin"), "/b", 0o755, True)
    journal.close()
    (tmp_path / editlog.finalized_name(1, 1)).unlink()
    with pytest.raises(CorruptLog, match=r"edits txid 1\.\.1 are missing"):
        restored(tmp_path, clock)


def test_corrupt_newest_image_falls_back_to_the_older_one(tmp_path, caplog):
    clock = Clock()
    fsn, journal = opened(tmp_path, clock)
    dirs.mkdirs(fsn, fsn.ns.caller("admin"), "/a", 0o755, True)
    journal.checkpoint_now(fsn)
    dirs.mkdirs(fsn, fsn.ns.caller("admin"), "/b", 0o755, True)
    txid, newest = journal.checkpoint_now(fsn)
    live = state(fsn)
    journal.close()
    raw = bytearray(newest.read_bytes())
    raw[-5] ^= 0x01
    newest.write_bytes(bytes(raw))
    assert state(restored(tmp_path, clock)) == live
    assert "image checksum mismatch" in caplog.text and "trying an older image" in caplog.text


@pytest.mark.parametrize("content", [b"", b"HFEDIMG1\0\0", b"{\"not\": \"an image\"}"])
def test_empty_truncated_or_foreign_image_files_are_skipped(tmp_path, content):
    clock = Clock()
    journal_with_dirs(tmp_path, clock, 2)
    (tmp_path / image.image_name(2)).write_bytes(content)
    (tmp_path / "notes.txt").write_text("someone's notes")
    (tmp_path / "edits_inprogress_xyz").write_text("not ours")
    assert {p for p, *_ in state(restored(tmp_path, clock))[0]} == {"/", "/d0", "/d1"}


def test_a_foreign_segment_file_is_refused(tmp_path):
    clock = Clock()
    journal_with_dirs(tmp_path, clock, 1)
    (tmp_path / editlog.finalized_name(2, 3)).write_bytes(b"GIF89a" + b"\1" * 100)
    with pytest.raises(CorruptLog, match="not an hfed edit log segment"):
        restored(tmp_path, clock)


def test_image_of_another_cluster_refuses_to_start(tmp_path):
    clock = Clock()
    other = new_fsn(clock, cluster="CID-other")
    image.write(tmp_path, image.snapshot(other, 0))
    with pytest.raises(ValueError, match=r"fsimage_0+: image of cluster CID-other .* this NameNode is cluster CID"):
        restored(tmp_path, clock)


def test_version_file_checks(tmp_path):
    meta = tmp_path / "meta"
    version = read_or_create_version(meta, "ns-a", "CID")
    assert read_or_create_version(meta, "ns-a", "CID") == version
    with pytest.raises(ValueError, match="belongs to cluster CID, not CID-b"):
        read_or_create_version(meta, "ns-a", "CID-b")
    (meta / "VERSION").write_text("")
    with pytest.raises(HfedError, match="VERSION: unreadable VERSION file"):
        read_or_create_version(meta, "ns-a", "CID")
    (meta / "VERSION").unlink()
    (meta / editlog.finalized_name(1, 1)).write_bytes(editlog.FILE_HEADER)
    with pytest.raises(HfedError, match="VERSION: missing, but .* holds images or edits"):
        read_or_create_version(meta, "ns-a", "CID")


def test_second_journal_on_the_same_meta_dir_is_refused(tmp_path):
    first = Journal(tmp_path)
    first.lock()
    import os
    with pytest.raises(HfedError, match=rf"{tmp_path} is in use by another NameNode \(pid {os.getpid()}"):
        Journal(tmp_path).lock()
    first.close()
    Journal(tmp_path).lock()                 # released with the first


# ---------------------------------------------------- group commit, disk full
class FailingSegment(SegmentFile):
    """A segment whose disk fills up on demand: the seam for ENOSPC/EIO."""
    fail_with: int | None = None

    def write(self, data):
        if FailingSegment.fail_with == errno.ENOSPC:
            super().write(data[:len(data) // 2])     # a partial write, as a full disk leaves
            raise OSError(errno.ENOSPC, "No space left on device")
        super().write(data)

    def sync(self):
        if FailingSegment.fail_with == errno.EIO:
            raise OSError(errno.EIO, "Input/output error")
        super().sync()


async def mkdirs_acked(fsn, path):
    """What the servicer does: apply + append on the loop, then wait for durability."""
    before = fsn.journal.last_txid
    dirs.mkdirs(fsn, fsn.ns.caller("admin"), path, 0o755, True)
    if fsn.journal.last_txid > before:
        await fsn.journal.sync_to(fsn.journal.last_txid)


@pytest.mark.parametrize("inline_below", [0.0, 10.0])      # syncs always in a thread / always on the loop
def test_concurrent_mutations_share_fdatasyncs(tmp_path, monkeypatch, inline_below):
    monkeypatch.setattr(editlog, "INLINE_SYNC_S", inline_below)
    clock = Clock()
    fsn, journal = opened(tmp_path, clock)

    async def main():
        await asyncio.gather(*(mkdirs_acked(fsn, f"/d{i}") for i in range(200)))
    asyncio.run(main())
    assert journal.editlog.durable_txid == journal.last_txid == 200
    assert journal.editlog.syncs < 20           # 200 acknowledged edits, a handful of syncs
    journal.close()
    assert len(state(restored(tmp_path, clock))[0]) == 201


@pytest.mark.parametrize("err", [errno.ENOSPC, errno.EIO])
def test_a_failed_write_or_sync_refuses_the_edits_and_rolls_the_namespace_back(tmp_path, err):
    clock = Clock()
    fsn, journal = opened(tmp_path, clock, opener=FailingSegment)
    files.create(fsn, fsn.ns.caller("admin"), "/kept", 0o644, False, True, 2, 0, "c1")
    block, targets = files.add_block(fsn, fsn.ns.caller("admin"), "/kept", "c1", None, set(), "")
    fsn.incremental_report(targets[0].uuid, [(block.block_id, block.generation_stamp, 10)], [])

    async def main():
        await mkdirs_acked(fsn, "/before")
        FailingSegment.fail_with = err
        results = await asyncio.gather(*(mkdirs_acked(fsn, f"/lost{i}") for i in range(5)),
                                       return_exceptions=True)
        FailingSegment.fail_with = None
        await mkdirs_acked(fsn, "/after")        # the disk has room again
        return results
    try:
        results = asyncio.run(main())
    finally:
        FailingSegment.fail_with = None
    assert all(isinstance(r, HfedError) for r in results)
    if err == errno.ENOSPC:
        assert all(isinstance(r, NoSpace) for r in results)
    assert "could not make edits txid" in str(results[0]) and "rolled back" in str(results[0])
    paths = {p for p, *_ in state(fsn)[0]}
    assert "/before" in paths and "/after" in paths and not any(p.startswith("/lost") for p in paths)
    assert fsn.blocks.get(block.block_id).replicas == {targets[0].uuid}   # reported locations kept
    live = state(fsn)
    journal.close()
    assert state(restored(tmp_path, clock)) == live


def test_non_durable_mode_acknowledges_without_waiting(tmp_path):
    clock = Clock()
    fsn, journal = opened(tmp_path, clock, durable=False)

    async def main():
        await asyncio.gather(*(mkdirs_acked(fsn, f"/d{i}") for i in range(50)))
        await journal.editlog.drain()
    asyncio.run(main())
    assert journal.editlog.syncs == 0
    journal.close()
    assert len(state(restored(tmp_path, clock))[0]) == 51


class UnrepairableSegment(FailingSegment):
    def truncate(self, size):
        raise OSError(errno.EIO, "Input/output error")


def test_a_log_that_cannot_be_cut_back_puts_the_namespace_in_safe_mode(tmp_path):
    clock = Clock()
    fsn, journal = opened(tmp_path, clock, opener=UnrepairableSegment)

    async def main():
        await mkdirs_acked(fsn, "/before")
        FailingSegment.fail_with = errno.EIO
        try:
            with pytest.raises(HfedError, match="could not make edits txid"):
                await mkdirs_acked(fsn, "/lost")
        finally:
            FailingSegment.fail_with = None
        with pytest.raises(OSError, match="safe mode"):      # refused before anything is applied
            await mkdirs_acked(fsn, "/after")
    asyncio.run(main())
    # /lost may or may not be there (its RPC failed: outcome unknown); nothing later got in
    assert {p for p, *_ in state(fsn)[0]} - {"/lost"} == {"/", "/before"}
    assert fsn.safemode.on and "could not be cut back" in journal.editlog.broken


def test_first_journal_format_is_refused_not_ignored(tmp_path):
    (tmp_path / "image.json").write_text("{}")
    with pytest.raises(HfedError, match="image.json of the first journal format"):
        restored(tmp_path, Clock())


@pytest.mark.parametrize("content", [b"", editlog.FILE_HEADER, editlog.FILE_HEADER[:5]])
def test_an_empty_or_header_only_segment_at_the_end_is_dropped(tmp_path, content):
    clock = Clock()
    journal_with_dirs(tmp_path, clock, 2)
    seg = inprogress(tmp_path)
    (tmp_path / editlog.inprogress_name(3)).write_bytes(content)     # a roll created it, then the crash
    assert {p for p, *_ in state(restored(tmp_path, clock))[0]} == {"/", "/d0", "/d1"}
    assert (tmp_path / editlog.finalized_name(1, 2)).exists() and not seg.exists()
    assert (tmp_path / editlog.inprogress_name(3)).read_bytes() == editlog.FILE_HEADER   # started afresh
