"""Block checksum format shared by DataNodes and clients.

Every block file has a sidecar meta file: an 8-byte header (magic b"HFCK",
uint16 version, uint16 bytes_per_checksum, big-endian) followed by one
big-endian CRC32C per ``bytes_per_checksum`` bytes of the block (the last
chunk may be short). On the wire the same big-endian CRC array travels next
to the data it covers.

Verifying 512-byte chunks one library call at a time costs about 1 us of
Python per chunk (~600 MB/s). ``verify`` instead checks the whole buffer at
once: CRCs compose (crc(A+B) = shift_len(B)(crc(A)) xor crc(B), a linear map),
so the stored chunk CRCs are folded pairwise with numpy into the CRC of the
whole buffer and compared with one fast library call over the data (the crc32c
package: hardware CRC, any buffer without a copy, the GIL released). Only on
a mismatch does it walk the chunks to name the first bad one.

The same composition gives content checksums without reading data: a DataNode
folds a replica's stored chunk CRCs into the CRC of its bytes (``chunks_crc``)
and a client joins the blocks' CRCs (``combine``) into the CRC32C of the whole
file, the same value whatever the block size (HDFS's COMPOSITE-CRC32C).
"""
from __future__ import annotations

import struct
from array import array

import crc32c
import numpy as np

from protos.errors import ChecksumError

MAGIC = b"HFCK"
VERSION = 1
BYTES_PER_CHECKSUM = 512
HEADER = struct.Struct(">4sHH")
HEADER_SIZE = HEADER.size
CRC_SIZE = 4
_BIG_ENDIAN_HOST = struct.pack("=I", 1) == struct.pack(">I", 1)


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
    view = memoryview(data)   # slices of a view are not copies
    value = crc32c.crc32c
    crcs = array("I", [value(view[i:i + bytes_per_checksum]) for i in range(0, len(view), bytes_per_checksum)])
    if not _BIG_ENDIAN_HOST:
        crcs.byteswap()
    return crcs.tobytes()


def verify(data, checksums: bytes, offset: int, where: str,
           bytes_per_checksum: int = BYTES_PER_CHECKSUM) -> None:
    """Raise ChecksumError naming ``where`` and the first bad chunk's offset."""
    data = memoryview(data)   # any buffer (a received bytearray): sliced without copies
    chunks = -(-len(data) // bytes_per_checksum)
    if len(checksums) < chunks * CRC_SIZE:
        raise ChecksumError(f"checksum mismatch in {where}: {len(checksums) // CRC_SIZE} checksums for "
                            f"{chunks} chunks at offset {offset}")
    crcs = np.frombuffer(checksums, dtype=">u4", count=chunks).astype(np.uint32)
    full = len(data) // bytes_per_checksum
    whole = crc32c.crc32c(data[:full * bytes_per_checksum])
    ok = _combine(crcs[:full], bytes_per_checksum) == whole
    if ok and full < chunks:
        ok = crc32c.crc32c(data[full * bytes_per_checksum:]) == int(crcs[full])
    if ok:
        return
    expected = compute(data, bytes_per_checksum)
    for i in range(0, len(expected), CRC_SIZE):
        if expected[i:i + CRC_SIZE] != checksums[i:i + CRC_SIZE]:
            bad = offset + (i // CRC_SIZE) * bytes_per_checksum
            raise ChecksumError(f"checksum mismatch in {where} at offset {bad}")


def combine(crc1: int, crc2: int, len2: int) -> int:
    """CRC32C of A + B from crc1 = CRC32C(A), crc2 = CRC32C(B) and len(B) (zlib's crc32_combine
    for CRC32C): crc1 shifted past len2 zero bytes, one power-of-two operator per set bit of
    len2, xor crc2. The pre/post inversion of the CRC cancels out in the xor."""
    if len2 < 0:
        raise ValueError(f"negative length {len2}")
    shifted, bit = crc1, 0
    while len2 >> bit:
        if (len2 >> bit) & 1:
            shifted = _apply(_operator(1 << bit), shifted)
        bit += 1
    return shifted ^ crc2


def chunks_crc(crcs: bytes, length: int, bytes_per_checksum: int = BYTES_PER_CHECKSUM) -> int:
    """CRC32C of ``length`` bytes from their big-endian chunk CRCs (as stored in a meta file:
    one per ``bytes_per_checksum`` bytes, the last chunk may be short). ValueError if the
    CRCs do not cover exactly ``length`` bytes."""
    chunks = -(-length // bytes_per_checksum)
    if len(crcs) != chunks * CRC_SIZE:
        raise ValueError(f"{len(crcs) // CRC_SIZE} checksums for {length} bytes in {chunks} chunks")
    values = np.frombuffer(crcs, dtype=">u4").astype(np.uint32)
    full = length // bytes_per_checksum
    value = _combine(values[:full], bytes_per_checksum)
    if full < chunks:
        value = combine(value, int(values[full]), length - full * bytes_per_checksum)
    return value


# ------------------------------------------------- CRC composition (numpy)
_POLY = 0x82F63B78   # CRC32C, reflected
_BYTE_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ _POLY if _c & 1 else _c >> 1
    _BYTE_TABLE.append(_c)
_operators: dict[int, list[int]] = {}
_shift_tables: dict[int, np.ndarray] = {}


def _apply(columns: list[int], value: int) -> int:
    out, bit = 0, 0
    while value:
        if value & 1:
            out ^= columns[bit]
        value >>= 1
        bit += 1
    return out


def _operator(nbytes: int) -> list[int]:
    """Images of the 32 basis vectors under 'append nbytes zero bytes' (nbytes a power of two)."""
    columns = _operators.get(nbytes)
    if columns is None:
        if nbytes == 1:
            columns = [_BYTE_TABLE[(1 << i) & 0xFF] ^ ((1 << i) >> 8) for i in range(32)]
        else:
            half = _operator(nbytes // 2)
            columns = [_apply(half, _apply(half, 1 << i)) for i in range(32)]
        _operators[nbytes] = columns
    return columns


def _tables(nbytes: int) -> np.ndarray:
    """The shift operator as four 256-entry lookup tables, one per CRC byte."""
    tables = _shift_tables.get(nbytes)
    if tables is None:
        columns = np.array(_operator(nbytes), dtype=np.uint32)
        values = np.arange(256)
        tables = np.zeros((4, 256), dtype=np.uint32)
        for byte in range(4):
            for bit in range(8):
                tables[byte] ^= np.where((values >> bit) & 1, columns[8 * byte + bit], 0).astype(np.uint32)
        _shift_tables[nbytes] = tables
    return tables


def _combine(crcs: np.ndarray, chunk: int) -> int:
    """CRC32C of the concatenation of len(crcs) chunks of ``chunk`` bytes each.

    Pairwise tree: each level shifts the left CRCs by the right ones' length.
    Padding at the front with empty chunks (CRC 0) keeps every right operand full."""
    if len(crcs) == 0:
        return 0
    size = 1 << (len(crcs) - 1).bit_length()
    if size != len(crcs):
        crcs = np.concatenate([np.zeros(size - len(crcs), dtype=np.uint32), crcs])
    length = chunk
    while len(crcs) > 1:
        t = _tables(length) if length & (length - 1) == 0 else None
        left, right = crcs[0::2], crcs[1::2]
        if t is None:
            raise ValueError("bytes_per_checksum must be a power of two")
        crcs = t[0][left & 0xFF] ^ t[1][(left >> 8) & 0xFF] ^ t[2][(left >> 16) & 0xFF] ^ t[3][left >> 24] ^ right
        length *= 2
    return int(crcs[0])
