"""Past the memory wall without stopping: add a namespace to the running cluster and
move half of the full namespace into it while users keep writing.

    python -m bench.rebalance [--max-objects 100000] [--users 8] [--batch 10]
                              [--hold 5] [--after 60] [--max-seconds 600] [--tiny]

A MiniCluster with two namespaces (ns-a owns /user and /tmp, ns-b owns /data) and
--datanodes DataNodes (default 1); ns-b has a budget of --max-objects (files + directories + blocks).
Locust users (bench/rebalance_users.py, in a subprocess) create empty files under
/data/proj-a and /data/proj-b (writers alternate between the two) and read back what
they made, until ns-b refuses every create with ENOSPC: the wall. --hold seconds
later `MiniCluster.add_namespace("ns-c")` starts a third NameNode and
`client.balance.move(session, "/data/proj-b", "ns-c")` moves proj-b into it while the
users go on; after the cutover writes to /data/proj-b land in ns-c, and ns-b has
proj-b's room back for proj-a. --after seconds later the run stops.

Measured: every 0.5 s per namespace its NameNode's RSS (psutil, from outside) and
GetStats (files, objects); creates/s per namespace (from its file count) and per half
succeeded / refused (from the users); the longest create of proj-b's writers while
the move ran (goal <= 2 s; a create refused with errors.Retry during the cutover is
retried and counts as one slow create); errors other than the wall's ENOSPC (goal 0,
for readers and writers). Figures go to bench/results/rebalance.md and
rebalance.json, the timeline to rebalance.png (--results DIR: elsewhere; --tiny: a
seconds-long run for the tests).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from bench.move import wait_for_bound_addresses

RESULTS = Path(__file__).parent / "results"
MOVE_FIGURES = ("files", "directories", "blocks", "replicas_linked", "rounds", "entries", "seconds", "fenced_seconds")
REPO_ROOT = Path(__file__).resolve().parent.parent
USERS_FILE = Path(__file__).parent / "rebalance_users.py"
FULL_NS, NEW_NS = "ns-b", "ns-c"
MOVED = "/data/proj-b"
SAMPLE_SECONDS = 0.5
WALL_SECONDS = 2.0            # the wall: every create refused for this long
GOAL_LATENCY_S = 2.0
COLORS = {"ns-a": "tab:blue", "ns-b": "tab:orange", NEW_NS: "tab:green"}     # the same in every panel
TINY = dict(max_objects=600, users=4, batch=5, hold=1.0, after=4.0, max_seconds=120)


def progress(msg: str) -> None:
    print(msg, flush=True)


# ---------------------------------------------------------------- the cluster
def start_cluster(work: Path, args):
    from client.minicluster import MiniCluster
    # Edits are not fsynced: the wall is about memory and objects, syncs would only slow the fill.
    settings = {"durable_edits": False}
    return MiniCluster(work / "cluster", namespaces=2, datanodes=args.datanodes, replication=1, heartbeat_interval=0.5,
                       settings=settings, nameservice_settings={FULL_NS: {"max_objects": args.max_objects}}).up()


class Sampler:
    """Every SAMPLE_SECONDS, per namespace of the cluster (a namespace added later
    included): RSS read from outside, and GetStats' files, objects and refusal."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.rows: list[dict] = []
        self.procs: dict[str, psutil.Process] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> "Sampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            now = time.time()
            for ns in self.cluster.nameservices:
                try:
                    self.rows.append(self._sample(ns, now))
                except Exception:  # noqa: BLE001 - a namespace starting or busy shows as a gap
                    pass

    def _sample(self, ns: str, now: float) -> dict:
        proc = self.procs.get(ns)
        if proc is None:
            proc = self.procs[ns] = psutil.Process(self.cluster.namenode_pid(ns))
        stats = self.cluster.stats(ns, timeout=2.0)
        return {"t": now, "ns": ns, "rss": proc.memory_info().rss, "files": stats.files,
                "directories": stats.directories, "objects": stats.objects, "max_objects": stats.max_objects,
                "refusing": bool(stats.budget_refusal)}


