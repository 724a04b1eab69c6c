"""Subtree moves in the namespace core: export from one Namesystem, import into another,
rounds of changes read back from the edit log, fences, drops, replay. No network."""
from __future__ import annotations

import json

import pytest

from protos import small_entry
from protos.errors import InvalidArgument, InvalidPath, NoSpace, NotFound, Retry, SafeMode as SafeModeError
from namenode import budget as budget_mod, subtree
from namenode.journal import Journal, edits_after
from namenode.namesystem import DeleteCmd, LinkCmd, Namesystem
from namenode.ops import attrs, dirs, files, moves, small
from namenode.small_files import Layout

UUIDS = ("uuid-1", "uuid-2", "uuid-3")


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        self.t += 0.001
        return self.t


def new_fsn(name: str, pool: str, meta=None, clock=None) -> Namesystem:
    clock = clock or Clock()
    fsn = Namesystem(name, "CID", pool, "admin", block_size=1024, replication=2, clock=clock, monotonic=clock)
    fsn.small_file_threshold = 4096
    if meta is not None:
        fsn.journal = Journal(meta, durable=False)
        fsn.journal.load(fsn)
    for i, uuid in enumerate(UUIDS, 1):
        fsn.register_datanode(uuid, f"host-{i}", f"127.0.0.1:{9000 + i}")
    return fsn


def su(fsn):
    return fsn.ns.caller("admin")


def alice(fsn):
    return fsn.ns.caller("alice", ["staff"])


def write_file(fsn, path, sizes, client="c1", close=True):
    caller = alice(fsn)
    files.create(fsn, caller, path, 0o640, False, True, 0, 0, client)
    previous = None
    for size in sizes:
        block, targets = files.add_block(fsn, caller, path, client, previous, set(), "")
        for node in targets:
            fsn.incremental_report(node.uuid, [(block.block_id, block.generation_stamp, size)], [])
        previous = (block.block_id, size)
    if close:
        assert files.complete(fsn, caller, path, client, previous)
    return previous


def put_small(fsn, paths_and_sizes, client="w1"):
    """Small files committed into one staging container, which is then closed and reported."""
    path, block, _targets, _max = small.open_container(fsn, alice(fsn), client, "", set())
    end = 0
    for p, size in paths_and_sizes:
        offset, end = end, small_entry.entry_end(end, size)
        small.commit_small(fsn, alice(fsn), p, client, block.block_id, offset, size, 7,
                           create=dict(permission=0o600, overwrite=True, create_parent=True, replication=0))
    for uuid in fsn.ns.table.small.open_targets[block.block_id]:
        fsn.incremental_report(uuid, [(block.block_id, block.generation_stamp, end)], [])
    assert files.complete(fsn, su(fsn), path, client, (block.block_id, end))
    return block.block_id


@pytest.fixture
def source(tmp_path):
    fsn = new_fsn("ns-a", "BP-a", tmp_path / "a")
    dirs.mkdirs(fsn, su(fsn), "/data/proj", 0o755, True)
    attrs.set_owner(fsn, su(fsn), "/data/proj", "alice", "staff")
    dirs.mkdirs(fsn, alice(fsn), "/data/proj/sub/deep", 0o750, True)
    dirs.mkdirs(fsn, su(fsn), "/data/other", 0o777, True)
    attrs.set_permission(fsn, su(fsn), "/data", 0o777)
    write_file(fsn, "/data/proj/one", [1024, 100])
    write_file(fsn, "/data/proj/sub/two", [512])
    write_file(fsn, "/data/proj/empty", [])
    put_small(fsn, [("/data/proj/sub/s1", 10), ("/data/proj/s2", 700), ("/data/other/s3", 5)])
    write_file(fsn, "/data/outside", [64])
    return fsn


@pytest.fixture
def target(tmp_path):
    fsn = new_fsn("ns-b", "BP-b", tmp_path / "b")
    # the target's own block ids start where the source's do: the mapping must keep them apart
    dirs.mkdirs(fsn, su(fsn), "/mine", 0o777, True)
    write_file(fsn, "/mine/f", [10])
    return fsn


