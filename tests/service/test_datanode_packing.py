"""PackCommands run by real DataNode processes.

The NameNode here is a small test-side DatanodeProtocol servicer that hands out
one PackCommand in a heartbeat reply and records what the DataNodes send back
(block reports, bad replicas, ContainerPacked). The real NameNode cannot be used
for this: its packer builds PackCommands only from its own small files and their
reported replicas, so it cannot be made to name a container held only by another
DataNode next to a corrupt replica, a raw source, an inline source and a
container nobody holds, in one command, which is what these tests pin down.
The DataNodes, their storage, reads, pipelines and reports are all real.
"""
from __future__ import annotations

import os
import random
import threading
import time
from concurrent import futures
from pathlib import Path

import grpc
import pytest

from protos import config, small_entry
from protos import hfed_pb2 as pb
from protos import hfed_pb2_grpc as pb_grpc

from test_datanode import POOL, DatanodeProcess, free_port, read, verified_bytes, write

LABELS = ("host-1", "host-2", "host-3")


class RecordingNamenode(pb_grpc.DatanodeProtocolServicer):
    """Registers every DataNode into POOL, hands each queued command to its DataNode
    with the next heartbeat, and records the calls."""

    def __init__(self):
        self.lock = threading.Lock()
        self.commands: dict[str, list[pb.DatanodeCommand]] = {}
        self.received: list[tuple[str, pb.Block]] = []
        self.bad: list[pb.BadReplica] = []
        self.packed: list[pb.ContainerPackedRequest] = []

    def Register(self, request, context):
        return pb.RegisterResponse(nameservice="ns-a", pool_id=POOL, cluster_id=request.cluster_id,
                                   heartbeat_interval_ms=100, block_report_interval_ms=3_600_000)

    def Heartbeat(self, request, context):
        with self.lock:
            return pb.HeartbeatResponse(commands=self.commands.pop(request.uuid, []))

    def BlockReport(self, request, context):
        return pb.BlockReportResponse()

    def IncrementalBlockReport(self, request, context):
        with self.lock:
            self.received += [(request.uuid, b) for b in request.received]
        return pb.IncrementalBlockReportResponse()

    def ReportBadBlocks(self, request, context):
        with self.lock:
            self.bad += list(request.replicas)
        return pb.ReportBadBlocksResponse()

    def ContainerPacked(self, request, context):
        with self.lock:
            self.packed.append(request)
        return pb.ContainerPackedResponse()

    def send(self, uuid: str, command: pb.PackCommand) -> None:
        with self.lock:
            self.commands.setdefault(uuid, []).append(pb.DatanodeCommand(pack=command))

    def wait_packed(self, block_id: int, timeout: float = 30.0) -> pb.ContainerPackedRequest:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                done = [p for p in self.packed if p.block.block_id == block_id]
            if done:
                return done[0]
            time.sleep(0.05)
        raise AssertionError(f"no ContainerPacked for block {block_id}")


class PackCluster:
    def __init__(self, root: Path):
        self.root = root
        self.conf = root / "hfed.toml"
        self.namenode = RecordingNamenode()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        pb_grpc.add_DatanodeProtocolServicer_to_server(self.namenode, self.server)
        port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()
        raw = {"cluster_id": "CID-test", "heartbeat_interval": 0.1, "security": {"auth": "simple", "tls": False},
               "nameservices": {"ns-a": {"address": f"127.0.0.1:{port}"}},
               "datanodes": {label: {"data_dir": str(root / label)} for label in LABELS}}
        self.conf.write_text(config.dump(config.from_dict(raw)))
        self.nodes = {label: DatanodeProcess(self, label) for label in LABELS}

    def close(self):
        codes = {label: node.stop() for label, node in self.nodes.items()}
        self.server.stop(0)
        assert all(code == 0 for code in codes.values()), codes


