"""How much of a replica left behind by a crash can be trusted (no network).

A replica being written gets each packet's data appended to its block file
and then the packet's CRCs to its meta file. A process killed mid-packet
leaves a block file that may run past the checksums, or a last chunk that was
only partly written. ``verified_length`` finds the longest prefix whose every
chunk matches its stored CRC — whole chunks, plus a short last chunk when its
CRC matches — so a recovered replica never serves torn data.
"""
from __future__ import annotations

import os

from protos import checksum
from protos.errors import ChecksumError

# Read this much at a time: one fast whole-buffer check per piece (checksum.verify).
PIECE = 8 << 20


def verified_length(block_path: str, meta_path: str, where: str) -> int:
    """Length of the checksum-verified prefix of a replica (blocking).

    Raises ChecksumError when the meta file has no valid header (nothing can
    be verified) and FileNotFoundError when either file is missing."""
    with open(meta_path, "rb") as meta_file:
        meta = meta_file.read()
    bpc = checksum.parse_header(meta, where)
    if bpc != checksum.BYTES_PER_CHECKSUM:
        raise ChecksumError(f"{where}: unsupported bytes per checksum {bpc}")
    crcs = meta[checksum.HEADER_SIZE:]
    num_crcs = len(crcs) // checksum.CRC_SIZE  # a torn last CRC vouches for nothing
    with open(block_path, "rb") as data_file:
        size = os.fstat(data_file.fileno()).st_size
        covered = min(size, num_crcs * bpc)  # bytes that have a checksum at all
        step = PIECE // bpc * bpc
        good = 0
        while good < covered:
            data = data_file.read(min(step, covered - good))
            if not data:
                break  # the file shrank under us: trust what was checked
            first = good // bpc * checksum.CRC_SIZE
            want = crcs[first:first + -(-len(data) // bpc) * checksum.CRC_SIZE]
            bad_chunk = first_bad_chunk(data, want, bpc)
            if bad_chunk is not None:
                return good + bad_chunk * bpc
            good += len(data)
    return good


def first_bad_chunk(data: bytes, crcs: bytes, bpc: int = checksum.BYTES_PER_CHECKSUM) -> int | None:
    """Index of the first chunk of ``data`` whose CRC differs from ``crcs``, or None."""
    try:
        checksum.verify(data, crcs, 0, "recovery", bpc)  # fast path: every chunk at once
        return None
    except ChecksumError:
        pass
    actual = checksum.compute(data, bpc)
    for i in range(0, len(actual), checksum.CRC_SIZE):
        if actual[i:i + checksum.CRC_SIZE] != crcs[i:i + checksum.CRC_SIZE]:
            return i // checksum.CRC_SIZE
    return None
