"""Flushed writes (WriteHeader.keep_partial) and reads of replicas still being written,
against real DataNode processes (their NameNode is unreachable, as in test_datanode;
test_datanode_with_namenode checks the report of a kept replica reaches a NameNode).

A staging container is written entry by entry and each flush waits for every
replica's ack; readers may read those acknowledged bytes while the write goes
on, and a writer that goes away must not take them with it.
"""
from __future__ import annotations

import os
import threading
import time

import pytest

from protos import checksum, errors
from protos import hfed_pb2 as pb

from test_datanode import (POOL, OpenWrite, assert_gone, assert_serving, block, cluster,  # noqa: F401 - fixture
                           read, read_range, short_circuit, verified_bytes, wait_until, write)

KiB = 1024
PIECE = 64 * KiB   # whole checksum chunks, as every flush of a staging container is


def finalized_size(node, block_id: int) -> int | None:
    path = node.data_dir / POOL / "finalized" / f"blk_{block_id}"
    return path.stat().st_size if path.exists() else None


def test_cut_off_keep_partial_write_keeps_what_was_written_on_every_replica(cluster):
    dn1, dn2 = cluster.nodes["host-1"], cluster.nodes["host-2"]
    data = os.urandom(3 * PIECE)
    stream = OpenWrite(dn1, block(30), keep_partial=True, targets=[dn2.id()])
    for seqno in range(2):
        stream.send(seqno, seqno * PIECE, data[seqno * PIECE:(seqno + 1) * PIECE])
        ack = stream.wait_ack(seqno)
        assert [s.uuid for s in ack.statuses] == [dn1.uuid, dn2.uuid]

    # While the write goes on, the acknowledged bytes are readable on both replicas.
    for node in (dn1, dn2):
        assert verified_bytes(read(node, block(30))) == (0, data[:2 * PIECE])
        offset, got = verified_bytes(read(node, block(30), offset=PIECE + 100, length=1000))
        assert offset == PIECE and got == data[PIECE:PIECE + 1536]
    # Bytes not written yet are refused, naming block and DataNode.
    for offset, length in ((0, 2 * PIECE + 1), (2 * PIECE + 512, 512)):
        with pytest.raises(errors.BlockMissing) as info:
            read(dn1, block(30), offset, length)
        missing = str(info.value)
        assert "blk_30_1" in missing and "host-1" in missing and str(2 * PIECE) in missing
    # Short-circuit is refused as access, not as a missing block: the client streams instead.
    with pytest.raises(errors.AccessDenied) as info:
        short_circuit(dn1, block(30))
    assert "being written" in str(info.value) and "blk_30_1" in str(info.value)

    stream.cancel()   # the writer dies with packet 2 never sent
    for node in (dn1, dn2):
        wait_until(lambda: finalized_size(node, 30) == 2 * PIECE, f"the kept replica on {node.label}")
        wait_until(lambda: not os.listdir(node.data_dir / POOL / "rbw"), f"rbw/ emptied on {node.label}")
        assert verified_bytes(read(node, block(30))) == (0, data[:2 * PIECE])
        assert "kept the 131072 bytes written (keep_partial)" in node.log()
        # Reported like any received block (no NameNode is up here: it waits for the full report).
        assert f"blk_30_1 will be in its first full report" in node.log()
    grant = short_circuit(dn1, block(30))
    assert grant.length == 2 * PIECE and open(grant.block_path, "rb").read() == data[:2 * PIECE]

    # The kept replica survives a restart and stays finalized at its length.
    dn1.stop()
    dn1.start()
    assert verified_bytes(read(dn1, block(30))) == (0, data[:2 * PIECE])


