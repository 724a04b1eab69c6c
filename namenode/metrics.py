"""A NameNode's metrics: what operators of HDFS watch, under HDFS's bean and attribute
names where hfed has a counterpart, and hfed's own (memory budget, small files).

Two kinds of figure:
- read at scrape time from the Namesystem (namenode/stats.py, the figures GetStats
  reports): nothing is kept up to date on the hot path for them;
- observed as things happen: every RPC's processing time per method (the ``translated``
  wrapper of namenode/handlers.py, the one place every RPC passes) and every edit-log
  sync (namenode/editlog.py), as prometheus_client Histograms. One observe is a dict
  lookup and two locked additions (~1-2 us); an RPC costs ~100 us or more.

Averages in /jmx (``...AvgTime``, milliseconds as Hadoop's) are since the NameNode started,
not over the last interval as Hadoop's MutableRate: Prometheus takes rates of the
histograms' sums and counts itself.
"""
from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Histogram

from namenode import stats
from namenode.datanodes import DECOMMISSIONED, DECOMMISSIONING
from namenode.namesystem import Namesystem
from protos.metrics_http import Bean, BeanCollector

NN = "Hadoop:service=NameNode,name="
# RPC processing inside the NameNode: tens of microseconds (a lookup) to a fdatasync (ms).
RPC_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0)
SYNC_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0)
# NameNodeActivity counters: the RPC methods HDFS counts them from.
ACTIVITY_OPS = {"CreateFileOps": "Create", "GetListingOps": "GetListing", "FileInfoOps": "GetFileInfo",
                "GetBlockLocations": "GetBlockLocations", "DeleteFileOps": "Delete", "RenameOps": "Rename",
                "AddBlockOps": "AddBlock", "BlockReportNumOps": "BlockReport"}


class NamenodeMetrics:
    def __init__(self, fsn: Namesystem):
        self.fsn = fsn
        self.rpc_port = 0          # set by the server once bound: names the RpcActivity beans
        self.registry = CollectorRegistry(auto_describe=False)
        self.rpc = Histogram("hfed_rpc_processing_seconds", "Time from an RPC's start in the NameNode to its "
                             "reply (edit-log sync included), per protocol and method",
                             ["protocol", "method"], buckets=RPC_BUCKETS, registry=self.registry)
        self.edit_log_sync = Histogram("hfed_edit_log_sync_seconds", "One edit-log write + fdatasync "
                                       "(one sync covers every RPC waiting on it)", buckets=SYNC_BUCKETS,
                                       registry=self.registry)
        self._timers: dict[tuple[str, str], object] = {}
        self.registry.register(BeanCollector(self.beans))

    # -------------------------------------------------------------- hot path
    def observe_rpc(self, protocol: str, method: str, seconds: float) -> None:
        timer = self._timers.get((protocol, method))
        if timer is None:
            timer = self._timers[(protocol, method)] = self.rpc.labels(protocol, method)
        timer.observe(seconds)

    # -------------------------------------------------------------- at scrape time
    def rpc_totals(self) -> dict[tuple[str, str], tuple[float, float]]:
        """(protocol, method) -> (calls, seconds in all)."""
        totals: dict[tuple[str, str], list[float]] = {}
        for family in self.rpc.collect():
            for sample in family.samples:
                key = (sample.labels["protocol"], sample.labels["method"])
                if sample.name.endswith("_count"):
                    totals.setdefault(key, [0.0, 0.0])[0] = sample.value
                elif sample.name.endswith("_sum"):
                    totals.setdefault(key, [0.0, 0.0])[1] = sample.value
        return {key: (calls, seconds) for key, (calls, seconds) in totals.items()}

    def sync_totals(self) -> tuple[float, float]:
        count = total = 0.0
        for family in self.edit_log_sync.collect():
            for sample in family.samples:
                if sample.name.endswith("_count"):
                    count = sample.value
                elif sample.name.endswith("_sum"):
                    total = sample.value
        return count, total

    def beans(self) -> list[Bean]:
        fsn = self.fsn
        figures = stats.namesystem_figures(fsn)
        rows = stats.datanode_rows(fsn)
        return [*namesystem_beans(fsn, figures, rows), *self._activity_beans(), hfed_bean(fsn, figures)]

    def _activity_beans(self) -> list[Bean]:
        rpc = self.rpc_totals()
        calls = sum(c for c, _ in rpc.values())
        seconds = sum(s for _, s in rpc.values())
        by_method: dict[str, float] = {}
        for (_protocol, method), (count, _s) in rpc.items():
            by_method[method] = by_method.get(method, 0) + count
        syncs, sync_seconds = self.sync_totals()
        activity = {name: int(by_method.get(method, 0)) for name, method in ACTIVITY_OPS.items()}
        activity.update(SyncsNumOps=int(syncs), SyncsAvgTime=_avg_ms(sync_seconds, syncs))
        port = {"port": str(self.rpc_port)}
        detailed = {}
        for (protocol, method), (count, total) in sorted(rpc.items()):
            detailed[f"{method}NumOps"] = detailed.get(f"{method}NumOps", 0) + int(count)
            detailed[f"{method}AvgTime"] = _avg_ms(total, count)
        return [
            Bean(NN + "NameNodeActivity", activity, record="NameNodeActivity"),
            Bean(f"{NN}RpcActivityForPort{self.rpc_port}",
                 {"RpcProcessingTimeNumOps": int(calls), "RpcProcessingTimeAvgTime": _avg_ms(seconds, calls)},
                 record="RpcActivity", labels=port),
            Bean(f"{NN}RpcDetailedActivityForPort{self.rpc_port}", detailed),   # per method: the histogram
        ]


