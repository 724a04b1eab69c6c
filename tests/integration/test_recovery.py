"""Recovery on a real cluster: safe mode, a DataNode lost mid-write, a writer that dies."""
import errno
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from client.fs import HfedFileSystem
from client.minicluster import wait_for

MiB = 1 << 20


def hfed(conf, *args):
    return subprocess.run([sys.executable, "-m", "client.cli", "--conf", str(conf), *args],
                          capture_output=True, text=True, timeout=60)


def test_safe_mode_from_the_cli(cluster, fs):
    conf = cluster.config_path
    entered = hfed(conf, "dfsadmin", "-safemode", "enter", "-ns", "ns-a")
    assert entered.returncode == 0 and "Safe mode is ON in ns-a" in entered.stdout
    try:
        with pytest.raises(OSError) as err:
            fs.mkdir("/user/in-safe-mode")
        assert err.value.errno == errno.EROFS and "/user/in-safe-mode" in str(err.value)
        fs.pipe_file("/data/other-namespace-writes", b"ok")       # ns-b is not in safe mode
        got = hfed(conf, "dfsadmin", "-safemode", "get")
        assert "Safe mode is ON in ns-a" in got.stdout and "Safe mode is OFF in ns-b" in got.stdout
    finally:
        left = hfed(conf, "dfsadmin", "-safemode", "leave", "-ns", "ns-a")
    assert left.returncode == 0 and "Safe mode is OFF in ns-a" in left.stdout
    fs.mkdir("/user/in-safe-mode")
    fs.rm("/user/in-safe-mode")
    fs.rm("/data/other-namespace-writes")


def test_restarted_namenode_waits_for_block_reports_then_serves(fresh_cluster):
    cluster = fresh_cluster(namespaces=1)
    fs = HfedFileSystem(conf=str(cluster.config_path), skip_instance_cache=True)
    data = os.urandom(2 * MiB + 10)
    fs.pipe_file("/data/survivor.bin", data)
    cluster.kill_namenode("ns-a", signal.SIGKILL)
    cluster.start_namenode("ns-a")
    waited = hfed(cluster.config_path, "dfsadmin", "-safemode", "wait")
    assert waited.returncode == 0 and "Safe mode is OFF in ns-a" in waited.stdout
    fresh = HfedFileSystem(conf=str(cluster.config_path), skip_instance_cache=True)
    assert fresh.cat_file("/data/survivor.bin") == data
    fresh.pipe_file("/data/after-restart", b"writable again")


def test_write_survives_a_pipeline_datanode_killed_mid_block(fresh_cluster):
    cluster = fresh_cluster(namespaces=1, datanodes=4)
    # The writer's own host always takes the first replica: host-1 is in every pipeline.
    fs = HfedFileSystem(conf=str(cluster.config_path), host="host-1", skip_instance_cache=True)
    data = os.urandom(3 * MiB + 777)
    with fs.open("/data/pipeline.bin", "wb") as f:
        f.write(data[:MiB + MiB // 2])
        cluster.kill_datanode("host-1", signal.SIGKILL)
        f.write(data[MiB + MiB // 2:])
    reader = HfedFileSystem(conf=str(cluster.config_path), host="elsewhere", skip_instance_cache=True)
    assert reader.cat_file("/data/pipeline.bin") == data

    def fully_replicated():
        blocks = reader.block_locations("/data/pipeline.bin").blocks
        return all(len(b.locations) == 3 and "host-1" not in {l.host_label for l in b.locations}
                   for b in blocks)
    wait_for(fully_replicated, 30, "re-replication after the pipeline lost host-1")


def test_lease_of_a_dead_writer_is_recovered(fresh_cluster):
    cluster = fresh_cluster(namespaces=1, settings={"lease_hard_limit": 2.0})
    writer = textwrap.dedent(f"""
        import os, sys, time
        from client.fs import HfedFileSystem
        fs = HfedFileSystem(conf={str(cluster.config_path)!r}, skip_instance_cache=True)
        f = fs.open("/data/abandoned.bin", "wb")
        f.write(b"a" * ({MiB} + 4096))     # one whole block is sent, the rest is buffered
        print("written", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", writer], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "written"
        fs = HfedFileSystem(conf=str(cluster.config_path), skip_instance_cache=True)
        with pytest.raises(OSError) as busy:
            fs.pipe_file("/data/abandoned.bin", b"mine")
        assert busy.value.errno == errno.EBUSY
    finally:
        proc.kill()
        proc.wait()

    def closed():
        return not fs.info("/data/abandoned.bin").get("under_construction", True)
    wait_for(closed, 20, "lease recovery of /data/abandoned.bin")
    assert fs.cat_file("/data/abandoned.bin") == b"a" * MiB      # the acknowledged block, nothing torn
    fs.pipe_file("/data/abandoned.bin", b"mine")                 # writable by others again
    assert fs.cat_file("/data/abandoned.bin") == b"mine"
