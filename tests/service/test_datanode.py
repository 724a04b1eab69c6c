"""DataNode processes serving DataTransfer while their NameNode is unreachable.

The config names a nameservice address where nothing listens: each DataNode keeps
retrying registration, and its DataTransfer service serves all the same (the
write path's incremental report is best-effort), so reads, pipelined writes,
short-circuit grants and errors are tested against real processes.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest

from datanode.storage import BlockStorage
from datanode.peers import ChannelCache
from datanode.transfer import send_replica
from protos import checksum, config, errors, rpc, rpc_errors
from protos import hfed_pb2 as pb
from protos import hfed_pb2_grpc as pb_grpc

REPO = Path(__file__).resolve().parents[2]
POOL = "BP-ns-a-1"
MiB = 1 << 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DatanodeProcess:
    def __init__(self, cluster: "Cluster", label: str):
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

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    @property
    def uuid(self) -> str:
        # Read VERSION, not BlockStorage(data_dir): opening a storage recovers rbw/,
        # which would move the files of a write still in progress.
        return json.loads((self.data_dir / "VERSION").read_text())["uuid"]

    def id(self) -> pb.DatanodeId:
        return pb.DatanodeId(uuid=self.uuid, host_label=self.label, transfer_address=self.address)

    def stub(self) -> pb_grpc.DataTransferStub:
        channel = grpc.insecure_channel(self.address, options=rpc.OPTIONS)
        self.cluster.channels.append(channel)
        return pb_grpc.DataTransferStub(channel)


class Cluster:
    def __init__(self, root: Path):
        self.root = root
        self.conf = root / "hfed.toml"
        self.dead_namenode = f"127.0.0.1:{free_port()}"
        raw = {"cluster_id": "CID-test", "heartbeat_interval": 0.2,
               "nameservices": {"ns-a": {"address": self.dead_namenode}},
               "datanodes": {label: {"data_dir": str(root / label)} for label in ("host-1", "host-2")}}
        self.conf.write_text(config.dump(config.from_dict(raw)))
        self.nodes = {label: DatanodeProcess(self, label) for label in ("host-1", "host-2")}
        self.channels: list[grpc.Channel] = []

    def close(self):
        for channel in self.channels:
            channel.close()
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


def packets(blk: pb.Block, data: bytes, targets=(), packet_size=MiB, corrupt_seqno=None):
    offsets = list(range(0, len(data), packet_size)) or [0]
    for seqno, offset in enumerate(offsets):
        piece = data[offset:offset + packet_size]
        crcs = checksum.compute(piece)
        if seqno == corrupt_seqno:
            crcs = bytes([crcs[0] ^ 1]) + crcs[1:]
        packet = pb.WritePacket(seqno=seqno, offset=offset, data=piece, checksums=crcs,
                                last=seqno == len(offsets) - 1)
        if seqno == 0:
            packet.header.block.CopyFrom(blk)
            packet.header.targets.extend(targets)
            packet.header.client_name = "test-client"
        yield packet


def write(node: DatanodeProcess, blk: pb.Block, data: bytes, targets=(), **kw) -> list[pb.WriteAck]:
    return list(node.stub().WriteBlock(packets(blk, data, targets, **kw), timeout=60,
                                       metadata=rpc.identity_metadata()))


def read(node: DatanodeProcess, blk: pb.Block, offset=0, length=0) -> list[pb.ReadBlockChunk]:
    return list(node.stub().ReadBlock(pb.ReadBlockRequest(block=blk, offset=offset, length=length), timeout=30))


def verified_bytes(chunks, where="test") -> tuple[int, bytes]:
    """(offset of the first chunk, data) after checking every chunk's checksums."""
    for chunk in chunks:
        assert chunk.bytes_per_checksum == 512
        actual = checksum.compute(chunk.data)
        if actual != chunk.checksums:
            raise errors.ChecksumError(f"checksum mismatch in {where} near offset {chunk.offset}")
    return (chunks[0].offset if chunks else 0), b"".join(c.data for c in chunks)


def rpc_error(call) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value


# ---------------------------------------------------------------- tests


