"""The inode table in columns: tens of bytes per inode instead of a Python object.

Every inode is a slot number; its attributes live in typed columns indexed by
slot (namenode/columns.py, so one int32 costs 4 bytes, not a 28-byte int object),
names are UTF-8 bytes in one arena, a hash index maps (parent, name) to a slot,
and each directory keeps its children as a sorted int32 array (as HDFS keeps a
sorted child list), so listings come out in name order. ``Inode`` is a small
view (table, slot) made on demand and never stored, so the rest of the
NameNode reads and writes attributes as before. Layout and byte costs:
namenode/README.md.

The inode id is the slot; freed slots are reused (last freed first), so an id
names one inode only while it exists, like a POSIX inode number.
"""
from __future__ import annotations

import bisect
from array import array

import numpy as np

from namenode import columns
from namenode.slot_index import CHUNK, EMPTY, NeedsRebuild, SlotIndex
from namenode.small_files import PACKED_BIT, STAGED_BIT, Layout, SmallFiles
from protos.checksum import BYTES_PER_CHECKSUM

MAX_BLOCK_SIZE = 0xFFFFFFFF * BYTES_PER_CHECKSUM   # block_units is a u32 count of checksum chunks (~2 TiB)

ROOT_ID = 1
DIR_BIT, USED_BIT, PERM_BITS = 0x8000, 0x4000, 0o7777
ARENA_MAX = 1 << 32                    # name offsets are uint32

_NAME_MOD = (1 << 55) - 55             # names hash as their bytes read as one integer, mod this
_PARENT_MIX, _MIX, _BITS64 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, (1 << 64) - 1


def name_hash(parent: int, name: bytes) -> int:
    """Hash of a (parent, name) key; _name_hashes computes the same for many keys with numpy.
    Names that differ only in their last bytes (file-0001, file-0002) differ only in high
    bits of the integer: multiplying and folding the high half down spreads them."""
    x = (int.from_bytes(name, "little") % _NAME_MOD + parent * _PARENT_MIX) * _MIX & _BITS64
    return x ^ (x >> 31)


# name, array typecode: one array per attribute, indexed by slot.
COLUMNS = (("parent", "i"), ("name_off", "I"), ("name_len", "B"), ("mode", "H"), ("owner", "H"),
           ("group", "H"), ("mtime", "q"), ("atime", "q"), ("replication", "H"), ("block_units", "I"),
           ("first_block", "q"))


class Inode:
    """A view of one slot of an InodeTable. Setting an attribute writes the column."""
    __slots__ = ("table", "slot")

    def __init__(self, table: "InodeTable", slot: int):
        self.table, self.slot = table, slot

    def __eq__(self, other) -> bool:
        return isinstance(other, Inode) and other.slot == self.slot and other.table is self.table

    def __hash__(self) -> int:
        return self.slot

    def __repr__(self) -> str:
        return f"Inode({self.slot}, {self.name!r}, {'dir' if self.is_dir else 'file'})"

    @property
    def id(self) -> int:
        return self.slot

    @property
    def parent(self) -> int:
        return self.table.parent[self.slot]

    @property
    def name(self) -> str:
        return self.table.name_bytes(self.slot).decode()

    @property
    def is_dir(self) -> bool:
        return bool(self.table.mode[self.slot] & DIR_BIT)

    @property
    def permission(self) -> int:
        return self.table.mode[self.slot] & PERM_BITS

    @permission.setter
    def permission(self, value: int) -> None:
        mode = self.table.mode
        mode[self.slot] = (mode[self.slot] & ~PERM_BITS) | (value & PERM_BITS)

    @property
    def owner(self) -> str:
        return self.table.strings[self.table.owner[self.slot]]

    @owner.setter
    def owner(self, value: str) -> None:
        self.table.owner[self.slot] = self.table.string_id(value)

    @property
    def group(self) -> str:
        return self.table.strings[self.table.group[self.slot]]

    @group.setter
    def group(self, value: str) -> None:
        self.table.group[self.slot] = self.table.string_id(value)

    @property
    def mtime(self) -> int:
        return self.table.mtime[self.slot]

    @mtime.setter
    def mtime(self, value: int) -> None:
        self.table.mtime[self.slot] = value

    @property
    def atime(self) -> int:
        return self.table.atime[self.slot]

    @atime.setter
    def atime(self, value: int) -> None:
        self.table.atime[self.slot] = value

    @property
    def replication(self) -> int:
        return self.table.replication[self.slot]

    @replication.setter
    def replication(self, value: int) -> None:
        self.table.replication[self.slot] = value

    @property
    def block_size(self) -> int:
        return self.table.block_units[self.slot] * BYTES_PER_CHECKSUM

    @property
    def blocks(self) -> list[int]:
        """Block ids in file order (a copy: change them through the table)."""
        return self.table.blocks_of(self.slot)

    @property
    def lease_holder(self) -> str:
        return self.table.leases.get(self.slot, "")

    @lease_holder.setter
    def lease_holder(self, holder: str) -> None:
        if holder:
            self.table.leases[self.slot] = holder
        else:
            self.table.leases.pop(self.slot, None)

    @property
    def under_construction(self) -> bool:
        return self.slot in self.table.leases


