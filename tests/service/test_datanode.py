"""DataNode processes serving DataTransfer (framed TCP) while their NameNode is unreachable.

The config names a nameservice address where nothing listens: each DataNode keeps
retrying registration, and its DataTransfer server serves all the same (the
write path's incremental report is best-effort), so reads, pipelined writes,
short-circuit grants and errors are tested against real processes.
"""
from __future__ import annotations

import asyncio
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import pytest

from datanode.storage import BlockStorage
from datanode.transfer import send_replica
from protos import checksum, config, errors
from protos import datatransfer as dt
from protos import hfed_pb2 as pb
from protos.pipeline import PipelineFailed, PipelineStream

REPO = Path(__file__).resolve().parents[2]
POOL = "BP-ns-a-1"
MiB = 1 << 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DatanodeProcess:
    def __init__(self, cluster, label: str):
        self.cluster = cluster
        self.label = label
        self.data_dir = cluster.root / label
        self.log_path = cluster.root / f"{label}.log"
        self.proc: subprocess.Popen | None = None
        self.address = ""

    def start(self) -> "DatanodeProcess":
        ready = self.cluster.root / f"{self.label}.transfer"
        ready.unlink(missing_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "datanode.server", "--conf", str(self.cluster.conf), "--host-label", self.label,
                 "--address-file", str(self.cluster.root / f"{self.label}.addr"),
                 "--transfer-address-file", str(ready)],
                cwd=REPO, stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 20
        while not ready.exists():
            assert self.proc.poll() is None, f"DataNode {self.label} exited:\n{self.log()}"
            assert time.monotonic() < deadline, f"DataNode {self.label} did not serve:\n{self.log()}"
            time.sleep(0.05)
        self.address = ready.read_text()
        return self

    def stop(self) -> int:
        if self.proc is None:
            return 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"DataNode {self.label} ignored SIGTERM:\n{self.log()}")
        finally:
            self.proc = None
        return code

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind (a crash, a pulled plug)."""
        self.proc.kill()
        self.proc.wait()
        self.proc = None

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    @property
    def uuid(self) -> str:
        # Read VERSION, not BlockStorage(data_dir): opening a storage recovers rbw/,
        # which would move the files of a write still in progress.
        return json.loads((self.data_dir / "VERSION").read_text())["uuid"]

    def id(self) -> pb.DatanodeId:
        return pb.DatanodeId(uuid=self.uuid, host_label=self.label, transfer_address=self.address)

    def connect(self, timeout: float = 30.0) -> socket.socket:
        """A new DataTransfer connection to this DataNode."""
        return dt.connect(self.address, timeout)

    def where(self) -> str:
        return f"DataNode {self.label} at {self.address}"


class Cluster:
    def __init__(self, root: Path):
        self.root = root
        self.conf = root / "hfed.toml"
        self.dead_namenode = f"127.0.0.1:{free_port()}"
        raw = {"cluster_id": "CID-test", "heartbeat_interval": 0.2, "security": {"auth": "simple", "tls": False},
               "nameservices": {"ns-a": {"address": self.dead_namenode}},
               "datanodes": {label: {"data_dir": str(root / label)} for label in ("host-1", "host-2")}}
        self.conf.write_text(config.dump(config.from_dict(raw)))
        self.nodes = {label: DatanodeProcess(self, label) for label in ("host-1", "host-2")}

    def close(self):
        codes = {label: node.stop() for label, node in self.nodes.items()}
        assert all(code == 0 for code in codes.values()), codes


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path)
    for node in c.nodes.values():
        node.start()
    yield c
    c.close()


def block(block_id: int, gs: int = 1) -> pb.Block:
    return pb.Block(pool_id=POOL, block_id=block_id, generation_stamp=gs)


def pieces(data: bytes, packet_size: int = MiB) -> list[tuple[int, bytes]]:
    """(offset, data) of each packet of a block; an empty block is one empty packet."""
    return [(offset, data[offset:offset + packet_size]) for offset in range(0, len(data), packet_size)] or [(0, b"")]


# ---------------------------------------------------------------- writing

def write(node: DatanodeProcess, blk: pb.Block, data: bytes, targets=(), packet_size: int = MiB,
          keep_partial: bool = False, token: str = "") -> int:
    """Write a block as clients and DataNodes do (PipelineStream); returns once every
    DataNode of the pipeline acknowledged the last packet. PipelineFailed names the
    failing DataNode."""
    pool = dt.Connections()
    try:
        stream = PipelineStream(pool, blk, [node.id(), *targets], "test-client", f"test write of blk_{blk.block_id}",
                                keep_partial=keep_partial, token=token)
        try:
            chunks = pieces(data, packet_size)
            for i, (offset, piece) in enumerate(chunks):
                stream.send(offset, piece, checksum.compute(piece), last=i == len(chunks) - 1)
            stream.finish()
        except BaseException:
            stream.abort()
            raise
    finally:
        pool.close()
    return len(data)


class OpenWrite:
    """One WRITE stream driven packet by packet at the wire level, to see every ack
    (the setup ack, seqno -1, is ``setup``) and to misbehave on purpose."""

    def __init__(self, node: DatanodeProcess, blk: pb.Block, keep_partial: bool = False, targets=(),
                 bytes_per_checksum: int = checksum.BYTES_PER_CHECKSUM, token: str = ""):
        self.node = node
        self.where = f"test writer of blk_{blk.block_id} to {node.where()}"
        self.sock = node.connect()
        dt.send_request(self.sock, dt.Op.WRITE,
                        pb.WriteHeader(block=blk, targets=list(targets), client_name="test-client",
                                       keep_partial=keep_partial, token=token), bytes_per_checksum)
        self.setup = dt.recv_ack(self.sock, self.where)

    @property
    def ready(self) -> bool:
        return all(s.ok for s in self.setup.statuses)

    def send(self, seqno: int, offset: int, data: bytes, last: bool = False, crcs: bytes | None = None) -> None:
        dt.send_packet(self.sock, seqno, offset, data, checksum.compute(data) if crcs is None else crcs, last)

    def send_raw(self, raw: bytes) -> None:
        self.sock.sendall(raw)

    def next_ack(self) -> pb.WriteAck:
        return dt.recv_ack(self.sock, self.where)

    def wait_ack(self, seqno: int) -> pb.WriteAck:
        ack = self.next_ack()
        assert ack.seqno == seqno and all(s.ok for s in ack.statuses), ack
        return ack

    def closed_by_datanode(self, timeout: float = 30.0) -> bool:
        """True once the DataNode hung up without sending anything more."""
        return hung_up(self.sock, timeout)

    def close(self) -> None:
        """The writer stops sending and hangs up (the stream ends before any LAST packet
        not yet sent). Harmless when the DataNode is gone."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    cancel = close   # the writer goes away mid-block, as a crashed client does


