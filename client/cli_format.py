"""How the hfed CLI prints things, kept to the shapes HDFS users know: error lines,
sizes, progress, and the fsck, dfsadmin and cluster reports (the dfs rows: client/shell_format.py)."""
from __future__ import annotations

import stat as statmod
import sys
import time

from fsspec.callbacks import Callback

from protos.errors import InvalidPath


_PLAIN_REASONS = {FileNotFoundError: "No such file or directory", FileExistsError: "File exists",
                  IsADirectoryError: "Is a directory", NotADirectoryError: "Not a directory",
                  PermissionError: "Permission denied"}


# Control characters in a name (anyone may create "a\nb" or "\x1b[31m") would forge lines or
# drive the terminal: every name the CLI prints goes through printable(). C0, DEL, C1, the
# Unicode line separators and bidirectional overrides become visible escapes, and "\" itself
# becomes "\\" so an escape in the output always means an escaped character (as `ls -b`).
_ESCAPES = {code: f"\\x{code:02x}" for code in [*range(0x20), *range(0x7f, 0xa0)]}
_ESCAPES.update({code: f"\\u{code:04x}" for code in [0x2028, 0x2029, *range(0x202a, 0x202f),
                                                      *range(0x2066, 0x206a)]})
_ESCAPES.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t", ord("\\"): "\\\\"})


def printable(text) -> str:
    """``text`` with control characters as visible escapes: one line, nothing for a terminal to obey."""
    return str(text).translate(_ESCAPES)


def describe(error: BaseException) -> str:
    """One line for any error the library or the OS raised (names in it escaped)."""
    return printable(_describe(error))


def _describe(error: BaseException) -> str:
    if isinstance(error, OSError) and error.filename and error.strerror:
        return f"{error.filename}: {error.strerror}"
    text = str(error)
    if isinstance(error, OSError) and error.strerror and text.startswith("[Errno"):
        text = error.strerror
    if hasattr(error, "code") and hasattr(error, "details") and callable(error.details):  # a stray grpc.RpcError
        text = f"RPC failed: {error.code().name}: {error.details()}"
    for cls, reason in _PLAIN_REASONS.items():
        if isinstance(error, cls) and text and " " not in text.strip("'\""):  # fsspec style: just the path
            return f"{text.strip(chr(39))}: {reason}"
    return " ".join(text.split()) or type(error).__name__


def permission_string(mode: int, is_dir: bool) -> str:
    """0o755, True -> 'drwxr-xr-x' (sticky bit shown as t/T like ls)."""
    return statmod.filemode((statmod.S_IFDIR if is_dir else statmod.S_IFREG) | (mode & 0o7777))


def human_size(n: int) -> str:
    """HDFS -h style: 0, 512, 1 K, 1.5 M, 128 M, 2.3 G."""
    n = int(n)
    if n < 1024:
        return str(n)
    value = float(n)
    for unit in ("K", "M", "G", "T", "P", "E"):
        value /= 1024
        if value < 1024 or unit == "E":
            text = f"{value:.1f}".rstrip("0").rstrip(".")
            return f"{text} {unit}"
    raise AssertionError("unreachable")


def human_bytes(n: int) -> str:
    """'0 B', '512 B', '1.5 MB'."""
    text = human_size(n)
    return f"{text}B" if " " in text else f"{text} B"


def byte_size(n: int) -> str:
    """dfsadmin style: '1073741824 (1 GB)'."""
    return f"{n} ({human_bytes(n)})"


def is_dir(entry: dict) -> bool:
    return entry.get("type") == "directory"


def percent(part: float, whole: float) -> str:
    return f"{(100.0 * part / whole) if whole else 0.0:.2f}%"


def contact_time(ms_ago: int) -> str:
    when = time.time() - ms_ago / 1000.0
    return f"{time.strftime('%a %b %d %H:%M:%S %Z %Y', time.localtime(when))} ({ms_ago / 1000.0:.1f}s ago)"