class InodeTable:
    """Inodes by slot, a (parent, name) hash index and sorted child arrays."""

    def __init__(self):
        columns.create(self, COLUMNS)
        columns.append_row(self, COLUMNS)     # slot 0 unused; ROOT_ID (1) is added by Namespace
        self._names = columns.reserve(ARENA_MAX)   # the arena: every live name, UTF-8, back to back
        self.arena_end = 0                # arena bytes in use
        self.garbage = 0                  # arena bytes of removed or renamed names
        self.index = SlotIndex()
        self.children_of: dict[int, array] = {}     # directory slot -> child slots in name order
        self.more_blocks: dict[int, list[int]] = {}  # file slot -> block ids, for files of 2+ blocks
        self.leases: dict[int, str] = {}  # file slot -> client writing it
        self.small = SmallFiles()         # staged bytes and packed rows of small files
        self.strings: list[str] = []      # owner and group names, by id
        self._string_ids: dict[str, int] = {}
        self._free = array("i")
        self.files = 0
        self.directories = 0
        self.version = 0                  # changes whenever a name is added, removed or moved

    # ------------------------------------------------------------ reading
    def __len__(self) -> int:
        return self.files + self.directories

    @property
    def next_id(self) -> int:
        return len(self.parent)

    def exists(self, slot: int) -> bool:
        return 0 < slot < len(self.mode) and bool(self.mode[slot] & USED_BIT)

    def get(self, inode_id: int) -> Inode:
        if not self.exists(inode_id):
            raise KeyError(inode_id)
        return Inode(self, inode_id)

    def find(self, inode_id: int) -> Inode | None:
        return Inode(self, inode_id) if self.exists(inode_id) else None

    @property
    def arena(self) -> bytes:
        """A copy of the arena's bytes in use (for tests and tools; lookups read ``_names``)."""
        return self._names[:self.arena_end]

    def name_bytes(self, slot: int) -> bytes:
        start = self.name_off[slot]
        return self._names[start:start + self.name_len[slot]]

    def lookup_slot(self, parent: int, name: bytes) -> int | None:
        buckets, mask, parents = self.index.buckets, self.index.mask, self.parent
        offsets, lengths, arena = self.name_off, self.name_len, self._names
        x = (int.from_bytes(name, "little") % _NAME_MOD + parent * _PARENT_MIX) * _MIX & _BITS64
        i = (x ^ (x >> 31)) & mask
        while True:
            slot = buckets[i]
            if slot == EMPTY:
                return None
            if slot >= 0 and parents[slot] == parent:
                start = offsets[slot]
                if arena[start:start + lengths[slot]] == name:
                    return slot
            i = (i + 1) & mask

    def lookup(self, parent_id: int, name: str) -> Inode | None:
        slot = self.lookup_slot(parent_id, name.encode())
        return None if slot is None else Inode(self, slot)

    def children(self, dir_id: int, start_after: str = "", limit: int | None = None):
        """(name, inode) pairs of a directory in name order, after ``start_after``."""
        slots = self.children_of.get(dir_id, ())
        first = self._position(slots, start_after.encode(), after=True) if start_after else 0
        last = len(slots) if limit is None else min(len(slots), first + limit)
        for slot in slots[first:last]:
            yield self.name_bytes(slot).decode(), Inode(self, slot)

    def child_count(self, dir_id: int) -> int:
        return len(self.children_of.get(dir_id, ()))

    def count_after(self, dir_id: int, name: str) -> int:
        slots = self.children_of.get(dir_id, ())
        return len(slots) - self._position(slots, name.encode(), after=True)

    def _position(self, slots, name: bytes, after: bool = False) -> int:
        find = bisect.bisect_right if after else bisect.bisect_left
        return find(slots, name, key=self.name_bytes)

    def blocks_of(self, slot: int) -> list[int]:
        if self.mode[slot] & (STAGED_BIT | PACKED_BIT):
            return []                     # first_block holds a packed file's row, not a block
        more = self.more_blocks.get(slot)
        if more is not None:
            return list(more)
        first = self.first_block[slot]
        return [first] if first else []

    def all_inodes(self):
        mode = self.mode
        return (Inode(self, slot) for slot in range(1, len(mode)) if mode[slot] & USED_BIT)

    def string_id(self, value: str) -> int:
        sid = self._string_ids.get(value)
        if sid is None:
            if len(self.strings) >= 0xFFFF:
                raise OverflowError(f"more than {0xFFFF} distinct owner and group names")
            sid = self._string_ids[value] = len(self.strings)
            self.strings.append(value)
        return sid

    def nbytes(self) -> int:
        """Bytes held by the table's arrays (what the layout costs, without interpreter overhead)."""
        children = sum(a.buffer_info()[1] * 4 + 64 for a in self.children_of.values())
        arena = -(-self.arena_end // columns.PAGE) * columns.PAGE
        return columns.nbytes(self, COLUMNS) + arena + self.index.nbytes() + children

    # ----------------------------------------------------------- changing
    def add(self, parent: int, name: str, is_dir: bool, permission: int, owner: str, group: str, mtime: int,
            atime: int = 0, replication: int = 0, block_size: int = 0) -> Inode:
        """A new inode under directory ``parent`` (the caller checked ``name`` is free)."""
        if not 0 <= replication <= 0xFFFF or not 0 <= block_size <= MAX_BLOCK_SIZE:
            # checked before anything changes: a half-added inode would corrupt the table
            raise ValueError(f"replication {replication} or block size {block_size} does not fit an inode")
        encoded = name.encode()
        slot = self._free.pop() if self._free else columns.append_row(self, COLUMNS)
        self.parent[slot] = parent
        start = self.arena_end                       # the name goes at the end of the arena
        end = start + len(encoded)
        if end > len(self._names):
            self._move_arena(end)
        self._names[start:end] = encoded
        self.arena_end = end
        self.name_off[slot], self.name_len[slot] = start, len(encoded)
        self.mode[slot] = USED_BIT | (DIR_BIT if is_dir else 0) | (permission & PERM_BITS)
        self.owner[slot], self.group[slot] = self.string_id(owner), self.string_id(group)
        self.mtime[slot], self.atime[slot] = mtime, atime
        self.replication[slot], self.block_units[slot] = replication, block_size // BYTES_PER_CHECKSUM
        self.first_block[slot] = 0
        if is_dir:
            self.directories += 1
        else:
            self.files += 1
        if slot != ROOT_ID:
            self._link(slot, parent, encoded)
        self.version += 1
        return Inode(self, slot)

    def _append_name(self, name: bytes) -> int:
        """Put ``name`` at the end of the arena; returns its offset."""
        start = self.arena_end
        end = start + len(name)
        if end > len(self._names):
            self._move_arena(end)
        self._names[start:end] = name
        self.arena_end = end
        return start

    def _move_arena(self, end: int) -> None:
        """Only where the full reservation was refused: a larger one, with the names copied."""
        if end > ARENA_MAX:
            raise OverflowError(f"more than {ARENA_MAX} bytes of names")
        fresh = columns.reserve(max(end, min(ARENA_MAX, 4 * len(self._names))), first=False)
        if len(fresh) < end:
            raise MemoryError(f"cannot reserve {end} bytes of names")
        fresh[:self.arena_end] = self._names[:self.arena_end]
        self._names = fresh

    def _link(self, slot: int, parent: int, name: bytes) -> None:
        try:
            self.index.insert(name_hash(parent, name), slot)
        except NeedsRebuild:
            self._rebuild_index()          # includes ``slot``: its columns are already set
        siblings = self.children_of.get(parent)
        if siblings is None:
            siblings = self.children_of[parent] = array("i")
        siblings.insert(self._position(siblings, name), slot)

    def _unlink(self, slot: int) -> None:
        parent, name = self.parent[slot], bytes(self.name_bytes(slot))
        self.index.remove(name_hash(parent, name), slot)
        siblings = self.children_of[parent]
        del siblings[self._position(siblings, name)]
        if not siblings:
            del self.children_of[parent]
        self.garbage += len(name)

    def _column(self, name: str) -> np.ndarray:
        """A numpy view of a column (no copy: do not keep it across adds)."""
        return columns.view(self, COLUMNS, name)

    def _arena_view(self) -> np.ndarray:
        return np.frombuffer(self._names, dtype=np.uint8, count=self.arena_end)

    def _linked_slots(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Every inode but the root (among slots start..stop), as a numpy array of slots."""
        slots = np.flatnonzero(self._column("mode")[start:stop] & USED_BIT) + start
        return slots[slots != ROOT_ID]

    def _name_hashes(self, slots: np.ndarray) -> np.ndarray:
        """name_hash of every slot's (parent, name), vectorised: Horner's rule from the last byte."""
        offsets, lengths = self._column("name_off")[slots].astype(np.int64), self._column("name_len")[slots]
        arena = self._arena_view()
        value = np.zeros(len(slots), dtype=np.int64)
        for back in range(int(lengths.max()) if len(slots) else 0):
            has = np.flatnonzero(lengths > back)
            byte = arena[offsets[has] + lengths[has].astype(np.int64) - 1 - back]
            value[has] = (value[has] * 256 + byte) % _NAME_MOD
        parents = self._column("parent")[slots].astype(np.uint64)
        x = (value.astype(np.uint64) + parents * np.uint64(_PARENT_MIX)) * np.uint64(_MIX)
        return x ^ (x >> np.uint64(31))

    def _rebuild_index(self) -> None:
        """Refill the (parent, name) index a chunk of slots at a time: the temporaries
        (hashes, offsets, name bytes) then stay a chunk long, not a table long."""
        starts = range(0, len(self.mode), CHUNK)
        count = sum(len(self._linked_slots(start, start + CHUNK)) for start in starts)
        self.index.rebuild(count, self._index_chunks(starts))

    def _index_chunks(self, starts):
        for start in starts:
            slots = self._linked_slots(start, start + CHUNK)
            yield self._name_hashes(slots), slots.astype(np.int32)

    def _sorted_children(self, slots: np.ndarray) -> None:
        """children_of for ``slots`` (all linked inodes): grouped by parent, in name order.
        Names compare as big-endian 8-byte chunks (zero padded: names hold no NUL)."""
        self.children_of = {}
        if not len(slots):
            return
        parents = self._column("parent")[slots]
        offsets, lengths = self._column("name_off")[slots].astype(np.int64), self._column("name_len")[slots]
        longest = int(lengths.max())
        if longest > 64:          # rare: sort each directory in Python rather than build 32 key columns
            order = np.argsort(parents, kind="stable")
        else:
            arena = self._arena_view()
            chunks = []
            for start in range(0, longest, 8):
                chunk = np.zeros(len(slots), dtype=np.uint64)
                for j in range(8):
                    has = np.flatnonzero(lengths > start + j)
                    chunk[has] |= arena[offsets[has] + start + j].astype(np.uint64) << np.uint64(8 * (7 - j))
                chunks.append(chunk)
            order = np.lexsort(tuple(reversed(chunks)) + (parents,))
        slots, parents = slots[order], parents[order]
        cuts = np.flatnonzero(np.diff(parents)) + 1
        for group, parent in zip(np.split(slots, cuts), parents[np.concatenate(([0], cuts))].tolist()):
            members = group.tolist()
            if longest > 64:
                members.sort(key=self.name_bytes)
            self.children_of[parent] = array("i", members)

    def remove(self, inode: Inode) -> None:
        """Remove one inode (a directory must already be empty)."""
        slot = inode.slot
        if self.mode[slot] & DIR_BIT:
            self.directories -= 1
        else:
            self.files -= 1
        self._unlink(slot)
        self.version += 1
        self.drop_small(slot)
        self.mode[slot] = 0
        self.first_block[slot] = 0
        self.more_blocks.pop(slot, None)
        self.leases.pop(slot, None)
        self._free.append(slot)
        self._maybe_compact_arena()

    def move(self, inode: Inode, new_parent: int, new_name: str) -> None:
        slot = inode.slot
        self._unlink(slot)
        self.version += 1
        encoded = new_name.encode()
        self.parent[slot] = new_parent
        self.name_off[slot], self.name_len[slot] = self._append_name(encoded), len(encoded)
        self._link(slot, new_parent, encoded)
        self._maybe_compact_arena()

    def _maybe_compact_arena(self) -> None:
        """Renames and deletes leave dead names behind; once they are the majority, slide the
        live names down in place (in order of their offsets, so a name only ever moves
        towards the start and overwrites nothing live) and give the freed tail back."""
        if self.garbage < 1 << 20 or self.garbage * 2 < self.arena_end:
            return
        slots = self._linked_slots()
        offsets, lengths = self._column("name_off"), self._column("name_len")
        slots = slots[np.argsort(offsets[slots], kind="stable")]
        sizes = lengths[slots].astype(np.int64)
        fresh = np.cumsum(sizes) - sizes
        move = self._names.move
        for new, old, size in zip(fresh.tolist(), offsets[slots].tolist(), sizes.tolist()):
            if new != old:
                move(new, old, size)
        offsets[slots] = fresh
        self.arena_end, self.garbage = int(sizes.sum()), 0
        columns.release(self._names, self.arena_end)

    # ------------------------------------------------------- small files
    def layout(self, slot: int) -> Layout:
        mode = self.mode[slot]
        return Layout.STAGED if mode & STAGED_BIT else Layout.PACKED if mode & PACKED_BIT else Layout.BLOCKS

    def small_length(self, slot: int) -> int:
        mode = self.mode[slot]
        if mode & STAGED_BIT:
            return len(self.small.staged[slot])
        return self.small.length[self.first_block[slot]]

    def stage(self, inode: Inode, data: bytes) -> None:
        """Older hfed: the file's bytes are ``data``, held until packed (it must have no blocks)."""
        self.drop_small(inode.slot)
        self.small.stage(inode.slot, data)
        self.mode[inode.slot] |= STAGED_BIT

    def set_packed(self, inode: Inode, container: int, offset: int, length: int) -> None:
        """The file is the entry at ``offset`` of container block ``container`` (it has no blocks)."""
        slot = inode.slot
        self.drop_small(slot)
        self.first_block[slot] = self.small.add_row(container, offset, length)
        self.mode[slot] |= PACKED_BIT

    def drop_small(self, slot: int) -> None:
        """Forget a file's staged bytes or packed row (it is removed or rewritten)."""
        stashed = self.small.appending.pop(slot, None)
        if stashed is not None:
            self.small.remove_row(stashed)
        mode = self.mode[slot]
        if mode & STAGED_BIT:
            self.small.unstage(slot)
        elif mode & PACKED_BIT:
            self.small.remove_row(self.first_block[slot])
            self.first_block[slot] = 0
        self.mode[slot] = mode & ~(STAGED_BIT | PACKED_BIT)

    def stash_small(self, inode: Inode) -> None:
        """A packed file being appended to gets its first block: its row moves aside
        (``small.appending``) and stays live until ``unstash_small``."""
        slot = inode.slot
        self.small.appending[slot] = self.first_block[slot]
        self.first_block[slot] = 0
        self.mode[slot] &= ~PACKED_BIT

    def unstash_small(self, inode: Inode, restore: bool) -> None:
        """The appended file's blocks now hold its old bytes (drop the row), or, ``restore``,
        they never will (its blocks are gone already): it is the packed entry again."""
        slot = inode.slot
        row = self.small.appending.pop(slot)
        if restore:
            self.clear_blocks(inode)
            self.first_block[slot] = row
            self.mode[slot] |= PACKED_BIT
        else:
            self.small.remove_row(row)

    def packed_slots(self) -> np.ndarray:
        """Slots of every packed file (a vectorised scan; for the packer, not per request)."""
        return np.flatnonzero(np.frombuffer(self.mode, dtype=np.uint16) & PACKED_BIT)

    def append_block(self, inode: Inode, block_id: int) -> None:
        slot = inode.slot
        more = self.more_blocks.get(slot)
        if more is not None:
            more.append(block_id)
        elif self.first_block[slot]:
            self.more_blocks[slot] = [self.first_block[slot], block_id]
        else:
            self.first_block[slot] = block_id

    def pop_block(self, inode: Inode) -> int:
        """Drop the file's last block; returns its id."""
        slot = inode.slot
        more = self.more_blocks.get(slot)
        if more is None:
            block_id, self.first_block[slot] = self.first_block[slot], 0
            return block_id
        block_id = more.pop()
        if len(more) == 1:
            del self.more_blocks[slot]
        return block_id

    def clear_blocks(self, inode: Inode) -> None:
        if self.mode[inode.slot] & (STAGED_BIT | PACKED_BIT):
            return                        # first_block is a packed row: drop_small owns it
        self.first_block[inode.slot] = 0
        self.more_blocks.pop(inode.slot, None)

    # ------------------------------------------------ images (bulk copies)
    def export(self, copy: bool = True) -> dict:
        """Every column (numpy), the arena and the multi-block lists, for namenode/image.py.
        Copies: a consistent snapshot taken in one step, encoded later. ``copy=False``:
        views of the live table, for a writer that runs while nothing changes it (a
        forked child, or a write on the one thread that changes the namespace)."""
        grab = columns.copy if copy else columns.view
        out = {name: grab(self, COLUMNS, name) for name, _code in COLUMNS}
        out["arena"] = self.arena if copy else self._names      # either slices to bytes
        out["more_blocks"] = {slot: list(ids) for slot, ids in self.more_blocks.items()} if copy else self.more_blocks
        out["leases"] = dict(self.leases) if copy else self.leases
        out["free"] = np.frombuffer(self._free, dtype=np.int32).copy()
        out["small"] = self.small.export(out["first_block"], out["mode"])
        return out

    def load(self, c: dict, names: bytes, strings: list[str], next_id: int = 0, free=None,
             small: dict | None = None) -> list[int]:
        """Fill an empty table from image columns (numpy arrays: id, parent, is_dir,
        permission, owner, group, mtime, atime, replication, block_size, nblocks,
        block_ids) and the NUL-separated ``names``; ``free`` is the saved free-slot
        stack, so ids are given out after a restart exactly as before it. Returns
        the ids of inodes whose parent is not a directory (the table is then unusable)."""
        self.version += 1
        ids = c["id"].astype(np.int64)
        size = max(int(ids.max()) + 1 if len(ids) else ROOT_ID + 1, next_id)
        string_ids = np.array([self.string_id(s) for s in strings] or [0], dtype=np.int64)
        raw = np.frombuffer(names, dtype=np.uint8)
        ends = np.append(np.flatnonzero(raw == 0), len(raw))
        starts = np.concatenate(([0], ends[:-1] + 1))
        if len(starts) != len(ids):
            raise ValueError(f"{len(starts)} names for {len(ids)} inodes")
        counts = c["nblocks"].astype(np.int64)
        offsets = np.cumsum(counts) - counts
        first = np.zeros(len(ids), dtype=np.int64)
        has = counts > 0
        first[has] = c["block_ids"][offsets[has]]
        is_dir = c["is_dir"] != 0
        values = {"parent": c["parent"], "name_off": starts, "name_len": ends - starts,
                  "mode": USED_BIT | np.where(is_dir, DIR_BIT, 0) | (c["permission"] & PERM_BITS),
                  "owner": string_ids[c["owner"]], "group": string_ids[c["group"]], "mtime": c["mtime"],
                  "atime": c["atime"], "replication": c["replication"],
                  "block_units": c["block_size"] // BYTES_PER_CHECKSUM, "first_block": first}
        columns.fill(self, COLUMNS, {}, size)
        for name, _code in COLUMNS:
            self._column(name)[ids] = values[name]
        if len(names) > len(self._names):
            self._move_arena(len(names))
        self._names[:len(names)] = names
        self.arena_end = len(names)
        for row in np.flatnonzero(counts > 1).tolist():
            self.more_blocks[int(ids[row])] = c["block_ids"][offsets[row]:offsets[row] + counts[row]].tolist()
        self.directories = int(np.count_nonzero(is_dir))
        self.files = len(ids) - self.directories
        mode = np.frombuffer(self.mode, dtype=np.uint16)
        nonroot = ids != ROOT_ID
        parents = c["parent"][nonroot].astype(np.int64)
        orphans = ids[nonroot][(parents >= size) | (mode[np.minimum(parents, size - 1)] & DIR_BIT == 0)]
        unused = np.flatnonzero(mode & USED_BIT == 0)
        del mode
        if len(orphans):
            return orphans.tolist()
        if free is None:       # an image from before the free stack was saved
            free = unused[unused > ROOT_ID][::-1]
        self._free = array("i", np.asarray(free, dtype=np.int32).tobytes())
        self._rebuild_index()
        self._sorted_children(self._linked_slots())
        if small is not None:
            slots, rows = self.small.load(**small)      # vectorised: no Python object per file
            self._column("first_block")[slots] = rows
            self._column("mode")[slots] |= PACKED_BIT
            for slot in self.small.staged:
                self.mode[slot] |= STAGED_BIT
        return []
