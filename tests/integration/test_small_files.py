"""Small files on a real cluster: written straight to DataNodes into staging
containers, readable at once, packed (compressed) by DataNodes when the packer
runs, read back through the normal API and CLI, archived in place, and served
from another replica when a container replica is corrupt.

The cluster here packs (threshold 1 MiB, the default) but only when asked:
pack_age and pack_count are out of reach, so a test sees files in staging
containers until it calls PackNow (or `hfed archive`)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from client.fs import HfedFileSystem
from client.minicluster import MiniCluster, wait_for
from protos import config

HFED = [sys.executable, "-m", "client.cli"]
THRESHOLD = 1 << 20
ROOT = "/user/small"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    mc = MiniCluster(tmp_path_factory.mktemp("small"), namespaces=2, datanodes=3, block_size=1 << 20,
                     replication=3, heartbeat_interval=0.2, dead_interval=2.0, settings={
                         "small_file_threshold": THRESHOLD, "pack_age": 3600.0, "pack_count": 1_000_000}).up()
    try:
        yield mc
    finally:
        mc.down()


def make_fs(cluster, **kwargs) -> HfedFileSystem:
    return HfedFileSystem(conf=str(cluster.config_path), skip_instance_cache=True, **kwargs)


@pytest.fixture
def fs(cluster):
    filesystem = make_fs(cluster, host="host-1")   # a reader on a DataNode's host: short-circuit first
    yield filesystem
    filesystem.rm(ROOT, recursive=True) if filesystem.exists(ROOT) else None
    filesystem.close()


def hfed(cluster, *args, user=None):
    env = dict(os.environ, HFED_CONF=str(cluster.config_path))
    if user:
        env["HFED_USER"], env["HFED_GROUPS"] = user, user
    return subprocess.run([*HFED, *args], capture_output=True, text=True, env=env, timeout=300)


def pack_now(fs, ns="ns-a"):
    fs.session.flush_small_files()         # close this client's staging containers: the packer packs closed ones
    return fs.session.namenode(ns).pack_now()


def sample_files(n=12) -> dict[str, bytes]:
    sizes = [1, 100, 511, 512, 513, 4096, 65_536, 100_000, 300_000, THRESHOLD - 1]
    return {f"{ROOT}/f{i:03d}": os.urandom(sizes[i % len(sizes)]) for i in range(n)}


def container_of(fs, path):
    return fs.block_locations(path).blocks[0].block.block_id


def test_small_files_go_to_datanodes_are_readable_at_once_then_packed(cluster, fs):
    files = sample_files()
    for path, data in files.items():
        fs.pipe_file(path, data)
    assert {fs.info(p)["layout"] for p in files} == {"packed"}
    assert len({container_of(fs, p) for p in files}) == 1        # one staging container, still open
    remote = make_fs(cluster, host="elsewhere")                  # another client reads the open container
    try:
        assert all(remote.cat_file(p) == data for p, data in files.items())
    finally:
        remote.close()
    with fs.open(f"{ROOT}/f008", "rb") as f:                     # seek and partial reads
        f.seek(1000)
        assert f.read(5000) == files[f"{ROOT}/f008"][1000:6000]
    stats = fs.session.namenode("ns-a").get_stats()
    assert stats.small_staged == 0 and stats.small_staged_bytes == 0      # no bytes in the NameNode
    staging = container_of(fs, f"{ROOT}/f000")

    reply = pack_now(fs)
    assert reply.files_packed >= len(files) and reply.containers_written >= 1
    assert {container_of(fs, p) for p in files} != {staging}
    remote = make_fs(cluster, host="elsewhere")                  # no local replica: streamed ranges
    try:
        for reader in (fs, remote):
            assert all(reader.cat_file(p) == data for p, data in files.items())
            big = files[f"{ROOT}/f009"]
            assert reader.cat_file(f"{ROOT}/f009", start=THRESHOLD - 10_000, end=THRESHOLD - 1) == big[-9_999:]
    finally:
        remote.close()
    located = fs.block_locations(f"{ROOT}/f005")
    assert len(located.blocks) == 1 and located.blocks[0].block.num_bytes > located.file_length == 4096
    stats = fs.session.namenode("ns-a").get_stats()
    assert stats.small_packed >= len(files) and stats.containers >= 1 and stats.small_staged == 0
    wait_for(lambda: not fs.session.namenode("ns-a").get_stats().containers > 1, 15, "the staging container to go")

    fsck = hfed(cluster, "fsck", ROOT, "-files")
    assert fsck.returncode == 0, fsck.stderr
    assert f"Packed files:\t\t\t{len(files)} in 1 container(s)" in fsck.stdout, fsck.stdout
    assert f"{ROOT}/f005 4096 bytes, packed in container" in fsck.stdout
    report = hfed(cluster, "dfsadmin", "-report")
    assert report.returncode == 0 and "Memory saved by packing (estimate):" in report.stdout, report.stdout


def test_packing_compresses_text_like_files_each_on_its_own(cluster, fs):
    lines = [f'{{"user": {i}, "event": "click", "page": "/item/{i % 97}", "ok": true}}\n' for i in range(400)]
    files = {f"{ROOT}/logs/part-{i:03d}.json": "".join(lines[i:i + 150]).encode() for i in range(60)}
    assert fs.pipe_many(files) == [None] * len(files)
    pack_now(fs)
    assert all(fs.cat_file(p) == data for p, data in files.items())
    assert len({container_of(fs, p) for p in files}) == 1
    container_bytes = fs.block_locations(next(iter(files))).blocks[0].block.num_bytes
    assert container_bytes <= 0.5 * sum(len(d) for d in files.values())


def test_pipe_many_writes_thousands_in_few_calls_and_bad_entries_fail_alone(cluster, fs):
    files = {f"{ROOT}/many/d{i % 7}/f{i:05d}": os.urandom(1 + i % 3000) for i in range(2500)}
    bad = {f"{ROOT}/many/d0/f00000/under-a-file": b"x",       # the parent is a file
           "relative/path": b"y"}
    results = fs.pipe_many(list(files.items()) + list(bad.items()))
    assert results[:len(files)] == [None] * len(files)
    assert isinstance(results[-2], NotADirectoryError) and "under-a-file" in str(results[-2])
    assert isinstance(results[-1], ValueError)
    assert not fs.exists(f"{ROOT}/many/d0/f00000/under-a-file")
    sample = list(files)[::97]
    assert all(fs.cat_file(p) == files[p] for p in sample)
    assert fs.pipe_many({f"{ROOT}/many/d1/f00001": b"new"}, overwrite=False)[0].errno == 17


def test_small_files_list_stat_rename_delete_and_permissions_as_normal_files(cluster, fs):
    data = b"tiny but real"
    fs.pipe_file(f"{ROOT}/a/one", data)
    fs.pipe_file(f"{ROOT}/a/two", data * 2)
    pack_now(fs)
    fs.pipe_file(f"{ROOT}/a/three", data * 3)                # in a staging container beside two packed ones
    listing = {e["name"]: e for e in fs.ls(f"{ROOT}/a")}
    assert {n: (e["size"], e["type"], e["layout"]) for n, e in listing.items()} == {
        f"{ROOT}/a/one": (13, "file", "packed"), f"{ROOT}/a/two": (26, "file", "packed"),
        f"{ROOT}/a/three": (39, "file", "packed")}
    assert fs.du(f"{ROOT}/a") == 78 and fs.content_summary(f"{ROOT}/a")["file_count"] == 3

    fs.mv(f"{ROOT}/a/one", f"{ROOT}/b-one")
    fs.mv(f"{ROOT}/a/three", f"{ROOT}/b-three")
    assert fs.cat_file(f"{ROOT}/b-one") == data and fs.cat_file(f"{ROOT}/b-three") == data * 3
    assert not fs.exists(f"{ROOT}/a/one") and fs.info(f"{ROOT}/b-one")["layout"] == "packed"
    fs.rm(f"{ROOT}/b-three")
    fs.rm(f"{ROOT}/a/two")
    assert not fs.exists(f"{ROOT}/b-three") and not fs.exists(f"{ROOT}/a/two")

    fs.chmod(f"{ROOT}/b-one", 0o600)
    other = make_fs(cluster, user="mallory")
    try:
        with pytest.raises(PermissionError, match="b-one"):
            other.cat_file(f"{ROOT}/b-one")
        with pytest.raises(PermissionError):
            other.pipe_file(f"{ROOT}/a/by-mallory", b"x")
        assert not fs.exists(f"{ROOT}/a/by-mallory")
    finally:
        other.close()
    assert fs.info(f"{ROOT}/b-one")["permission"] & 0o777 == 0o600


def test_overwrite_across_the_threshold_changes_layout(fs):
    path = f"{ROOT}/grows"
    fs.pipe_file(path, b"small")
    assert fs.info(path)["layout"] == "packed"
    pack_now(fs)
    big = os.urandom(THRESHOLD + 1)
    fs.pipe_file(path, big)                                   # past the threshold: normal blocks
    assert fs.info(path)["layout"] == "blocks" and fs.cat_file(path) == big
    exact = os.urandom(THRESHOLD)                             # the threshold itself is not small
    fs.pipe_file(path, exact)
    assert fs.info(path)["layout"] == "blocks" and fs.cat_file(path) == exact
    with fs.open(path, "wb") as f:                           # through open(): held, then one entry
        f.write(b"small ")
        f.write(b"again")
    assert fs.info(path)["layout"] == "packed" and fs.cat_file(path) == b"small again"
    fs.touch(f"{ROOT}/empty")                                  # empty files stay as they always were
    assert fs.info(f"{ROOT}/empty")["layout"] == "blocks" and fs.cat_file(f"{ROOT}/empty") == b""


def test_pack_false_and_dfs_D_pack_false_give_blocks(cluster, fs, tmp_path):
    fs.pipe_file(f"{ROOT}/api-blocks", b"x" * 1000, pack=False)
    assert fs.info(f"{ROOT}/api-blocks")["layout"] == "blocks"
    local = tmp_path / "local.txt"
    local.write_bytes(b"hello small world\n")
    assert hfed(cluster, "dfs", "-mkdir", "-p", ROOT).returncode == 0
    put = hfed(cluster, "dfs", "-D", "pack=false", "-put", str(local), f"{ROOT}/cli-blocks")
    assert put.returncode == 0, put.stderr
    assert hfed(cluster, "dfs", "-put", str(local), f"{ROOT}/cli-small").returncode == 0
    assert fs.info(f"{ROOT}/cli-blocks")["layout"] == "blocks"
    assert fs.info(f"{ROOT}/cli-small")["layout"] == "packed"
    assert fs.cat_file(f"{ROOT}/cli-blocks") == fs.cat_file(f"{ROOT}/cli-small") == local.read_bytes()
    bad = hfed(cluster, "dfs", "-D", "packing=no", "-put", str(local), f"{ROOT}/never")
    assert bad.returncode == 255 and "unknown key 'packing'" in bad.stderr   # a dfs usage error, as HDFS
    assert not fs.exists(f"{ROOT}/never")


def test_archive_packs_files_in_place_and_refuses_users_who_may_not_write(cluster, fs):
    files = {f"{ROOT}/arch/d{i % 3}/f{i:02d}": os.urandom(1000 + 997 * i) for i in range(15)}
    for path, data in files.items():
        fs.pipe_file(path, data, pack=False)
    big = os.urandom(THRESHOLD + 5)
    fs.pipe_file(f"{ROOT}/arch/big", big)
    before = {p: fs.info(p) for p in files}
    assert {i["layout"] for i in before.values()} == {"blocks"}

    refused = hfed(cluster, "archive", f"{ROOT}/arch", user="mallory")
    assert refused.returncode == 1 and f"{ROOT}/arch/d0/f00" in refused.stderr, refused.stderr
    assert "ermission" in refused.stderr
    assert {fs.info(p)["layout"] for p in files} == {"blocks"}           # nothing changed

    done = hfed(cluster, "archive", f"{ROOT}/arch")
    assert done.returncode == 0, done.stderr
    assert f"{len(files)} small file(s) moved into containers" in done.stdout, done.stdout
    assert "1 not small" in done.stdout, done.stdout
    for path, data in files.items():
        info = fs.info(path)
        assert info["layout"] == "packed" and fs.cat_file(path) == data
        assert (info["file_id"], info["mtime"], info["owner"]) == (
            before[path]["file_id"], before[path]["mtime"], before[path]["owner"])
    assert fs.info(f"{ROOT}/arch/big")["layout"] == "blocks"
    again = fs.archive(f"{ROOT}/arch")                       # nothing left to do
    assert again.staged == 0 and again.skipped.get("already packed") == len(files) and not again.errors


def test_corrupt_container_replica_is_served_elsewhere_and_reported(cluster, fs):
    data = os.urandom(200_000)
    path = f"{ROOT}/precious"
    fs.pipe_file(f"{ROOT}/before-it", os.urandom(5000))
    fs.pipe_file(path, data)
    pack_now(fs)
    remote = make_fs(cluster, host="elsewhere")
    located = remote.block_locations(path)
    container = located.blocks[0]
    bad_host = container.locations[0].host_label                # the replica this remote reader tries first
    cfg = config.load(cluster.config_path)
    replica = (Path(cfg.datanodes[bad_host].data_dir) / container.block.pool_id / "finalized"
               / f"blk_{container.block.block_id}")
    raw = bytearray(replica.read_bytes())
    good = bytes(raw)
    raw[located.packed_offset + 1234] ^= 0xFF
    replica.write_bytes(bytes(raw))

    def read_then_check_replaced() -> bool:
        # Every read returns the right bytes whichever replica it tries first; the one that
        # meets the corrupt replica reports it (the order can change while DataNodes report
        # transfers in flight, so keep reading until the replica has been replaced).
        assert remote.cat_file(path) == data
        return replica.exists() and replica.read_bytes() == good

    try:
        wait_for(read_then_check_replaced, 30,
                 f"the corrupt container replica on {bad_host} to be reported and replaced", interval=0.5)
    finally:
        remote.close()
