"""Decommissioning in the NameNode core (namenode/decommission.py), driven by plain calls."""
import pytest

from namenode import decommission, replication
from namenode.datanodes import DECOMMISSIONED, DECOMMISSIONING, NORMAL
from namenode.namesystem import Namesystem, TransferCmd
from namenode.ops import attrs, dirs, files


@pytest.fixture
def fsn():
    fsn = Namesystem("ns-a", "CID", "BP-1", "admin", block_size=1024, replication=2, dead_interval=10,
                     mount_dirs=("/user",))
    dirs.mkdirs(fsn, fsn.ns.caller("admin"), "/user", 0o755, True)
    return fsn


def add_datanodes(fsn, n):
    nodes = [fsn.register_datanode(f"uuid-{i}", f"host-{i}", f"127.0.0.1:{9000 + i}") for i in range(1, n + 1)]
    for node in nodes:
        fsn.block_report(node.uuid, [])
    return nodes


def write_on(fsn, path, holders, size=100):
    """A one-block file whose replicas are on ``holders`` (DatanodeInfo)."""
    admin = fsn.ns.caller("admin")
    files.create(fsn, admin, path, 0o644, False, False, 2, 0, "c1")
    block, _targets = files.add_block(fsn, admin, path, "c1", None, set(), "")
    for node in holders:
        fsn.incremental_report(node.uuid, [(block.block_id, block.generation_stamp, size)], [])
    assert files.complete(fsn, admin, path, "c1", (block.block_id, size))
    return block


def run_transfers(fsn, block):
    """Do what the DataNodes would: every queued transfer lands on its targets."""
    replication.tick(fsn)
    for node in fsn.datanodes.nodes.values():
        for cmd in [c for c in node.commands if isinstance(c, TransferCmd)]:
            node.commands.remove(cmd)
            for target in cmd.targets:
                fsn.incremental_report(target.uuid, [(cmd.block_id, cmd.generation_stamp, cmd.num_bytes)], [])


def test_an_excluded_node_is_copied_off_then_decommissioned_and_back_in_service(fsn):
    n1, n2, n3 = add_datanodes(fsn, 3)
    block = write_on(fsn, "/user/f", [n1, n2])
    decommission.refresh(fsn, ["host-1"])
    assert n1.admin_state == DECOMMISSIONING
    assert n1 not in fsn.datanodes.in_service()              # no new replicas there
    assert decommission.check(fsn) == []                      # its block has 1 of 2 replicas elsewhere
    assert "blk_" in n1.decommission_wait
    run_transfers(fsn, block)
    assert fsn.blocks.get(block.block_id).replicas == {"uuid-1", "uuid-2", "uuid-3"}
    assert decommission.check(fsn) == [n1]
    assert n1.admin_state == DECOMMISSIONED
    assert fsn.live_locations(block)[-1] is n1                # still readable, tried last
    decommission.refresh(fsn, [])
    assert n1.admin_state == NORMAL
    replication.tick(fsn)                                     # three copies of a 2-replica block: one goes
    assert len(fsn.blocks.get(block.block_id).replicas) == 2


def test_the_last_replica_holder_waits_and_says_why(fsn):
    n1, n2 = add_datanodes(fsn, 2)
    block = write_on(fsn, "/user/only-here", [n1])
    decommission.refresh(fsn, ["uuid-1", "host-2"])           # uuids and host labels both name nodes
    assert decommission.check(fsn) == [n2]                    # holds nothing
    run_transfers(fsn, block)                                 # nowhere to copy it
    assert decommission.check(fsn) == []
    assert n1.admin_state == DECOMMISSIONING and n2.admin_state == DECOMMISSIONED
    assert f"blk_{block.block_id} has no in-service DataNode to be copied to" in n1.decommission_wait
    assert fsn.blocks.get(block.block_id).replicas == {"uuid-1"}     # nothing lost
    progressing, done = decommission.report(fsn)
    assert progressing[0].startswith("host-1 (uuid-1): waiting:") and done == ["host-2 (uuid-2)"]


def test_a_node_registering_while_excluded_is_decommissioned(fsn):
    decommission.refresh(fsn, ["host-2"])
    n1, n2 = add_datanodes(fsn, 2)
    assert (n1.admin_state, n2.admin_state) == (NORMAL, DECOMMISSIONING)
    assert decommission.check(fsn) == [n2]                    # holds nothing


def test_replication_above_the_hosts_left_needs_as_many_copies_as_hosts(fsn):
    n1, n2, n3 = add_datanodes(fsn, 3)
    block = write_on(fsn, "/user/three", [n1, n2, n3])
    attrs.set_replication(fsn, fsn.ns.caller("admin"), "/user/three", 3)
    decommission.refresh(fsn, ["host-3"])
    assert decommission.check(fsn) == [n3]        # two in-service hosts, a copy on each
    assert fsn.blocks.get(block.block_id).replicas == {"uuid-1", "uuid-2", "uuid-3"}


def test_the_exclude_list_in_the_config_is_checked_and_kept():
    import tomllib

    from protos import config
    from protos.errors import InvalidArgument
    base = {"nameservices": {"ns-a": {"address": "127.0.0.1:1"}}, "datanodes": {"host-1": {"data_dir": "/d"}}}
    cfg = config.from_dict({**base, "datanodes": {"exclude": ["host-1", "uuid-9"], "host-1": {"data_dir": "/d"}}})
    assert cfg.datanode_exclude == ["host-1", "uuid-9"] and list(cfg.datanodes) == ["host-1"]
    assert config.from_dict(tomllib.loads(config.dump(cfg))).datanode_exclude == ["host-1", "uuid-9"]
    for bad in ("host-1", [""], [3]):
        with pytest.raises(InvalidArgument, match=r"datanodes.exclude = .*expected a list of DataNode host labels"):
            config.from_dict({**base, "datanodes": {"exclude": bad, "host-1": {"data_dir": "/d"}}})
