"""How a small file sits inside a container block (writers, readers and DataNode packers share it).

A container is an ordinary block holding small files back to back, each as one
*entry*: a 16-byte header, then the stored bytes.

    offset  size  field
    0       2     magic b"hS"
    2       1     codec: 0 raw, 1 zstd (the file compressed on its own)
    3       1     reserved (0)
    4       4     stored length: bytes of payload after the header
    8       4     file length: bytes the reader gets back
    12      4     CRC32C of the file's bytes (after decompression)
                  (all little-endian)

The NameNode keeps only (container, entry offset, file length) per file. A
reader fetches ``read_span(length)`` bytes at the offset: the payload is never
longer than the file (a file that does not shrink is stored raw), so one
ranged read always holds the whole entry, and only the file asked for is
decompressed. The CRC in the header makes the check end to end: block chunk
CRCs protect the container's bytes on disk and wire, this one the file through
compression and repacking.

In a *staging* container (written by a client, file by file, while it is open)
each entry starts on a checksum-chunk boundary, so every flush sends whole
chunks and a DataNode never has to rewrite a chunk it already acknowledged;
the padding is dropped when the packer rewrites the container.
"""
from __future__ import annotations

import struct

import crc32c as crc32c_lib

from protos.checksum import BYTES_PER_CHECKSUM
from protos.errors import ChecksumError

MAGIC = b"hS"
HEADER = struct.Struct("<2sBBIII")
HEADER_SIZE = HEADER.size            # 16
RAW, ZSTD = 0, 1
CODECS = {RAW: "raw", ZSTD: "zstd"}
ZSTD_LEVEL = 3                       # fast to write, ~3-5x on text-like files


def crc32c(data) -> int:
    return crc32c_lib.crc32c(data)


def read_span(length: int) -> int:
    """Bytes a reader fetches at an entry's offset for a file of ``length`` bytes."""
    return HEADER_SIZE + length


def padded(size: int, align: int = BYTES_PER_CHECKSUM) -> int:
    return -(-size // align) * align


def entry_end(offset, length):
    """Where the next entry of a staging container may start after a file of ``length``
    bytes at ``offset`` (entries there start on checksum chunks); works on numpy arrays too."""
    return offset + padded(read_span(length))


def encode(data, *, compress: bool = False, align: int = 0, crc: int | None = None) -> bytes:
    """One entry for ``data``: header + payload (+ zero padding up to a multiple of ``align``).
    With ``compress`` the payload is zstd when that is smaller than the file."""
    data = bytes(data)
    crc = crc32c(data) if crc is None else crc
    codec, payload = RAW, data
    if compress and data:
        import zstandard   # only packers compress; writers and readers of raw entries never load it
        squeezed = zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(data)
        if len(squeezed) < len(data):
            codec, payload = ZSTD, squeezed
    entry = HEADER.pack(MAGIC, codec, 0, len(payload), len(data), crc) + payload
    if align:
        entry += bytes(padded(len(entry), align) - len(entry))
    return entry


def parse_header(buf, where: str) -> tuple[int, int, int, int]:
    """(codec, stored length, file length, crc) of the entry at the start of ``buf``."""
    if len(buf) < HEADER_SIZE:
        raise ChecksumError(f"{where}: small-file entry header truncated ({len(buf)} bytes)")
    magic, codec, _reserved, stored, length, crc = HEADER.unpack_from(buf)
    if magic != MAGIC or codec not in CODECS:
        raise ChecksumError(f"{where}: no small-file entry here (magic {magic!r}, codec {codec})")
    return codec, stored, length, crc


def decode(buf, where: str, expected_length: int | None = None) -> bytes:
    """The file held by the entry at the start of ``buf``; ChecksumError naming ``where``
    if the entry is not whole, not the expected length or fails its CRC."""
    codec, stored, length, crc = parse_header(buf, where)
    if expected_length is not None and length != expected_length:
        raise ChecksumError(f"{where}: entry holds {length} bytes, the NameNode says {expected_length}")
    payload = bytes(memoryview(buf)[HEADER_SIZE:HEADER_SIZE + stored])
    if len(payload) != stored:
        raise ChecksumError(f"{where}: entry cut short ({len(payload)} of {stored} stored bytes)")
    if codec == ZSTD:
        import zstandard
        try:
            data = zstandard.ZstdDecompressor().decompress(payload, max_output_size=length)
        except zstandard.ZstdError as e:
            raise ChecksumError(f"{where}: compressed entry does not decompress: {e}") from None
    else:
        data = payload
    if len(data) != length or crc32c(data) != crc:
        raise ChecksumError(f"{where}: small file fails its CRC32C (entry damaged)")
    return data
