"""Every client operation against a real two-namespace cluster, routed by the mount table."""
import errno
import hashlib
import os
import time

import pytest

from client.fs import HfedFileSystem
from client.namenode_client import NamenodeClient
from protos import errors


def test_root_lists_mount_points_as_directories(fs):
    entries = {e["name"]: e for e in fs.ls("/")}
    assert set(entries) == {"/user", "/tmp", "/data"}
    assert {e["type"] for e in entries.values()} == {"directory"}
    assert entries["/data"]["nameservice"] == "ns-b" and entries["/user"]["nameservice"] == "ns-a"


def test_paths_route_to_their_namespace(fs):
    fs.makedirs("/user/route/a", exist_ok=True)
    fs.makedirs("/data/route/b", exist_ok=True)
    assert fs.session.resolve("/user/route/a").nameservice == "ns-a"
    assert fs.session.resolve("/data/route/b").nameservice == "ns-b"
    assert fs.info("/data/route/b")["nameservice"] == "ns-b"
    # Each namespace holds only its own subtree, and refuses calls for another's (by the
    # cluster mount table), naming the owner; a session's client follows the table there.
    routed = fs.session.namenode("ns-b")
    plain = NamenodeClient("ns-b", routed.address, metadata=routed.metadata, cfg=fs.session.cfg)
    try:
        with pytest.raises(errors.MountMoved, match="belongs to namespace ns-a"):
            plain.get_file_info("/user/route")
    finally:
        plain.close()
    assert routed.get_file_info("/user/route").is_dir
    fs.rm("/user/route", recursive=True)
    fs.rm("/data/route", recursive=True)


def test_write_read_roundtrip_across_blocks(fs):
    data = os.urandom(3 * (1 << 20) + 4321)      # 4 blocks of 1 MiB
    with fs.open("/data/rt/file.bin", "wb") as f:
        for i in range(0, len(data), 100_000):
            f.write(data[i:i + 100_000])
    info = fs.info("/data/rt/file.bin")
    assert info["size"] == len(data) and info["type"] == "file" and info["replication"] == 3
    assert len(fs.block_locations("/data/rt/file.bin").blocks) == 4
    assert fs.cat_file("/data/rt/file.bin") == data
    with fs.open("/data/rt/file.bin", "rb") as f:
        f.seek((1 << 20) - 10)
        assert f.read(20) == data[(1 << 20) - 10:(1 << 20) + 10]
        f.seek(-5, os.SEEK_END)
        assert f.read() == data[-5:]
        assert f.read(10) == b""
        with pytest.raises(ValueError):
            f.seek(-1)
    assert fs.cat_file("/data/rt/file.bin", start=5, end=9) == data[5:9]
    fs.rm("/data/rt", recursive=True)


def test_put_get_du_and_attributes(fs, tmp_path):
    local = tmp_path / "in.bin"
    local.write_bytes(os.urandom(2_500_000))
    fs.put_file(str(local), "/user/attrs/in.bin")
    fs.get_file("/user/attrs/in.bin", str(tmp_path / "out.bin"))
    assert hashlib.sha256((tmp_path / "out.bin").read_bytes()).digest() == \
        hashlib.sha256(local.read_bytes()).digest()
    assert fs.du("/user/attrs") == 2_500_000
    summary = fs.content_summary("/user/attrs")
    assert summary["file_count"] == 1 and summary["space_consumed"] == 3 * 2_500_000
    fs.chmod("/user/attrs/in.bin", 0o600)
    fs.setrep("/user/attrs/in.bin", 2)
    info = fs.info("/user/attrs/in.bin")
    assert info["permission"] == 0o600 and info["replication"] == 2
    fs.mv("/user/attrs/in.bin", "/user/attrs/renamed.bin")
    assert fs.exists("/user/attrs/renamed.bin") and not fs.exists("/user/attrs/in.bin")
    fs.rm("/user/attrs", recursive=True)


def test_cross_namespace_rename_is_refused_naming_both(fs):
    fs.pipe_file("/user/x-move", b"payload")
    with pytest.raises(OSError) as err:
        fs.mv("/user/x-move", "/data/x-move")
    assert err.value.errno == errno.EXDEV
    assert "ns-a" in str(err.value) and "ns-b" in str(err.value)
    assert fs.cat_file("/user/x-move") == b"payload" and not fs.exists("/data/x-move")
    fs.rm("/user/x-move")


