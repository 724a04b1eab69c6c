"""The pure parts of running a PackCommand (datanode/packing.py): which bytes of a
container hold a source, turning them into the file, and laying entries out."""
from __future__ import annotations

import os

import pytest

from datanode.packing import SourceReader, append_entry, entry_range, file_bytes, gather
from protos import small_entry
from protos import hfed_pb2 as pb
from protos.errors import BlockMissing, ChecksumError


def source(offset, length, raw=False) -> pb.PackSource:
    return pb.PackSource(container=pb.LocatedBlock(block=pb.Block(block_id=1)), offset=offset, length=length,
                         raw=raw)


def test_entry_range_is_the_read_span_cut_at_the_container_end():
    assert entry_range(source(1024, 100), 0) == (1024, 1024 + 16 + 100)        # length unknown
    assert entry_range(source(1024, 100), 5000) == (1024, 1140)
    assert entry_range(source(1024, 100), 1100) == (1024, 1100)                # a compressed last entry
    assert entry_range(source(1024, 100), 1000) == (1024, 1140)                # not this container: not cut
    assert entry_range(source(7, 100, raw=True), 50) == (7, 107)               # raw: exactly the file


def test_file_bytes_decodes_entries_and_checks_raw_lengths():
    data = b"small file " * 30
    entry = small_entry.encode(data, compress=True)
    assert file_bytes(source(0, len(data)), entry + b"next entry", "t") == data
    with pytest.raises(ChecksumError):
        file_bytes(source(0, len(data) + 1), entry, "t")
    assert file_bytes(source(0, 4, raw=True), b"abcd", "t") == b"abcd"
    with pytest.raises(BlockMissing, match="3 of the file's 4 bytes"):
        file_bytes(source(0, 4, raw=True), b"abc", "t")


def test_entries_are_laid_back_to_back_without_padding():
    container = bytearray()
    files = [b"a" * 1000, os.urandom(300), b""]
    offsets = [append_entry(container, f, compress=True) for f in files]
    assert offsets[0] == 0
    for i, f in enumerate(files):
        end = offsets[i + 1] if i + 1 < len(files) else len(container)
        assert small_entry.decode(bytes(container[offsets[i]:end]), "t", len(f)) == f
    assert len(container) == offsets[2] + small_entry.HEADER_SIZE


def test_gather_inline_sources_keeps_their_order():
    reader = SourceReader(storage=None, peers=None, local={})
    sources = [pb.PackSource(length=3, inline_data=b"one"), pb.PackSource(length=3, inline_data=b"two")]
    container, offsets, problems = gather(reader, sources, compress=False)
    assert offsets == [0, small_entry.HEADER_SIZE + 3] and problems == []
    assert small_entry.decode(container[offsets[1]:], "t", 3) == b"two"
