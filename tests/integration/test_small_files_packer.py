"""The small-file packer on a real cluster: it packs a stream of writes into
full containers in the background, and an acknowledged small file survives
kill -9 of its NameNode before packing and in the middle of packing (no file
ever points at a container that was not finished)."""
from __future__ import annotations

import os
import signal
import threading

import grpc

from client.fs import HfedFileSystem
from client.minicluster import wait_for
from protos import hfed_pb2 as pb, hfed_pb2_grpc as pb_grpc, rpc

# Pack only when asked, so the tests decide when a container is written.
PACK_ON_REQUEST = {"small_file_threshold": 1 << 20, "pack_age": 3600.0, "pack_count": 1_000_000}


def write_small_files(fs: HfedFileSystem, count: int) -> dict[str, bytes]:
    files = {f"/user/crash/f{i:04d}": os.urandom(1 + (i * 997) % 16384) for i in range(count)}
    fs.mkdir("/user/crash")
    for path, data in files.items():
        fs.pipe_file(path, data)
    return files


def layouts(fs: HfedFileSystem, files) -> set[str]:
    return {fs.info(path)["layout"] for path in files}


def restart_namenode(mc, fs) -> HfedFileSystem:
    mc.kill_namenode("ns-a", signal.SIGKILL)
    mc.start_namenode("ns-a")
    fresh = HfedFileSystem(conf=str(mc.config_path), skip_instance_cache=True)
    fs.close()
    assert mc.wait_for_block_reports()
    return fresh


def assert_all_read_back(fs: HfedFileSystem, files: dict[str, bytes]) -> None:
    for path, data in files.items():
        assert fs.cat_file(path) == data, path


def test_staged_small_files_survive_kill_9_of_their_namenode(fresh_cluster):
    mc = fresh_cluster(settings=PACK_ON_REQUEST)
    fs = HfedFileSystem(conf=str(mc.config_path), skip_instance_cache=True)
    files = write_small_files(fs, 150)
    assert layouts(fs, files) == {"staged"}
    fs = restart_namenode(mc, fs)
    assert layouts(fs, files) == {"staged"}
    assert_all_read_back(fs, files)
    fs.namenode("ns-a").pack_now()
    assert layouts(fs, files) == {"packed"}
    assert_all_read_back(fs, files)
    fs.close()


def test_kill_9_while_a_container_is_being_written_loses_nothing(fresh_cluster):
    mc = fresh_cluster(settings=PACK_ON_REQUEST)
    fs = HfedFileSystem(conf=str(mc.config_path), skip_instance_cache=True)
    files = write_small_files(fs, 200)
    labels = mc.host_labels
    for label in labels:                       # the container's pipeline will hang mid-write
        mc.kill_datanode(label, signal.SIGSTOP)
    address = mc.namenode_address("ns-a")
    packing = threading.Thread(target=_pack_once_without_retries, args=(address,), daemon=True)
    packing.start()
    try:
        # The container file exists (created, block allocated) but its bytes are not on any DataNode.
        wait_for(lambda: mc.stats("ns-a").blocks >= 1, 15, "the container's block to be allocated")
        mc.kill_namenode("ns-a", signal.SIGKILL)
    finally:
        for label in labels:
            mc.kill_datanode(label, signal.SIGCONT)
    mc.start_namenode("ns-a")
    fs = HfedFileSystem(conf=str(mc.config_path), skip_instance_cache=True)
    assert layouts(fs, files) == {"staged"}        # nothing points at the unfinished container
    assert_all_read_back(fs, files)
    wait_for(lambda: not _safe_mode(fs), 30, "ns-a to leave safe mode")
    packing.join(10)
    counts = fs.namenode("ns-a").pack_now()        # packs again; the orphan container goes away
    assert counts.files_packed == len(files)
    assert layouts(fs, files) == {"packed"}
    assert_all_read_back(fs, files)
    stats = mc.stats("ns-a")
    assert stats.containers == 1 and stats.small_packed == len(files) and stats.small_staged == 0
    wait_for(lambda: mc.stats("ns-a").blocks == 1, 15, "the orphan container's block to go")
    fs.close()


def _safe_mode(fs: HfedFileSystem) -> bool:
    return fs.namenode("ns-a").set_safe_mode(pb.SafeModeRequest.GET).on


def _pack_once_without_retries(address: str) -> None:
    """PackNow as one bare call: the client library would retry it on the restarted NameNode."""
    with grpc.insecure_channel(address) as channel:
        try:
            pb_grpc.ClientProtocolStub(channel).PackNow(pb.PackNowRequest(), metadata=rpc.identity_metadata(),
                                                        timeout=60)
        except grpc.RpcError:
            pass          # the NameNode is killed under it


def test_the_background_packer_fills_containers_while_files_keep_arriving(fresh_cluster):
    mc = fresh_cluster(settings={"small_file_threshold": 1 << 20, "pack_age": 3600.0, "pack_count": 100})
    fs = HfedFileSystem(conf=str(mc.config_path), skip_instance_cache=True)
    files = write_small_files(fs, 450)
    wait_for(lambda: mc.stats("ns-a").small_staged < 100, 30, "the packer to catch up")
    stats = mc.stats("ns-a")
    # Files that arrive while a container is written wait for the next full one.
    assert 1 <= stats.containers <= 4 and stats.small_packed >= 100 * stats.containers
    assert stats.small_packed + stats.small_staged == len(files)
    assert_all_read_back(fs, files)
    fs.close()
