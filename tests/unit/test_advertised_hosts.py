"""Bind and advertised addresses, host identity and per-host certificates
(protos/hosts.py, protos/config.py, protos/tls.py): one config for several machines."""
from __future__ import annotations

import tomllib

import pytest

from protos import config, hosts, tls
from protos.errors import InvalidArgument

MACHINE = hosts.machine_host()
needs_address = pytest.mark.skipif(not MACHINE, reason="this machine has no non-loopback address")


def cfg_of(datanodes: dict, **top) -> config.ClusterConfig:
    return config.from_dict({"nameservices": {"ns-a": {"address": "127.0.0.1:9000"}},
                             "datanodes": {name: {"data_dir": f"/d/{name}", **keys} for name, keys in datanodes.items()},
                             **top}, "hfed.toml")


def test_datanodes_are_known_by_address_unless_labelled_or_sharing_loopback():
    cfg = cfg_of({"host-1": {},                                            # 127.0.0.1: label mode
                  "host-2": {"address": "127.0.0.2:9866"},                 # its own address
                  "dn-3": {"address": "10.0.0.5:9866", "label": "rack-a-3"},
                  "dn-4": {"address": "0.0.0.0:9866", "advertise_host": "worker-4.example.com"},
                  "dn-5": {"address": "0.0.0.0:9866"}})
    dns = cfg.datanodes
    assert dns["host-1"].identity("127.0.0.1") == "host-1"
    assert dns["host-2"].identity("127.0.0.2") == "127.0.0.2"
    assert dns["dn-3"].identity("10.0.0.5") == "rack-a-3"
    assert dns["dn-4"].static_identity() == "worker-4.example.com"
    assert dns["dn-5"].static_identity() is None        # the name of whichever machine runs it


def test_advertise_host_must_be_a_host_without_a_port():
    for where, raw in (("datanodes.host-1.advertise_host", {"datanodes": {"host-1": {
                            "data_dir": "/d", "advertise_host": "10.0.0.5:9866"}}}),
                       ("nameservices.ns-a.advertise_host", {"nameservices": {"ns-a": {
                            "address": "0.0.0.0:9000", "advertise_host": "0.0.0.0"}}}),
                       ("webhdfs_advertise_host", {"webhdfs_advertise_host": "a host"})):
        raw = {"nameservices": {"ns-a": {"address": "127.0.0.1:9000"}}, **raw}
        with pytest.raises(InvalidArgument, match=f"hfed.toml: {where} = .*: expected a host name or IP address"):
            config.from_dict(raw, "hfed.toml")


def test_new_keys_survive_a_dump():
    cfg = cfg_of({"dn-1": {"address": "0.0.0.0:9866", "advertise_host": "10.0.0.5", "label": "a"}},
                 webhdfs_advertise_host="gw.example.com")
    cfg.nameservices["ns-a"].advertise_host = "nn.example.com"
    again = config.from_dict(tomllib.loads(config.dump(cfg)), "again")
    assert again.datanodes["dn-1"] == cfg.datanodes["dn-1"]
    assert again.nameservices["ns-a"].advertise_host == "nn.example.com"
    assert again.webhdfs_advertise_host == "gw.example.com"


@needs_address
def test_clients_dial_the_advertised_namenode_address():
    cfg = config.from_dict({"nameservices": {"ns-a": {"address": "0.0.0.0:9000"},
                                             "ns-b": {"address": "[::]:9001", "advertise_host": "nn-b.example.com"},
                                             "ns-c": {"address": "10.0.0.7:9002"}}}, "hfed.toml")
    assert [ns.dial_address for ns in cfg.nameservices.values()] == [
        hosts.join(MACHINE, 9000), "nn-b.example.com:9001", "10.0.0.7:9002"]


