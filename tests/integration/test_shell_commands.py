"""`hfed dfs` as HDFS's FileSystemShell on a real cluster: error shapes, globs, URIs, the
flags of -ls/-count/-stat/-touch/-test/-chmod, and -find/-getmerge/-text/-df/-help.
The CLI runs in this process (cli.run) to keep the many short commands cheap."""
from __future__ import annotations

import gzip
import os
import re
import subprocess
import sys
import threading
import time
import uuid

import pytest

from client import cli
from client.tf_records import frame
from protos import rpc


@pytest.fixture
def sh(cluster, capsysbinary):
    def run(*args, code=None):
        capsysbinary.readouterr()
        status = cli.run(["--conf", str(cluster.config_path), "dfs", *args])
        captured = capsysbinary.readouterr()
        out, err = captured.out.decode(errors="replace"), captured.err.decode(errors="replace")
        if code is not None:
            assert status == code, (args, status, out, err)
        return status, out, err
    return run


@pytest.fixture
def top(fs):
    """A fresh directory for the test, removed after it."""
    path = f"/user/shell-{uuid.uuid4().hex[:8]}"
    fs.makedirs(path)
    yield path
    fs.rm(path, recursive=True)


def names(out: str) -> list[str]:
    return [line.split()[-1] for line in out.splitlines() if not line.startswith("Found ")]


def test_errors_have_hdfs_shapes_and_change_nothing(sh, fs, top):
    fs.makedirs(f"{top}/d/e")
    fs.pipe_file(f"{top}/f", b"data")
    assert sh("-mkdir", f"{top}/d", code=1)[2] == f"mkdir: `{top}/d': File exists\n"
    assert sh("-mkdir", f"{top}/x/y", code=1)[2] == f"mkdir: `{top}/x/y': No such file or directory\n"
    assert sh("-ls", f"{top}/nothing", code=1)[2] == f"ls: `{top}/nothing': No such file or directory\n"
    assert sh("-ls", f"{top}/no*", code=1)[2] == f"ls: `{top}/no*': No such file or directory\n"
    assert sh("-cat", f"{top}/d", code=1)[2] == f"cat: `{top}/d': Is a directory\n"
    assert sh("-rm", f"{top}/d", code=1)[2] == f"rm: `{top}/d': Is a directory\n"
    assert sh("-rmdir", f"{top}/d", code=1)[2] == f"rmdir: `{top}/d': Directory is not empty\n"
    assert sh("-rmdir", f"{top}/f", code=1)[2] == f"rmdir: `{top}/f': Is not a directory\n"
    sh("-rmdir", "--ignore-fail-on-non-empty", f"{top}/d", code=0)
    assert fs.isdir(f"{top}/d/e")
    sh("-rmdir", f"{top}/d/e", code=0)
    assert not fs.exists(f"{top}/d/e")
    # touchz and touch create no missing parent (a gap found by a user)
    assert sh("-touchz", f"{top}/no/such/f", code=1)[2] == f"touchz: `{top}/no/such/f': No such file or directory\n"
    assert sh("-touch", f"{top}/no/f", code=1)[2] == f"touch: `{top}/no/f': No such file or directory\n"
    assert not fs.exists(f"{top}/no")
    assert sh("-touchz", f"{top}/f", code=1)[2] == f"touchz: `{top}/f': Not a zero length file\n"
    # one bad path among good ones: the others are done, exit 1
    status, out, err = sh("-rm", f"{top}/f", f"{top}/missing")
    assert status == 1 and out == f"Deleted {top}/f\n" and err == f"rm: `{top}/missing': No such file or directory\n"
    sh("-rm", "-f", f"{top}/missing", f"{top}/gone*", code=0)
    assert "Wrong FS" in sh("-ls", "file:///etc", code=1)[2]