class ProgressCallback(Callback):
    """Progress of a put/get on stderr (only used when stderr is a terminal)."""

    def __init__(self, label: str, stream=None, **kwargs):
        super().__init__(**kwargs)
        self.label = printable(label)
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self._last_draw = 0.0

    def call(self, *args, **kwargs):
        now = time.monotonic()
        done = self.size is not None and self.value >= self.size
        if now - self._last_draw < 0.1 and not done:
            return
        self._last_draw = now
        rate = self.value / max(now - self.started, 1e-6)
        total = f" / {human_bytes(self.size)}" if self.size else ""
        pct = f" {100.0 * self.value / self.size:5.1f}%" if self.size else ""
        self.stream.write(f"\r{self.label}: {human_bytes(self.value)}{total}{pct}  {human_bytes(int(rate))}/s   ")
        self.stream.flush()

    def close(self):
        self.stream.write("\n")
        self.stream.flush()


# ------------------------------------------------------------------ reports

def full_name(entry: dict) -> str:
    return entry["name"] if entry["name"].startswith("/") else "/" + entry["name"]


def walk(fs, path: str, include_self: bool = True, unreachable: list | None = None):
    """Depth first, in name order: the info dicts of ``path`` and everything below it.
    With ``unreachable`` (a list), a subtree whose namespace is down, or whose path
    is longer than a path may be (a rename can move a deep tree under a deep
    directory), is noted there and skipped, so the rest is still visited; without
    it the error rises. An explicit stack, not recursion: any user can make a tree
    deeper than Python's recursion limit, and listing it must still work."""
    def guarded(call, at: str):
        try:
            return call()
        except (ConnectionError, InvalidPath) as e:
            if unreachable is None:
                raise
            reason = " ".join(str(e).split())
            unreachable.append(reason if isinstance(e, InvalidPath) else f"{at}: {reason}")
            return None

    def entries_of(directory: str):
        return iter(sorted(guarded(lambda: fs.ls(directory, detail=True), directory) or [], key=full_name))

    info = guarded(lambda: fs.info(path), path)
    if info is None:
        return
    if include_self:
        yield info
    if info["type"] != "directory":
        return
    stack = [entries_of(path)]       # one iterator over each open directory's entries
    while stack:
        entry = next(stack[-1], None)
        if entry is None:
            stack.pop()
        elif entry["type"] != "directory":
            yield entry
        else:
            name = full_name(entry)
            info = guarded(lambda: fs.info(name), name)
            if info is None:
                continue
            yield info
            if info["type"] == "directory":
                stack.append(entries_of(name))


def archive_summary(path: str, result) -> str:
    """What `hfed archive PATH` did, in two or three lines."""
    lines = [f"{printable(path)}: {result.staged} small file(s) moved into containers ({human_bytes(result.staged_bytes)}); "
             f"packers wrote {result.packed} file(s) into {result.containers_written} new container(s)"
             + (f" in {', '.join(result.namespaces)}" if result.namespaces else "")
             + (f", compacted {result.containers_compacted}" if result.containers_compacted else "")]
    if result.skipped:
        lines.append("  skipped: " + ", ".join(f"{n} {why}" for why, n in sorted(result.skipped.items())))
    if result.errors:
        lines.append(f"  {len(result.errors)} error(s), listed on stderr")
    return "\n".join(lines)


HDFS_HEAP_MODEL = "150 B/object"   # namenode.budget.HDFS_BYTES_PER_OBJECT, the usual HDFS sizing rule
MEASURABLE_OBJECTS = 10_000        # below this, RSS per object is mostly the server's own noise


def budget_summary(s) -> str:
    """'256 MB (29.85% used)', '1000 objects (2.60% used)', both, or 'unlimited'."""
    parts = []
    if s.max_memory:
        parts.append(f"{human_bytes(s.max_memory)} RSS ({percent(s.rss_bytes, s.max_memory)} used)")
    if s.max_objects:
        parts.append(f"{s.max_objects} objects ({percent(s.objects, s.max_objects)} used)")
    return ", ".join(parts) or "unlimited"


