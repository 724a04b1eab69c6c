"""Small files: where each one's entry sits, and the containers (layout: namenode/README.md).

A file below the namespace's small_file_threshold has no block. Its writer
appends it as an entry (protos/small_entry.py) to a container block on the
DataNodes and then commits (container, offset, length) here; the NameNode
never sees the bytes. Per file that is one row of three uint32 columns
(container number, entry offset, file length), 12 bytes, whose number is kept
in the inode's first_block column.

Containers are numbered (a uint32 in each row instead of an int64 block id);
per container the table keeps its block id, live files and live bytes, and
while it is open the end of its last committed entry (a commit must start past
it) and the DataNodes of its pipeline (readers of a file in a container still
being written are sent there).

STAGED is what an older hfed did: the bytes were held here and in the edit log
until packed. Such files (from old images and edit logs) are kept in
``staged`` until the packer hands them to a DataNode; containers that older
hfed wrote hold files without entry headers and are listed in ``raw``.
"""
from __future__ import annotations

import time
from array import array
from enum import IntEnum

import numpy as np

from protos import small_entry
from namenode import columns
from namenode.columns import DTYPES

CONTAINER_DIR = "/.hfed-containers"     # outside every mount point: clients never see it
STAGED_BIT, PACKED_BIT = 0x1000, 0x2000      # inode mode bits (above the 12 permission bits)


class Layout(IntEnum):
    """Where a file's bytes are; the values are FileLayout's in protos/hfed.proto."""
    BLOCKS = 0      # blocks of its own
    STAGED = 1      # held by the NameNode (older hfed)
    PACKED = 2      # an entry in a container


ROW_COLUMNS = (("container", "I"), ("offset", "I"), ("length", "I"))
FREE_ROW = 0xFFFFFFFF                         # container number of a free row
# In images a row names its container by block id and carries its file's slot (the format older hfed wrote).
IMAGE_ROWS = (("container", "q"), ("offset", "I"), ("length", "I"), ("inode", "i"))


