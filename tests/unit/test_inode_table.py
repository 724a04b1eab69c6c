"""The column layout against a plain-dict model: lookups, listings, growth, reuse, images."""
from __future__ import annotations

import random

import numpy as np
import pytest

from namenode import inode_table
from namenode.blocks import BlockMap
from namenode.inode_table import ROOT_ID, InodeTable


def new_table() -> InodeTable:
    table = InodeTable()
    table.add(0, "", True, 0o755, "root", "supergroup", 0)
    return table


def random_name(rng: random.Random) -> str:
    length = rng.choice([1, 3, 16, 16, 40, 70, 200])       # short, typical, past one lexsort chunk, long
    return "".join(rng.choice("abcXYZ09-_.éß") for _ in range(length)).encode()[:255].decode(errors="ignore") or "x"


def check_against(table: InodeTable, model: dict) -> None:
    """model: (parent slot, name) -> slot. Every key resolves; every listing is sorted and complete."""
    for (parent, name), slot in model.items():
        assert table.lookup_slot(parent, name.encode()) == slot
        assert table.get(slot).name == name and table.get(slot).parent == parent
    by_parent: dict[int, list[str]] = {}
    for parent, name in model:
        by_parent.setdefault(parent, []).append(name)
    for parent, names in by_parent.items():
        listed = [name for name, _ in table.children(parent)]
        assert listed == sorted(names, key=str.encode)          # byte order = code point order
        assert table.child_count(parent) == len(names)
    assert len(table) == len(model) + 1


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_adds_moves_removes_match_a_dict_model(seed):
    rng = random.Random(seed)
    table, model, dirs = new_table(), {}, [ROOT_ID]
    for step in range(3000):
        action = rng.random()
        if action < 0.6 or not model:
            parent, name = rng.choice(dirs), random_name(rng)
            if (parent, name) in model:
                continue
            is_dir = rng.random() < 0.2
            inode = table.add(parent, name, is_dir, 0o750, "alice", "eng", step, step, 0 if is_dir else 3,
                              0 if is_dir else 1 << 20)
            model[(parent, name)] = inode.slot
            if is_dir:
                dirs.append(inode.slot)
        elif action < 0.8:
            key = rng.choice(list(model))
            slot = model[key]
            if slot in dirs and table.child_count(slot):
                continue
            table.remove(table.get(slot))
            del model[key]
            if slot in dirs:
                dirs.remove(slot)
        else:
            key = rng.choice(list(model))
            slot, target, name = model[key], rng.choice(dirs), random_name(rng)
            if (target, name) in model or slot in dirs:      # files only: no cycles to worry about
                continue
            table.move(table.get(slot), target, name)
            del model[key]
            model[(target, name)] = slot
    check_against(table, model)
    assert table.lookup_slot(ROOT_ID, b"no such name") is None

    # The vectorised rebuilds give the same answers as one-at-a-time inserts.
    table._rebuild_index()
    table._sorted_children(table._linked_slots())
    check_against(table, model)

    # An image round trip (export -> the image module's columns -> load) keeps slots, names and order.
    from namenode import image
    snap = {"header": {"names": list(table.strings)}, "inodes": table.export(),
            "blocks": {name: np.zeros(0, np.int64) for name in ("ids", "inode", "gs", "num_bytes", "committed")}}
    _header, columns, names = image._image_columns(snap)
    loaded = InodeTable()
    assert loaded.load(columns, names, list(table.strings), table.next_id, table.export()["free"]) == []
    check_against(loaded, model)
    assert loaded.next_id == table.next_id
    fresh_a = table.add(ROOT_ID, "after-restart", False, 0o644, "bob", "eng", 1)
    fresh_b = loaded.add(ROOT_ID, "after-restart", False, 0o644, "bob", "eng", 1)
    assert fresh_a.slot == fresh_b.slot            # ids are handed out as before the restart


def test_views_read_and_write_the_columns():
    table = new_table()
    inode = table.add(ROOT_ID, "f", False, 0o640, "alice", "eng", 5, 6, 3, 256 << 20)
    assert (inode.is_dir, inode.permission, inode.owner, inode.group, inode.mtime, inode.atime,
            inode.replication, inode.block_size) == (False, 0o640, "alice", "eng", 5, 6, 3, 256 << 20)
    inode.permission, inode.owner, inode.mtime, inode.replication = 0o1600, "bob", 9, 2
    again = table.get(inode.slot)
    assert (again.permission, again.owner, again.mtime, again.replication) == (0o1600, "bob", 9, 2)
    table.append_block(inode, 11)
    table.append_block(inode, 12)
    table.append_block(inode, 13)
    assert inode.blocks == [11, 12, 13]
    assert table.pop_block(inode) == 13 and table.pop_block(inode) == 12 and inode.blocks == [11]
    inode.lease_holder = "client-1"
    assert again.under_construction and again.lease_holder == "client-1"
    table.remove(inode)
    assert table.find(inode.slot) is None and not table.leases and not table.more_blocks


