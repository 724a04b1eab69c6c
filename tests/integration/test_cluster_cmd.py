"""`hfed cluster up|status|down` and restarting a cluster with its data."""
from __future__ import annotations

import os
import subprocess
import sys

import requests

from client.minicluster import MiniCluster

HFED = [sys.executable, "-m", "client.cli"]


def run(env, *args, input=None, check=0):
    proc = subprocess.run([*HFED, *args], input=input, capture_output=True, env=env, timeout=120)
    assert proc.returncode == check, (args, proc.returncode, proc.stdout.decode(), proc.stderr.decode())
    return proc.stdout.decode()


def test_cluster_up_status_down_and_restart_keeps_data(tmp_path, hfed_env):
    directory = tmp_path / "c1"
    data = os.urandom(3 * (1 << 20) + 123)
    try:
        text = run(hfed_env, "cluster", "up", "--dir", str(directory), "--block-size", "1M")
        assert "started" in text and f"Config: {directory / 'hfed.toml'}" in text
        assert "export HFED_CONF=" in text
        # the pointer file makes the cluster the default, inside HFED_HOME only
        pointer = tmp_path / "hfed-home" / "current"
        assert pointer.read_text().strip() == str(directory / "hfed.toml")

        status = run(hfed_env, "cluster", "status", "--dir", str(directory))
        rows = [line.split() for line in status.splitlines()[2:] if not line.startswith(("Security", "webhdfs"))]
        assert "Security: token authentication" in status     # secure unless the config says otherwise
        assert sorted(r[1] for r in rows) == ["host-1", "host-2", "host-3", "ns-a", "ns-b"]
        assert all(r[-1] == "running" for r in rows), status
        webhdfs = next(line.split()[1] for line in status.splitlines() if line.startswith("webhdfs "))

        # no --conf and no HFED_CONF: the CLI finds the cluster through the pointer
        run(hfed_env, "dfs", "-put", "-", "/data/kept.bin", input=data)
        run(hfed_env, "dfs", "-mkdir", "-p", "/user/someone/dir")
        block_size = run(hfed_env, "dfs", "-stat", "%o", "/data/kept.bin").strip()
        assert block_size == str(1 << 20)
        # the WebHDFS gateway `cluster up` started serves it, with the token `hfed webhdfs -token` prints
        token = run(hfed_env, "webhdfs", "-token").strip()
        assert requests.get(f"{webhdfs}/webhdfs/v1/data/kept.bin", params={"op": "OPEN", "delegation": token},
                            timeout=60).content == data

        assert "stopped" in run(hfed_env, "cluster", "down")  # finds the dir through the pointer too
        status = run(hfed_env, "cluster", "status", "--dir", str(directory))
        assert "running" not in status and status.count("stopped") == 6 and "webhdfs  stopped" in status
        assert not list((directory / "run").glob("*.pid"))

        text = run(hfed_env, "cluster", "up", "--dir", str(directory))
        assert "restarted" in text
        proc = subprocess.run([*HFED, "dfs", "-cat", "/data/kept.bin"], capture_output=True, env=hfed_env,
                              timeout=120)
        assert proc.returncode == 0 and proc.stdout == data, proc.stderr.decode()
        assert run(hfed_env, "dfs", "-test", "-d", "/user/someone/dir") == ""
        run(hfed_env, "cluster", "down", "--dir", str(directory))
    finally:
        MiniCluster(directory).down()  # whatever happened above, no daemon outlives the test


def test_cluster_status_of_a_missing_cluster_fails_cleanly(tmp_path, hfed_env):
    proc = subprocess.run([*HFED, "cluster", "status", "--dir", str(tmp_path / "none")], capture_output=True,
                          env=hfed_env, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.decode().startswith("hfed: ") and len(proc.stderr.decode().strip().splitlines()) == 1


def test_cluster_up_with_bad_size_is_a_usage_error(tmp_path, hfed_env):
    proc = subprocess.run([*HFED, "cluster", "up", "--dir", str(tmp_path / "x"), "--block-size", "lots"],
                          capture_output=True, env=hfed_env, timeout=60)
    assert proc.returncode == 2 and "block-size" in proc.stderr.decode()
    assert not (tmp_path / "x").exists()
