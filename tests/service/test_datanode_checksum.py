"""BLOCK_CHECKSUM against real DataNode processes (no NameNode, security off; tokens
are checked in tests/integration/test_checksums.py): the CRC32C of a replica's first
``length`` bytes, folded from its stored chunk CRCs, equals crc32c of those bytes."""
from __future__ import annotations

import os

import crc32c
import pytest

from protos import checksum, errors
from protos import datatransfer as dt
from protos import hfed_pb2 as pb
from tests.service.test_datanode import MiB, POOL, OpenWrite, block, cluster, write  # noqa: F401 - a fixture


def block_checksum(node, blk: pb.Block, length: int) -> pb.BlockChecksumResponse:
    pool = dt.Connections()
    try:
        return dt.block_checksum(pool, node.address, blk, length, f"test checksum from {node.where()}")
    finally:
        pool.close()


def test_every_prefix_length_gives_the_crc32c_of_those_bytes(cluster):
    dn1, dn2 = cluster.nodes["host-1"], cluster.nodes["host-2"]
    data = os.urandom(5 * MiB + 1000)      # several packets, a short last chunk
    write(dn1, block(1), data, targets=[dn2.id()])
    for node in (dn1, dn2):
        for length in (1, 511, 512, 513, 1000, MiB, 5 * MiB + 999, len(data)):
            reply = block_checksum(node, block(1), length)
            assert (reply.crc32c, reply.length, reply.bytes_per_checksum) == (crc32c.crc32c(data[:length]),
                                                                              length, 512), length
        whole = block_checksum(node, block(1), 0)     # 0: the whole replica, as READ
        assert (whole.crc32c, whole.length) == (crc32c.crc32c(data), len(data))


def test_an_empty_block_has_crc_zero(cluster):
    dn1 = cluster.nodes["host-1"]
    write(dn1, block(2), b"")
    assert block_checksum(dn1, block(2), 0).crc32c == crc32c.crc32c(b"") == 0


def test_missing_short_and_truncated_replicas_are_errors_naming_block_and_host(cluster):
    dn1 = cluster.nodes["host-1"]
    data = os.urandom(100_000)
    write(dn1, block(3), data)
    with pytest.raises(errors.BlockMissing, match="blk_3_1 of pool .* has 100000 bytes on DataNode host-1, not "
                                                  "the 100001 asked for"):
        block_checksum(dn1, block(3), len(data) + 1)
    with pytest.raises(errors.BlockMissing, match="block blk_4_1 of pool .* is not on DataNode host-1"):
        block_checksum(dn1, block(4), 10)
    with pytest.raises(errors.BlockMissing, match="blk_3_2 .* is not on DataNode host-1"):   # another stamp
        block_checksum(dn1, block(3, gs=2), 10)

    meta = dn1.data_dir / POOL / "finalized" / "blk_3_1.meta"
    os.truncate(meta, checksum.HEADER_SIZE + 40 * checksum.CRC_SIZE)     # 40 of 196 CRCs left
    assert block_checksum(dn1, block(3), 40 * 512).crc32c == crc32c.crc32c(data[:40 * 512])
    with pytest.raises(errors.ChecksumError, match="checksums of replica blk_3_1 .* truncated on disk on "
                                                   "DataNode host-1 \\(40 of 196\\)"):
        block_checksum(dn1, block(3), 0)
    os.truncate(meta, 3)
    with pytest.raises(errors.ChecksumError, match="truncated checksum header"):
        block_checksum(dn1, block(3), 0)


def test_one_connection_carries_checksums_and_reads(cluster):
    dn1 = cluster.nodes["host-1"]
    data = os.urandom(70_000)
    write(dn1, block(5), data)
    pool = dt.Connections()
    try:
        for _ in range(3):
            assert dt.block_checksum(pool, dn1.address, block(5), 0, "test").crc32c == crc32c.crc32c(data)
            assert b"".join(dt.read_block(pool, dn1.address, block(5), 0, len(data), "test")) == data
        with pytest.raises(errors.BlockMissing):
            dt.block_checksum(pool, dn1.address, block(6), 0, "test")
        assert dt.block_checksum(pool, dn1.address, block(5), 7, "test").crc32c == crc32c.crc32c(data[:7])
    finally:
        pool.close()


def test_a_replica_being_written_answers_for_the_bytes_it_has(cluster):
    dn1 = cluster.nodes["host-1"]
    data = os.urandom(8192 + 300)
    stream = OpenWrite(dn1, block(7))
    try:
        assert stream.ready
        stream.send(0, 0, data[:8192])
        stream.wait_ack(0)
        for length in (1000, 8192):
            assert block_checksum(dn1, block(7), length).crc32c == crc32c.crc32c(data[:length])
        assert block_checksum(dn1, block(7), 0).length == 8192          # what is on disk so far
        with pytest.raises(errors.BlockMissing, match="has 8192 bytes"):
            block_checksum(dn1, block(7), 8193)
        stream.send(1, 8192, data[8192:], last=True)
        stream.wait_ack(1)
    finally:
        stream.close()
    whole = block_checksum(dn1, block(7), 0)
    assert (whole.crc32c, whole.length) == (crc32c.crc32c(data), len(data))
