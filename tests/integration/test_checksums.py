"""Content checksums on a real cluster (TLS and block tokens on): `-checksum`,
fs.checksum/ukey and WebHDFS GETFILECHECKSUM give HDFS's COMPOSITE-CRC32C, the
CRC32C of the file's bytes, folded by DataNodes from their stored chunk CRCs:
the same for the same bytes whatever the block size or namespace, small files
included; a replica that fails falls back to the next one."""
from __future__ import annotations

import os
import subprocess
import sys

import crc32c
import pytest
import requests

from client import checksums, credentials
from client.datanode_client import DatanodePool
from client.fs import HfedFileSystem
from protos import checksum, config, errors
from protos import datatransfer as dt
from tests.integration.conftest import start_cluster

HFED = [sys.executable, "-m", "client.cli"]
THRESHOLD = 64 << 10      # files below it are small files (no block of their own)
MiB = 1 << 20


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    mc = start_cluster(tmp_path_factory.mktemp("checksums"), settings={
        "small_file_threshold": THRESHOLD, "pack_age": 3600.0, "pack_count": 1_000_000})
    try:
        yield mc
    finally:
        mc.down()


@pytest.fixture
def fs(cluster):
    filesystem = HfedFileSystem(conf=str(cluster.config_path), skip_instance_cache=True)
    yield filesystem
    for top in ("/user/ck", "/data/ck"):
        if filesystem.exists(top):
            filesystem.rm(top, recursive=True)
    filesystem.close()


def write(fs, path, data: bytes, **options) -> None:
    with fs.open(path, "wb", **options) as f:
        f.write(data)


def hex_of(data: bytes) -> str:
    return f"{crc32c.crc32c(data):08x}"


def test_same_bytes_any_block_size_any_namespace_same_checksum(fs):
    data = os.urandom(MiB + 777)                # a short last chunk in the last block
    paths = {"/user/ck/a": MiB, "/user/ck/b": 64 << 10, "/data/ck/c": 300 * 512, "/data/ck/d": 4 * MiB}
    for path, block_size in paths.items():
        write(fs, path, data, block_size=block_size)
    assert len(fs.block_locations("/user/ck/b").blocks) == 17
    for path in paths:
        found = checksums.path_checksum(fs.session, path)
        assert (found.algorithm, found.hex, found.length, found.file_length) == (
            "COMPOSITE-CRC32C", hex_of(data), 4, len(data)), path
        assert fs.checksum(path) == crc32c.crc32c(data)
    assert len({fs.ukey(p) for p in paths}) == 1
    write(fs, "/user/ck/empty", b"")
    assert checksums.path_checksum(fs.session, "/user/ck/empty").hex == "00000000"


def test_a_same_length_same_mtime_change_changes_checksum_and_ukey(fs):
    before = os.urandom(200_000)
    write(fs, "/user/ck/f", before)
    old = (fs.checksum("/user/ck/f"), fs.ukey("/user/ck/f"), fs.info("/user/ck/f"))
    after = bytearray(before)
    after[150_000] ^= 1
    write(fs, "/user/ck/f", bytes(after))
    fs.set_times("/user/ck/f", mtime=old[2]["mtime"])
    info = fs.info("/user/ck/f")
    assert (info["size"], info["mtime"]) == (old[2]["size"], old[2]["mtime"])
    assert fs.checksum("/user/ck/f") == crc32c.crc32c(bytes(after)) != old[0]
    assert fs.ukey("/user/ck/f") != old[1]


def test_small_files_staged_then_packed(fs):
    files = {f"/user/ck/small/s{i}": os.urandom(size) for i, size in enumerate([1, 511, 513, 4096, THRESHOLD - 1])}
    files["/user/ck/small/text"] = b"the same line again\n" * 2000       # compresses when packed
    assert fs.pipe_many(files) == [None] * len(files)
    assert {fs.info(p)["layout"] for p in files} == {"packed"}
    for stage in ("in the staging container", "packed"):
        for path, data in files.items():
            assert checksums.path_checksum(fs.session, path).hex == hex_of(data), (stage, path)
        fs.session.flush_small_files()
        fs.session.namenode("ns-a").pack_now()
    blob = os.urandom(THRESHOLD - 1)
    write(fs, "/user/ck/small/blocks", blob, pack=False)                  # the same bytes on a block
    fs.pipe_file("/user/ck/small/entry", blob)
    assert fs.ukey("/user/ck/small/blocks") == fs.ukey("/user/ck/small/entry")


def replica_paths(cluster, located, dn) -> tuple:
    block = located.block
    root = config.load(cluster.config_path).datanodes[dn.host_label].data_dir
    finalized = os.path.join(root, block.pool_id, "finalized")
    return (os.path.join(finalized, f"blk_{block.block_id}"),
            os.path.join(finalized, f"blk_{block.block_id}_{block.generation_stamp}.meta"))