def test_pipeline_write_then_read_from_every_replica(cluster):
    dn1, dn2 = cluster.nodes["host-1"], cluster.nodes["host-2"]
    data = os.urandom(2 * MiB + 100)
    acks = write(dn1, block(1), data, targets=[dn2.id()])
    assert [a.seqno for a in acks] == [0, 1, 2]
    for ack in acks:
        assert [(s.uuid, s.ok) for s in ack.statuses] == [(dn1.uuid, True), (dn2.uuid, True)], ack
    for node in (dn1, dn2):
        offset, got = verified_bytes(read(node, block(1)))
        assert offset == 0 and got == data
        finalized = node.data_dir / POOL / "finalized"
        assert sorted(os.listdir(finalized)) == ["blk_1", "blk_1_1.meta"]
        assert not os.listdir(node.data_dir / POOL / "rbw")
    # With nothing listening at the NameNode's address the write still completed.
    assert "registration with NameNode of nameservice ns-a" in dn1.log()
    assert "report of blk_1_1" in dn1.log() or "will be in its first full report" in dn1.log()
    assert all("datanode[host-1]" in line for line in dn1.log().splitlines() if line and line[0].isdigit())


def test_empty_block_and_single_packet(cluster):
    dn1 = cluster.nodes["host-1"]
    acks = write(dn1, block(2), b"")
    assert [(a.seqno, a.statuses[0].ok) for a in acks] == [(0, True)]
    assert read(dn1, block(2)) == []
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
    # A range over the packet boundary, ending at the block's short last chunk.
    offset, got = verified_bytes(read(dn1, block(4), offset=MiB - 10, length=10_000))
    assert offset == MiB - 512 and got == data[MiB - 512:]
    chunks = read(dn1, block(4))
    sizes = [len(c.data) for c in chunks]
    assert sum(sizes) == MiB + 5000 and all(n == rpc.PACKET_SIZE for n in sizes[:-1])


def test_every_datanode_verifies_checksums(cluster):
    dn1, dn2 = cluster.nodes["host-1"], cluster.nodes["host-2"]
    acks = write(dn1, block(5), os.urandom(MiB + 10), targets=[dn2.id()], corrupt_seqno=1)
    assert acks[0].statuses[0].ok
    bad = acks[-1]
    assert bad.seqno == 1
    assert not bad.statuses[0].ok and bad.statuses[0].uuid == dn1.uuid   # the first DataNode caught it
    assert "checksum mismatch" in bad.statuses[0].message and "host-1" in bad.statuses[0].message
    # No half-written replica stays behind. The downstream node learns of the
    # failure when its stream is cancelled, so its clean-up may lag the ack.
    deadline = time.time() + 5
    while any(os.listdir(n.data_dir / POOL / "rbw") for n in (dn1, dn2)) and time.time() < deadline:
        time.sleep(0.05)
    for node in (dn1, dn2):
        assert not os.listdir(node.data_dir / POOL / "rbw")
    with pytest.raises(grpc.RpcError):
        read(dn2, block(5))


def test_unreachable_downstream_is_named_in_the_ack(cluster):
    dn1 = cluster.nodes["host-1"]
    dead = pb.DatanodeId(uuid="DN-dead", host_label="host-9", transfer_address=f"127.0.0.1:{free_port()}")
    acks = write(dn1, block(6), os.urandom(3000), targets=[dead])
    statuses = acks[-1].statuses
    assert [(s.uuid, s.ok) for s in statuses] == [(dn1.uuid, True), ("DN-dead", False)]
    assert "host-9" in statuses[1].message
    assert not os.listdir(dn1.data_dir / POOL / "rbw")


def test_refused_writes_are_acked_not_ok(cluster):
    dn1 = cluster.nodes["host-1"]
    write(dn1, block(7), b"x" * 100)
    acks = write(dn1, block(7), b"y" * 100)
    assert not acks[0].statuses[0].ok and "already has a finalized replica" in acks[0].statuses[0].message
    bad_pool = pb.Block(pool_id="../../etc", block_id=1, generation_stamp=1)
    acks = write(dn1, bad_pool, b"y")
    assert "invalid block pool id" in acks[0].statuses[0].message
    assert verified_bytes(read(dn1, block(7))) == (0, b"x" * 100)