def write_acks(node: DatanodeProcess, blk: pb.Block, data: bytes, targets=(), packet_size: int = MiB,
               corrupt_seqno: int | None = None) -> list[pb.WriteAck]:
    """Every ack of a WRITE, the setup ack first; packets go one at a time, each after
    the previous one's ack, and the stream stops at the first not-ok ack."""
    stream = OpenWrite(node, blk, targets=targets)
    acks = [stream.setup]
    try:
        chunks = pieces(data, packet_size)
        for seqno, (offset, piece) in enumerate(chunks):
            if not all(s.ok for s in acks[-1].statuses):
                break
            crcs = checksum.compute(piece)
            if seqno == corrupt_seqno:
                crcs = bytes([crcs[0] ^ 1]) + crcs[1:]
            stream.send(seqno, offset, piece, last=seqno == len(chunks) - 1, crcs=crcs)
            acks.append(stream.next_ack())
    finally:
        stream.close()
    return acks


# ---------------------------------------------------------------- reading

class Packet(NamedTuple):
    offset: int
    data: bytes
    checksums: bytes


def read(node: DatanodeProcess, blk: pb.Block, offset=0, length=0, token: str = "") -> list[Packet]:
    """The packets a READ sends, as sent (nothing checked): errors the DataNode answers
    with are raised as the hfed errors they name."""
    where = f"test reader of blk_{blk.block_id} from {node.where()}"
    with node.connect() as sock:
        dt.send_request(sock, dt.Op.READ, pb.ReadBlockRequest(block=blk, offset=offset, length=length, token=token))
        dt.recv_reply(sock, where)
        reader = dt.PacketReader(sock, where)
        got = []
        while True:
            _, at, data, crcs, last = reader.next()
            got.append(Packet(at, bytes(data), bytes(crcs)))
            if last:
                return got


