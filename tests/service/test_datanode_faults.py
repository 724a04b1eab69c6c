"""Bad input and faults on the DataTransfer byte path (issue 11), against real
DataNode processes (their NameNode unreachable, as in test_datanode) and, for the
I/O timeout, a TransferServer in this process.

Each fault gets a clear error or a timeout; the replica is never left looking
finalized with wrong bytes (not in finalized/, not readable), and the DataNode
goes on serving everyone else meanwhile and afterwards.
"""
from __future__ import annotations

import asyncio
import os
import socket
import threading
import time

import pytest

from datanode.block_keys import BlockKeyRing
from datanode.storage import BlockStorage
from datanode.transfer import TransferServer
from protos import checksum, errors
from protos import datatransfer as dt
from protos import hfed_pb2 as pb
from protos.pipeline import PipelineFailed, PipelineStream

from test_datanode import (MiB, POOL, OpenWrite, assert_gone, assert_serving, block, cluster,  # noqa: F401 - fixture
                           finalized_files, hung_up, rbw_files, read, read_range, short_circuit, verified_bytes,
                           wait_until, write)

KiB = 1024
PIECE = 64 * KiB


def packet_head(seqno: int, offset: int, data: bytes, last: bool = False) -> bytes:
    """A packet's header and CRC32Cs, without its data (to send the data in parts)."""
    return dt.PACKET.pack(dt.LAST if last else 0, seqno, offset, len(data)) + checksum.compute(data)


# ---------------------------------------------------------------- truncated requests

def test_truncated_request_header_is_refused_and_others_are_served(cluster):
    dn1 = cluster.nodes["host-1"]
    # A few bytes of a header, then the caller stops sending: an error reply names
    # what was cut short, then the DataNode hangs up.
    with dn1.connect() as sock:
        sock.sendall(dt.MAGIC[:3])
        sock.shutdown(socket.SHUT_WR)
        with pytest.raises(errors.Unavailable, match="closed the connection mid-message") as info:
            dt.recv_reply(sock, "test")
        assert "host-1" in str(info.value)
        assert hung_up(sock)
    # A WRITE header whose body is cut short, the caller gone at once: nothing is created.
    body = pb.WriteHeader(block=block(40), client_name="test").SerializeToString()
    with dn1.connect() as sock:
        sock.sendall(dt.REQUEST.pack(dt.MAGIC, dt.VERSION, dt.Op.WRITE, 512, len(body)) + body[:5])
    # A caller that stalls inside a header holds only its own connection.
    staller = dn1.connect()
    staller.sendall(dt.MAGIC)
    try:
        assert_serving(dn1)
    finally:
        staller.close()
    assert_serving(dn1)
    assert not rbw_files(dn1) and not any(f.startswith("blk_40") for f in finalized_files(dn1))
    with pytest.raises(errors.BlockMissing):
        read(dn1, block(40))


# ---------------------------------------------------------------- wrong block or generation stamp

def test_write_of_a_block_being_written_is_refused_at_set_up(cluster):
    dn1 = cluster.nodes["host-1"]
    data = os.urandom(2 * PIECE)
    first = OpenWrite(dn1, block(41))
    assert first.ready
    first.send(0, 0, data[:PIECE])
    first.wait_ack(0)
    second = OpenWrite(dn1, block(41))
    assert not second.ready and second.setup.seqno == -1
    assert "already being written" in second.setup.statuses[0].message and "blk_41_1" in \
        second.setup.statuses[0].message
    assert second.closed_by_datanode()
    second.close()
    # The first write is unharmed and finalizes with its own bytes.
    first.send(1, PIECE, data[PIECE:], last=True)
    first.wait_ack(1)
    first.close()
    assert verified_bytes(read(dn1, block(41))) == (0, data)


def test_write_of_an_older_generation_leaves_the_newer_replica(cluster):
    dn1 = cluster.nodes["host-1"]
    write(dn1, block(42, gs=5), b"new" * 100)
    for gs in (5, 4, 1):
        with pytest.raises(PipelineFailed, match="already has a finalized replica") as info:
            write(dn1, block(42, gs), b"old" * 100)
        assert info.value.failed_uuid == dn1.uuid and f"blk_42_{gs}" in str(info.value)
    assert verified_bytes(read(dn1, block(42, 5))) == (0, b"new" * 100)
    assert finalized_files(dn1) == ["blk_42", "blk_42_5.meta"] and not rbw_files(dn1)
    with pytest.raises(errors.BlockMissing, match="blk_42_4 of pool .* is not on DataNode"):
        read(dn1, block(42, 4))