def test_cut_off_write_without_keep_partial_is_discarded(cluster):
    dn1 = cluster.nodes["host-1"]
    stream = OpenWrite(dn1, block(31))
    stream.send(0, 0, os.urandom(PIECE))
    stream.wait_ack(0)
    assert verified_bytes(read(dn1, block(31)))[1] is not None   # readable while written
    stream.cancel()
    wait_until(lambda: not os.listdir(dn1.data_dir / POOL / "rbw"), "the discarded replica's files to go")
    assert finalized_size(dn1, 31) is None
    with pytest.raises(errors.BlockMissing):
        read(dn1, block(31))
    assert "ended before its last packet; replica discarded" in dn1.log()


def test_keep_partial_write_with_nothing_written_is_discarded(cluster):
    dn1 = cluster.nodes["host-1"]
    stream = OpenWrite(dn1, block(32), keep_partial=True)
    stream.send(0, 0, b"")
    stream.wait_ack(0)
    stream.cancel()
    wait_until(lambda: not os.listdir(dn1.data_dir / POOL / "rbw"), "the empty replica's files to go")
    assert finalized_size(dn1, 32) is None


def test_keep_partial_keeps_the_packets_before_a_corrupt_one(cluster):
    """A packet failing its checksums ends the write: the verified packets before it stay."""
    dn1 = cluster.nodes["host-1"]
    data = os.urandom(2 * PIECE)
    stream = OpenWrite(dn1, block(33), keep_partial=True)
    stream.send(0, 0, data[:PIECE])
    stream.wait_ack(0)
    stream.send(1, PIECE, data[PIECE:], crcs=checksum.compute(data[:PIECE]))
    nack = stream.next_ack()
    assert nack.seqno == 1 and not nack.statuses[0].ok and "checksum mismatch" in nack.statuses[0].message
    assert f"offset {PIECE}" in nack.statuses[0].message
    stream.close()
    wait_until(lambda: finalized_size(dn1, 33) == PIECE, "the verified packet kept")
    assert verified_bytes(read(dn1, block(33))) == (0, data[:PIECE])


def test_reads_racing_the_finalize_of_the_replica_they_read(cluster):
    """Readers of the written range keep getting it while the replica's files move
    from rbw/ to finalized/ under them."""
    dn1 = cluster.nodes["host-1"]
    data = os.urandom(8 * PIECE)
    failures: list[BaseException] = []
    reads = [0]
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            try:
                assert verified_bytes(read(dn1, block(34), 0, PIECE)) == (0, data[:PIECE])
                reads[0] += 1
            except BaseException as e:  # noqa: BLE001 - collected for the assertion below
                failures.append(e)
                return

    stream = OpenWrite(dn1, block(34))
    stream.send(0, 0, data[:PIECE])
    stream.wait_ack(0)
    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for seqno in range(1, 8):
        stream.send(seqno, seqno * PIECE, data[seqno * PIECE:(seqno + 1) * PIECE], last=seqno == 7)
        stream.wait_ack(seqno)
    stream.close()
    time.sleep(0.2)
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert not failures, failures[0]
    assert reads[0] > 3
    assert verified_bytes(read(dn1, block(34))) == (0, data)


def test_finalized_replica_longer_than_the_range_serves_the_range(cluster):
    """A container replica may be longer than the NameNode's committed length."""
    dn1 = cluster.nodes["host-1"]
    data = os.urandom(10_000)
    write(dn1, block(35), data)
    offset, got = verified_bytes(read(dn1, block(35), offset=0, length=3000))
    assert offset == 0 and got == data[:3072]   # whole chunks of the range, not the replica
    offset, got = verified_bytes(read(dn1, block(35), offset=4096, length=512))
    assert offset == 4096 and got == data[4096:4608]


@pytest.mark.parametrize("length", [0, PIECE])
def test_rbw_read_of_exactly_the_written_bytes(cluster, length):
    dn1 = cluster.nodes["host-1"]
    data = os.urandom(PIECE)
    stream = OpenWrite(dn1, block(36))
    stream.send(0, 0, data)
    stream.wait_ack(0)
    assert verified_bytes(read(dn1, block(36), 0, length)) == (0, data)
    stream.cancel()