def verified_bytes(packets: list[Packet], where="test") -> tuple[int, bytes]:
    """(offset of the first packet, data) after checking every packet's checksums and
    that each continues where the one before stopped."""
    pos = packets[0].offset if packets else 0
    for packet in packets:
        checksum.verify(packet.data, packet.checksums, packet.offset, where)
        assert packet.offset == pos, f"packet at {packet.offset}, expected {pos}"
        pos += len(packet.data)
    return (packets[0].offset if packets else 0), b"".join(p.data for p in packets)


def read_range(node: DatanodeProcess, blk: pb.Block, start: int, end: int) -> bytes:
    """Bytes [start, end) as a client reads them (protos.datatransfer.read_block)."""
    pool = dt.Connections()
    try:
        return b"".join(dt.read_block(pool, node.address, blk, start, end, f"test read from {node.where()}"))
    finally:
        pool.close()


def short_circuit(node: DatanodeProcess, blk: pb.Block, client_host: str | None = None) -> pb.ShortCircuitResponse:
    pool = dt.Connections()
    try:
        return dt.short_circuit(pool, node.address, blk, node.label if client_host is None else client_host,
                                f"test short-circuit from {node.where()}", timeout=30)
    finally:
        pool.close()


def rbw_files(node: DatanodeProcess) -> list[str]:
    return sorted(os.listdir(node.data_dir / POOL / "rbw"))


def finalized_files(node: DatanodeProcess) -> list[str]:
    return sorted(os.listdir(node.data_dir / POOL / "finalized"))


