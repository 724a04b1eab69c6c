"""A namespace added to a running cluster: its NameNode, started by hand with a config
that names it, tells the mount table holder where it serves; every DataNode learns of
it from a heartbeat reply and registers with it without a restart."""
from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys

import grpc

from client import credentials
from client.minicluster import REPO_ROOT, wait_for
from protos import config as hconfig, rpc
from protos import hfed_pb2 as pb
from protos import hfed_pb2_grpc as pb_grpc


def test_every_datanode_registers_with_a_namespace_started_later(fresh_cluster):
    mc = fresh_cluster(namespaces=2, datanodes=3)
    cfg = hconfig.load(mc.config_path)
    # Beside the cluster's config: the same secret and TLS directory.
    conf = mc.dir / "ns-c.toml"
    with_c = dataclasses.replace(cfg, source=str(conf), nameservices={
        **cfg.nameservices, "ns-c": hconfig.NameserviceConfig("ns-c", "127.0.0.1:0", str(mc.dir / "meta" / "ns-c"))})
    conf.write_text(hconfig.dump(with_c))
    ready = mc.dir / "ns-c.addr"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    with open(mc.dir / "ns-c.log", "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "namenode.server", "--conf", str(conf), "--nameservice",
                                 "ns-c", "--address-file", str(ready)], cwd=REPO_ROOT, env=env,
                                stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(ready.exists, 20, "ns-c serving")
        address = ready.read_text()
        metadata = credentials.find(cfg).metadata("ns-c", cfg)

        def holder_lists_c():
            with rpc.channel(mc.namenode_address(cfg.holder()), cfg) as channel:
                table = pb_grpc.ClientProtocolStub(channel).GetMountTable(
                    pb.GetMountTableRequest(), metadata=credentials.find(cfg).metadata(cfg.holder(), cfg)).table
            return {ns.name: ns.address for ns in table.nameservices}.get("ns-c") == address
        wait_for(holder_lists_c, 20, "the holder's mount table listing ns-c")

        def datanodes_at_c():
            try:
                with rpc.channel(address, cfg) as channel:
                    stats = pb_grpc.ClientProtocolStub(channel).GetStats(pb.GetStatsRequest(), metadata=metadata,
                                                                         timeout=5)
            except grpc.RpcError:
                return []
            return sorted(d.id.host_label for d in stats.datanodes if d.alive)
        wait_for(lambda: datanodes_at_c() == ["host-1", "host-2", "host-3"], 30, "every DataNode at ns-c")
        pools = {label: os.listdir(dn.data_dir) for label, dn in cfg.datanodes.items()}
        assert all(any(p.endswith("-ns-c") for p in listed) for listed in pools.values()), pools
        for label in cfg.datanodes:     # none was restarted
            assert "joined the cluster" in mc.log_path(label).read_text()
            assert mc.log_path(label).read_text().count("starting:") == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
