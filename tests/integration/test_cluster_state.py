"""`hfed cluster up` keeps the user's config as written (runtime state goes to run/state.json),
applies or refuses options on an existing cluster, and every command can say which config it
uses (`hfed cluster which`, `hfed -v`)."""
from __future__ import annotations

import difflib
import json
import re
import socket
import subprocess
import sys

from client.minicluster import MiniCluster

HFED = [sys.executable, "-m", "client.cli"]


def hfed(env, *args, input=None):
    return subprocess.run([*HFED, *args], input=input, capture_output=True, env=env, timeout=180)


def ok(env, *args, input=None) -> str:
    proc = hfed(env, *args, input=input)
    assert proc.returncode == 0, (args, proc.stdout.decode(), proc.stderr.decode())
    return proc.stdout.decode()


def failed(env, *args) -> str:
    """stderr of a command that must fail with exit code 1."""
    proc = hfed(env, *args)
    assert proc.returncode == 1, (args, proc.stdout.decode(), proc.stderr.decode())
    return proc.stderr.decode()


def small_cluster(env, directory, *options) -> None:
    ok(env, "cluster", "up", "--dir", str(directory), "--namespaces", "1", "--datanodes", "1",
       "--replication", "1", "--block-size", "1M", *options)


def nothing_running(directory) -> bool:
    return not MiniCluster(directory).running_daemons()


def test_config_is_kept_byte_for_byte_and_a_failed_start_leaves_it_untouched(tmp_path, hfed_env):
    directory = tmp_path / "c"
    config = directory / "hfed.toml"
    holder = socket.socket()
    try:
        small_cluster(hfed_env, directory)
        ok(hfed_env, "cluster", "down", "--dir", str(directory))
        # The user edits it: a comment, a size with a unit, a fixed NameNode address.
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        text = config.read_text()
        text = re.sub(r"(?m)^block_size = \d+$", 'block_size = "1M"   # small blocks: files span several', text)
        text = re.sub(r'(?m)^(\[nameservices\.ns-a\]\naddress = )"127\.0\.0\.1:0"',
                      rf'# fixed, so other tools can be pointed at it\n\1"127.0.0.1:{port}"', text)
        assert f"127.0.0.1:{port}" in text and '"1M"' in text
        config.write_text(text)
        written = config.read_bytes()

        # The fixed port is taken: the start fails, and the config is as the user wrote it.
        stderr = failed(hfed_env, "cluster", "up", "--dir", str(directory))
        assert "ns-a" in stderr
        assert config.read_bytes() == written and nothing_running(directory)

        holder.close()
        text = ok(hfed_env, "cluster", "up", "--dir", str(directory))
        assert "restarted" in text and "applied:" not in text   # the parser's defaults are no requests
        assert config.read_bytes() == written
        state = json.loads((directory / "run" / "state.json").read_text())
        assert state["nameservices"] == {"ns-a": f"127.0.0.1:{port}"}
        assert state["config"] == str(config) and list(state["datanodes"]) == ["host-1"] and state["webhdfs"]
        data = b"kept\n" * 300_000
        ok(hfed_env, "dfs", "-put", "-", "/data/f.bin", input=data)
        assert ok(hfed_env, "dfs", "-stat", "%o", "/data/f.bin").strip() == str(1 << 20)
        ok(hfed_env, "cluster", "down", "--dir", str(directory))
        assert config.read_bytes() == written

        ok(hfed_env, "cluster", "up", "--dir", str(directory))
        assert config.read_bytes() == written
        assert hfed(hfed_env, "dfs", "-cat", "/data/f.bin").stdout == data
        ok(hfed_env, "cluster", "down", "--dir", str(directory))
        assert config.read_bytes() == written
    finally:
        holder.close()
        MiniCluster(directory).down()


def test_port_zero_nameservices_are_found_through_the_state_file(tmp_path, hfed_env):
    directory = tmp_path / "c"
    try:
        small_cluster(hfed_env, directory)
        written = (directory / "hfed.toml").read_bytes()
        assert b'address = "127.0.0.1:0"' in written
        bound = json.loads((directory / "run" / "state.json").read_text())["nameservices"]["ns-a"]
        assert not bound.endswith(":0")
        status = ok(hfed_env, "cluster", "status", "--dir", str(directory))
        assert bound in status
        # a client given only the config finds the NameNode
        ok(hfed_env, "--conf", str(directory / "hfed.toml"), "dfs", "-mkdir", "-p", "/user/x")
        ok(hfed_env, "cluster", "down", "--dir", str(directory))
        assert (directory / "hfed.toml").read_bytes() == written
    finally:
        MiniCluster(directory).down()


