"""TLS on every channel of a running cluster: only clients trusting the cluster CA get through."""
from __future__ import annotations

import dataclasses
import os

import grpc
import pytest

from client import credentials
from client.fs import HfedFileSystem
from protos import config, errors, rpc, tls
from protos import datatransfer as dt
from protos import hfed_pb2 as pb
from protos import hfed_pb2_grpc as pb_grpc
from protos.config import SecurityConfig

DATA = os.urandom(3 << 20)   # three 1 MiB blocks


def get_stats(channel, cfg) -> pb.GetStatsResponse:
    """GetStats with the owner's token: what is tested here is the channel."""
    return pb_grpc.ClientProtocolStub(channel).GetStats(pb.GetStatsRequest(), timeout=5,
                                                        metadata=credentials.find(cfg).metadata("ns-a", cfg))


def first_block(fs, path: str) -> pb.LocatedBlock:
    nn, target = fs._namenode_of(path)
    return nn.get_block_locations(target.path).blocks[0]


@pytest.fixture(scope="module")
def written(cluster):
    """A file written and read back through TLS, and its first block."""
    fs = HfedFileSystem(conf=str(cluster.config_path), skip_instance_cache=True)
    path = "/data/tls/round-trip.bin"
    fs.pipe_file(path, DATA)
    assert fs.cat_file(path) == DATA
    yield fs, path, first_block(fs, path)
    fs.rm(path)
    fs.close()


def test_cluster_material_and_round_trip(cluster, written):
    fs, _, located = written
    directory = cluster.config.tls_path()
    assert (directory / "ca.pem").is_file() and (directory / "private" / "key.pem").is_file()
    assert fs.session.datanodes.ssl_context is not None   # the bytes went over TLS
    assert located.locations


def test_plain_grpc_client_is_refused(cluster):
    address = cluster.namenode_address(cluster.nameservices[0])
    with rpc.channel(address, cluster.config) as channel:
        assert get_stats(channel, cluster.config)
    with rpc.insecure_channel(address) as channel, pytest.raises(grpc.RpcError) as info:
        get_stats(channel, cluster.config)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE


def test_grpc_client_trusting_another_ca_is_refused(cluster, tmp_path):
    other = dataclasses.replace(cluster.config, security=dataclasses.replace(
        cluster.config.security, tls_dir=str(tmp_path / "other-tls")))
    tls.ensure_tls(other)
    with rpc.channel(cluster.namenode_address(cluster.nameservices[0]), other) as channel, \
            pytest.raises(grpc.RpcError) as info:
        get_stats(channel, cluster.config)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE


def test_plain_datatransfer_client_cannot_read(cluster, written):
    _, _, located = written
    dn = located.locations[0]
    where = f"DataNode {dn.host_label}"
    secure = dt.Connections(ssl_context=tls.context_for(cluster.config))
    plain = dt.Connections()
    try:
        got = b"".join(dt.read_block(secure, dn.transfer_address, located.block, 0, 4096, where, located.token))
        assert got == DATA[:4096]
        with pytest.raises(errors.Unavailable):
            b"".join(dt.read_block(plain, dn.transfer_address, located.block, 0, 4096, where, located.token))
    finally:
        secure.close()
        plain.close()


def test_cluster_with_tls_off_still_works(fresh_cluster):
    mc = fresh_cluster(namespaces=1, datanodes=2, replication=2, settings={"security": SecurityConfig(tls=False)})
    assert not mc.config.tls_path().exists()
    cfg = config.load(mc.config_path)
    assert not cfg.security.tls
    fs = HfedFileSystem(cfg, skip_instance_cache=True)
    try:
        fs.pipe_file("/data/plain.bin", DATA)
        assert fs.cat_file("/data/plain.bin") == DATA
        assert fs.session.datanodes.ssl_context is None
    finally:
        fs.close()
    with rpc.insecure_channel(mc.namenode_address(mc.nameservices[0])) as channel:
        assert get_stats(channel, cfg)


def test_encrypt_data_false_leaves_block_bytes_in_clear_but_not_gRPC(fresh_cluster):
    """HDFS's dfs.encrypt.data.transfer = false: tokens still guard every block, TLS still
    guards every metadata call; only the block bytes travel unencrypted (and fast)."""
    mc = fresh_cluster(namespaces=1, datanodes=1, replication=1,
                       settings={"security": SecurityConfig(encrypt_data=False)})
    fs = HfedFileSystem(mc.config, skip_instance_cache=True)
    plain = dt.Connections()
    try:
        fs.pipe_file("/data/clear.bin", DATA)
        assert fs.session.datanodes.ssl_context is None and fs.cat_file("/data/clear.bin") == DATA
        located = fs.block_locations("/data/clear.bin").blocks[0]
        dn = located.locations[0]
        got = b"".join(dt.read_block(plain, dn.transfer_address, located.block, 0, 4096, "plain", located.token))
        assert got == DATA[:4096]
        with pytest.raises(errors.AccessDenied):       # a token is still needed
            b"".join(dt.read_block(plain, dn.transfer_address, located.block, 0, 4096, "plain", ""))
        with rpc.insecure_channel(mc.namenode_address("ns-a")) as channel, pytest.raises(grpc.RpcError) as info:
            get_stats(channel, mc.config)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        plain.close()
        fs.close()