@pytest.mark.parametrize("bad", ["relative/path", "/user/a//b", "/user/./a", "/user/../a", "/user/a\x00b",
                                 "/user/" + "n" * 256, "/user/" + "/".join(["d" * 100] * 41)])
def test_invalid_paths_get_a_clear_error(fs, bad):
    with pytest.raises(ValueError, match="invalid path"):
        fs.makedirs(bad)


def test_bad_operations_change_nothing(fs):
    fs.makedirs("/user/bad/dir/sub", exist_ok=True)
    fs.pipe_file("/user/bad/file", b"x")
    with pytest.raises(IsADirectoryError):
        with fs.open("/user/bad/dir", "wb") as f:
            f.write(b"no")
    with pytest.raises((NotADirectoryError, FileExistsError)):
        fs.mkdir("/user/bad/file/child")
    with pytest.raises(ValueError, match="own subtree"):
        fs.mv("/user/bad/dir", "/user/bad/dir/sub/inside")
    with pytest.raises(OSError) as not_empty:
        fs.rm("/user/bad/dir")
    assert not_empty.value.errno == errno.ENOTEMPTY
    for protected in ("/", "/user", "/data"):
        with pytest.raises((ValueError, PermissionError)):
            fs.rm(protected, recursive=True)
        with pytest.raises((ValueError, PermissionError, OSError)):
            fs.mv(protected, "/tmp/elsewhere")
    with pytest.raises(FileNotFoundError):
        fs.cat_file("/user/bad/missing")
    assert fs.isdir("/user/bad/dir/sub") and fs.cat_file("/user/bad/file") == b"x"
    with fs.open("/user/bad/file", "rb") as f:
        with pytest.raises(ValueError):
            f.seek(-3)
    fs.rm("/user/bad", recursive=True)


def test_one_writer_per_file(fs):
    writer = fs.open("/user/lease-file", "wb")
    writer.write(b"first")
    rival = HfedFileSystem(conf=fs.session.cfg, skip_instance_cache=True)   # another client, another lease holder
    with pytest.raises(OSError) as err:
        with rival.open("/user/lease-file", "wb") as f:
            f.write(b"second")
    assert err.value.errno == errno.EBUSY and "/user/lease-file" in str(err.value)
    writer.close()
    assert fs.cat_file("/user/lease-file") == b"first"
    fs.rm("/user/lease-file")


def test_permissions_follow_the_caller(fs, cluster):
    fs.makedirs("/user/owned", exist_ok=True)
    fs.chmod("/user/owned", 0o700)
    mallory = HfedFileSystem(conf=str(cluster.config_path), user="mallory", skip_instance_cache=True)
    with pytest.raises(PermissionError, match="mallory"):
        mallory.ls("/user/owned")
    with pytest.raises(PermissionError):
        mallory.pipe_file("/user/owned/evil", b"x")
    mallory.pipe_file("/tmp/mallory-file", b"mine")       # /tmp is world-writable
    assert fs.cat_file("/tmp/mallory-file") == b"mine"
    fs.rm("/tmp/mallory-file")
    fs.rm("/user/owned", recursive=True)


def test_listing_large_directory_pages(fs):
    fs.makedirs("/data/many", exist_ok=True)
    nn = fs.session.namenode("ns-b")
    for i in range(1203):
        nn.mkdirs(f"/data/many/d{i:05d}", 0o755, False)
    names = fs.ls("/data/many", detail=False)
    assert len(names) == 1203 and names == sorted(names)
    fs.rm("/data/many", recursive=True)


def test_namenode_sees_files_it_reports(cluster, fs):
    fs.pipe_file("/data/stat-me", b"abc")
    deadline = time.time() + 5
    stats = dict(fs.session.stats())
    while time.time() < deadline and stats["ns-b"].files < 1:
        stats = dict(fs.session.stats())
    assert stats["ns-b"].files >= 1 and sum(d.alive for d in stats["ns-b"].datanodes) == 3
    fs.rm("/data/stat-me")
