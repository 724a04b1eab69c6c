"""Paged columns against the code before them, in one run: bytes per file, op speed,
and the memory a checkpoint costs.

    python -m bench.checkpoint_memory [--files 1M] [--baseline REV] [--reads 300k]

For each of two trees, the baseline (``git archive REV``; default: the commit
before paged columns) and this working tree, a process (``--child``) that:

1. fills an in-process Namesystem with --files one-block files through the
   NameNode's op functions, as bench/memory_wall.py does (replication 3, three
   DataNodes reporting every replica, 16-byte names, 1,000 files a directory):
   RSS growth per file (after gc and malloc_trim) and fill files/s;
2. times getFileInfo of random existing files and create of new empty files
   (ops/s, best of --rounds rounds).

Both trees' children live side by side and their timed steps alternate (fills
in steps of 100,000 files), and op speeds are per second of the child's CPU
time (time.process_time), so that other work on the machine weighs on both
alike; then each child:

3. takes a checkpoint (Journal.checkpoint, as the NameNode's checkpointer does)
   of the idle namespace, then one while a writer keeps creating files. A thread
   samples every 50 ms the process's RSS and, for a forked image writer, its
   private memory (Private_Clean + Private_Dirty of /proc/PID/smaps_rollup: the
   pages only it holds, which are the pages the parent changed since the fork
   plus the writer's own buffers; the pages both share are in the parent's RSS
   already). Peak = the highest parent RSS + writer private memory seen at one
   sample, against the RSS just before the checkpoint.

Then a process of this tree loads the baseline's image (the format is unchanged)
and checks its file and block counts. Figures and ratios go to stdout and to
bench/results/checkpoint_memory.md and .json.
"""
from __future__ import annotations

import argparse
import asyncio
import ctypes
import ctypes.util
import gc
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
REPO_ROOT = Path(__file__).resolve().parent.parent
BASELINE = "39f3665"            # the last commit before paged columns
FILES_PER_DIR, REPLICATION, BLOCK_BYTES = 1000, 3, 64 << 20
SAMPLE_SECONDS = 0.05


def parse_count(text: str) -> int:
    text = text.strip().upper()
    return int(float(text.rstrip("KM")) * {"K": 1_000, "M": 1_000_000}.get(text[-1:], 1))


