"""The memory wall: how many files a NameNode holds before its memory budget
refuses more, and how adding namespaces moves the wall.

    python -m bench.memory_wall [--files 1M] [--namespaces 1,2,4] [--budget 64M]
                                [--users 8] [--batch 100] [--max-seconds 900]
                                [--content 1-16KiB] [--skip-restarts]
                                [--skip-inproc] [--skip-image] [--skip-wall]

Part 1, bytes per file (in a fresh subprocess, no RPC): a Namesystem filled through
the NameNode's own op functions with one-block files at replication 3 (three
registered DataNodes report every replica), 16-byte names, 1,000 files per
directory; RSS growth / files at checkpoints up to --files (10M takes minutes and
~2 GB with the compact layout). Compared with the 150 B goal, ~340 B for a dict of
Python objects and HDFS's ~300 B per one-block file.

Part 2, the wall: for each N in --namespaces, a MiniCluster with N NameNodes, each
with max_memory = empty-NameNode RSS + --budget, mounts spreading the load (one per
namespace), no DataNodes (empty files need none); the locust `wall` scenario
(bench/locustfile.py) creates files until every namespace refuses. Files per
namespace at the wall, RSS and files/s over time come from its GetStats samples.
What the budget promises is checked from outside: the files each namespace held at
its first refusal vs at the end (goal: within 2%), every NameNode's RSS sampled
every 50 ms (goal: peak <= max_memory + max(4 MiB, 2%)), capacity vs namespaces
(goal: linear), and, for N=1, the wall after restarting the NameNode twice (goal:
within 2% of where it was). --content 1-16KiB fills with small files of random
text-like bytes instead of empty files (one DataNode stores them); those figures
are kept apart from the empty-file ones.

Results are kept in bench/results/memory_wall.json (a run updates the parts it ran)
and rendered to memory_wall.md plus PNG plots in bench/results/.
"""
from __future__ import annotations

import argparse
import csv
import signal
import gc
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench import big_namespace
from protos.config import parse_size

RESULTS = Path(__file__).parent / "results"
STATE = RESULTS / "memory_wall.json"
LOCUSTFILE = Path(__file__).parent / "locustfile.py"
REPO_ROOT = Path(__file__).resolve().parent.parent

GOAL_BYTES_PER_FILE = 150
DICT_OF_OBJECTS_BYTES = 340
HDFS_BYTES_PER_ONE_BLOCK_FILE = 300
FILES_PER_DIR = 1000
REPLICATION = 3
BLOCK_BYTES = 64 << 20
PEAK_SAMPLE_SECONDS = 0.05       # how often the NameNodes' RSS is read from outside
RESTARTS = 2                     # N=1: restart the NameNode this often and find the wall again
GOAL_FIRST_REFUSAL = 0.02        # files at the first refusal within 2% of the files at the end
CHECKPOINTS = (10_000, 100_000, 250_000, 500_000, 1_000_000, 2_000_000, 5_000_000, 10_000_000)


def progress(msg: str) -> None:
    print(msg, flush=True)


# --------------------------------------------------- part 1: bytes per file
def bench_namesystem():
    """An in-process Namesystem with REPLICATION registered DataNodes and /bench, for
    filling through the NameNode's op functions (no RPC)."""
    from namenode.namesystem import Namesystem
    from namenode.ops import dirs

    fsn = Namesystem("ns-bench", "CID-bench", "BP-bench", "bench", replication=REPLICATION)
    for i in range(REPLICATION):
        fsn.register_datanode(f"dn-{i}", f"host-{i}", f"127.0.0.1:{9866 + i}")
        fsn.heartbeat(f"dn-{i}", 1 << 50, 0, 1 << 50, 0)
    dirs.mkdirs(fsn, fsn.ns.caller("bench"), "/bench", 0o755, True)
    return fsn


