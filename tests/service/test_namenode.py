"""One NameNode process on a free loopback port, spoken to over gRPC."""
import subprocess
import sys
import time

import grpc
import pytest

from protos import config, errors, hfed_pb2 as pb, hfed_pb2_grpc as pb_grpc, rpc, rpc_errors


@pytest.fixture(scope="module")
def namenode(tmp_path_factory):
    base = tmp_path_factory.mktemp("nn")
    cfg = config.from_dict({
        "cluster_id": "CID-svc", "security": {"tls": False}, "heartbeat_interval": 0.2, "dead_interval": 1.0,
        "nameservices": {"ns-a": {"address": "127.0.0.1:0", "meta_dir": str(base / "meta")}},
        "mounts": [{"path": "/user", "nameservice": "ns-a"}, {"path": "/tmp", "nameservice": "ns-a"}]})
    conf = base / "hfed.toml"
    conf.write_text(config.dump(cfg))
    addr_file = base / "addr"
    proc = subprocess.Popen([sys.executable, "-m", "namenode.server", "--conf", str(conf), "--nameservice", "ns-a",
                             "--address-file", str(addr_file)], stderr=open(base / "log", "w"))
    deadline = time.time() + 20
    while not addr_file.exists():
        assert proc.poll() is None and time.time() < deadline, (base / "log").read_text()
        time.sleep(0.05)
    channel = rpc.insecure_channel(addr_file.read_text())
    yield proc, channel, addr_file.read_text()
    channel.close()
    proc.terminate()
    proc.wait(10)


def call(channel, method, request, user="root"):
    stub = pb_grpc.ClientProtocolStub(channel)
    try:
        return getattr(stub, method)(request, metadata=rpc.identity_metadata(user, [user]), timeout=10)
    except grpc.RpcError as e:
        raise rpc_errors.from_rpc_error(e, "ns-a") from None


def test_mount_points_exist_and_tmp_is_sticky(namenode):
    _proc, channel, _ = namenode
    listing = call(channel, "GetListing", pb.GetListingRequest(path="/"))
    modes = {e.path: e.permission for e in listing.entries}
    assert modes == {"/tmp": 0o1777, "/user": 0o755}


def test_errors_arrive_as_python_exceptions(namenode):
    _proc, channel, _ = namenode
    call(channel, "Mkdirs", pb.MkdirsRequest(path="/user/svc/a", create_parent=True))
    with pytest.raises(FileExistsError, match=r"/user/svc/a \(namespace ns-a\)"):
        call(channel, "Mkdirs", pb.MkdirsRequest(path="/user/svc/a"))
    with pytest.raises(FileNotFoundError):
        call(channel, "GetFileInfo", pb.GetFileInfoRequest(path="/user/svc/nope"))
    with pytest.raises(ValueError, match="not absolute"):
        call(channel, "GetFileInfo", pb.GetFileInfoRequest(path="user"))
    with pytest.raises(PermissionError, match="user=mallory"):
        call(channel, "Mkdirs", pb.MkdirsRequest(path="/user/mallory"), user="mallory")


def test_listing_pages(namenode):
    _proc, channel, _ = namenode
    for i in range(25):
        call(channel, "Mkdirs", pb.MkdirsRequest(path=f"/user/page/d{i:02d}", create_parent=True))
    seen, after = [], ""
    while True:
        page = call(channel, "GetListing", pb.GetListingRequest(path="/user/page", start_after=after, limit=10))
        seen += [e.path for e in page.entries]
        if not page.remaining:
            break
        after = page.entries[-1].path.rsplit("/", 1)[1]
    assert seen == [f"/user/page/d{i:02d}" for i in range(25)]


def test_garbled_message_gets_invalid_argument_and_server_stays_up(namenode):
    proc, channel, _ = namenode
    truncated = pb.GetFileInfoRequest(path="/user/svc").SerializeToString()[:-3]
    for method, garbage in (("ClientProtocol/GetFileInfo", b"\xff\xff\xff\xff\x0f garbage"),
                            ("ClientProtocol/GetFileInfo", truncated),
                            ("DatanodeProtocol/Register", b"\x0a\x7f short")):
        raw = channel.unary_unary(f"/hfed.{method}", request_serializer=None, response_deserializer=None)
        with pytest.raises(grpc.RpcError) as err:
            raw(garbage, timeout=5)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value
        assert "namespace ns-a received a malformed hfed." in err.value.details()
        assert isinstance(rpc_errors.from_rpc_error(err.value, "ns-a"), errors.InvalidArgument)
    assert proc.poll() is None
    assert call(channel, "GetFileInfo", pb.GetFileInfoRequest(path="/user/svc")).status.is_dir


def test_datanode_registration_checks_cluster_id(namenode):
    _proc, channel, _ = namenode
    stub = pb_grpc.DatanodeProtocolStub(channel)
    dn = pb.DatanodeId(uuid="u1", host_label="host-1", transfer_address="127.0.0.1:1")
    with pytest.raises(grpc.RpcError) as err:
        stub.Register(pb.RegisterRequest(id=dn, cluster_id="CID-other"), timeout=5)
    assert "CID-other" in err.value.details()
    reply = stub.Register(pb.RegisterRequest(id=dn, cluster_id="CID-svc"), timeout=5)
    assert reply.pool_id.endswith("-ns-a") and reply.heartbeat_interval_ms == 200
    stub.BlockReport(pb.BlockReportRequest(uuid="u1"), timeout=5)
    assert stub.Heartbeat(pb.HeartbeatRequest(uuid="u1", capacity=10), timeout=5).reregister is False
    time.sleep(1.6)   # silent past dead_interval: declared dead, must register again
    assert stub.Heartbeat(pb.HeartbeatRequest(uuid="u1", capacity=10), timeout=5).reregister is True
    stats = call(channel, "GetStats", pb.GetStatsRequest())
    assert [(d.id.host_label, d.alive) for d in stats.datanodes] == [("host-1", False)]


def test_namespace_survives_a_clean_restart(tmp_path):
    cfg = config.from_dict({"cluster_id": "CID-r", "security": {"tls": False}, "nameservices": {
        "ns-a": {"address": "127.0.0.1:0", "meta_dir": str(tmp_path / "meta")}},
        "mounts": [{"path": "/user", "nameservice": "ns-a"}]})
    conf = tmp_path / "hfed.toml"
    conf.write_text(config.dump(cfg))

    def start():
        addr = tmp_path / "addr"
        addr.unlink(missing_ok=True)
        proc = subprocess.Popen([sys.executable, "-m", "namenode.server", "--conf", str(conf),
                                 "--nameservice", "ns-a", "--address-file", str(addr)],
                                stderr=subprocess.DEVNULL)
        while not addr.exists():
            assert proc.poll() is None
            time.sleep(0.05)
        return proc, rpc.insecure_channel(addr.read_text())

    proc, channel = start()
    try:
        call(channel, "Mkdirs", pb.MkdirsRequest(path="/user/keep/me", create_parent=True))
        call(channel, "SetPermission", pb.SetPermissionRequest(path="/user/keep", permission=0o700))
    finally:
        proc.terminate()
        proc.wait(10)
    proc, channel = start()
    try:
        assert call(channel, "GetFileInfo", pb.GetFileInfoRequest(path="/user/keep")).status.permission == 0o700
        assert call(channel, "GetFileInfo", pb.GetFileInfoRequest(path="/user/keep/me")).status.is_dir
    finally:
        proc.terminate()
        proc.wait(10)