@needs_address
def test_client_host_is_the_datanode_on_this_machine(monkeypatch):
    monkeypatch.delenv(config.ENV_HOST, raising=False)
    assert cfg_of({"host-1": {}, "host-2": {}}).client_host_label() == ""   # label mode: no host unless told
    assert cfg_of({"far": {"address": "203.0.113.7:9866"},
                   "here": {"address": hosts.join(MACHINE, 9866)}}).client_host_label() == MACHINE
    assert cfg_of({"any": {"address": "0.0.0.0:9866"}}).client_host_label() == MACHINE
    assert cfg_of({"any": {"address": "0.0.0.0:9866"}}, client={"host": "host-9"}).client_host_label() == "host-9"
    monkeypatch.setenv(config.ENV_HOST, "127.0.0.3")
    assert cfg_of({"any": {"address": "0.0.0.0:9866"}}).client_host_label() == "127.0.0.3"


@needs_address
def test_a_datanode_started_without_a_name_finds_its_section():
    here = {"address": hosts.join(MACHINE, 9866)}
    assert cfg_of({"far": {"address": "203.0.113.7:9866"}, "here": here}).datanode_on_this_machine() == "here"
    assert cfg_of({"far": {"address": "203.0.113.7:9866"},
                   "any": {"address": "0.0.0.0:9866"}}).datanode_on_this_machine() == "any"
    with pytest.raises(InvalidArgument, match=r"several sections match this machine \(a, b\): pass --host-label"):
        cfg_of({"a": {"address": "0.0.0.0:1"}, "b": {"address": "0.0.0.0:2"}}).datanode_on_this_machine()
    with pytest.raises(InvalidArgument, match="no \\[datanodes.\\*\\] address is an address of this machine"):
        cfg_of({"host-1": {}, "host-2": {}}).datanode_on_this_machine()


def test_an_address_this_machine_lacks_is_refused_naming_the_key():
    hosts.check_bindable("127.0.0.2:0", "datanodes.a.address")      # all of 127/8 is this machine's
    hosts.check_bindable("0.0.0.0:9866", "datanodes.a.address")
    with pytest.raises(InvalidArgument, match=r"datanodes.a.address = '203.0.113.7:9866': 203.0.113.7 is not "
                                              r"an address of this machine"):
        hosts.check_bindable("203.0.113.7:9866", "datanodes.a.address")
    with pytest.raises(InvalidArgument, match=r"nameservices.ns-a.address = 'no-such-host.invalid:9000': "
                                              r"cannot resolve host"):
        hosts.check_bindable("no-such-host.invalid:9000", "nameservices.ns-a.address")


def tls_cfg(directory) -> config.ClusterConfig:
    return config.from_dict({"cluster_id": "c-hosts", "nameservices": {"ns-a": {"address": "127.0.0.1:0"}},
                             "security": {"tls_dir": str(directory), "secret_file": str(directory / "s")}})


def test_a_daemon_advertising_a_name_the_shared_certificate_lacks_gets_its_own(tmp_path):
    cfg = tls_cfg(tmp_path / "tls")
    shared = tls.ensure_tls(cfg)
    assert "198.51.100.9" not in tls.cert_names(shared.cert_pem)
    assert tls.ensure_tls(cfg, ["127.0.0.1"]) == shared            # covered: the shared certificate
    own = tls.ensure_tls(cfg, ["198.51.100.9"])
    assert "198.51.100.9" in tls.cert_names(own.cert_pem) and own.ca_pem == shared.ca_pem
    assert own.directory.parent == tmp_path / "tls" / tls.HOSTS_DIR
    assert tls.ensure_tls(cfg, ["198.51.100.9"]) == own              # issued once, then reused
    (tmp_path / "tls" / tls.CA_KEY_FILE).unlink()                     # a machine given ca.pem and cert.pem only
    with pytest.raises(InvalidArgument, match=r"does not name worker-9.example.com .* the CA key .* is not on "
                                              r"this machine"):
        tls.ensure_tls(cfg, ["worker-9.example.com"])