# -------------------------------------------------------------------- users
class Users:
    """The locust subprocess and the counts it writes (one JSON line per 0.5 s)."""

    def __init__(self, cluster, work: Path, args):
        self.counts_path = work / "counts.jsonl"
        self.log_path = work / "locust.log"
        self.cmd = [sys.executable, "-m", "locust", "-f", str(USERS_FILE), "--headless", "--only-summary",
                    "-u", str(args.users), "-r", str(args.users), "-t", f"{int(args.max_seconds) + 60}s",
                    "--hfed-conf", str(cluster.config_path), "--counts-out", str(self.counts_path),
                    "--batch", str(args.batch)]
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "Users":
        self.counts_path.touch()
        env = {k: v for k, v in os.environ.items() if k != "HFED_CONF"}
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(self.cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT, env=env)
        return self

    def __exit__(self, *exc) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)     # locust stops its users and writes its last line
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:     # a user stuck in a call does not stop on SIGTERM
                self.proc.kill()
                self.proc.wait(30)

    def lines(self) -> list[dict]:
        with open(self.counts_path) as f:
            return [json.loads(line) for line in f if line.strip()]

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            tail = "\n".join(self.log_path.read_text().splitlines()[-20:])
            raise RuntimeError(f"locust exited with code {self.proc.returncode}:\n{tail}")


def refused_everything_since(lines: list[dict], seconds: float) -> bool:
    """Every create of the last ``seconds`` refused for space (and there were some)."""
    if not lines:
        return False
    recent = [line for line in lines if line["t"] >= lines[-1]["t"] - seconds]
    if recent[-1]["t"] - recent[0]["t"] < seconds - 2 * SAMPLE_SECONDS:
        return False
    writes = [w for line in recent for w in line["writes"].values()]
    return sum(w["ok"] for w in writes) == 0 and sum(w["nospace"] for w in writes) > 0


def wait_for_wall(users: Users, sampler: Sampler, deadline: float) -> float:
    """Until ns-b refuses every create for WALL_SECONDS; returns when it began refusing."""
    last_report = 0.0
    while True:
        users.check_alive()
        lines = users.lines()
        if refused_everything_since(lines, WALL_SECONDS):
            refusing = [line["t"] for line in lines if any(w["nospace"] for w in line["writes"].values())]
            return refusing[0] if refusing else time.time()
        if time.time() > deadline:
            raise TimeoutError(f"{FULL_NS} did not refuse creates before --max-seconds; raise it or lower "
                               "--max-objects")
        if time.time() - last_report >= 10:
            last_report = time.time()
            latest = {row["ns"]: row for row in sampler.rows}
            progress("  filling: " + "; ".join(f"{ns} {r['objects']:,} objects, {r['rss'] / 2**20:.0f} MiB"
                                               for ns, r in sorted(latest.items())))
        time.sleep(SAMPLE_SECONDS)


# ---------------------------------------------------------------- the steps
def add_namespace(cluster, name: str) -> dict:
    start = time.time()
    address = cluster.add_namespace(name)
    return {"name": name, "address": address, "start": start, "end": time.time()}


def move(conf: str, path: str, target: str) -> dict:
    from client import balance
    from client.session import ClusterSession
    session = ClusterSession(conf)
    last = [0.0]

    def show(*args, **kwargs):
        if time.monotonic() - last[0] >= 1.0:
            last[0] = time.monotonic()
            progress("  move: " + " ".join(str(a) for a in (*args, *kwargs.values())))
    try:
        start = time.time()
        report = balance.move(session, path, target, progress=show)
        end = time.time()
    finally:
        session.close()
    figures = {name: getattr(report, name) for name in MOVE_FIGURES if hasattr(report, name)}
    return {"path": path, "target": target, "start": start, "end": end, "report": figures}


