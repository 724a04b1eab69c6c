"""The DataTransfer wire format (protos/datatransfer.py, protos/DATATRANSFER.md) over a
socketpair: every frame round-trips, errors travel as their hfed exception class,
and anything malformed is refused with InvalidArgument naming the peer."""
from __future__ import annotations

import os
import socket
import threading

import pytest

from protos import checksum, errors
from protos import datatransfer as dt
from protos import hfed_pb2 as pb

WHERE = "peer 10.0.0.9:5000 of DataNode host-1"


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    a.settimeout(5)
    b.settimeout(5)
    yield a, b
    a.close()
    b.close()


def sent_by_thread(function, *args) -> threading.Thread:
    """Send from a thread: a frame larger than the socket buffers blocks until read."""
    thread = threading.Thread(target=function, args=args, daemon=True)
    thread.start()
    return thread


BLOCK = pb.Block(pool_id="BP-ns-a-1", block_id=7, generation_stamp=3)


def test_frame_sizes_and_header_bytes_are_as_documented():
    assert (dt.REQUEST.size, dt.REPLY.size, dt.PACKET.size, dt.ACK.size) == (12, 5, 21, 4)
    assert dt.REQUEST.pack(dt.MAGIC, dt.VERSION, dt.Op.WRITE, 512, 300) == b"HFDT\x01\x02\x02\x00\x00\x00\x01\x2c"
    assert dt.PACKET.pack(dt.LAST, -1, 4096, 10) == b"\x01" + b"\xff" * 8 + (4096).to_bytes(8, "big") + b"\0\0\0\x0a"
    assert [dt.crc_bytes(n) for n in (0, 1, 512, 513, dt.PACKET_SIZE)] == [0, 4, 4, 8, dt.PACKET_SIZE // 512 * 4]


@pytest.mark.parametrize("op, body", [
    (dt.Op.READ, pb.ReadBlockRequest(block=BLOCK, offset=1000, length=5000)),
    (dt.Op.WRITE, pb.WriteHeader(block=BLOCK, client_name="c", keep_partial=True,
                                 targets=[pb.DatanodeId(uuid="u", host_label="host-2", transfer_address="h:1")])),
    (dt.Op.SHORT_CIRCUIT, pb.ShortCircuitRequest(block=BLOCK, client_host="host-1")),
])
def test_request_round_trips(pair, op, body):
    a, b = pair
    dt.send_request(a, op, body, bytes_per_checksum=512)
    dt.send_request(a, op, body, bytes_per_checksum=4096)
    assert dt.recv_request(b, WHERE) == (op, 512, body)
    assert dt.recv_request(b, WHERE) == (op, 4096, body)   # one connection, one request after another
    a.close()
    assert dt.recv_request(b, WHERE) is None   # closed between requests: no error


def request(op=dt.Op.READ, body=b"", magic=dt.MAGIC, version=dt.VERSION, length=None) -> bytes:
    return dt.REQUEST.pack(magic, version, op, 512, len(body) if length is None else length) + body


@pytest.mark.parametrize("raw, message", [
    (request(magic=b"GET "), "b'GET ', not a DataTransfer request"),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\x00", "not a DataTransfer request"),   # a TLS hello
    (request(version=2), "speaks DataTransfer version 2, this side 1"),
    (request(op=0), "unknown DataTransfer op 0"),
    (request(op=200), "unknown DataTransfer op 200"),
    (request(length=dt.MAX_BODY + 1), f"READ request of {dt.MAX_BODY + 1} bytes (limit {dt.MAX_BODY})"),
    (request(length=0xFFFFFFFF), "limit"),
    (request(body=b"\xff\xff\xff\xff\x0f"), "malformed READ request"),
    (request(op=dt.Op.WRITE, body=b"\x0a\xff\xff"), "malformed WRITE request"),
])
def test_bad_requests_are_refused_naming_the_peer(pair, raw, message):
    a, b = pair
    a.sendall(raw)   # an oversized body length is refused before any body is awaited
    with pytest.raises(errors.InvalidArgument) as info:
        dt.recv_request(b, WHERE)
    assert message in str(info.value) and WHERE in str(info.value)
    assert isinstance(info.value, ValueError)


def test_truncated_request_is_unavailable_naming_the_peer(pair):
    a, b = pair
    a.sendall(dt.MAGIC[:3])
    a.shutdown(socket.SHUT_WR)
    with pytest.raises(errors.Unavailable, match="closed the connection mid-message") as info:
        dt.recv_request(b, WHERE)
    assert WHERE in str(info.value)
    a2, b2 = socket.socketpair()
    with a2, b2:
        body = pb.ReadBlockRequest(block=BLOCK).SerializeToString()
        a2.sendall(request(body=body)[:-3])   # the body cut short
        a2.shutdown(socket.SHUT_WR)
        with pytest.raises(errors.Unavailable, match="mid-message"):
            dt.recv_request(b2, WHERE)


def test_replies_round_trip(pair):
    a, b = pair
    response = pb.ShortCircuitResponse(block_path="/d/blk_7", meta_path="/d/blk_7_3.meta", length=99)
    dt.send_reply(a, response)
    dt.send_reply(a)
    assert dt.recv_reply(b, WHERE, pb.ShortCircuitResponse) == response
    assert dt.recv_reply(b, WHERE) == b""


@pytest.mark.parametrize("kind", [*errors.KINDS, "error"])
def test_errors_travel_as_their_hfed_class(pair, kind):
    a, b = pair
    cls = errors.KINDS.get(kind, errors.HfedError)
    dt.send_reply(a, error=cls(f"block blk_7_3 on DataNode host-1: {kind} happened"))
    with pytest.raises(cls) as info:
        dt.recv_reply(b, WHERE)
    assert type(info.value) is cls and info.value.kind == kind
    # The message is kept; where it was read from is added when the message does not say.
    assert str(info.value) == f"block blk_7_3 on DataNode host-1: {kind} happened [{WHERE}]"
    dt.send_reply(a, error=cls(f"{kind} at {WHERE}"))
    with pytest.raises(cls) as info:
        dt.recv_reply(b, WHERE)
    assert str(info.value) == f"{kind} at {WHERE}"


def test_errors_are_also_python_builtins(pair):
    a, b = pair
    for error, builtin in ((errors.NotFound("x"), FileNotFoundError), (errors.AccessDenied("x"), PermissionError),
                           (errors.Unavailable("x"), ConnectionError), (errors.InvalidArgument("x"), ValueError)):
        dt.send_reply(a, error=error)
        with pytest.raises(builtin):
            dt.recv_reply(b, WHERE)


def test_an_unknown_error_kind_is_a_plain_hfed_error(pair):
    a, b = pair
    raw = b"from-a-newer-version\nsomething new"
    a.sendall(dt.REPLY.pack(dt.ERROR, len(raw)) + raw)
    with pytest.raises(errors.HfedError, match="something new") as info:
        dt.recv_reply(b, WHERE)
    assert type(info.value) is errors.HfedError


def test_bad_replies_and_acks_are_refused(pair):
    a, b = pair
    a.sendall(dt.REPLY.pack(dt.OK, dt.MAX_BODY + 1))
    with pytest.raises(errors.InvalidArgument, match="limit"):
        dt.recv_reply(b, WHERE)
    a.sendall(dt.REPLY.pack(dt.OK, 3) + b"\xff\xff\xff")
    with pytest.raises(errors.InvalidArgument, match="malformed reply"):
        dt.recv_reply(b, WHERE, pb.ShortCircuitResponse)
    a.sendall(dt.ACK.pack(dt.MAX_BODY + 1))
    with pytest.raises(errors.InvalidArgument, match="ack of"):
        dt.recv_ack(b, WHERE)
    a.sendall(dt.ACK.pack(3) + b"\x0a\xff\xff")
    with pytest.raises(errors.InvalidArgument, match="malformed ack"):
        dt.recv_ack(b, WHERE)


def test_acks_round_trip(pair):
    a, b = pair
    acks = [pb.WriteAck(seqno=dt.SETUP_SEQNO, statuses=[pb.PipelineStatus(uuid="DN-1", ok=True),
                                                        pb.PipelineStatus(uuid="DN-2", ok=True)]),
            pb.WriteAck(seqno=0, statuses=[pb.PipelineStatus(uuid="DN-1", ok=False,
                                                             message="checksum mismatch at offset 512")])]
    for ack in acks:
        dt.send_ack(a, ack)
    assert [dt.recv_ack(b, WHERE) for _ in acks] == acks


def test_packets_round_trip_into_reused_buffers(pair):
    a, b = pair
    data = os.urandom(3 * 65536 + 100)
    pieces = [(0, data[:65536]), (65536, data[65536:131072]), (131072, data[131072:])]

    def send():
        for seqno, (offset, piece) in enumerate(pieces):
            dt.send_packet(a, seqno, offset, piece, checksum.compute(piece), last=seqno == len(pieces) - 1)
        dt.send_packet(a, 9, 0, b"", b"", last=True)   # an empty block's only packet

    thread = sent_by_thread(send)
    reader = dt.PacketReader(b, WHERE, packet_size=128 * 1024)
    for seqno, (offset, piece) in enumerate(pieces):
        got_seqno, got_offset, got, crcs, last = reader.next()
        assert (got_seqno, got_offset, bytes(got), last) == (seqno, offset, piece, seqno == 2)
        assert bytes(crcs) == checksum.compute(piece)
        checksum.verify(got, crcs, got_offset, WHERE)
    assert [bytes(x) if isinstance(x, memoryview) else x for x in reader.next()] == [9, 0, b"", b"", True]
    thread.join(5)


def test_a_corrupt_packet_fails_its_check_naming_the_offset(pair):
    a, b = pair
    piece = bytearray(os.urandom(4096))
    crcs = checksum.compute(piece)
    piece[1500] ^= 1
    dt.send_packet(a, 0, 8192, piece, crcs, last=True)
    _, offset, got, got_crcs, _ = dt.PacketReader(b, WHERE).next()
    with pytest.raises(errors.ChecksumError, match=f"checksum mismatch in {WHERE} at offset {8192 + 1024}"):
        checksum.verify(got, got_crcs, offset, WHERE)


def test_an_oversized_packet_is_refused_before_its_data(pair):
    a, b = pair
    a.sendall(dt.PACKET.pack(0, 0, 0, 65537))
    with pytest.raises(errors.InvalidArgument, match="packet of 65537 bytes \\(limit 65536\\)") as info:
        dt.PacketReader(b, WHERE, packet_size=65536).next()
    assert WHERE in str(info.value)


def test_a_failed_packet_raises_the_error_it_carries(pair):
    a, b = pair
    dt.send_failed_packet(a, errors.ChecksumError("the checksums of replica blk_7_3 are truncated on disk"))
    with pytest.raises(errors.ChecksumError, match="truncated on disk") as info:
        dt.PacketReader(b, WHERE).next()
    assert WHERE in str(info.value)
    a.sendall(dt.PACKET.pack(dt.FAILED | dt.LAST, 0, 0, dt.MAX_BODY + 1))
    with pytest.raises(errors.InvalidArgument, match="limit"):
        dt.PacketReader(b, WHERE).next()


def test_a_packet_cut_short_is_unavailable(pair):
    a, b = pair
    piece = os.urandom(2048)
    raw = dt.PACKET.pack(0, 0, 0, len(piece)) + checksum.compute(piece) + piece
    a.sendall(raw[:-100])
    a.shutdown(socket.SHUT_WR)
    with pytest.raises(errors.Unavailable, match="mid-message") as info:
        dt.PacketReader(b, WHERE).next()
    assert WHERE in str(info.value)

