"""Racks on a real cluster (`cluster up --racks`): blocks placed across both racks as fsck
-racks shows them, dfsadmin -printTopology, and a dead DataNode's blocks re-replicated so
each still spans both racks."""
from __future__ import annotations

import os
import re
from contextlib import closing

from client.fs import HfedFileSystem
from client.minicluster import wait_for
from tests.integration.test_cli import hfed, out

MB = 1 << 20


def block_racks(fs, paths) -> list[list[str]]:
    """Per block of ``paths``, the racks of its live replicas."""
    return [[d.rack for d in lb.locations] for path in paths for lb in fs.block_locations(path).blocks]


def test_two_racks_placement_topology_and_re_replication(fresh_cluster):
    mc = fresh_cluster(namespaces=1, datanodes=6, racks=2, replication=3)
    with closing(HfedFileSystem(conf=str(mc.config_path), host="host-1", skip_instance_cache=True)) as local, \
            closing(HfedFileSystem(conf=str(mc.config_path), skip_instance_cache=True)) as remote:
        paths = [f"/user/racks/local-{i}.bin" for i in range(3)] + [f"/user/racks/remote-{i}.bin" for i in range(2)]
        for path in paths:
            (local if "local" in path else remote).pipe_file(path, os.urandom(2 * MB + 1000))   # 3 blocks each

        proc = hfed(mc.config_path, "fsck", "/user/racks", "-files", "-blocks", "-racks", check=0)
        replicas = re.findall(r"Live_repl=3 \[(.*?)\]", out(proc))
        assert len(replicas) == 15, out(proc)
        for line in replicas:
            racks = re.findall(r"(/rack-\d)/127\.0\.0\.1:\d+", line)
            assert len(racks) == 3 and set(racks) == {"/rack-1", "/rack-2"}, line
        assert " Number of racks:\t\t2" in out(proc), out(proc)
        for path in paths[:3]:                        # written on host-1: its first replica there
            for lb in local.block_locations(path).blocks:
                assert "host-1" in {d.host_label for d in lb.locations}

        proc = hfed(mc.config_path, "dfsadmin", "-printTopology", check=0)
        sections = re.findall(r"Rack: (/rack-\d)\n((?:   127\.0\.0\.1:\d+ \(host-\d\)\n)+)", out(proc))
        assert {rack: re.findall(r"\((host-\d)\)", hosts) for rack, hosts in sections} == \
            {"/rack-1": ["host-1", "host-3", "host-5"], "/rack-2": ["host-2", "host-4", "host-6"]}, out(proc)

        # host-1 holds the /rack-1 replica of every local-* block: once it is dead, each must get
        # its new replica on /rack-1 (host-3 or host-5), not on the free /rack-2 DataNode.
        mc.kill_datanode("host-1")

        def recovered():
            racks = block_racks(remote, paths)
            hosts = {d.host_label for p in paths for lb in remote.block_locations(p).blocks for d in lb.locations}
            return "host-1" not in hosts and all(len(r) == 3 for r in racks) and racks
        racks = wait_for(recovered, 60, "every block back at 3 live replicas without host-1")
        assert all(set(r) == {"/rack-1", "/rack-2"} for r in racks), racks


def test_cluster_up_refuses_more_racks_than_datanodes(tmp_path):
    proc = hfed(tmp_path / "hfed.toml", "cluster", "up", "--dir", str(tmp_path / "c"), "--datanodes", "2",
                "--racks", "3")
    assert proc.returncode != 0 and "--racks must be 0 (no racks) to 2" in proc.stderr.decode()
    assert not (tmp_path / "c").exists()