# ---------------------------------------------------------------- CRC mismatch

@pytest.mark.parametrize("what", ["checksum", "data"])
def test_corrupt_last_packet_is_refused_by_every_datanode_and_nothing_is_finalized(cluster, what):
    """The last packet finalizes a replica: one that fails its CRCs must finalize none,
    on the DataNode that catches it nor on the one it was already forwarded to."""
    dn1, dn2 = cluster.nodes["host-1"], cluster.nodes["host-2"]
    blk = block(43 if what == "checksum" else 44)
    data = os.urandom(PIECE + 1000)
    stream = OpenWrite(dn1, blk, targets=[dn2.id()])
    assert stream.ready
    stream.send(0, 0, data[:PIECE])
    stream.wait_ack(0)
    tail = data[PIECE:]
    crcs = checksum.compute(tail)
    if what == "checksum":
        crcs = crcs[:4] + bytes([crcs[4] ^ 1]) + crcs[5:]
    else:
        tail = tail[:600] + bytes([tail[600] ^ 1]) + tail[601:]
    stream.send(1, PIECE, tail, last=True, crcs=crcs)
    nack = stream.next_ack()
    assert nack.seqno == 1 and not nack.statuses[0].ok and nack.statuses[0].uuid == dn1.uuid, nack
    assert "checksum mismatch" in nack.statuses[0].message
    assert f"offset {PIECE + 512}" in nack.statuses[0].message and "host-1" in nack.statuses[0].message
    assert stream.closed_by_datanode()
    stream.close()
    for node in (dn1, dn2):
        assert_gone(node, blk)
        assert_serving(node)


# ---------------------------------------------------------------- a peer that stalls

def test_a_writer_stalled_mid_packet_holds_only_its_own_stream(cluster):
    dn1, dn2 = cluster.nodes["host-1"], cluster.nodes["host-2"]
    data = os.urandom(2 * PIECE)
    stream = OpenWrite(dn1, block(45), targets=[dn2.id()])
    stream.send(0, 0, data[:PIECE])
    stream.wait_ack(0)
    stream.send_raw(packet_head(1, PIECE, data[PIECE:]) + data[PIECE:PIECE + 1000])   # and no more
    time.sleep(0.2)
    # Both DataNodes of the stalled pipeline take other writes and reads meanwhile,
    # and serve the stalled replica's acknowledged bytes.
    for node in (dn1, dn2):
        assert_serving(node)
        assert verified_bytes(read(node, block(45), 0, PIECE)) == (0, data[:PIECE])
    stream.close()   # the staller goes away: its replica goes with it
    for node in (dn1, dn2):
        assert_gone(node, block(45))
        assert_serving(node)


def test_a_reader_that_stops_reading_holds_only_its_own_stream(cluster):
    dn1 = cluster.nodes["host-1"]
    data = os.urandom(12 * MiB)
    write(dn1, block(46), data, packet_size=dt.PACKET_SIZE)
    staller = dn1.connect()
    dt.send_request(staller, dt.Op.READ, pb.ReadBlockRequest(block=block(46)))
    dt.recv_reply(staller, "test")
    staller.recv(1000)   # then nothing: the DataNode's send blocks on a full socket
    try:
        assert_serving(dn1)
        assert read_range(dn1, block(46), 5 * MiB, 5 * MiB + 10) == data[5 * MiB:5 * MiB + 10]
    finally:
        staller.close()
    assert verified_bytes(read(dn1, block(46))) == (0, data)


# ---------------------------------------------------------------- a connection dropped mid-block

def test_connection_dropped_mid_packet_discards_the_replica_on_every_datanode(cluster):
    dn1, dn2 = cluster.nodes["host-1"], cluster.nodes["host-2"]
    data = os.urandom(2 * PIECE)
    stream = OpenWrite(dn1, block(47), targets=[dn2.id()])
    stream.send(0, 0, data[:PIECE])
    stream.wait_ack(0)
    stream.send_raw(packet_head(1, PIECE, data[PIECE:], last=True) + data[PIECE:PIECE + 5000])
    stream.close()
    for node in (dn1, dn2):
        assert_gone(node, block(47))
        assert "ended before its last packet; replica discarded" in node.log()
        assert_serving(node)


