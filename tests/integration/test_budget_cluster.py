"""Per-namespace memory budgets on a real cluster: refused creates, what keeps working,
room after deletes, the dfsadmin report, and NameNodes that refuse an impossible budget."""
from __future__ import annotations

import errno
import subprocess
import sys
import time
from pathlib import Path

import pytest

from client.fs import HfedFileSystem
from protos import config as hconfig

HFED = [sys.executable, "-m", "client.cli"]
EMPTY_NS_A = 3        # objects of an empty ns-a: /, /user, /tmp
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def connect():
    opened = []

    def make(mc) -> HfedFileSystem:
        fs = HfedFileSystem(conf=str(mc.config_path), skip_instance_cache=True)
        opened.append(fs)
        return fs
    yield make
    for fs in opened:
        fs.close()


def hfed(env, conf, *args) -> subprocess.CompletedProcess:
    return subprocess.run([*HFED, "--conf", str(conf), *args], capture_output=True, text=True, env=env, timeout=120)


def test_object_budget_refuses_creates_keeps_reads_and_frees_room_on_delete(fresh_cluster, connect, hfed_env):
    limit = EMPTY_NS_A + 1 + 4 * 2     # /user/t and four one-block files
    mc = fresh_cluster(nameservice_settings={"ns-a": {"max_objects": limit}})
    fs = connect(mc)
    fs.makedirs("/user/t")
    for i in range(4):
        fs.pipe_file(f"/user/t/f{i}", b"x%d" % i)

    with pytest.raises(OSError) as refused:
        fs.pipe_file("/user/t/f4", b"late")
    assert refused.value.errno == errno.ENOSPC
    message = str(refused.value)
    assert "/user/t/f4" in message and "namespace ns-a" in message
    assert f"{limit} objects" in message and f"of {limit} allowed" in message and "RSS " in message
    with pytest.raises(OSError) as refused_dir:
        fs.makedirs("/user/t/sub")
    assert refused_dir.value.errno == errno.ENOSPC and "/user/t/sub" in str(refused_dir.value)
    assert not fs.exists("/user/t/f4") and not fs.exists("/user/t/sub")

    # Reads, listings and renames of what exists keep working; the other namespace is unaffected.
    assert fs.cat_file("/user/t/f1") == b"x1"
    assert sorted(fs.ls("/user/t", detail=False)) == [f"/user/t/f{i}" for i in range(4)]
    fs.mv("/user/t/f0", "/user/t/g0")
    assert fs.info("/user/t/g0")["size"] == 2
    fs.pipe_file("/data/elsewhere", b"ns-b has room")
    assert fs.cat_file("/data/elsewhere") == b"ns-b has room"

    report = hfed(hfed_env, mc.config_path, "dfsadmin", "-report")
    assert report.returncode == 0, report.stderr
    ns_a = report.stdout.split("Namespace ns-a", 1)[1].split("Namespace ns-b", 1)[0]
    assert f"Objects (files + directories + blocks): {limit}" in ns_a
    assert f"Memory budget: {limit} objects (100.00% used)" in ns_a
    assert "BUDGET REACHED" in ns_a and "namespace object budget reached" in ns_a
    assert f"HDFS NameNode heap estimate (150 B/object): {150 * limit} " in ns_a
    assert "NameNode memory (RSS):" in ns_a and "Bytes per object:" in ns_a
    ns_b = report.stdout.split("Namespace ns-b", 1)[1]
    assert "Memory budget: unlimited" in ns_b and "BUDGET REACHED" not in ns_b

    status = hfed(hfed_env, mc.config_path, "cluster", "status", "--dir", str(mc.dir))
    assert status.returncode == 0, status.stderr
    rows = {line.split()[1]: line.split() for line in status.stdout.splitlines()[2:]}
    assert rows["ns-a"][4] == str(limit) and rows["ns-a"][6] == "FULL" and rows["ns-a"][-1] == "running"
    assert rows["ns-b"][6] == "none" and rows["host-1"][4:7] == ["-", "-", "-"]

    fs.rm("/user/t/g0")                  # one file and its block: room for one more file
    fs.pipe_file("/user/t/f4", b"fits again")
    assert fs.cat_file("/user/t/f4") == b"fits again"
    with pytest.raises(OSError) as full_again:
        fs.touch("/user/t/f5")
    assert full_again.value.errno == errno.ENOSPC


