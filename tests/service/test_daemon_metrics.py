"""/metrics and /jmx of a NameNode process and a DataNode process: Prometheus text that
prometheus_client parses, with the figures known operations moved; Hadoop's JMX JSON
shape and its ?qry= filter; an unknown path is 404."""
from __future__ import annotations

import os

import grpc
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from protos import datatransfer as dt
from protos import hfed_pb2 as pb

from test_datanode import MiB, read, verified_bytes  # noqa: E402
from test_datanode_with_namenode import read_token, setup, write_file  # noqa: E402,F401 - setup is a fixture

NN_FSN = "Hadoop:service=NameNode,name=FSNamesystem"


def scrape(address: str) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics: (name, sorted labels) -> value."""
    reply = requests.get(f"http://{address}/metrics", timeout=10)
    assert reply.status_code == 200
    assert reply.headers["Content-Type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(reply.text) for s in family.samples}


def jmx(address: str, query: str | None = None) -> list[dict]:
    reply = requests.get(f"http://{address}/jmx", params={"qry": query} if query else None, timeout=10)
    assert reply.status_code == 200 and reply.headers["Content-Type"].startswith("application/json")
    return reply.json()["beans"]


def addresses(setup) -> tuple[str, str]:
    """(NameNode HTTP address, DataNode HTTP address), as GetStats tells them."""
    setup.wait_registered()
    stats = setup.client().GetStats(pb.GetStatsRequest(), metadata=setup.md)
    return stats.http_address, stats.datanodes[0].id.http_address


def rpc_calls(samples: dict, method: str, protocol: str = "ClientProtocol") -> float:
    return samples.get(("hfed_rpc_processing_seconds_count", (("method", method), ("protocol", protocol))), 0.0)


def test_namenode_metrics_follow_operations(setup):
    nn_http, _ = addresses(setup)
    before = scrape(nn_http)
    nn, md = setup.client(), setup.md
    for i in range(5):
        nn.Create(pb.CreateRequest(path=f"/data/m/f{i}", permission=0o644, client_name="metrics-test",
                                   create_parent=True), metadata=md)
        nn.Complete(pb.CompleteRequest(path=f"/data/m/f{i}", client_name="metrics-test"), metadata=md)
    with pytest.raises(grpc.RpcError):      # a failed call is counted too
        nn.GetFileInfo(pb.GetFileInfoRequest(path="/data/m/none"), metadata=md)
    after = scrape(nn_http)

    # HDFS counts files and directories in FilesTotal: 5 files and the directory /data/m.
    assert after[("fs_namesystem_files_total", ())] == before[("fs_namesystem_files_total", ())] + 6
    assert after[("hfed_namespace_files", ())] == before[("hfed_namespace_files", ())] + 5
    assert rpc_calls(after, "Create") == rpc_calls(before, "Create") + 5
    assert rpc_calls(after, "Complete") == rpc_calls(before, "Complete") + 5
    assert rpc_calls(after, "GetFileInfo") == rpc_calls(before, "GetFileInfo") + 1
    assert rpc_calls(after, "Heartbeat", "DatanodeProtocol") >= 1
    bucket = ("hfed_rpc_processing_seconds_bucket", (("le", "+Inf"), ("method", "Create"),
                                                     ("protocol", "ClientProtocol")))
    assert after[bucket] == rpc_calls(after, "Create")
    # Each create was acknowledged after its edit was synced: the sync histogram moved.
    assert after[("hfed_edit_log_sync_seconds_count", ())] > before.get(("hfed_edit_log_sync_seconds_count", ()), 0)
    assert after[("fs_namesystem_transactions_since_last_checkpoint", ())] >= 10
    assert after[("fs_namesystem_num_live_data_nodes", ())] == 1
    assert after[("fs_namesystem_num_dead_data_nodes", ())] == 0
    assert after[("fs_namesystem_missing_blocks", ())] == 0
    assert after[("hfed_namespace_rss_bytes", ())] > 10 * MiB
    assert after[("name_node_activity_create_file_ops", ())] == rpc_calls(after, "Create")
    assert after[("name_node_activity_syncs_num_ops", ())] == after[("hfed_edit_log_sync_seconds_count", ())]
    port = setup.namenode_address.rsplit(":", 1)[1]
    assert after[("rpc_activity_rpc_processing_time_num_ops", (("port", port),))] >= 11


def test_namenode_jmx_shape_and_query(setup):
    nn_http, _ = addresses(setup)
    beans = jmx(nn_http)
    names = [b["name"] for b in beans]
    port = setup.namenode_address.rsplit(":", 1)[1]
    for name in (NN_FSN, NN_FSN + "State", "Hadoop:service=NameNode,name=NameNodeActivity",
                 f"Hadoop:service=NameNode,name=RpcActivityForPort{port}",
                 "Hadoop:service=NameNode,name=HfedNamespace"):
        assert name in names
    only = jmx(nn_http, NN_FSN + "State")
    assert [b["name"] for b in only] == [NN_FSN + "State"]
    state = only[0]
    assert state["FSState"] == "Operational" and state["NumLiveDataNodes"] == 1
    assert state["FilesTotal"] == next(b for b in beans if b["name"] == NN_FSN)["FilesTotal"]
    assert {b["name"] for b in jmx(nn_http, "Hadoop:service=NameNode,name=FSNamesystem*")} == {NN_FSN,
                                                                                                NN_FSN + "State"}
    assert jmx(nn_http, "Hadoop:service=NoSuch,*") == []
    assert requests.get(f"http://{nn_http}/no-such-page", timeout=10).status_code == 404


def test_datanode_metrics_count_bytes_and_blocks(setup):
    _, dn_http = addresses(setup)
    before = scrape(dn_http)
    data = os.urandom(MiB + 123)
    blk, _ = write_file(setup, "/data/dn-metrics", data)
    assert verified_bytes(read(setup.datanode, blk, token=read_token(setup, "/data/dn-metrics")))[1] == data
    pool = dt.Connections()
    try:    # a short-circuit grant: the client reads the file itself
        dt.short_circuit(pool, setup.datanode.address, blk, "host-1", "test",
                         token=read_token(setup, "/data/dn-metrics"))
    finally:
        pool.close()
    after = scrape(dn_http)
    host = (("host", "host-1"),)

    def moved(name: str) -> float:
        return after[(name, host)] - before[(name, host)]

    assert moved("data_node_activity_bytes_written") == len(data)
    assert moved("data_node_activity_blocks_written") == 1
    assert moved("data_node_activity_bytes_read") == len(data)
    assert moved("data_node_activity_blocks_read") == 1
    assert moved("data_node_activity_reads_from_local_client") == 1    # loopback: this machine
    assert moved("data_node_activity_remote_bytes_read") == 0
    assert moved("hfed_data_node_short_circuit_reads") == 1
    assert moved("hfed_data_node_short_circuit_bytes") == len(data)
    assert after[("fs_dataset_state_dfs_used", host)] >= len(data)
    assert after[("fs_dataset_state_num_blocks", host)] == before[("fs_dataset_state_num_blocks", host)] + 1
    pool_id = blk.pool_id
    assert after[("hfed_block_pool_replicas", (("host", "host-1"), ("pool", pool_id)))] >= 1
    assert after[("hfed_data_node_scanner_enabled", host)] == 1

    beans = jmx(dn_http, "Hadoop:service=DataNode,name=DataNodeActivity-*")
    assert len(beans) == 1 and beans[0]["name"].startswith("Hadoop:service=DataNode,name=DataNodeActivity-host-1-")
    assert beans[0]["BytesWritten"] == after[("data_node_activity_bytes_written", host)]
    dataset = jmx(dn_http, "Hadoop:service=DataNode,name=FSDatasetState")
    assert dataset[0]["DfsUsed"] == after[("fs_dataset_state_dfs_used", host)]
    assert requests.get(f"http://{dn_http}/no-such-page", timeout=10).status_code == 404
