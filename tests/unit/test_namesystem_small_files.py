"""Small files in the namespace core: staging containers, commits, packing records, durability.

The NameNode only ever sees (container, offset, length, crc): these tests drive
the same calls the RPCs make, with no network.
"""
from __future__ import annotations

import base64
import os

import numpy as np
import pytest

from protos import small_entry
from protos.errors import AccessDenied, InvalidArgument, LeaseConflict, NoSpace
from namenode.journal import Journal
from namenode.namesystem import Namesystem
from namenode import edits
from namenode.ops import attrs, dirs, files, reads, small
from namenode.small_files import Layout

BLOCKS, STAGED, PACKED = Layout.BLOCKS, Layout.STAGED, Layout.PACKED


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        self.t += 0.001
        return self.t


def new_fsn(clock=None, journal_dir=None) -> Namesystem:
    clock = clock or Clock()
    fsn = Namesystem("ns-a", "CID", "BP-1", "admin", block_size=1024, replication=1, clock=clock, monotonic=clock)
    fsn.small_file_threshold = 4096
    fsn.container_bytes = 64 << 10
    if journal_dir is not None:
        fsn.journal = Journal(journal_dir, durable=False)
        fsn.journal.load(fsn)
    root = fsn.ns.caller("admin")
    dirs.mkdirs(fsn, root, "/user/alice", 0o755, True)
    attrs.set_owner(fsn, root, "/user/alice", "alice", "")
    fsn.register_datanode("uuid-1", "host-1", "127.0.0.1:9001")
    return fsn


def alice(fsn):
    return fsn.ns.caller("alice", ["alice"])


class Appender:
    """What a client's staging container does, minus the bytes: hands out entry offsets."""

    def __init__(self, fsn, client="c1"):
        self.fsn, self.client = fsn, client
        self.path, self.block, _targets, self.max_bytes = small.open_container(fsn, alice(fsn), client, "", set())
        self.end = 0

    def put(self, path, length, create=True, **kw):
        offset, self.end = self.end, small_entry.entry_end(self.end, length)
        opts = dict(permission=0o644, overwrite=True, create_parent=True, replication=0) if create else None
        small.commit_small(self.fsn, alice(self.fsn), path, self.client, self.block.block_id, offset, length, 7,
                           create=opts, **kw)
        return offset


def layout(fsn, path):
    return fsn.ns.table.layout(fsn.ns.get(path).id)


def location(fsn, path):
    found = reads.get_block_locations(fsn, alice(fsn), path, 0, 0, "")
    return found.located[0][0].block_id, found.packed_offset, found.file_length


def test_a_committed_small_file_points_at_its_entry_and_holds_no_bytes():
    fsn = new_fsn()
    app = Appender(fsn)
    app.put("/user/alice/a", 17)
    offset_b = app.put("/user/alice/b", 600)
    assert offset_b == 512                      # entries start on checksum chunks
    assert layout(fsn, "/user/alice/b") == PACKED and len(fsn.ns.table.small.staged) == 0
    assert location(fsn, "/user/alice/b") == (app.block.block_id, 512, 600)
    info = reads.get_file_info(fsn, alice(fsn), "/user/alice/b")
    assert (info.length, info.inode.owner, info.inode.under_construction) == (600, "alice", False)
    # While the container is open its replicas are not reported: readers go to its pipeline.
    assert [n.uuid for n in reads.get_block_locations(fsn, alice(fsn), "/user/alice/a", 0, 0, "").located[0][2]] \
        == ["uuid-1"]
    assert fsn.ns.table.small.live_of(app.block.block_id) == (2, 617)


