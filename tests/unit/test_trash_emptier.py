"""The NameNode's trash emptier and the trash's names, driven by plain calls."""
import pytest

from namenode import trash_emptier
from namenode.namesystem import Namesystem
from namenode.ops import attrs, dirs, files
from protos.trash_layout import checkpoint_name, checkpoint_time, expired

T0 = 1_800_000_000.0         # 2027-01-15 08:00:00 UTC


def test_checkpoint_names_are_hdfs_timestamps_in_utc():
    assert checkpoint_name(T0) == "270115080000"
    assert checkpoint_time("270115080000") == checkpoint_time("270115080000-2") == T0
    assert checkpoint_time("Current") is None and checkpoint_time("2701") is None
    assert not expired("270115080000", T0 + 60 * 60, 60) and expired("270115080000", T0 + 60 * 60 + 1, 60)
    assert not expired("junk", T0 * 2, 60)


@pytest.fixture
def fsn():
    fsn = Namesystem("ns-a", "CID", "BP-1", "admin", block_size=1024, replication=1, dead_interval=10,
                     mount_dirs=("/user", "/tmp"))
    root = fsn.ns.caller("admin")
    for home in ("/user/alice", "/user/bob"):
        dirs.mkdirs(fsn, root, home, 0o755, True)
    dirs.mkdirs(fsn, root, "/tmp/.Trash/carol/Current/tmp", 0o700, True)
    attrs.set_owner(fsn, root, "/user/alice", "alice", "alice")
    dirs.mkdirs(fsn, root, "/user/alice/.Trash/Current/user/alice", 0o700, True)
    dirs.mkdirs(fsn, root, "/user/alice/.Trash/not-a-checkpoint", 0o700, True)
    files.create(fsn, root, "/user/alice/.Trash/Current/user/alice/f", 0o644, True, True, 1, 0, "c")
    return fsn


def exists(fsn, path):
    return fsn.ns.resolve(path)[-1] is not None


def test_trash_roots_are_homes_and_mount_point_trash_dirs(fsn):
    assert trash_emptier.trash_roots(fsn, fsn.mount_dirs) == ["/user/alice/.Trash", "/tmp/.Trash/carol"]


def test_a_pass_checkpoints_current_and_later_deletes_expired_checkpoints(fsn):
    deleted, made = trash_emptier.empty_once(fsn, fsn.mount_dirs, 60, T0)
    assert deleted == [] and sorted(made) == ["/tmp/.Trash/carol/270115080000", "/user/alice/.Trash/270115080000"]
    assert exists(fsn, "/user/alice/.Trash/270115080000/user/alice/f")
    assert not exists(fsn, "/user/alice/.Trash/Current")
    dirs.mkdirs(fsn, fsn.ns.caller("admin"), "/user/alice/.Trash/Current/x", 0o700, True)
    deleted, made = trash_emptier.empty_once(fsn, fsn.mount_dirs, 60, T0)     # same second: -1
    assert made == ["/user/alice/.Trash/270115080000-1"]
    deleted, made = trash_emptier.empty_once(fsn, fsn.mount_dirs, 60, T0 + 3601)
    assert sorted(deleted) == ["/tmp/.Trash/carol/270115080000", "/user/alice/.Trash/270115080000",
                               "/user/alice/.Trash/270115080000-1"] and made == []
    assert exists(fsn, "/user/alice/.Trash/not-a-checkpoint")       # not ours to judge: left alone
