"""`hfed dfsadmin -report` and `-refreshNodes`: HDFS's report first (cluster capacity, block
health, then each DataNode with HDFS's fields and sizes), then hfed's own sections (each
namespace: memory, small files, its view of the DataNodes)."""
from __future__ import annotations

import sys
import time

from protos.config import DEFAULT_RACK

from client.cli_format import (_namespace_memory, _small_files_report, contact_time, percent, printable,
                               security_summary)

NORMAL, DECOMMISSIONING, DECOMMISSIONED = "Normal", "Decommission in progress", "Decommissioned"
SEPARATOR = "-" * 49
_PREFIXES = ("K", "M", "G", "T", "P", "E")


def hdfs_bytes(n: int) -> str:
    """HDFS's StringUtils.byteDesc: '512 B', '4 KB' (exact), '8.00 GB' (two decimals otherwise)."""
    n = int(n)
    if n < 1024:
        return f"{n} B"
    shift = 10
    while shift < 60 and n >= 1 << (shift + 10):
        shift += 10
    if n & ((1 << shift) - 1) == 0:
        return f"{n >> shift} {_PREFIXES[shift // 10 - 1]}B"
    text = f"{n / (1 << shift):.2f}"
    if text.startswith("1024") and shift < 60:     # rounds up into the next prefix
        shift += 10
        text = f"{n / (1 << shift):.2f}"
    return f"{text} {_PREFIXES[shift // 10 - 1]}B"


def sized(n: int) -> str:
    """'1073741824 (1 GB)', as HDFS's report prints a size."""
    return f"{n} ({hdfs_bytes(n)})"


def hdfs_date(ms_ago: int) -> str:
    """Java's Date.toString of a moment ``ms_ago`` milliseconds back: 'Tue Dec 01 12:00:00 UTC 2026'."""
    return time.strftime("%a %b %d %H:%M:%S %Z %Y", time.localtime(time.time() - ms_ago / 1000.0))


def non_dfs_used(d) -> int:
    return max(0, d.capacity - d.used - d.remaining)


def merged_state(states: list[str]) -> str:
    """A DataNode's status over the namespaces it serves: Decommissioned once every namespace
    says so, Normal when every one does, in progress otherwise (some pool still copying)."""
    if states and all(s == DECOMMISSIONED for s in states):
        return DECOMMISSIONED
    if all((s or NORMAL) == NORMAL for s in states):
        return NORMAL
    return DECOMMISSIONING


class _Node:
    """One DataNode as the cluster sees it: its freshest report, its state and blocks over every namespace."""

    def __init__(self, d):
        self.report, self.states, self.blocks, self.alive = d, [], 0, False

    def add(self, d) -> None:
        if d.last_heartbeat_ms_ago < self.report.last_heartbeat_ms_ago:
            self.report = d
        self.states.append(d.admin_state or NORMAL)
        self.blocks += d.num_blocks
        self.alive = self.alive or d.alive

    @property
    def state(self) -> str:
        return merged_state(self.states)


def cluster_nodes(up) -> list[_Node]:
    nodes: dict[str, _Node] = {}
    for _, s in up:
        for d in s.datanodes:
            nodes.setdefault(d.id.uuid, _Node(d)).add(d)
    return sorted(nodes.values(), key=lambda n: n.report.id.host_label)


def _datanode(node: _Node, out) -> None:
    d = node.report
    print(f"Name: {d.id.transfer_address} ({d.id.host_label})", file=out)
    print(f"Hostname: {d.id.host_label}", file=out)
    if d.id.rack and d.id.rack != DEFAULT_RACK:      # as HDFS: only a rack the topology gave
        print(f"Rack: {d.id.rack}", file=out)
    print(f"Decommission Status : {node.state}", file=out)
    print(f"Configured Capacity: {sized(d.capacity)}", file=out)
    print(f"DFS Used: {sized(d.used)}", file=out)
    print(f"Non DFS Used: {sized(non_dfs_used(d))}", file=out)
    print(f"DFS Remaining: {sized(d.remaining)}", file=out)
    print(f"DFS Used%: {percent(d.used, d.capacity)}", file=out)
    print(f"DFS Remaining%: {percent(d.remaining, d.capacity)}", file=out)
    print(f"Last contact: {hdfs_date(d.last_heartbeat_ms_ago)}", file=out)
    print(f"Num of Blocks: {node.blocks}", file=out)
    print(f"Uuid: {d.id.uuid}", file=out)
    if d.id.http_address:
        print(f"HTTP: http://{d.id.http_address}/ (WebHDFS data, /metrics, /jmx)", file=out)
    print(file=out)


def print_topology(stats, out=sys.stdout) -> list[str]:
    """`dfsadmin -printTopology`, HDFS's format: each rack, then its DataNodes as
    "   address (host)". Returns the namespaces that are down."""
    up = [(ns, s) for ns, s in stats if not isinstance(s, BaseException)]
    racks: dict[str, list[str]] = {}
    for node in cluster_nodes(up):
        d = node.report.id
        racks.setdefault(d.rack or DEFAULT_RACK, []).append(f"   {d.transfer_address} ({d.host_label})"
                                                           + ("" if node.alive else " [dead]"))
    for rack in sorted(racks):
        print(f"Rack: {rack}", file=out)
        print("\n".join(racks[rack]), file=out)
        print(file=out)
    return [ns for ns, s in stats if isinstance(s, BaseException)]


