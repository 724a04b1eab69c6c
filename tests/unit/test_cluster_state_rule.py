"""The one rule for runtime state (protos/cluster_state.py): a nameservice configured on port 0
gets the address its NameNode bound from run/state.json of the same cluster; a fixed address
is used as written; the config file itself is only read. And ConfigEdit changes only what it
is asked to, refusing an edit that would make the config invalid."""
from __future__ import annotations

import pytest

from client.config_edit import ConfigEdit
from protos import cluster_state, config
from protos.errors import InvalidArgument

CONFIG = '''# written by hand
cluster_id = "CID-1"
block_size = "64M"    # small
[nameservices.ns-a]
address = "127.0.0.1:0"
meta_dir = "/m/a"
[nameservices.ns-b]
address = "127.0.0.1:9000"   # fixed
meta_dir = "/m/b"
[[mounts]]
path = "/user"
nameservice = "ns-a"
[datanodes.host-1]
data_dir = "/d/1"
'''


@pytest.fixture
def conf(tmp_path):
    path = tmp_path / "hfed.toml"
    path.write_text(CONFIG)
    return path


def test_port_zero_is_resolved_from_the_state_of_the_same_cluster(conf):
    assert config.load(conf).nameservices["ns-a"].address == "127.0.0.1:0"     # no state: as written
    cluster_state.write(conf, "CID-1", nameservices={"ns-a": "127.0.0.1:4100", "ns-b": "127.0.0.1:4200"})
    cfg = config.load(conf)
    assert cfg.nameservices["ns-a"].address == "127.0.0.1:4100"
    assert cfg.nameservices["ns-b"].address == "127.0.0.1:9000"       # a fixed port is the user's
    assert config.load_as_written(conf).nameservices["ns-a"].address == "127.0.0.1:0"
    assert conf.read_text() == CONFIG
    cluster_state.write(conf, "CID-other", nameservices={"ns-a": "127.0.0.1:4100"})
    assert config.load(conf).nameservices["ns-a"].address == "127.0.0.1:0"   # another cluster's state


def test_config_edit_changes_only_what_it_is_asked(conf):
    edit = ConfigEdit(conf)
    edit.set_top("replication", 2)
    edit.add_datanode("host-2", "/d/2")
    edit.save()
    text = conf.read_text()
    assert text.startswith("# written by hand\n") and 'block_size = "64M"    # small' in text
    assert 'address = "127.0.0.1:9000"   # fixed' in text
    cfg = config.load(conf)
    assert cfg.replication == 2 and cfg.datanodes["host-2"].data_dir == "/d/2"
    edit.restore()
    assert conf.read_text() == CONFIG


def test_config_edit_refuses_an_invalid_result_and_writes_nothing(conf):
    edit = ConfigEdit(conf)
    edit.set_top("replication", 0)
    with pytest.raises(InvalidArgument, match=r"hfed.toml: replication = 0: out of range"):
        edit.save()
    assert conf.read_text() == CONFIG
