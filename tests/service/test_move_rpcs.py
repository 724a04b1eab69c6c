"""The subtree-move RPCs between two real NameNode processes; a DataNode is played
over DatanodeProtocol (register, reports, heartbeats that fetch LinkCommands)."""
import json
import subprocess
import sys
import time

import grpc
import pytest

from protos import config, errors, hfed_pb2 as pb, hfed_pb2_grpc as pb_grpc, rpc, rpc_errors

DN = pb.DatanodeId(uuid="dn-1", host_label="host-1", transfer_address="127.0.0.1:1")


def start(base, conf, name):
    addr_file = base / f"addr-{name}"
    proc = subprocess.Popen([sys.executable, "-m", "namenode.server", "--conf", str(conf), "--nameservice", name,
                             "--address-file", str(addr_file)], stderr=open(base / f"log-{name}", "w"))
    deadline = time.time() + 20
    while not addr_file.exists():
        assert proc.poll() is None and time.time() < deadline, (base / f"log-{name}").read_text()
        time.sleep(0.05)
    return proc, rpc.insecure_channel(addr_file.read_text())


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    base = tmp_path_factory.mktemp("move")
    cfg = config.from_dict({
        "security": {"auth": "simple", "tls": False}, "cluster_id": "CID-mv", "heartbeat_interval": 0.2,
        "dead_interval": 30.0, "replication": 1,
        "nameservices": {"ns-a": {"address": "127.0.0.1:0", "meta_dir": str(base / "a")},
                         "ns-b": {"address": "127.0.0.1:0", "meta_dir": str(base / "b")}},
        # No mounts: these NameNodes serve every path (the mount table's routing is tested in
        # tests/integration), so the test can look at the target's half-imported tree.
    })
    conf = base / "hfed.toml"
    conf.write_text(config.dump(cfg))
    procs = {name: start(base, conf, name) for name in ("ns-a", "ns-b")}
    for _proc, channel in procs.values():
        dn = pb_grpc.DatanodeProtocolStub(channel)
        dn.Register(pb.RegisterRequest(id=DN, cluster_id="CID-mv"), timeout=5)
        dn.BlockReport(pb.BlockReportRequest(uuid=DN.uuid), timeout=5)
    yield {name: channel for name, (_proc, channel) in procs.items()}
    for proc, channel in procs.values():
        channel.close()
        proc.terminate()
        proc.wait(10)


def call(channel, method, request, user="root"):
    stub = pb_grpc.ClientProtocolStub(channel)
    try:
        reply = getattr(stub, method)(request, metadata=rpc.identity_metadata(user, [user]), timeout=10)
        return list(reply) if method == "ExportSubtree" else reply
    except grpc.RpcError as e:
        raise rpc_errors.from_rpc_error(e, "test") from None


def datanode(channel):
    return pb_grpc.DatanodeProtocolStub(channel)


def write(channel, path, size):
    """A one-block file whose replica the played DataNode reports."""
    call(channel, "Create", pb.CreateRequest(path=path, client_name="w", create_parent=True))
    block = call(channel, "AddBlock", pb.AddBlockRequest(path=path, client_name="w")).block.block
    datanode(channel).IncrementalBlockReport(pb.IncrementalBlockReportRequest(uuid=DN.uuid, received=[
        pb.Block(block_id=block.block_id, generation_stamp=block.generation_stamp, num_bytes=size)]), timeout=5)
    assert call(channel, "Complete", pb.CompleteRequest(
        path=path, client_name="w", last=pb.Block(block_id=block.block_id, num_bytes=size))).completed
    return block


def export_import(a, b, path, only=(), removed=(), move_id="mv-1"):
    replies = call(a, "ExportSubtree", pb.ExportSubtreeRequest(path=path, only=only))
    for i, reply in enumerate(replies):
        call(b, "ImportSubtree", pb.ImportSubtreeRequest(path=path, source_pool=reply.pool_id, entries=reply.entries,
                                                         removed=removed if i == 0 else (), move_id=move_id))
    return replies


def listing(channel, path):
    return {(e.path, e.is_dir, e.length, e.permission, e.owner, e.mtime_ms)
            for e in call(channel, "GetListing", pb.GetListingRequest(path=path)).entries}


def test_a_subtree_moves_its_metadata_and_the_datanode_is_told_to_link_the_replicas(cluster):
    a, b = cluster["ns-a"], cluster["ns-b"]
    call(a, "Mkdirs", pb.MkdirsRequest(path="/data/proj/sub", create_parent=True, permission=0o750))
    block = write(a, "/data/proj/sub/f", 700)
    replies = export_import(a, b, "/data/proj")
    source_pool = replies[0].pool_id
    assert source_pool.endswith("-ns-a") and replies[0].txid > 0
    entries = [e for r in replies for e in json.loads(r.entries)]
    assert [e["path"] for e in entries] == ["", "sub", "sub/f"]
    assert listing(b, "/data/proj/sub") == listing(a, "/data/proj/sub")
    assert call(b, "MoveProgress", pb.MoveProgressRequest(path="/data/proj")) == pb.MoveProgressResponse(
        blocks=1, blocks_with_replicas=0, replicas_expected=1, replicas_linked=0)
    # the DataNode's next heartbeat to the target carries the link
    commands = datanode(b).Heartbeat(pb.HeartbeatRequest(uuid=DN.uuid), timeout=5).commands
    [link] = [c.link for c in commands if c.WhichOneof("command") == "link"]
    assert link.source_pool == source_pool
    [linked] = link.blocks
    assert (linked.source.block_id, linked.source.generation_stamp, linked.source.pool_id) == \
        (block.block_id, block.generation_stamp, source_pool)
    datanode(b).IncrementalBlockReport(pb.IncrementalBlockReportRequest(uuid=DN.uuid, received=[
        pb.Block(block_id=linked.target_block_id, generation_stamp=block.generation_stamp, num_bytes=700)]),
        timeout=5)
    assert call(b, "MoveProgress", pb.MoveProgressRequest(path="/data/proj")).replicas_linked == 1
    located = call(b, "GetBlockLocations", pb.GetBlockLocationsRequest(path="/data/proj/sub/f")).blocks
    assert [(lb.block.block_id, [n.uuid for n in lb.locations]) for lb in located.blocks] == \
        [(linked.target_block_id, [DN.uuid])]