def test_a_missing_or_corrupt_replica_falls_back_to_another(cluster, fs):
    data = os.urandom(MiB)        # one block each: a client on the broken replica's host asks it first
    write(fs, "/user/ck/gone", data)
    write(fs, "/user/ck/torn", data)
    gone, torn = (fs.block_locations(p).blocks[0] for p in ("/user/ck/gone", "/user/ck/torn"))
    broken = gone.locations[0]    # replication 3 of 3 DataNodes: every block is on it
    for path in replica_paths(cluster, gone, broken):
        os.unlink(path)                                          # the DataNode still lists it: BlockMissing
    os.truncate(replica_paths(cluster, torn, broken)[1], checksum.HEADER_SIZE + 8)   # 2 CRCs left: ChecksumError
    near = HfedFileSystem(conf=str(cluster.config_path), host=broken.host_label, skip_instance_cache=True)
    try:
        for path in ("/user/ck/gone", "/user/ck/torn"):
            assert near.block_locations(path).blocks[0].locations[0].uuid == broken.uuid
            assert near.checksum(path) == crc32c.crc32c(data)
    finally:
        near.close()

    write(fs, "/user/ck/r1", data[:MiB], replication=1)
    only = fs.block_locations("/user/ck/r1").blocks[0]
    os.truncate(replica_paths(cluster, only, only.locations[0])[1], checksum.HEADER_SIZE)
    with pytest.raises(errors.BlockMissing) as failed:
        fs.checksum("/user/ck/r1")
    message = str(failed.value)
    assert "could not checksum" in message and "/user/ck/r1 (namespace ns-a)" in message
    assert "truncated on disk" in message and only.locations[0].host_label in message


def test_block_checksum_needs_a_read_token_for_that_block(cluster, fs):
    write(fs, "/user/ck/t", b"token" * 1000, pack=False)     # a block of its own, not a container
    write(fs, "/user/ck/other", b"other" * 1000, pack=False)
    located = fs.block_locations("/user/ck/t").blocks[0]
    other = fs.block_locations("/user/ck/other").blocks[0]
    dn = located.locations[0]
    pool = DatanodePool(cfg=cluster.config)
    try:
        ask = lambda token: dt.block_checksum(pool, dn.transfer_address, located.block, 0, "test", token)  # noqa: E731
        assert ask(located.token).crc32c == crc32c.crc32c(b"token" * 1000)
        for token, why in [("", "no block access token"), (other.token, f"not block {located.block.block_id}")]:
            with pytest.raises(errors.AccessDenied, match=why):
                ask(token)
    finally:
        pool.close()


def test_cli_prints_path_algorithm_hex(cluster, fs):
    data = os.urandom(2 * MiB + 5)
    write(fs, "/user/ck/cli", data)
    write(fs, "/data/ck/cli", data, block_size=128 << 10)
    env = dict(os.environ, HFED_CONF=str(cluster.config_path))
    run = subprocess.run([*HFED, "dfs", "-checksum", "/user/ck/cli", "hfed:///data/ck/cli"], capture_output=True,
                         text=True, env=env, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [f"/user/ck/cli\tCOMPOSITE-CRC32C\t{hex_of(data)}",
                                       f"hfed:///data/ck/cli\tCOMPOSITE-CRC32C\t{hex_of(data)}"]
    run = subprocess.run([*HFED, "dfs", "-checksum", "/user/ck", "/user/ck/nope", "/user/ck/cli"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 1
    assert run.stdout == f"/user/ck/cli\tCOMPOSITE-CRC32C\t{hex_of(data)}\n"     # the others still print
    lines = run.stderr.splitlines()
    assert len(lines) == 2 and "/user/ck" in lines[0] and "/user/ck/nope" in lines[1], run.stderr


def test_webhdfs_getfilechecksum_equals_the_library_value(cluster, fs):
    data = os.urandom(MiB + 3)
    write(fs, "/data/ck/web", data, block_size=256 << 10)
    fs.pipe_file("/user/ck/web-small", data[:1000])
    token = credentials.find(cluster.config).tokens["*"]
    url = f"http://{cluster.webhdfs_address()}/webhdfs/v1"
    for path in ("/data/ck/web", "/user/ck/web-small"):
        got = requests.get(f"{url}{path}", params={"op": "GETFILECHECKSUM", "delegation": token}, timeout=60)
        assert got.status_code == 200, got.text
        found = checksums.path_checksum(fs.session, path)
        assert got.json() == {"FileChecksum": {"algorithm": found.algorithm, "bytes": found.hex, "length": 4}}
    assert found.hex == hex_of(data[:1000])
    got = requests.get(f"{url}/data/ck", params={"op": "GETFILECHECKSUM", "delegation": token}, timeout=60)
    assert got.status_code >= 400 and "/data/ck" in got.json()["RemoteException"]["message"], got.text
