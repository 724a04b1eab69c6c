"""The block scanner in real processes: a NameNode and two DataNodes, a block
with two replicas, one of which rots on disk. The scanner finds it, the
NameNode learns of it, has it deleted and copies the good replica back."""
from __future__ import annotations

import os
from pathlib import Path

import grpc
import pytest

from protos import config, errors, rpc
from protos import hfed_pb2 as pb
from protos import hfed_pb2_grpc as pb_grpc

from test_datanode import MiB, DatanodeProcess, free_port, read, short_circuit, verified_bytes, write, write_acks
from client.minicluster import wait_for
from test_datanode_with_namenode import NamenodeProcess

SCANNER = {"scan_period": 1.0, "scan_bytes_per_second": 64 << 20}


def write_config(root: Path, namenode_address: str, labels) -> Path:
    raw = {"cluster_id": "CID-test", "security": {"tls": False}, "heartbeat_interval": 0.2, "replication": 2,
           "nameservices": {"ns-a": {"address": namenode_address, "meta_dir": str(root / "ns-a")}},
           "mounts": [{"path": "/data", "nameservice": "ns-a"}],
           "datanodes": {label: {"data_dir": str(root / label)} for label in labels}}
    path = root / "hfed.toml"
    path.write_text(config.dump(config.from_dict({**raw, **SCANNER})))
    return path


class Cluster:
    def __init__(self, root: Path):
        self.root = root
        self.namenode_address = f"127.0.0.1:{free_port()}"
        self.conf = write_config(root, self.namenode_address, ("host-1", "host-2"))
        self.namenode = NamenodeProcess(root, self.conf)
        self.nodes = {label: DatanodeProcess(self, label) for label in ("host-1", "host-2")}
        self.channels: list[grpc.Channel] = []

    def client(self) -> pb_grpc.ClientProtocolStub:
        channel = grpc.insecure_channel(self.namenode_address, options=rpc.OPTIONS)
        self.channels.append(channel)
        return pb_grpc.ClientProtocolStub(channel)

    def wait_registered(self) -> None:
        for label, node in self.nodes.items():
            wait_for(lambda: (self.root / f"{label}.addr").exists(), 20, f"{label} to register\n{node.log()}")

    def close(self) -> None:
        for channel in self.channels:
            channel.close()
        codes = [node.stop() for node in self.nodes.values()]
        self.namenode.stop()
        assert codes == [0, 0]


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path)
    c.namenode.start()
    for node in c.nodes.values():
        node.start()
    yield c
    c.close()


def locations(cluster: Cluster, path: str) -> list[str]:
    got = cluster.client().GetBlockLocations(pb.GetBlockLocationsRequest(path=path, length=1 << 40),
                                             metadata=rpc.identity_metadata()).blocks
    return sorted(dn.host_label for b in got.blocks for dn in b.locations)


def corrupt_replicas(cluster: Cluster) -> int:
    return cluster.client().GetStats(pb.GetStatsRequest(), metadata=rpc.identity_metadata()).corrupt_replicas


def write_two_replicas(cluster: Cluster, path: str, data: bytes) -> pb.Block:
    md = rpc.identity_metadata()
    nn = cluster.client()
    nn.Create(pb.CreateRequest(path=path, permission=0o644, client_name="test-client", create_parent=True,
                               replication=2), metadata=md)
    located = nn.AddBlock(pb.AddBlockRequest(path=path, client_name="test-client", client_host="host-1"),
                          metadata=md).block
    assert [dn.host_label for dn in located.locations] == ["host-1", "host-2"]
    blk = pb.Block(pool_id=located.block.pool_id, block_id=located.block.block_id,
                   generation_stamp=located.block.generation_stamp)
    first = cluster.nodes["host-1"]
    acks = write_acks(first, blk, data, targets=list(located.locations)[1:])
    assert all(s.ok for a in acks for s in a.statuses) and len(acks[-1].statuses) == 2
    blk.num_bytes = len(data)
    assert nn.Complete(pb.CompleteRequest(path=path, client_name="test-client", last=blk), metadata=md).completed
    return blk


def test_scanner_reports_rot_and_the_namenode_replaces_the_replica(cluster):
    cluster.wait_registered()
    data = os.urandom(2 * MiB + 123)
    blk = write_two_replicas(cluster, "/data/rot", data)
    wait_for(lambda: locations(cluster, "/data/rot") == ["host-1", "host-2"], 15.0, "both replicas reported")
    dn1 = cluster.nodes["host-1"]
    replica = dn1.data_dir / blk.pool_id / "finalized" / f"blk_{blk.block_id}"
    with open(replica, "r+b") as f:   # one flipped byte, same size and length: only checksums tell
        f.seek(MiB + 1000)
        byte = f.read(1)
        f.seek(MiB + 1000)
        f.write(bytes([byte[0] ^ 0x01]))
    name = f"blk_{blk.block_id}_{blk.generation_stamp}"

    # The scanner finds it within a scan period and tells the NameNode ...
    wait_for(lambda: f"corrupt replica {name}" in dn1.log(), 20, "the scanner to find the corrupt replica")
    wait_for(lambda: f"reports a bad replica of block {blk.block_id}" in cluster.namenode.log_path.read_text(),
             10, "the NameNode to hear of it")
    # ... which asks for the bad copy's deletion and copies the good one back.
    wait_for(lambda: f"deleted {name} of pool {blk.pool_id} as asked by" in dn1.log(), 20, "the DeleteCommand")
    wait_for(lambda: locations(cluster, "/data/rot") == ["host-1", "host-2"] and corrupt_replicas(cluster) == 0,
             20, "re-replication to host-1")
    assert verified_bytes(read(dn1, blk)) == (0, data)
    assert open(replica, "rb").read() == data


def test_corrupt_replica_is_reported_again_to_a_restarted_namenode(cluster, tmp_path):
    """A single replica: nothing to copy from, so the NameNode keeps it listed as
    corrupt (not as a location) — also after it restarts and forgets."""
    cluster.wait_registered()
    md = rpc.identity_metadata()
    nn = cluster.client()
    nn.Create(pb.CreateRequest(path="/data/one", permission=0o644, client_name="c", create_parent=True,
                               replication=1), metadata=md)
    located = nn.AddBlock(pb.AddBlockRequest(path="/data/one", client_name="c", client_host="host-2"),
                          metadata=md).block
    assert [dn.host_label for dn in located.locations] == ["host-2"]
    blk = pb.Block(pool_id=located.block.pool_id, block_id=located.block.block_id,
                   generation_stamp=located.block.generation_stamp)
    dn2 = cluster.nodes["host-2"]
    write(dn2, blk, b"x" * 5000)
    blk.num_bytes = 5000
    assert nn.Complete(pb.CompleteRequest(path="/data/one", client_name="c", last=blk), metadata=md).completed
    with open(dn2.data_dir / blk.pool_id / "finalized" / f"blk_{blk.block_id}", "r+b") as f:
        f.write(b"y")

    wait_for(lambda: corrupt_replicas(cluster) == 1 and locations(cluster, "/data/one") == [], 20,
             "the NameNode to mark the replica corrupt")
    with pytest.raises(errors.ChecksumError, match="awaits deletion"):
        short_circuit(dn2, blk)

    cluster.namenode.stop()
    cluster.namenode.start()
    wait_for(lambda: corrupt_replicas(cluster) == 1 and locations(cluster, "/data/one") == [], 20,
             "the restarted NameNode to learn of the corrupt replica again")
    assert "1 of them corrupt" in dn2.log()