def mount_listing(conf: str) -> str:
    """What `hfed mount -ls` prints."""
    env = {k: v for k, v in os.environ.items() if k != "HFED_CONF"}
    done = subprocess.run([sys.executable, "-m", "client.cli", "--conf", conf, "mount", "-ls"], cwd=REPO_ROOT,
                          env=env, capture_output=True, text=True, timeout=60)
    return (done.stdout + done.stderr).rstrip()


def where_moved_files_are(conf: str) -> dict:
    from client.fs import HfedFileSystem
    from client.session import ClusterSession
    session = ClusterSession(conf)
    try:
        fs = HfedFileSystem(session=session, skip_instance_cache=True)
        return {half: {"namespace": session.resolve(f"/data/{half}").nameservice,
                       "files": fs.content_summary(f"/data/{half}")["file_count"]} for half in ("proj-a", "proj-b")}
    finally:
        session.close()


def run(args, work: Path) -> dict:
    cluster = start_cluster(work, args)
    try:
        conf = str(cluster.config_path)
        wait_for_bound_addresses(conf)
        with Sampler(cluster) as sampler, Users(cluster, work, args) as users:
            begin = time.time()
            progress(f"users writing /data/proj-a and /data/proj-b until {FULL_NS} refuses "
                     f"(max_objects {args.max_objects:,})")
            wall = wait_for_wall(users, sampler, begin + args.max_seconds)
            progress(f"  {FULL_NS} at its wall {wall - begin:.1f} s in; holding {args.hold:.0f} s")
            time.sleep(args.hold)
            progress(f"adding namespace {NEW_NS}")
            added = add_namespace(cluster, NEW_NS)
            progress(f"  {NEW_NS} up at {added['address']} in {added['end'] - added['start']:.1f} s; "
                     f"moving {MOVED} to it")
            moved = move(conf, MOVED, NEW_NS)
            progress(f"  moved in {moved['end'] - moved['start']:.1f} s: {moved['report']}")
            progress(f"users go on for {args.after:.0f} s")
            time.sleep(args.after)
            users.check_alive()
        lines = users.lines()
        listing = mount_listing(conf)
        placed = where_moved_files_are(conf)
    finally:
        cluster.down()
    return analyse(args, begin, wall, added, moved, sampler.rows, lines, listing, placed)


# --------------------------------------------------------------- the figures
def creates_by_namespace(lines: list[dict], cutover: float) -> dict[str, list[tuple[float, float]]]:
    """The users' successful creates/s per namespace: proj-a's are ns-b's; proj-b's are
    ns-b's until the cutover, ns-c's after (GetStats' file counts would also count the
    move's import and drop)."""
    out: dict[str, list[tuple[float, float]]] = {FULL_NS: [], NEW_NS: []}
    for line in lines:
        a, b = line["writes"]["proj-a"]["ok"] / 0.5, line["writes"]["proj-b"]["ok"] / 0.5
        moved = line["t"] > cutover
        out[FULL_NS].append((line["t"], a + (0 if moved else b)))
        out[NEW_NS].append((line["t"], b if moved else 0.0))
    return out


def per_second(lines: list[dict], start: float, end: float, key) -> float:
    span = [line for line in lines if start <= line["t"] <= end]
    seconds = (span[-1]["t"] - span[0]["t"] + 0.5) if span else 0
    return sum(key(line) for line in span) / seconds if seconds else 0.0