def test_globs_uris_and_relative_paths(sh, fs, top):
    for name in ("a1", "a2", "b1", "c.txt"):
        fs.pipe_file(f"{top}/{name}", b"x")
    fs.makedirs(f"{top}/sub/deep")
    fs.pipe_file(f"{top}/sub/deep/a9", b"y")
    assert names(sh("-ls", "-d", f"{top}/a*", code=0)[1]) == [f"{top}/a1", f"{top}/a2"]
    assert names(sh("-ls", "-d", f"{top}/?1", code=0)[1]) == [f"{top}/a1", f"{top}/b1"]
    assert names(sh("-ls", "-d", f"{top}/[bc]*", code=0)[1]) == [f"{top}/b1", f"{top}/c.txt"]
    assert names(sh("-ls", "-d", f"{top}/[^a]*", code=0)[1]) == [f"{top}/b1", f"{top}/c.txt", f"{top}/sub"]
    assert names(sh("-ls", "-d", f"{top}/{{a2,b1,sub/deep}}", code=0)[1]) == [
        f"{top}/a2", f"{top}/b1", f"{top}/sub/deep"]
    assert names(sh("-ls", "-d", f"/user/shell-*/*/*/a9", code=0)[1]) == [f"{top}/sub/deep/a9"]
    for uri in (f"hdfs://namenode:8020{top}/a1", f"hdfs://{top}/a1".replace("//", "///", 1), f"hfed://{top}/a1"):
        assert names(sh("-ls", uri, code=0)[1]) == [uri], uri         # shown as given, as HDFS
    home = f"/user/{rpc.current_user()}"
    fs.makedirs(f"{home}/rel-{top[-8:]}", exist_ok=True)
    try:
        fs.pipe_file(f"{home}/rel-{top[-8:]}/r1", b"r")
        assert names(sh("-ls", f"rel-{top[-8:]}", code=0)[1]) == [f"rel-{top[-8:]}/r1"]     # as given
        assert f"rel-{top[-8:]}" in names(sh("-ls", code=0)[1])                           # home, names only
        assert names(sh("-ls", "-d", f"rel-{top[-8:]}/r*", code=0)[1]) == [f"rel-{top[-8:]}/r1"]
    finally:
        fs.rm(f"{home}/rel-{top[-8:]}", recursive=True)
    # the glob's directories are listed a page at a time: more entries than one page
    fs.pipe_many([(f"{top}/many/m{i:04d}", b"") for i in range(1200)])
    status, out, _ = sh("-ls", "-C", f"{top}/many/m1*", code=0)
    assert out.splitlines() == [f"{top}/many/m{i:04d}" for i in range(1000, 1200)]


def test_ls_flags(sh, fs, top):
    fs.pipe_file(f"{top}/small", b"s")
    fs.pipe_file(f"{top}/large", b"L" * 5000)
    fs.pipe_file(f"{top}/mid", b"m" * 100)
    fs.set_times(f"{top}/small", mtime=1000, atime=3000)
    fs.set_times(f"{top}/large", mtime=2000, atime=1000)
    fs.set_times(f"{top}/mid", mtime=3000, atime=2000)
    fs.makedirs(f"{top}/empty")
    status, out, _ = sh("-ls", top, code=0)
    lines = out.splitlines()
    assert lines[0] == "Found 4 items" and names(out) == [f"{top}/{n}" for n in ("empty", "large", "mid", "small")]
    assert re.match(r"^-rw-r--r--   \d \S+ \S+ +5000 \d{4}-\d\d-\d\d \d\d:\d\d " + re.escape(f"{top}/large"), lines[2])
    assert names(sh("-ls", "-t", top, code=0)[1])[1:] == [f"{top}/{n}" for n in ("mid", "large", "small")]
    assert names(sh("-ls", "-S", top, code=0)[1]) == [f"{top}/{n}" for n in ("large", "mid", "small", "empty")]
    assert names(sh("-ls", "-S", "-r", top, code=0)[1]) == [f"{top}/{n}" for n in ("empty", "small", "mid", "large")]
    assert names(sh("-ls", "-t", "-u", top, code=0)[1]) == [f"{top}/{n}" for n in ("small", "mid", "large", "empty")]
    assert sh("-ls", "-C", top, code=0)[1].splitlines() == [f"{top}/{n}" for n in ("empty", "large", "mid", "small")]
    assert sh("-ls", f"{top}/empty", code=0)[1] == ""              # HDFS prints no "Found 0 items"
    assert sh("-ls", "-d", top, code=0)[1].startswith("drwxr-xr-x")
    assert " 4.9 K " in sh("-ls", "-h", f"{top}/large", code=0)[1]
    fs.makedirs(f"{top}/empty/in")
    assert names(sh("-ls", "-R", top, code=0)[1]) == [f"{top}/{n}" for n in ("empty", "empty/in", "large", "mid", "small")]