def test_options_on_an_existing_cluster_are_applied_or_refused(tmp_path, hfed_env):
    directory = tmp_path / "c"
    config = directory / "hfed.toml"
    try:
        small_cluster(hfed_env, directory)
        ok(hfed_env, "cluster", "down", "--dir", str(directory))
        config.write_text("# my cluster\n" + config.read_text().replace("replication = 1\n",
                                                                        "replication = 1   # one copy\n"))
        before = config.read_text()

        text = ok(hfed_env, "cluster", "up", "--dir", str(directory), "--replication", "2", "--datanodes", "2",
                  "--namespaces", "2")
        assert "applied: default replication 1 -> 2" in text
        assert "applied: DataNode host-2 added" in text and "applied: namespace ns-b added" in text
        after = config.read_text()
        # only the asked-for lines changed: the comments and the rest are as they were
        assert after.startswith("# my cluster\n") and "replication = 2   # one copy\n" in after
        changed = [line for line in difflib.ndiff(before.splitlines(), after.splitlines()) if line[:1] in "+-"]
        assert [line for line in changed if line.startswith("-")] == ["- replication = 1   # one copy"], changed
        assert "[nameservices.ns-b]" in after and "[datanodes.host-2]" in after
        status = ok(hfed_env, "cluster", "status", "--dir", str(directory))
        running = {line.split()[1] for line in status.splitlines() if line.endswith("running")}
        assert running == {"ns-a", "ns-b", "host-1", "host-2"}, status
        ok(hfed_env, "dfs", "-put", "-", "/data/two.txt", input=b"two copies\n")
        assert ok(hfed_env, "dfs", "-stat", "%r", "/data/two.txt").strip() == "2"
        ok(hfed_env, "cluster", "down", "--dir", str(directory))

        # Fewer namespaces or DataNodes, another block size: refused, naming what; nothing changes.
        applied = config.read_bytes()
        stderr = failed(hfed_env, "cluster", "up", "--dir", str(directory), "--namespaces", "1",
                        "--datanodes", "1", "--block-size", "2M", "--racks", "2")
        assert "block size 1M" in stderr and "--block-size 2M not applied" in stderr
        assert "has no racks in its [topology] table: --racks 2 not applied" in stderr
        assert "would drop ns-b" in stderr and "would drop host-2" in stderr
        assert config.read_bytes() == applied and nothing_running(directory)

        # The values it already has are no change at all.
        text = ok(hfed_env, "cluster", "up", "--dir", str(directory), "--namespaces", "2", "--replication", "2",
                  "--block-size", "1M")
        assert "applied:" not in text and config.read_bytes() == applied
        ok(hfed_env, "cluster", "down", "--dir", str(directory))
    finally:
        MiniCluster(directory).down()


def test_cluster_which_and_verbose_name_the_config_and_the_rule(tmp_path, hfed_env):
    home = tmp_path / "hfed-home"
    default = home / "cluster" / "hfed.toml"
    which = ok(hfed_env, "cluster", "which")
    assert which.splitlines()[0] == str(default) and "the default" in which and "does not exist" in which

    pointed = tmp_path / "c" / "hfed.toml"
    pointed.parent.mkdir()
    pointed.write_text("")
    home.mkdir()
    (home / "current").write_text(f"{pointed}\n")
    which = ok(hfed_env, "cluster", "which")
    assert which.splitlines()[0] == str(pointed) and f"from the pointer {home / 'current'}" in which

    env_conf = tmp_path / "env.toml"
    which = ok({**hfed_env, "HFED_CONF": str(env_conf)}, "cluster", "which")
    assert which.splitlines()[0] == str(env_conf) and "from $HFED_CONF" in which

    flag = tmp_path / "flag.toml"
    which = ok({**hfed_env, "HFED_CONF": str(env_conf)}, "--conf", str(flag), "cluster", "which")
    assert which.splitlines()[0] == str(flag) and "given with --conf" in which

    # -v: one line naming the config, before whatever the command says
    proc = hfed({**hfed_env, "HFED_CONF": str(env_conf)}, "-v", "dfs", "-ls", "/")
    first = proc.stderr.decode().splitlines()[0]
    assert first == f"hfed: config {env_conf} (from $HFED_CONF)"


def test_a_stale_pointer_is_an_error_naming_it(tmp_path, hfed_env):
    home = tmp_path / "hfed-home"
    home.mkdir()
    gone = tmp_path / "deleted-cluster" / "hfed.toml"
    (home / "current").write_text(f"{gone}\n")
    for command in (("cluster", "which"), ("dfs", "-ls", "/"), ("cluster", "status"), ("cluster", "down")):
        stderr = hfed(hfed_env, *command).stderr.decode()
        assert f"current-cluster pointer {home / 'current'}" in stderr and f"{gone}, which does not exist" in stderr, \
            (command, stderr)
    # --conf and $HFED_CONF do not consult the pointer
    env_conf = tmp_path / "env.toml"
    assert ok({**hfed_env, "HFED_CONF": str(env_conf)}, "cluster", "which").startswith(str(env_conf))
