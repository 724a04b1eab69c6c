"""`hfed dfs -rm` and `-expunge` with the trash on (fs.trash.interval = 60 minutes), on a
3-namespace cluster: ns-a owns /user and /tmp (the homes), ns-b /data, ns-c /ns-c.
The `hfed` CLI runs as a subprocess, as the cluster's owner or as alice."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from client.fs import HfedFileSystem
from client.minicluster import MiniCluster
from client.trash import Trash
from protos.trash_layout import checkpoint_time
from protos import rpc

ME = rpc.current_user()
HOME_TRASH = f"/user/{ME}/.Trash"
T0 = 1_800_000_000.0     # a fixed "now" for checkpoint names


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    mc = MiniCluster(tmp_path_factory.mktemp("trash"), namespaces=3, datanodes=2, replication=2,
                     block_size=1 << 20, heartbeat_interval=0.2, dead_interval=2.0, webhdfs=False,
                     settings={"trash_interval": 60.0, "trash_checkpoint_interval": 30.0}).up()
    try:
        yield mc
    finally:
        mc.down()


@pytest.fixture(scope="module")
def fs(cluster):
    filesystem = HfedFileSystem(conf=str(cluster.config_path), skip_instance_cache=True)
    yield filesystem
    filesystem.close()


def hfed(cluster, *args, user=None):
    env = dict(os.environ, HFED_CONF=str(cluster.config_path))
    if user:
        env["HFED_USER"], env["HFED_GROUPS"] = user, user
    return subprocess.run([sys.executable, "-m", "client.cli", "dfs", *args], capture_output=True, text=True,
                          env=env, timeout=120)


def ok(proc):
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    return proc.stdout


def test_rm_moves_into_the_home_trash_of_the_owning_namespace(cluster, fs):
    fs.pipe({f"/user/{ME}/t1/f": b"kept", "/tmp/t1-f": b"tmp too"})
    out = ok(hfed(cluster, "-rm", f"/user/{ME}/t1/f", "/tmp/t1-f"))
    assert f"Moved: '/user/{ME}/t1/f' to trash at: {HOME_TRASH}/Current/user/{ME}/t1/f" in out
    assert fs.cat_file(f"{HOME_TRASH}/Current/user/{ME}/t1/f") == b"kept"
    assert fs.cat_file(f"{HOME_TRASH}/Current/tmp/t1-f") == b"tmp too"     # /tmp is ns-a too
    assert not fs.exists(f"/user/{ME}/t1/f") and not fs.exists("/tmp/t1-f")


def test_rm_r_in_another_namespace_goes_to_its_mount_points_trash(cluster, fs):
    fs.pipe({"/data/t2/d/a": b"a", "/data/t2/d/sub/b": b"b" * 2_000_000})
    out = ok(hfed(cluster, "-rm", "-r", "/data/t2/d"))
    trashed = f"/data/.Trash/{ME}/Current/data/t2/d"
    assert f"to trash at: {trashed}" in out
    assert fs.cat_file(f"{trashed}/sub/b") == b"b" * 2_000_000 and not fs.exists("/data/t2/d")
    assert fs.info("/data/.Trash")["permission"] == 0o1777          # every user's trash fits below
    assert fs.info(f"/data/.Trash/{ME}")["permission"] == 0o700
    assert fs.info(trashed)["nameservice"] == "ns-b"                  # a rename, never a copy


def test_a_name_already_in_the_trash_gets_the_time_appended(cluster, fs):
    for content in (b"first", b"second"):
        fs.pipe_file(f"/user/{ME}/t3", content)
        ok(hfed(cluster, "-rm", f"/user/{ME}/t3"))
    names = fs.ls(f"{HOME_TRASH}/Current/user/{ME}", detail=False)
    clashes = [n for n in names if n.startswith(f"{HOME_TRASH}/Current/user/{ME}/t3")]
    assert len(clashes) == 2
    later = max(clashes, key=len)
    assert later[len(f"{HOME_TRASH}/Current/user/{ME}/t3"):].isdigit()
    assert fs.cat_file(later) == b"second"


def test_a_file_in_the_trash_where_a_directory_goes_is_renamed_around(cluster, fs):
    fs.pipe_file(f"/user/{ME}/t4", b"file")
    ok(hfed(cluster, "-rm", f"/user/{ME}/t4"))
    fs.pipe_file(f"/user/{ME}/t4/inner", b"inner")      # now t4 is a directory
    out = ok(hfed(cluster, "-rm", f"/user/{ME}/t4/inner"))
    target = out.split("to trash at: ")[1].strip()
    assert target.startswith(f"{HOME_TRASH}/Current/user/{ME}/t4") and target.endswith("/inner")
    assert fs.cat_file(target) == b"inner" and fs.cat_file(f"{HOME_TRASH}/Current/user/{ME}/t4") == b"file"


def test_skip_trash_and_paths_in_the_trash_are_deleted_for_good(cluster, fs):
    fs.pipe_file("/data/t5", b"x")
    out = ok(hfed(cluster, "-rm", "-skipTrash", "/data/t5"))
    assert "Deleted /data/t5" in out and not fs.exists(f"/data/.Trash/{ME}/Current/data/t5")
    fs.pipe_file(f"/user/{ME}/t5", b"y")
    ok(hfed(cluster, "-rm", f"/user/{ME}/t5"))
    out = ok(hfed(cluster, "-rm", f"{HOME_TRASH}/Current/user/{ME}/t5"))
    assert "Deleted" in out and not fs.exists(f"{HOME_TRASH}/Current/user/{ME}/t5")


def test_a_path_holding_the_trash_is_refused(cluster, fs):
    fs.pipe_file(f"/user/{ME}/t6", b"z")
    proc = hfed(cluster, "-rm", "-r", f"/user/{ME}")
    assert proc.returncode == 1 and "contains the trash" in proc.stderr and "-skipTrash" in proc.stderr
    assert fs.cat_file(f"/user/{ME}/t6") == b"z"


def test_fsspec_rm_has_no_trash(fs):
    fs.pipe_file(f"/user/{ME}/t7", b"gone")
    fs.rm(f"/user/{ME}/t7")
    assert not fs.exists(f"/user/{ME}/t7") and not fs.exists(f"{HOME_TRASH}/Current/user/{ME}/t7")


def test_trash_off_deletes(fs):
    fs.pipe_file("/data/t8", b"x")
    assert Trash(fs, interval_minutes=0).move_to_trash("/data/t8") is None
    assert fs.exists("/data/t8")          # the caller deletes; nothing was moved
    fs.rm("/data/t8")


def test_a_trash_the_user_cannot_create_is_a_clear_error_and_nothing_is_deleted(cluster, fs):
    fs.makedirs("/ns-c/alice", exist_ok=True)
    fs.chown("/ns-c/alice", "alice", "alice")
    fs.makedirs("/user/alice", exist_ok=True)
    fs.chown("/user/alice", "alice", "alice")
    alice = HfedFileSystem(conf=str(cluster.config_path), user="alice", skip_instance_cache=True)
    try:
        alice.pipe_file("/ns-c/alice/f", b"precious")
        proc = hfed(cluster, "-rm", "/ns-c/alice/f", user="alice")
        assert proc.returncode == 1, (proc.stdout, proc.stderr)
        line = proc.stderr.strip()
        assert len(line.splitlines()) == 1 and "/ns-c/.Trash/alice" in line and "not writable by alice" in line
        assert alice.cat_file("/ns-c/alice/f") == b"precious" and not fs.exists("/ns-c/.Trash")
        fs.makedirs("/ns-c/.Trash", exist_ok=True)       # the administrator's fix, as on HDFS
        fs.chmod("/ns-c/.Trash", 0o1777)
        out = ok(hfed(cluster, "-rm", "/ns-c/alice/f", user="alice"))
        assert "to trash at: /ns-c/.Trash/alice/Current/ns-c/alice/f" in out
        assert fs.info("/ns-c/.Trash/alice")["owner"] == "alice"
        alice.pipe_file("/user/alice/g", b"home")
        ok(hfed(cluster, "-rm", "/user/alice/g", user="alice"))
        assert alice.cat_file("/user/alice/.Trash/Current/user/alice/g") == b"home"
        with pytest.raises(PermissionError):              # her trash is hers alone
            HfedFileSystem(conf=str(cluster.config_path), user="mallory",
                           skip_instance_cache=True).ls("/ns-c/.Trash/alice")
    finally:
        alice.close()


def test_expunge_checkpoints_current_then_deletes_old_checkpoints(fs):
    fs.pipe({f"/user/{ME}/t9": b"1", "/data/t9": b"2"})
    for path in (f"/user/{ME}/t9", "/data/t9"):
        Trash(fs, now=lambda: T0).move_to_trash(path)
    roots = Trash(fs).roots()
    assert HOME_TRASH in roots and f"/data/.Trash/{ME}" in roots
    Trash(fs, now=lambda: T0).expunge()
    stamp = "270115080000"            # T0 in UTC, yyMMddHHmmss
    assert checkpoint_time(stamp) == T0
    assert fs.cat_file(f"{HOME_TRASH}/{stamp}/user/{ME}/t9") == b"1"
    assert fs.cat_file(f"/data/.Trash/{ME}/{stamp}/data/t9") == b"2"
    assert not fs.exists(f"{HOME_TRASH}/Current") and not fs.exists(f"/data/.Trash/{ME}/Current")
    fs.pipe_file(f"/user/{ME}/t9b", b"3")
    Trash(fs, now=lambda: T0 + 60).move_to_trash(f"/user/{ME}/t9b")
    fs.makedirs(f"{HOME_TRASH}/not-a-checkpoint", exist_ok=True)
    Trash(fs, now=lambda: T0 + 30 * 60).expunge()     # 30 minutes on: the checkpoint is kept
    assert fs.exists(f"{HOME_TRASH}/{stamp}") and fs.exists(f"{HOME_TRASH}/270115083000")
    Trash(fs, now=lambda: T0 + 61 * 60).expunge()     # past the 60-minute interval: deleted
    assert not fs.exists(f"{HOME_TRASH}/{stamp}") and not fs.exists(f"/data/.Trash/{ME}/{stamp}")
    assert fs.exists(f"{HOME_TRASH}/270115083000") and fs.exists(f"{HOME_TRASH}/not-a-checkpoint")
    fs.rm(f"{HOME_TRASH}/not-a-checkpoint", recursive=True)


def test_expunge_immediate_empties_every_trash_root(cluster, fs):
    fs.pipe({f"/user/{ME}/t10": b"1", "/data/t10": b"2"})
    ok(hfed(cluster, "-rm", f"/user/{ME}/t10", "/data/t10"))
    out = ok(hfed(cluster, "-expunge", "-immediate"))
    assert "Deleted trash checkpoint" in out
    for root in (HOME_TRASH, f"/data/.Trash/{ME}"):
        assert fs.ls(root, detail=False) == []
    assert ok(hfed(cluster, "-expunge")) == ""          # nothing left to do


def test_expunge_refuses_arguments(cluster):
    proc = hfed(cluster, "-expunge", "/user")
    assert proc.returncode == 2


def test_rm_of_a_missing_path_with_trash_on(cluster):
    proc = hfed(cluster, "-rm", f"/user/{ME}/never-there")
    assert proc.returncode == 1 and "never-there" in proc.stderr and "Traceback" not in proc.stderr