def analyse(args, begin, wall, added, moved, rows, lines, listing, placed) -> dict:
    window = (moved["start"], moved["end"])
    # Proj-b's longest create while the move ran: calls listed one by one (>= 250 ms) that
    # overlap the move, and every 0.5 s line's longest call ending in it.
    slow = [s["ms"] for line in lines for s in line["slow"]
            if s["half"] == "proj-b" and s["start"] < window[1] and s["start"] + s["ms"] / 1000 > window[0]]
    maxes = [line["writes"]["proj-b"]["max_ms"] for line in lines if window[0] <= line["t"] <= window[1] + 0.5]
    longest = max(slow + maxes + [0.0]) / 1000
    # The same writers' longest create before the wall, at the same load: the baseline.
    before = max([line["writes"]["proj-b"]["max_ms"] for line in lines if line["t"] <= wall] + [0.0]) / 1000
    total = {kind: sum(line["writes"][h][kind] for line in lines for h in line["writes"])
             for kind in ("ok", "nospace", "retried", "other")}
    read_errors = sum(line["reads"]["other"] for line in lines)
    kinds: dict[str, int] = {}
    for line in lines:
        for kind, n in line["errors"].items():
            kinds[kind] = kinds.get(kind, 0) + n

    def ok(line):
        return sum(w["ok"] for w in line["writes"].values())
    last_rss = {}
    for row in rows:
        last_rss[row["ns"]] = row
    peaks = {ns: max(r["rss"] for r in rows if r["ns"] == ns) for ns in last_rss}
    return {
        "when": time.strftime("%Y-%m-%d %H:%M"), "machine": f"{os.cpu_count()} cores, Python "
        f"{platform.python_version()}", "load": os.getloadavg(), "tiny": args.tiny,
        "max_objects": args.max_objects, "datanodes": args.datanodes, "users": args.users, "batch": args.batch,
        "begin": begin, "wall": wall, "added": added, "moved": moved,
        "creates_per_s_after": {ns: per_second([{"t": t, "v": v} for t, v in points], window[1] + 1,
                                               window[1] + args.after, lambda p: p["v"] * 0.5)
                                for ns, points in creates_by_namespace(lines, window[1]).items()},
        "creates_per_s": {"before the wall": per_second(lines, begin, wall, ok),
                          "at the wall": per_second(lines, wall + WALL_SECONDS, added["start"], ok),
                          "during the move": per_second(lines, *window, ok),
                          "after the move": per_second(lines, window[1] + 1, window[1] + args.after, ok)},
        "longest_moved_create_s": longest, "longest_create_before_wall_s": before,
        "writes": total, "read_errors": read_errors,
        "reads": sum(line["reads"]["calls"] for line in lines), "error_kinds": kinds,
        "final": {ns: {k: r[k] for k in ("files", "objects", "rss")} for ns, r in sorted(last_rss.items())},
        "peak_rss": peaks, "mount_listing": listing, "placed": placed,
        "samples": rows, "lines": lines,
    }


