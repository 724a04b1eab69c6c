"""A DataNode process taking the commands of a subtree move and of a namespace added live.

The NameNode halves of these features (queueing a LinkCommand for a moved subtree,
holding the cluster mount table) land in their own changes; until then nameservice
ns-a is played by ``CommandDesk``, a small DatanodeProtocol server in this test that
hands out the commands a NameNode would and records the DataNode's reports. The
DataNode, its disk and the nameservice it joins (ns-b) are real processes.
"""
from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from concurrent import futures
from pathlib import Path

import grpc
import pytest

from client.minicluster import wait_for
from protos import config, rpc
from protos import hfed_pb2 as pb
from protos import hfed_pb2_grpc as pb_grpc

from test_datanode import REPO, MiB, DatanodeProcess, free_port, read, verified_bytes, write  # noqa: E402

SOURCE = "BP-source-1"
TARGET = "BP-ns-a-2"


class CommandDesk(pb_grpc.DatanodeProtocolServicer):
    """ns-a's side of DatanodeProtocol: queued commands and a mount table go out with
    heartbeats; registrations, heartbeats and block reports are recorded."""

    def __init__(self, pool_id: str):
        self.pool_id = pool_id
        self.commands: queue.Queue[pb.DatanodeCommand] = queue.Queue()
        self.mount_table: pb.MountTableState | None = None
        self.heartbeats: list[pb.HeartbeatRequest] = []
        self.received: list[pb.Block] = []
        self.deleted: list[pb.Block] = []
        self.lock = threading.Lock()
        self.server = grpc.server(futures.ThreadPoolExecutor(4), options=rpc.OPTIONS)
        pb_grpc.add_DatanodeProtocolServicer_to_server(self, self.server)
        self.address = f"127.0.0.1:{free_port()}"
        self.server.add_insecure_port(self.address)

    def Register(self, request, context):
        return pb.RegisterResponse(nameservice="ns-a", pool_id=self.pool_id, cluster_id=request.cluster_id)

    def BlockReport(self, request, context):
        return pb.BlockReportResponse()

    def Heartbeat(self, request, context):
        reply = pb.HeartbeatResponse()
        while not self.commands.empty():
            reply.commands.append(self.commands.get())
        with self.lock:
            self.heartbeats.append(request)
            if self.mount_table is not None and request.mount_version < self.mount_table.version:
                reply.mount_table.CopyFrom(self.mount_table)
        return reply

    def IncrementalBlockReport(self, request, context):
        with self.lock:
            self.received.extend(request.received)
            self.deleted.extend(request.deleted)
        return pb.IncrementalBlockReportResponse()

    def ReportBadBlocks(self, request, context):
        return pb.ReportBadBlocksResponse()

    def heartbeats_after(self, count: int) -> list[pb.HeartbeatRequest]:
        with self.lock:
            return self.heartbeats[count:]

    def reported(self, block_id: int) -> list[pb.Block]:
        with self.lock:
            return [b for b in self.received if b.block_id == block_id]


class NamenodeProcess:
    """A real NameNode of ``nameservice`` (its config names it; the DataNode's does not)."""

    def __init__(self, root: Path, conf: Path, nameservice: str):
        self.root, self.conf, self.nameservice = root, conf, nameservice
        self.log_path = root / f"{nameservice}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> str:
        ready = self.root / f"{self.nameservice}.addr"
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "namenode.server", "--conf", str(self.conf),
                                          "--nameservice", self.nameservice, "--address-file", str(ready)],
                                         cwd=REPO, stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 20
        while not ready.exists():
            assert self.proc.poll() is None, self.log_path.read_text()
            assert time.monotonic() < deadline, self.log_path.read_text()
            time.sleep(0.05)
        return ready.read_text()

    def stop(self) -> None:
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
        self.desk = CommandDesk(TARGET)
        self.conf = root / "hfed.toml"
        raw = {"cluster_id": "CID-test", "heartbeat_interval": 0.2, "security": {"auth": "simple", "tls": False},
               "nameservices": {"ns-a": {"address": self.desk.address}},
               "datanodes": {"host-1": {"data_dir": str(root / "host-1")}}}
        self.conf.write_text(config.dump(config.from_dict(raw)))
        self.datanode = DatanodeProcess(self, "host-1")

    def used_now(self) -> int:
        """``used`` of a heartbeat sent after this call."""
        seen = len(self.desk.heartbeats_after(0))
        later = wait_for(lambda: self.desk.heartbeats_after(seen), 10, "a heartbeat")
        return later[-1].used

    def close(self):
        code = self.datanode.stop()
        self.desk.server.stop(None)
        assert code == 0, self.datanode.log()


@pytest.fixture
def setup(tmp_path):
    s = Setup(tmp_path)
    s.desk.server.start()
    s.datanode.start()
    wait_for(lambda: (tmp_path / "host-1.addr").exists(), 20, "registration with ns-a")
    yield s
    s.close()


