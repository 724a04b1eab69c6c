"""A DataNode's metrics at /metrics (Prometheus text) and /jmx (Hadoop's JMX JSON):
bytes and blocks moved, space, replicas per block pool, block scanner progress.

Counters are bumped once per block read or written (never per packet) by the
connection threads of datanode/transfer.py and datanode/pipeline.py; everything else
is read at scrape time. "Local" is as HDFS counts it: the client's connection comes
from this machine (a loopback address or the DataNode's own); on one machine with
host labels every client is local. Short-circuit reads never pass through the
DataNode: what it counts is the grants, and the bytes of the replicas it handed out.
"""
from __future__ import annotations

import ipaddress
import threading

from aiohttp import web
from prometheus_client import CollectorRegistry

from protos.metrics_http import Bean, BeanCollector, add_routes as add_metric_routes

DN = "Hadoop:service=DataNode,name="


def is_local_peer(peer: str, own_host: str = "") -> bool:
    """Whether ``peer`` ("ip:port") connects from this machine."""
    host = peer.rsplit(":", 1)[0].strip("[]")
    try:
        return ipaddress.ip_address(host).is_loopback or host == own_host
    except ValueError:
        return False


class DataNodeActivity:
    """HDFS's DataNodeActivity counters (thread-safe: connection threads bump them)."""
    NAMES = ("BytesRead", "BytesWritten", "RemoteBytesRead", "RemoteBytesWritten", "BlocksRead", "BlocksWritten",
             "ReadsFromLocalClient", "ReadsFromRemoteClient", "WritesFromLocalClient", "WritesFromRemoteClient",
             "ShortCircuitReads", "ShortCircuitBytes")

    def __init__(self):
        self._lock = threading.Lock()
        self.counts = dict.fromkeys(self.NAMES, 0)

    def read(self, nbytes: int, local: bool) -> None:
        """A READ of ``nbytes`` served to a client."""
        with self._lock:
            c = self.counts
            c["BytesRead"] += nbytes
            c["BlocksRead"] += 1
            if local:
                c["ReadsFromLocalClient"] += 1
            else:
                c["RemoteBytesRead"] += nbytes
                c["ReadsFromRemoteClient"] += 1

    def written(self, nbytes: int, local: bool) -> None:
        """A replica of ``nbytes`` received and stored (from a client or an upstream DataNode)."""
        with self._lock:
            c = self.counts
            c["BytesWritten"] += nbytes
            c["BlocksWritten"] += 1
            if local:
                c["WritesFromLocalClient"] += 1
            else:
                c["RemoteBytesWritten"] += nbytes
                c["WritesFromRemoteClient"] += 1

    def short_circuit(self, nbytes: int) -> None:
        """A local client was handed a replica of ``nbytes`` to read from disk itself."""
        with self._lock:
            self.counts["ShortCircuitReads"] += 1
            self.counts["ShortCircuitBytes"] += nbytes

    def snapshot(self) -> dict:
        with self._lock:
            return dict(self.counts)


def beans(context) -> list[Bean]:
    """Every bean of the DataNode (``context``: datanode.http_app.DatanodeContext)."""
    storage, transfer, scanner = context.storage, context.transfer, context.scanner
    port = transfer.port if transfer is not None else 0
    activity = transfer.activity.snapshot() if transfer is not None else dict.fromkeys(DataNodeActivity.NAMES, 0)
    hfed_only = {k: activity.pop(k) for k in ("ShortCircuitReads", "ShortCircuitBytes")}
    if scanner is not None:
        activity.update(BlocksVerified=scanner.verified_total, BlockVerificationFailures=scanner.corrupt_total)
    host = {"host": context.host_label}
    used, capacity = storage.used(), storage.capacity()
    dataset = {"Capacity": capacity, "DfsUsed": used, "Remaining": storage.remaining(),
               "NumBlocks": storage.num_replicas(), "StorageInfo": storage.data_dir}
    own = {"HostLabel": context.host_label, "Uuid": storage.uuid, **hfed_only,
           "ActiveTransfers": transfer.active_transfers if transfer is not None else 0,
           **scanner_progress(scanner)}
    out = [Bean(f"{DN}DataNodeActivity-{context.host_label}-{port}", activity, record="DataNodeActivity",
                labels=host),
           Bean(f"{DN}FSDatasetState", dataset, record="FSDatasetState", labels=host),
           Bean(f"{DN}DataNodeInfo", {"ClusterId": context.cfg.cluster_id, "HostName": context.host_label,
                                      "DataPort": port, "Version": "hfed"}),
           Bean(f"{DN}HfedDataNode", own, record="HfedDataNode", labels=host, help=HELP)]
    for pool_id, count in sorted(storage.pool_sizes().items()):
        out.append(Bean(f"{DN}BlockPool-{pool_id}", {"Replicas": count}, record="HfedBlockPool",
                        labels={**host, "pool": pool_id}))
    return out


def scanner_progress(scanner) -> dict:
    if scanner is None:
        return {"ScannerEnabled": False}
    return {"ScannerEnabled": scanner.enabled, "ScannerPasses": scanner.passes,
            "ScannerPassReplicas": scanner.pass_replicas, "ScannerPassDone": scanner.pass_done,
            "ScannerPassProgress": scanner.pass_done / scanner.pass_replicas if scanner.pass_replicas else 1.0,
            "ScannerBytesVerified": scanner.verified_bytes_total,
            "ScannerLastPassEndSeconds": scanner.last_pass_end}


HELP = {
    "ShortCircuitReads": "Replicas handed to local clients to read from disk themselves",
    "ShortCircuitBytes": "Bytes of the replicas handed out for short-circuit reads",
    "ScannerPassProgress": "Share of the current block scanner pass done (1 between passes)",
    "ScannerLastPassEndSeconds": "When the block scanner last finished a pass (epoch seconds; 0 never)",
}


def add_routes(app: web.Application) -> None:
    """/metrics and /jmx of the DataNode whose context the app holds."""
    context = app["datanode"]
    registry = CollectorRegistry(auto_describe=False)
    registry.register(BeanCollector(lambda: beans(context)))
    add_metric_routes(app, registry, lambda: beans(context))