def tree(fsn, root: str) -> dict:
    """What a user sees of the subtree: per relative path its attributes, length, layout
    and the generation stamps of its blocks (ids differ between pools)."""
    out = {}
    for rel, inode in subtree.walk(fsn, fsn.ns.get(root), ""):
        row = (inode.is_dir, inode.permission, inode.owner, inode.group, inode.mtime, inode.atime)
        if not inode.is_dir:
            blocks = [fsn.blocks.get(b) for b in inode.blocks]
            row += (inode.replication, inode.block_size, fsn.file_length(inode), fsn.ns.table.layout(inode.id),
                    [(b.generation_stamp, b.num_bytes) for b in blocks])
        out[rel] = row
    return out


def export(fsn, path="/data/proj", only=(), chunk_bytes=subtree.CHUNK_BYTES) -> list[bytes]:
    return subtree.export_chunks(fsn, path, only, chunk_bytes)


def import_all(target, chunks, removed=(), move_id="m1", path="/data/proj"):
    counts = []
    for chunk in chunks:
        counts.append(subtree.import_subtree(target, path, "BP-a", chunk, removed, move_id))
        removed = ()
    return counts


def link_all(target) -> int:
    """What the DataNodes do with LinkCommands: report each linked replica to the target."""
    linked = 0
    for node in target.datanodes.nodes.values():
        for cmd in [c for c in node.commands if isinstance(c, LinkCmd)]:
            node.commands.remove(cmd)
            assert cmd.source_pool == "BP-a"
            target.incremental_report(node.uuid, [(t, gs, n) for _s, gs, n, t in cmd.blocks], [])
            linked += len(cmd.blocks)
    return linked


def deletes(fsn) -> set[int]:
    return {b[0] for node in fsn.datanodes.nodes.values() for c in node.commands if isinstance(c, DeleteCmd)
            for b in c.blocks}


def test_a_subtree_exported_and_imported_looks_the_same_with_blocks_of_its_own(source, target):
    chunks = export(source, chunk_bytes=300)          # several chunks
    assert len(chunks) > 2
    entries = [e for c in chunks for e in json.loads(c)]
    assert entries[0]["path"] == "" and [e["path"] for e in entries].index("sub") < \
        [e["path"] for e in entries].index("sub/two")
    counts = import_all(target, chunks)
    assert sum(c["files"] for c in counts) == 5 and sum(c["directories"] for c in counts) == 3
    assert tree(target, "/data/proj") == tree(source, "/data/proj")
    src_ids, tgt_ids = source.ns.get("/data/proj/one").blocks, target.ns.get("/data/proj/one").blocks
    assert tgt_ids == [target.moves["m1"].ids[b] for b in src_ids] and len(set(tgt_ids)) == 2
    assert not set(tgt_ids) & set(target.ns.get("/mine/f").blocks)    # not the target's own ids
    # generation stamps kept, and the target's counter is above every one it took in
    assert target.blocks.next_generation_stamp > max(gs for _s, gs, _n, _u in subtree.source_blocks(entries))
    assert target.ns.get("/data").owner == "admin"                     # a missing ancestor: the superuser's
    # the two small files share one container here too, a file of the target's own
    rows = [target.ns.table.small.location(target.ns.table.first_block[target.ns.get(p).id])
            for p in ("/data/proj/sub/s1", "/data/proj/s2")]
    assert rows[0][0] == rows[1][0] and [r[1:] for r in rows] == [(0, 10), (512, 700)]
    assert target.ns.path_of(target.ns.table.get(target.blocks.get(rows[0][0]).inode_id)).startswith(
        "/.hfed-containers/m")
    progress = subtree.progress(target, "/data/proj")
    assert progress == {"blocks": 4, "blocks_with_replicas": 0, "replicas_expected": 8, "replicas_linked": 0}
    assert link_all(target) == 8
    assert subtree.progress(target, "/data/proj") == {"blocks": 4, "blocks_with_replicas": 4,
                                                      "replicas_expected": 8, "replicas_linked": 8}
    assert not target.pending
    assert target.ns.get("/mine/f").blocks and tree(target, "/mine")    # the target's own files untouched