def test_memory_budget_refuses_creates_past_the_rss_budget_and_deletes_make_room(fresh_cluster, connect, hfed_env):
    # Start once without a budget to learn what this NameNode's RSS is, then give it 6 MiB more
    # (a restarted NameNode starts a MiB or two above the first start's RSS: a fresh CI machine
    # refused the very first mkdir with only 2 MiB of room).
    mc = fresh_cluster(namespaces=1, datanodes=1, replication=1, settings={"durable_edits": False})
    stats = connect(mc).session.namenode("ns-a").get_stats()
    mc.down()
    cfg = mc.config
    cfg.nameservices["ns-a"].max_memory = budget = stats.rss_bytes + (6 << 20)
    mc.config_path.write_text(hconfig.dump(cfg))
    mc.up()
    fs = connect(mc)
    fs.makedirs("/user/m")
    name = "n" * 200                    # long names: fewer files to reach the budget
    created, refusal = 0, None
    while refusal is None and created < 200_000:
        results = fs.touch_many([f"/user/m/{name}{created + i}" for i in range(500)])
        failed = [r for r in results if r is not None]
        created += len(results) - len(failed)
        refusal = failed[0] if failed else None
    assert isinstance(refusal, OSError) and refusal.errno == errno.ENOSPC, f"{created} files and no refusal"
    message = str(refusal)
    assert f"/user/m/{name}{created} (namespace ns-a): namespace memory budget reached" in message
    assert f"of {budget / (1 << 20):,.1f} MiB budget" in message and "max_memory" in message
    assert fs.exists(f"/user/m/{name}0") and fs.info(f"/user/m/{name}{created - 1}")["size"] == 0
    assert not fs.exists(f"/user/m/{name}{created}")
    assert fs.session.namenode("ns-a").get_stats().max_memory == budget

    # The first refusal is the wall: nothing is accepted again without deletes, not even
    # once a second has passed and freed memory went back to the OS (the budget used to
    # accept again as soon as RSS dipped under max_memory).
    time.sleep(1.2)
    later = fs.touch_many([f"/user/m/later{i}" for i in range(50)])
    assert all(isinstance(r, OSError) and r.errno == errno.ENOSPC for r in later), later
    report = hfed(hfed_env, mc.config_path, "dfsadmin", "-report")
    assert report.returncode == 0, report.stderr
    method = "model" if "predicted by the model" in message else "measured RSS"
    assert f"Budget method: {method}" in report.stdout and "BUDGET REACHED" in report.stdout

    for i in range(10):                  # RSS barely shrinks, but ten freed objects make room for ten
        fs.rm(f"/user/m/{name}{i}")
    for i in range(10):
        fs.touch(f"/user/m/again{i}")
    assert fs.exists("/user/m/again9")


def namenode_alone(tmp_path, **limits) -> tuple[subprocess.CompletedProcess, str]:
    """Run a NameNode for ns-a with ``limits`` in its config; (the finished process, meta_dir)."""
    meta = tmp_path / "meta-a"
    cfg = hconfig.ClusterConfig(
        cluster_id="CID-budget", mounts=[("/user", "ns-a"), ("/tmp", "ns-a")],
        nameservices={"ns-a": hconfig.NameserviceConfig("ns-a", "127.0.0.1:0", str(meta), **limits)})
    conf = tmp_path / "hfed.toml"
    conf.write_text(hconfig.dump(cfg))
    proc = subprocess.run([sys.executable, "-m", "namenode.server", "--conf", str(conf), "--nameservice", "ns-a"],
                          capture_output=True, text=True, timeout=60, cwd=REPO)
    return proc, meta


def test_namenode_refuses_a_memory_budget_below_an_empty_namespace(tmp_path):
    proc, meta = namenode_alone(tmp_path, max_memory=1 << 20)
    assert proc.returncode == 1
    message = proc.stderr.strip().splitlines()[-1]
    assert message.startswith("hfed namenode: ") and "nameservice ns-a" in message
    assert "max_memory = 1048576 (1.0 MiB) is below what an empty namespace needs" in message
    assert "RSS is already" in message and "Traceback" not in proc.stderr
    assert not meta.exists()             # refused before anything was written


def test_namenode_refuses_an_object_budget_with_no_room(tmp_path):
    proc, meta = namenode_alone(tmp_path, max_objects=EMPTY_NS_A)
    assert proc.returncode == 1
    assert f"nameservice ns-a: max_objects = {EMPTY_NS_A} leaves no room: an empty namespace already has " \
           f"{EMPTY_NS_A} objects" in proc.stderr
    assert not meta.exists()
