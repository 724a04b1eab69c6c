"""Racks from the [topology] table and script (namenode/topology.py), and what the NameNode core
does with them: reads ordered by distance, re-replication and excess removal across racks."""
import logging
import os
import stat

import pytest

from namenode import replication
from namenode.namesystem import Namesystem, TransferCmd
from namenode.ops import dirs, files
from namenode.topology import OFF_RACK, SAME_HOST, SAME_RACK, Topology
from protos import config
from protos.config import DEFAULT_RACK, TopologyConfig
from protos.errors import InvalidArgument


def script(tmp_path, body: str) -> str:
    path = tmp_path / "topology.sh"
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_the_table_maps_labels_then_address_hosts_and_everything_else_to_the_default_rack():
    topo = Topology(TopologyConfig(racks={"host-1": "/rack-1", "10.0.0.7": "/dc/rack-2"}))
    assert topo.rack_of("host-1", "127.0.0.1") == "/rack-1"
    assert topo.rack_of("host-9", "10.0.0.7") == "/dc/rack-2"
    assert topo.rack_of("host-9", "10.0.0.8") == DEFAULT_RACK


def test_the_script_is_asked_once_per_host_and_its_answers_are_cached(tmp_path):
    calls = tmp_path / "calls"
    topo = Topology(TopologyConfig(script=script(tmp_path, f'echo "$@" >> {calls}\n'
                                                           'for h in "$@"; do echo "/rack-${h#host-}"; done')))
    assert topo.rack_of("host-1") == "/rack-1"
    assert topo.rack_of("host-2") == "/rack-2"
    assert topo.rack_of("host-1") == "/rack-1"
    assert calls.read_text().split() == ["host-1", "host-2"]


@pytest.mark.parametrize("body", [
    "echo oops >&2; exit 3",                  # fails
    "echo not-a-rack",                        # garbage
    "echo /rack-1 /rack-2",                   # two answers for one host
    "sleep 30 & sleep 30",                    # slow, and a child holding its output open
])
def test_a_failing_script_puts_hosts_on_the_default_rack_with_one_warning(tmp_path, caplog, body):
    topo = Topology(TopologyConfig(script=script(tmp_path, body), script_timeout=0.5))
    with caplog.at_level(logging.DEBUG, logger="namenode.topology"):
        racks = [topo.rack_of(f"host-{i}") for i in range(1, 4)]
    assert racks == [DEFAULT_RACK] * 3
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "host-1" in warnings[0].getMessage()
    assert topo.rack_of("host-1") == DEFAULT_RACK and topo.failures == 3     # cached: not run again


def test_a_missing_script_is_a_failure_too(tmp_path):
    topo = Topology(TopologyConfig(script=str(tmp_path / "absent.sh")))
    assert topo.rack_of("host-1") == DEFAULT_RACK and topo.failures == 1


def test_distances_as_hdfs():
    topo = Topology(TopologyConfig(racks={"host-1": "/r1", "host-2": "/r1", "host-3": "/r2"}))
    fsn = Namesystem("ns-a", "CID", "BP-1", "admin")
    fsn.topology = topo
    nodes = [fsn.register_datanode(f"uuid-{i}", f"host-{i}", f"127.0.0.1:{9000 + i}") for i in (1, 2, 3)]
    rack = topo.client_rack("host-1")
    assert [topo.distance("host-1", rack, n) for n in nodes] == [SAME_HOST, SAME_RACK, OFF_RACK]


@pytest.mark.parametrize("topology, message", [
    ({"host-1": "rack-1"}, 'topology.host-1 = \'rack-1\': expected a rack path such as "/rack-1"'),
    ({"host-1": "/rack 1"}, "topology.host-1"),
    ({"host-1": 7}, "topology.host-1 = 7"),
    ({"scirpt": "/bin/true"}, "topology.scirpt: unknown key (did you mean script?)"),
    ({"script": "/bin/true", "script_timeout": 0}, "topology.script_timeout = 0: out of range"),
    ({"script": 5}, "topology.script = 5"),
])
def test_bad_topology_config_names_the_file_and_key(topology, message):
    with pytest.raises(InvalidArgument) as e:
        config.from_dict({"nameservices": {"ns-a": {"address": "127.0.0.1:0"}}, "topology": topology}, "/c/hfed.toml")
    assert str(e.value).startswith("/c/hfed.toml: ") and message in str(e.value)


def test_topology_round_trips_through_the_config_file_with_a_relative_script(tmp_path):
    raw = {"nameservices": {"ns-a": {"address": "127.0.0.1:0"}},
           "topology": {"host-1": "/rack-1", "10.0.0.7": "/rack-2", "script": "topo.sh", "script_timeout": 2.0}}
    cfg = config.from_dict(raw, str(tmp_path / "hfed.toml"))
    assert cfg.topology.script == str(tmp_path / "topo.sh")
    (tmp_path / "hfed.toml").write_text(config.dump(cfg))
    assert config.load(tmp_path / "hfed.toml").topology == cfg.topology