def test_links_are_pending_so_the_replication_monitor_waits_for_them(source, target):
    from namenode import replication
    import_all(target, export(source))
    target.needs_check.update(b.block_id for b in target.blocks.all_blocks())
    assert replication.tick(target) == 0          # no transfers: links are on their way
    link_all(target)
    assert replication.tick(target) == 0


def test_importing_the_same_entries_again_reuses_block_ids_and_queues_nothing_new(source, target):
    chunks = export(source)
    import_all(target, chunks)
    before = {p: target.ns.get(p).blocks for p in ("/data/proj/one", "/data/proj/sub/two")}
    count = len(target.blocks)
    link_all(target)
    import_all(target, chunks)
    assert {p: target.ns.get(p).blocks for p in before} == before and len(target.blocks) == count
    assert link_all(target) == 0 and not deletes(target)
    assert tree(target, "/data/proj") == tree(source, "/data/proj")


def test_an_empty_import_requeues_links_still_missing(source, target):
    import_all(target, export(source))
    for node in target.datanodes.nodes.values():
        node.commands.clear()
    target.pending.clear()
    target.safemode.enter(manual=False)      # a target restarted mid-move waits for these replicas
    with pytest.raises(SafeModeError):
        import_all(target, export(source))
    subtree.import_subtree(target, "/data/proj", "BP-a", b"", [], "m1")
    assert link_all(target) == 8
    with pytest.raises(InvalidArgument, match="no move m2"):
        subtree.import_subtree(target, "/data/proj", "BP-a", b"", [], "m2")


def test_rounds_carry_later_changes_over(source, target):
    txid = source.journal.last_txid
    import_all(target, export(source))
    link_all(target)
    one_blocks = target.ns.get("/data/proj/one").blocks
    two_blocks = target.ns.get("/data/proj/sub/two").blocks
    # changes on the source after the snapshot
    write_file(source, "/data/proj/sub/deep/new", [300])
    dirs.rename(source, alice(source), "/data/proj/one", "/data/proj/sub/one-renamed")
    dirs.delete(source, alice(source), "/data/proj/sub/two", False)
    dirs.rename(source, su(source), "/data/outside", "/data/proj/came-in")
    dirs.rename(source, alice(source), "/data/proj/s2", "/data/other/went-out")
    attrs.set_permission(source, alice(source), "/data/proj/sub/deep", 0o700)
    source.journal.editlog.flush()
    records = edits_after(source.journal.meta_dir, txid, source.journal.last_txid)
    changed, resync = subtree.changed_paths(source, "/data/proj", records)
    assert not resync
    assert {"/data/proj/sub/deep/new", "/data/proj/one", "/data/proj/sub/one-renamed", "/data/proj/sub/two",
            "/data/proj/came-in", "/data/proj/s2", "/data/proj/sub/deep"} <= set(changed)
    assert "/data/outside" not in changed and "/data/other/went-out" not in changed
    chunks = export(source, only=changed)
    entries = [e for c in chunks for e in json.loads(c)]
    gone = sorted(e["path"] for e in entries if e["type"] == "gone")
    assert gone == ["one", "s2", "sub/two"]
    import_all(target, chunks)
    assert tree(target, "/data/proj") == tree(source, "/data/proj")
    # the renamed file kept its blocks (and their replicas); the deleted one's went
    assert target.ns.get("/data/proj/sub/one-renamed").blocks == one_blocks
    assert all(target.blocks.get(b).replicas for b in one_blocks)
    assert set(two_blocks) <= deletes(target) and not set(one_blocks) & deletes(target)
    assert all(target.blocks.get(b) is None for b in two_blocks)


