"""What every column table (inodes, blocks, packed small files) does with its columns.

A table is an object with one column attribute per (name, typecode) pair; row i
of the table is index i of every column. A column is a ``memoryview`` of the
first ``rows`` items of a **reservation**: an anonymous private mapping as large
as the column can ever get (slots are int32, so 2**31 rows), made with
MAP_NORESERVE so the kernel commits a page only when it is first written.
Growing a column is therefore slicing a longer view of the same memory: no
reallocation, no copy, never two copies of a column at once. Indexing a
memoryview is as fast as indexing an ``array.array``, ``len()`` is the row
count and ``np.frombuffer(column, dtype=DTYPES[code])`` is a no-copy numpy
view for vectorised passes.

Private (not shared) mappings matter for checkpoints: a forked child sees the
columns copy-on-write, frozen as of the fork (namenode/image.py).

Where a huge reservation is refused (``ulimit -v``, vm.overcommit_memory=2,
which charges even untouched pages), ``reserve`` settles for a smaller one and
a column that outgrows it moves to a reservation four times larger: the old
copy-on-growth behaviour, but only past the reservation (README: "Growth").
"""
from __future__ import annotations

import itertools
import mmap
import sys

import numpy as np

# array typecode -> numpy dtype, for vectorised passes over the columns
DTYPES = {"q": np.int64, "i": np.int32, "I": np.uint32, "H": np.uint16, "B": np.uint8}
ITEMSIZE = {code: np.dtype(dtype).itemsize for code, dtype in DTYPES.items()}

MAX_ROWS = 1 << 31                  # slot numbers are int32
PAGE = mmap.PAGESIZE
# Not exported by Python's mmap module before 3.12 on every platform; the Linux value.
MAP_NORESERVE = getattr(mmap, "MAP_NORESERVE", 0x4000 if sys.platform.startswith("linux") else 0)
_SMALLEST = 1 << 20


def _strict_overcommit() -> bool:
    """vm.overcommit_memory=2 charges every reserved byte against the commit limit,
    so a huge reservation would be refused or would starve other processes."""
    try:
        with open("/proc/sys/vm/overcommit_memory") as f:
            return f.read().strip() == "2"
    except OSError:
        return False


# The most a table's first reservation asks for. Under strict overcommit a small
# one, moved to a larger one as the column grows; tests lower it to exercise that.
RESERVE_LIMIT = _SMALLEST if _strict_overcommit() else 1 << 40


