"""Faults on a real cluster: dead and corrupt DataNodes, a dead NameNode."""
import os
import signal
import time
from pathlib import Path

import pytest

from client.fs import HfedFileSystem
from client.minicluster import wait_for
from protos import config


def replica_hosts(fs, path):
    return [[loc.host_label for loc in b.locations] for b in fs.block_locations(path).blocks]


def block_file(cluster, label, fs, path, index=0):
    """The on-disk file of one replica (DataNode layout: data_dir/<pool>/finalized/blk_<id>)."""
    cfg = config.load(cluster.config_path)
    block = fs.block_locations(path).blocks[index].block
    return Path(cfg.datanodes[label].data_dir) / block.pool_id / "finalized" / f"blk_{block.block_id}"


def test_read_survives_a_datanode_killed_mid_read(fresh_cluster):
    cluster = fresh_cluster(namespaces=1)
    fs = HfedFileSystem(conf=str(cluster.config_path), host="reader-host", skip_instance_cache=True)
    data = os.urandom(4 * (1 << 20))
    fs.pipe_file("/data/mid-read.bin", data)
    first = fs.block_locations("/data/mid-read.bin").blocks[1].locations[0].host_label
    with fs.open("/data/mid-read.bin", "rb") as f:
        head = f.read((1 << 20) + 1000)              # into the second block, served by `first`
        cluster.kill_datanode(first, signal.SIGKILL)
        rest = f.read()
    assert head + rest == data


def test_dead_datanode_blocks_return_to_full_replication(fresh_cluster):
    cluster = fresh_cluster(namespaces=1, datanodes=4)
    fs = HfedFileSystem(conf=str(cluster.config_path), skip_instance_cache=True)
    data = os.urandom(3 * (1 << 20) + 7)
    fs.pipe_file("/data/rereplicate.bin", data)
    victim = replica_hosts(fs, "/data/rereplicate.bin")[0][0]
    cluster.kill_datanode(victim, signal.SIGKILL)

    def fully_replicated_without_victim():
        hosts = replica_hosts(fs, "/data/rereplicate.bin")
        return all(len(h) == 3 and victim not in h for h in hosts)
    wait_for(fully_replicated_without_victim, 30, f"re-replication after killing {victim}")
    stats = cluster.stats("ns-a")
    assert stats.under_replicated == 0 and stats.missing == 0
    fs2 = HfedFileSystem(conf=str(cluster.config_path), host="elsewhere", skip_instance_cache=True)
    assert fs2.cat_file("/data/rereplicate.bin") == data


def test_corrupt_replica_detected_served_elsewhere_and_replaced(cluster):
    fs = HfedFileSystem(conf=str(cluster.config_path), host="reader-host", skip_instance_cache=True)
    data = os.urandom((1 << 20) + 500)
    fs.pipe_file("/user/corrupt-me.bin", data)
    bad_host = replica_hosts(fs, "/user/corrupt-me.bin")[0][0]   # the replica a remote reader tries first
    path = block_file(cluster, bad_host, fs, "/user/corrupt-me.bin")
    raw = bytearray(path.read_bytes())
    raw[1234] ^= 0xFF
    path.write_bytes(bytes(raw))

    assert fs.cat_file("/user/corrupt-me.bin") == data          # served from a good replica

    def repaired():
        hosts = replica_hosts(fs, "/user/corrupt-me.bin")[0]
        return (len(hosts) == 3 and bad_host in hosts and path.exists()
                and path.read_bytes() == data[:1 << 20])
    wait_for(repaired, 30, f"the corrupt replica on {bad_host} to be replaced")
    stats = cluster.stats("ns-a")
    assert stats.corrupt_replicas == 0 and stats.under_replicated == 0
    fs.rm("/user/corrupt-me.bin")


def test_dead_namenode_fails_fast_and_other_namespace_keeps_working(fresh_cluster):
    cluster = fresh_cluster()
    fs = HfedFileSystem(conf=str(cluster.config_path), skip_instance_cache=True)
    fs.pipe_file("/data/before", b"b")
    cluster.kill_namenode("ns-b", signal.SIGKILL)
    fs.pipe_file("/user/still-works", b"yes")
    assert fs.cat_file("/user/still-works") == b"yes"
    assert "/user/still-works" in fs.ls("/user", detail=False)
    start = time.time()
    with pytest.raises(ConnectionError, match="ns-b"):
        fs.ls("/data")
    assert time.time() - start < 5
    names = {e["name"] for e in fs.ls("/")}
    assert {"/user", "/tmp", "/data"} <= names
    cluster.start_namenode("ns-b")
    wait_for(lambda: cluster.wait_for_block_reports(5), 30, "ns-b block reports after restart")
    fresh = HfedFileSystem(conf=str(cluster.config_path), skip_instance_cache=True)
    assert fresh.cat_file("/data/before") == b"b"