def test_removed_paths_go_recursively(source, target):
    import_all(target, export(source))
    subtree.import_subtree(target, "/data/proj", "BP-a", b"", ["/data/proj/sub"], "m1")
    assert target.ns.resolve("/data/proj/sub")[-1] is None
    assert "one" in dict(target.ns.table.children(target.ns.get("/data/proj").id))


def test_changes_after_a_pruned_txid_ask_for_a_resync(source, tmp_path):
    txid = source.journal.last_txid
    source.journal.checkpoint_now(source)
    write_file(source, "/data/proj/x", [10])
    source.journal.checkpoint_now(source)
    source.journal.keep_images = 1
    source.journal.prune()
    source.journal.editlog.flush()
    assert edits_after(source.journal.meta_dir, 1, source.journal.last_txid) is None
    assert edits_after(source.journal.meta_dir, source.journal.last_txid, source.journal.last_txid) == []
    assert txid


def test_the_import_replays_identically_from_the_journal_and_from_an_image(source, target, tmp_path):
    import_all(target, export(source, chunk_bytes=400))
    expected, mapping = tree(target, "/data/proj"), dict(target.moves["m1"].ids)
    ids = {p: target.ns.get(p).blocks for p in ("/data/proj/one", "/data/proj/sub/two")}
    target.journal.close()
    replayed = new_fsn("ns-b", "BP-b", tmp_path / "b")
    assert tree(replayed, "/data/proj") == expected and dict(replayed.moves["m1"].ids) == mapping
    assert {p: replayed.ns.get(p).blocks for p in ids} == ids
    replayed.journal.checkpoint_now(replayed)
    replayed.journal.close()
    from_image = new_fsn("ns-b", "BP-b", tmp_path / "b")
    assert tree(from_image, "/data/proj") == expected and dict(from_image.moves["m1"].ids) == mapping
    # an import after the restart reuses the mapping and queues the links again
    for node in from_image.datanodes.nodes.values():
        node.commands.clear()
    import_all(from_image, export(source))
    assert {p: from_image.ns.get(p).blocks for p in ids} == ids
    assert link_all(from_image) == 8
    from_image.journal.close()


def test_a_fence_refuses_changes_under_it_but_lets_open_files_finish(source):
    previous = write_file(source, "/data/proj/open", [100], client="w9", close=False)
    open_paths = moves.fence(source, "/data/proj", "m1", False)
    assert open_paths == ["/data/proj/open"]
    a = alice(source)
    for change in (lambda: dirs.mkdirs(source, a, "/data/proj/new", 0, False),
                   lambda: files.create(source, a, "/data/proj/f", 0, False, False, 0, 0, "c"),
                   lambda: dirs.delete(source, a, "/data/proj/one", False),
                   lambda: dirs.delete(source, su(source), "/data", True),          # an ancestor
                   lambda: dirs.rename(source, a, "/data/proj/one", "/data/other/one"),
                   lambda: dirs.rename(source, su(source), "/data/outside", "/data/proj/in"),
                   lambda: dirs.rename(source, su(source), "/data", "/elsewhere"),
                   lambda: attrs.set_permission(source, a, "/data/proj/one", 0o600),
                   lambda: attrs.set_times(source, a, "/data/proj/one", 5, 5)):
        with pytest.raises(Retry, match=r"\(namespace ns-a\).*/data/proj is being moved to another namespace"):
            change()
    assert source.ns.resolve("/data/proj/one")[-1] is not None
    dirs.mkdirs(source, a, "/data/other/fine", 0, False)                    # elsewhere: allowed
    block, _t = files.add_block(source, a, "/data/proj/open", "w9", previous, set(), "")
    source.incremental_report("uuid-1", [(block.block_id, block.generation_stamp, 5)], [])
    assert files.complete(source, a, "/data/proj/open", "w9", (block.block_id, 5))
    assert moves.fence(source, "/data/proj", "m1", False) == []
    moves.unfence(source, "/data/proj", "m1")
    dirs.mkdirs(source, a, "/data/proj/new", 0, False)