def test_changes_fence_and_drop(cluster):
    a, b = cluster["ns-a"], cluster["ns-b"]
    call(a, "Mkdirs", pb.MkdirsRequest(path="/data/p2/x", create_parent=True))
    txid = export_import(a, b, "/data/p2", move_id="mv-2")[0].txid
    call(a, "Mkdirs", pb.MkdirsRequest(path="/data/p2/y"))
    call(a, "Mkdirs", pb.MkdirsRequest(path="/data/elsewhere"))
    changes = call(a, "SubtreeChanges", pb.SubtreeChangesRequest(path="/data/p2", since_txid=txid))
    assert list(changes.paths) == ["/data/p2/y"] and not changes.resync and changes.txid > txid
    fenced = call(a, "FenceSubtree", pb.FenceSubtreeRequest(path="/data/p2", action=pb.FenceSubtreeRequest.FENCE,
                                                            move_id="mv-2"))
    assert list(fenced.open_files) == []
    with pytest.raises(errors.Retry, match=r"/data/p2/z \(namespace ns-a\).*being moved"):
        call(a, "Mkdirs", pb.MkdirsRequest(path="/data/p2/z"))
    export_import(a, b, "/data/p2", only=list(changes.paths), move_id="mv-2")
    assert {p for p, *_ in listing(b, "/data/p2")} == {"/data/p2/x", "/data/p2/y"}
    call(a, "FenceSubtree", pb.FenceSubtreeRequest(path="/data/p2", action=pb.FenceSubtreeRequest.DROP,
                                                   move_id="mv-2"))
    with pytest.raises(FileNotFoundError):
        call(a, "GetFileInfo", pb.GetFileInfoRequest(path="/data/p2"))
    call(b, "FenceSubtree", pb.FenceSubtreeRequest(path="/data/p2", action=pb.FenceSubtreeRequest.UNFENCE,
                                                   move_id="mv-2"))
    assert call(b, "GetFileInfo", pb.GetFileInfoRequest(path="/data/p2/y")).status.is_dir


@pytest.mark.parametrize("method, request_", [
    ("ExportSubtree", pb.ExportSubtreeRequest(path="/data")),
    ("SubtreeChanges", pb.SubtreeChangesRequest(path="/data")),
    ("FenceSubtree", pb.FenceSubtreeRequest(path="/data")),
    ("ImportSubtree", pb.ImportSubtreeRequest(path="/data/x", source_pool="BP-x", move_id="m")),
    ("MoveProgress", pb.MoveProgressRequest(path="/data")),
])
def test_only_the_superuser_may_move_subtrees(cluster, method, request_):
    with pytest.raises(PermissionError, match=r"only the superuser .*user=mallory"):
        call(cluster["ns-a"], method, request_, user="mallory")


def test_bad_input_is_refused_naming_path_and_namespace(cluster):
    a = cluster["ns-a"]
    call(a, "Mkdirs", pb.MkdirsRequest(path="/data/bad", create_parent=True))
    write(a, "/data/bad/file", 10)
    with pytest.raises(ValueError, match=r"cannot export / \(namespace ns-a\)"):
        call(a, "ExportSubtree", pb.ExportSubtreeRequest(path="/"))
    with pytest.raises(FileNotFoundError, match=r"/data/nope \(namespace ns-a\)"):
        call(a, "ExportSubtree", pb.ExportSubtreeRequest(path="/data/nope"))
    with pytest.raises(ValueError, match=r"/data/bad/file \(namespace ns-a\).*not a directory"):
        call(a, "FenceSubtree", pb.FenceSubtreeRequest(path="/data/bad/file"))
    with pytest.raises(ValueError, match=r"/data/bad2 \(namespace ns-a\).*not JSON"):
        call(a, "ImportSubtree", pb.ImportSubtreeRequest(path="/data/bad2", source_pool="BP-x", entries=b"[{",
                                                         move_id="m"))
    with pytest.raises(FileNotFoundError):
        call(a, "GetFileInfo", pb.GetFileInfoRequest(path="/data/bad2"))
    with pytest.raises(ValueError, match="not under the exported subtree"):
        call(a, "ExportSubtree", pb.ExportSubtreeRequest(path="/data/bad", only=["/data/other"]))
