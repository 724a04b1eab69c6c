"""A namespace added to a running cluster (MiniCluster.add_namespace: a NameNode started
with a config that names it tells the mount table holder where it serves): every DataNode
learns of it from a heartbeat reply and registers with it without a restart."""
from __future__ import annotations

import os

from protos import config as hconfig


def test_every_datanode_registers_with_a_namespace_started_later(fresh_cluster):
    mc = fresh_cluster(namespaces=2, datanodes=3)
    pids = {label: mc.datanode_pid(label) for label in mc.host_labels}

    mc.add_namespace("ns-c")     # returns once the holder lists it and every DataNode registered

    stats = mc.stats("ns-c")
    assert sorted(d.id.host_label for d in stats.datanodes if d.alive) == ["host-1", "host-2", "host-3"]
    cfg = hconfig.load(mc.config_path)
    for label, dn in cfg.datanodes.items():
        assert mc.datanode_pid(label) == pids[label]          # not restarted
        assert stats.pool_id in os.listdir(dn.data_dir)       # its block pool, made at registration
        log = mc.log_path(label).read_text()
        assert log.count("nameservice ns-c at") and log.count("joined the cluster") == 1