# ---------------------------------------------------------------- the report
def plot(r: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    t0 = r["begin"]
    fig, (ax1, ax2, ax3) = plt.subplots(3, 1, figsize=(9, 9), sharex=True)
    for ns, points in sorted(creates_by_namespace(r["lines"], r["moved"]["end"]).items()):
        ax1.plot([t - t0 for t, _ in points], [v for _, v in points], color=COLORS.get(ns), label=f"{ns} creates/s")
    ax1.plot([line["t"] - t0 for line in r["lines"]],
             [sum(w["nospace"] for w in line["writes"].values()) / 0.5 for line in r["lines"]],
             ":", color="red", label="creates refused /s (ENOSPC)")
    ax1.set_ylabel("creates / s")
    for ns in sorted({row["ns"] for row in r["samples"]}):
        mine = [row for row in r["samples"] if row["ns"] == ns]
        ax2.plot([row["t"] - t0 for row in mine], [row["rss"] / 2**20 for row in mine], color=COLORS.get(ns), label=ns)
        ax3.plot([row["t"] - t0 for row in mine], [row["objects"] for row in mine], color=COLORS.get(ns), label=ns)
    ax2.set_ylabel("NameNode RSS (MiB)")
    ax3.axhline(r["max_objects"], color="grey", linestyle="--", label=f"{FULL_NS} max_objects")
    ax3.set_ylabel("objects")
    ax3.set_xlabel("seconds")
    for ax in (ax1, ax2, ax3):
        ax.axvspan(r["moved"]["start"] - t0, r["moved"]["end"] - t0, color="orange", alpha=0.25,
                   label="move of /data/proj-b")
        ax.axvline(r["wall"] - t0, color="red", alpha=0.5, linewidth=1, label=f"{FULL_NS} wall")
        ax.axvline(r["added"]["end"] - t0, color="green", alpha=0.5, linewidth=1, label=f"{NEW_NS} added")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
    ax1.set_title(f"past the wall: {NEW_NS} added, {MOVED} moved into it while users write")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def render(r: dict, png: str) -> str:
    moved, rep = r["moved"], r["moved"]["report"]
    errors_besides = r["writes"]["other"]
    goal = r["longest_moved_create_s"] <= GOAL_LATENCY_S
    rows = [
        (f"{FULL_NS} at its wall after", f"{r['wall'] - r['begin']:.1f} s", ""),
        (f"{NEW_NS} added (MiniCluster.add_namespace) in", f"{r['added']['end'] - r['added']['start']:.1f} s", ""),
        (f"{MOVED} moved to {NEW_NS} (client.balance.move) in", f"{moved['end'] - moved['start']:.1f} s", ""),
        ("longest create of proj-b's writers while the move ran", f"**{r['longest_moved_create_s']:.2f} s**",
         f"<= {GOAL_LATENCY_S:.0f} s: {'met' if goal else 'NOT met'}"),
        ("the same writers' longest create before the wall (baseline)", f"{r['longest_create_before_wall_s']:.2f} s",
         ""),
        ("write errors other than the wall's ENOSPC", f"**{errors_besides}**",
         "0: met" if errors_besides == 0 else "0: NOT met"),
        ("read errors", f"**{r['read_errors']}** of {r['reads']:,} reads",
         "0: met" if r["read_errors"] == 0 else "0: NOT met"),
        ("creates the writers had to retry themselves (errors.Retry past the client)", f"{r['writes']['retried']:,}",
         ""),
        ("creates refused for space (ENOSPC)", f"{r['writes']['nospace']:,}", ""),
        ("creates that succeeded", f"{r['writes']['ok']:,}", ""),
    ]
    rows += [(f"creates/s {phase}", f"{rate:,.0f}", "") for phase, rate in r["creates_per_s"].items()]
    rows += [("creates/s after the move, per namespace", ", ".join(
        f"{ns} {rate:,.0f}" for ns, rate in r["creates_per_s_after"].items()), "")]
    lines = ["# Past the memory wall: a namespace added and a subtree moved while users write", "",
             f"Measured {r['when']} on {r['machine']} (load average at the end {r['load'][0]:.1f} / "
             f"{r['load'][1]:.1f} / {r['load'][2]:.1f}; the machine is shared). Re-run with `make rebalance` "
             "(or `python -m bench.rebalance --help`)." + (" **Tiny run (smoke test), not figures.**"
                                                            if r["tiny"] else ""), "",
             f"A MiniCluster with two namespaces and {r['datanodes']} DataNode(s); {FULL_NS} (/data) may hold "
             f"{r['max_objects']:,} objects (files + directories + blocks). {r['users']} locust users "
             f"(bench/rebalance_users.py: 3 writers to 1 reader) create empty files, {r['batch']} per call, under "
             "/data/proj-a and /data/proj-b and read back what they made, until "
             f"{FULL_NS} refuses every create for {WALL_SECONDS:.0f} s. Then {NEW_NS} joins the running cluster and "
             f"{MOVED} moves into it while the users go on. A create refused with errors.Retry (the subtree fenced "
             "for the cutover) is waited out by the client library itself (up to 30 s; the writer retries too should one "
             "reach it) and counts as one create with the time it took; a create sent to ns-b after the cutover is "
             "re-routed by the client (errors.MountMoved). Writers and readers go through the same client library "
             "and never restart.", "",
             "| figure | measured | goal |", "|---|---:|---|"]
    lines += [f"| {a} | {b} | {g} |" for a, b, g in rows]
    lines += ["", "The move's report:", "", "| " + " | ".join(rep) + " |", "|" + "---:|" * len(rep),
              "| " + " | ".join(f"{v:,.2f}" if isinstance(v, float) else f"{v:,}" for v in rep.values()) + " |", "",
              "Per namespace at the end (RSS read from outside with psutil; peak over the run):", "",
              "| namespace | files | objects | RSS | peak RSS |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {ns} | {f['files']:,} | {f['objects']:,} | {f['rss'] / 2**20:.1f} MiB | "
              f"{r['peak_rss'][ns] / 2**20:.1f} MiB |" for ns, f in r["final"].items()]
    at_wall = max((row["rss"] for row in r["samples"] if row["ns"] == FULL_NS and row["t"] <= moved["start"]),
                  default=0)
    in_move = max((row["rss"] for row in r["samples"] if row["ns"] == FULL_NS
                   and moved["start"] <= row["t"] <= moved["end"] + 1), default=0)
    if at_wall and in_move:
        lines += ["", f"{FULL_NS}'s RSS while it exported {MOVED}: at most {in_move / 2**20:.1f} MiB, against "
                      f"{at_wall / 2**20:.1f} MiB at its wall before ({(in_move - at_wall) / 2**20:+.1f} MiB for "
                      "the export's snapshot and chunks, given back after the drop)."]
    lines += ["", "Where the halves are after the run: " + "; ".join(
        f"/data/{half} in {p['namespace']} ({p['files']:,} files)" for half, p in r["placed"].items()) + ".", "",
        "`hfed mount -ls` after the run:", "", "```", r["mount_listing"], "```", ""]
    if r["error_kinds"]:
        lines += ["Errors by kind:", ""] + [f"- {n:,} x {kind}" for kind, n in sorted(r["error_kinds"].items())] + [""]
    lines += [f"![creates/s, RSS and objects per namespace over time]({png})", "",
              "Raw samples (every 0.5 s) in rebalance.json beside this page."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="bench.rebalance", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-objects", type=int, default=100_000, help=f"{FULL_NS}'s budget")
    parser.add_argument("--users", type=int, default=8, help="locust users (3 writers to 1 reader)")
    parser.add_argument("--batch", type=int, default=10, help="files per create call")
    parser.add_argument("--datanodes", type=int, default=1, help="DataNodes (empty files need none; they "
                                                                  "register with the added namespace)")
    parser.add_argument("--hold", type=float, default=5.0, help="seconds at the wall before adding a namespace")
    parser.add_argument("--after", type=float, default=60.0, help="seconds the users go on after the move")
    parser.add_argument("--max-seconds", type=float, default=600.0, help="give up reaching the wall after this")
    parser.add_argument("--results", default=str(RESULTS), help="where rebalance.md, .json and .png go")
    parser.add_argument("--tiny", action="store_true", help="a seconds-long run (smoke test)")
    args = parser.parse_args(argv)
    if args.tiny:
        for key, value in TINY.items():
            setattr(args, key, value)
    with tempfile.TemporaryDirectory(prefix="hfed-rebalance-") as tmp:
        result = run(args, Path(tmp))
    out = Path(args.results)
    out.mkdir(parents=True, exist_ok=True)
    plot(result, out / "rebalance.png")
    (out / "rebalance.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / "rebalance.md").write_text(render(result, "rebalance.png"))
    progress(f"longest proj-b create during the move {result['longest_moved_create_s']:.2f} s (goal <= "
             f"{GOAL_LATENCY_S:.0f} s); errors besides ENOSPC: {result['writes']['other']} writes, "
             f"{result['read_errors']} reads; creates/s " + ", ".join(
                 f"{phase} {rate:,.0f}" for phase, rate in result["creates_per_s"].items()))
    progress(f"wrote {out / 'rebalance.md'} and {out / 'rebalance.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