# ------------------------------------------------------------- the NameNode core with racks
@pytest.fixture
def fsn():
    fsn = Namesystem("ns-a", "CID", "BP-1", "admin", block_size=1024, replication=3, dead_interval=10,
                     mount_dirs=("/user",))
    fsn.topology = Topology(TopologyConfig(racks={f"host-{i}": f"/rack-{(i - 1) % 2 + 1}" for i in range(1, 7)}))
    dirs.mkdirs(fsn, fsn.ns.caller("admin"), "/user", 0o755, True)
    return fsn


def add_datanodes(fsn, n):
    nodes = [fsn.register_datanode(f"uuid-{i}", f"host-{i}", f"127.0.0.1:{9000 + i}") for i in range(1, n + 1)]
    for node in nodes:
        fsn.block_report(node.uuid, [])
    return nodes


def write_on(fsn, path, holders, replication=3, size=100):
    admin = fsn.ns.caller("admin")
    files.create(fsn, admin, path, 0o644, False, False, replication, 0, "c1")
    block, targets = files.add_block(fsn, admin, path, "c1", None, set(), "host-1")
    for node in holders if holders is not None else targets:
        fsn.incremental_report(node.uuid, [(block.block_id, block.generation_stamp, size)], [])
    assert files.complete(fsn, admin, path, "c1", (block.block_id, size))
    return block, targets


def run_transfers(fsn):
    """Do what the DataNodes would: queued transfers land, queued deletions are reported."""
    replication.tick(fsn)
    for node in fsn.datanodes.nodes.values():
        for cmd in list(node.commands):
            node.commands.remove(cmd)
            if isinstance(cmd, TransferCmd):
                for target in cmd.targets:
                    fsn.incremental_report(target.uuid, [(cmd.block_id, cmd.generation_stamp, cmd.num_bytes)], [])
    replication.tick(fsn)


def racks_of(fsn, block):
    return sorted(fsn.datanodes.nodes[u].rack for u in fsn.blocks.get(block.block_id).replicas)


def test_add_block_places_by_rack_and_reads_come_nearest_first(fsn):
    add_datanodes(fsn, 6)
    block, targets = write_on(fsn, "/user/f", None)
    assert targets[0].host_label == "host-1" and len({t.rack for t in targets}) == 2
    assert {t.rack for t in targets[1:]} == {"/rack-2"}
    assert fsn.live_locations(block, "host-1")[0].host_label == "host-1"            # its own host
    assert fsn.live_locations(block, "host-3")[0].host_label == "host-1"            # its rack's replica
    reader = next(h for h in ("host-2", "host-4", "host-6") if h not in {t.host_label for t in targets})
    assert [n.rack for n in fsn.live_locations(block, reader)] == ["/rack-2", "/rack-2", "/rack-1"]


def test_a_dead_node_is_replaced_so_the_block_still_spans_both_racks(fsn):
    nodes = add_datanodes(fsn, 6)
    by_label = {n.host_label: n for n in nodes}
    block, _ = write_on(fsn, "/user/f", [by_label["host-1"], by_label["host-2"], by_label["host-4"]])
    by_label["host-1"].last_heartbeat -= 100                 # the only /rack-1 replica dies
    fsn.check_datanodes()
    run_transfers(fsn)
    assert racks_of(fsn, block) == ["/rack-1", "/rack-2", "/rack-2"]


def test_a_block_on_one_rack_gets_a_copy_on_the_other_and_loses_one_from_the_crowded_rack(fsn):
    nodes = add_datanodes(fsn, 6)
    by_label = {n.host_label: n for n in nodes}
    block, _ = write_on(fsn, "/user/f", [by_label["host-1"], by_label["host-3"], by_label["host-5"]])
    assert racks_of(fsn, block) == ["/rack-1"] * 3
    run_transfers(fsn)                                       # one more, on /rack-2 ...
    run_transfers(fsn)                                       # ... then one fewer on /rack-1
    assert racks_of(fsn, block) == ["/rack-1", "/rack-1", "/rack-2"]


def test_excess_replicas_go_from_the_rack_with_the_most(fsn):
    nodes = add_datanodes(fsn, 6)
    by_label = {n.host_label: n for n in nodes}
    block, _ = write_on(fsn, "/user/f", [by_label[h] for h in ("host-1", "host-2", "host-3", "host-5")],
                        replication=2)
    replication.tick(fsn)
    assert racks_of(fsn, block) == ["/rack-1", "/rack-2"]