def test_force_close_recovers_open_files(source):
    write_file(source, "/data/proj/open", [100], client="w9", close=False)
    assert moves.fence(source, "/data/proj", "m1", True) == []
    assert not source.ns.get("/data/proj/open").under_construction
    assert source.file_length(source.ns.get("/data/proj/open")) == 100


def test_drop_deletes_the_subtree_and_its_replicas_in_this_pool(source):
    blocks = source.ns.get("/data/proj/one").blocks
    moves.fence(source, "/data/proj", "m1", False)
    moves.drop(source, "/data/proj", "m1")
    assert source.ns.resolve("/data/proj")[-1] is None and not source.fences
    assert set(blocks) <= deletes(source)
    moves.drop(source, "/data/proj", "m1")                   # again: nothing left, no error
    # the container outlives its moved files: another file still lives in it
    assert source.ns.get("/data/other/s3")


def test_aborting_on_the_target_drops_the_copy_and_forgets_the_mapping(source, target):
    import_all(target, export(source))
    moves.drop(target, "/data/proj", "m1")
    assert target.ns.resolve("/data/proj")[-1] is None and "m1" not in target.moves
    assert target.ns.get("/mine/f")


def test_unfence_on_the_target_forgets_a_finished_moves_mapping(source, target):
    import_all(target, export(source))
    moves.unfence(target, "/data/proj", "m1")
    assert "m1" not in target.moves and target.ns.get("/data/proj/one")


@pytest.mark.parametrize("path, error", [("/", InvalidArgument), ("/nope", NotFound),
                                         ("/data/outside", InvalidArgument), ("data", InvalidPath)])
def test_export_and_fence_refuse_the_root_missing_paths_and_files(source, path, error):
    with pytest.raises(error, match="namespace ns-a" if path != "data" else "absolute"):
        export(source, path)
    with pytest.raises(error):
        moves.fence(source, path, "m1", False)
    assert not source.fences


@pytest.mark.parametrize("payload, message", [
    (b"{not json", "not JSON"),
    (b'{"path": ""}', "JSON array"),
    (b'[{"path": "a/../b", "type": "dir"}]', "normalised|bad path"),
    (b'[{"path": "x", "type": "dir", "perm": 493, "owner": "a", "group": "g", "mtime": 1, "atime": 1}]', ""),
    (b'[{"path": "no/parent", "type": "dir", "perm": 493, "owner": "a", "group": "g", "mtime": 1, "atime": 1}]',
     "before its parent"),
    (b'[{"path": "f", "type": "file", "perm": 420, "owner": "a", "group": "g", "mtime": 1, "atime": 1, '
     b'"replication": 1, "block_size": 1024, "layout": 0, "blocks": [[1, 2]]}]', "blocks must be"),
    (b'[{"path": "d", "type": "dir", "perm": 99999, "owner": "a", "group": "g", "mtime": 1, "atime": 1}]',
     "perm"),
    (b'[{"path": "", "type": "gone"}]', "root cannot be gone"),
])
def test_a_bad_import_is_refused_naming_path_and_namespace_and_changes_nothing(target, payload, message):
    before = (len(target.ns.table), len(target.blocks), target.journal.last_txid)
    if not message:             # the one good entry: sanity check of the cases around it
        subtree.import_subtree(target, "/data/proj", "BP-a", payload, [], "m1")
        return
    with pytest.raises(InvalidArgument, match=message) as caught:
        subtree.import_subtree(target, "/data/proj", "BP-a", payload, [], "m1")
    assert "/data/proj" in str(caught.value) and "(namespace ns-b)" in str(caught.value)
    assert (len(target.ns.table), len(target.blocks), target.journal.last_txid) == before
    assert not target.moves


