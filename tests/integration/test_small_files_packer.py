"""Small files under faults, on a real cluster: every acknowledged small file reads
back identical after kill -9 of its writer, of a DataNode in its staging
container's pipeline, of its NameNode, and of the NameNode in the middle of
packing; the background packer packs closed staging containers on its own."""
from __future__ import annotations

import hashlib
import inspect
import os
import signal
import subprocess
import sys
import threading
import time

import grpc

from client import credentials
from client.fs import HfedFileSystem
from client.minicluster import wait_for
from protos import hfed_pb2 as pb, hfed_pb2_grpc as pb_grpc, rpc

# Pack only when asked, so the tests decide when a container is packed.
PACK_ON_REQUEST = {"small_file_threshold": 1 << 20, "pack_age": 3600.0, "pack_count": 1_000_000}


def content(path: str) -> bytes:
    """The bytes a test writes to ``path`` (so a killed writer's files can be checked)."""
    seed = hashlib.sha256(path.encode()).digest()
    return (seed * (1 + int.from_bytes(seed[:2], "big") % 512))[:1 + int.from_bytes(seed[2:4], "big") % 16384]


def write_small_files(fs: HfedFileSystem, count: int, root: str = "/user/crash") -> dict[str, bytes]:
    files = {f"{root}/f{i:04d}": content(f"{root}/f{i:04d}") for i in range(count)}
    for path, data in files.items():
        fs.pipe_file(path, data)
    return files


def new_fs(mc) -> HfedFileSystem:
    return HfedFileSystem(conf=str(mc.config_path), skip_instance_cache=True)


def assert_all_read_back(fs: HfedFileSystem, files: dict[str, bytes]) -> None:
    for path, data in files.items():
        assert fs.cat_file(path) == data, path


def test_acknowledged_small_files_survive_kill_9_of_their_namenode(fresh_cluster):
    mc = fresh_cluster(settings=PACK_ON_REQUEST)
    fs = new_fs(mc)
    files = write_small_files(fs, 150)            # in a staging container that stays open
    mc.kill_namenode("ns-a", signal.SIGKILL)
    mc.start_namenode("ns-a")
    assert mc.wait_for_block_reports()           # the DataNodes registered again
    reader = new_fs(mc)
    assert {reader.info(p)["layout"] for p in files} == {"packed"}
    assert_all_read_back(reader, files)           # from the open container, through its DataNodes
    more = write_small_files(fs, 20, "/user/crash/after")   # the writer carries on in the same container
    fs.close()                                    # closes the container on the restarted NameNode
    assert mc.wait_for_block_reports()
    counts = reader.session.namenode("ns-a").pack_now()
    assert counts.files_packed == len(files) + len(more)
    assert_all_read_back(reader, {**files, **more})
    reader.close()


WRITER = """
import hashlib, sys
from client.fs import HfedFileSystem
""" + inspect.getsource(content) + """
fs = HfedFileSystem(conf=sys.argv[1], skip_instance_cache=True)
i = 0
while True:
    batch = {f"/user/w/f{i + k:05d}": content(f"/user/w/f{i + k:05d}") for k in range(5)}
    for path, error in zip(batch, fs.pipe_many(batch)):
        if error is None:
            print(path, flush=True)
    i += 5
"""


def test_kill_9_of_the_writer_mid_stream_loses_no_acknowledged_file(fresh_cluster):
    mc = fresh_cluster(settings=PACK_ON_REQUEST)
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(mc.config_path)], stdout=subprocess.PIPE,
                              text=True, cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    acknowledged = []
    try:
        for line in writer.stdout:
            acknowledged.append(line.strip())
            if len(acknowledged) >= 300:
                break
        writer.send_signal(signal.SIGKILL)
        writer.wait(10)
        acknowledged += [line.strip() for line in writer.stdout]
    finally:
        if writer.poll() is None:
            writer.kill()
    fs = new_fs(mc)
    assert_all_read_back(fs, {p: content(p) for p in acknowledged})
    # The DataNodes kept the broken pipeline's replica and reported it.
    located = fs.block_locations(acknowledged[-1])
    assert located.blocks[0].locations
    fs.close()


