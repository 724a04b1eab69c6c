"""DataTransfer: block bytes over a framed TCP stream (wire format in protos/DATATRANSFER.md).

gRPC carries metadata; block bytes go over plain TCP: a small fixed header per
packet, then the packet's CRC32Cs and its raw bytes. Both sides move packets
through reused buffers (``recv_into``, ``preadv``, ``sendall`` of a view), so no
protobuf message is built or copied per packet. Both sides here are blocking (a thread per stream): the callers
are client threads and DataNode connection threads alike.
"""
from __future__ import annotations

import enum
import mmap
import socket
import ssl
import struct
import threading
import time
from typing import Iterator

from google.protobuf.message import DecodeError

from protos import checksum, errors, limits, tls
from protos import hfed_pb2 as pb

MAGIC = b"HFDT"
VERSION = 1
PACKET_SIZE = 4 << 20          # data bytes per packet (8,192 checksum chunks of 512 bytes)
MAX_BODY = 1 << 20             # a request, reply or ack body; bounds what a bad peer makes us allocate

REQUEST = struct.Struct(">4sBBHI")   # magic, version, op, bytes_per_checksum, body length
REPLY = struct.Struct(">BI")         # status, body length
PACKET = struct.Struct(">BqQI")      # flags, seqno, offset in block, data length
ACK = struct.Struct(">I")            # WriteAck length

# Reply status
OK, ERROR = 0, 1
# Packet flags
LAST = 1     # the final packet of the stream (it may carry data)
FAILED = 2   # no data follows but an error body of ``length`` bytes (reads only)


class Op(enum.IntEnum):
    READ = 1            # body ReadBlockRequest; reply, then packets
    WRITE = 2           # body WriteHeader; packets in, acks out (the first, seqno -1, sets up the pipeline)
    SHORT_CIRCUIT = 3   # body ShortCircuitRequest; reply with ShortCircuitResponse
    BLOCK_CHECKSUM = 4  # body BlockChecksumRequest; reply with BlockChecksumResponse


BODIES = {Op.READ: pb.ReadBlockRequest, Op.WRITE: pb.WriteHeader, Op.SHORT_CIRCUIT: pb.ShortCircuitRequest,
          Op.BLOCK_CHECKSUM: pb.BlockChecksumRequest}
SETUP_SEQNO = -1