def test_count_quota_columns_and_du(sh, fs, top):
    fs.makedirs(f"{top}/d")
    fs.pipe_file(f"{top}/d/f", b"z" * 2048)
    assert sh("-count", f"{top}/d", code=0)[1] == f"{1:>12} {1:>12} {2048:>18} {top}/d\n"
    status, out, _ = sh("-count", "-q", "-v", f"{top}/d", code=0)
    header, row = out.splitlines()
    assert header.split() == ["QUOTA", "REM_QUOTA", "SPACE_QUOTA", "REM_SPACE_QUOTA", "DIR_COUNT", "FILE_COUNT",
                              "CONTENT_SIZE", "PATHNAME"]
    assert row.split() == ["none", "inf", "none", "inf", "1", "1", "2048", f"{top}/d"]
    assert sh("-count", "-u", f"{top}/d", code=0)[1].split() == ["none", "inf", "none", "inf", f"{top}/d"]
    assert sh("-count", "-h", f"{top}/d", code=0)[1].split() == ["1", "1", "2", "K", f"{top}/d"]
    assert sh("-du", "-v", "-s", f"{top}/d", code=0)[1].splitlines()[1].split() == ["2048", "6144", f"{top}/d"]
    fs.set_quota(f"{top}/d", namespace_quota=10, space_quota=1 << 20)     # the NameNode's quotas, as -count -q shows
    assert sh("-count", "-q", f"{top}/d", code=0)[1].split() == [
        "10", "8", str(1 << 20), str((1 << 20) - 6144), "1", "1", "2048", f"{top}/d"]
    assert sh("-count", "-q", "-h", f"{top}/d", code=0)[1].split()[:5] == ["10", "8", "1", "M", "1018"]


def test_stat_touch_and_test(sh, fs, top):
    f = f"{top}/f"
    sh("-touch", "-t", "20260102:030405", f, code=0)
    assert sh("-stat", "%y|%x|%Y|%b|%F", f, code=0)[1] == "2026-01-02 03:04:05|2026-01-02 03:04:05|1767323045000|0|regular file\n"
    sh("-touch", "-m", "-t", "20250101:000000", f, code=0)
    assert sh("-stat", "%y %x", f, code=0)[1] == "2025-01-01 00:00:00 2026-01-02 03:04:05\n"
    sh("-touch", "-a", "-t", "20240101:000000", f, code=0)
    assert sh("-stat", "%y %x", f, code=0)[1] == "2025-01-01 00:00:00 2024-01-01 00:00:00\n"
    sh("-touch", "-c", f"{top}/not-made", code=0)
    assert not fs.exists(f"{top}/not-made")
    assert sh("-touch", "-t", "yesterday", f, code=255)[2].startswith("-touch: Unable to parse the specified timestamp")
    fs.pipe_file(f"{top}/mine", b"x")
    checks = {("-w", "mine"): 0, ("-r", "mine"): 0, ("-e", "mine"): 0, ("-s", "mine"): 0, ("-z", "f"): 0,
              ("-d", "mine"): 1, ("-e", "none"): 1}
    for (flag, name), expected in checks.items():
        assert sh("-test", flag, f"{top}/{name}")[0] == expected, (flag, name)
    assert sh("-test", "/x", code=255)[2].startswith("-test: No test flag given")


def test_chmod_symbolic_and_recursive(sh, fs, top):
    fs.makedirs(f"{top}/d/e")
    fs.pipe_file(f"{top}/d/e/f", b"x")
    sh("-chmod", "u+x,g-r", f"{top}/d/e/f", code=0)
    assert sh("-stat", "%a", f"{top}/d/e/f", code=0)[1] == "704\n"
    sh("-chmod", "-R", "go=", f"{top}/d", code=0)
    assert [sh("-stat", "%a", p, code=0)[1].strip() for p in (f"{top}/d", f"{top}/d/e", f"{top}/d/e/f")] == [
        "700", "700", "700"]
    sh("-chmod", "a+rX,+t", f"{top}/d", code=0)
    assert sh("-stat", "%A", f"{top}/d", code=0)[1] == "rwxr-xr-t\n"


