"""A real NameNode process: kill -9 after acknowledged changes, restart, nothing lost."""
import os
import signal
import subprocess
import sys
import threading
import time

import grpc
import pytest

from protos import config, hfed_pb2 as pb, hfed_pb2_grpc as pb_grpc, rpc, rpc_errors
from namenode import editlog, image

SUPERUSER = rpc.current_user()


def write_conf(base, **settings):
    cfg = config.from_dict({
        "security": {"auth": "simple", "tls": False}, "cluster_id": "CID-dur", "heartbeat_interval": 0.2, "dead_interval": 1.0, **settings,
        "nameservices": {"ns-a": {"address": "127.0.0.1:0", "meta_dir": str(base / "meta")}},
        "mounts": [{"path": "/user", "nameservice": "ns-a"}]})
    conf = base / "hfed.toml"
    conf.write_text(config.dump(cfg))
    return conf


class NameNode:
    def __init__(self, base, conf, *extra):
        self.addr_file, self.log = base / "addr", base / "log"
        self.addr_file.unlink(missing_ok=True)
        self.proc = subprocess.Popen([sys.executable, "-m", "namenode.server", "--conf", str(conf),
                                      "--nameservice", "ns-a", "--address-file", str(self.addr_file), *extra],
                                     stderr=open(self.log, "a"))
        self.channel = None

    def wait_ready(self):
        deadline = time.time() + 30
        while not self.addr_file.exists():
            assert self.proc.poll() is None and time.time() < deadline, self.log.read_text()
            time.sleep(0.05)
        self.channel = rpc.insecure_channel(self.addr_file.read_text())
        return self

    def call(self, method, request, user=SUPERUSER):
        try:
            return getattr(pb_grpc.ClientProtocolStub(self.channel), method)(
                request, metadata=rpc.identity_metadata(user, [user]), timeout=20)
        except grpc.RpcError as e:
            raise rpc_errors.from_rpc_error(e, "ns-a") from None

    def stop(self, sig=signal.SIGTERM):
        if self.channel is not None:
            self.channel.close()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(20)


@pytest.fixture
def namenodes():
    started = []
    yield started
    for nn in started:
        nn.stop(signal.SIGKILL)


def start(namenodes, base, conf, *extra):
    nn = NameNode(base, conf, *extra)
    namenodes.append(nn)
    return nn


def test_acknowledged_changes_survive_kill_9(tmp_path, namenodes):
    conf = write_conf(tmp_path)
    nn = start(namenodes, tmp_path, conf).wait_ready()
    acked, lock = [], threading.Lock()
    stop = threading.Event()

    def writer(w):
        i = 0
        while not stop.is_set():
            path = f"/user/w{w}/f{i}"
            try:
                if i % 2:
                    nn.call("Mkdirs", pb.MkdirsRequest(path=path, create_parent=True))
                else:
                    nn.call("Create", pb.CreateRequest(path=path, create_parent=True, client_name=f"c{w}"))
                    nn.call("Complete", pb.CompleteRequest(path=path, client_name=f"c{w}"))
            except OSError:
                return                      # the NameNode died under us: this one was not acknowledged
            with lock:
                acked.append((path, i % 2 == 0))
            i += 1
    threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    while len(acked) < 300:
        time.sleep(0.01)
    nn.proc.send_signal(signal.SIGKILL)      # mid-load, no clean shutdown, no image
    nn.proc.wait(10)
    stop.set()
    for t in threads:
        t.join(30)
    nn.channel.close()
    nn = start(namenodes, tmp_path, conf).wait_ready()
    for path, is_file in acked:
        status = nn.call("GetFileInfo", pb.GetFileInfoRequest(path=path)).status
        assert status.is_dir != is_file and not status.under_construction, path


def test_second_namenode_on_the_same_meta_dir_refuses(tmp_path, namenodes):
    conf = write_conf(tmp_path)
    first = start(namenodes, tmp_path, conf).wait_ready()
    second_dir = tmp_path / "second"
    second_dir.mkdir()
    second = start(namenodes, second_dir, conf)
    assert second.proc.wait(30) == 1
    msg = second.log.read_text()
    assert f"{tmp_path / 'meta'} is in use by another NameNode (pid {first.proc.pid}" in msg
    first.call("Mkdirs", pb.MkdirsRequest(path="/user/still-fine"))


