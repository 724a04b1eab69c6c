"""Append on a real cluster: fs.open(path, "ab") and `hfed dfs -appendToFile`.

Appends go on in new blocks (the last block is never reopened), so files end
up with blocks of different sizes; a small file (an entry in a container) is
read and written again ahead of the appended bytes. Every test reads back
with a fresh client and compares bytes."""
from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from client.fs import HfedFileSystem
from client.minicluster import MiniCluster, wait_for

HFED = [sys.executable, "-m", "client.cli"]
BLOCK = 1 << 20
THRESHOLD = 256 << 10
ROOT = "/user/append"


def start(directory, **settings) -> MiniCluster:
    return MiniCluster(directory, namespaces=1, datanodes=3, block_size=BLOCK, replication=3,
                       heartbeat_interval=0.2, dead_interval=2.0, settings={
                           "small_file_threshold": THRESHOLD, "pack_age": 3600.0, "pack_count": 1_000_000,
                           **settings}).up()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    mc = start(tmp_path_factory.mktemp("append"))
    try:
        yield mc
    finally:
        mc.down()


@pytest.fixture(scope="module")
def quick_recovery(tmp_path_factory):
    """A cluster that takes the files of a writer silent for 2 s away (for killed writers only:
    a live writer renews its lease every 10 s)."""
    mc = start(tmp_path_factory.mktemp("append-kill"), lease_hard_limit=2.0)
    try:
        yield mc
    finally:
        mc.down()


def make_fs(cluster, **kwargs) -> HfedFileSystem:
    return HfedFileSystem(conf=str(cluster.config_path), skip_instance_cache=True, **kwargs)


@pytest.fixture
def fs(cluster):
    filesystem = make_fs(cluster)
    filesystem.mkdir(ROOT)
    yield filesystem
    filesystem.rm(ROOT, recursive=True)
    filesystem.close()


def read_back(cluster, path) -> bytes:
    reader = make_fs(cluster)
    try:
        return reader.cat_file(path)
    finally:
        reader.close()


def append(fs, path, data: bytes) -> None:
    with fs.open(path, "ab") as f:
        f.write(data)


def test_append_to_a_multi_block_file_goes_on_in_new_blocks(cluster, fs):
    path = f"{ROOT}/big.bin"
    first, more = os.urandom(2 * BLOCK + 1000), os.urandom(BLOCK + 77)
    fs.pipe_file(path, first)
    with fs.open(path, "ab") as f:
        assert f.tell() == len(first)
        f.write(more[:500])
        f.write(more[500:])
    assert read_back(cluster, path) == first + more
    blocks = fs.block_locations(path).blocks
    assert [b.block.num_bytes for b in blocks] == [BLOCK, BLOCK, 1000, BLOCK, 77]
    assert [b.offset for b in blocks] == [0, BLOCK, 2 * BLOCK, 2 * BLOCK + 1000, 3 * BLOCK + 1000]
    with fs.open(path, "rb") as f:            # a read across the boundary of two appends
        f.seek(2 * BLOCK + 990)
        assert f.read(20) == (first + more)[2 * BLOCK + 990:2 * BLOCK + 1010]


def test_several_appends_in_a_row_and_to_an_empty_and_a_missing_file(cluster, fs):
    empty, missing = f"{ROOT}/empty", f"{ROOT}/missing"
    fs.touch(empty)
    pieces = [os.urandom(n) for n in (10, 0, 5000, 100_000, 300_000, 1)]   # crosses the threshold on the way
    for piece in pieces:
        append(fs, empty, piece)
        append(fs, missing, piece)             # "ab" creates a missing file, as Python does
    assert read_back(cluster, empty) == read_back(cluster, missing) == b"".join(pieces)
    assert fs.info(empty)["size"] == sum(map(len, pieces))


