"""dfsadmin -report's sizes and DataNode states, HDFS's shapes (client/cli_report.py)."""
import io

import pytest

from client import cli_report
from protos import hfed_pb2 as pb


@pytest.mark.parametrize("n, text", [(0, "0 B"), (1023, "1023 B"), (4096, "4 KB"), (1 << 30, "1 GB"),
                                     (1536, "1.50 KB"), (8589930496, "8.00 GB"), ((1 << 20) - 1, "1.00 MB"),
                                     (123456789, "117.74 MB")])
def test_sizes_as_hdfs_byte_desc(n, text):
    assert cli_report.hdfs_bytes(n) == text
    assert cli_report.sized(n) == f"{n} ({text})"


def test_a_datanode_is_decommissioned_once_every_namespace_says_so():
    merged = cli_report.merged_state
    assert merged(["Decommissioned", "Decommissioned"]) == "Decommissioned"
    assert merged(["Decommissioned", "Decommission in progress"]) == "Decommission in progress"
    assert merged(["Decommissioned", "Normal"]) == "Decommission in progress"     # one pool not refreshed yet
    assert merged(["Normal", ""]) == "Normal"                                      # an older NameNode: no state


def test_report_filters_and_totals():
    def node(label, alive, state, blocks):
        return pb.DatanodeReport(id=pb.DatanodeId(uuid=label, host_label=label, transfer_address=f"{label}:1"),
                                 alive=alive, capacity=1000, used=100, remaining=700, num_blocks=blocks,
                                 admin_state=state)
    stats = [("ns-a", pb.GetStatsResponse(datanodes=[node("h1", True, "Decommission in progress", 2),
                                                     node("h2", True, "Normal", 3), node("h3", False, "Normal", 0)])),
             ("ns-b", pb.GetStatsResponse(datanodes=[node("h1", True, "Decommissioned", 4),
                                                     node("h2", True, "Normal", 5), node("h3", False, "Normal", 0)]))]
    out = io.StringIO()
    cli_report.dfsadmin_report(None, stats, out=out, which={"decommissioning"})
    text = out.getvalue()
    assert text.startswith("Configured Capacity: 2000 (1.95 KB)\nPresent Capacity: 1600 (1.56 KB)\n")
    assert "Decommissioning datanodes (1):" in text and "Live datanodes" not in text
    assert "Hostname: h1\nDecommission Status : Decommission in progress\n" in text
    assert "Non DFS Used: 200 (200 B)" in text and "Num of Blocks: 6" in text and "h2" not in text
