"""A DataNode process with a real NameNode process: registration, incremental
reports that let Complete succeed at once, and re-registration with a full
block report after the NameNode restarts."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest

from client.minicluster import wait_for
from protos import config, errors, rpc
from protos import hfed_pb2 as pb
from protos import hfed_pb2_grpc as pb_grpc

from test_datanode import MiB, OpenWrite, free_port, read, verified_bytes, write, DatanodeProcess  # noqa: E402


REPO = Path(__file__).resolve().parents[2]


class NamenodeProcess:
    def __init__(self, root: Path, conf: Path):
        self.root, self.conf = root, conf
        self.log_path = root / "ns-a.log"
        self.proc = None

    def start(self):
        ready = self.root / "ns-a.addr"
        ready.unlink(missing_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "namenode.server", "--conf", str(self.conf),
                                          "--nameservice", "ns-a", "--address-file", str(ready)],
                                         cwd=REPO, stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 20
        while not ready.exists():
            assert self.proc.poll() is None, self.log_path.read_text()
            assert time.monotonic() < deadline, self.log_path.read_text()
            time.sleep(0.05)
        return ready.read_text()

    def stop(self):
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


class Setup:
    def __init__(self, root: Path):
        self.root = root
        self.conf = root / "hfed.toml"
        self.namenode_address = f"127.0.0.1:{free_port()}"
        raw = {"cluster_id": "CID-test", "security": {"tls": False}, "heartbeat_interval": 0.2, "replication": 1,
               "nameservices": {"ns-a": {"address": self.namenode_address, "meta_dir": str(root / "ns-a")}},
               "mounts": [{"path": "/data", "nameservice": "ns-a"}],
               "datanodes": {"host-1": {"data_dir": str(root / "host-1")}}}
        self.conf.write_text(config.dump(config.from_dict(raw)))
        self.namenode = NamenodeProcess(root, self.conf)
        self.datanode = DatanodeProcess(self, "host-1")
        self.channels: list[grpc.Channel] = []

    def client(self) -> pb_grpc.ClientProtocolStub:
        channel = grpc.insecure_channel(self.namenode_address, options=rpc.OPTIONS)
        self.channels.append(channel)
        return pb_grpc.ClientProtocolStub(channel)

    def wait_registered(self, timeout=20.0) -> None:
        address_file = self.root / "host-1.addr"
        deadline = time.monotonic() + timeout
        while not address_file.exists():
            assert time.monotonic() < deadline, self.datanode.log()
            time.sleep(0.05)

    def close(self):
        for channel in self.channels:
            channel.close()
        code = self.datanode.stop()
        self.namenode.stop()
        assert code == 0


@pytest.fixture
def setup(tmp_path):
    s = Setup(tmp_path)
    s.datanode.start()  # before the NameNode: it must keep retrying registration
    time.sleep(0.5)
    s.namenode.start()
    yield s
    s.close()


def write_file(setup: Setup, path: str, data: bytes) -> pb.Block:
    md = rpc.identity_metadata()
    nn = setup.client()
    nn.Create(pb.CreateRequest(path=path, permission=0o644, client_name="test-client", create_parent=True),
              metadata=md)
    located = nn.AddBlock(pb.AddBlockRequest(path=path, client_name="test-client", client_host="host-1"),
                          metadata=md).block
    assert [dn.host_label for dn in located.locations] == ["host-1"]
    blk = pb.Block(pool_id=located.block.pool_id, block_id=located.block.block_id,
                   generation_stamp=located.block.generation_stamp)
    write(setup.datanode, blk, data)
    blk.num_bytes = len(data)
    # The DataNode acked the last packet only after its incremental report reached the NameNode.
    assert nn.Complete(pb.CompleteRequest(path=path, client_name="test-client", last=blk), metadata=md).completed
    return blk


def locations(setup: Setup, path: str) -> list[str]:
    got = setup.client().GetBlockLocations(pb.GetBlockLocationsRequest(path=path, length=1 << 40),
                                           metadata=rpc.identity_metadata()).blocks
    return [dn.host_label for b in got.blocks for dn in b.locations]


def test_registers_reports_and_reregisters_after_namenode_restart(setup):
    setup.wait_registered()
    stats = setup.client().GetStats(pb.GetStatsRequest(), metadata=rpc.identity_metadata())
    assert [(d.id.host_label, d.alive) for d in stats.datanodes] == [("host-1", True)]
    assert "registered with NameNode of nameservice ns-a" in setup.datanode.log()

    data = os.urandom(MiB + 10)
    blk = write_file(setup, "/data/f", data)
    assert locations(setup, "/data/f") == ["host-1"]

    setup.namenode.stop()
    setup.namenode.start()  # block locations are not persisted: the DataNode must report again
    wait_for(lambda: locations(setup, "/data/f") == ["host-1"], 15.0, "the re-registration's full report")
    assert "registering again" in setup.datanode.log()
    assert verified_bytes(read(setup.datanode, blk)) == (0, data)


def test_deleting_a_file_deletes_its_replica(setup):
    setup.wait_registered()
    blk = write_file(setup, "/data/g", b"g" * 5000)
    replica = setup.root / "host-1" / blk.pool_id / "finalized" / f"blk_{blk.block_id}"
    assert replica.exists()
    assert setup.client().Delete(pb.DeleteRequest(path="/data/g"), metadata=rpc.identity_metadata()).deleted
    wait_for(lambda: not replica.exists(), 15.0, "the DeleteCommand")
    with pytest.raises(errors.BlockMissing, match=f"blk_{blk.block_id}_"):
        read(setup.datanode, blk)


def test_kept_partial_container_is_reported_to_the_namenode(setup):
    """A client's staging container whose writer dies after two flushed entries: the
    DataNode keeps the replica at the flushed length and the NameNode learns it (the
    open container's block then has that length and this replica)."""
    from protos import small_entry

    setup.wait_registered()
    md = rpc.identity_metadata()
    nn = setup.client()
    opened = nn.OpenContainer(pb.OpenContainerRequest(client_name="test-client", client_host="host-1"), metadata=md)
    assert [dn.host_label for dn in opened.block.locations] == ["host-1"]
    blk = pb.Block(pool_id=opened.block.block.pool_id, block_id=opened.block.block.block_id,
                   generation_stamp=opened.block.block.generation_stamp)
    files = [b"first small file\n" * 40, os.urandom(3000)]
    entries = [small_entry.encode(f, align=512) for f in files]
    stream = OpenWrite(setup.datanode, blk, keep_partial=True)
    offset = 0
    for seqno, entry in enumerate(entries):
        stream.send(seqno, offset, entry)
        stream.wait_ack(seqno)   # a flush: the client may now commit the entry
        offset += len(entry)
    # Readable while the write is open (a reader of a just-committed file).
    _, got = verified_bytes(read(setup.datanode, blk, len(entries[0]), small_entry.read_span(len(files[1]))))
    assert small_entry.decode(got, "entry 2", len(files[1])) == files[1]
    stream.cancel()

    def reported():
        got = nn.GetBlockLocations(pb.GetBlockLocationsRequest(path=opened.path, length=1 << 40),
                                   metadata=md).blocks.blocks
        return [(b.block.block_id, b.block.num_bytes, [d.host_label for d in b.locations]) for b in got]
    wait_for(lambda: reported() == [(blk.block_id, offset, ["host-1"])], 15.0, "the kept replica's report")
    _, got = verified_bytes(read(setup.datanode, blk))
    assert [small_entry.decode(got[o:], "entry", len(f)) for o, f in ((0, files[0]), (len(entries[0]), files[1]))] \
        == files
