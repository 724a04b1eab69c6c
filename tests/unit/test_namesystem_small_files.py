"""Small files in the namespace core: staging, packing, compaction records, durability."""
from __future__ import annotations

import pytest

from protos.errors import AccessDenied, InvalidArgument, LeaseConflict
from namenode.journal import Journal
from namenode.namesystem import Namesystem
from namenode.ops import attrs, dirs, files, reads, small

BLOCKS, STAGED, PACKED = 0, 1, 2


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


def put_small(fsn, path, data, client="c1"):
    files.create(fsn, alice(fsn), path, 0o644, False, False, 0, 0, client)
    small.complete_small(fsn, alice(fsn), path, client, data)


def write_blocks(fsn, path, data, caller=None, client="c2"):
    caller = caller or fsn.ns.caller("admin")
    files.create(fsn, caller, path, 0o644, False, True, 0, 0, client)
    block, targets = files.add_block(fsn, caller, path, client, None, set(), "")
    fsn.incremental_report(targets[0].uuid, [(block.block_id, block.generation_stamp, len(data))], [])
    assert files.complete(fsn, caller, path, client, (block.block_id, len(data)))
    return block.block_id


def pack(fsn, paths_and_data):
    """What the packer commits once its container is on a DataNode."""
    payload = b"".join(data for _, data in paths_and_data)
    block_id = write_blocks(fsn, f"{small.CONTAINER_DIR}/c1", payload, client="hfed-packer")
    entries, offset = [], 0
    for path, data in paths_and_data:
        entries.append([path, fsn.ns.get(path).id, offset, len(data)])
        offset += len(data)
    return block_id, fsn.commit({"op": "pack", "container": f"{small.CONTAINER_DIR}/c1", "block_id": block_id,
                                 "entries": entries})


def layout(fsn, path):
    return fsn.ns.table.layout(fsn.ns.get(path).id)


def test_a_small_file_is_staged_without_a_block_and_read_inline():
    fsn = new_fsn()
    put_small(fsn, "/user/alice/a", b"hello small world")
    info = reads.get_file_info(fsn, alice(fsn), "/user/alice/a")
    assert info.length == 17 and layout(fsn, "/user/alice/a") == STAGED and len(fsn.blocks) == 0
    found = reads.get_block_locations(fsn, alice(fsn), "/user/alice/a", 0, 0, "")
    assert (found.layout, found.inline, found.located) == (STAGED, b"hello small world", [])
    assert not fsn.ns.get("/user/alice/a").under_construction
    small.complete_small(fsn, alice(fsn), "/user/alice/a", "c1", b"hello small world")   # a retry: no error


@pytest.mark.parametrize("data, error", [(b"x" * 4096, InvalidArgument), (b"", InvalidArgument)])
def test_not_small_is_refused_naming_the_path_and_nothing_changes(data, error):
    fsn = new_fsn()
    files.create(fsn, alice(fsn), "/user/alice/big", 0o644, False, False, 0, 0, "c1")
    with pytest.raises(error, match=r"/user/alice/big \(namespace ns-a\)"):
        small.complete_small(fsn, alice(fsn), "/user/alice/big", "c1", data)
    assert fsn.ns.get("/user/alice/big").under_construction and layout(fsn, "/user/alice/big") == BLOCKS


def test_another_writer_and_a_disabled_threshold_are_refused():
    fsn = new_fsn()
    files.create(fsn, alice(fsn), "/user/alice/f", 0o644, False, False, 0, 0, "c1")
    with pytest.raises(LeaseConflict):
        small.complete_small(fsn, alice(fsn), "/user/alice/f", "intruder", b"x")
    fsn.small_file_threshold = 0
    with pytest.raises(InvalidArgument, match="small files are off"):
        small.complete_small(fsn, alice(fsn), "/user/alice/f", "c1", b"x")