def budget_method(s) -> str:
    """What decides the budget's refusals (namenode/budget.py), '' without a budget. The
    refusal text says which rule refused; with room left, a memory budget runs its model."""
    if s.max_objects and (s.budget_refusal.startswith("namespace object budget") or not s.max_memory):
        return f"object count (refused at {s.max_objects} objects)"
    if not s.max_memory:
        return ""
    if "measured RSS" in s.budget_refusal:
        return "measured RSS (the model predicted room; trimmed RSS reached the budget)"
    return (f"model (predicted RSS = empty NameNode + overhead + objects x {s.bytes_per_object} B/object, "
            f"calibrated against the tables' byte counts and trimmed RSS; the first refusal latches the wall)")


def _namespace_memory(s, out) -> None:
    """The NameNode's objects and memory against its budget, and what a real HDFS NameNode would need."""
    print(f"Objects (files + directories + blocks): {s.objects}", file=out)
    print(f"NameNode memory (RSS): {byte_size(s.rss_bytes)}", file=out)
    if s.baseline_rss_bytes:
        print(f"  of which the NameNode with an empty namespace: {byte_size(s.baseline_rss_bytes)}", file=out)
    if s.max_memory:      # the budget's model: its figure is calibrated, not RSS / objects
        print(f"Bytes per object: {s.bytes_per_object} (the budget model's table bytes per object)", file=out)
    elif s.objects >= MEASURABLE_OBJECTS:
        print(f"Bytes per object: {s.bytes_per_object} (RSS above the empty namespace / objects)", file=out)
    else:   # a few objects are lost in the noise of the server's own buffers
        print(f"Bytes per object: not measurable below {MEASURABLE_OBJECTS} objects", file=out)
    print(f"Memory budget: {budget_summary(s)}", file=out)
    method = budget_method(s)
    if method:
        print(f"Budget method: {method}", file=out)
    if s.budget_refusal:
        print(f"  BUDGET REACHED, new files, directories and blocks are refused: {s.budget_refusal}", file=out)
    print(f"HDFS NameNode heap estimate ({HDFS_HEAP_MODEL}): {byte_size(s.hdfs_heap_estimate)}", file=out)


# namenode/README.md: a block entry is 35 B of columns + ~8 B of its id-index bucket; a packed
# file instead has one 12 B index row (container number, offset, length).
BLOCK_ENTRY_BYTES = 43
PACKED_ROW_BYTES = 12


def _small_files_report(s, replication: int, out) -> None:
    """Small files of one namespace and what packing them saves (estimates, from the layout's sizes)."""
    print(f"Small files: {s.small_staged} staged ({human_bytes(s.small_staged_bytes)}), {s.small_packed} packed "
          f"in {s.containers} containers", file=out)
    print(f"Container bytes: {byte_size(s.container_live_bytes)} live of {byte_size(s.container_bytes)} "
          f"({percent(s.container_live_bytes, s.container_bytes)} live; the rest is deleted files "
          f"until compaction)", file=out)
    small = s.small_staged + s.small_packed
    gross = small * BLOCK_ENTRY_BYTES
    net = gross - s.small_packed * PACKED_ROW_BYTES - s.containers * BLOCK_ENTRY_BYTES
    print(f"Memory saved by packing (estimate): {byte_size(max(net, 0))} = {small} block entries avoided x "
          f"{BLOCK_ENTRY_BYTES} B, less {s.small_packed} index rows x {PACKED_ROW_BYTES} B and {s.containers} "
          f"container blocks", file=out)
    print(f"DataNode block files avoided (estimate): {max(small - s.containers, 0) * replication} "
          f"({max(small - s.containers, 0)} blocks x {replication} replicas)", file=out)


