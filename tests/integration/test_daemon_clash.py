"""Daemons that cannot trample each other: a second DataNode or NameNode on a running
cluster's directories, or a DataNode on a copy of another's data directory, exits with
a message naming what it clashes with, and the running cluster goes on as it was."""
from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import sys

from client.fs import HfedFileSystem
from client.minicluster import REPO_ROOT, wait_for
from protos import config
from protos.files import replace_atomically


def run(*args, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=str(REPO_ROOT), stdin=subprocess.DEVNULL)


def datanode_view(cluster, ns: str = "ns-a") -> dict:
    """What the NameNode believes of its DataNodes: uuid -> (host label, address, alive)."""
    return {d.id.uuid: (d.id.host_label, d.id.transfer_address, d.alive) for d in cluster.stats(ns).datanodes}


def write_and_read(cluster, path: str) -> None:
    fs = HfedFileSystem(conf=str(cluster.config_path), skip_instance_cache=True)
    data = os.urandom(300_000)
    fs.pipe_file(path, data)
    assert fs.cat_file(path) == data


def test_second_datanode_on_the_same_data_dir_exits_naming_the_holder(fresh_cluster):
    cluster = fresh_cluster(namespaces=1, datanodes=2, replication=2)
    data_dir = cluster.config.datanodes["host-1"].data_dir
    first = cluster.datanode_pid("host-1")
    before = datanode_view(cluster)

    # As the README's `hfed datanode --host-label host-1` against the running cluster.
    second = run("client.cli", "--conf", str(cluster.config_path), "datanode", "--host-label", "host-1")

    assert second.returncode != 0
    assert f"{data_dir} is in use by another DataNode (pid {first} on host {socket.gethostname()}" in second.stderr
    assert "Traceback" not in second.stderr
    assert cluster.datanode_pid("host-1") == first
    assert datanode_view(cluster) == before
    write_and_read(cluster, "/data/after-second-start.bin")


def test_second_namenode_says_what_it_clashes_with(fresh_cluster):
    cluster = fresh_cluster(namespaces=1, datanodes=1, replication=1)
    meta_dir = cluster.config.nameservices["ns-a"].meta_dir
    second = run("client.cli", "--conf", str(cluster.config_path), "namenode", "--nameservice", "ns-a")
    assert second.returncode != 0
    assert f"{meta_dir} is in use by another NameNode (pid {cluster.namenode_pid('ns-a')} on host" in second.stderr
    assert "Traceback" not in second.stderr

    # Another meta_dir on the running NameNode's address: the address is what it clashes with.
    cfg = cluster.config
    elsewhere = dataclasses.replace(cfg, nameservices={"ns-a": dataclasses.replace(
        cfg.nameservices["ns-a"], meta_dir=str(cluster.dir / "other-meta"))})
    conf = cluster.dir / "other.toml"
    replace_atomically(conf, config.dump(elsewhere))
    third = run("namenode.server", "--conf", str(conf), "--nameservice", "ns-a")
    assert third.returncode != 0
    assert f"namespace ns-a: cannot bind {cfg.nameservices['ns-a'].address} (in use" in third.stderr
    assert "Traceback" not in third.stderr
    write_and_read(cluster, "/data/after-second-namenode.bin")


def test_copied_data_dir_is_refused_by_the_namenode_and_changes_nothing(fresh_cluster):
    cluster = fresh_cluster(namespaces=2, datanodes=3, replication=2)
    write_and_read(cluster, "/data/before-copy.bin")
    cfg = cluster.config
    original = cfg.datanodes["host-1"]
    copy_dir = cluster.dir / "copied-host-1"
    shutil.copytree(original.data_dir, copy_dir)     # VERSION (the uuid) and in_use.lock come along
    before = {ns: datanode_view(cluster, ns) for ns in cfg.nameservices}
    uuid = next(u for u, (label, _a, _alive) in before["ns-a"].items() if label == "host-1")
    live_address = before["ns-a"][uuid][1]

    # The copy runs as another host's DataNode, with its own config file beside the cluster's.
    with_copy = dataclasses.replace(cfg, datanodes={
        **cfg.datanodes, "host-9": dataclasses.replace(original, host_label="host-9", data_dir=str(copy_dir))})
    conf = cluster.dir / "with-copy.toml"
    replace_atomically(conf, config.dump(with_copy))
    copy = run("datanode.server", "--conf", str(conf), "--host-label", "host-9")

    assert copy.returncode != 0
    assert f"DataNode uuid {uuid} is registered by a live DataNode (host-1) at {live_address}" in copy.stderr
    assert "Traceback" not in copy.stderr
    assert {ns: datanode_view(cluster, ns) for ns in cfg.nameservices} == before
    write_and_read(cluster, "/data/after-copy.bin")
    write_and_read(cluster, "/user/after-copy.bin")


def test_datanode_killed_with_sigkill_restarts_over_its_stale_lock(fresh_cluster):
    cluster = fresh_cluster(namespaces=1, datanodes=2, replication=2, dead_interval=60.0)
    lock = os.path.join(cluster.config.datanodes["host-1"].data_dir, "in_use.lock")
    old_pid = cluster.datanode_pid("host-1")
    cluster.kill_datanode("host-1", signal.SIGKILL)
    assert open(lock).read().startswith(f"{old_pid}@")       # left behind, naming the dead holder

    # Well within dead_interval: the NameNode still counts the old one alive, but its
    # address no longer answers, so the restart (at a new port) registers at once.
    cluster.start_datanode("host-1")
    new_pid = cluster.datanode_pid("host-1")
    assert open(lock).read() == f"{new_pid}@{socket.gethostname()}\n"
    assert f"taking over the lock {lock} left by pid {old_pid}" in cluster.log_path("host-1").read_text()
    wait_for(lambda: sum(alive for _l, _a, alive in datanode_view(cluster).values()) == 2, 15, "two live DataNodes")
    write_and_read(cluster, "/data/after-restart.bin")
