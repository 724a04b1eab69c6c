"""Block checksum format shared by DataNodes and clients.

Every block file has a sidecar meta file: an 8-byte header (magic b"HFCK",
uint16 version, uint16 bytes_per_checksum, big-endian) followed by one
big-endian CRC32C per ``bytes_per_checksum`` bytes of the block (the last
chunk may be short). On the wire the same big-endian CRC array travels next
to the data it covers.
"""
from __future__ import annotations

import struct
from array import array

import google_crc32c

from protos.errors import ChecksumError

MAGIC = b"HFCK"
VERSION = 1
BYTES_PER_CHECKSUM = 512
HEADER = struct.Struct(">4sHH")
HEADER_SIZE = HEADER.size
CRC_SIZE = 4


def header(bytes_per_checksum: int = BYTES_PER_CHECKSUM) -> bytes:
    return HEADER.pack(MAGIC, VERSION, bytes_per_checksum)


def parse_header(raw: bytes, where: str) -> int:
    """bytes_per_checksum of a meta file header; ChecksumError if it is not one."""
    if len(raw) < HEADER_SIZE:
        raise ChecksumError(f"{where}: truncated checksum header")
    magic, version, bpc = HEADER.unpack_from(raw)
    if magic != MAGIC or version != VERSION or bpc == 0:
        raise ChecksumError(f"{where}: not an hfed checksum file")
    return bpc


def compute(data, bytes_per_checksum: int = BYTES_PER_CHECKSUM) -> bytes:
    """Big-endian CRC32C of each chunk of ``data``."""
    if not isinstance(data, bytes):
        data = bytes(data)   # the CRC library takes bytes; one copy beats per-chunk copies
    value = google_crc32c.value
    crcs = array("I", [value(data[i:i + bytes_per_checksum]) for i in range(0, len(data), bytes_per_checksum)])
    if struct.pack("=I", 1) != struct.pack(">I", 1):
        crcs.byteswap()
    return crcs.tobytes()


def verify(data, checksums: bytes, offset: int, where: str,
           bytes_per_checksum: int = BYTES_PER_CHECKSUM) -> None:
    """Raise ChecksumError naming ``where`` and the first bad chunk's offset."""
    expected = compute(data, bytes_per_checksum)
    if expected == checksums[:len(expected)] and len(checksums) >= len(expected):
        return
    for i in range(0, len(expected), CRC_SIZE):
        if expected[i:i + CRC_SIZE] != checksums[i:i + CRC_SIZE]:
            bad = offset + (i // CRC_SIZE) * bytes_per_checksum
            raise ChecksumError(f"checksum mismatch in {where} at offset {bad}")