def namenode_memory_columns(s) -> tuple[str, str, str]:
    """OBJECTS, RSS and BUDGET columns of `hfed cluster status` for one NameNode's stats
    (BUDGET: 'none', the larger of the memory and object percentages used, or FULL)."""
    if s is None or isinstance(s, BaseException):
        return "-", "-", "-"
    used = [100 * s.rss_bytes / s.max_memory] if s.max_memory else []
    used += [100 * s.objects / s.max_objects] if s.max_objects else []
    budget = "FULL" if s.budget_refusal else f"{max(used):.0f}%" if used else "none"
    return str(s.objects), human_size(s.rss_bytes).replace(" ", ""), budget


def security_summary(cfg) -> str:
    """One line saying what protects the cluster (README "Security")."""
    sec = cfg.security
    auth = ("token authentication (users prove who they are; DataNodes need block tokens)" if sec.tokens else
            "OFF: simple authentication (callers say who they are; anyone on this host can act as anyone)")
    return f"Security: {auth}; TLS {'on' if sec.tls else 'off'}"


def cluster_started(cluster, out=sys.stdout) -> None:
    """What `hfed cluster up` prints: the daemons, the config and how to use it."""
    cfg = cluster.config
    verb = "restarted (existing data kept)" if cluster.restarted else "started"
    print(f"hfed cluster {verb} in {cluster.dir}", file=out)
    for ns in cfg.nameservices.values():
        mounts = ", ".join(p for p, owner in cfg.mounts if owner == ns.name)
        print(f"  NameNode {ns.name:<6} {ns.address:<21} owns {mounts}", file=out)
    for row in cluster.status():
        if row["role"] == "datanode":
            print(f"  DataNode {row['name']:<6} {row['address']:<21} pid {row['pid']}", file=out)
    if cluster.webhdfs_address():
        print(f"  WebHDFS  http://{cluster.webhdfs_address()}/webhdfs/v1/", file=out)
    if cluster.emulation:
        em = cluster.emulation
        print(f"  Emulated hosts: {len(em.hosts)} network namespaces ({', '.join(h.netns for h in em.hosts)}) on "
              f"bridge {em.bridge} {em.bridge_ip}, each link limited to {em.link} both ways; run a program on a "
              f"host with: ip netns exec {em.hosts[0].netns} ... (hfed tf-run does it for its workers)", file=out)
    print(f"Config: {cluster.config_path}", file=out)
    print("The hfed command finds this cluster by itself; from other tools or shells:", file=out)
    print(f"  export HFED_CONF={cluster.config_path}", file=out)
    print(f"Logs in {cluster.log_dir}; stop with: hfed cluster down --dir {cluster.dir}", file=out)
    print(security_summary(cfg), file=out)
    if cfg.security.tokens:
        print("  You own the cluster (you can read its secret): your commands sign their own token. Other "
              "users need one: hfed dfsadmin -fetchToken USER FILE", file=out)


def cluster_status(cluster, out=sys.stdout, stats=None) -> None:
    """The daemons, one row each; NameNode rows show objects, RSS and budget use from
    ``stats`` ({nameservice: GetStatsResponse or the error}, running NameNodes only)."""
    stats = stats or {}
    print(f"Cluster {cluster.config.cluster_id} in {cluster.dir}", file=out)
    print(f"{'ROLE':<9} {'NAME':<8} {'ADDRESS':<21} {'PID':>8} {'OBJECTS':>10} {'RSS':>7} {'BUDGET':>6}  STATE",
          file=out)
    for row in cluster.status():
        state = "running" if row["alive"] else "stopped"
        objects, rss, budget = namenode_memory_columns(stats.get(row["name"]) if row["role"] == "namenode" else None)
        print(f"{row['role']:<9} {row['name']:<8} {row['address'] or '-':<21} {row['pid'] or '-':>8} "
              f"{objects:>10} {rss:>7} {budget:>6}  {state}", file=out)
    webhdfs = cluster.webhdfs_address()
    print(f"webhdfs  {f'http://{webhdfs}' if webhdfs else 'stopped'}", file=out)
    print(security_summary(cluster.config), file=out)
