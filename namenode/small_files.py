"""Small files: staged bytes and the packed-file index (layout: namenode/README.md).

A file below the namespace's small_file_threshold is closed with its bytes
(CompleteSmall) and gets no block: it is STAGED, its bytes held here (and in
the edit log, which makes them durable). The packer (namenode/packer.py)
writes staged files into a container block and switches each one to PACKED:
a row of three fixed-width columns (container block id, offset, length) whose
number is kept in the inode's first_block column, so a packed file costs its
inode plus 20 bytes, with no block object and no block file of its own.
"""
from __future__ import annotations

import time
from array import array

import numpy as np

from namenode import columns
from namenode.columns import DTYPES

STAGED_BIT, PACKED_BIT = 0x1000, 0x2000      # inode mode bits (above the 12 permission bits)
ROW_COLUMNS = (("container", "q"), ("offset", "I"), ("length", "I"), ("inode", "i"))


class SmallFiles:
    def __init__(self):
        columns.create(self, ROW_COLUMNS)
        self._free = array("i")
        self.staged: dict[int, bytes] = {}        # inode slot -> bytes, in staging order
        self.staged_at: dict[int, float] = {}     # inode slot -> monotonic time it was staged, same order
        self.staged_bytes = 0
        self.containers: dict[int, list[int]] = {}   # container block id -> [live files, live bytes]

    # ------------------------------------------------------------ staging
    def stage(self, slot: int, data: bytes) -> None:
        self.staged[slot] = data
        self.staged_at[slot] = time.monotonic()
        self.staged_bytes += len(data)

    def unstage(self, slot: int) -> bytes:
        data = self.staged.pop(slot)
        del self.staged_at[slot]
        self.staged_bytes -= len(data)
        return data

    def oldest_age(self) -> float:
        """Seconds the longest-waiting staged file has waited (0 when none waits)."""
        first = next(iter(self.staged_at.values()), None)
        return 0.0 if first is None else time.monotonic() - first

    # ------------------------------------------------------------- packed
    @property
    def packed(self) -> int:
        return len(self.container) - len(self._free)

    def add_row(self, container: int, offset: int, length: int, slot: int) -> int:
        if self._free:
            row = self._free.pop()
            self.container[row], self.offset[row], self.length[row], self.inode[row] = container, offset, length, slot
        else:
            row = columns.append_row(self, ROW_COLUMNS)
            self.container[row], self.offset[row], self.length[row], self.inode[row] = container, offset, length, slot
        stats = self.containers.setdefault(container, [0, 0])
        stats[0] += 1
        stats[1] += length
        return row

    def remove_row(self, row: int) -> None:
        stats = self.containers.get(self.container[row])
        if stats is not None:
            stats[0] -= 1
            stats[1] -= self.length[row]
        self.container[row], self.inode[row] = 0, -1
        self._free.append(row)

    def location(self, row: int) -> tuple[int, int, int]:
        """(container block id, offset, length) of a packed file."""
        return self.container[row], self.offset[row], self.length[row]

    def rows_in(self, container: int) -> list[int]:
        return np.flatnonzero(np.frombuffer(self.container, dtype=np.int64) == container).tolist()

    def nbytes(self) -> int:
        return columns.nbytes(self, ROW_COLUMNS)

    # -------------------------------------------------------------- images
    def export(self) -> dict:
        used = np.frombuffer(self.inode, dtype=np.int32) >= 0
        rows = {name: np.frombuffer(getattr(self, name), dtype=DTYPES[code])[used].copy() for name, code in ROW_COLUMNS}
        staged = list(self.staged.items())
        return {"rows": rows, "staged_slots": np.array([s for s, _ in staged], dtype=np.int32),
                "staged_lengths": np.array([len(d) for _, d in staged], dtype=np.int64),
                "staged_data": b"".join(d for _, d in staged)}

    def load(self, rows: dict, staged_slots, staged_lengths, staged_data: bytes) -> None:
        """Fill from an image's columns (rows are renumbered in order)."""
        columns.fill(self, ROW_COLUMNS, rows, len(rows["container"]))
        self.containers = {}
        for container, length in zip(rows["container"].tolist(), rows["length"].tolist()):
            stats = self.containers.setdefault(container, [0, 0])
            stats[0] += 1
            stats[1] += length
        at = 0
        for slot, length in zip(np.asarray(staged_slots).tolist(), np.asarray(staged_lengths).tolist()):
            self.stage(slot, staged_data[at:at + length])
            at += length