@pytest.mark.parametrize("bad, message", [
    (dict(offset=100), "was not given"),            # not on a chunk boundary
    (dict(offset=0), "was not given"),              # before the last committed entry's end
    (dict(offset=63 * 1024), "was not given"),      # runs past the container
    (dict(length=5000), "not a small file"),
    (dict(client="c2"), "not open for c2"),
    (dict(block=999), "not a staging container"),
])
def test_a_commit_naming_what_the_writer_was_not_given_is_refused_and_changes_nothing(bad, message):
    fsn = new_fsn()
    app = Appender(fsn)
    app.put("/user/alice/first", 100)
    args = dict(offset=app.end, length=2000, client="c1", block=app.block.block_id) | bad
    with pytest.raises((InvalidArgument, LeaseConflict), match=message) as caught:
        small.commit_small(fsn, alice(fsn), "/user/alice/x", args["client"], args["block"], args["offset"],
                           args["length"], 0, create=dict(permission=0, overwrite=True, create_parent=True,
                                                          replication=0))
    assert "/user/alice/x" in str(caught.value) and "ns-a" in str(caught.value)
    assert fsn.ns.resolve("/user/alice/x")[-1] is None


def test_commit_closes_a_file_opened_with_create_and_only_for_its_writer():
    fsn = new_fsn()
    app = Appender(fsn)
    files.create(fsn, alice(fsn), "/user/alice/f", 0o600, False, False, 0, 0, "c1")
    files.create(fsn, alice(fsn), "/user/alice/g", 0o600, False, False, 0, 0, "other")
    with pytest.raises(LeaseConflict, match="being written by other"):
        app.put("/user/alice/g", 10, create=False)
    app.put("/user/alice/f", 10, create=False)
    inode = fsn.ns.get("/user/alice/f")
    assert not inode.under_construction and inode.permission == 0o600 and layout(fsn, "/user/alice/f") == PACKED


def test_creating_commits_check_permissions_and_the_budget_like_create():
    fsn = new_fsn()
    app = Appender(fsn)
    mallory = fsn.ns.caller("mallory", ["others"])
    with pytest.raises(AccessDenied):
        small.commit_small(fsn, mallory, "/user/alice/m", "c1", app.block.block_id, 0, 10, 0,
                           create=dict(permission=0, overwrite=True, create_parent=True, replication=0))
    from namenode.budget import MemoryBudget
    fsn.budget = MemoryBudget(max_objects=1)
    with pytest.raises(NoSpace, match="/user/alice/n"):
        app.put("/user/alice/n", 10)


def test_packed_moves_only_files_still_where_the_packer_read_them():
    fsn = new_fsn()
    app = Appender(fsn)
    off_a = app.put("/user/alice/a", 100)
    off_b = app.put("/user/alice/b", 200)
    off_c = app.put("/user/alice/c", 300)
    app2 = Appender(fsn, "c2")
    app2.put("/user/alice/b", 50)                     # b rewritten after the packer read it
    dirs.delete(fsn, alice(fsn), "/user/alice/c", False)
    packed = f"{small.CONTAINER_DIR}/p1"
    files.create(fsn, fsn.ns.caller("admin"), packed, 0o600, False, True, 0, 0, "hfed-packer")
    block, _ = files.add_block(fsn, fsn.ns.caller("admin"), packed, "hfed-packer", None, set(), "")
    old = app.block.block_id
    columns = np.array([[fsn.ns.get("/user/alice/a").id, old, off_a, 0, 100],
                        [fsn.ns.get("/user/alice/b").id, old, off_b, 116, 200],
                        [12345, old, off_c, 232, 300]]).T
    moved = fsn.commit(edits.Packed.of(packed, block.block_id, columns))
    assert moved == 1
    assert location(fsn, "/user/alice/a") == (block.block_id, 0, 100)
    assert location(fsn, "/user/alice/b")[0] == app2.block.block_id
    assert fsn.ns.table.small.live_of(old) == (0, 0)


