"""Hostile input from an ordinary user must not hurt anyone else: oversized and
undecodable requests are refused (and logged in one line), a tree deeper than
Python's recursion limit is listed, checked, copied, summed, saved and reloaded,
names cannot forge output lines, and what daemons store is private."""
from __future__ import annotations

import os
import re
import stat
import sys
import time
import uuid
from pathlib import Path

import grpc
import pytest

from client import cli
from client.fs import HfedFileSystem
from client.minicluster import MiniCluster
from protos import paths, rpc


@pytest.fixture(scope="module")
def mc(tmp_path_factory):
    cluster = MiniCluster(tmp_path_factory.mktemp("hardened"), namespaces=1, datanodes=1, replication=1,
                          block_size=1 << 20, heartbeat_interval=0.2, dead_interval=2.0,
                          settings={"small_file_threshold": 0})
    cluster.up()
    try:
        yield cluster
    finally:
        cluster.down()


@pytest.fixture
def fs(mc):
    filesystem = HfedFileSystem(conf=str(mc.config_path), skip_instance_cache=True)
    yield filesystem
    filesystem.close()


def hfed(mc, capsys, *args) -> tuple[int, str, str]:
    """Run the CLI in this process (so its stack is this test's: no fresh interpreter's headroom)."""
    capsys.readouterr()
    code = cli.run(["--conf", str(mc.config_path), *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# ------------------------------------------------------------------ requests
def test_an_oversized_string_is_refused_naming_the_field_and_nothing_changes(mc, fs):
    nn = fs.session.namenode("ns-a")
    with pytest.raises(ValueError, match=r"CreateRequest.client_name: at most 256 bytes, the request has 1048576"):
        nn.create("/user/huge-client", client_name="c" * (1 << 20))
    with pytest.raises(ValueError, match=r"SetOwnerRequest.owner: at most 256 bytes"):
        nn.set_owner("/user", owner="o" * 10_000)
    assert not fs.exists("/user/huge-client")


def test_undecodable_requests_are_invalid_argument_and_logged_in_one_line(mc):
    garbage = b"\x0a\xff\xff\xff\xff\x0f" + os.urandom(64)   # field 1, a length past the end
    methods = ["/hfed.ClientProtocol/Mkdirs", "/hfed.ClientProtocol/Rename", "/hfed.DatanodeProtocol/Heartbeat"]
    log_before = mc.log_path("ns-a").read_text()
    with rpc.channel(mc.namenode_address("ns-a"), mc.config) as channel:
        for method in methods:
            call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
            for _ in range(100):
                with pytest.raises(grpc.RpcError) as caught:
                    call(garbage, timeout=10)
                assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
                assert "malformed" in caught.value.details()
    new = mc.log_path("ns-a").read_text()[len(log_before):]
    refused = [line for line in new.splitlines() if "refused a request" in line]
    assert "Traceback" not in new
    assert 3 <= len(refused) <= 6, refused      # one per method (two if a 10 s window rolled over)


# ---------------------------------------------------------------- deep trees
def run_ok(mc, capsys, *args) -> str:
    code, out, err = hfed(mc, capsys, *args)
    assert code == 0, err
    assert "Recursion" not in err
    return out


def writable(fs) -> None:
    """Wait until a restarted NameNode has left safe mode."""
    deadline = time.monotonic() + 30
    while fs.session.namenode("ns-a").set_safe_mode().on:
        assert time.monotonic() < deadline, "the NameNode stayed in safe mode"
        time.sleep(0.1)


def test_a_tree_deeper_than_the_recursion_limit_works_everywhere(mc, fs, capsys):
    # Past what a recursive walk survives; not to the path limit (about 2,040 levels of
    # 1-character names), as every call on a deep path costs the NameNode time per level.
    depth = sys.getrecursionlimit() + 100
    assert len("/user/copy" + "/d" * depth + "/f") <= paths.MAX_PATH_BYTES
    bottom = "/user/deep" + "/d" * depth
    fs.makedirs(bottom, exist_ok=True)
    fs.pipe_file(bottom + "/f", b"at the bottom")
    listing = run_ok(mc, capsys, "dfs", "-ls", "-R", "/user/deep").splitlines()
    assert len(listing) == depth + 1 and listing[-1].endswith(bottom + "/f")
    assert run_ok(mc, capsys, "dfs", "-count", "/user/deep").split()[:3] == [str(depth + 1), "1", "13"]
    assert run_ok(mc, capsys, "dfs", "-du", "-s", "/user/deep").split()[0] == "13"
    report = run_ok(mc, capsys, "fsck", "/")
    assert "is HEALTHY" in report and int(re.search(r"Total dirs:\s+(\d+)", report)[1]) > depth + 1
    run_ok(mc, capsys, "dfs", "-cp", "/user/deep", "/user/copy")
    assert fs.cat("/user/copy" + "/d" * depth + "/f") == b"at the bottom"
    assert fs.find("/user/copy") == ["/user/copy" + "/d" * depth + "/f"]
    assert fs.content_summary("/user/copy")["directory_count"] == depth + 1
    fs.rm(["/user/deep", "/user/copy"], recursive=True)


def test_a_tree_moved_past_the_path_limit_is_reported_not_fatal(mc, fs, capsys):
    """A rename can hang a deep tree under a deep directory: paths below then exceed
    the limit. The NameNode still sums, saves and reloads it; client walks list what
    they can address and name what they cannot."""
    fs.makedirs("/user/under" + "/d" * 2000, exist_ok=True)
    fs.makedirs("/user/moved" + "/d" * 2000, exist_ok=True)
    fs.pipe_file("/user/moved" + "/d" * 2000 + "/f", b"too deep")
    fs.mv("/user/moved", "/user/under" + "/d" * 2000 + "/moved")
    expected = fs.content_summary("/user/under")
    assert expected["directory_count"] == 4002 and expected["length"] == 8
    code, out, err = hfed(mc, capsys, "dfs", "-ls", "-R", "/user/under")   # fsck walks the same way
    assert code == 1 and "longer than 4096 bytes" in err and len(out.splitlines()) > 2000
    assert "Recursion" not in err and err.count("\n") == 1
    assert hfed(mc, capsys, "dfs", "-count", "/user/under")[1].split()[:3] == ["4002", "1", "8"]
    run_ok(mc, capsys, "dfsadmin", "-saveNamespace")
    fs.mkdir("/user/after-the-image")                    # an edit to replay
    mc.kill_namenode("ns-a")
    mc.start_namenode("ns-a")
    writable(fs)
    assert fs.content_summary("/user/under") == expected and fs.exists("/user/after-the-image")
    mc.down()                                            # a clean stop writes an image; the start loads it
    mc.up()
    again = HfedFileSystem(conf=str(mc.config_path), skip_instance_cache=True)   # the NameNode's new address
    try:
        writable(again)
        assert again.content_summary("/user/under") == expected
        again.rm("/user/under", recursive=True)
        assert not again.exists("/user/under")
    finally:
        again.close()


# -------------------------------------------------------------------- output
@pytest.mark.parametrize("args", [("dfs", "-ls"), ("dfs", "-ls", "-R"), ("dfs", "-du"), ("fsck", "-files"),
                                  ("dfs", "-count"), ("dfs", "-stat", "%n %u")])
def test_names_cannot_forge_lines_or_drive_the_terminal(mc, fs, capsys, args):
    top = f"/user/esc-{uuid.uuid4().hex[:8]}"
    names = ["a\nb", "\x1b[31mred", "c\rd", "tab\there"]
    for name in names:
        fs.pipe_file(f"{top}/{name}", b"x")
    command, *flags = args
    targets = [f"{top}/{n}" for n in names] if args[-1] in ("-count", "%n %u") else [top]
    if command == "fsck":
        code, out, err = hfed(mc, capsys, "fsck", top, *flags)
    else:
        code, out, err = hfed(mc, capsys, command, *flags, *targets)
    assert code == 0, err
    for raw in ("\x1b", "\r", "\t" if command != "fsck" else "\x1b"):
        assert raw not in out
    lines = out.splitlines()
    assert any(r"a\nb" in line for line in lines) and any(r"\x1b[31mred" in line for line in lines)
    assert any(r"c\rd" in line for line in lines) and any(r"tab\there" in line for line in lines)
    assert not any(line.startswith("b") or line.startswith("d ") for line in out.splitlines())
    fs.rm(top, recursive=True)


# --------------------------------------------------------------- permissions
def test_what_daemons_store_is_private(mc, fs):
    fs.pipe_file("/user/private/file", os.urandom(3 << 20))   # several blocks
    fs.session.namenode("ns-a").save_namespace()
    roots = [Path(mc.config.nameservices["ns-a"].meta_dir), Path(mc.config.datanodes["host-1"].data_dir)]
    for root in roots:           # one an older hfed made 0755 is tightened at the next start
        root.chmod(0o755)
    mc.down()
    mc.up()
    again = HfedFileSystem(conf=str(mc.config_path), skip_instance_cache=True)   # the NameNode's new address
    try:
        writable(again)
        again.pipe_file("/user/private/again", b"y" * 100)
    finally:
        again.close()
    seen = {"dirs": 0, "files": 0}
    for root in roots:
        assert stat.S_IMODE(root.stat().st_mode) == 0o700, root
        for directory, subdirs, files in os.walk(root):
            for d in subdirs:
                assert stat.S_IMODE(os.stat(os.path.join(directory, d)).st_mode) == 0o700, d
                seen["dirs"] += 1
            for f in files:
                path = os.path.join(directory, f)
                assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
                seen["files"] += 1
    assert seen["dirs"] >= 2 and seen["files"] >= 8