def crc_bytes(data_length: int, bytes_per_checksum: int = checksum.BYTES_PER_CHECKSUM) -> int:
    return -(-data_length // bytes_per_checksum) * checksum.CRC_SIZE


# ------------------------------------------------------------------ framing

def recv_into_exactly(sock: socket.socket, view: memoryview, where: str, already: int = 0) -> None:
    """Fill ``view[already:]`` from ``sock``; Unavailable naming ``where`` if the peer closes first."""
    got, size = already, len(view)
    while got < size:
        n = sock.recv_into(view[got:])
        if n == 0:
            raise errors.Unavailable(f"{where} closed the connection mid-message ({got} of {size} bytes)")
        got += n


def recv_exactly(sock: socket.socket, size: int, where: str) -> bytes:
    buffer = bytearray(size)
    recv_into_exactly(sock, memoryview(buffer), where)
    return bytes(buffer)


def _body_length(length: int, what: str, where: str) -> int:
    if length > MAX_BODY:
        raise errors.InvalidArgument(f"{where} sent a {what} of {length} bytes (limit {MAX_BODY})")
    return length


def send_request(sock: socket.socket, op: Op, body, bytes_per_checksum: int = checksum.BYTES_PER_CHECKSUM) -> None:
    raw = body.SerializeToString()
    sock.sendall(REQUEST.pack(MAGIC, VERSION, op, bytes_per_checksum, len(raw)) + raw)


def recv_request(sock: socket.socket, where: str):
    """(op, bytes_per_checksum, body message) of the next request, or None when the
    peer closed the connection between requests. InvalidArgument for anything else."""
    head = bytearray(REQUEST.size)
    first = sock.recv_into(head)
    if first == 0:
        return None
    recv_into_exactly(sock, memoryview(head), where, already=first)
    magic, version, op, bpc, length = REQUEST.unpack(head)
    if magic != MAGIC:
        raise errors.InvalidArgument(f"{where} sent {bytes(head[:4])!r}, not a DataTransfer request")
    if version != VERSION:
        raise errors.InvalidArgument(f"{where} speaks DataTransfer version {version}, this side {VERSION}")
    try:
        op = Op(op)
    except ValueError:
        raise errors.InvalidArgument(f"{where} asked for unknown DataTransfer op {op}") from None
    raw = recv_exactly(sock, _body_length(length, f"{op.name} request", where), where)
    try:
        body = BODIES[op].FromString(raw)
    except DecodeError as e:
        raise errors.InvalidArgument(f"{where} sent a malformed {op.name} request: {e}") from None
    limits.check_request(body, where)     # the same field limits as every gRPC request
    return op, bpc, body


def encode_error(error: errors.HfedError) -> bytes:
    return f"{error.kind}\n{error.message}".encode()


def decode_error(raw: bytes, where: str) -> errors.HfedError:
    kind, _, message = raw.decode(errors="replace").partition("\n")
    error = errors.from_kind(kind, message)
    if where not in message:
        error = type(error)(f"{message} [{where}]")
    return error


def send_reply(sock: socket.socket, body=None, error: errors.HfedError | None = None) -> None:
    raw = encode_error(error) if error is not None else (body.SerializeToString() if body is not None else b"")
    sock.sendall(REPLY.pack(ERROR if error is not None else OK, len(raw)) + raw)


def recv_reply(sock: socket.socket, where: str, message_class=None):
    """The OK reply's body (parsed as ``message_class`` when given); an ERROR reply is raised."""
    status, length = REPLY.unpack(recv_exactly(sock, REPLY.size, where))
    raw = recv_exactly(sock, _body_length(length, "reply", where), where)
    if status != OK:
        raise decode_error(raw, where)
    if message_class is None:
        return raw
    try:
        return message_class.FromString(raw)
    except DecodeError as e:
        raise errors.InvalidArgument(f"{where} sent a malformed reply: {e}") from None


def send_ack(sock: socket.socket, ack: pb.WriteAck) -> None:
    raw = ack.SerializeToString()
    sock.sendall(ACK.pack(len(raw)) + raw)


def recv_ack(sock: socket.socket, where: str) -> pb.WriteAck:
    (length,) = ACK.unpack(recv_exactly(sock, ACK.size, where))
    try:
        return pb.WriteAck.FromString(recv_exactly(sock, _body_length(length, "ack", where), where))
    except DecodeError as e:
        raise errors.InvalidArgument(f"{where} sent a malformed ack: {e}") from None


def send_packet(sock: socket.socket, seqno: int, offset: int, data, crcs, last: bool) -> None:
    """One packet: header and checksums in one send, then the data (no copy of it)."""
    sock.sendall(PACKET.pack(LAST if last else 0, seqno, offset, len(data)) + bytes(crcs))
    if len(data):
        sock.sendall(data)


def send_failed_packet(sock: socket.socket, error: errors.HfedError) -> None:
    raw = encode_error(error)
    sock.sendall(PACKET.pack(FAILED | LAST, 0, 0, len(raw)) + raw)


class PacketReader:
    """Receives packets into reused buffers: ``next()`` returns (seqno, offset, data
    view, crcs view, last). With ``buffers`` = n, packet i lands in buffer i % n, so
    its views stay valid while the next n - 1 packets arrive (a consumer working
    behind the receiver bounds itself to that). Buffers grow to the largest packet
    seen (at most ``packet_size``): fresh memory is costly, small streams stay small."""

    def __init__(self, sock: socket.socket, where: str, packet_size: int = PACKET_SIZE,
                 bytes_per_checksum: int = checksum.BYTES_PER_CHECKSUM, buffers: int = 1):
        self.sock = sock
        self.where = where
        self.packet_size = packet_size
        self.bytes_per_checksum = bytes_per_checksum
        self._head = memoryview(bytearray(PACKET.size))
        self._data = [memoryview(bytearray())] * buffers
        self._crcs = [memoryview(bytearray())] * buffers
        self._turn = 0

    def next(self) -> tuple[int, int, memoryview, memoryview, bool]:
        recv_into_exactly(self.sock, self._head, self.where)
        flags, seqno, offset, length = PACKET.unpack(self._head)
        if flags & FAILED:
            raise decode_error(recv_exactly(self.sock, _body_length(length, "error", self.where), self.where),
                               self.where)
        if length > self.packet_size:
            raise errors.InvalidArgument(f"{self.where} sent a packet of {length} bytes "
                                         f"(limit {self.packet_size})")
        turn = self._turn
        self._turn = (turn + 1) % len(self._data)
        if len(self._data[turn]) < length:
            # Anonymous mmap: page aligned, so a DataNode can write the packet with O_DIRECT.
            self._data[turn] = memoryview(mmap.mmap(-1, length))
            self._crcs[turn] = memoryview(bytearray(crc_bytes(length, self.bytes_per_checksum)))
        crcs = self._crcs[turn][:crc_bytes(length, self.bytes_per_checksum)]
        data = self._data[turn][:length]
        recv_into_exactly(self.sock, crcs, self.where)
        recv_into_exactly(self.sock, data, self.where)
        return seqno, offset, data, crcs, bool(flags & LAST)


# ------------------------------------------------------------------ connections

CONNECT_TIMEOUT = 10.0
IO_TIMEOUT = 120.0      # no byte moving for this long: the peer is stuck
IDLE_SECONDS = 30.0     # a pooled connection unused this long is closed, not reused


def split_address(address: str) -> tuple[str, int]:
    """("host", port) of "host:port" (an IPv6 host may be bracketed)."""
    host, _, port = address.rpartition(":")
    if not port.isdigit() or int(port) > 65535:
        raise errors.InvalidArgument(f"{address[:300]!r} is not a host:port address")
    return host.strip("[]"), int(port)


def accepts_connections(address: str, timeout: float) -> bool:
    """Whether something listens at "host:port" (a TCP connect, closed at once): a cheap
    is-it-still-there probe of a server whose protocol need not be spoken."""
    try:
        host, port = split_address(address)
        socket.create_connection((host, port), timeout=timeout).close()
        return True
    except OSError:      # refused, unreachable, timed out; InvalidArgument (a bad address) too
        return False


def connect(address: str, timeout: float = IO_TIMEOUT, ssl_context: ssl.SSLContext | None = None) -> socket.socket:
    """A connection to the DataNode at ``address``; with ``ssl_context``, a TLS one (a
    tls.TlsStream, which the functions here use as they use a socket) whose certificate
    must name the host dialled."""
    host, port = split_address(address)
    sock = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if ssl_context is not None:
        try:
            sock = tls.TlsStream.client(sock, ssl_context, host)
        except BaseException:
            sock.close()
            raise
    sock.settimeout(timeout)
    return sock


class Connections:
    """Idle connections to DataNodes kept for the next operation (at most ``per_address``
    each): an operation that ran to its end gives its socket back with ``release``.
    ``ssl_context`` (tls.context_for(cfg)): every connection of the pool is TLS."""

    def __init__(self, per_address: int = 4, ssl_context: ssl.SSLContext | None = None):
        self.per_address = per_address
        self.ssl_context = ssl_context
        self._idle: dict[str, list[tuple[float, socket.socket]]] = {}
        self._lock = threading.Lock()

    def take(self, address: str) -> tuple[socket.socket, bool]:
        """(socket, reused): an idle one if there is a fresh one, else a new connection."""
        now = time.monotonic()
        with self._lock:
            idle = self._idle.get(address, [])
            while idle:
                since, sock = idle.pop()
                if now - since < IDLE_SECONDS:
                    return sock, True
                sock.close()
        return self.connect(address), False

    def connect(self, address: str, timeout: float = IO_TIMEOUT) -> socket.socket:
        """A new connection (not pooled) made as the pool makes its own."""
        return connect(address, timeout, self.ssl_context)

    def release(self, address: str, sock: socket.socket) -> None:
        sock.settimeout(IO_TIMEOUT)
        with self._lock:
            idle = self._idle.setdefault(address, [])
            if len(idle) < self.per_address:
                idle.append((time.monotonic(), sock))
                return
        sock.close()

    def close(self) -> None:
        with self._lock:
            for idle in self._idle.values():
                for _, sock in idle:
                    sock.close()
            self._idle.clear()


def request(pool: Connections, address: str, op: Op, body, where: str, receive, timeout: float = IO_TIMEOUT):
    """Send a request and take its first answer with ``receive(sock, where)`` (a reply or,
    for a WRITE, the setup ack): (socket, answer). A pooled connection the DataNode
    closed meanwhile is replaced once by a new one; other failures raise hfed errors."""
    for attempt in range(2):
        try:
            sock, reused = pool.take(address)
        except OSError as e:
            raise errors.Unavailable(f"{where} is unavailable: {e}") from None
        try:
            sock.settimeout(timeout)
            send_request(sock, op, body)
            return sock, receive(sock, where)
        except OSError as e:   # hfed errors included
            sock.close()
            stale = reused and attempt == 0 and (isinstance(e, errors.Unavailable)
                                                  or not isinstance(e, errors.HfedError))
            if stale:
                continue
            if isinstance(e, errors.HfedError):
                raise
            raise errors.Unavailable(f"{where} is unavailable: {e}") from None
    raise AssertionError("unreachable")


# ------------------------------------------------------------------ operations

def read_block(pool: Connections, address: str, block: pb.Block, start: int, end: int,
               where: str, token: str = "") -> Iterator[bytes]:
    """Bytes [start, end) of the replica at ``address``, in pieces, each packet's CRC32Cs
    checked first. ChecksumError for a corrupt replica; BlockMissing when the stream
    does not continue where it stopped; other errors as the DataNode sent them
    (AccessDenied without a valid READ ``token`` for the block)."""
    sock, _ = request(pool, address, Op.READ,
                      pb.ReadBlockRequest(block=block, offset=start, length=end - start, token=token),
                      where, recv_reply)
    reader = PacketReader(sock, where)
    pos, clean = start, False
    try:
        while True:
            _, offset, data, crcs, last = reader.next()
            checksum.verify(data, crcs, offset, where)
            if len(data) and (offset > pos or offset + len(data) <= pos):
                raise errors.BlockMissing(f"{where}: packet at offset {offset} does not continue at {pos}")
            if len(data):
                piece = data[pos - offset:end - offset]
                pos += len(piece)
                yield bytes(piece)
            if last:
                clean = True
                break
        if pos < end:
            raise errors.BlockMissing(f"{where}: stream ended at {pos}, expected {end}")
    except errors.HfedError:
        raise
    except OSError as e:   # a timeout or reset: the DataNode, not the replica
        raise errors.Unavailable(f"{where}: {e}") from None
    finally:
        if clean:
            pool.release(address, sock)
        else:
            sock.close()   # a stream abandoned mid-way cannot carry another request


def short_circuit(pool: Connections, address: str, block: pb.Block, client_host: str, where: str,
                  timeout: float = IO_TIMEOUT, token: str = "") -> pb.ShortCircuitResponse:
    sock, reply = request(pool, address, Op.SHORT_CIRCUIT,
                          pb.ShortCircuitRequest(block=block, client_host=client_host, token=token),
                          where, lambda s, w: recv_reply(s, w, pb.ShortCircuitResponse), timeout)
    pool.release(address, sock)
    return reply


def block_checksum(pool: Connections, address: str, block: pb.Block, length: int, where: str,
                   token: str = "", timeout: float = IO_TIMEOUT) -> pb.BlockChecksumResponse:
    """CRC32C of the first ``length`` bytes of the replica at ``address`` (0: all of it),
    folded by the DataNode from its stored chunk CRCs: no block data crosses the wire."""
    sock, reply = request(pool, address, Op.BLOCK_CHECKSUM,
                          pb.BlockChecksumRequest(block=block, length=length, token=token),
                          where, lambda s, w: recv_reply(s, w, pb.BlockChecksumResponse), timeout)
    pool.release(address, sock)
    return reply
