"""Batch calls against a real NameNode process: per-entry results in order, a bad
entry fails alone, an over-limit batch changes nothing, acknowledged batches
survive kill -9."""
import signal
import subprocess
import sys
import time

import pytest

from client.namenode_client import NamenodeClient
from protos import config, errors, hfed_pb2 as pb, rpc

SUPERUSER = rpc.current_user()
WRITER = "batch-test-writer"


class NameNode:
    """One NameNode process on a free port, with its meta_dir under ``base``."""

    def __init__(self, base):
        cfg = config.from_dict({
            "cluster_id": "CID-batch", "security": {"tls": False},
            "nameservices": {"ns-a": {"address": "127.0.0.1:0", "meta_dir": str(base / "meta")}},
            "mounts": [{"path": "/user", "nameservice": "ns-a"}]})
        self.conf, self.addr_file, self.log = base / "hfed.toml", base / "addr", base / "log"
        self.conf.write_text(config.dump(cfg))
        self.proc = self.client = None

    def start(self) -> NamenodeClient:
        self.addr_file.unlink(missing_ok=True)
        self.proc = subprocess.Popen([sys.executable, "-m", "namenode.server", "--conf", str(self.conf),
                                      "--nameservice", "ns-a", "--address-file", str(self.addr_file)],
                                     stderr=open(self.log, "a"))
        deadline = time.time() + 30
        while not self.addr_file.exists():
            assert self.proc.poll() is None and time.time() < deadline, self.log.read_text()
            time.sleep(0.05)
        self.client = NamenodeClient("ns-a", self.addr_file.read_text(), SUPERUSER, [SUPERUSER])
        return self.client

    def stop(self, sig=signal.SIGTERM):
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(20)


@pytest.fixture
def namenode(tmp_path):
    nn = NameNode(tmp_path)
    nn.start()
    yield nn
    nn.stop(signal.SIGKILL)


def info(path):
    return pb.BatchEntry(get_file_info=pb.GetFileInfoRequest(path=path))


def mkdirs(path, create_parent=True):
    return pb.BatchEntry(mkdirs=pb.MkdirsRequest(path=path, permission=0o755, create_parent=create_parent))


def create(path, overwrite=False, create_parent=True):
    return pb.BatchEntry(create=pb.CreateRequest(path=path, permission=0o644, overwrite=overwrite,
                                                 create_parent=create_parent, client_name=WRITER))


def complete(path):
    return pb.BatchEntry(complete=pb.CompleteRequest(path=path, client_name=WRITER))


def test_mixed_batch_runs_in_order(namenode):
    results = namenode.client.batch([
        mkdirs("/user/mix/dir"),
        create("/user/mix/dir/f"),
        complete("/user/mix/dir/f"),
        info("/user/mix/dir/f"),
        pb.BatchEntry(get_block_locations=pb.GetBlockLocationsRequest(path="/user/mix/dir/f", length=1 << 30)),
        info("/user/mix/dir"),
        pb.BatchEntry(delete=pb.DeleteRequest(path="/user/mix/dir/f")),
        info("/user/mix/dir/f"),          # sees the delete just before it
    ])
    assert [type(r).__name__ for r in results] == [
        "MkdirsResponse", "CreateResponse", "CompleteResponse", "GetFileInfoResponse",
        "GetBlockLocationsResponse", "GetFileInfoResponse", "DeleteResponse", "NotFound"]
    assert results[1].status.path == "/user/mix/dir/f" and results[1].status.under_construction
    assert results[2].completed
    assert not results[3].status.is_dir and not results[3].status.under_construction
    assert results[4].blocks.file_length == 0 and not results[4].blocks.under_construction
    assert results[5].status.is_dir and results[5].status.children_count == 1
    assert results[6].deleted
    assert isinstance(results[7], FileNotFoundError) and "/user/mix/dir/f" in str(results[7])


def test_a_bad_entry_fails_alone_with_its_own_error(namenode):
    client = namenode.client
    client.batch([create("/user/bad/existing"), complete("/user/bad/existing")])
    existing_id = client.get_file_info("/user/bad/existing").file_id
    results = client.batch([
        mkdirs("/user/bad/ok1"),
        mkdirs("user/relative"),                              # invalid path
        create("/user/bad/missing/f", create_parent=False),   # parent does not exist
        create("/user/bad/existing"),                         # exists, no overwrite
        pb.BatchEntry(),                                      # names no operation
        mkdirs("/user/bad/ok2"),
    ])
    assert isinstance(results[0], pb.MkdirsResponse) and isinstance(results[5], pb.MkdirsResponse)
    assert isinstance(results[1], ValueError) and "user/relative" in str(results[1])
    assert "not absolute" in str(results[1])
    assert isinstance(results[2], FileNotFoundError) and "/user/bad/missing" in str(results[2])
    assert isinstance(results[3], FileExistsError) and "/user/bad/existing" in str(results[3])
    assert isinstance(results[4], ValueError) and "entry 4 names no operation" in str(results[4])
    for error in (results[1], results[2], results[3]):
        assert "ns-a" in str(error)                          # the namespace is named, as for single calls
    # the failed entries changed nothing; the good ones are applied
    assert client.get_file_info("/user/bad/ok1").is_dir and client.get_file_info("/user/bad/ok2").is_dir
    with pytest.raises(FileNotFoundError):
        client.get_file_info("/user/bad/missing")
    assert client.get_file_info("/user/bad/existing").file_id == existing_id


def test_errors_match_the_single_call(namenode):
    client = namenode.client
    client.mkdirs("/user/same/a")
    with pytest.raises(FileExistsError) as single:
        client.mkdirs("/user/same/a", create_parent=False)
    [batched] = client.batch([mkdirs("/user/same/a", create_parent=False)])
    assert type(batched) is type(single.value) and str(batched) == str(single.value)
    assert batched.path == "/user/same/a"


def test_over_limit_batch_is_refused_whole(namenode):
    client = namenode.client
    too_many = [mkdirs(f"/user/big/d{i}") for i in range(pb.MAX_BATCH + 1)]
    with pytest.raises(ValueError, match=rf"at most {pb.MAX_BATCH} entries.*has {pb.MAX_BATCH + 1}"):
        client.batch(too_many)
    with pytest.raises(FileNotFoundError):
        client.get_file_info("/user/big")
    # exactly the limit is fine
    results = client.batch(too_many[:pb.MAX_BATCH])
    assert all(isinstance(r, pb.MkdirsResponse) for r in results) and len(results) == pb.MAX_BATCH


def test_acknowledged_batch_survives_kill_9(namenode):
    client = namenode.client
    names = [f"/user/durable/f{i:04d}" for i in range(300)]
    entries = [e for name in names for e in (create(name), complete(name))]
    for start in range(0, len(entries), pb.MAX_BATCH):
        results = client.batch(entries[start:start + pb.MAX_BATCH])
        assert not [r for r in results if isinstance(r, Exception)]
    namenode.stop(signal.SIGKILL)                            # no shutdown checkpoint: the edit log must hold it
    client = namenode.start()
    results = client.batch([info(name) for name in names])
    assert [r.status.path for r in results] == names
    assert not any(r.status.under_construction for r in results)