def fill_namesystem(total: int) -> None:
    """Child process: fill a Namesystem, print one JSON line per checkpoint."""
    import psutil
    from namenode import replication
    from namenode.ops import dirs, files

    process = psutil.Process()
    fsn = bench_namesystem()
    caller = fsn.ns.caller("bench")
    client = "memory-wall"
    gc.collect()
    rss0 = process.memory_info().rss
    checkpoints = sorted({c for c in CHECKPOINTS if c < total} | {total})
    start = time.perf_counter()
    for i in range(total):
        d, j = divmod(i, FILES_PER_DIR)
        if j == 0:
            dirs.mkdirs(fsn, caller, f"/bench/d{d:07d}", 0o755, False)
            replication.tick(fsn)     # what the monitor does every second: drains the blocks to check
        path = f"/bench/d{d:07d}/{i:016x}"      # 16-byte file names
        files.create(fsn, caller, path, 0o644, False, False, REPLICATION, 0, client)
        block, targets = files.add_block(fsn, caller, path, client, None, set(), "")
        for target in targets:
            fsn.incremental_report(target.uuid, [(block.block_id, block.generation_stamp, BLOCK_BYTES)], [])
        files.complete(fsn, caller, path, client, (block.block_id, BLOCK_BYTES))
        if i + 1 == checkpoints[0]:
            checkpoints.pop(0)
            replication.tick(fsn)
            gc.collect()
            growth = process.memory_info().rss - rss0
            print(json.dumps({"files": i + 1, "directories": fsn.ns.table.directories, "blocks": len(fsn.blocks),
                              "rss_growth": growth, "bytes_per_file": growth / (i + 1),
                              "seconds": time.perf_counter() - start}), flush=True)


def bytes_per_file(total: int) -> list[dict]:
    progress(f"part 1: filling an in-process Namesystem with {total:,} one-block files (replication "
             f"{REPLICATION}, {FILES_PER_DIR} per directory)")
    cmd = [sys.executable, "-m", "bench.memory_wall", "--fill-child", str(total)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT)
    points = []
    for line in proc.stdout:
        point = json.loads(line)
        point["when"] = time.strftime("%Y-%m-%d %H:%M")
        points.append(point)
        progress(f"  {point['files']:>12,} files  RSS +{point['rss_growth'] / 2**20:9.1f} MiB  "
                 f"{point['bytes_per_file']:7.1f} B/file  ({point['seconds']:.0f} s)")
    if proc.wait() != 0:
        raise RuntimeError(f"the fill subprocess failed with exit code {proc.returncode}")
    return points


# ------------------------------------------------------------ part 2: wall
def empty_namenode_rss(work: Path) -> int:
    """RSS of a NameNode holding nothing, so every run gets the same headroom."""
    from client.minicluster import MiniCluster
    with MiniCluster(work / "probe", namespaces=1, datanodes=0) as cluster:
        time.sleep(1.0)
        return cluster.stats(cluster.nameservices[0]).rss_bytes


