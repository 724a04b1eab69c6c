"""Daemons bind one address and advertise another; hosts are known by their addresses.

On Linux the whole of 127.0.0.0/8 is loopback, so DataNodes bound to 127.0.0.2 and
127.0.0.3 stand for two machines without root; the NameNode and a third DataNode bind
0.0.0.0 and advertise this machine's own name (protos/hosts.py). TLS is on (the
default): every client below checks certificates against the address it dials.
"""
from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from client import credentials
from client.fs import HfedFileSystem
from client.minicluster import MiniCluster
from client.session import ClusterSession
from protos import config, hosts, rpc, tls
from protos import hfed_pb2 as pb
from protos import hfed_pb2_grpc as pb_grpc
from tests.integration.conftest import FAST_TIMING, NO_PACKING, SMALL_BLOCK

MACHINE = hosts.machine_host()
pytestmark = pytest.mark.skipif(not MACHINE, reason="this machine has no non-loopback address to advertise")
DATA = os.urandom(SMALL_BLOCK + 4321)    # two blocks
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    mc = MiniCluster(tmp_path_factory.mktemp("hosts"), namespaces=1, datanodes=3, block_size=SMALL_BLOCK,
                     replication=3, settings={**NO_PACKING, "webhdfs_address": "0.0.0.0:0"}, **FAST_TIMING,
                     nameservice_settings={"ns-a": {"address": "0.0.0.0:0", "http_address": "0.0.0.0:0"}},
                     datanode_overrides={
                         "host-1": {"address": "127.0.0.2:0", "http_address": "127.0.0.2:0"},
                         "host-2": {"address": "0.0.0.0:0", "http_address": "0.0.0.0:0",
                                    "advertise_host": "127.0.0.3"},
                         "host-3": {"address": "0.0.0.0:0", "http_address": "0.0.0.0:0"}})
    mc.up()
    try:
        yield mc
    finally:
        mc.down()


@pytest.fixture(autouse=True)
def no_host_from_env(monkeypatch):
    monkeypatch.delenv(config.ENV_HOST, raising=False)


def registry(cluster) -> dict[str, pb.DatanodeId]:
    """The NameNode's DataNode registry: host -> what it stores of the DataNode."""
    return {d.id.host_label: d.id for d in cluster.stats("ns-a").datanodes}


def host_of(address: str) -> str:
    return hosts.split(address)[0]


def test_daemons_advertise_addresses_others_can_dial(cluster):
    nodes = registry(cluster)
    # No labels: each DataNode is known by the host it advertises, never by a wildcard.
    assert set(nodes) == {"127.0.0.2", "127.0.0.3", MACHINE}
    for host, node in nodes.items():
        assert host_of(node.transfer_address) == host and host_of(node.http_address) == host
    assert cluster.config.nameservices["ns-a"].address.startswith("0.0.0.0:")
    assert host_of(cluster.namenode_address("ns-a")) == MACHINE
    assert host_of(cluster.stats("ns-a").http_address) == MACHINE
    assert host_of(cluster.webhdfs_address()) == MACHINE
    assert requests.get(f"http://{cluster.webhdfs_address()}/", timeout=10).status_code == 200
    # Every advertised HTTP server answers there (the DataNodes' /metrics).
    for node in nodes.values():
        assert requests.get(f"http://{node.http_address}/metrics", timeout=10).status_code == 200


def short_circuit_reads(node: pb.DatanodeId) -> float:
    """The DataNode's count of short-circuit reads (a client on its host read the block file itself)."""
    text = requests.get(f"http://{node.http_address}/metrics", timeout=10).text
    return next(s.value for family in text_string_to_metric_families(text) for s in family.samples
                if s.name == "hfed_data_node_short_circuit_reads")


def test_client_on_a_host_reads_that_hosts_replicas_locally(cluster):
    nodes = registry(cluster)
    session = ClusterSession(cluster.config, host="127.0.0.3")
    fs = HfedFileSystem(session=session, skip_instance_cache=True)
    try:
        fs.pipe_file("/user/hosts/local.bin", DATA)
        located = session.namenode("ns-a").get_block_locations("/user/hosts/local.bin", 0, len(DATA), "127.0.0.3")
        assert [lb.locations[0].host_label for lb in located.blocks] == ["127.0.0.3", "127.0.0.3"]
        before = {host: short_circuit_reads(node) for host, node in nodes.items()}
        assert fs.cat_file("/user/hosts/local.bin") == DATA
        after = {host: short_circuit_reads(node) for host, node in nodes.items()}
        assert after["127.0.0.3"] - before["127.0.0.3"] == 2        # both blocks, read from the file itself
        assert after["127.0.0.2"] == before["127.0.0.2"] and after[MACHINE] == before[MACHINE]
    finally:
        fs.rm("/user/hosts", recursive=True)
        fs.close()


