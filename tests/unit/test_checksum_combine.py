"""CRC32C composition (protos/checksum.py): what content checksums are built on.

combine(crc(A), crc(B), len(B)) must be crc(A + B) for any split, and the CRC
folded from a meta file's chunk CRCs must be the CRC32C of the bytes they cover,
whatever the length (a short last chunk included)."""
import os

import crc32c
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protos import checksum


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000), st.binary(max_size=3000))
def test_combine_is_the_crc_of_the_concatenation(a, b):
    assert checksum.combine(crc32c.crc32c(a), crc32c.crc32c(b), len(b)) == crc32c.crc32c(a + b)


@pytest.mark.parametrize("len2", [0, 1, 511, 512, 513, (1 << 20) + 3, 128 << 20])
def test_combine_at_block_sized_lengths(len2):
    a = os.urandom(1000)
    b = os.urandom(len2) if len2 <= 2 << 20 else bytes(len2)   # zeros: 128 MiB without the random cost
    assert checksum.combine(crc32c.crc32c(a), crc32c.crc32c(b), len2) == crc32c.crc32c(a + b)


def test_combining_pieces_in_order_gives_the_whole():
    data = os.urandom(10_000)
    cuts = [0, 1, 512, 513, 4096, 7777, 10_000]
    value = 0
    for start, end in zip(cuts, cuts[1:]):
        value = checksum.combine(value, crc32c.crc32c(data[start:end]), end - start)
    assert value == crc32c.crc32c(data)


@pytest.mark.parametrize("length", [0, 1, 511, 512, 513, 1024, 5000, (1 << 20) + 17, 4 << 20])
def test_chunk_crcs_fold_into_the_crc_of_the_bytes(length):
    data = os.urandom(length)
    assert checksum.chunks_crc(checksum.compute(data), length) == crc32c.crc32c(data)


def test_chunk_crcs_that_do_not_cover_the_length_are_refused():
    crcs = checksum.compute(os.urandom(2048))      # 4 chunks
    with pytest.raises(ValueError, match="4 checksums for 2049 bytes in 5 chunks"):
        checksum.chunks_crc(crcs, 2049)
    with pytest.raises(ValueError, match="4 checksums for 1536 bytes in 3 chunks"):
        checksum.chunks_crc(crcs, 1536)


def test_a_negative_length_is_refused():
    with pytest.raises(ValueError, match="negative length"):
        checksum.combine(1, 2, -1)