class SmallFiles:
    def __init__(self):
        columns.create(self, ROW_COLUMNS)
        self._free = array("i")
        self.blocks = array("q")                      # container number -> block id (0: free number)
        self.number: dict[int, int] = {}              # block id -> container number
        self._free_numbers: list[int] = []
        self.live: dict[int, list[int]] = {}          # container number -> [live files, live bytes]
        self.open_end: dict[int, int] = {}            # open container block id -> end of its last entry
        self.open_targets: dict[int, list[str]] = {}  # open container block id -> pipeline DataNode uuids
        # Closed containers no DataNode has reported yet -> their pipeline's DataNodes (a subtree
        # move links replicas from there: a container its move closed may still be in their rbw/).
        self.unreported_targets: dict[int, list[str]] = {}
        self.raw: set[int] = set()                    # block ids of containers without entry headers (older hfed)
        # Small files being appended to in blocks: inode slot -> their entry's row, still live
        # (readable, counted in its container) until the file's committed blocks hold its bytes.
        self.appending: dict[int, int] = {}
        self.staged: dict[int, bytes] = {}            # older hfed: inode slot -> bytes, in staging order
        self.staged_at: dict[int, float] = {}
        self.staged_bytes = 0

    # --------------------------------------------------------- containers
    def container_number(self, block_id: int) -> int:
        """The container's number, given one the first time a file lands in it."""
        number = self.number.get(block_id)
        if number is None:
            if self._free_numbers:
                number = self._free_numbers.pop()
                self.blocks[number] = block_id
            else:
                number = len(self.blocks)
                self.blocks.append(block_id)
            self.number[block_id] = number
            self.live[number] = [0, 0]
        return number

    def forget_container(self, block_id: int) -> None:
        """The container block left the namespace (no live file may point at it)."""
        number = self.number.pop(block_id, None)
        self.container_closed(block_id)
        self.unreported_targets.pop(block_id, None)
        self.raw.discard(block_id)
        if number is not None:
            self.blocks[number] = 0
            self.live.pop(number, None)
            self._free_numbers.append(number)

    def container_closed(self, block_id: int) -> None:
        """A staging container was completed: no more commits into it."""
        self.open_end.pop(block_id, None)
        targets = self.open_targets.pop(block_id, None)
        if targets:
            self.unreported_targets[block_id] = targets

    def committed_end(self, block_id: int) -> int:
        """End of the last entry committed into an open container (rebuilt from its rows
        after a restart from an image, which does not save it)."""
        end = self.open_end.get(block_id)
        if end is None:
            number = self.number.get(block_id)
            end = 0
            if number is not None:
                rows = np.frombuffer(self.container, dtype=np.uint32) == number
                if rows.any():
                    offsets = np.frombuffer(self.offset, dtype=np.uint32)[rows].astype(np.int64)
                    end = int(small_entry.entry_end(offsets, np.frombuffer(self.length, dtype=np.uint32)[rows]).max())
            self.open_end[block_id] = end
        return end

    def is_container(self, block_id: int) -> bool:
        return block_id in self.number or block_id in self.open_end

    def live_of(self, block_id: int) -> tuple[int, int]:
        files, nbytes = self.live.get(self.number.get(block_id), (0, 0))
        return files, nbytes

    # -------------------------------------------------------------- rows
    @property
    def packed(self) -> int:
        return len(self.container) - len(self._free)

    def add_row(self, block_id: int, offset: int, length: int) -> int:
        number = self.container_number(block_id)
        if self._free:
            row = self._free.pop()
        else:
            row = columns.append_row(self, ROW_COLUMNS)
        self.container[row], self.offset[row], self.length[row] = number, offset, length
        stats = self.live[number]
        stats[0] += 1
        stats[1] += length
        return row

    def remove_row(self, row: int) -> None:
        stats = self.live.get(self.container[row])
        if stats is not None:
            stats[0] -= 1
            stats[1] -= self.length[row]
        self.container[row] = FREE_ROW
        self._free.append(row)

    def location(self, row: int) -> tuple[int, int, int]:
        """(container block id, entry offset, file length) of a packed file."""
        return self.blocks[self.container[row]], self.offset[row], self.length[row]

    def nbytes(self) -> int:
        return columns.nbytes(self, ROW_COLUMNS) + self.blocks.buffer_info()[1] * 8

    # ------------------------------------------------------------ staging (older hfed)
    def stage(self, slot: int, data: bytes) -> None:
        self.staged[slot] = data
        self.staged_at[slot] = time.monotonic()
        self.staged_bytes += len(data)

    def unstage(self, slot: int) -> bytes:
        data = self.staged.pop(slot)
        del self.staged_at[slot]
        self.staged_bytes -= len(data)
        return data

    # -------------------------------------------------------------- images
    def export(self, first_block: np.ndarray, mode: np.ndarray) -> dict:
        """Rows as (container block id, offset, length, inode slot) for the image, plus
        which containers are raw and the staged bytes."""
        slots = np.flatnonzero(mode & PACKED_BIT)
        rows = first_block[slots]
        blocks = np.frombuffer(self.blocks, dtype=np.int64)
        out_rows = {"container": blocks[np.frombuffer(self.container, dtype=DTYPES["I"])[rows]],
                    "offset": np.frombuffer(self.offset, dtype=DTYPES["I"])[rows].copy(),
                    "length": np.frombuffer(self.length, dtype=DTYPES["I"])[rows].copy(),
                    "inode": slots.astype(np.int32)}
        staged = list(self.staged.items())
        appending = [[slot, *map(int, self.location(row))] for slot, row in self.appending.items()]
        return {"rows": out_rows, "raw_containers": sorted(self.raw), "appending": appending,
                "staged_slots": np.array([s for s, _ in staged], dtype=np.int32),
                "staged_lengths": np.array([len(d) for _, d in staged], dtype=np.int64),
                "staged_data": b"".join(d for _, d in staged)}

    def load(self, rows: dict, staged_slots, staged_lengths, staged_data: bytes,
             raw_containers=None) -> tuple[np.ndarray, np.ndarray]:
        """Fill from an image's rows; returns (inode slots, their rows). ``raw_containers``
        None: an image of an older hfed, whose containers all lack entry headers."""
        containers = np.asarray(rows["container"], dtype=np.int64)
        unique, numbers = np.unique(containers, return_inverse=True)
        self.blocks = array("q", unique.astype(np.int64).tobytes())
        self.number = {int(b): i for i, b in enumerate(unique.tolist())}
        columns.fill(self, ROW_COLUMNS, {"container": numbers, "offset": rows["offset"],
                                         "length": rows["length"]}, len(containers))
        counts = np.bincount(numbers, minlength=len(unique))
        sizes = np.bincount(numbers, weights=np.asarray(rows["length"], dtype=np.float64), minlength=len(unique))
        self.live = {i: [int(c), int(s)] for i, (c, s) in enumerate(zip(counts.tolist(), sizes.tolist()))}
        self.raw = set(self.number) if raw_containers is None else {int(b) for b in raw_containers}
        at = 0
        for slot, length in zip(np.asarray(staged_slots).tolist(), np.asarray(staged_lengths).tolist()):
            self.stage(slot, staged_data[at:at + length])
            at += length
        return np.asarray(rows["inode"], dtype=np.int64), np.arange(len(containers), dtype=np.int64)