def test_pack_points_files_at_their_container_range_and_deletes_leave_holes():
    fsn = new_fsn()
    put_small(fsn, "/user/alice/a", b"AAAA")
    put_small(fsn, "/user/alice/b", b"BBBBBB")
    block_id, switched = pack(fsn, [("/user/alice/a", b"AAAA"), ("/user/alice/b", b"BBBBBB")])
    assert switched == 2 and layout(fsn, "/user/alice/b") == PACKED
    found = reads.get_block_locations(fsn, alice(fsn), "/user/alice/b", 0, 0, "")
    assert (found.layout, found.file_length, found.packed_offset) == (PACKED, 6, 4)
    assert found.located[0][0].block_id == block_id and found.located[0][2]        # container with a replica
    table = fsn.ns.table
    assert not table.small.staged and table.small.containers[block_id] == [2, 10]
    dirs.rename(fsn, alice(fsn), "/user/alice/b", "/user/alice/c")
    assert reads.get_block_locations(fsn, alice(fsn), "/user/alice/c", 0, 0, "").packed_offset == 4
    dirs.delete(fsn, alice(fsn), "/user/alice/a", False)
    assert table.small.containers[block_id] == [1, 6] and table.small.packed == 1
    assert reads.get_block_locations(fsn, alice(fsn), "/user/alice/c", 0, 0, "").packed_offset == 4
    dirs.delete(fsn, alice(fsn), "/user/alice/c", False)
    assert table.small.containers[block_id] == [0, 0] and table.small.packed == 0
    assert block_id in fsn.blocks                          # the container stays until compaction


def test_a_file_rewritten_before_the_pack_commits_keeps_its_new_bytes():
    fsn = new_fsn()
    put_small(fsn, "/user/alice/a", b"old")
    files.create(fsn, alice(fsn), "/user/alice/a", 0o644, True, False, 0, 0, "c9")     # overwrite...
    small.complete_small(fsn, alice(fsn), "/user/alice/a", "c9", b"newer bytes")
    _block, switched = pack(fsn, [("/user/alice/a", b"old")])                          # ...then the old pack
    assert switched == 0 and layout(fsn, "/user/alice/a") == STAGED
    assert reads.get_block_locations(fsn, alice(fsn), "/user/alice/a", 0, 0, "").inline == b"newer bytes"


def test_archive_stages_a_file_with_blocks_only_for_writers_and_only_if_unchanged():
    fsn = new_fsn()
    block_id = write_blocks(fsn, "/user/alice/old", b"z" * 100, caller=alice(fsn))
    inode = fsn.ns.get("/user/alice/old")
    mallory = fsn.ns.caller("mallory", ["others"])
    with pytest.raises(AccessDenied, match="may not write"):
        small.stage_file(fsn, mallory, "/user/alice/old", b"z" * 100, inode.id, 100, inode.mtime)
    with pytest.raises(InvalidArgument, match="changed since it was read"):
        small.stage_file(fsn, alice(fsn), "/user/alice/old", b"z" * 100, inode.id, 100, inode.mtime + 1)
    assert block_id in fsn.blocks and layout(fsn, "/user/alice/old") == BLOCKS
    small.stage_file(fsn, alice(fsn), "/user/alice/old", b"z" * 100, inode.id, 100, inode.mtime)
    assert layout(fsn, "/user/alice/old") == STAGED and block_id not in fsn.blocks
    assert any(cmd.blocks[0][0] == block_id for node in fsn.datanodes.nodes.values() for cmd in node.commands)


def test_restage_brings_packed_bytes_back_to_staging():
    fsn = new_fsn()
    put_small(fsn, "/user/alice/a", b"AAAA")
    block_id, _ = pack(fsn, [("/user/alice/a", b"AAAA")])
    slot = fsn.ns.get("/user/alice/a").id
    fsn.commit({"op": "restage", "container_block": block_id, "entries": [["/user/alice/a", slot, "QUFBQQ=="]]})
    assert layout(fsn, "/user/alice/a") == STAGED and fsn.ns.table.small.containers[block_id] == [0, 0]


def snapshot(fsn):
    table = fsn.ns.table
    return sorted((fsn.ns.path_of(i), table.layout(i.id), fsn.file_length(i),
                   reads.get_block_locations(fsn, fsn.ns.caller("admin"), fsn.ns.path_of(i), 0, 0, "")[3:])
                  for i in table.all_inodes() if not i.is_dir)


@pytest.mark.parametrize("with_image", [False, True])
def test_staged_and_packed_files_survive_a_restart(tmp_path, with_image):
    clock = Clock()
    fsn = new_fsn(clock, tmp_path)
    journal = fsn.journal
    put_small(fsn, "/user/alice/a", b"AAAA")
    put_small(fsn, "/user/alice/b", b"BBBBBB")
    pack(fsn, [("/user/alice/a", b"AAAA")])
    put_small(fsn, "/user/alice/c", b"CC")
    if with_image:
        journal.checkpoint_now(fsn)
    put_small(fsn, "/user/alice/d", b"DDD")
    live = snapshot(fsn)
    journal.close()
    again = Namesystem("ns-a", "CID", "BP-1", "admin", block_size=1024, clock=clock, monotonic=clock)
    Journal(tmp_path).load(again)
    assert snapshot(again) == live
    assert again.ns.table.small.containers == fsn.ns.table.small.containers
