"""Admin and fsck as HDFS users know them, on real clusters: fsck of files being written,
-list-corruptfileblocks, -delete and -move; dfsadmin -report's fields; decommissioning
a DataNode through the exclude list and -refreshNodes."""
from __future__ import annotations

import dataclasses
import io
import os
import re
from pathlib import Path

import pytest
import requests

from client import cli_fsck
from client.fs import HfedFileSystem
from client.minicluster import wait_for
from protos import config as hconfig
from tests.integration.test_cli import hfed, out

MB = 1 << 20
SIZE = re.compile(r"^\d+ \((\d+ [KMGTPE]?B|\d+\.\d\d [KMGTPE]B)\)$")


def fsck_text(fs, path, **flags):
    buffer = io.StringIO()
    healthy = cli_fsck.fsck(fs, path, fs.session.cfg, out=buffer, options=cli_fsck.FsckOptions(**flags))
    return healthy, buffer.getvalue()


def test_fsck_skips_files_being_written_unless_openforwrite(cluster, fs):
    top = "/user/admin-open"
    fs.pipe_file(f"{top}/done.bin", os.urandom(1000))
    with fs.open(f"{top}/open.bin", "wb") as writing:
        writing.write(os.urandom(MB + 300))
        writing.flush()               # one block complete, the second being written
        wait_for(lambda: fs.info(f"{top}/open.bin").get("under_construction"), 10, "the file to be open")
        healthy, text = fsck_text(fs, top, files=True)
        assert healthy and text.rstrip().endswith(f"The filesystem under path '{top}' is HEALTHY"), text
        assert "open.bin" not in text
        assert re.search(r"Total files:\t+1 \(Files currently being written: 1\)", text), text
        healthy, text = fsck_text(fs, top, openforwrite=True, files=True, blocks=True)
        assert healthy, text
        assert re.search(rf"{top}/open.bin \d+ bytes, replicated: replication=3, 2 block\(s\), OPENFORWRITE:", text)
        assert "[UNDER_CONSTRUCTION]" in text and "MISSING" not in text
    proc = hfed(cluster.config_path, "fsck", top, "-files", "-blocks", "-racks", check=0)
    assert re.search(r"Live_repl=3 \[/default-rack/127\.0\.0\.1:\d+, /default-rack/", out(proc)), out(proc)
    assert " Number of racks:\t\t1" in out(proc)
    fs.rm(top, recursive=True)


def corrupt_single_replica(cluster, fs, path):
    """Flip a byte of a replication-1 file's only replica, read it (the reader reports it,
    the DataNode verifies it) and wait until the NameNode knows the block is lost."""
    block = fs.block_locations(path).blocks[0]
    label = block.locations[0].host_label
    replica = Path(hconfig.load(cluster.config_path).datanodes[label].data_dir) / block.block.pool_id / \
        "finalized" / f"blk_{block.block.block_id}"
    raw = bytearray(replica.read_bytes())
    raw[10] ^= 0xFF
    replica.write_bytes(bytes(raw))

    def lost():
        try:
            fs.cat_file(path)
        except OSError:
            pass
        return not fs.block_locations(path).blocks[0].locations
    wait_for(lost, 30, f"the corrupt replica of {path} to be found")
    return block.block.block_id


def test_list_corruptfileblocks_move_and_delete(fresh_cluster):
    mc = fresh_cluster(namespaces=2, datanodes=1, replication=1)
    conf = mc.config_path
    fs = HfedFileSystem(conf=str(conf), skip_instance_cache=True)
    fs.pipe_file("/user/adm/good.bin", b"fine")
    fs.pipe_file("/user/adm/bad.bin", os.urandom(5000))
    fs.pipe_file("/data/adm/bad.bin", os.urandom(5000))
    bad_user = corrupt_single_replica(mc, fs, "/user/adm/bad.bin")
    bad_data = corrupt_single_replica(mc, fs, "/data/adm/bad.bin")

    proc = hfed(conf, "fsck", "/", "-list-corruptfileblocks", check=1)
    assert out(proc).splitlines() == ["The list of corrupt files under path '/' are:",
                                      f"blk_{bad_data}\t/data/adm/bad.bin", f"blk_{bad_user}\t/user/adm/bad.bin",
                                      "The filesystem under path '/' has 2 CORRUPT files"]
    assert out(hfed(conf, "fsck", "/user/adm/good.bin", "-list-corruptfileblocks", check=0)).splitlines() == [
        "The filesystem under path '/user/adm/good.bin' has 0 CORRUPT files"]
    assert "is CORRUPT" in out(hfed(conf, "fsck", "/user", check=1))

    # -move: to lost+found at the top of the file's own mount, so each stays in its namespace.
    proc = hfed(conf, "fsck", "/data", "-move", check=1)
    assert "Fsck: moved corrupt file /data/adm/bad.bin to /data/lost+found/data/adm/bad.bin" in out(proc)
    assert not fs.exists("/data/adm/bad.bin")
    assert fs.info("/data/lost+found/data/adm/bad.bin")["nameservice"] == fs.info("/data")["nameservice"]
    # -delete: gone; the healthy file untouched, and the next check is healthy.
    proc = hfed(conf, "fsck", "/user", "-delete", check=1)
    assert "Fsck: deleted corrupt file /user/adm/bad.bin" in out(proc)
    assert not fs.exists("/user/adm/bad.bin") and fs.cat_file("/user/adm/good.bin") == b"fine"
    assert out(hfed(conf, "fsck", "/user", check=0)).rstrip().endswith("is HEALTHY")
    assert hfed(conf, "fsck", "/user", "-move", "-delete").returncode == 2      # one or the other


