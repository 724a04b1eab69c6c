"""Columns and hash indexes that grow inside a reservation: values survive growth,
numpy views see the same memory, free slots are reused, the fallback that moves
to a larger reservation keeps everything, and images load back (no I/O but tmp_path)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from namenode import columns, image
from namenode.blocks import BlockMap
from namenode.inode_table import ROOT_ID, InodeTable
from namenode.namesystem import Namesystem
from namenode.slot_index import CHUNK, EMPTY, NeedsRebuild, SlotIndex

DATA = Path(__file__).parent / "data"
COLUMNS = (("wide", "q"), ("narrow", "B"), ("slot", "i"))


class Table:
    pass


@pytest.fixture(params=["reserved", "small reservations"])
def reservation(request, monkeypatch):
    """Every test twice: with the full reservations, and with reservations of one page
    that must move to larger ones as they fill (strict overcommit, ulimit -v)."""
    if request.param == "small reservations":
        monkeypatch.setattr(columns, "RESERVE_LIMIT", columns.PAGE)
    return request.param


def test_rows_survive_growth_and_views_share_the_memory(reservation):
    table = Table()
    columns.create(table, COLUMNS)
    rows = 3 * columns.PAGE + 5                # past several pages of the widest column
    for i in range(rows):
        row = columns.append_row(table, COLUMNS)
        assert row == i and table.wide[row] == 0 and table.narrow[row] == 0
        table.wide[row], table.narrow[row], table.slot[row] = i * 1_000_003, i & 0xFF, -i
    assert len(table.wide) == len(table.narrow) == rows
    wide = columns.view(table, COLUMNS, "wide")
    assert np.array_equal(wide, np.arange(rows, dtype=np.int64) * 1_000_003)
    assert np.array_equal(columns.view(table, COLUMNS, "slot"), -np.arange(rows, dtype=np.int32))
    wide[7] = -1                                # a view writes the column itself ...
    assert table.wide[7] == -1
    table.wide[8] = 42                          # ... and sees the column's writes
    assert wide[8] == 42
    copy = columns.copy(table, COLUMNS, "wide")
    table.wide[9] = 0
    assert copy[9] == 9 * 1_000_003             # a copy does not
    assert columns.nbytes(table, COLUMNS) == sum(-(-rows * size // columns.PAGE) * columns.PAGE
                                                 for size in (8, 1, 4))


def test_fill_replaces_rows_and_appends_continue_after_them(reservation):
    table = Table()
    columns.create(table, COLUMNS)
    for _ in range(100):
        columns.append_row(table, COLUMNS)
        table.wide[len(table.wide) - 1] = 99
    columns.fill(table, COLUMNS, {"wide": np.arange(10), "slot": [5] * 10}, 10)
    assert list(table.wide) == list(range(10)) and list(table.slot) == [5] * 10 and list(table.narrow) == [0] * 10
    row = columns.append_row(table, COLUMNS)
    assert row == 10 and table.wide[row] == 0          # not the 99 a longer table left there


def test_index_grows_in_place_and_finds_every_key(reservation):
    index, keys = SlotIndex(), {}
    rng = np.random.default_rng(1)
    for slot in range(5000):
        key = int(rng.integers(1 << 62))
        keys[slot] = key
        try:
            index.insert(key, slot)
        except NeedsRebuild:                    # the owner rebuilds from its columns, in chunks
            slots = np.array(list(keys), dtype=np.int32)
            hashes = np.array([keys[s] for s in slots.tolist()], dtype=np.uint64)
            index.rebuild(len(slots), ((hashes[i:i + 700], slots[i:i + 700]) for i in range(0, len(slots), 700)))
        assert index.count == len(keys) and index.count * 10 <= len(index.buckets) * 7

    def find(key, slot):
        i = key & index.mask
        while index.buckets[i] != EMPTY:
            if index.buckets[i] == slot:
                return True
            i = (i + 1) & index.mask
        return False

    assert all(find(key, slot) for slot, key in keys.items())
    for slot in range(0, 5000, 2):
        index.remove(keys[slot], slot)
    assert not find(keys[0], 0) and find(keys[1], 1) and index.count == 2500
    small = np.array([1, 3], dtype=np.int32)
    index.build(np.array([keys[1], keys[3]], dtype=np.uint64), small)    # shrinks: the pages past it go back
    assert len(index.buckets) == 8 and find(keys[3], 3) and not find(keys[5], 5)


def test_inode_table_grows_past_many_chunks_with_lookups_listings_and_free_slots(reservation):
    table = InodeTable()
    table.add(0, "", True, 0o755, "root", "supergroup", 0)
    files = 2 * CHUNK + 77                     # several index rebuilds, each in more than one chunk
    top = table.add(ROOT_ID, "top", True, 0o755, "root", "supergroup", 0).slot
    for i in range(files):
        table.add(top, f"f{i:06d}", False, 0o644, "u", "g", i, replication=3, block_size=1 << 20)
    assert table.files == files
    for i in range(0, files, 997):
        slot = table.lookup_slot(top, f"f{i:06d}".encode())
        assert slot is not None and table.mtime[slot] == i and table.get(slot).name == f"f{i:06d}"
    assert [name for name, _ in table.children(top, limit=3)] == ["f000000", "f000001", "f000002"]
    mtimes = columns.view(table, (("mtime", "q"),), "mtime")
    assert np.array_equal(mtimes[3:3 + files], np.arange(files))      # the vectorised view, slot order
    gone = table.lookup_slot(top, b"f000010")
    table.remove(table.get(gone))
    assert table.lookup_slot(top, b"f000010") is None
    assert table.add(top, "again", False, 0o644, "u", "g", 1).slot == gone     # the freed slot comes back
    assert table.lookup_slot(top, b"again") == gone


def test_arena_compacts_in_place_and_keeps_every_name(reservation):
    table = InodeTable()
    table.add(0, "", True, 0o755, "root", "supergroup", 0)
    long_names = [f"{i:06d}-" + "x" * 200 for i in range(12_000)]       # > 2 MiB of names
    slots = [table.add(ROOT_ID, name, False, 0o644, "u", "g", 0).slot for name in long_names]
    before = table.arena_end
    for slot in slots[::2]:
        table.move(table.get(slot), ROOT_ID, f"short-{slot}")          # the long names become garbage
    for slot in slots[1::4]:
        table.remove(table.get(slot))
    assert table.arena_end < before                          # compacted at least once ...
    assert table.garbage < 1 << 20 or table.garbage * 2 < table.arena_end    # ... and whenever garbage won
    for i, slot in enumerate(slots):
        if i % 2 == 0:
            assert table.get(slot).name == f"short-{slot}"
            assert table.lookup_slot(ROOT_ID, f"short-{slot}".encode()) == slot
        elif i % 4 == 3:
            assert table.get(slot).name == long_names[i] and table.lookup_slot(ROOT_ID, long_names[i].encode()) == slot


def test_block_map_grows_reuses_slots_and_finds_blocks_by_id(reservation):
    blocks = BlockMap()
    count = CHUNK + 1000
    for i in range(count):
        blocks.add((1 << 30) + i, 100 + i, 1000 + i, num_bytes=i)
    assert len(blocks) == count and blocks.get((1 << 30) + 12345).num_bytes == 12345
    assert np.array_equal(blocks.view("gs"), 1000 + np.arange(count))
    blocks.remove((1 << 30) + 5)
    assert (1 << 30) + 5 not in blocks
    info = blocks.add(7, 1, 1)
    assert info.slot == 5 and blocks.slot_of(7) == 5 and blocks.get((1 << 30) + 6).inode_id == 106


def state(fsn) -> dict:
    """What an image must bring back (block locations come from DataNodes, not images)."""
    inodes = sorted([fsn.ns.path_of(i), i.id, i.is_dir, i.permission, i.owner, i.group, i.mtime, i.atime,
                     i.replication, i.block_size, list(i.blocks), i.lease_holder]
                    for i in fsn.ns.table.all_inodes())
    blocks = sorted([b.block_id, b.inode_id, b.generation_stamp, b.num_bytes, b.committed]
                    for b in fsn.blocks.all_blocks())
    return {"inodes": inodes, "blocks": blocks, "next_id": fsn.ns.table.next_id,
            "next_block_id": fsn.blocks.next_block_id}


def test_an_image_written_before_paged_columns_still_loads(reservation):
    """tests/unit/data/fsimage_before_paged_columns: written by the hfed before this
    layout (whole-array columns, one-piece encoder), with the namespace it held."""
    fsn = Namesystem("ns-a", "CID", "BP-1", "admin", block_size=1024)
    image.load_into(fsn, image.read(DATA / "fsimage_before_paged_columns"))
    assert state(fsn) == json.loads((DATA / "fsimage_before_paged_columns.json").read_text())


def test_an_image_written_in_chunks_loads_back_equal(reservation, tmp_path):
    fsn = Namesystem("ns-a", "CID", "BP-1", "admin", block_size=1024)
    image.load_into(fsn, image.read(DATA / "fsimage_before_paged_columns"))
    table = fsn.ns.table
    extra = table.add(ROOT_ID, "big", True, 0o755, "admin", "supergroup", 5).slot
    for i in range(CHUNK + 10):                # more than one encoding chunk, with a hole
        table.add(extra, f"n{i}", False, 0o600, "bob", "eng", i)
    table.remove(table.lookup(extra, "n3"))
    expected = state(fsn)
    for copy in (True, False):
        meta = tmp_path / f"copy-{copy}"
        meta.mkdir()
        written = image.write(meta, image.snapshot(fsn, 77, copy=copy))
        again = Namesystem("ns-a", "CID", "BP-1", "admin", block_size=1024)
        image.load_into(again, image.read(written))
        assert state(again) == expected
        # the free slots come back in the same order: the next id is the one the live table gives
        live_next = fsn.ns.table.add(ROOT_ID, "next", False, 0o644, "a", "b", 1)
        assert again.ns.table.add(ROOT_ID, "next", False, 0o644, "a", "b", 1).slot == live_next.slot
        fsn.ns.table.remove(live_next)