def test_save_namespace_is_for_the_superuser_and_checkpoints_roll_the_log(tmp_path, namenodes):
    conf = write_conf(tmp_path, checkpoint_txns=40)
    nn = start(namenodes, tmp_path, conf).wait_ready()
    with pytest.raises(PermissionError, match="only the superuser may save the namespace"):
        nn.call("SaveNamespace", pb.SaveNamespaceRequest(), user="mallory")
    nn.call("Mkdirs", pb.MkdirsRequest(path="/user/a"))
    reply = nn.call("SaveNamespace", pb.SaveNamespaceRequest())
    assert reply.txid >= 2 and os.path.basename(reply.image) == image.image_name(reply.txid)
    for i in range(100):                     # past checkpoint_txns: the NameNode writes an image by itself
        nn.call("Mkdirs", pb.MkdirsRequest(path=f"/user/a/{i}"))
    meta = tmp_path / "meta"
    deadline = time.time() + 10
    while image.list_images(meta)[0][0] <= reply.txid:
        assert time.time() < deadline, "no automatic checkpoint"
        time.sleep(0.1)
    nn.stop()
    assert nn.proc.returncode == 0
    assert len(image.list_images(meta)) == 2        # keep_images = 2
    nn = start(namenodes, tmp_path, conf).wait_ready()
    assert nn.call("GetContentSummary", pb.GetContentSummaryRequest(path="/user/a")).directory_count == 101
    assert "+ 0 edits" in nn.log.read_text()       # the clean shutdown wrote a final image


def test_mid_log_corruption_refuses_to_start_and_recover_skips_it(tmp_path, namenodes):
    conf = write_conf(tmp_path)
    nn = start(namenodes, tmp_path, conf).wait_ready()
    for i in range(5):
        nn.call("Mkdirs", pb.MkdirsRequest(path=f"/user/d{i}"))
    nn.stop(signal.SIGKILL)
    [seg] = [s for s in editlog.list_segments(tmp_path / "meta") if s.inprogress]
    data = bytearray(seg.path.read_bytes())
    second = len(editlog.FILE_HEADER) + editlog.RECORD.size + editlog.RECORD.unpack_from(data, 12)[0]
    data[second + editlog.RECORD.size + 2] ^= 0xFF      # txid 2, the mkdirs of /user/d0
    seg.path.write_bytes(bytes(data))
    refused = start(namenodes, tmp_path, conf)
    assert refused.proc.wait(30) == 1
    assert f"{seg.path}: corrupt edit log at byte {second}, txid 2" in refused.log.read_text()
    nn = start(namenodes, tmp_path, conf, "--recover").wait_ready()
    assert "RECOVER" in nn.log.read_text()
    nn.call("GetFileInfo", pb.GetFileInfoRequest(path="/user/d4"))
    with pytest.raises(FileNotFoundError):
        nn.call("GetFileInfo", pb.GetFileInfoRequest(path="/user/d0"))


def test_an_append_and_its_refusals_survive_kill_9(tmp_path, namenodes):
    conf = write_conf(tmp_path)
    nn = start(namenodes, tmp_path, conf).wait_ready()
    nn.call("Mkdirs", pb.MkdirsRequest(path="/user/alice", permission=0o777, create_parent=True))
    nn.call("Create", pb.CreateRequest(path="/user/alice/log", permission=0o644, client_name="c1"), user="alice")
    assert nn.call("Complete", pb.CompleteRequest(path="/user/alice/log", client_name="c1"), user="alice").completed
    with pytest.raises(FileNotFoundError, match="/user/alice/nope"):
        nn.call("Append", pb.AppendRequest(path="/user/alice/nope", client_name="c2"), user="alice")
    with pytest.raises(PermissionError, match="user=bob"):
        nn.call("Append", pb.AppendRequest(path="/user/alice/log", client_name="c2"), user="bob")
    with pytest.raises(IsADirectoryError):
        nn.call("Append", pb.AppendRequest(path="/user/alice", client_name="c2"), user="alice")
    reply = nn.call("Append", pb.AppendRequest(path="/user/alice/log", client_name="c2", new_block=True),
                    user="alice")
    assert reply.status.under_construction and reply.status.length == 0 and not reply.HasField("last_block")
    nn.stop(signal.SIGKILL)
    nn = start(namenodes, tmp_path, conf).wait_ready()
    with pytest.raises(OSError, match="open for writing by c2"):        # the lease came back with the replay
        nn.call("Append", pb.AppendRequest(path="/user/alice/log", client_name="c3"), user="alice")
    assert nn.call("GetFileInfo", pb.GetFileInfoRequest(path="/user/alice/log")).status.under_construction
    assert nn.call("Complete", pb.CompleteRequest(path="/user/alice/log", client_name="c2"), user="alice").completed
    assert not nn.call("GetFileInfo", pb.GetFileInfoRequest(path="/user/alice/log")).status.under_construction