def test_corrupt_replica_is_refused_for_short_circuit_and_detected_by_readers(cluster):
    dn1, dn2 = cluster.nodes["host-1"], cluster.nodes["host-2"]
    data = os.urandom(100_000)
    write(dn1, block(8), data, targets=[dn2.id()])
    grant = dn2.stub().RequestShortCircuit(pb.ShortCircuitRequest(block=block(8), client_host="host-2"))
    assert grant.length == len(data)
    assert open(grant.block_path, "rb").read() == data
    assert grant.meta_path.endswith("blk_8_1.meta")

    with open(grant.block_path, "r+b") as f:
        f.seek(70_000)
        f.write(bytes([data[70_000] ^ 0x55]))
    err = rpc_error(lambda: dn2.stub().RequestShortCircuit(
        pb.ShortCircuitRequest(block=block(8), client_host="host-2")))
    assert err.code() == grpc.StatusCode.DATA_LOSS
    hfed_error = rpc_errors.from_rpc_error(err, "host-2")
    assert isinstance(hfed_error, errors.ChecksumError)
    assert "offset 69632" in str(hfed_error) and "host-2" in str(hfed_error)
    with pytest.raises(errors.ChecksumError):
        verified_bytes(read(dn2, block(8)))
    assert verified_bytes(read(dn1, block(8))) == (0, data)  # the other replica is fine
    assert "corrupt replica blk_8_1" in dn2.log()


def test_errors_name_the_block_and_host(cluster):
    dn1 = cluster.nodes["host-1"]
    write(dn1, block(9), b"z" * 1000)
    err = rpc_error(lambda: read(dn1, block(999)))
    missing = rpc_errors.from_rpc_error(err, dn1.address)
    assert isinstance(missing, errors.BlockMissing)
    assert "blk_999_1" in str(missing) and POOL in str(missing) and "host-1" in str(missing)
    err = rpc_error(lambda: read(dn1, block(9, gs=2)))
    assert isinstance(rpc_errors.from_rpc_error(err, dn1.address), errors.BlockMissing)

    err = rpc_error(lambda: read(dn1, block(9), offset=1001))
    past_end = rpc_errors.from_rpc_error(err, dn1.address)
    assert isinstance(past_end, errors.InvalidArgument) and "past the end" in str(past_end)
    assert verified_bytes(read(dn1, block(9), offset=1000)) == (512, b"z" * 488)  # the client drops the head

    err = rpc_error(lambda: dn1.stub().RequestShortCircuit(pb.ShortCircuitRequest(block=block(9),
                                                                                  client_host="host-2")))
    denied = rpc_errors.from_rpc_error(err, dn1.address)
    assert isinstance(denied, errors.AccessDenied) and isinstance(denied, PermissionError)
    assert "host-2" in str(denied) and "host-1" in str(denied)


def test_garbled_request_gets_a_clean_error_and_server_stays_up(cluster):
    dn1 = cluster.nodes["host-1"]
    channel = grpc.insecure_channel(dn1.address)
    cluster.channels.append(channel)
    for method in ("RequestShortCircuit", "ReadBlock"):
        raw = channel.unary_unary(f"/hfed.DataTransfer/{method}",
                                  request_serializer=lambda b: b, response_deserializer=lambda b: b)
        err = rpc_error(lambda: raw(b"\xff\xff\xff\xff\x0f", timeout=10))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err
        assert "malformed hfed." in err.details() and "host-1" in err.details()
    write_raw = channel.stream_stream("/hfed.DataTransfer/WriteBlock",
                                      request_serializer=lambda b: b, response_deserializer=pb.WriteAck.FromString)
    acks = list(write_raw(iter([b"\x0a\xff\xff"]), timeout=10))
    assert not acks[0].statuses[0].ok and "malformed hfed.WritePacket" in acks[0].statuses[0].message
    write(dn1, block(10), b"still here")
    assert verified_bytes(read(dn1, block(10))) == (0, b"still here")
    assert dn1.proc.poll() is None


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

    async def replicate():
        rbw = source.create_rbw(POOL, 12, 3)
        crcs = checksum.compute(data)
        rbw.check_packet(0, data, crcs)
        rbw.write(data, crcs)
        replica = await source.finalize(rbw)
        channels = ChannelCache()
        try:
            await send_replica(source, channels, replica, [dn1.id(), dn2.id()], "test-replication")
            with pytest.raises(errors.HfedError, match="already has a finalized replica"):
                await send_replica(source, channels, replica, [dn2.id()], "test-replication")
        finally:
            await channels.close()

    asyncio.run(replicate())
    for node in (dn1, dn2):
        assert verified_bytes(read(node, block(12, gs=3))) == (0, data)