def test_archive_swaps_blocks_for_an_entry_only_for_writers_and_only_if_unchanged():
    fsn = new_fsn()
    caller = alice(fsn)
    files.create(fsn, caller, "/user/alice/old", 0o644, False, True, 0, 0, "w")
    block, targets = files.add_block(fsn, caller, "/user/alice/old", "w", None, set(), "")
    fsn.incremental_report(targets[0].uuid, [(block.block_id, block.generation_stamp, 100)], [])
    assert files.complete(fsn, caller, "/user/alice/old", "w", (block.block_id, 100))
    inode = fsn.ns.get("/user/alice/old")
    app = Appender(fsn)
    mallory = fsn.ns.caller("mallory", ["others"])
    with pytest.raises(AccessDenied, match="may not write"):
        small.commit_small(fsn, mallory, "/user/alice/old", "c1", app.block.block_id, 0, 100, 0,
                           archive=(inode.id, inode.mtime))
    with pytest.raises(InvalidArgument, match="changed since it was read"):
        app.put("/user/alice/old", 100, create=False, archive=(inode.id, inode.mtime + 1))
    assert block.block_id in fsn.blocks and layout(fsn, "/user/alice/old") == BLOCKS
    mtime = inode.mtime
    app.put("/user/alice/old", 100, create=False, archive=(inode.id, inode.mtime))
    assert layout(fsn, "/user/alice/old") == PACKED and block.block_id not in fsn.blocks
    assert fsn.ns.get("/user/alice/old").mtime == mtime          # same file, same times


def test_a_container_replica_longer_than_its_committed_length_is_kept():
    fsn = new_fsn()
    app = Appender(fsn)
    app.put("/user/alice/a", 100)
    committed = app.end
    # The writer broke off after sending one more entry; it closes the container at its last commit.
    fsn.incremental_report("uuid-1", [(app.block.block_id, app.block.generation_stamp, committed + 1024)], [])
    assert files.complete(fsn, fsn.ns.caller("admin"), app.path, "c1", (app.block.block_id, committed))
    assert fsn.blocks.get(app.block.block_id).replicas == {"uuid-1"}
    assert not fsn.blocks.corrupt


def test_lease_recovery_of_a_container_keeps_every_committed_entry():
    fsn = new_fsn()
    app = Appender(fsn)
    app.put("/user/alice/a", 100)
    app.put("/user/alice/b", 100)
    files.recover_lease(fsn, app.path)          # the writer vanished; no replica reported yet
    block = fsn.blocks.get(app.block.block_id)
    assert block.committed and block.num_bytes == app.end
    assert location(fsn, "/user/alice/b")[0] == app.block.block_id


def legacy_records(fsn):
    """What an older hfed journaled: bytes inside the NameNode's records."""
    for name, data in (("old1", b"AAAA"), ("old2", b"BBBBBB")):
        files.create(fsn, alice(fsn), f"/user/alice/{name}", 0o644, False, False, 0, 0, "c0")
        fsn.commit(edits.CompleteSmall(f"/user/alice/{name}", "c0", 5, base64.b64encode(data).decode()))
    caller = fsn.ns.caller("admin")
    path = f"{small.CONTAINER_DIR}/c1"
    files.create(fsn, caller, path, 0o600, False, True, 0, 0, "hfed-packer")
    block, targets = files.add_block(fsn, caller, path, "hfed-packer", None, set(), "")
    fsn.incremental_report(targets[0].uuid, [(block.block_id, block.generation_stamp, 4)], [])
    files.complete(fsn, caller, path, "hfed-packer", (block.block_id, 4))
    fsn.commit(edits.Pack(path, block.block_id, (("/user/alice/old1", fsn.ns.get("/user/alice/old1").id, 0, 4),)))
    return block.block_id


def test_records_of_an_older_hfed_replay_to_staged_and_raw_packed_files():
    fsn = new_fsn()
    raw_block = legacy_records(fsn)
    found = reads.get_block_locations(fsn, alice(fsn), "/user/alice/old1", 0, 0, "")
    assert (found.layout, found.packed_raw, found.packed_offset, found.file_length) == (PACKED, True, 0, 4)
    assert found.located[0][0].block_id == raw_block
    staged = reads.get_block_locations(fsn, alice(fsn), "/user/alice/old2", 0, 0, "")
    assert (staged.layout, staged.inline) == (STAGED, b"BBBBBB")


def snapshot(fsn):
    table = fsn.ns.table
    return sorted((fsn.ns.path_of(i), table.layout(i.id), fsn.file_length(i),
                   reads.get_block_locations(fsn, fsn.ns.caller("admin"), fsn.ns.path_of(i), 0, 0, "")[3:])
                  for i in table.all_inodes() if not i.is_dir)