def test_client_host_defaults_to_the_datanode_on_this_machine(cluster):
    assert cluster.config.client_host_label() == MACHINE      # the wildcard-bound host-3 runs here
    session = ClusterSession(cluster.config)
    assert session.host == MACHINE
    fs = HfedFileSystem(session=session, skip_instance_cache=True)
    try:
        fs.pipe_file("/user/hosts/default.bin", DATA)
        located = session.namenode("ns-a").get_block_locations("/user/hosts/default.bin", 0, len(DATA),
                                                               session.host)
        assert {lb.locations[0].host_label for lb in located.blocks} == {MACHINE}
    finally:
        fs.rm("/user/hosts", recursive=True)
        fs.close()


def handshake(cfg, address: str, server_hostname: str) -> None:
    """A TLS handshake with the DataNode at ``address``, checking its certificate names ``server_hostname``."""
    with socket.create_connection(hosts.split(address), timeout=10) as sock:
        with tls.client_context(cfg).wrap_socket(sock, server_hostname=server_hostname):
            pass


def test_tls_certificates_carry_the_advertised_names(cluster):
    cfg = cluster.config
    shared = tls.cert_names((cfg.tls_path() / tls.CERT_FILE).read_bytes())
    nodes = registry(cluster)
    if MACHINE not in shared:      # the wildcard-bound daemons issued themselves a certificate naming it
        assert any(MACHINE in tls.cert_names((d / tls.CERT_FILE).read_bytes())
                   for d in (cfg.tls_path() / tls.HOSTS_DIR).iterdir())
    # The NameNode verified at the address it advertises (gRPC checks the name it dials).
    with rpc.channel(cluster.namenode_address("ns-a"), cfg) as channel:
        stub = pb_grpc.ClientProtocolStub(channel)
        owner = credentials.find(cfg).metadata("ns-a", cfg)
        assert stub.GetServerDefaults(pb.GetServerDefaultsRequest(), timeout=10,
                                      metadata=owner).block_size == SMALL_BLOCK
    for host, node in nodes.items():
        handshake(cfg, node.transfer_address, host)
    with pytest.raises(ssl.SSLCertVerificationError):     # a name it does not carry is refused
        handshake(cfg, nodes["127.0.0.2"].transfer_address, "127.0.0.99")


def run_daemon(module: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": REPO})


def test_config_address_not_on_this_machine_is_a_clear_error(cluster, tmp_path):
    cfg = cluster.config
    text = config.dump(cfg) + (f'\n[datanodes.far]\ndata_dir = "{tmp_path / "far"}"\n'
                               f'address = "203.0.113.7:9866"\n')
    text = text.replace("[nameservices.ns-a]", f'[nameservices.ns-far]\naddress = "203.0.113.7:9000"\n'
                                               f'meta_dir = "{tmp_path / "meta"}"\n\n[nameservices.ns-a]', 1)
    conf = tmp_path / "hfed.toml"
    conf.write_text(text)
    (tmp_path / "tls").symlink_to(cfg.tls_path())
    (tmp_path / "private").symlink_to(cfg.secret_path().parent)
    dn = run_daemon("datanode.server", "--conf", str(conf), "--host-label", "far")
    assert dn.returncode != 0 and "Traceback" not in dn.stderr
    assert "datanodes.far.address = '203.0.113.7:9866'" in dn.stderr
    assert "not an address of this machine" in dn.stderr
    nn = run_daemon("namenode.server", "--conf", str(conf), "--nameservice", "ns-far")
    assert nn.returncode != 0 and "Traceback" not in nn.stderr
    assert "nameservices.ns-far.address = '203.0.113.7:9000'" in nn.stderr
    assert "not an address of this machine" in nn.stderr


def test_datanode_without_a_name_needs_one_when_none_is_this_machine(tmp_path):
    conf = tmp_path / "hfed.toml"
    conf.write_text('[nameservices.ns-a]\naddress = "127.0.0.1:0"\n\n'
                    f'[datanodes.host-1]\ndata_dir = "{tmp_path / "d1"}"\n\n'
                    f'[datanodes.host-2]\ndata_dir = "{tmp_path / "d2"}"\n')
    for dn in (run_daemon("datanode.server", "--conf", str(conf)),
               run_daemon("client.cli", "--conf", str(conf), "datanode")):     # `hfed datanode`
        assert dn.returncode == 2 and "Traceback" not in dn.stderr
        assert "no [datanodes.*] address is an address of this machine: pass --host-label" in dn.stderr