def link_command(*pairs) -> pb.DatanodeCommand:
    return pb.DatanodeCommand(link=pb.LinkCommand(source_pool=SOURCE, blocks=[
        pb.LinkedBlock(source=pb.Block(block_id=s, generation_stamp=1), target_block_id=t) for s, t in pairs]))


def test_link_command_hard_links_reports_and_survives_the_source_delete(setup):
    node, desk = setup.datanode, setup.desk
    data = os.urandom(3 * MiB + 123)
    write(node, pb.Block(pool_id=SOURCE, block_id=1, generation_stamp=1), data)
    used = setup.used_now()
    target_file = node.data_dir / TARGET / "finalized" / "blk_5001"

    desk.commands.put(link_command((1, 5001), (2, 5002)))   # blk_2 is not on this DataNode
    [report] = wait_for(lambda: desk.reported(5001), 10, "the linked replica's report")
    assert (report.pool_id, report.generation_stamp, report.num_bytes) == (TARGET, 1, len(data))
    target = pb.Block(pool_id=TARGET, block_id=5001, generation_stamp=1)
    assert verified_bytes(read(node, target)) == (0, data)
    assert os.stat(target_file).st_nlink == 2
    assert setup.used_now() == used                    # no bytes copied
    wait_for(lambda: "not linking blk_2_1 of pool BP-source-1 as blk_5002_1 of pool BP-ns-a-2" in node.log(),
             5, "the skipped replica's log line")
    assert not desk.reported(5002)

    desk.commands.put(link_command((1, 5001)))           # repeated: reported again, nothing new
    wait_for(lambda: len(desk.reported(5001)) == 2, 10, "the repeated report")
    assert os.stat(target_file).st_nlink == 2

    desk.commands.put(pb.DatanodeCommand(delete=pb.DeleteCommand(blocks=[
        pb.Block(pool_id=SOURCE, block_id=1, generation_stamp=1)])))
    wait_for(lambda: not (node.data_dir / SOURCE / "finalized" / "blk_1").exists(), 10, "the source delete")
    assert os.stat(target_file).st_nlink == 1
    assert verified_bytes(read(node, target)) == (0, data)
    assert setup.used_now() == used                    # the target's name still holds the bytes


def test_a_nameservice_in_a_newer_mount_table_is_joined_without_restart(setup, tmp_path):
    """ns-b is not in the DataNode's config; a heartbeat reply carries a mount table that
    lists it, and the DataNode registers with the real ns-b NameNode and reports to it."""
    node, desk = setup.datanode, setup.desk
    nn_conf = tmp_path / "ns-b.toml"
    raw = {"cluster_id": "CID-test", "heartbeat_interval": 0.2, "security": {"auth": "simple", "tls": False},
           "nameservices": {"ns-a": {"address": desk.address},
                            "ns-b": {"address": f"127.0.0.1:{free_port()}", "meta_dir": str(tmp_path / "ns-b")}},
           "datanodes": {"host-1": {"data_dir": str(tmp_path / "host-1")}}}
    nn_conf.write_text(config.dump(config.from_dict(raw)))
    namenode_b = NamenodeProcess(tmp_path, nn_conf, "ns-b")
    address_b = namenode_b.start()
    try:
        assert all(h.mount_version == 0 for h in desk.heartbeats_after(0))
        with desk.lock:
            desk.mount_table = pb.MountTableState(version=4, holder="ns-a", nameservices=[
                pb.NameserviceAddress(name="ns-a", address=desk.address),
                pb.NameserviceAddress(name="ns-b", address=address_b)])
        channel = grpc.insecure_channel(address_b, options=rpc.OPTIONS)
        stub = pb_grpc.ClientProtocolStub(channel)

        def host_1_at_ns_b():
            stats = stub.GetStats(pb.GetStatsRequest(), metadata=rpc.identity_metadata())
            return [d for d in stats.datanodes if d.alive and d.id.host_label == "host-1"]
        try:
            wait_for(host_1_at_ns_b, 15, "host-1 registered with ns-b")
            wait_for(lambda: any(h.mount_version == 4 for h in desk.heartbeats_after(0)), 5,
                     "heartbeats carrying the new version")
            assert any(pool.endswith("-ns-b") for pool in os.listdir(node.data_dir))   # its block pool
            assert node.log().count("joined the cluster") == 1     # one actor, however many replies

            # A table without ns-b: the DataNode keeps serving its pool (logged once).
            with desk.lock:
                desk.mount_table = pb.MountTableState(version=5, holder="ns-a", nameservices=[
                    pb.NameserviceAddress(name="ns-a", address=desk.address)])
            wait_for(lambda: any(h.mount_version == 5 for h in desk.heartbeats_after(0)), 5, "version 5")
            time.sleep(0.5)
            assert node.log().count("nameservice ns-b is not in mount table version 5") == 1
            assert host_1_at_ns_b()
        finally:
            channel.close()
        assert node.proc.poll() is None
    finally:
        namenode_b.stop()