@pytest.mark.parametrize("with_image", [False, True])
def test_small_files_old_and_new_survive_a_restart(tmp_path, with_image):
    clock = Clock()
    fsn = new_fsn(clock, tmp_path)
    journal = fsn.journal
    legacy_records(fsn)
    app = Appender(fsn)
    app.put("/user/alice/a", 100)
    app.put("/user/alice/b", 2000)
    if with_image:
        journal.checkpoint_now(fsn)
    app.put("/user/alice/c", 3)
    dirs.delete(fsn, alice(fsn), "/user/alice/a", False)
    live = snapshot(fsn)
    journal.close()
    again = Namesystem("ns-a", "CID", "BP-1", "admin", block_size=1024, clock=clock, monotonic=clock)
    again.small_file_threshold, again.container_bytes = fsn.small_file_threshold, fsn.container_bytes
    Journal(tmp_path).load(again)
    assert snapshot(again) == live
    small_files, before = again.ns.table.small, fsn.ns.table.small
    assert small_files.raw == before.raw and small_files.staged == before.staged
    assert {b: small_files.live_of(b) for b in before.number} == {b: before.live_of(b) for b in before.number}
    # After a replay the open container still takes commits past its last entry.
    assert small_files.committed_end(app.block.block_id) == before.committed_end(app.block.block_id) == app.end


def test_entry_format_round_trips_and_catches_damage():
    text = b'{"user": 1, "event": "click"}\n' * 100
    packed = small_entry.encode(text, compress=True)
    assert small_entry.parse_header(packed, "x")[0] == small_entry.ZSTD and len(packed) < len(text) // 4
    assert small_entry.decode(packed + b"tail", "x", len(text)) == text
    noise = os.urandom(768)
    stored = small_entry.encode(noise, compress=True, align=512)
    assert small_entry.parse_header(stored, "x")[0] == small_entry.RAW and len(stored) % 512 == 0
    assert small_entry.decode(stored, "x") == noise
    damaged = bytearray(packed)
    damaged[40] ^= 0xFF
    with pytest.raises(Exception, match="where"):
        small_entry.decode(bytes(damaged), "where", len(text))


def test_packer_jobs_take_every_waiting_file_once_in_bounded_sorted_jobs(monkeypatch):
    from namenode import packer as packer_mod
    monkeypatch.setattr(packer_mod, "SCAN_SLOTS", 700)     # several scan steps over 5,000 files
    fsn = new_fsn()
    apps = [Appender(fsn, f"c{i}") for i in range(3)]
    expected = {}
    for i in range(5000):
        if i % 1000 == 0:
            dirs.mkdirs(fsn, alice(fsn), f"/user/alice/d{i // 1000}", 0o755, False)
        app = apps[i % 3]
        path = f"/user/alice/d{i // 1000}/f{i}"
        if app.end + small_entry.entry_end(0, 3000) > fsn.container_bytes:
            fsn.incremental_report("uuid-1", [(app.block.block_id, app.block.generation_stamp, app.end)], [])
            assert files.complete(fsn, fsn.ns.caller("admin"), app.path, app.client, (app.block.block_id, app.end))
            app = apps[i % 3] = Appender(fsn, app.client + "x")
        offset = app.put(path, 1 + i % 3000)
        expected[fsn.ns.get(path).id] = (app.block.block_id, offset, 1 + i % 3000)
    packer = packer_mod.Packer(fsn, pack_count=1, pack_bytes=1 << 20, pack_age=0, compact_live_fraction=0.5)
    containers = sorted({block for block, _, _ in expected.values()})
    jobs = [job for job in packer._jobs(containers)]
    seen = {}
    for slots, blocks, offsets, lengths in jobs:
        assert len(slots) <= packer_mod.MAX_SOURCES and (len(slots) == 1 or lengths.sum() <= 1 << 20)
        order = list(zip(blocks.tolist(), offsets.tolist()))
        assert order == sorted(order)
        for slot, block, offset, length in zip(slots.tolist(), blocks.tolist(), offsets.tolist(), lengths.tolist()):
            assert slot not in seen
            seen[slot] = (block, offset, length)
    assert seen == expected
    assert all(len(job[0]) >= 300 for job in jobs[:-1])        # jobs are filled across scan steps