def test_find_getmerge_text_head_tail(sh, fs, top, tmp_path):
    fs.pipe_file(f"{top}/logs/a.log", b"one")
    fs.pipe_file(f"{top}/logs/B.LOG", b"")
    fs.pipe_file(f"{top}/logs/c.txt", b"three")
    assert sh("-find", top, "-name", "*.log", "-print", code=0)[1].splitlines() == [f"{top}/logs/a.log"]
    assert sh("-find", top, "-iname", "*.log", code=0)[1].splitlines() == [f"{top}/logs/B.LOG", f"{top}/logs/a.log"]
    assert sh("-find", top, code=0)[1].splitlines()[:2] == [top, f"{top}/logs"]
    assert "Unexpected argument: -size" in sh("-find", top, "-size", "1", code=255)[2]
    merged = tmp_path / "merged"
    sh("-getmerge", "-nl", f"{top}/logs", str(merged), code=0)
    assert merged.read_bytes() == b"\n" + b"one\n" + b"three\n"
    sh("-getmerge", "-nl", "-skip-empty-file", f"{top}/logs", str(merged), code=0)
    assert merged.read_bytes() == b"one\nthree\n"
    fs.pipe_file(f"{top}/z.gz", gzip.compress(b"unzipped text\n"))
    fs.pipe_file(f"{top}/r.tfrecord", frame(b"first record") + frame(b"second"))
    fs.pipe_file(f"{top}/bad.tfrecord", frame(b"ok")[:-2])
    assert sh("-text", f"{top}/z.gz", code=0)[1] == "unzipped text\n"
    assert sh("-text", f"{top}/r.tfrecord", code=0)[1] == "first record\nsecond\n"
    assert "truncated TFRecord" in sh("-text", f"{top}/bad.tfrecord", code=1)[2]
    assert sh("-text", f"{top}/logs/c.txt", code=0)[1] == "three"
    lines = b"".join(b"%05d\n" % i for i in range(400))       # 2400 bytes
    fs.pipe_file(f"{top}/lines", lines)
    assert sh("-head", f"{top}/lines", code=0)[1] == lines[:1024].decode()
    assert sh("-tail", f"{top}/lines", code=0)[1] == lines[-1024:].decode()




def test_names_like_patterns_and_missing_parents_of_new_files(sh, fs, top, tmp_path):
    fs.pipe_file(f"{top}/x[1]", b"bracketed")
    fs.pipe_file(f"{top}/y[2", b"unclosed")
    assert sh("-cat", f"{top}/x[1]", code=0)[1] == "bracketed"       # no other match: the name itself
    assert sh("-cat", f"{top}/y[2", code=0)[1] == "unclosed"
    assert "Unclosed character class" in sh("-ls", f"{top}/z[2", code=1)[2]
    local = tmp_path / "f"
    local.write_bytes(b"local")
    for command in ("-put", "-appendToFile", "-copyFromLocal"):
        assert sh(command, str(local), f"{top}/none/f", code=1)[2] == \
            f"{command[1:]}: `{top}/none/f': No such file or directory\n"
    fs.pipe_file(f"{top}/src", b"s")
    assert sh("-cp", f"{top}/src", f"{top}/none/f", code=1)[2] == f"cp: `{top}/none/f': No such file or directory\n"
    assert not fs.exists(f"{top}/none")
    back = tmp_path / "back"
    fs.set_times(f"{top}/src", mtime=1_000_000)
    sh("-get", "-p", f"{top}/src", str(back), code=0)
    assert back.read_bytes() == b"s" and back.stat().st_mtime == 1_000_000


def test_tail_f_prints_what_is_appended(cluster, fs, top):
    fs.pipe_file(f"{top}/log", b"first\n")
    env = dict(os.environ, HFED_CONF=str(cluster.config_path))
    proc = subprocess.Popen([sys.executable, "-m", "client.cli", "dfs", "-tail", "-f", f"{top}/log"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    seen = bytearray()
    reader = threading.Thread(target=lambda: [seen.extend(c) for c in iter(lambda: proc.stdout.read1(1024), b"")],
                              daemon=True)
    reader.start()
    try:
        wait_for(lambda: bytes(seen) == b"first\n")
        with fs.open(f"{top}/log", "ab") as f:
            f.write(b"second\n")
        wait_for(lambda: bytes(seen) == b"first\nsecond\n")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        reader.join(timeout=30)


def wait_for(condition, limit=60.0):
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "not seen in time"
        time.sleep(0.1)