def test_removed_names_are_compacted_once_they_are_the_majority():
    table = new_table()
    big = "n" * 200
    slots = [table.add(ROOT_ID, f"{big}{i:06d}", False, 0o644, "a", "b", 0).slot for i in range(12000)]
    arena_before = len(table.arena)
    for slot in slots[:8000]:
        table.remove(table.get(slot))
    assert len(table.arena) <= arena_before / 2 and table.garbage < len(table.arena)
    assert all(table.lookup_slot(ROOT_ID, f"{big}{i:06d}".encode()) == slots[i] for i in range(8000, 12000))
    assert [name for name, _ in table.children(ROOT_ID, limit=2)] == [f"{big}008000", f"{big}008001"]


def test_name_hash_matches_its_vectorised_form():
    table = new_table()
    names = ["a", "é" * 100, "file-00000000001", "z" * 255]
    slots = np.array([table.add(ROOT_ID, n, False, 0o644, "a", "b", 0).slot for n in names])
    expected = [inode_table.name_hash(ROOT_ID, n.encode()) % (1 << 64) for n in names]
    assert table._name_hashes(slots).tolist() == expected


def test_block_map_replicas_on_three_columns_and_beyond():
    blocks = BlockMap()
    infos = [blocks.add((1 << 30) + i, 7, 1000 + i) for i in range(5000)]     # forces index growth
    assert all(blocks.get(b.block_id) == b for b in infos) and len(blocks) == 5000
    first = infos[0]
    for uuid in ("dn-a", "dn-b", "dn-c", "dn-d", "dn-e"):
        blocks.add_replica(first, uuid)
    blocks.add_replica(infos[1], "dn-a")
    assert first.replicas == {"dn-a", "dn-b", "dn-c", "dn-d", "dn-e"}
    assert blocks.replica_count("dn-a") == 2 and blocks.replica_count("dn-e") == 1
    assert blocks.drop_datanode("dn-a") == {first.block_id, infos[1].block_id}
    assert blocks.drop_datanode("dn-e") == {first.block_id}
    assert first.replicas == {"dn-b", "dn-c", "dn-d"} and infos[1].replicas == set()
    live = blocks.live_replica_counts(["dn-b", "dn-d"])
    assert live[first.slot] == 2 and live[infos[1].slot] == 0
    gone = blocks.remove(first.block_id)
    assert gone.replicas == {"dn-b", "dn-c", "dn-d"} and first.block_id not in blocks
    reused = blocks.add(1 << 40, 8, 5)             # the freed slot, with no replicas left over
    assert reused.slot == first.slot and reused.replicas == set() and blocks.get(1 << 40) == reused


def test_sequential_names_spread_over_the_index():
    """Names that differ only in their last characters must not share home buckets
    (a hash of their low bytes alone put 20k such names into a few long probe runs)."""
    table = new_table()
    for i in range(20000):
        table.add(ROOT_ID, f"file-{i:011d}", False, 0o644, "a", "b", 0)
    mask = table.index.mask
    homes = {inode_table.name_hash(ROOT_ID, f"file-{i:011d}".encode()) & mask for i in range(20000)}
    assert len(homes) > 0.6 * 20000       # random placement at this load: ~0.79 distinct


def test_the_benchmarks_synthetic_image_loads_as_a_namespace(tmp_path):
    """bench/big_namespace.py writes images with numpy directly: they must stay loadable."""
    from bench.big_namespace import write_image
    from namenode.journal import Journal
    from namenode.namesystem import Namesystem
    from namenode.ops import reads

    write_image(tmp_path, 2500)
    fsn = Namesystem("ns-bench", "CID-bench", "BP-bench", "bench")
    Journal(tmp_path, durable=False).load(fsn)
    assert (fsn.ns.table.files, fsn.ns.table.directories, len(fsn.blocks)) == (2500, 5, 2500)
    me = fsn.ns.caller("bench")
    found = reads.get_block_locations(fsn, me, "/bench/d0000002/file-00000002345", 0, 0, "")
    assert found.file_length == 1 << 20 and len(found.located) == 1
    names = [name for name, _ in fsn.ns.table.children(fsn.ns.get("/bench/d0000001").id)]
    assert names == sorted(names) and len(names) == 1000