def test_keep_partial_write_dropped_mid_packet_keeps_only_the_acknowledged_bytes(cluster):
    dn1, dn2 = cluster.nodes["host-1"], cluster.nodes["host-2"]
    data = os.urandom(3 * PIECE)
    stream = OpenWrite(dn1, block(48), keep_partial=True, targets=[dn2.id()])
    for seqno in range(2):
        stream.send(seqno, seqno * PIECE, data[seqno * PIECE:(seqno + 1) * PIECE])
        stream.wait_ack(seqno)
    # Half of the third packet's data arrives (whole chunks of it, even), then the writer is gone.
    stream.send_raw(packet_head(2, 2 * PIECE, data[2 * PIECE:]) + data[2 * PIECE:2 * PIECE + 8192])
    stream.close()
    for node in (dn1, dn2):
        wait_until(lambda: (node.data_dir / POOL / "finalized" / "blk_48").exists() and not rbw_files(node),
                   f"the kept replica on {node.label}")
        assert (node.data_dir / POOL / "finalized" / "blk_48").stat().st_size == 2 * PIECE
        assert verified_bytes(read(node, block(48))) == (0, data[:2 * PIECE])
        grant = short_circuit(node, block(48))
        assert grant.length == 2 * PIECE and open(grant.block_path, "rb").read() == data[:2 * PIECE]
        assert_serving(node)


# ---------------------------------------------------------------- a downstream DataNode dies

def test_downstream_datanode_killed_mid_pipeline_is_named(cluster):
    dn1, dn2 = cluster.nodes["host-1"], cluster.nodes["host-2"]
    data = os.urandom(8 * PIECE)
    pool = dt.Connections()
    stream = PipelineStream(pool, block(49), [dn1.id(), dn2.id()], "test-client", "/data/f")
    try:
        stream.send(0, data[:PIECE], checksum.compute(data[:PIECE]), last=False)
        stream.wait_acked(0)
        dn2.kill()
        with pytest.raises(PipelineFailed) as info:
            for seqno in range(1, 8):
                piece = data[seqno * PIECE:(seqno + 1) * PIECE]
                stream.send(seqno * PIECE, piece, checksum.compute(piece), last=seqno == 7)
            stream.finish()
    finally:
        stream.abort()
        pool.close()
    assert info.value.failed_uuid == dn2.uuid, info.value
    assert "host-2" in str(info.value) and "/data/f" in str(info.value)
    assert_gone(dn1, block(49))
    assert_serving(dn1)


# ---------------------------------------------------------------- the I/O timeout

@pytest.fixture
def quick_server(tmp_path):
    """A TransferServer in this process whose I/O and idle timeouts are one second."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    storage = BlockStorage(str(tmp_path / "quick"), "host-q")
    server = TransferServer(storage, "127.0.0.1:0", loop, io_timeout=1.0, idle_timeout=1.0)
    server.block_keys = BlockKeyRing(enabled=False)   # no NameNode: raw requests carry no tokens
    server.start()
    try:
        yield server
    finally:
        server.stop()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def test_a_stalled_writer_times_out_and_its_replica_is_discarded(quick_server):
    address = f"127.0.0.1:{quick_server.port}"
    storage = quick_server.storage
    data = os.urandom(2 * PIECE)
    with dt.connect(address, 30) as sock:
        dt.send_request(sock, dt.Op.WRITE, pb.WriteHeader(block=block(50), client_name="test"))
        assert dt.recv_ack(sock, "test").statuses[0].ok
        dt.send_packet(sock, 0, 0, data[:PIECE], checksum.compute(data[:PIECE]), last=False)
        assert dt.recv_ack(sock, "test").seqno == 0
        sock.sendall(packet_head(1, PIECE, data[PIECE:], last=True) + data[PIECE:PIECE + 100])
        started = time.monotonic()
        assert hung_up(sock, timeout=30)   # the DataNode gave up on it
        assert time.monotonic() - started < 10
    wait_until(lambda: not storage.is_being_written(POOL, 50), "the stalled replica to be discarded")
    assert storage.report(POOL) == []   # not in the block report
    assert not os.listdir(os.path.join(storage.pool_dir(POOL), "rbw"))
    # A header that never completes is given up on too, and the server goes on.
    with dt.connect(address, 30) as sock:
        sock.sendall(dt.MAGIC)
        assert hung_up(sock, timeout=30)
    pool = dt.Connections()
    try:
        stream = PipelineStream(pool, block(51), [pb.DatanodeId(uuid=storage.uuid, host_label="host-q",
                                                                transfer_address=address)], "test", "after")
        stream.send(0, b"fine", checksum.compute(b"fine"), last=True)
        stream.finish()
        assert b"".join(dt.read_block(pool, address, block(51), 0, 4, "test")) == b"fine"
    finally:
        pool.close()
    assert [b.block_id for b in storage.report(POOL)] == [51]