def wait_until(predicate, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def assert_gone(node: DatanodeProcess, blk: pb.Block) -> None:
    """No replica of ``blk`` on ``node``: not being written, not finalized, not readable."""
    wait_until(lambda: not any(f.startswith(f"blk_{blk.block_id}") for f in rbw_files(node)),
               f"blk_{blk.block_id}'s files to leave rbw/ on {node.label}")
    assert not any(f == f"blk_{blk.block_id}" or f.startswith(f"blk_{blk.block_id}_") for f in finalized_files(node))
    with pytest.raises(errors.BlockMissing):
        read(node, blk)


SERVING = iter(range(10_000, 20_000))


def assert_serving(node: DatanodeProcess) -> None:
    """The DataNode takes a new write and serves it back (on fresh connections)."""
    assert node.proc is not None and node.proc.poll() is None, node.log()
    blk, data = block(next(SERVING)), os.urandom(5000)
    write(node, blk, data)
    assert verified_bytes(read(node, blk)) == (0, data)


# ---------------------------------------------------------------- tests


def test_pipeline_write_then_read_from_every_replica(cluster):
    dn1, dn2 = cluster.nodes["host-1"], cluster.nodes["host-2"]
    data = os.urandom(2 * MiB + 100)
    acks = write_acks(dn1, block(1), data, targets=[dn2.id()])
    assert [a.seqno for a in acks] == [-1, 0, 1, 2]   # the setup ack, then one per packet
    for ack in acks:
        assert [(s.uuid, s.ok) for s in ack.statuses] == [(dn1.uuid, True), (dn2.uuid, True)], ack
    for node in (dn1, dn2):
        offset, got = verified_bytes(read(node, block(1)))
        assert offset == 0 and got == data
        assert read_range(node, block(1), 0, len(data)) == data
        assert finalized_files(node) == ["blk_1", "blk_1_1.meta"]
        assert not rbw_files(node)
    # With nothing listening at the NameNode's address the write still completed.
    assert "registration with NameNode of nameservice ns-a" in dn1.log()
    assert "report of blk_1_1" in dn1.log() or "will be in its first full report" in dn1.log()
    assert all("datanode[host-1]" in line for line in dn1.log().splitlines() if line and line[0].isdigit())

    # The client's way (PipelineStream, pooled connections) writes the same replicas.
    data = os.urandom(5 * MiB + 3)   # more than one 4 MiB wire packet per read
    write(dn2, block(13), data, targets=[dn1.id()], packet_size=dt.PACKET_SIZE)
    for node in (dn1, dn2):
        packets = read(node, block(13))
        assert [len(p.data) for p in packets] == [dt.PACKET_SIZE, len(data) - dt.PACKET_SIZE]
        assert verified_bytes(packets) == (0, data)


def test_empty_block_and_single_packet(cluster):
    dn1 = cluster.nodes["host-1"]
    acks = write_acks(dn1, block(2), b"")
    assert [(a.seqno, a.statuses[0].ok) for a in acks] == [(-1, True), (0, True)]
    assert read(dn1, block(2)) == [(0, b"", b"")]   # one empty LAST packet
    assert read_range(dn1, block(2), 0, 0) == b""
    write(dn1, block(3), b"abc")
    assert verified_bytes(read(dn1, block(3))) == (0, b"abc")


def test_read_range_from_unaligned_offset(cluster):
    dn1 = cluster.nodes["host-1"]
    data = os.urandom(MiB + 5000)
    write(dn1, block(4), data, packet_size=64 * 1024)
    offset, got = verified_bytes(read(dn1, block(4), offset=1000, length=3000))
    assert offset == 512  # aligned down to the chunk
    assert got[1000 - 512:1000 - 512 + 3000] == data[1000:4000]
    assert len(got) == 4096 - 512  # whole chunks only
    assert read_range(dn1, block(4), 1000, 4000) == data[1000:4000]   # the client drops the head and tail
    # A range over the packet boundary, ending at the block's short last chunk.
    offset, got = verified_bytes(read(dn1, block(4), offset=MiB - 10, length=10_000))
    assert offset == MiB - 512 and got == data[MiB - 512:]
    assert read_range(dn1, block(4), MiB - 10, len(data)) == data[MiB - 10:]
    packets = read(dn1, block(4))
    sizes = [len(p.data) for p in packets]
    assert sum(sizes) == MiB + 5000 and all(n == dt.PACKET_SIZE for n in sizes[:-1])


def test_every_datanode_verifies_checksums(cluster):
    dn1, dn2 = cluster.nodes["host-1"], cluster.nodes["host-2"]
    acks = write_acks(dn1, block(5), os.urandom(MiB + 10), targets=[dn2.id()], corrupt_seqno=1)
    assert all(s.ok for s in acks[1].statuses)
    bad = acks[-1]
    assert bad.seqno == 1
    assert not bad.statuses[0].ok and bad.statuses[0].uuid == dn1.uuid   # the first DataNode caught it
    assert "checksum mismatch" in bad.statuses[0].message and "host-1" in bad.statuses[0].message
    assert f"offset {MiB}" in bad.statuses[0].message
    # No half-written replica stays behind. The downstream node learns of the
    # failure when its upstream connection closes, so its clean-up may lag the ack.
    for node in (dn1, dn2):
        assert_gone(node, block(5))
        assert_serving(node)


def test_unreachable_downstream_is_named_in_the_ack(cluster):
    dn1 = cluster.nodes["host-1"]
    dead = pb.DatanodeId(uuid="DN-dead", host_label="host-9", transfer_address=f"127.0.0.1:{free_port()}")
    acks = write_acks(dn1, block(6), os.urandom(3000), targets=[dead])
    assert len(acks) == 1 and acks[0].seqno == -1   # refused at set-up: no data flowed
    statuses = acks[0].statuses
    assert [(s.uuid, s.ok) for s in statuses] == [(dn1.uuid, True), ("DN-dead", False)]
    assert "host-9" in statuses[1].message
    assert_gone(dn1, block(6))
    # A client's pipeline fails naming the DataNode to leave out next time.
    with pytest.raises(PipelineFailed, match="host-9") as info:
        write(dn1, block(6), b"x", targets=[dead])
    assert info.value.failed_uuid == "DN-dead"
    assert_gone(dn1, block(6))


def test_refused_writes_are_acked_not_ok(cluster):
    dn1 = cluster.nodes["host-1"]
    write(dn1, block(7), b"x" * 100)
    for gs in (1, 0):   # an equal or older generation than the finalized replica
        acks = write_acks(dn1, block(7, gs), b"y" * 100)
        assert len(acks) == 1 and acks[0].seqno == -1
        assert not acks[0].statuses[0].ok and "already has a finalized replica" in acks[0].statuses[0].message
        assert "blk_7" in acks[0].statuses[0].message and "host-1" in acks[0].statuses[0].message
    with pytest.raises(PipelineFailed, match="already has a finalized replica") as info:
        write(dn1, block(7), b"y" * 100)
    assert info.value.failed_uuid == dn1.uuid
    bad_pool = pb.Block(pool_id="../../etc", block_id=1, generation_stamp=1)
    acks = write_acks(dn1, bad_pool, b"y")
    assert "invalid block pool id" in acks[0].statuses[0].message
    # The refused writes changed nothing.
    assert verified_bytes(read(dn1, block(7))) == (0, b"x" * 100)
    assert finalized_files(dn1) == ["blk_7", "blk_7_1.meta"] and not rbw_files(dn1)


def test_corrupt_replica_is_refused_for_short_circuit_and_detected_by_readers(cluster):
    dn1, dn2 = cluster.nodes["host-1"], cluster.nodes["host-2"]
    data = os.urandom(100_000)
    write(dn1, block(8), data, targets=[dn2.id()])
    grant = short_circuit(dn2, block(8))
    assert grant.length == len(data)
    assert open(grant.block_path, "rb").read() == data
    assert grant.meta_path.endswith("blk_8_1.meta")

    with open(grant.block_path, "r+b") as f:
        f.seek(70_000)
        f.write(bytes([data[70_000] ^ 0x55]))
    with pytest.raises(errors.ChecksumError) as info:
        short_circuit(dn2, block(8))
    assert "offset 69632" in str(info.value) and "host-2" in str(info.value)
    with pytest.raises(errors.ChecksumError, match="offset 69632"):
        verified_bytes(read(dn2, block(8)))
    with pytest.raises(errors.ChecksumError, match="offset 69632"):
        read_range(dn2, block(8), 0, len(data))   # the client checks what it streams
    assert verified_bytes(read(dn1, block(8))) == (0, data)  # the other replica is fine
    assert "corrupt replica blk_8_1" in dn2.log()


def test_errors_name_the_block_and_host(cluster):
    dn1 = cluster.nodes["host-1"]
    write(dn1, block(9), b"z" * 1000)
    with pytest.raises(errors.BlockMissing) as info:
        read(dn1, block(999))
    assert "blk_999_1" in str(info.value) and POOL in str(info.value) and "host-1" in str(info.value)
    with pytest.raises(errors.BlockMissing) as info:   # a generation stamp it does not hold
        read(dn1, block(9, gs=2))
    assert "blk_9_2" in str(info.value) and "host-1" in str(info.value) and "generation stamp" not in str(info.value)
    with pytest.raises(errors.BlockMissing, match="blk_9_2"):
        read_range(dn1, block(9, gs=2), 0, 1000)

    with pytest.raises(errors.InvalidArgument, match="past the end") as info:
        read(dn1, block(9), offset=1001)
    assert "host-1" in str(info.value)
    assert verified_bytes(read(dn1, block(9), offset=1000)) == (512, b"z" * 488)  # the client drops the head

    with pytest.raises(errors.AccessDenied) as info:
        short_circuit(dn1, block(9), client_host="host-2")
    assert isinstance(info.value, PermissionError)
    assert "host-2" in str(info.value) and "host-1" in str(info.value)
    with pytest.raises(errors.BlockMissing, match="blk_999_1"):
        short_circuit(dn1, block(999))


def request_frame(op=dt.Op.READ, body: bytes = b"", magic=dt.MAGIC, version=dt.VERSION, bpc=512,
                  length: int | None = None) -> bytes:
    return dt.REQUEST.pack(magic, version, op, bpc, len(body) if length is None else length) + body


def refusal(node: DatanodeProcess, raw: bytes) -> errors.HfedError:
    """Send ``raw`` on a new connection; the error the DataNode's ERROR reply carries
    (the DataNode then hangs up)."""
    with node.connect() as sock:
        sock.sendall(raw)
        with pytest.raises(errors.HfedError) as info:
            dt.recv_reply(sock, f"test connection to {node.where()}")
        assert hung_up(sock)
    return info.value


def hung_up(sock: socket.socket, timeout: float = 30.0) -> bool:
    """True once the peer closed the connection (EOF, or a reset when it left bytes of
    ours unread) without sending anything more."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def test_garbled_requests_get_a_clean_error_and_the_server_stays_up(cluster):
    dn1 = cluster.nodes["host-1"]
    write(dn1, block(10), b"still here")
    read_body = pb.ReadBlockRequest(block=block(10)).SerializeToString()
    cases = {
        "not a DataTransfer request": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        "version 9": request_frame(body=read_body, version=9),
        "unknown DataTransfer op 77": request_frame(op=77, body=read_body),
        f"limit {dt.MAX_BODY}": request_frame(length=dt.MAX_BODY + 1),
        "malformed READ request": request_frame(body=b"\xff\xff\xff\xff\x0f"),
        "malformed WRITE request": request_frame(op=dt.Op.WRITE, body=b"\x0a\xff\xff"),
        "malformed SHORT_CIRCUIT request": request_frame(op=dt.Op.SHORT_CIRCUIT, body=b"\x0a\x05\x0a"),
    }
    for expected, raw in cases.items():
        error = refusal(dn1, raw)
        assert isinstance(error, errors.InvalidArgument), (expected, error)
        assert expected in str(error) and "host-1" in str(error), (expected, error)
    # A huge body length is refused without waiting for (or allocating) the body.
    with dn1.connect(timeout=5) as sock:
        sock.sendall(request_frame(length=0xFFFFFFFF))
        with pytest.raises(errors.InvalidArgument, match="limit"):
            dt.recv_reply(sock, "test")
    # A WRITE of another bytes-per-checksum than the DataNode stores is refused at set-up.
    stream = OpenWrite(dn1, block(11), bytes_per_checksum=4096)
    assert not stream.ready and "4096 bytes per checksum" in stream.setup.statuses[0].message
    assert stream.closed_by_datanode()
    stream.close()
    assert not rbw_files(dn1)
    assert verified_bytes(read(dn1, block(10))) == (0, b"still here")
    assert_serving(dn1)
    assert "not a DataTransfer request" in dn1.log()


def test_one_connection_carries_requests_one_after_another(cluster):
    """After a READ's LAST packet, a SHORT_CIRCUIT reply or a WRITE's last ack the
    connection takes the next request (how pooled connections are reused)."""
    dn1 = cluster.nodes["host-1"]
    data = os.urandom(3000)
    write(dn1, block(14), data)
    with dn1.connect() as sock:
        for request in range(2):
            dt.send_request(sock, dt.Op.READ, pb.ReadBlockRequest(block=block(14)))
            dt.recv_reply(sock, "test")
            _, offset, got, crcs, last = dt.PacketReader(sock, "test").next()
            assert (offset, bytes(got), last) == (0, data, True)
            dt.send_request(sock, dt.Op.SHORT_CIRCUIT, pb.ShortCircuitRequest(block=block(14), client_host="host-1"))
            assert dt.recv_reply(sock, "test", pb.ShortCircuitResponse).length == len(data)
            dt.send_request(sock, dt.Op.WRITE, pb.WriteHeader(block=block(15 + request), client_name="test"))
            assert dt.recv_ack(sock, "test").statuses[0].ok
            dt.send_packet(sock, 0, 0, data, checksum.compute(data), last=True)
            assert dt.recv_ack(sock, "test").seqno == 0
            # An error reply leaves the connection usable too.
            dt.send_request(sock, dt.Op.READ, pb.ReadBlockRequest(block=block(999)))
            with pytest.raises(errors.BlockMissing):
                dt.recv_reply(sock, "test")
    assert verified_bytes(read(dn1, block(16))) == (0, data)


def test_restart_keeps_finalized_blocks_and_uuid(cluster):
    dn1 = cluster.nodes["host-1"]
    data = os.urandom(MiB + 1)
    write(dn1, block(11), data)
    uuid = dn1.uuid
    assert dn1.stop() == 0
    assert "stopped" in dn1.log()
    dn1.start()
    assert dn1.uuid == uuid
    assert verified_bytes(read(dn1, block(11))) == (0, data)
    assert "1 finalized replicas" in dn1.log()


def test_replication_streams_a_replica_down_a_pipeline(cluster, tmp_path):
    """The TransferCommand path (send_replica) from a local storage to two live DataNodes."""
    dn1, dn2 = cluster.nodes["host-1"], cluster.nodes["host-2"]
    source = BlockStorage(str(tmp_path / "source"), "host-src")
    data = os.urandom(2 * MiB + 7)

    async def finalized():
        rbw = source.create_rbw(POOL, 12, 3)
        crcs = checksum.compute(data)
        rbw.check_packet(0, data, crcs)
        rbw.write(data, crcs)
        return await source.finalize(rbw)

    replica = asyncio.run(finalized())
    peers = dt.Connections()
    try:
        send_replica(peers, "host-src", replica, [dn1.id(), dn2.id()], "test-replication")
        with pytest.raises(PipelineFailed, match="already has a finalized replica") as info:
            send_replica(peers, "host-src", replica, [dn2.id()], "test-replication")
        assert info.value.failed_uuid == dn2.uuid
    finally:
        peers.close()
    for node in (dn1, dn2):
        assert verified_bytes(read(node, block(12, gs=3))) == (0, data)