# ------------------------------------------------------------ the child half
def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _private(pid: int) -> int:
    """Bytes only process ``pid`` holds (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            return sum(int(line.split()[1]) * 1024 for line in f if line.startswith(("Private_Clean", "Private_Dirty")))
    except OSError:
        return 0


def _children() -> list[int]:
    me = os.getpid()
    try:
        with open(f"/proc/{me}/task/{me}/children") as f:
            return [int(pid) for pid in f.read().split()]
    except OSError:
        return []


def _trim() -> None:
    gc.collect()
    libc = ctypes.util.find_library("c")
    if libc:
        ctypes.CDLL(libc).malloc_trim(0)


class Sampler(threading.Thread):
    """Every 50 ms: this process's RSS and its children's private memory."""

    def __init__(self):
        super().__init__(daemon=True)
        self.stop, self.samples = threading.Event(), []

    def run(self):
        while not self.stop.is_set():
            self.samples.append((_rss(), sum(_private(pid) for pid in _children())))
            time.sleep(SAMPLE_SECONDS)

    def peaks(self) -> dict:
        self.stop.set()
        self.join()
        return {"samples": len(self.samples), "parent_rss_peak": max(r for r, _ in self.samples),
                "writer_private_peak": max(p for _, p in self.samples),
                "total_peak": max(r + p for r, p in self.samples)}


class Bench:
    """The child's namespace; the parent drives it a step at a time (``serve``), so the
    two trees' timed steps alternate and share whatever else the machine is doing."""

    def __init__(self, meta: Path):
        from namenode.namesystem import Namesystem
        from namenode.ops import dirs, files, reads
        from namenode import replication

        self.dirs, self.files, self.reads, self.replication = dirs, files, reads, replication
        self.meta, self.filled, self.rng = meta, 0, random.Random(1)
        fsn = self.fsn = Namesystem("ns-bench", "CID-bench", "BP-bench", "bench", replication=REPLICATION)
        for i in range(REPLICATION):
            fsn.register_datanode(f"dn-{i}", f"host-{i}", f"127.0.0.1:{9866 + i}")
            fsn.heartbeat(f"dn-{i}", 1 << 50, 0, 1 << 50, 0)
        self.caller = fsn.ns.caller("bench")
        dirs.mkdirs(fsn, self.caller, "/bench", 0o755, True)
        _trim()
        self.rss0 = _rss()

    def write_file(self, path: str, client: str, parents: bool = False) -> None:
        fsn, files = self.fsn, self.files
        files.create(fsn, self.caller, path, 0o644, False, parents, REPLICATION, 0, client)
        block, targets = files.add_block(fsn, self.caller, path, client, None, set(), "")
        for target in targets:
            fsn.incremental_report(target.uuid, [(block.block_id, block.generation_stamp, BLOCK_BYTES)], [])
        files.complete(fsn, self.caller, path, client, (block.block_id, BLOCK_BYTES))

    def fill(self, count: int) -> dict:
        started = time.process_time()
        for i in range(self.filled, self.filled + count):
            d, j = divmod(i, FILES_PER_DIR)
            if j == 0:
                self.dirs.mkdirs(self.fsn, self.caller, f"/bench/d{d:07d}", 0o755, False)
                self.replication.tick(self.fsn)
            self.write_file(f"/bench/d{d:07d}/{i:016x}", "fill")
        self.filled += count
        return {"seconds": time.process_time() - started}

    def memory(self) -> dict:
        self.replication.tick(self.fsn)
        _trim()
        growth, fsn = _rss() - self.rss0, self.fsn
        return {"files": self.filled, "rss_growth": growth, "bytes_per_file": growth / self.filled,
                "layout_bytes_per_file": (fsn.ns.table.nbytes() + fsn.blocks.nbytes()) / self.filled,
                "inodes": len(fsn.ns.table), "blocks": len(fsn.blocks)}

    def get_file_info(self, count: int) -> dict:
        paths = [f"/bench/d{i // FILES_PER_DIR:07d}/{i:016x}"
                 for i in (self.rng.randrange(self.filled) for _ in range(count))]
        started = time.process_time()
        for path in paths:
            self.reads.get_file_info(self.fsn, self.caller, path)
        return {"per_s": count / (time.process_time() - started)}

    def create(self, count: int, round_: int) -> dict:
        """Empty files (create only), in a directory removed afterwards: no leases are left
        for the checkpoints to carry."""
        fsn, files, top = self.fsn, self.files, f"/create{round_}"
        started = time.process_time()
        for i in range(count):
            files.create(fsn, self.caller, f"{top}/d{i // FILES_PER_DIR}/{i:016x}", 0o644, False, True,
                         REPLICATION, 0, "creator")
        per_s = count / (time.process_time() - started)
        self.dirs.delete(fsn, self.caller, top, True)
        return {"per_s": per_s}

    def checkpoint(self, busy: bool) -> dict:
        from namenode.journal import Journal

        fsn, caller = self.fsn, self.caller
        if fsn.journal is None:
            fsn.journal = Journal(self.meta, durable=False)
            fsn.journal.load(fsn)
        self.dirs.mkdirs(fsn, caller, f"/before-{busy}", 0o755, False)    # an edit: the checkpoint has news

        async def run() -> dict:
            done, created = asyncio.Event(), 0

            async def writer():
                nonlocal created
                while not done.is_set():
                    self.write_file(f"/during/d{created // FILES_PER_DIR}/{created:016x}", "busy", parents=True)
                    created += 1
                    if created % 20 == 0:
                        await asyncio.sleep(0)

            _trim()
            before, inodes, blocks = _rss(), len(fsn.ns.table), len(fsn.blocks)
            sampler = Sampler()
            sampler.start()
            task = asyncio.create_task(writer()) if busy else None
            started = time.perf_counter()
            txid, path = await fsn.journal.checkpoint(fsn)
            seconds = time.perf_counter() - started
            done.set()
            if task:
                await task
            result = {"rss_before": before, "seconds": seconds, "txid": txid, "image_bytes": path.stat().st_size,
                      "image": str(path), "created_during": created, "inodes": inodes, "blocks": blocks,
                      **sampler.peaks(),
                      "forked": bool(getattr(fsn.journal, "fork_checkpoints", False))}
            result["ratio"] = result["total_peak"] / before
            return result

        return asyncio.run(run())


