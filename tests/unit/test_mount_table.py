"""Mount table: ViewFs longest-prefix rules, fallback, listing of internal dirs."""
import pytest

from client.mount_table import MountTable
from protos import errors
from protos.config import from_dict


def table(mounts, fallback=None):
    raw = {"nameservices": {"ns-a": {"address": "127.0.0.1:1"}, "ns-b": {"address": "127.0.0.1:2"},
                            "ns-c": {"address": "127.0.0.1:3"}},
           "mounts": [{"path": p, "nameservice": ns} for p, ns in mounts]}
    if fallback:
        raw["fallback"] = fallback
    return MountTable(from_dict(raw))


MOUNTS = [("/user", "ns-a"), ("/tmp", "ns-a"), ("/data", "ns-b"), ("/data/big", "ns-c"), ("/x/y/z", "ns-b")]


def test_longest_prefix_by_component():
    t = table(MOUNTS)
    assert t.resolve("/user") == ("ns-a", "/user")
    assert t.resolve("/user/alice/f.txt") == ("ns-a", "/user/alice/f.txt")
    assert t.resolve("/data/set") == ("ns-b", "/data/set")
    assert t.resolve("/data/big") == ("ns-c", "/data/big")
    assert t.resolve("/data/big/part-0") == ("ns-c", "/data/big/part-0")
    assert t.resolve("/data/bigger") == ("ns-b", "/data/bigger")
    assert t.resolve("/data/") == ("ns-b", "/data")


def test_no_match_without_fallback_names_the_path():
    t = table(MOUNTS)
    with pytest.raises(FileNotFoundError, match="/username"):
        t.resolve("/username")
    with pytest.raises(errors.NotFound, match="/"):
        t.resolve("/")


def test_fallback_takes_unmatched_paths():
    t = table(MOUNTS, fallback="ns-c")
    assert t.resolve("/username") == ("ns-c", "/username")
    assert t.resolve("/") == ("ns-c", "/")
    assert t.resolve("/user/x") == ("ns-a", "/user/x")


def test_invalid_paths_rejected():
    t = table(MOUNTS, fallback="ns-a")
    for bad in ("user", "/a//b", "/a/../b", "/a/./b", ""):
        with pytest.raises(ValueError):
            t.resolve(bad)


def test_mount_points_under_root_and_internal_dirs():
    t = table(MOUNTS)
    assert t.mount_points_under("/") == {"/data": "ns-b", "/tmp": "ns-a", "/user": "ns-a", "/x": None}
    assert t.mount_points_under("/x") == {"/x/y": None}
    assert t.mount_points_under("/x/y") == {"/x/y/z": "ns-b"}
    assert t.mount_points_under("/data") == {"/data/big": "ns-c"}
    assert t.mount_points_under("/user") == {}
    assert t.mount_points_under("/user/alice") == {}


def test_mount_point_and_internal_dir_predicates():
    t = table(MOUNTS)
    assert t.is_mount_point("/user") and t.is_mount_point("/data/big")
    assert not t.is_mount_point("/user/alice") and not t.is_mount_point("/x")
    assert t.is_internal_dir("/") and t.is_internal_dir("/x") and t.is_internal_dir("/x/y")
    assert not t.is_internal_dir("/user") and not t.is_internal_dir("/nowhere")
    for protected in ("/", "/user", "/x", "/x/y/z", "/data"):
        assert t.is_protected(protected)
    assert not t.is_protected("/user/alice") and not t.is_protected("/data/big/part")


def test_mounts_below():
    t = table(MOUNTS)
    assert t.mounts_below("/data") == [("/data/big", "ns-c")]
    assert t.mounts_below("/") == sorted(MOUNTS)
    assert t.mounts_below("/user") == []


def test_root_mount_owns_everything():
    t = table([("/", "ns-a"), ("/data", "ns-b")])
    assert t.resolve("/anything") == ("ns-a", "/anything")
    assert t.resolve("/data/x") == ("ns-b", "/data/x")
    assert t.mount_points_under("/") == {"/data": "ns-b"}
    assert not t.is_internal_dir("/")
