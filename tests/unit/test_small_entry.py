"""The small-file entry format (protos/small_entry.py) that writers, readers and
DataNode packers share."""
from __future__ import annotations

import os

import pytest

from protos import small_entry
from protos.errors import ChecksumError


@pytest.mark.parametrize("align", [0, 512])
@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("data", [b"", b"x", os.urandom(511), b"ab" * 256, b"text line\n" * 300, os.urandom(3000)],
                         ids=["empty", "1", "511-random", "512-text", "3000-text", "3000-random"])
def test_files_round_trip(data, compress, align):
    entry = small_entry.encode(data, compress=compress, align=align)
    if align:
        assert len(entry) % align == 0
    # A reader fetches read_span(length) bytes (or less at the container's end) and decodes.
    assert small_entry.decode(entry[:small_entry.read_span(len(data))], "test", len(data)) == data


def test_compression_only_when_it_shrinks():
    text = b"the same line again\n" * 200
    packed = small_entry.encode(text, compress=True)
    assert small_entry.parse_header(packed, "t")[0] == small_entry.ZSTD and len(packed) < len(text)
    noise = os.urandom(2000)
    stored = small_entry.encode(noise, compress=True)
    assert small_entry.parse_header(stored, "t")[0] == small_entry.RAW
    assert len(stored) == small_entry.HEADER_SIZE + len(noise)   # never longer than read_span


def test_damaged_entries_are_refused_naming_where():
    entry = small_entry.encode(b"hello world" * 10, compress=True)
    flipped = entry[:20] + bytes([entry[20] ^ 1]) + entry[21:]
    with pytest.raises(ChecksumError, match="container 7"):
        small_entry.decode(flipped, "container 7")
    with pytest.raises(ChecksumError, match="cut short"):
        small_entry.decode(entry[:-1], "here")
    with pytest.raises(ChecksumError, match="the NameNode says 5"):
        small_entry.decode(entry, "here", 5)
    with pytest.raises(ChecksumError, match="no small-file entry"):
        small_entry.decode(b"\x00" * 32, "here")
    with pytest.raises(ChecksumError, match="truncated"):
        small_entry.decode(entry[:10], "here")
