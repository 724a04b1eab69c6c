"""append in the namespace core: leases, checks, new blocks, small files, durability (no network)."""
from __future__ import annotations

import pytest

from protos.errors import AccessDenied, InvalidArgument, IsADirectory, LeaseConflict, NotFound
from namenode.journal import Journal
from namenode.namesystem import Namesystem
from namenode.ops import append, attrs, dirs, files, reads, small
from namenode.small_files import Layout


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


def write_block(fsn, path, client, previous, length):
    """add_block, the DataNode's report of the finalized replica; returns (block id, length)."""
    block, targets = files.add_block(fsn, alice(fsn), path, client, previous, set(), "")
    fsn.incremental_report(targets[0].uuid, [(block.block_id, block.generation_stamp, length)], [])
    return block.block_id, length


def blocks_file(fsn, path, lengths, client="c1"):
    files.create(fsn, alice(fsn), path, 0o644, False, False, 0, 0, client)
    last = None
    for length in lengths:
        last = write_block(fsn, path, client, last, length)
    assert files.complete(fsn, alice(fsn), path, client, last)
    return last


def small_file(fsn, path, length, client="c0"):
    """A packed small file: one entry in a staging container."""
    container, block, _targets, _max = small.open_container(fsn, alice(fsn), client, "", set())
    small.commit_small(fsn, alice(fsn), path, client, block.block_id, 0, length, 7,
                       create=dict(permission=0o644, overwrite=True, create_parent=True, replication=0))
    return block.block_id


def spans(fsn, path):
    found = reads.get_block_locations(fsn, alice(fsn), path, 0, 0, "")
    return found.layout, found.file_length, [(b.block_id, off, b.num_bytes) for b, off, _n in found.located]


def test_append_goes_on_in_a_new_block_and_blocks_keep_their_offsets():
    fsn = new_fsn()
    last = blocks_file(fsn, "/user/alice/f", [1024, 300])
    append.append(fsn, alice(fsn), "/user/alice/f", "c2")
    inode = fsn.ns.get("/user/alice/f")
    assert inode.lease_holder == "c2"
    more = write_block(fsn, "/user/alice/f", "c2", last, 1024)
    end = write_block(fsn, "/user/alice/f", "c2", more, 5)
    assert files.complete(fsn, alice(fsn), "/user/alice/f", "c2", end)
    layout, length, located = spans(fsn, "/user/alice/f")
    assert (layout, length) == (Layout.BLOCKS, 1024 + 300 + 1024 + 5)
    assert [(off, n) for _b, off, n in located] == [(0, 1024), (1024, 300), (1324, 1024), (2348, 5)]
    assert not inode.under_construction


def test_append_refuses_what_hdfs_refuses_and_changes_nothing():
    fsn = new_fsn()
    blocks_file(fsn, "/user/alice/f", [10])
    with pytest.raises(NotFound, match="/user/alice/missing"):
        append.append(fsn, alice(fsn), "/user/alice/missing", "c2")
    with pytest.raises(IsADirectory, match="/user/alice"):
        append.append(fsn, alice(fsn), "/user/alice", "c2")
    with pytest.raises(AccessDenied, match="user=bob"):
        append.append(fsn, fsn.ns.caller("bob", ["bob"]), "/user/alice/f", "c2")
    with pytest.raises(InvalidArgument, match="client name"):
        append.append(fsn, alice(fsn), "/user/alice/f", "")
    assert not fsn.ns.get("/user/alice/f").under_construction
    append.append(fsn, alice(fsn), "/user/alice/f", "c2")
    for client in ("c3", "c2"):          # another writer, or the same one twice
        with pytest.raises(LeaseConflict, match="open for writing by c2"):
            append.append(fsn, alice(fsn), "/user/alice/f", client)
    with pytest.raises(LeaseConflict):
        files.create(fsn, alice(fsn), "/user/alice/f", 0o644, True, False, 0, 0, "c3")


def test_a_committed_block_keeps_its_length():
    fsn = new_fsn()
    last = blocks_file(fsn, "/user/alice/f", [100])
    append.append(fsn, alice(fsn), "/user/alice/f", "c2")
    with pytest.raises(InvalidArgument, match="has 100 bytes, not 50"):
        files.add_block(fsn, alice(fsn), "/user/alice/f", "c2", (last[0], 50), set(), "")


def test_a_small_file_stays_readable_until_its_appended_blocks_hold_it():
    fsn = new_fsn()
    container = small_file(fsn, "/user/alice/s", 1500)      # larger than a block (1024)
    append.append(fsn, alice(fsn), "/user/alice/s", "c2")
    first = write_block(fsn, "/user/alice/s", "c2", None, 1024)
    # Old bytes span two blocks: after the first, readers still get the entry.
    assert spans(fsn, "/user/alice/s") == (Layout.PACKED, 1500, [(container, 0, 0)])
    assert fsn.ns.table.small.live_of(container) == (1, 1500)
    second = write_block(fsn, "/user/alice/s", "c2", first, 1024)
    assert spans(fsn, "/user/alice/s")[0] == Layout.PACKED
    third = write_block(fsn, "/user/alice/s", "c2", second, 10)   # the second is now committed: 2048 >= 1500
    assert fsn.ns.table.small.live_of(container) == (0, 0)
    assert files.complete(fsn, alice(fsn), "/user/alice/s", "c2", third)
    assert spans(fsn, "/user/alice/s")[:2] == (Layout.BLOCKS, 2058)


