"""What every column table (inodes, blocks, packed small files) does with its arrays.

A table is an object with one ``array.array`` attribute per column, listed as
(name, typecode) pairs; row i of the table is index i of every column.
"""
from __future__ import annotations

from array import array

import numpy as np

# array typecode -> numpy dtype, for vectorised passes over the column arrays
DTYPES = {"q": np.int64, "i": np.int32, "I": np.uint32, "H": np.uint16, "B": np.uint8}


def create(table, columns) -> None:
    """Empty columns."""
    for name, code in columns:
        setattr(table, name, array(code))


def fill(table, columns, values: dict, rows: int) -> None:
    """Set every column from ``values`` (name -> sequence; missing columns are zeros)."""
    for name, code in columns:
        data = values.get(name)
        data = np.zeros(rows, dtype=DTYPES[code]) if data is None else np.asarray(data, dtype=DTYPES[code])
        setattr(table, name, array(code, data.tobytes()))


def append_row(table, columns) -> int:
    """A new zeroed row at the end; returns its index."""
    row = len(getattr(table, columns[0][0]))
    for name, _code in columns:
        getattr(table, name).append(0)
    return row


def copy(table, columns, name: str) -> np.ndarray:
    """A numpy copy of one column."""
    return np.frombuffer(getattr(table, name), dtype=DTYPES[dict(columns)[name]]).copy()


def nbytes(table, columns) -> int:
    """Bytes the columns hold (allocated, including growth room)."""
    return sum(getattr(table, name).buffer_info()[1] * getattr(table, name).itemsize for name, _ in columns)