def _node_lists(nodes: list[_Node], which: set[str], out) -> None:
    """HDFS's lists: live and dead (no filter), or those the filters ask for."""
    lists = {"live": ("Live", [n for n in nodes if n.alive]),
             "dead": ("Dead", [n for n in nodes if not n.alive]),
             "decommissioning": ("Decommissioning", [n for n in nodes if n.alive and n.state == DECOMMISSIONING])}
    for key in ("live", "dead", "decommissioning"):
        if key in which:
            title, chosen = lists[key]
            print(f"{title} datanodes ({len(chosen)}):\n", file=out)
            for node in chosen:
                _datanode(node, out)


def dfsadmin_report(cfg, stats, out=sys.stdout, which: set[str] | None = None) -> list[str]:
    """`dfsadmin -report [-live] [-dead] [-decommissioning]`. ``stats`` is session.stats():
    (nameservice, GetStatsResponse or the Exception). Returns the namespaces that are down."""
    up = [(ns, s) for ns, s in stats if not isinstance(s, BaseException)]
    down = [ns for ns, s in stats if isinstance(s, BaseException)]
    nodes = cluster_nodes(up)
    live = [n.report for n in nodes if n.alive]
    capacity = sum(d.capacity for d in live)
    used = sum(d.used for d in live)
    remaining = sum(d.remaining for d in live)
    print(f"Configured Capacity: {sized(capacity)}", file=out)
    print(f"Present Capacity: {sized(used + remaining)}", file=out)
    print(f"DFS Remaining: {sized(remaining)}", file=out)
    print(f"DFS Used: {sized(used)}", file=out)
    print(f"DFS Used%: {percent(used, used + remaining)}", file=out)
    print("Replicated Blocks:", file=out)
    print(f"\tUnder replicated blocks: {sum(s.under_replicated for _, s in up)}", file=out)
    print(f"\tBlocks with corrupt replicas: {sum(s.corrupt_replicas for _, s in up)}", file=out)
    print(f"\tMissing blocks: {sum(s.missing for _, s in up)}", file=out)
    print(f"\tPending replications: {sum(s.pending_replications for _, s in up)}", file=out)
    print(f"\n{SEPARATOR}", file=out)
    _node_lists(nodes, which or {"live", "dead"}, out)
    if which:
        return down
    print(SEPARATOR, file=out)
    print(f"Cluster {cfg.cluster_id}: {len(stats)} namespaces ({len(up)} up, {len(down)} down)", file=out)
    print(security_summary(cfg), file=out)
    for ns, s in stats:
        _namespace(cfg, ns, s, out)
    return down


def _namespace(cfg, ns: str, s, out) -> None:
    """hfed's section of one namespace: where it is, its objects and memory, small files,
    block health and the DataNodes as its NameNode sees them."""
    mounts = ", ".join(p for p, owner in cfg.mounts if owner == ns) or "(no mounts)"
    address = cfg.nameservices[ns].address if ns in cfg.nameservices else "?"
    print(SEPARATOR, file=out)
    if isinstance(s, BaseException):
        reason = " ".join(str(s).split()) or type(s).__name__
        print(f"Namespace {ns} at {address} ({mounts}): DOWN", file=out)
        print(f"  {printable(reason)}", file=out)
        return
    print(f"Namespace {ns} at {address} ({mounts}): UP", file=out)
    print(f"Block pool: {s.pool_id}", file=out)
    if s.http_address:
        print(f"Status page: http://{s.http_address}/ (and /metrics, /jmx)", file=out)
    print(f"Files: {s.files}   Directories: {s.directories}   Blocks: {s.blocks}", file=out)
    _namespace_memory(s, out)
    _small_files_report(s, cfg.replication, out)
    print(f"Under replicated blocks: {s.under_replicated}", file=out)
    print(f"Blocks with corrupt replicas: {s.corrupt_replicas}", file=out)
    print(f"Missing blocks: {s.missing}", file=out)
    print(f"Pending replications: {s.pending_replications}", file=out)
    alive = sum(d.alive for d in s.datanodes)
    print(f"DataNodes of this namespace: {alive} live, {len(s.datanodes) - alive} dead", file=out)
    for d in sorted(s.datanodes, key=lambda d: d.id.host_label):
        print(f"  {d.id.host_label} {d.id.transfer_address} {'live' if d.alive else 'dead'}, "
              f"{d.admin_state or NORMAL}, {d.num_blocks} blocks of this pool, "
              f"last contact {contact_time(d.last_heartbeat_ms_ago)}", file=out)


def refresh_lines(ns: str, reply) -> list[str]:
    """What `-refreshNodes` prints for one namespace: HDFS's line, then the nodes leaving service."""
    lines = [f"Refresh nodes successful for {ns}"]
    lines += [f"  {printable(n)}: Decommission in progress" if ": waiting:" not in n else
              f"  {printable(n).replace(': waiting:', ': Decommission in progress, waiting:', 1)}"
              for n in reply.decommissioning]
    lines += [f"  {printable(n)}: Decommissioned" for n in reply.decommissioned]
    return lines