@pytest.fixture
def cluster(tmp_path):
    c = PackCluster(tmp_path)
    try:
        for node in c.nodes.values():
            node.start()
        for label in LABELS:   # registered: the DataNode writes its address file
            deadline = time.monotonic() + 20
            while not (tmp_path / f"{label}.addr").exists():
                assert time.monotonic() < deadline, c.nodes[label].log()
                time.sleep(0.05)
        yield c
    finally:
        c.close()


def blk(block_id: int, num_bytes: int = 0) -> pb.Block:
    return pb.Block(pool_id=POOL, block_id=block_id, generation_stamp=1, num_bytes=num_bytes)


def staging_container(files: list[bytes]) -> tuple[bytes, list[int]]:
    """A client's staging container: each entry raw and chunk aligned."""
    data, offsets = b"", []
    for f in files:
        offsets.append(len(data))
        data += small_entry.encode(f, align=512)
    return data, offsets


def text(seed: int, size: int) -> bytes:
    words = ["block", "replica", "namenode", "container", "entry", "packer", "pipeline", "chunk"]
    rng = random.Random(seed)
    return " ".join(rng.choice(words) for _ in range(size // 6)).encode()[:size]


def located(block_id: int, num_bytes: int, *nodes) -> pb.LocatedBlock:
    return pb.LocatedBlock(block=blk(block_id, num_bytes), locations=[n.id() for n in nodes])


def corrupt(node, block_id: int, offset: int) -> None:
    with open(node.data_dir / POOL / "finalized" / f"blk_{block_id}", "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))


def test_pack_command_builds_a_container_from_local_remote_raw_and_inline_sources(cluster):
    dn1, dn2, dn3 = (cluster.nodes[label] for label in LABELS)
    nn = cluster.namenode
    # Container 1 only on host-1 (the packing DataNode), 2 only on host-2, 3 on host-1
    # (which gets corrupted) and host-3, 4 (an older hfed's raw container) on host-2.
    files1 = [text(1, 20_000), os.urandom(5000)]
    files2 = [os.urandom(700), text(2, 3000), b""]
    files3 = [text(3, 9000)]
    c1, o1 = staging_container(files1)
    c2, o2 = staging_container(files2)
    c3, o3 = staging_container(files3)
    raw_file = os.urandom(1234)
    c4 = os.urandom(100) + raw_file + os.urandom(50)
    write(dn1, blk(1), c1)
    write(dn2, blk(2), c2)
    write(dn1, blk(3), c3, targets=[dn3.id()])
    write(dn2, blk(4), c4)
    corrupt(dn1, 3, o3[0] + 100)
    inline = b"staged by an older hfed\n" * 10

    sources = [
        pb.PackSource(container=located(1, len(c1), dn1), offset=o1[0], length=len(files1[0])),
        pb.PackSource(container=located(2, len(c2), dn2), offset=o2[0], length=len(files2[0])),
        pb.PackSource(length=len(inline), inline_data=inline),
        pb.PackSource(container=located(3, len(c3), dn1, dn3), offset=o3[0], length=len(files3[0])),
        pb.PackSource(container=located(2, len(c2), dn2), offset=o2[1], length=len(files2[1])),
        pb.PackSource(container=located(9, 4096, dn2), offset=0, length=10),   # nobody holds it
        pb.PackSource(container=located(4, len(c4), dn2), offset=100, length=len(raw_file), raw=True),
        pb.PackSource(container=located(1, len(c1), dn1), offset=o1[1], length=len(files1[1])),
        pb.PackSource(container=located(2, len(c2), dn2), offset=o2[2], length=0),
    ]
    expected = [files1[0], files2[0], inline, files3[0], files2[1], None, raw_file, files1[1], b""]
    nn.send(dn1.uuid, pb.PackCommand(block=blk(100), targets=[dn1.id(), dn2.id()], sources=sources, compress=True))
    done = nn.wait_packed(100)

    assert done.uuid == dn1.uuid and not done.failed, done.failed
    offsets = list(done.offsets)
    assert len(offsets) == len(sources) and offsets[5] == -1
    assert offsets[0] == 0 and all(a < b for a, b in zip(offsets, offsets[1:]) if a >= 0 and b >= 0)
    for node in (dn1, dn2):   # one block, on every target, of the reported length
        _, container = verified_bytes(read(node, blk(100)))
        assert len(container) == done.block.num_bytes
    for i, (offset, want) in enumerate(zip(offsets, expected)):
        if want is None:
            continue
        entry = container[offset:offset + small_entry.read_span(len(want))]
        assert small_entry.decode(entry, f"source {i}", len(want)) == want
        codec = small_entry.parse_header(entry, "test")[0]
        compressible = i in (0, 2, 3, 4)
        assert codec == (small_entry.ZSTD if compressible else small_entry.RAW), (i, codec)
    # Entries are back to back: the container ends where the last one does.
    last = max(range(len(sources)), key=lambda i: offsets[i])
    assert done.block.num_bytes == offsets[last] + small_entry.HEADER_SIZE  # the empty file's entry
    assert done.block.num_bytes < len(c1) + len(c2) + len(c3)               # text compressed, padding gone

    # The corrupt local replica was reported (and the good one on host-3 used).
    bad = [(b.block.block_id, b.datanode_uuid) for b in nn.bad]
    assert (3, dn1.uuid) in bad
    assert "corrupt replica blk_3_1" in dn1.log()
    # Each target reported the new container like any received block.
    deadline = time.monotonic() + 10
    while {u for u, b in nn.received if b.block_id == 100} != {dn1.uuid, dn2.uuid}:
        assert time.monotonic() < deadline, nn.received
        time.sleep(0.05)
    assert all(b.num_bytes == done.block.num_bytes for u, b in nn.received if b.block_id == 100)


def test_corrupt_remote_replica_is_reported_and_skipped(cluster):
    dn1, dn2, dn3 = (cluster.nodes[label] for label in LABELS)
    nn = cluster.namenode
    files = [text(4, 5000)]
    c5, o5 = staging_container(files)
    write(dn2, blk(5), c5, targets=[dn3.id()])
    corrupt(dn2, 5, 600)
    source = pb.PackSource(container=located(5, len(c5), dn2, dn3), offset=o5[0], length=len(files[0]))
    nn.send(dn1.uuid, pb.PackCommand(block=blk(101), targets=[dn1.id()], sources=[source], compress=False))
    done = nn.wait_packed(101)
    assert not done.failed and list(done.offsets) == [0]
    _, container = verified_bytes(read(dn1, blk(101)))
    assert small_entry.parse_header(container, "test")[0] == small_entry.RAW   # compress=False
    assert small_entry.decode(container, "packed", len(files[0])) == files[0]
    assert [(b.block.block_id, b.datanode_uuid) for b in nn.bad] == [(5, dn2.uuid)]


def test_failed_pipeline_and_unreadable_sources_are_reported_as_failed(cluster):
    """A target that fails is named in ContainerPacked.failed. (Targets before it may
    have finalized and reported their replica, as in any broken pipeline: the
    NameNode deletes that block with the failed job's container.)"""
    dn1, dn2 = cluster.nodes["host-1"], cluster.nodes["host-2"]
    nn = cluster.namenode
    dead = pb.DatanodeId(uuid="DN-dead", host_label="host-9", transfer_address=f"127.0.0.1:{free_port()}")
    inline = b"x" * 100
    nn.send(dn1.uuid, pb.PackCommand(block=blk(102), targets=[dn1.id(), dead],
                                     sources=[pb.PackSource(length=100, inline_data=inline)]))
    done = nn.wait_packed(102)
    assert done.failed and "host-9" in done.failed and not done.offsets

    # Nothing readable at all: nothing is written, and the NameNode is told why.
    source = pb.PackSource(container=located(77, 4096, dn2), offset=0, length=10)
    nn.send(dn1.uuid, pb.PackCommand(block=blk(103), targets=[dn1.id()], sources=[source]))
    done = nn.wait_packed(103)
    assert "none of the 1 sources could be read" in done.failed and "blk_77_1" in done.failed
    assert not (dn1.data_dir / POOL / "finalized" / "blk_103").exists()