def reserve(nbytes: int, first: bool = True) -> mmap.mmap:
    """An anonymous private mapping of about ``nbytes`` (a table's ``first`` one: at most
    RESERVE_LIMIT), zero-filled and committed page by page as it is written. Asks for
    less when refused."""
    want = max(PAGE, min(nbytes, RESERVE_LIMIT) if first else nbytes)
    while True:
        try:
            mm = mmap.mmap(-1, want, flags=mmap.MAP_PRIVATE | MAP_NORESERVE)
            break
        except OSError:
            if want <= _SMALLEST:
                raise
            want = max(_SMALLEST, want // 16)
    if hasattr(mmap, "MADV_NOHUGEPAGE"):
        # 4 KiB pages: a copy-on-write fault during a checkpoint copies 4 KiB, not 2 MiB.
        mm.madvise(mmap.MADV_NOHUGEPAGE)
    return mm


def release(mm: mmap.mmap, start: int) -> None:
    """Give the pages from byte ``start`` on back to the kernel (they read as zeros again)."""
    start = -(-start // PAGE) * PAGE
    if start < len(mm):
        mm.madvise(mmap.MADV_DONTNEED, start, len(mm) - start)


_colours = itertools.count()


def staggered(mm: mmap.mmap, code: str) -> memoryview:
    """``mm`` as a typed view that starts a different number of cache lines into its
    first page for each reservation. Mappings start page-aligned, so row i of every
    column would sit at the same offset within a page and compete for the same
    cache sets (an insert touches a dozen columns at one row: more than a set's ways)."""
    start = next(_colours) * 7 % 64 * 64
    return memoryview(mm)[start:len(mm) - (len(mm) - start) % ITEMSIZE[code]].cast(code)


class _Reserved:
    """The whole reservation of one column, as a typed memoryview."""
    __slots__ = ("full", "code")

    def __init__(self, code: str, rows: int):
        self.code = code
        self.full = staggered(reserve(rows * ITEMSIZE[code] + PAGE), code)

    def room_for(self, rows: int) -> memoryview:
        """The reservation, moved to a larger one if it holds fewer than ``rows`` items."""
        if rows > len(self.full):
            old = self.full
            self.full = staggered(reserve(max(rows, 4 * len(old)) * ITEMSIZE[self.code] + PAGE, first=False),
                                  self.code)
            if len(self.full) < rows:
                raise MemoryError(f"cannot reserve {rows} rows of {self.code!r}")
            np.frombuffer(self.full, DTYPES[self.code], len(old))[:] = np.frombuffer(old, DTYPES[self.code])
        return self.full


def _reserved(table) -> dict:
    # getattr/setattr, never table.__dict__: on CPython 3.11 touching __dict__ turns the
    # instance's inline attribute values into a dict and made every column lookup
    # (``table.mode``) about twice as slow.
    reserved = getattr(table, "_reserved_columns", None)
    if reserved is None:
        reserved = table._reserved_columns = {}
    return reserved


def create(table, columns, max_rows: int = MAX_ROWS) -> None:
    """Empty columns, each with a reservation of ``max_rows`` rows."""
    reserved = _reserved(table)
    for name, code in columns:
        reserved[name] = _Reserved(code, max_rows)
        setattr(table, name, reserved[name].full[:0])


def fill(table, columns, values: dict, rows: int) -> None:
    """Set every column from ``values`` (name -> sequence; missing columns are zeros)."""
    reserved = _reserved(table)
    for name, code in columns:
        if name not in reserved:
            reserved[name] = _Reserved(code, MAX_ROWS)
        full = reserved[name].room_for(rows)
        longer = len(getattr(table, name, ()))
        if longer > rows:               # rows past the end stay zero (append_row relies on it)
            np.frombuffer(full, DTYPES[code], longer)[rows:] = 0
            release(full.obj, rows * ITEMSIZE[code])
        data = values.get(name)
        np.frombuffer(full, DTYPES[code], rows)[:] = 0 if data is None else np.asarray(data, dtype=DTYPES[code])
        setattr(table, name, full[:rows])
    table._append_plan = None


def append_row(table, columns) -> int:
    """A new zeroed row at the end; returns its index. Rows past the end are always
    zero (fresh pages, or pages ``fill`` gave back), so this only lengthens the views."""
    row = len(getattr(table, columns[0][0]))
    plan = getattr(table, "_append_plan", None)
    if plan is None or plan[0] is not columns or row >= plan[1]:
        plan = table._append_plan = _append_plan(table, columns, row + 1)
    end = row + 1
    for name, full in plan[2]:
        setattr(table, name, full[:end])
    return row


def _append_plan(table, columns, rows: int) -> tuple:
    """(columns, rows every reservation holds, (name, reservation) pairs), so that
    append_row does no lookups: it runs for every new inode and block."""
    reserved = _reserved(table)
    pairs = tuple((name, reserved[name].room_for(rows)) for name, _code in columns)
    return columns, min(len(full) for _name, full in pairs), pairs


def view(table, columns, name: str) -> np.ndarray:
    """A numpy view (no copy) of one column's current rows; it sees later writes to
    those rows but not rows appended after it was made."""
    return np.frombuffer(getattr(table, name), dtype=DTYPES[dict(columns)[name]])


def copy(table, columns, name: str) -> np.ndarray:
    """A numpy copy of one column."""
    return view(table, columns, name).copy()


def nbytes(table, columns) -> int:
    """Bytes of memory the columns hold: their rows, rounded up to whole pages."""
    return sum(-(-getattr(table, name).nbytes // PAGE) * PAGE for name, _ in columns)
