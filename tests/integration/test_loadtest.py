"""bench/locustfile.py, run headless by locust against real clusters: the storms
produce CSV rows without failures, a down cluster is one clear line and a
non-zero exit, and the memory-wall scenario stops by itself at the wall."""
from __future__ import annotations

import csv
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from client.minicluster import MiniCluster
from protos import config as hconfig

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = REPO_ROOT / "bench" / "locustfile.py"
EXPECTED_NAMES = {"write": {"create", "mkdirs"}, "read": {"getFileInfo", "listing"},
                  "mixed": {"getFileInfo", "listing"}}    # mixed writes 5%: they may or may not show
WALL_OBJECTS = 1500
USERS = 4


def run_locust(conf, prefix: Path, *args, seconds: int = 3, timeout: float = 60):
    env = {k: v for k, v in os.environ.items() if k != "HFED_CONF"}
    cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary",
           "-u", str(USERS), "-r", str(USERS), "-t", f"{seconds}s", "--hfed-conf", str(conf), "--csv", str(prefix), *args]
    return subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def load_cluster(tmp_path_factory):
    with MiniCluster(tmp_path_factory.mktemp("load"), namespaces=2, datanodes=0) as cluster:
        yield cluster


@pytest.mark.parametrize("scenario", ["write", "read", "mixed"])
def test_storm_writes_csv_rows_without_failures(load_cluster, tmp_path, scenario):
    prefix = tmp_path / scenario
    done = run_locust(load_cluster.config_path, prefix, "--scenario", scenario, "--read-files", "300")
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [r for r in read_csv(Path(f"{prefix}_stats.csv")) if r["Name"] != "Aggregated"]
    names = {r["Name"] for r in rows}
    assert EXPECTED_NAMES[scenario] <= names
    assert all(int(r["Request Count"]) > 0 and int(r["Failure Count"]) == 0 for r in rows), rows
    if scenario == "mixed":
        requests = {r["Name"]: int(r["Request Count"]) for r in rows}
        writes = requests.get("create", 0) + requests.get("mkdirs", 0)
        assert writes < 0.2 * sum(requests.values())
    samples = read_csv(Path(f"{prefix}_namespaces.csv"))
    assert {s["nameservice"] for s in samples} == {"ns-a", "ns-b"}
    if scenario == "write":     # the files the users made are in the namespaces' own counts
        created = int(next(r for r in rows if r["Name"] == "create")["Request Count"])
        last = {s["nameservice"]: s for s in samples}
        # A user stopped mid-create leaves a file the NameNode has but locust did not count.
        assert created <= sum(int(s["files_added"]) for s in last.values()) <= created + USERS


def test_down_cluster_is_one_clear_line_and_a_nonzero_exit(tmp_path):
    with socket.socket() as s:          # a port nobody listens on once closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conf = tmp_path / "hfed.toml"
    conf.write_text(hconfig.dump(hconfig.from_dict({
        "nameservices": {"ns-a": {"address": f"127.0.0.1:{port}"}},
        "mounts": [{"path": "/user", "nameservice": "ns-a"}]})))
    done = run_locust(conf, tmp_path / "down", "--scenario", "write")
    assert done.returncode == 2
    message = [line for line in done.stderr.splitlines() if line.startswith("hfed load test:")]
    assert len(message) == 1
    assert f"namespace ns-a at 127.0.0.1:{port}" in message[0] and "is the cluster up?" in message[0]
    assert not Path(f"{tmp_path / 'down'}_stats.csv").exists() or \
        all(r["Request Count"] == "0" for r in read_csv(Path(f"{tmp_path / 'down'}_stats.csv")))


def test_memory_wall_stops_at_the_wall_and_reports_the_count(tmp_path):
    budgets = {ns: {"max_objects": WALL_OBJECTS} for ns in ("ns-a", "ns-b")}
    with MiniCluster(tmp_path / "wall", namespaces=2, datanodes=0, settings={"durable_edits": False},
                     nameservice_settings=budgets) as cluster:
        prefix = tmp_path / "wall"
        done = run_locust(cluster.config_path, prefix, "--scenario", "wall", "--batch", "50", seconds=60,
                          timeout=120)
        stats = {ns: cluster.stats(ns) for ns in cluster.nameservices}
    # Exit 0 only when every namespace refused (a run that hit -t would exit 1).
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    last = {s["nameservice"]: s for s in read_csv(Path(f"{prefix}_namespaces.csv"))}
    for ns, reply in stats.items():
        assert reply.objects >= WALL_OBJECTS
        assert last[ns]["refusing"] == "1"
        assert int(last[ns]["files"]) == reply.files
        assert f"memory wall: {ns} refused at {reply.files:,} files" in done.stdout
        assert int(last[ns]["first_refusal_files"]) == reply.files      # nothing accepted after the first refusal
    # Failures are grouped by kind and namespace (not one row per path), and every refused
    # file of a batch is one failed request.
    failures = read_csv(Path(f"{prefix}_failures.csv"))
    kinds = {(r["Name"], r["Error"]) for r in failures}
    assert {error for _, error in kinds} == {f"ENOSPC namespace object budget {ns}" for ns in stats}, kinds
    assert len(failures) == len(kinds) <= 2 * len(stats)          # create (batched) and mkdirs at most
    rows = {r["Name"]: r for r in read_csv(Path(f"{prefix}_stats.csv"))}
    creates = rows["create (batched)"]
    refused = sum(int(r["Occurrences"]) for r in failures if r["Name"] == "create (batched)")
    assert int(creates["Failure Count"]) == refused > 0
    made = int(creates["Request Count"]) - refused
    # A user stopped mid-batch leaves files the NameNode has but locust did not count.
    assert made <= sum(int(s["files_added"]) for s in last.values()) <= made + USERS * 50


def test_make_loadtest_uses_a_fresh_temp_dir_and_writes_where_asked(tmp_path):
    """`make loadtest` as the README runs it: its cluster lives in a new temporary directory
    that is gone afterwards, and the CSVs land in LOADTEST_OUT, none in bench/results."""
    venv = Path(sys.prefix)
    scratch, out = tmp_path / "tmp", tmp_path / "out"
    scratch.mkdir()
    results_before = set((REPO_ROOT / "bench" / "results").iterdir())
    env = {k: v for k, v in os.environ.items() if k not in ("HFED_CONF", "MAKEFLAGS")}
    env.update(TMPDIR=str(scratch), HFED_HOME=str(tmp_path / "home"))
    # -o: the venv is already installed; make must not reinstall it from this checkout.
    done = subprocess.run(["make", "-o", f"{venv}/.installed", f"VENV={venv}", "loadtest",
                           "LOADTEST_ARGS=-u 2 -r 2 -t 3s", f"LOADTEST_OUT={out}"],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for scenario in ("write", "read", "mixed"):
        assert (out / f"loadtest_{scenario}_stats.csv").exists(), sorted(p.name for p in out.iterdir())
    assert list(scratch.iterdir()) == [], "the scratch cluster's directory was left behind"
    assert set((REPO_ROOT / "bench" / "results").iterdir()) == results_before
