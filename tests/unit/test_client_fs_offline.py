"""HfedFileSystem decisions the mount table makes alone (no server is running)."""
import errno
import socket

import pytest

from client.fs import HfedFileSystem
from protos import errors
from protos.config import from_dict


def dead_address() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture
def fs():
    cfg = from_dict({"nameservices": {"ns-a": {"address": dead_address()}, "ns-b": {"address": dead_address()}},
                     "mounts": [{"path": "/user", "nameservice": "ns-a"}, {"path": "/data", "nameservice": "ns-b"},
                                {"path": "/deep/mount", "nameservice": "ns-b"}],
                     # An in-memory config has no directory, hence no cluster CA: plain channels.
                     "security": {"tls": False}})
    fs = HfedFileSystem(cfg, user="alice", host="host-1")
    yield fs
    fs.close()


def test_root_lists_mount_points_as_directories(fs):
    listing = fs.ls("/")
    assert [e["name"] for e in listing] == ["/data", "/deep", "/user"]
    assert all(e["type"] == "directory" for e in listing)
    assert {e["name"]: e["nameservice"] for e in listing} == {"/data": "ns-b", "/deep": "", "/user": "ns-a"}
    assert fs.ls("/deep", detail=False) == ["/deep/mount"]
    assert fs.info("/")["type"] == "directory" and fs.isdir("/deep")


def test_unmounted_path_names_the_path(fs):
    with pytest.raises(FileNotFoundError, match="/elsewhere"):
        fs.ls("/elsewhere")
    with pytest.raises(FileNotFoundError, match="/elsewhere"):
        fs.info("hfed:///elsewhere")


def test_mount_points_and_root_cannot_be_deleted_or_renamed(fs):
    for path in ("/", "/user", "/deep", "/deep/mount"):
        with pytest.raises(PermissionError, match=path):
            fs.rm(path, recursive=True)
    with pytest.raises(PermissionError, match="/data"):
        fs.mv("/data", "/user/data")


def test_cross_namespace_rename_is_exdev_naming_both(fs):
    with pytest.raises(OSError) as info:
        fs.mv("/user/x", "/data/x")
    assert info.value.errno == errno.EXDEV and isinstance(info.value, errors.CrossNamespace)
    message = str(info.value)
    assert "/user/x" in message and "ns-a" in message and "/data/x" in message and "ns-b" in message


def test_down_namespace_is_connection_error_naming_it(fs):
    with pytest.raises(ConnectionError, match="ns-a"):
        fs.ls("/user")
    assert fs.ls("/", detail=False) == ["/data", "/deep", "/user"]  # the mount table still answers
    stats = dict(fs.session.stats())
    assert isinstance(stats["ns-a"], ConnectionError) and isinstance(stats["ns-b"], ConnectionError)


def test_bad_paths_and_modes_rejected(fs):
    with pytest.raises(ValueError, match="'/user/../x'"):
        fs.info("/user/../x")
    with pytest.raises(ValueError, match="/user/f"):
        fs.open("/user/f", "r+b")