def read_samples(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def show_progress(samples: list[dict], what: str, elapsed: float) -> None:
    latest: dict[str, dict] = {}
    for row in samples:
        latest[row["nameservice"]] = row
    parts = [f"{ns} {int(r['files']):,} files {int(r['rss_bytes']) / 2**20:.0f} MiB"
             f"{' FULL' if r['refusing'] == '1' else ''}" for ns, r in sorted(latest.items())]
    progress(f"  {what} {elapsed:5.0f} s: " + ("; ".join(parts) or "starting"))


def allowed_peak(max_memory: int) -> int:
    """What the budget promises RSS stays under (namenode.budget.overshoot)."""
    return max_memory + max(4 << 20, max_memory // 50)


class PeakRss:
    """Every NameNode's RSS read from outside every PEAK_SAMPLE_SECONDS, in a thread:
    GetStats samples once a second and would miss a table growing for 100 ms."""

    def __init__(self, cluster, names: list[str]):
        import psutil
        self.procs = {ns: psutil.Process(cluster.namenode_pid(ns)) for ns in names}
        self.peak = {ns: 0 for ns in names}
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> "PeakRss":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(PEAK_SAMPLE_SECONDS):
            for ns, proc in self.procs.items():
                try:
                    self.peak[ns] = max(self.peak[ns], proc.memory_info().rss)
                except Exception:  # noqa: BLE001 - a NameNode that is gone has no RSS to read
                    pass
            self.samples += 1


def locust_wall(cluster, prefix: Path, args, what: str) -> tuple[int, list[dict], str, float, dict]:
    """Run the locust wall scenario against ``cluster`` until every namespace refused;
    (exit code, GetStats samples, locust's output, seconds, peak RSS per namespace)."""
    ns_csv = Path(f"{prefix}_namespaces.csv")
    cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary",
           "-u", str(args.users), "-r", str(args.users), "-t", f"{args.max_seconds}s",
           "--scenario", "wall", "--batch", str(args.batch), "--hfed-conf", str(cluster.config_path),
           "--csv", str(prefix), "--ns-csv", str(ns_csv), *(["--content", args.content] if args.content else [])]
    log_path = Path(f"{cluster.dir}-{Path(prefix).name}.log")
    start = time.monotonic()
    with open(log_path, "w") as log, PeakRss(cluster, cluster.nameservices) as peaks:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
        try:
            while proc.poll() is None:
                time.sleep(min(10.0, args.max_seconds / 20 + 1))
                show_progress(read_samples(ns_csv), what, time.monotonic() - start)
        finally:
            if proc.poll() is None:     # interrupted: do not leave locust running
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:   # users stuck in a call do not stop on SIGTERM
                    proc.kill()
                    proc.wait(30)
    return proc.returncode, read_samples(ns_csv), log_path.read_text(), time.monotonic() - start, peaks.peak


def restarts(cluster, prefix: Path, wall_files: int, args) -> list[dict]:
    """Restart the (only) NameNode RESTARTS times; after each, the same locust load
    fills it until it refuses again (the overhead of serving 8 users is not that of 1,
    so the load after the restart is the load before it)."""
    ns = cluster.nameservices[0]
    found = []
    for i in range(1, RESTARTS + 1):
        cluster.kill_namenode(ns, signal.SIGTERM)      # a clean stop writes a checkpoint: the restart loads it
        cluster.start_namenode(ns)
        loaded = cluster.stats(ns).files
        code, samples, _log, _s, peak = locust_wall(cluster, Path(f"{prefix}_restart{i}"), args, f"restart {i}")
        last = {r["nameservice"]: r for r in samples}[ns]
        wall = int(last["first_refusal_files"] or 0)
        found.append({"loaded": loaded, "wall": wall, "end": int(last["files"]), "vs_before": wall / wall_files,
                      "peak_rss": peak[ns], "reached": code == 0})
        progress(f"  restart {i}: loaded {loaded:,} files, first refusal at {wall:,} files "
                 f"({wall / wall_files:.4f}x the wall before), {int(last['files']):,} at the end")
        wall_files = wall
    return found


def run_wall(namespaces: int, max_memory: int, args, work: Path) -> dict:
    from client.minicluster import MiniCluster, nameservice_names
    prefix = RESULTS / f"memory_wall{'_content' if args.content else ''}_n{namespaces}"
    ns_csv = Path(f"{prefix}_namespaces.csv")
    budgets = {ns: {"max_memory": max_memory} for ns in nameservice_names(namespaces)}
    # Edits are not fsynced here: the wall is about memory, and syncs would only slow the fill.
    # A checkpoint snapshots the namespace and briefly needs memory on top of it, so
    # by default none runs during the fill and the wall is the namespace's own size.
    settings = {"durable_edits": False}
    if not args.checkpoint_txns:
        settings.update(checkpoint_txns=1 << 62, checkpoint_period=1e12)
    else:
        settings.update(checkpoint_txns=args.checkpoint_txns)
    # Small files with content need a DataNode to hold their containers (one copy: the
    # wall is the NameNode's memory, not the DataNodes').
    cluster = MiniCluster(work / f"n{namespaces}", namespaces=namespaces, datanodes=1 if args.content else 0,
                          replication=1, settings=settings, nameservice_settings=budgets)
    with cluster:
        code, samples, log_text, seconds, peak = locust_wall(cluster, prefix, args, f"N={namespaces}")
        final = {r["nameservice"]: r for r in samples}
        first = int(final[cluster.nameservices[0]]["first_refusal_files"] or 0)
        again = restarts(cluster, prefix, first, args) \
            if namespaces == 1 and code == 0 and first and not args.skip_restarts else []
    reached = code == 0
    for line in log_text.splitlines():
        if line.startswith("memory wall"):
            progress(f"  {line}")
    if not reached:
        progress(f"  locust exited with {code}; last lines:\n" + "\n".join(log_text.splitlines()[-15:]))
    progress("  peak RSS (every 50 ms) / max_memory: " + ", ".join(
        f"{ns} {rss / max_memory:.3f}" for ns, rss in sorted(peak.items())))
    return {"namespaces": namespaces, "reached": reached, "seconds": round(seconds, 1),
            "files": {ns: int(r["files"]) for ns, r in sorted(final.items())},
            "first_refusal": {ns: int(r["first_refusal_files"] or 0) for ns, r in sorted(final.items())},
            "peak_rss": dict(sorted(peak.items())), "restarts": again,
            "rss": {ns: int(r["rss_bytes"]) for ns, r in sorted(final.items())},
            "bytes_per_file": {ns: float(r["bytes_per_file"] or 0) for ns, r in sorted(final.items())},
            "samples_csv": ns_csv.name}


def walls(args) -> dict:
    with tempfile.TemporaryDirectory(prefix="hfed-memwall-") as tmp:
        work = Path(tmp)
        empty = empty_namenode_rss(work)
        max_memory = empty + args.budget
        progress(f"part 2: empty NameNode RSS {empty / 2**20:.1f} MiB; budget per namespace "
                 f"max_memory = {max_memory / 2**20:.1f} MiB (+{args.budget / 2**20:.0f} MiB)")
        runs = []
        for n in args.namespaces:
            progress(f"N={n}: filling {n} namespace(s) until each refuses")
            runs.append(run_wall(n, max_memory, args, work))
    return {"empty_rss": empty, "budget": args.budget, "max_memory": max_memory, "users": args.users,
            "batch": args.batch, "checkpoint_txns": args.checkpoint_txns, "content": args.content, "runs": runs,
            "note": args.note,
            "when": time.strftime("%Y-%m-%d %H:%M")}


# ------------------------------------------------------------------ report
def capacity_factors(wall: dict) -> dict[int, float]:
    totals = {run["namespaces"]: sum(run["files"].values()) for run in wall["runs"]}
    base = totals.get(1)
    return {n: total / base for n, total in totals.items()} if base else {}


def plot(wall: dict) -> list[str]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = []
    series = {run["namespaces"]: read_samples(RESULTS / run["samples_csv"]) for run in wall["runs"]}
    for key, ylabel, scale, title in (("rss_bytes", "NameNode RSS (MiB)", 2**-20, "RSS vs files per namespace"),
                                      ("files_per_s", "files created per second", 1, "create rate vs files")):
        fig, ax = plt.subplots(figsize=(8, 5))
        for n, rows in sorted(series.items()):
            for ns in sorted({r["nameservice"] for r in rows}):
                points = [(int(r["files"]), float(r[key]) * scale) for r in rows
                          if r["nameservice"] == ns and r[key] not in ("", None)]
                ax.plot([p[0] for p in points], [p[1] for p in points], label=f"N={n} {ns}", linewidth=1)
        if key == "rss_bytes":
            ax.axhline(wall["max_memory"] * scale, color="red", linestyle="--", label="max_memory")
        ax.set_xlabel("files in the namespace")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        name = f"memory_wall_{'rss' if key == 'rss_bytes' else 'ops'}.png"
        fig.savefig(RESULTS / name, dpi=110, bbox_inches="tight")
        plt.close(fig)
        names.append(name)
    totals = {run["namespaces"]: sum(run["files"].values()) for run in wall["runs"]}
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ns_counts = sorted(totals)
    ax.plot(ns_counts, [totals[n] for n in ns_counts], "o-", label="measured")
    if 1 in totals:
        ax.plot(ns_counts, [totals[1] * n for n in ns_counts], "--", color="grey", label="linear (N x one namespace)")
    ax.set_xlabel("namespaces")
    ax.set_ylabel("files at the wall (all namespaces)")
    ax.set_xticks(ns_counts)
    ax.set_title("total capacity vs number of namespaces")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.savefig(RESULTS / "memory_wall_capacity.png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return names + ["memory_wall_capacity.png"]


def part1_table(points: list[dict]) -> list[str]:
    lines = ["| files | directories | blocks | RSS growth | bytes/file | vs 150 B goal | vs dict of objects (~340 B) "
             "| vs HDFS (~300 B) | fill time | measured |", "|---:|---:|---:|---:|---:|---|---|---|---:|---|"]
    for p in points:
        b = p["bytes_per_file"]
        lines.append(f"| {p['files']:,} | {p['directories']:,} | {p['blocks']:,} | {p['rss_growth'] / 2**20:,.1f} MiB "
                     f"| **{b:,.0f}** | {b / GOAL_BYTES_PER_FILE:.2f}x ({'met' if b <= GOAL_BYTES_PER_FILE else 'not met'})"
                     f" | {b / DICT_OF_OBJECTS_BYTES:.2f}x | {b / HDFS_BYTES_PER_ONE_BLOCK_FILE:.2f}x "
                     f"| {p['seconds']:.0f} s | {p.get('when', '')} |")
    return lines


def render(state: dict) -> str:
    lines = ["# The memory wall: bytes per file and capacity vs namespaces", "",
             f"Measured {state.get('when', '?')} on {state.get('machine', '?')}. "
             "Re-run with `make memwall` (or `python -m bench.memory_wall --help`).", ""]
    points = state.get("bytes_per_file") or []
    lines += ["## Resident memory per one-block file", "",
              "A Namesystem filled in a fresh process through the NameNode's own op functions (create, "
              "add_block, three replica reports, complete): one-block files at replication 3, 16-byte names, "
              f"{FILES_PER_DIR:,} files per directory. RSS growth over the empty namespace divided by files "
              "(the directories and blocks are included in the growth).", ""]
    lines += part1_table(points) if points else ["(not measured yet: `python -m bench.memory_wall --skip-wall`)"]
    at = {p["files"]: p["bytes_per_file"] for p in points}
    loaded = {p["files"]: p for p in state.get("loaded") or []}
    lines += ["", "The same files loaded from a namespace image in a fresh NameNode process, as after a restart "
              "(`bench/big_namespace.py`: the image is written directly with numpy; the NameNode's own "
              "startup path loads it and returns the loader's freed buffers to the OS):", "",
              "| files | RSS growth | bytes/file | arrays alone | load time |", "|---:|---:|---:|---:|---:|"]
    lines += [f"| {p['files']:,} | {p['rss_growth'] / 2**20:,.0f} MiB | **{p['bytes_per_file']:,.0f}** | "
              f"{p['layout_bytes_per_file']:,.0f} | {p['load_seconds']:.1f} s |" for _, p in sorted(loaded.items())]
    lines += ["", "| at | filled op by op | loaded from an image | goal <= 150 B |", "|---|---:|---:|---|"]
    for n, label in ((1_000_000, "1M files"), (10_000_000, "10M files")):
        values = [v for v in (at.get(n), loaded.get(n, {}).get("bytes_per_file")) if v is not None]
        cells = [f"{v:,.0f}" if v is not None else "not measured"
                 for v in (at.get(n), loaded.get(n, {}).get("bytes_per_file"))]
        verdict = ("met" if max(values) <= GOAL_BYTES_PER_FILE else "not met") if values else ""
        lines.append(f"| {label} | {cells[0]} | {cells[1]} | {verdict} |")
    lines += ["", "## The wall: capacity vs number of namespaces", ""]
    lines += wall_section(state["wall"], content=False) if state.get("wall") else \
        ["(not measured yet: `python -m bench.memory_wall --skip-inproc`)"]
    if state.get("wall_content"):
        lines += ["", "## The wall with small files of content", ""] + wall_section(state["wall_content"], content=True)
    return "\n".join(lines) + "\n"


def wall_section(wall: dict, content: bool) -> list[str]:
    what = (f"small files of {wall['content']} random text-like bytes each (written with pipe_many; one "
            "DataNode holds their containers)" if content else "empty files")
    lines = [f"Measured {wall.get('when', '?')}. Each NameNode gets max_memory = empty RSS "
             f"{wall['empty_rss'] / 2**20:.1f} MiB + {wall['budget'] / 2**20:.0f} MiB = "
             f"{wall['max_memory'] / 2**20:.1f} MiB. The locust `wall` scenario ({wall['users']} users, "
             f"{wall['batch']} files per request, one mount per namespace) creates {what} (1,000 per directory) "
             "until every namespace has refused every create with ENOSPC for 2 s. Edits are not fsynced in "
             "these runs (the wall is about memory). "
             + ("No checkpoint runs during the fill: a checkpoint snapshots the namespace and briefly needs "
                "memory on top of it." if not wall.get("checkpoint_txns") else
                f"Checkpoints every {wall['checkpoint_txns']:,} edits, as configured: their snapshots count "
                "against the budget too."), "",
             "The NameNode decides from its model (namenode/budget.py): predicted RSS = empty NameNode + "
             "overhead (trimmed RSS beyond the tables) + objects x the tables' bytes per object at their highest, "
             "and the first refusal latches the wall until deletes." + (f" {wall['note']}" if wall.get("note") else ""),
             "",
             "| namespaces | files at the wall, per namespace | total files | capacity vs 1 namespace | "
             "bytes/file (RSS growth / files) | fill time | wall reached |",
             "|---:|---|---:|---:|---|---:|---|"]
    factors = capacity_factors(wall)
    for run in wall["runs"]:
        per_ns = ", ".join(f"{ns} {n:,}" for ns, n in run["files"].items())
        per_file = ", ".join(f"{b:,.0f}" for b in run["bytes_per_file"].values())
        factor = factors.get(run["namespaces"])
        lines.append(f"| {run['namespaces']} | {per_ns} | {sum(run['files'].values()):,} | "
                     f"{f'{factor:.2f}x' if factor else ''} | {per_file} | {run['seconds']:.0f} s | "
                     f"{'yes' if run['reached'] else 'NO'} |")
    if factors:
        measured = ", ".join(f"{factor:.2f}x with {n}" for n, factor in sorted(factors.items()) if n != 1)
        lines += ["", f"Capacity vs one namespace: {measured} (goal: linear, 2x and 4x: each namespace brings "
                      "its own memory budget)."]
    lines += ["", "What the budget promises, checked from outside (goals: files at the first refusal within "
              f"{GOAL_FIRST_REFUSAL:.0%} of the files at the end; peak RSS, read every "
              f"{PEAK_SAMPLE_SECONDS * 1000:.0f} ms, at most max_memory + max(4 MiB, 2%) = "
              f"{allowed_peak(wall['max_memory']) / wall['max_memory']:.3f}x max_memory):", "",
              "| namespaces | namespace | files at first refusal / at end | peak RSS / max_memory | goals |",
              "|---:|---|---:|---:|---|"]
    for run in wall["runs"]:
        for ns, files in run["files"].items():
            first = run.get("first_refusal", {}).get(ns, 0)
            peak = run.get("peak_rss", {}).get(ns, 0)
            ratio = first / files if files and first else 0.0
            met = [abs(1 - ratio) <= GOAL_FIRST_REFUSAL, 0 < peak <= allowed_peak(wall["max_memory"])]
            verdict = "met" if all(met) else "NOT met: " + ", ".join(
                name for name, ok in zip(("first refusal", "peak RSS"), met) if not ok)
            lines.append(f"| {run['namespaces']} | {ns} | {ratio:.4f} | {peak / wall['max_memory']:.3f} | {verdict} |")
    for run in wall["runs"]:
        for i, again in enumerate(run.get("restarts") or [], 1):
            if i == 1:
                lines += ["", "A restart must not move the wall by more than 2% (N=1: the NameNode stopped "
                              "cleanly, so it loads a checkpoint; then the same locust load fills it until it "
                              "refuses again):", "",
                          "| restart | files loaded | first refusal at | wall after / before | peak RSS / max_memory "
                          "| goals |", "|---:|---:|---:|---:|---:|---|"]
            peak = again.get("peak_rss", 0) / wall["max_memory"]
            met = [abs(again["vs_before"] - 1) <= GOAL_FIRST_REFUSAL,
                   again.get("peak_rss", 0) <= allowed_peak(wall["max_memory"])]
            verdict = "met" if all(met) else "NOT met: " + ", ".join(
                name for name, ok in zip(("wall moved", "peak RSS"), met) if not ok)
            lines.append(f"| {i} | {again['loaded']:,} | {again['wall']:,} | {again['vs_before']:.4f} | {peak:.3f} "
                         f"| {verdict} |")
    prefix = "memory_wall_content" if content else "memory_wall"
    if not content:
        lines += ["", "![RSS vs files](memory_wall_rss.png)", "", "![create rate vs files](memory_wall_ops.png)", "",
                  "![capacity vs namespaces](memory_wall_capacity.png)"]
    lines += ["", f"Raw samples: `{prefix}_n<N>_namespaces.csv` (GetStats every second per namespace) and the "
                  f"locust CSVs `{prefix}_n<N>_stats*.csv` and `_failures.csv` (grouped by kind) beside this page."]
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="memory_wall", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", default="1M", help="part 1: files to fill in-process (10M: ~2 GB, minutes)")
    parser.add_argument("--namespaces", default="1,2,4", help="part 2: namespace counts to run")
    parser.add_argument("--budget", default="64M", help="part 2: memory per namespace above an empty NameNode")
    parser.add_argument("--users", type=int, default=8, help="part 2: locust users")
    parser.add_argument("--batch", type=int, default=100, help="part 2: files per create request")
    parser.add_argument("--max-seconds", type=int, default=900, help="part 2: give up on one run after this")
    parser.add_argument("--content", default="", help="part 2: small files of this many random text-like bytes "
                                                      "(1-16KiB) instead of empty files (kept apart in the report)")
    parser.add_argument("--note", default="", help="part 2: a sentence shown with this run's figures")
    parser.add_argument("--skip-restarts", action="store_true", help="part 2: no restarts after the N=1 wall")
    parser.add_argument("--checkpoint-txns", type=int, default=0,
                        help="part 2: NameNode checkpoint every this many edits (0: none during the fill)")
    parser.add_argument("--image-files", default="1M,10M",
                        help="part 1b: namespaces of these sizes loaded from an image (bench/big_namespace.py)")
    parser.add_argument("--skip-inproc", action="store_true", help="keep part 1's previous figures")
    parser.add_argument("--skip-image", action="store_true", help="keep part 1b's previous figures")
    parser.add_argument("--skip-wall", action="store_true", help="keep part 2's previous figures")
    parser.add_argument("--fill-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.fill_child:
        fill_namesystem(args.fill_child)
        return 0
    args.budget = parse_size(args.budget)
    args.namespaces = [int(n) for n in args.namespaces.split(",") if n.strip()]
    RESULTS.mkdir(exist_ok=True)
    if not args.skip_inproc:
        points = bytes_per_file(big_namespace.parse_count(args.files))
        state = save(lambda st: st.update(bytes_per_file=merge_points(st.get("bytes_per_file", []), points)))
    if not args.skip_image:
        loaded = []
        for n in (big_namespace.parse_count(text) for text in args.image_files.split(",") if text.strip()):
            progress(f"part 1b: a NameNode loading {n:,} one-block files from an image")
            loaded.append(dict(big_namespace.run(n), when=time.strftime("%Y-%m-%d %H:%M")))
        state = save(lambda st: st.update(loaded=merge_points(st.get("loaded", []), loaded)))
    if not args.skip_wall:
        key = "wall_content" if args.content else "wall"
        wall = walls(args)
        state = save(lambda st: st.update({key: merge_runs(st.get(key), wall)}))
        if not args.content:       # the plots show the empty-file wall
            for name in plot(state[key]):
                progress(f"wrote {RESULTS / name}")
    if args.skip_inproc and args.skip_wall and args.skip_image:
        state = save(lambda st: None)      # re-render the page from the kept figures
    factors = capacity_factors(state.get("wall") or {"runs": []})
    if factors:
        progress("capacity vs one namespace: " + ", ".join(f"N={n}: {f:.2f}x" for n, f in sorted(factors.items())))
    return 0


def save(change) -> dict:
    """Apply ``change`` to the kept figures (re-read now: another run may have saved
    the other part meanwhile), write them and the page."""
    state = json.loads(STATE.read_text()) if STATE.exists() else {}
    change(state)
    state["when"] = time.strftime("%Y-%m-%d")
    state["machine"] = f"{os.cpu_count()} cores, Python {platform.python_version()}"
    STATE.write_text(json.dumps(state, indent=1) + "\n")
    (RESULTS / "memory_wall.md").write_text(render(state))
    progress(f"wrote {RESULTS / 'memory_wall.md'}")
    return state


def merge_runs(old: dict | None, new: dict) -> dict:
    """A run of some namespace counts keeps the other counts' runs of an earlier run with
    the same budget and content (newest figures win)."""
    if not old or (old.get("budget"), old.get("content", "")) != (new["budget"], new["content"]):
        return new
    runs = {run["namespaces"]: run for run in old["runs"]}
    runs.update({run["namespaces"]: run for run in new["runs"]})
    return dict(new, runs=[runs[n] for n in sorted(runs)])


def merge_points(old: list[dict], new: list[dict]) -> list[dict]:
    """A 1M run keeps an earlier 10M run's larger checkpoints (and vice versa the new figures win)."""
    by_files = {p["files"]: p for p in old}
    by_files.update({p["files"]: p for p in new})
    return [by_files[n] for n in sorted(by_files)]


if __name__ == "__main__":
    sys.exit(main())