def serve(meta: Path) -> None:
    """The child: one JSON command a line on stdin, one JSON answer a line on stdout."""
    bench = Bench(meta)
    for line in sys.stdin:
        command = json.loads(line)
        op = command.pop("op")
        if op == "quit":
            break
        print(json.dumps(getattr(bench, op)(**command)), flush=True)
    if bench.fsn.journal is not None:
        bench.fsn.journal.close()


def load_child(image_path: Path) -> dict:
    from namenode import image
    from namenode.namesystem import Namesystem

    fsn = Namesystem("ns-bench", "CID-bench", "BP-bench", "bench", replication=REPLICATION)
    started = time.perf_counter()
    image.load_into(fsn, image.read(image_path))
    return {"inodes": len(fsn.ns.table), "blocks": len(fsn.blocks), "seconds": time.perf_counter() - started}


# ----------------------------------------------------------- the parent half
class Child:
    """A ``--child`` process of one tree."""

    def __init__(self, tree: Path, meta: Path):
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--child", str(meta)],
                                     cwd=tree, env=dict(os.environ, PYTHONPATH=str(tree)), text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def __call__(self, op: str, **args) -> dict:
        self.proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"a --child process failed on {op} (exit {self.proc.wait()})")
        return json.loads(line)

    def close(self) -> None:
        self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
        self.proc.stdin.close()
        self.proc.wait()


