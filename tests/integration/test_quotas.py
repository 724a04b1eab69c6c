"""Directory quotas on a real cluster: dfsadmin commands, EDQUOT refusals through the client,
and counted usage that equals a walk of the tree under concurrent writers, after an
edit-log replay and after an image."""
from __future__ import annotations

import errno
import random
import threading
import time

import pytest

from client import cli
from client.fs import HfedFileSystem
from client.minicluster import MiniCluster

BLOCK = 1 << 20


@pytest.fixture(scope="module")
def mc(tmp_path_factory):
    cluster = MiniCluster(tmp_path_factory.mktemp("quotas"), namespaces=1, datanodes=2, replication=2,
                          block_size=BLOCK, heartbeat_interval=0.2, dead_interval=2.0,
                          settings={"small_file_threshold": 4096})
    cluster.up()
    try:
        yield cluster
    finally:
        cluster.down()


def new_fs(mc) -> HfedFileSystem:
    return HfedFileSystem(conf=str(mc.config_path), skip_instance_cache=True)


@pytest.fixture
def fs(mc):
    filesystem = new_fs(mc)
    yield filesystem
    filesystem.close()


def hfed(mc, capsys, *args) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.run(["--conf", str(mc.config_path), *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def quotas(fs, path) -> tuple[int, int]:
    summary = fs.content_summary(path)
    return summary["quota"], summary["space_quota"]


def test_dfsadmin_sets_and_clears_quotas_with_hdfs_sizes(mc, fs, capsys):
    fs.makedirs("/user/qa/one", exist_ok=True)
    fs.makedirs("/user/qa/two", exist_ok=True)
    assert quotas(fs, "/user/qa/one") == (-1, -1)
    assert hfed(mc, capsys, "dfsadmin", "-setQuota", "100", "/user/qa/one", "/user/qa/two")[0] == 0
    assert hfed(mc, capsys, "dfsadmin", "-setSpaceQuota", "10g", "/user/qa/one")[0] == 0
    assert quotas(fs, "/user/qa/one") == (100, 10 << 30) and quotas(fs, "/user/qa/two") == (100, -1)
    assert hfed(mc, capsys, "dfsadmin", "-setSpaceQuota", "1T", "/user/qa/two")[0] == 0
    assert quotas(fs, "/user/qa/two") == (100, 1 << 40)
    assert hfed(mc, capsys, "dfsadmin", "-clrQuota", "/user/qa/one")[0] == 0
    assert hfed(mc, capsys, "dfsadmin", "-clrSpaceQuota", "/user/qa/two")[0] == 0
    assert quotas(fs, "/user/qa/one") == (-1, 10 << 30) and quotas(fs, "/user/qa/two") == (100, -1)


@pytest.mark.parametrize("args,why", [(["-setQuota", "0", "/user"], "'0' is not a valid name quota"),
                                      (["-setQuota", "-3", "/user"], "'-3' is not a valid name quota"),
                                      (["-setQuota", "ten", "/user"], "'ten' is not a valid name quota"),
                                      (["-setSpaceQuota", "1.5x", "/user"], "'1.5x' is not a valid space quota"),
                                      (["-setQuota", "5"], "needs a quota and at least one directory"),
                                      (["-clrQuota"], "needs at least one directory")])
def test_bad_quota_arguments_are_usage_errors(mc, fs, capsys, args, why):
    code, _out, err = hfed(mc, capsys, "dfsadmin", *args)
    assert code == 2 and why in err
    assert quotas(fs, "/user") == (-1, -1)


def test_a_file_or_missing_directory_fails_alone(mc, fs, capsys):
    fs.makedirs("/user/qb", exist_ok=True)
    fs.pipe_file("/user/qb/f", b"x")
    code, _out, err = hfed(mc, capsys, "dfsadmin", "-setQuota", "5", "/user/qb/f", "/user/qb/nope", "/user/qb")
    assert code == 1
    assert "-setQuota: /user/qb/f (namespace ns-a): Cannot set quota on a file" in err
    assert "/user/qb/nope" in err and quotas(fs, "/user/qb") == (5, -1)


def test_refusals_are_edquot_naming_the_directory_and_change_nothing(mc, fs):
    fs.makedirs("/user/qc", exist_ok=True)
    fs.set_quota("/user/qc", namespace_quota=3)
    fs.mkdir("/user/qc/a")
    fs.pipe_file("/user/qc/a/small", b"s" * 100)               # a small file (CommitSmall)
    with pytest.raises(OSError) as e:
        fs.mkdir("/user/qc/b")
    assert e.value.errno == errno.EDQUOT
    assert "The NameSpace quota (directories and files) of directory /user/qc (namespace ns-a) is exceeded: " \
           "quota=3 file count=4" in str(e.value)
    with pytest.raises(OSError) as e:
        fs.pipe_file("/user/qc/c", b"c" * 10)
    assert e.value.errno == errno.EDQUOT and not fs.exists("/user/qc/c") and not fs.exists("/user/qc/b")
    fs.set_quota("/user/qc", namespace_quota=-1, space_quota=BLOCK * 2)   # 2 replicas: a block does not fit
    fs.pipe_file("/user/qc/d", b"d" * 50)                      # small: 100 bytes of 2 replicas
    with pytest.raises(OSError) as e:
        fs.pipe_file("/user/qc/big", b"b" * 10_000)            # a block: 2 MiB counted while written
    assert e.value.errno == errno.EDQUOT and "The DiskSpace quota of /user/qc" in str(e.value)
    assert not fs.exists("/user/qc/big") or fs.info("/user/qc/big")["size"] == 0
    summary = fs.content_summary("/user/qc")
    assert summary["space_consumed"] <= BLOCK * 2 and summary["space_quota"] == BLOCK * 2


# ---------------------------------------------------------------- exactness
QUOTA_DIRS = ["/user/qx", "/user/qx/a", "/user/qx/a/b", "/user/qy"]


def walk(fs, path) -> tuple[int, int, int]:
    """(directories, files, bytes x replication) under ``path``, the client's own listing walk."""
    dirs, files, space = 1, 0, 0
    for _name, info in fs.find(path, withdirs=True, detail=True).items():
        if info["name"].rstrip("/") == path:
            continue
        if info["type"] == "directory":
            dirs += 1
        else:
            files += 1
            space += info["size"] * info["replication"]
    return dirs, files, space


def counted(fs, path) -> tuple[int, int, int]:
    summary = fs.content_summary(path)
    return summary["directory_count"], summary["file_count"], summary["space_consumed"]


def churn(mc, seed: int, ops: int, refused: list) -> None:
    rng, fs = random.Random(seed), new_fs(mc)
    places = QUOTA_DIRS + ["/user/free"]
    try:
        for i in range(ops):
            target = f"{rng.choice(places)}/w{seed}-{rng.randrange(6)}"
            op = rng.random()
            try:
                if op < 0.35:
                    size = rng.choice([10, 1000, 5000, BLOCK + 7])      # small files and block files
                    fs.pipe_file(target, b"z" * size)
                elif op < 0.5:
                    fs.makedirs(f"{target}/{rng.choice('mn')}", exist_ok=True)
                elif op < 0.65:
                    fs.rm(target, recursive=True)
                elif op < 0.9:
                    fs.mv(target, f"{rng.choice(places)}/w{seed}-{rng.randrange(6)}")
                else:
                    fs.setrep(target, rng.choice([1, 2]))
            except OSError as e:
                if e.errno == errno.EDQUOT:
                    refused.append(str(e))
    finally:
        fs.close()


def wait_writable(fs) -> None:
    deadline = time.monotonic() + 30
    while fs.session.namenode("ns-a").set_safe_mode().on:
        assert time.monotonic() < deadline, "the NameNode stayed in safe mode"
        time.sleep(0.1)


def test_counted_usage_equals_a_walk_under_concurrent_clients_and_across_restarts(mc, fs, capsys):
    for d in QUOTA_DIRS + ["/user/free"]:
        fs.makedirs(d, exist_ok=True)
    fs.set_quota("/user/qx", namespace_quota=40, space_quota=12 * BLOCK)
    fs.set_quota("/user/qx/a", namespace_quota=14)
    fs.set_quota("/user/qx/a/b", space_quota=3 * BLOCK)
    fs.set_quota("/user/qy", namespace_quota=10, space_quota=4 * BLOCK)
    refused: list = []
    threads = [threading.Thread(target=churn, args=(mc, seed, 60, refused)) for seed in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert refused, "the workload never reached a quota"
    expected = {d: walk(fs, d) for d in QUOTA_DIRS}
    assert {d: counted(fs, d) for d in QUOTA_DIRS} == expected
    mc.kill_namenode("ns-a")                                  # edits since the last image: replayed
    mc.start_namenode("ns-a")
    again = new_fs(mc)
    try:
        wait_writable(again)
        assert {d: counted(again, d) for d in QUOTA_DIRS} == expected
        assert hfed(mc, capsys, "dfsadmin", "-saveNamespace")[0] == 0
        mc.kill_namenode("ns-a")                              # the image alone
        mc.start_namenode("ns-a")
    finally:
        again.close()
    last = new_fs(mc)
    try:
        wait_writable(last)
        assert {d: counted(last, d) for d in QUOTA_DIRS} == expected
        assert quotas(last, "/user/qx/a/b") == (-1, 3 * BLOCK)
    finally:
        last.close()