def test_kill_9_of_a_datanode_mid_stream_loses_no_acknowledged_file(fresh_cluster):
    mc = fresh_cluster(settings=PACK_ON_REQUEST)
    fs = new_fs(mc)
    first = write_small_files(fs, 50, "/user/dn/a")
    pipeline = fs.block_locations(next(iter(first))).blocks[0].locations
    victim = pipeline[-1].host_label
    written: dict[str, bytes] = {}
    errors: list[Exception] = []

    def keep_writing():
        for i in range(400):
            path = f"/user/dn/b/f{i:04d}"
            try:
                fs.pipe_file(path, content(path))
                written[path] = content(path)
            except Exception as e:  # noqa: BLE001 - collected and asserted below
                errors.append(e)
    thread = threading.Thread(target=keep_writing)
    thread.start()
    time.sleep(0.3)
    mc.kill_datanode(victim, signal.SIGKILL)
    thread.join(120)
    assert not errors, errors[:3]
    assert len(written) == 400
    assert_all_read_back(fs, {**first, **written})
    fs.session.flush_small_files()
    mc.start_datanode(victim)
    assert mc.wait_for_block_reports()
    counts = fs.session.namenode("ns-a").pack_now()
    assert counts.files_packed == len(first) + len(written)
    assert_all_read_back(fs, {**first, **written})
    fs.close()


def test_kill_9_of_the_namenode_while_packing_loses_nothing(fresh_cluster):
    mc = fresh_cluster(settings=PACK_ON_REQUEST)
    fs = new_fs(mc)
    files = write_small_files(fs, 200)
    fs.session.flush_small_files()
    staging = fs.block_locations(next(iter(files))).blocks[0].block.block_id
    labels = mc.host_labels
    for label in labels:                       # the packing DataNode will hang mid-command
        mc.kill_datanode(label, signal.SIGSTOP)
    address = mc.namenode_address("ns-a")
    packing = threading.Thread(target=_pack_once_without_retries, args=(mc, address), daemon=True)
    packing.start()
    try:
        # The packed container file exists (created, block allocated) but no file points at it.
        wait_for(lambda: mc.stats("ns-a").blocks >= 2, 15, "the packed container's block to be allocated")
        mc.kill_namenode("ns-a", signal.SIGKILL)
    finally:
        for label in labels:
            mc.kill_datanode(label, signal.SIGCONT)
    mc.start_namenode("ns-a")
    assert mc.wait_for_block_reports()
    fs.close()
    fs = new_fs(mc)
    assert {fs.block_locations(p).blocks[0].block.block_id for p in files} == {staging}
    assert_all_read_back(fs, files)
    wait_for(lambda: not fs.session.namenode("ns-a").set_safe_mode(pb.SafeModeRequest.GET).on, 30,
             "ns-a to leave safe mode")
    packing.join(10)
    counts = fs.session.namenode("ns-a").pack_now()        # packs again; the unfinished container goes away
    assert counts.files_packed == len(files)
    assert staging not in {fs.block_locations(p).blocks[0].block.block_id for p in files}
    assert_all_read_back(fs, files)
    stats = mc.stats("ns-a")
    assert stats.containers == 1 and stats.small_packed == len(files) and stats.small_staged == 0
    wait_for(lambda: mc.stats("ns-a").blocks == 1, 15, "the staging and unfinished containers to go")
    fs.close()


def _pack_once_without_retries(mc, address: str) -> None:
    """PackNow as one bare call: the client library would retry it on the restarted NameNode."""
    with rpc.channel(address, mc.config) as channel:
        try:
            pb_grpc.ClientProtocolStub(channel).PackNow(
                pb.PackNowRequest(), metadata=credentials.find(mc.config).metadata("ns-a", mc.config), timeout=60)
        except grpc.RpcError:
            pass          # the NameNode is killed under it


def test_the_background_packer_packs_closed_staging_containers(fresh_cluster):
    mc = fresh_cluster(settings={"small_file_threshold": 1 << 20, "pack_age": 3600.0, "pack_count": 100})
    fs = new_fs(mc)
    files = write_small_files(fs, 450)
    fs.session.flush_small_files()                         # the client's container closes (as after idling)
    wait_for(lambda: mc.stats("ns-a").containers == 1 and mc.stats("ns-a").blocks == 1, 30,
             "the packer to pack the staging container and delete it")
    stats = mc.stats("ns-a")
    assert stats.small_packed == len(files) and stats.small_staged == 0
    assert_all_read_back(fs, files)
    fs.close()