def test_an_append_to_a_small_file_that_stays_small_is_one_commit():
    fsn = new_fsn()
    small_file(fsn, "/user/alice/s", 100)
    append.append(fsn, alice(fsn), "/user/alice/s", "c2")
    _path, block, _t, _m = small.open_container(fsn, alice(fsn), "c2", "", set())
    small.commit_small(fsn, alice(fsn), "/user/alice/s", "c2", block.block_id, 0, 150, 9)
    assert spans(fsn, "/user/alice/s") == (Layout.PACKED, 150, [(block.block_id, 0, 0)])
    assert not fsn.ns.get("/user/alice/s").under_construction


@pytest.mark.parametrize("reported", [None, 700, 1024])
def test_lease_recovery_of_a_dead_small_file_appender_keeps_the_old_bytes(reported):
    fsn = new_fsn()
    container = small_file(fsn, "/user/alice/s", 900)
    append.append(fsn, alice(fsn), "/user/alice/s", "c2")
    block, targets = files.add_block(fsn, alice(fsn), "/user/alice/s", "c2", None, set(), "")
    if reported is not None:     # what a DataNode kept of the appender's first block
        fsn.incremental_report(targets[0].uuid, [(block.block_id, block.generation_stamp, reported)], [])
    files.recover_lease(fsn, "/user/alice/s")
    layout, length, _located = spans(fsn, "/user/alice/s")
    if reported == 1024:         # the block holds the old 900 bytes and more: it is the file now
        assert (layout, length) == (Layout.BLOCKS, 1024)
        assert fsn.ns.table.small.live_of(container) == (0, 0)
    else:                        # too short or missing: the old entry is the file again
        assert (layout, length) == (Layout.PACKED, 900)
        assert block.block_id not in fsn.blocks
    assert not fsn.ns.get("/user/alice/s").under_construction


def test_complete_refuses_to_end_an_appended_small_file_early():
    fsn = new_fsn()
    small_file(fsn, "/user/alice/s", 900)
    append.append(fsn, alice(fsn), "/user/alice/s", "c2")
    short = write_block(fsn, "/user/alice/s", "c2", None, 800)
    with pytest.raises(InvalidArgument, match="before its old end"):
        files.complete(fsn, alice(fsn), "/user/alice/s", "c2", short)


def test_deleting_a_small_file_mid_append_frees_its_entry():
    fsn = new_fsn()
    container = small_file(fsn, "/user/alice/s", 900)
    append.append(fsn, alice(fsn), "/user/alice/s", "c2")
    write_block(fsn, "/user/alice/s", "c2", None, 1024)
    dirs.delete(fsn, alice(fsn), "/user/alice/s", False)
    assert fsn.ns.table.small.live_of(container) == (0, 0) and not fsn.ns.table.small.appending


def state(fsn):
    table = fsn.ns.table
    return sorted((fsn.ns.path_of(i), i.lease_holder, spans(fsn, fsn.ns.path_of(i)))
                  for i in table.all_inodes() if not i.is_dir and not fsn.ns.path_of(i).startswith("/.hfed"))


@pytest.mark.parametrize("with_image", [False, True])
def test_appends_survive_a_restart(tmp_path, with_image):
    clock = Clock()
    fsn = new_fsn(clock, tmp_path)
    last = blocks_file(fsn, "/user/alice/f", [1024, 300])
    append.append(fsn, alice(fsn), "/user/alice/f", "c2")
    more = write_block(fsn, "/user/alice/f", "c2", last, 40)
    assert files.complete(fsn, alice(fsn), "/user/alice/f", "c2", more)
    small_file(fsn, "/user/alice/s", 900)
    append.append(fsn, alice(fsn), "/user/alice/s", "c3")
    write_block(fsn, "/user/alice/s", "c3", None, 1024)       # mid-append: old entry kept aside
    append.append(fsn, alice(fsn), "/user/alice/f", "c4")     # open for appending, nothing written yet
    if with_image:
        fsn.journal.checkpoint_now(fsn)
    live = state(fsn)
    fsn.journal.close()
    again = Namesystem("ns-a", "CID", "BP-1", "admin", block_size=1024, clock=clock, monotonic=clock)
    again.small_file_threshold = fsn.small_file_threshold
    Journal(tmp_path).load(again)
    assert state(again) == live
    assert again.ns.table.small.appending.keys() == fsn.ns.table.small.appending.keys() == {
        fsn.ns.get("/user/alice/s").id}
    with pytest.raises(LeaseConflict):
        append.append(again, alice(again), "/user/alice/f", "c5")
    files.recover_lease(again, "/user/alice/s")             # the appender died: the old entry is the file
    assert spans(again, "/user/alice/s")[:2] == (Layout.PACKED, 900)