def test_dfsadmin_report_has_hdfs_fields(cluster):
    text = out(hfed(cluster.config_path, "dfsadmin", "-report", check=0))
    head, _, rest = text.partition("-" * 49)
    fields = dict(line.split(": ", 1) for line in head.splitlines() if ": " in line and not line.startswith("\t"))
    for key in ("Configured Capacity", "Present Capacity", "DFS Remaining", "DFS Used"):
        assert SIZE.match(fields[key]), (key, fields[key])
    assert re.fullmatch(r"\d+\.\d\d%", fields["DFS Used%"])
    capacity, present = (int(fields[k].split()[0]) for k in ("Configured Capacity", "Present Capacity"))
    used, remaining = (int(fields[k].split()[0]) for k in ("DFS Used", "DFS Remaining"))
    assert present == used + remaining <= capacity
    live = rest.split("Dead datanodes (0):")[0]
    assert live.lstrip().startswith("Live datanodes (3):")
    nodes = [block for block in live.split("\n\n") if block.startswith("Name: ")]
    assert len(nodes) == 3
    for node in nodes:
        lines = node.splitlines()
        assert [line.split(":")[0] for line in lines[:11]] == [
            "Name", "Hostname", "Decommission Status ", "Configured Capacity", "DFS Used", "Non DFS Used",
            "DFS Remaining", "DFS Used%", "DFS Remaining%", "Last contact", "Num of Blocks"]
        assert lines[2] == "Decommission Status : Normal"
        assert SIZE.match(lines[5].split(": ", 1)[1]), lines[5]
        assert re.fullmatch(r"Last contact: \w{3} \w{3} \d\d \d\d:\d\d:\d\d \S+ \d{4}", lines[9]), lines[9]
    assert "Namespace ns-a at" in text and "Memory budget:" in text   # hfed's sections follow
    dead = out(hfed(cluster.config_path, "dfsadmin", "-report", "-dead", check=0))
    assert "Dead datanodes (0):" in dead and "Live datanodes" not in dead and "Namespace ns-a" not in dead
    assert hfed(cluster.config_path, "dfsadmin", "-live").returncode == 2      # a filter of -report


def set_exclude(mc, labels):
    cfg = hconfig.load(mc.config_path)
    mc.config_path.write_text(hconfig.dump(dataclasses.replace(cfg, datanode_exclude=list(labels))))


def admin_states(mc, label):
    return {ns: next(d.admin_state for d in mc.stats(ns).datanodes if d.id.host_label == label)
            for ns in mc.nameservices}


@pytest.mark.slow
def test_decommission_copies_replicas_off_then_back_in_service(fresh_cluster):
    mc = fresh_cluster(namespaces=2, datanodes=3, replication=2)
    conf = mc.config_path
    fs = HfedFileSystem(conf=str(conf), skip_instance_cache=True)
    data = {path: os.urandom(2 * MB + 1000 * i) for i, path in enumerate(
        ["/user/dec/a", "/user/dec/b", "/data/dec/c", "/data/dec/d"])}
    for path, payload in data.items():
        fs.pipe_file(path, payload)
    assert any("host-1" in [loc.host_label for loc in b.locations]
               for path in data for b in fs.block_locations(path).blocks)

    set_exclude(mc, ["host-1"])
    proc = hfed(conf, "dfsadmin", "-refreshNodes", check=0)
    assert "Refresh nodes successful for ns-a" in out(proc) and "Refresh nodes successful for ns-b" in out(proc)
    assert "host-1" in out(proc)
    wait_for(lambda: set(admin_states(mc, "host-1").values()) == {"Decommissioned"}, 60,
             "host-1 to be decommissioned in both namespaces")
    for path, payload in data.items():
        for block in fs.block_locations(path).blocks:
            elsewhere = [loc.host_label for loc in block.locations if loc.host_label != "host-1"]
            assert len(elsewhere) >= 2, (path, elsewhere)
        assert fs.cat_file(path) == payload
    fs.pipe_file("/user/dec/new", os.urandom(MB + 5))
    assert all("host-1" not in [loc.host_label for loc in b.locations]
               for b in fs.block_locations("/user/dec/new").blocks)
    http = mc.stats("ns-a").http_address
    beans = requests.get(f"http://{http}/jmx", params={"qry": "Hadoop:service=NameNode,name=FSNamesystemState"},
                         timeout=10).json()["beans"]
    assert beans[0]["NumDecomLiveDataNodes"] == 1 and beans[0]["NumDecommissioningDataNodes"] == 0
    assert "live, Decommissioned" in requests.get(f"http://{http}/", timeout=10).text
    report = out(hfed(conf, "dfsadmin", "-report", check=0))
    host1 = report.split("Hostname: host-1\n", 1)[1]
    assert host1.startswith("Decommission Status : Decommissioned")
    assert "Decommissioning datanodes (0):" in out(hfed(conf, "dfsadmin", "-report", "-decommissioning", check=0))

    set_exclude(mc, [])
    hfed(conf, "dfsadmin", "-refreshNodes", check=0)
    assert set(admin_states(mc, "host-1").values()) == {"Normal"}
    for path, payload in data.items():
        assert fs.cat_file(path) == payload


def test_refresh_nodes_with_a_bad_exclude_list_changes_nothing(fresh_cluster):
    mc = fresh_cluster(namespaces=1, datanodes=2, replication=1)
    text = mc.config_path.read_text()
    mc.config_path.write_text(text.replace("[datanodes.host-1]", "[datanodes]\nexclude = \"host-1\"\n\n"
                                                                 "[datanodes.host-1]", 1))
    proc = hfed(mc.config_path, "dfsadmin", "-refreshNodes")
    assert proc.returncode != 0
    assert "datanodes.exclude" in proc.stderr.decode()
    assert set(admin_states(mc, "host-1").values()) == {"Normal"}