@pytest.mark.parametrize("packed", [False, True])
@pytest.mark.parametrize("added", [1000, THRESHOLD])      # stays small, or needs blocks
def test_append_to_a_small_file(cluster, fs, packed, added):
    path = f"{ROOT}/small-{packed}-{added}"
    old, new = os.urandom(THRESHOLD // 2), os.urandom(added)
    fs.pipe_file(path, old)
    if packed:
        fs.session.flush_small_files()
        assert fs.session.namenode("ns-a").pack_now().files_packed >= 1
    assert fs.info(path)["layout"] == "packed"
    append(fs, path, new)
    assert read_back(cluster, path) == old + new
    assert fs.info(path)["layout"] == ("packed" if added < THRESHOLD // 2 else "blocks")
    append(fs, path, b"tail")
    assert read_back(cluster, path) == old + new + b"tail"


def test_a_second_appender_is_refused_while_the_first_writes(cluster, fs):
    path = f"{ROOT}/busy"
    fs.pipe_file(path, b"x" * 5000)
    other = make_fs(cluster)
    try:
        with fs.open(path, "ab") as f:
            f.write(b"mine")
            with pytest.raises(OSError) as busy:
                other.open(path, "ab")
            assert busy.value.errno == errno.EBUSY and path in str(busy.value)
            with pytest.raises(OSError):
                other.pipe_file(path, b"overwrite")
        append(other, path, b"theirs")        # free again once closed
    finally:
        other.close()
    assert read_back(cluster, path) == b"x" * 5000 + b"mine" + b"theirs"


def test_append_without_write_permission_is_refused(cluster, fs):
    path = f"{ROOT}/readonly"
    fs.pipe_file(path, b"hello")
    fs.chmod(path, 0o644)
    mallory = make_fs(cluster, user="mallory")
    try:
        with pytest.raises(PermissionError) as refused:
            mallory.open(path, "ab")
        assert path in str(refused.value)
    finally:
        mallory.close()
    assert not fs.info(path).get("under_construction")
    assert read_back(cluster, path) == b"hello"


def test_append_to_a_directory_is_refused(cluster, fs):
    with pytest.raises(IsADirectoryError):
        fs.open(ROOT, "ab")


KILLED_APPENDER = """
import os, sys, time
from client.fs import HfedFileSystem
fs = HfedFileSystem(conf={conf!r}, skip_instance_cache=True)
f = fs.open({path!r}, "ab")
f.write(b"n" * {size})
print("written", flush=True)
time.sleep(60)
"""


# small: the appended bytes stay small / need a block never finished (the old entry stays the
# file) / fill a first block (the block, holding the old bytes, becomes the file)
@pytest.mark.parametrize("kind,size", [("blocks", BLOCK + 4096), ("small", 100), ("small", THRESHOLD),
                                       ("small", BLOCK + 4096)])
def test_an_appender_killed_midway_loses_nothing_written_before(quick_recovery, kind, size):
    cluster, path = quick_recovery, f"{ROOT}/killed-{kind}-{size}"
    fs = make_fs(cluster)
    old = os.urandom(3 * BLOCK // 2 if kind == "blocks" else 5000)
    fs.pipe_file(path, old)
    fs.session.flush_small_files()          # its staging container closed: no lease of ours left to lapse
    script = textwrap.dedent(KILLED_APPENDER.format(conf=str(cluster.config_path), path=path, size=size))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "written"
        assert fs.info(path)["under_construction"]
        assert read_back(cluster, path)[:len(old)] == old      # readable while being appended to
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    wait_for(lambda: not fs.info(path).get("under_construction"), 30, f"lease recovery of {path}")
    got = read_back(cluster, path)
    if (kind, size) == ("small", THRESHOLD):
        assert got == old
    # What the killed appender had sent of whole blocks may stay; the old bytes always do.
    assert got[:len(old)] == old and got[len(old):] == b"n" * (len(got) - len(old))
    append(fs, path, b"after")                 # appendable again
    assert read_back(cluster, path) == got + b"after"
    fs.close()


def test_append_to_file_from_the_cli(cluster, fs, tmp_path):
    local1, local2 = tmp_path / "one", tmp_path / "two"
    local1.write_bytes(b"first\n")
    local2.write_bytes(os.urandom(300_000))
    env = dict(os.environ, HFED_CONF=str(cluster.config_path))
    dst = f"{ROOT}/cli.log"

    def run(*args, stdin=None):
        return subprocess.run([*HFED, "dfs", *args], input=stdin, capture_output=True, env=env, timeout=120)
    created = run("-appendToFile", str(local1), dst)            # creates a missing destination
    assert created.returncode == 0, created.stderr
    several = run("-appendToFile", str(local1), str(local2), dst)
    assert several.returncode == 0, several.stderr
    piped = run("-appendToFile", "-", dst, stdin=b"from stdin\n")
    assert piped.returncode == 0, piped.stderr
    assert read_back(cluster, dst) == b"first\n" + b"first\n" + local2.read_bytes() + b"from stdin\n"
    missing = run("-appendToFile", str(tmp_path / "nope"), dst)
    assert missing.returncode != 0 and b"nope" in missing.stderr
    into_dir = run("-appendToFile", str(local1), ROOT)
    assert into_dir.returncode != 0 and ROOT.encode() in into_dir.stderr