def compare(trees: dict, files: int, reads: int, tmp: Path, rounds: int = 5) -> dict:
    """Both trees' children side by side; timed steps alternate between them."""
    children = {label: Child(tree, tmp / f"meta-{label}") for label, tree in trees.items()}
    out = {label: {"fill_seconds": 0.0, "get_file_info_per_s": 0.0, "create_per_s": 0.0} for label in trees}
    step = 100_000
    for done in range(0, files, step):
        for label, child in children.items():
            out[label]["fill_seconds"] += child("fill", count=min(step, files - done))["seconds"]
        print(f"  filled {min(files, done + step):,} of {files:,} files in each tree", flush=True)
    for label, child in children.items():
        out[label].update(child("memory"))
        out[label]["fill_files_per_s"] = files / out[label]["fill_seconds"]
    for round_ in range(rounds):
        print(f"  getFileInfo and create, round {round_ + 1} of {rounds}", flush=True)
        for label, child in children.items():
            result = out[label]
            result["get_file_info_per_s"] = max(result["get_file_info_per_s"],
                                                child("get_file_info", count=reads)["per_s"])
            result["create_per_s"] = max(result["create_per_s"], child("create", count=reads // 3, round_=round_)["per_s"])
    for kind, busy in (("idle", False), ("busy", True)):
        for label, child in children.items():
            c = out[label][f"checkpoint_{kind}"] = child("checkpoint", busy=busy)
            print(f"{label} checkpoint ({kind}): RSS before {c['rss_before'] / 2**20:,.0f} MiB, peak parent RSS "
                  f"{c['parent_rss_peak'] / 2**20:,.0f} MiB + writer private {c['writer_private_peak'] / 2**20:,.1f} "
                  f"MiB -> {c['ratio']:.3f}x ({c['seconds']:.1f} s, {c['created_during']:,} files created meanwhile)",
                  flush=True)
    for label, child in children.items():
        child.close()
        r = out[label]
        print(f"{label}: {r['bytes_per_file']:.1f} B/file, fill {r['fill_files_per_s']:,.0f} files/s, getFileInfo "
              f"{r['get_file_info_per_s']:,.0f}/s, create {r['create_per_s']:,.0f}/s", flush=True)
    return out


ROWS = [("bytes per file (RSS growth, trimmed)", "bytes_per_file", "{:.1f}", "lower"),
        ("bytes per file (tables' own count)", "layout_bytes_per_file", "{:.1f}", "lower"),
        ("fill: files/s (create + addBlock + 3 reports + complete)", "fill_files_per_s", "{:,.0f}", "higher"),
        ("getFileInfo/s", "get_file_info_per_s", "{:,.0f}", "higher"),
        ("create/s (empty files)", "create_per_s", "{:,.0f}", "higher")]
CHECKPOINT_ROWS = [("RSS before, MiB", "rss_before", 2**20), ("peak parent RSS, MiB", "parent_rss_peak", 2**20),
                   ("peak writer private memory, MiB", "writer_private_peak", 2**20),
                   ("peak total / RSS before", "ratio", 1), ("seconds", "seconds", 1),
                   ("files created during it", "created_during", 1), ("image MiB", "image_bytes", 2**20)]


def render(state: dict) -> str:
    base, new = state["baseline"], state["paged"]
    lines = [f"# Checkpoint memory and paged columns ({state['files']:,} files, one run)", "",
             f"{state['when']}, {state['machine']}. Baseline: `{state['baseline_rev']}` (columns that grow by "
             "reallocation, checkpoints that copy the namespace); paged: this tree (columns in reserved "
             "mappings, forked image writer). `python -m bench.checkpoint_memory` (bench/checkpoint_memory.py "
             "says what is measured).", "",
             "| | baseline | paged | paged / baseline |", "|---|---:|---:|---:|"]
    for title, key, fmt, _better in ROWS:
        lines.append(f"| {title} | {fmt.format(base[key])} | {fmt.format(new[key])} | {new[key] / base[key]:.3f} |")
    for kind, what in (("idle", "of the idle namespace"), ("busy", "while a writer keeps creating files")):
        lines += ["", f"## Checkpoint {what}", "", "| | baseline | paged |", "|---|---:|---:|"]
        for title, key, scale in CHECKPOINT_ROWS:
            b, p = base[f"checkpoint_{kind}"][key], new[f"checkpoint_{kind}"][key]
            fmt = "{:.3f}" if key == "ratio" else "{:,.0f}" if key == "created_during" else "{:,.1f}"
            lines.append(f"| {title} | {fmt.format(b / scale)} | {fmt.format(p / scale)} |")
    loaded = state["baseline_image_loaded"]
    idle = base["checkpoint_idle"]
    lines += ["", "Peak total = the highest (parent RSS + image writer's private memory) of one 50 ms sample; the "
              "baseline has no writer process (it copies the tables and encodes the image in the NameNode's own "
              "memory).", "", f"The baseline's image of the idle namespace loads with this tree: "
              f"{loaded['inodes']:,} inodes and {loaded['blocks']:,} blocks (the baseline held {idle['inodes']:,} "
              f"and {idle['blocks']:,} when it wrote it), in {loaded['seconds']:.1f} s."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", default="1M", help="files to fill (default 1M)")
    parser.add_argument("--reads", default="300k", help="getFileInfo calls a round; creates: a third (default 300k)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating getFileInfo/create rounds (best counts)")
    parser.add_argument("--baseline", default=BASELINE, help=f"git revision to compare with (default {BASELINE})")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--load", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        serve(args.child)
        return
    if args.load:
        print(json.dumps(load_child(args.load)))
        return
    files, reads = parse_count(args.files), parse_count(args.reads)
    with tempfile.TemporaryDirectory(prefix="hfed-ckpt-bench-") as tmp:
        tmp = Path(tmp)
        baseline_tree = tmp / "baseline"
        baseline_tree.mkdir()
        archive = subprocess.run(["git", "archive", args.baseline, "namenode", "protos"], cwd=REPO_ROOT,
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(baseline_tree)], input=archive, check=True)
        state = {"files": files, "baseline_rev": args.baseline,
                 "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                 "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
                            f"load average {os.getloadavg()[0]:.1f} at the start"}
        results = compare({"baseline": baseline_tree, "paged": REPO_ROOT}, files, reads, tmp, args.rounds)
        state.update(results)
        out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--load",
                              state["baseline"]["checkpoint_idle"]["image"]], cwd=REPO_ROOT,
                             env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)), capture_output=True, text=True,
                             check=True)
        state["baseline_image_loaded"] = json.loads(out.stdout.strip().splitlines()[-1])
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "checkpoint_memory.json").write_text(json.dumps(state, indent=1))
    text = render(state)
    (RESULTS / "checkpoint_memory.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
