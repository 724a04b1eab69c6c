"""Every config key is checked: unknown keys, wrong types and out-of-range values
are refused naming the file and the key; nothing is coerced (a quoted "false" is
not a boolean)."""
from __future__ import annotations

import tomllib

import pytest

from protos import config
from protos.errors import InvalidArgument

BASE = {"nameservices": {"ns-a": {"address": "127.0.0.1:9000", "meta_dir": "/m"}},
        "mounts": [{"path": "/user", "nameservice": "ns-a"}],
        "datanodes": {"host-1": {"data_dir": "/d"}}}


def refused(raw: dict, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        config.from_dict(raw, "hfed.toml")


def with_(section: str, **keys) -> dict:
    """BASE with ``keys`` added to a nested table (e.g. "datanodes.host-1")."""
    raw = {k: (v.copy() if isinstance(v, dict) else list(v)) for k, v in BASE.items()}
    table = raw
    for part in section.split("."):
        table[part] = dict(table.get(part) or {})
        table = table[part]
    table.update(keys)
    return raw


def test_a_typo_is_refused_with_the_close_match():
    refused({**BASE, "replicaton": 2}, r"^hfed.toml: replicaton: unknown key \(did you mean replication\?\)$")


@pytest.mark.parametrize("section, key, hint", [
    ("nameservices.ns-a", "metadir", "meta_dir"),
    ("datanodes.host-1", "sync_onclose", "sync_on_close"),
    ("client", "hots", "host"),
    ("security", "atuh", "auth"),
])
def test_unknown_keys_in_every_table_are_refused(section, key, hint):
    refused(with_(section, **{key: "x"}), rf"hfed.toml: {section}.{key}: unknown key \(did you mean {hint}\?\)")


def test_an_unknown_key_without_a_close_match_lists_the_known_ones():
    refused({**BASE, "zzz": 1}, r"zzz: unknown key \(known: block_report_interval, block_size, ")
    refused({**BASE, "mounts": [{"path": "/user", "nameservice": "ns-a", "ro": True}]},
            r"mounts\[0\].ro: unknown key")


@pytest.mark.parametrize("key, value, expected", [
    ("durable_edits", "false", "true or false"),
    ("durable_edits", 0, "true or false"),
    ("replication", "3", "a whole number"),
    ("replication", 2.5, "a whole number"),
    ("replication", True, "a whole number"),
    ("heartbeat_interval", "1s", "a number of seconds"),
    ("block_size", [64], "a size in bytes"),
    ("block_size", "lots", "a size in bytes"),
    ("cluster_id", 7, "a string"),
])
def test_wrong_types_are_refused_naming_the_key(key, value, expected):
    refused({**BASE, key: value}, rf"^hfed.toml: {key} = .*: expected {expected}")


@pytest.mark.parametrize("key, value", [
    ("replication", -2), ("replication", 0), ("replication", 10_000), ("heartbeat_interval", 0),
    ("dead_interval", -1.0), ("safemode_threshold", 1.5), ("compact_live_fraction", -0.1),
    ("checkpoint_txns", 0), ("keep_images", 0), ("pack_count", 0), ("block_size", 0),
    ("lease_hard_limit", float("nan")), ("checkpoint_period", float("inf")),
])
def test_out_of_range_values_are_refused_naming_the_key(key, value):
    refused({**BASE, key: value}, rf"^hfed.toml: {key} = .*: out of range")


@pytest.mark.parametrize("section, keys, message", [
    ("datanodes.host-1", {"sync_on_close": "yes"}, r"datanodes.host-1.sync_on_close = 'yes': expected true or false"),
    ("datanodes.host-1", {"cache_writes": 1}, r"datanodes.host-1.cache_writes = 1: expected true or false"),
    ("datanodes.host-1", {"capacity": -5}, r"datanodes.host-1.capacity = -5: out of range"),
    ("datanodes.host-1", {"address": "nowhere"}, r"datanodes.host-1.address = 'nowhere': expected \"host:port\""),
    ("nameservices.ns-a", {"address": "127.0.0.1:70000"}, r"nameservices.ns-a.address = .*expected \"host:port\""),
    ("nameservices.ns-a", {"meta_dir": 5}, r"nameservices.ns-a.meta_dir = 5: expected a string"),
    ("client", {"host": ["a"]}, r"client.host = \['a'\]: expected a string"),
    ("security", {"auth": "kerberos"}, r"security.auth = 'kerberos': expected \"token\" or \"simple\""),
    ("security", {"tls": "false"}, r"security.tls = 'false': expected true or false"),
    ("security", {"user_token_lifetime": 0}, r"security.user_token_lifetime = 0: out of range"),
    ("security", {"block_token_lifetime": -60}, r"security.block_token_lifetime = -60: out of range"),
    ("security", {"supergroup": 3}, r"security.supergroup = 3: expected a string"),
    ("security.groups", {"alice": "analysts"}, r"security.groups.alice = 'analysts': expected a list of group"),
    ("security.groups", {"alice": ["ok", 3]}, r"security.groups.alice = \['ok', 3\]: expected a list of group"),
])
def test_nested_tables_are_checked_key_by_key(section, keys, message):
    refused(with_(section, **keys), "^hfed.toml: " + message)


def test_tables_must_be_tables():
    refused({**BASE, "security": "token"}, r"security = 'token': expected a table")
    refused({**BASE, "datanodes": {"host-1": "/d"}}, r"datanodes.host-1 = '/d': expected a table")
    refused({**BASE, "mounts": {"path": "/x"}}, r"mounts = .*: expected \[\[mounts\]\] tables")
    refused({**BASE, "mounts": [{"nameservice": "ns-a"}]}, r"mounts\[0\].path: missing")


def test_a_valid_config_loads_with_its_values_and_defaults(tmp_path):
    text = """
        cluster_id = "CID-1"
        replication = 2
        durable_edits = false
        block_size = "64M"
        heartbeat_interval = 1        # an integer number of seconds is fine
        [nameservices.ns-a]
        address = "127.0.0.1:9000"
        [[mounts]]
        path = "/user"
        nameservice = "ns-a"
        [datanodes.host-1]
        data_dir = "/d"
        sync_on_close = true
        [security]
        auth = "simple"
        tls = false
        [security.groups]
        alice = ["analysts", "eng"]
    """
    path = tmp_path / "hfed.toml"
    path.write_text(text)
    cfg = config.load(path)
    assert (cfg.replication, cfg.durable_edits, cfg.block_size, cfg.heartbeat_interval) == (2, False, 64 << 20, 1.0)
    assert cfg.datanodes["host-1"].sync_on_close and cfg.datanodes["host-1"].cache_writes
    assert (cfg.security.auth, cfg.security.tls, cfg.security.groups) == ("simple", False, {"alice": ["analysts", "eng"]})
    assert cfg.security.supergroup == "supergroup" and cfg.checkpoint_txns == 100_000
    again = config.from_dict(tomllib.loads(config.dump(cfg)), "again.toml")
    assert again == config.ClusterConfig(**{**cfg.__dict__, "source": "again.toml"})


def test_load_names_the_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('replication = "three"\n[nameservices.ns-a]\naddress = "127.0.0.1:1"\n')
    with pytest.raises(InvalidArgument, match=rf"^{path}: replication = 'three': expected a whole number"):
        config.load(path)


def test_trash_keys_are_hdfs_names_in_minutes():
    cfg = config.from_dict(tomllib.loads('fs.trash.interval = 1440\nfs.trash.checkpoint.interval = 60\n'
                                         '[nameservices.ns-a]\naddress = "127.0.0.1:1"\n'))
    assert (cfg.trash_interval, cfg.trash_checkpoint_interval) == (1440.0, 60.0)
    assert config.from_dict(BASE).trash_interval == 0        # HDFS's default: no trash
    refused(with_("fs.trash", interval=-1), r"fs.trash.interval = -1: out of range")
    refused(with_("fs.trash", interval="1d"), r"fs.trash.interval = '1d': expected a number of minutes")
    refused(with_("fs.trash", intervall=5), r"fs.trash.intervall: unknown key \(did you mean interval\?\)")
    refused(with_("fs.trash", interval=10, checkpoint={"interval": 20}),
            r"fs.trash.checkpoint.interval = 20.0 exceeds fs.trash.interval = 10.0")