def _avg_ms(seconds: float, count: float) -> float:
    return 1000.0 * seconds / count if count else 0.0


def wall_clock_ms(monotonic_at: float) -> int:
    """A time.monotonic() reading as epoch milliseconds."""
    return int(1000 * (time.time() - (time.monotonic() - monotonic_at)))


def namesystem_beans(fsn: Namesystem, figures: dict, rows: list[stats.DatanodeRow]) -> list[Bean]:
    live = [r for r in rows if r.alive]
    journal = fsn.journal
    capacity = {"CapacityTotal": sum(r.capacity for r in live), "CapacityUsed": sum(r.used for r in live),
                "CapacityRemaining": sum(r.remaining for r in live)}
    common = {"FilesTotal": figures["files"] + figures["directories"],   # HDFS counts directories too
              "BlocksTotal": figures["blocks"], **capacity,
              "UnderReplicatedBlocks": figures["under_replicated"],
              "PendingReplicationBlocks": figures["pending_replications"],
              "NumLiveDataNodes": len(live), "NumDeadDataNodes": len(rows) - len(live)}
    fs_namesystem = {**common, "MissingBlocks": figures["missing"], "CorruptBlocks": len(fsn.blocks.corrupt),
                     "TransactionsSinceLastCheckpoint": journal.last_txid - journal.image_txid if journal else 0,
                     "LastCheckpointTime": wall_clock_ms(journal.last_checkpoint) if journal else 0,
                     "LastWrittenTransactionId": journal.last_txid if journal else 0,
                     "TotalLoad": sum(r.node.active_transfers for r in live)}
    state = {**common, "FSState": "safeMode" if fsn.safemode.on else "Operational",
             "NumDecommissioningDataNodes": sum(r.node.admin_state == DECOMMISSIONING for r in live),
             "NumDecomLiveDataNodes": sum(r.node.admin_state == DECOMMISSIONED for r in live)}
    info = {"ClusterId": fsn.cluster_id, "BlockPoolId": fsn.pool_id, "NNStartedTimeInMillis": figures["started_ms"],
            "Safemode": fsn.safemode.status(fsn)["reason"] if fsn.safemode.on else ""}
    return [Bean(NN + "FSNamesystem", fs_namesystem, record="FSNamesystem", help=HELP),
            Bean(NN + "FSNamesystemState", state), Bean(NN + "NameNodeInfo", info)]


def budget_used(fsn: Namesystem, objects: int) -> float:
    """The fraction of its memory (or object) budget the namespace uses; 0 when unlimited."""
    budget = fsn.budget
    if budget is None or not budget.limited:
        return 0.0
    if budget.max_memory:
        return budget.predicted(objects) / budget.max_memory
    return objects / budget.max_objects


def hfed_bean(fsn: Namesystem, figures: dict) -> Bean:
    keys = {"Objects": "objects", "RssBytes": "rss_bytes", "BaselineRssBytes": "baseline_rss_bytes",
            "BytesPerObject": "bytes_per_object", "MaxMemoryBytes": "max_memory", "MaxObjects": "max_objects",
            "HdfsHeapEstimateBytes": "hdfs_heap_estimate", "Files": "files", "Directories": "directories",
            "SmallFilesStaged": "small_staged", "SmallFilesStagedBytes": "small_staged_bytes",
            "SmallFilesPacked": "small_packed", "Containers": "containers",
            "ContainerLiveBytes": "container_live_bytes", "ContainerBytes": "container_bytes",
            "CorruptReplicas": "corrupt_replicas"}
    attributes = {name: figures[key] for name, key in keys.items()}
    attributes.update(Nameservice=fsn.nameservice, BudgetUsedFraction=budget_used(fsn, figures["objects"]),
                      BudgetRefusal=figures["budget_refusal"], SafeMode=fsn.safemode.on,
                      JournalTxid=fsn.journal.last_txid if fsn.journal else 0)
    return Bean(NN + "HfedNamespace", attributes, record="HfedNamespace", help=HELP)


HELP = {
    "FilesTotal": "Files and directories in the namespace (as HDFS counts them)",
    "MissingBlocks": "Blocks with no live replica",
    "UnderReplicatedBlocks": "Blocks with fewer live replicas than their file's replication",
    "TransactionsSinceLastCheckpoint": "Edits written since the last image",
    "RssBytes": "Resident memory of the NameNode process",
    "BytesPerObject": "Memory per file, directory or block (the budget's model, or RSS above the empty NameNode)",
    "BudgetUsedFraction": "Share of max_memory (predicted) or max_objects in use; 0 when unlimited",
    "HdfsHeapEstimateBytes": "Heap an HDFS NameNode would need for these objects (150 B each)",
    "SmallFilesStaged": "Small files waiting for the packer",
    "SmallFilesPacked": "Small files inside container blocks",
}