def test_import_refuses_the_root_a_file_a_foreign_move_and_paths_outside(source, target):
    chunk = export(source)[0]
    with pytest.raises(InvalidArgument, match="cannot import into /"):
        subtree.import_subtree(target, "/", "BP-a", chunk, [], "m1")
    with pytest.raises(InvalidArgument, match="not a directory"):
        subtree.import_subtree(target, "/mine/f", "BP-a", chunk, [], "m1")
    with pytest.raises(InvalidArgument, match="not under the imported subtree"):
        subtree.import_subtree(target, "/data/proj", "BP-a", chunk, ["/mine"], "m1")
    with pytest.raises(InvalidArgument, match="own"):
        subtree.import_subtree(target, "/data/proj", "BP-b", chunk, [], "m1")
    subtree.import_subtree(target, "/data/proj", "BP-a", chunk, [], "m1")
    with pytest.raises(InvalidArgument, match="move m1 is of /data/proj"):
        subtree.import_subtree(target, "/data/x", "BP-a", chunk, [], "m1")


def test_an_import_past_the_object_budget_is_refused_whole(source, target):
    objects = sum(budget_mod.object_counts(target))
    target.budget = budget_mod.MemoryBudget(0, objects + 3)
    before = (len(target.ns.table), len(target.blocks))
    with pytest.raises(NoSpace, match=r"/data/proj \(namespace ns-b\).*object budget"):
        import_all(target, export(source))
    assert (len(target.ns.table), len(target.blocks)) == before and not target.moves


def test_quotas_count_a_subtree_moved_in_and_dropped(source, target):
    """A move is an admin's: counted against the target's quotas (not refused), and the
    source's quota'd directory above the dropped subtree gives its names and space back."""
    from namenode import quotas
    from namenode.ops import quota
    quota.set_quota(source, su(source), "/data", 100, None)
    dirs.mkdirs(target, su(target), "/data", 0o777, True)
    quota.set_quota(target, su(target), "/data", 3, None)       # the subtree is bigger: still imported
    before = source.quotas.quota_of(source.ns.get("/data").id).names
    import_all(target, export(source, chunk_bytes=300))
    walked = quotas.walk(target, target.ns.get("/data"), {})
    usage = target.quotas.quota_of(target.ns.get("/data").id)
    assert (usage.names, usage.space) == (walked.dirs + walked.files, walked.space) and usage.names > 3
    moved = quotas.walk(source, source.ns.get("/data/proj"), {})
    moves.drop(source, "/data/proj", "m1")
    assert source.quotas.quota_of(source.ns.get("/data").id).names == before - moved.dirs - moved.files


def test_quotas_inside_a_moved_subtree_travel_with_it(source, target):
    """A quota on a directory inside the subtree holds in the target after the move (its
    usage counted there); one cleared in the source meanwhile is cleared there too, and a
    directory removed by a later round takes its quota with it (its slot can be reused)."""
    from namenode import quotas
    from namenode.ops import quota
    quota.set_quota(source, su(source), "/data/proj/sub", 50, 1 << 30)
    quota.set_quota(source, su(source), "/data/proj/sub/deep", 9, None)
    import_all(target, export(source))
    sub = target.quotas.quota_of(target.ns.get("/data/proj/sub").id)
    walked = quotas.walk(target, target.ns.get("/data/proj/sub"), {})
    assert (sub.ns_quota, sub.space_quota) == (50, 1 << 30)
    assert (sub.names, sub.space) == (walked.dirs + walked.files, walked.space)
    assert target.quotas.quota_of(target.ns.get("/data/proj/sub/deep").id).ns_quota == 9

    quota.set_quota(source, su(source), "/data/proj/sub", -1, -1)
    deep_slot = target.ns.get("/data/proj/sub/deep").id
    dirs.delete(source, su(source), "/data/proj/sub/deep", True)
    import_all(target, export(source, only=["/data/proj/sub", "/data/proj/sub/deep"]))
    assert target.quotas.quota_of(target.ns.get("/data/proj/sub").id) is None
    # deep is gone from the target too, though its parent was exported whole in that round
    assert subtree.lookup_path(target, "/data/proj/sub/deep") is None
    assert target.quotas.quota_of(deep_slot) is None
    dirs.mkdirs(target, su(target), "/data/proj/fresh", 0o755, True)
    assert target.quotas.quota_of(target.ns.get("/data/proj/fresh").id) is None
