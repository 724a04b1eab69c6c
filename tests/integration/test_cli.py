"""The `hfed` command end to end: a real cluster, the CLI as a subprocess."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest

HFED = [sys.executable, "-m", "client.cli"]
MB = 1 << 20


def hfed(conf, *args, input=None, env=None, check=None):
    env = dict(env or os.environ)
    env["HFED_CONF"] = str(conf)
    proc = subprocess.run([*HFED, *args], input=input, capture_output=True, env=env, timeout=120)
    if check is not None:
        assert proc.returncode == check, (args, proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    return proc


def out(proc) -> str:
    return proc.stdout.decode()


def err(proc) -> str:
    return proc.stderr.decode()


def assert_one_line_error(proc, code=1, *fragments):
    assert proc.returncode == code, (proc.returncode, out(proc), err(proc))
    lines = err(proc).strip().splitlines()
    assert lines and lines[0].startswith("hfed: "), err(proc)
    if code == 1:
        assert len(lines) == 1 and "Traceback" not in err(proc), err(proc)
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.fixture
def area(request, conf_path):
    """A fresh directory in each namespace for this test: (/user/<test>, /data/<test>)."""
    name = re.sub(r"[^A-Za-z0-9_-]", "_", request.node.name)[:60]
    dirs = (f"/user/cli/{name}", f"/data/cli/{name}")
    hfed(conf_path, "dfs", "-mkdir", "-p", *dirs, check=0)
    yield dirs
    hfed(conf_path, "dfs", "-rm", "-r", "-f", *dirs)


@pytest.fixture
def payload(tmp_path):
    """A 3.5 MiB local file: four blocks of 1 MiB."""
    data = os.urandom(3 * MB + MB // 2)
    path = tmp_path / "payload.bin"
    path.write_bytes(data)
    return path, data


def test_ls_root_shows_the_mount_points(conf_path):
    proc = hfed(conf_path, "dfs", "-ls", "/", check=0)
    lines = out(proc).splitlines()
    assert re.match(r"Found \d+ items", lines[0])
    names = [line.split()[-1] for line in lines[1:]]
    assert {"/data", "/tmp", "/user"} <= set(names)
    for line in lines[1:]:
        assert re.match(r"^d[rwxt-]{9}\s+- \S+\s+\S+\s+\d+ \d{4}-\d\d-\d\d \d\d:\d\d /", line), line


def test_mkdir_and_ls_format(conf_path, area):
    user_dir, _ = area
    hfed(conf_path, "dfs", "-mkdir", "-p", f"{user_dir}/a/b", check=0)
    hfed(conf_path, "dfs", "-mkdir", f"{user_dir}/c", check=0)
    proc = hfed(conf_path, "dfs", "-ls", user_dir, check=0)
    lines = out(proc).splitlines()
    assert lines[0] == "Found 2 items"
    assert lines[1].startswith("drwxr-xr-x   - ") and lines[1].endswith(f"{user_dir}/a")
    assert lines[2].endswith(f"{user_dir}/c")
    recursive = out(hfed(conf_path, "dfs", "-ls", "-R", user_dir, check=0)).splitlines()
    assert [line.split()[-1] for line in recursive] == [f"{user_dir}/a", f"{user_dir}/a/b", f"{user_dir}/c"]
    assert_one_line_error(hfed(conf_path, "dfs", "-mkdir", f"{user_dir}/c"), 1, "mkdir", f"{user_dir}/c")
    assert_one_line_error(hfed(conf_path, "dfs", "-mkdir", f"{user_dir}/x/y"), 1, "mkdir")


def test_put_get_cat_roundtrip_over_several_blocks(conf_path, area, payload, tmp_path):
    user_dir, data_dir = area
    local, data = payload
    for directory in (user_dir, data_dir):
        hfed(conf_path, "dfs", "-put", str(local), f"{directory}/big.bin", check=0)
        line = out(hfed(conf_path, "dfs", "-ls", f"{directory}/big.bin", check=0)).splitlines()[-1]
        fields = line.split()
        assert fields[0] == "-rw-r--r--" and fields[1] == "3" and fields[4] == str(len(data)), line
        assert hfed(conf_path, "dfs", "-cat", f"{directory}/big.bin", check=0).stdout == data
        target = tmp_path / f"back-{directory.split('/')[1]}.bin"
        hfed(conf_path, "dfs", "-get", f"{directory}/big.bin", str(target), check=0)
        assert target.read_bytes() == data
    # no overwrite without -f, on both sides
    assert_one_line_error(hfed(conf_path, "dfs", "-put", str(local), f"{user_dir}/big.bin"), 1, "File exists")
    assert_one_line_error(hfed(conf_path, "dfs", "-get", f"{user_dir}/big.bin", str(target)), 1, "exists")
    hfed(conf_path, "dfs", "-put", "-f", str(local), f"{user_dir}/big.bin", check=0)
    # into a directory: the local name is kept
    hfed(conf_path, "dfs", "-put", str(local), data_dir + "/", check=0)
    assert hfed(conf_path, "dfs", "-test", "-f", f"{data_dir}/payload.bin").returncode == 0


def test_put_from_stdin_and_tail_head(conf_path, area):
    user_dir, _ = area
    text = b"".join(b"line %05d\n" % i for i in range(400))  # 4000 bytes
    hfed(conf_path, "dfs", "-put", "-", f"{user_dir}/lines.txt", input=text, check=0)
    assert hfed(conf_path, "dfs", "-cat", f"{user_dir}/lines.txt", check=0).stdout == text
    assert hfed(conf_path, "dfs", "-tail", f"{user_dir}/lines.txt", check=0).stdout == text[-1024:]
    assert hfed(conf_path, "dfs", "-head", f"{user_dir}/lines.txt", check=0).stdout == text[:1024]


def test_rm(conf_path, area):
    user_dir, _ = area
    hfed(conf_path, "dfs", "-put", "-", f"{user_dir}/f", input=b"x", check=0)
    hfed(conf_path, "dfs", "-mkdir", "-p", f"{user_dir}/d/e", check=0)
    assert out(hfed(conf_path, "dfs", "-rm", f"{user_dir}/f", check=0)).strip() == f"Deleted {user_dir}/f"
    assert_one_line_error(hfed(conf_path, "dfs", "-rm", f"{user_dir}/f"), 1, f"{user_dir}/f")
    hfed(conf_path, "dfs", "-rm", "-f", f"{user_dir}/f", check=0)
    assert_one_line_error(hfed(conf_path, "dfs", "-rm", f"{user_dir}/d"), 1, "Is a directory")
    hfed(conf_path, "dfs", "-rm", "-r", f"{user_dir}/d", check=0)
    assert hfed(conf_path, "dfs", "-test", "-e", f"{user_dir}/d").returncode == 1


def test_mv_within_a_namespace_and_refused_across(conf_path, area):
    user_dir, data_dir = area
    hfed(conf_path, "dfs", "-put", "-", f"{user_dir}/a.txt", input=b"hello", check=0)
    hfed(conf_path, "dfs", "-mv", f"{user_dir}/a.txt", f"{user_dir}/b.txt", check=0)
    hfed(conf_path, "dfs", "-mkdir", f"{user_dir}/sub", check=0)
    hfed(conf_path, "dfs", "-mv", f"{user_dir}/b.txt", f"{user_dir}/sub", check=0)  # into a directory
    assert hfed(conf_path, "dfs", "-cat", f"{user_dir}/sub/b.txt", check=0).stdout == b"hello"
    proc = hfed(conf_path, "dfs", "-mv", f"{user_dir}/sub/b.txt", f"{data_dir}/b.txt")
    assert_one_line_error(proc, 1, "mv")
    assert "ns-a" in err(proc) and "ns-b" in err(proc), err(proc)
    assert hfed(conf_path, "dfs", "-test", "-e", f"{user_dir}/sub/b.txt").returncode == 0
    assert hfed(conf_path, "dfs", "-test", "-e", f"{data_dir}/b.txt").returncode == 1


def test_cp_across_namespaces(conf_path, area, payload):
    user_dir, data_dir = area
    local, data = payload
    hfed(conf_path, "dfs", "-mkdir", "-p", f"{user_dir}/tree/inner", check=0)
    hfed(conf_path, "dfs", "-put", str(local), f"{user_dir}/tree/inner/p.bin", check=0)
    hfed(conf_path, "dfs", "-cp", f"{user_dir}/tree", f"{data_dir}/copy", check=0)
    assert hfed(conf_path, "dfs", "-cat", f"{data_dir}/copy/inner/p.bin", check=0).stdout == data
    assert_one_line_error(hfed(conf_path, "dfs", "-cp", f"{user_dir}/tree/inner/p.bin",
                               f"{data_dir}/copy/inner/p.bin"), 1, "File exists")


def test_du_count_stat(conf_path, area):
    user_dir, _ = area
    hfed(conf_path, "dfs", "-mkdir", f"{user_dir}/d", check=0)
    hfed(conf_path, "dfs", "-put", "-", f"{user_dir}/d/one", input=b"a" * 100, check=0)
    hfed(conf_path, "dfs", "-put", "-", f"{user_dir}/d/two", input=b"b" * 2048, check=0)
    assert out(hfed(conf_path, "dfs", "-du", "-s", f"{user_dir}/d", check=0)).split() == [
        "2148", str(2148 * 3), f"{user_dir}/d"]
    rows = [line.split() for line in out(hfed(conf_path, "dfs", "-du", f"{user_dir}/d", check=0)).splitlines()]
    assert rows == [["100", "300", f"{user_dir}/d/one"], ["2048", "6144", f"{user_dir}/d/two"]]
    assert out(hfed(conf_path, "dfs", "-du", "-s", "-h", f"{user_dir}/d", check=0)).split()[:2] == ["2.1", "K"]
    assert out(hfed(conf_path, "dfs", "-count", f"{user_dir}/d", check=0)).split() == ["1", "2", "2148",
                                                                                         f"{user_dir}/d"]
    stat = out(hfed(conf_path, "dfs", "-stat", "%F %n %b %r %o %a", f"{user_dir}/d/two", check=0)).strip()
    assert stat == f"regular file two 2048 3 {1 << 20} 644"
    assert out(hfed(conf_path, "dfs", "-stat", "%F", f"{user_dir}/d", check=0)).strip() == "directory"
    default = out(hfed(conf_path, "dfs", "-stat", f"{user_dir}/d/two", check=0)).strip()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", default), default


def test_setrep_chmod_chown(conf_path, area):
    user_dir, _ = area
    hfed(conf_path, "dfs", "-put", "-", f"{user_dir}/f", input=b"z" * 10, check=0)
    assert "Replication 2 set" in out(hfed(conf_path, "dfs", "-setrep", "2", f"{user_dir}/f", check=0))
    assert out(hfed(conf_path, "dfs", "-stat", "%r", f"{user_dir}/f", check=0)).strip() == "2"
    hfed(conf_path, "dfs", "-chmod", "600", f"{user_dir}/f", check=0)
    assert out(hfed(conf_path, "dfs", "-stat", "%a %A", f"{user_dir}/f", check=0)).strip() == "600 rw-------"
    hfed(conf_path, "dfs", "-chown", "alice:analysts", f"{user_dir}/f", check=0)
    assert out(hfed(conf_path, "dfs", "-stat", "%u:%g", f"{user_dir}/f", check=0)).strip() == "alice:analysts"
    hfed(conf_path, "dfs", "-chgrp", "ops", f"{user_dir}/f", check=0)
    assert out(hfed(conf_path, "dfs", "-stat", "%u:%g", f"{user_dir}/f", check=0)).strip() == "alice:ops"


def test_test_and_touchz(conf_path, area):
    user_dir, _ = area
    hfed(conf_path, "dfs", "-touchz", f"{user_dir}/empty", check=0)
    hfed(conf_path, "dfs", "-touchz", f"{user_dir}/empty", check=0)  # an empty file may be touched again
    assert out(hfed(conf_path, "dfs", "-stat", "%b", f"{user_dir}/empty", check=0)).strip() == "0"
    checks = {("-e", "empty"): 0, ("-f", "empty"): 0, ("-d", "empty"): 1, ("-z", "empty"): 0,
              ("-s", "empty"): 1, ("-d", ""): 0, ("-e", "nothing"): 1}
    for (flag, name), expected in checks.items():
        proc = hfed(conf_path, "dfs", "-test", flag, f"{user_dir}/{name}".rstrip("/"))
        assert proc.returncode == expected, (flag, name, err(proc))
        assert err(proc) == ""
    hfed(conf_path, "dfs", "-put", "-", f"{user_dir}/full", input=b"data", check=0)
    assert_one_line_error(hfed(conf_path, "dfs", "-touchz", f"{user_dir}/full"), 1, "Not a zero length file")


def test_fsck_reports_blocks_and_locations(conf_path, area, payload):
    _, data_dir = area
    local, data = payload
    hfed(conf_path, "dfs", "-put", str(local), f"{data_dir}/f.bin", check=0)
    proc = hfed(conf_path, "fsck", data_dir, "-files", "-blocks", "-locations", check=0)
    text = out(proc)
    assert f"{data_dir}/f.bin {len(data)} bytes, replicated: replication=3, 4 block(s):  OK" in text
    blocks = re.findall(r"^\d+\. (\S+):blk_\d+_\d+ len=(\d+) Live_repl=3 \[(.*)\]$", text, re.M)
    assert [int(b[1]) for b in blocks] == [MB, MB, MB, MB // 2], text
    assert all(b[2].count("host-") == 3 for b in blocks), text
    assert "Total blocks (validated):\t4" in text and "Missing blocks:\t\t0" in text
    assert "Default replication factor:\t3" in text
    assert text.rstrip().endswith(f"The filesystem under path '{data_dir}' is HEALTHY")
    summary = out(hfed(conf_path, "fsck", "/", check=0))
    assert summary.rstrip().endswith("The filesystem under path '/' is HEALTHY")
    assert "Total dirs" in summary and "Under-replicated blocks:" in summary


def test_dfsadmin_report(conf_path):
    text = out(hfed(conf_path, "dfsadmin", "-report", check=0))
    assert "Namespace ns-a at" in text and "(/user, /tmp): UP" in text
    assert "Namespace ns-b at" in text and "(/data): UP" in text
    assert text.count("Live datanodes (3):") == 1 and text.count("Decommission Status : Normal") == 3
    for label in ("host-1", "host-2", "host-3"):
        assert f"Hostname: {label}" in text
    assert "Last contact:" in text and "Configured Capacity:" in text


def test_usage_errors_exit_2(conf_path):
    for args in (["dfs", "-nope"], ["dfs", "-ls", "-Z", "/"], ["dfs", "-setrep", "x", "/user"],
                 ["dfs", "-chmod", "u+x", "/user"], ["bogus"], [], ["dfs", "-mv", "/user"],
                 ["cluster", "sideways"], ["fsck"]):
        proc = hfed(conf_path, *args)
        assert proc.returncode == 2, (args, err(proc))
        assert err(proc).startswith("hfed: ") and "Traceback" not in err(proc), (args, err(proc))


def test_operation_errors_are_one_line(conf_path, tmp_path):
    assert_one_line_error(hfed(conf_path, "dfs", "-ls", "/user/no/such/dir"), 1, "/user/no/such/dir")
    assert_one_line_error(hfed(conf_path, "dfs", "-cat", "/user"), 1, "Is a directory")
    assert_one_line_error(hfed(conf_path, "dfs", "-ls", "/nowhere"), 1, "/nowhere")
    assert_one_line_error(hfed(tmp_path / "missing.toml", "dfs", "-ls", "/"), 1, "missing.toml")
    assert_one_line_error(hfed(conf_path, "dfs", "-put", str(tmp_path / "absent"), "/tmp/x"), 1, "absent")


# ------------------------------------------------------------------ faults

@pytest.mark.slow
def test_reports_when_things_are_down(fresh_cluster, tmp_path):
    mc = fresh_cluster()
    conf = mc.config_path
    local = tmp_path / "f"
    local.write_bytes(os.urandom(2 * MB))
    hfed(conf, "dfs", "-put", str(local), "/user/f", check=0)
    hfed(conf, "dfs", "-put", str(local), "/data/f", check=0)

    mc.kill_namenode("ns-b")
    proc = hfed(conf, "dfsadmin", "-report", check=0)
    assert "(/user, /tmp): UP" in out(proc) and "(/data): DOWN" in out(proc)
    assert "ns-b is DOWN" in err(proc)
    assert_one_line_error(hfed(conf, "dfs", "-ls", "/data"), 1, "ns-b")
    assert hfed(conf, "dfs", "-cat", "/user/f", check=0).stdout == local.read_bytes()  # ns-a unaffected
    fsck = hfed(conf, "fsck", "/")
    assert fsck.returncode == 1 and "UNREACHABLE /data" in out(fsck)

    for label in mc.host_labels:
        mc.kill_datanode(label)
    deadline = time.monotonic() + 30
    while True:  # the NameNode notices after dead_interval (2 s)
        proc = hfed(conf, "fsck", "/user")
        if proc.returncode == 1 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert proc.returncode == 1, out(proc)
    assert "/user/f: MISSING 2 blocks" in out(proc)
    assert out(proc).rstrip().endswith("The filesystem under path '/user' is CORRUPT")
