"""Small files written straight to DataNodes, against baselines measured in the same run.

    python -m bench.small_files [--files 50k] [--batch-files N] [--open-files N] [--inproc-files 100k]
                                [--unpacked-seconds 60] [--text-files 2000] [--reads 2000]
                                [--procs 2] [--threads 4] [--batch 1000] [--seed 1]
    python -m bench.small_files --files 20k        a quicker run (the other counts follow --files)
    python -m bench.small_files --render           re-render small_files.md from small_files.json

Files of 1-16 KiB (uniform), 16-byte names, 1,000 per directory: random bytes,
or for the compression figures text-like files (JSON lines, CSV rows, log lines,
generated from the seed). A small file is an entry appended to a client's
staging container on a DataNode pipeline and committed to the NameNode as
(container, offset, length); the NameNode's packer later has a DataNode rewrite
closed containers compressed (client/small_writer.py, namenode/packer.py).

1. NameNode bytes per file, in-process (a fresh subprocess per layout, no RPC):
   --inproc-files files through the NameNode's op functions. small:
   open_container + commit_small(create=...) per file, containers completed when
   full; empty: create + complete (no block); blocks: create, add_block, three
   replica reports, complete. RSS growth per file after freeing unused memory,
   and the arrays alone.
2. A MiniCluster (3 DataNodes, replication 3, two namespaces, default packing
   settings). Every write goes through --procs processes of --threads threads
   of the client library, the same for every variant:
   * ns-a: --files small files with fs.pipe_file (one per call), --open-files
     with fs.open(..., "wb"), --batch-files with fs.pipe_many (--batch a call);
     files/s against the old figure and against unpacked writes (pack=False:
     a block each, to ns-b for --unpacked-seconds) of the same run;
   * NameNode RSS growth per file (GetStats rss_bytes, settled): ns-a's small
     files vs as many EMPTY files (fs.touch_many) in ns-b;
   * block files on the DataNodes per 1,000 small files after PackNow;
   * whole-file read latency p50/p99: packed vs unpacked, and files read while
     their staging container is still open (kept open by a trickle of writes);
   * --text-files text-like files packed (ns-a) and unpacked (ns-b): bytes in
     their blocks on the DataNodes, and read latency.
Figures, ratios and goals are printed and written to bench/results/small_files.md
and small_files.json.
"""
from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.big_namespace import parse_count
from bench.memory_wall import bench_namesystem

RESULTS = Path(__file__).parent / "results"
REPO_ROOT = Path(__file__).resolve().parent.parent

MIN_SIZE, MAX_SIZE = 1 << 10, 16 << 10
POOL_BYTES = 1 << 20          # random file contents are slices of one seeded random buffer
FILES_PER_DIR = 1000
REPLICATION = 3
CHUNK = 100                   # files per task handed to a writer process (one file per call)
SMALL_NS, OTHER_NS = "ns-a", "ns-b"
ROOTS = {"pipe": "/user/pipe", "open": "/user/open", "many": "/user/many", "text": "/user/text",
         "empty": "/data/empty", "blocks": "/data/blocks", "text-blocks": "/data/text", "staging": "/data/open",
         "scaling": "/user/scaling"}


def progress(msg: str) -> None:
    print(msg, flush=True)


# ---------------------------------------------------------------- the file sets
_pool_cache: dict[int, bytes] = {}


def file_size(seed: int, i: int) -> int:
    return random.Random(seed * 1_000_003 + i).randint(MIN_SIZE, MAX_SIZE)


def random_bytes(seed: int, i: int) -> bytes:
    """File i's contents: 1-16 KiB of random bytes, the same in every process."""
    pool = _pool_cache.get(seed)
    if pool is None:
        pool = _pool_cache[seed] = random.Random(seed).randbytes(POOL_BYTES)
    rng = random.Random(seed * 1_000_003 + i)
    size = rng.randint(MIN_SIZE, MAX_SIZE)
    offset = rng.randrange(POOL_BYTES - size)
    return pool[offset:offset + size]


WORDS = ("alpha bravo cache commit disk error fetch fsync grpc heartbeat index journal lease merge node "
         "offset packet quota read replica retry scan shard sync token upload volume write yield zone").split()
LEVELS = ("INFO",) * 8 + ("DEBUG",) * 4 + ("WARN", "ERROR")
COMPONENTS = ("api", "auth", "billing", "cache", "db", "gateway", "ingest", "queue", "scheduler", "search")
SENSORS = [f"sensor-{n:03d}" for n in range(60)]


def text_bytes(seed: int, i: int) -> bytes:
    """File i's text: JSON lines, CSV rows or log lines (by i % 3), 1-16 KiB, with the
    variety of real records (timestamps, ids, numbers, hex request ids), the same in every process."""
    size = file_size(seed, i)
    rng = random.Random((seed << 32) ^ (i * 2_654_435_761))
    t = 1_796_000_000 + rng.randrange(10_000_000)
    kind = i % 3
    lines = ["id,timestamp,sensor,value,unit,status\n"] if kind == 1 else []
    n, total = 0, len(lines[0]) if lines else 0
    while total < size:
        t += rng.randrange(1, 30)
        n += 1
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{rng.randrange(1000):03d}Z"
        if kind == 0:
            line = json.dumps({"id": i * 10_000 + n, "ts": stamp, "user": f"u{rng.randrange(5000):05d}",
                               "event": rng.choice(WORDS), "ok": rng.random() > 0.05,
                               "latency_ms": round(rng.lognormvariate(2, 1), 2),
                               "tags": rng.sample(WORDS, 2)}) + "\n"
        elif kind == 1:
            line = (f"{i * 10_000 + n},{stamp},{rng.choice(SENSORS)},{rng.gauss(20, 5):.3f},"
                    f"{rng.choice(('C', 'kPa', 'pct'))},{'OK' if rng.random() > 0.03 else 'FAULT'}\n")
        else:
            line = (f"{stamp} {rng.choice(LEVELS):5s} [{rng.choice(COMPONENTS)}] {rng.choice(WORDS)} "
                    f"{rng.choice(WORDS)} {rng.choice(WORDS)} req={rng.getrandbits(32):08x} "
                    f"user=u{rng.randrange(5000):05d} took={rng.randrange(1, 900)}ms\n")
        lines.append(line)
        total += len(line)
    return "".join(lines).encode()[:size]


def content(kind: str, seed: int, i: int) -> bytes:
    return text_bytes(seed, i) if kind == "text" else random_bytes(seed, i)


def file_path(root: str, i: int) -> str:
    return f"{root}/d{i // FILES_PER_DIR:05d}/{i:016x}"      # 16-byte names, as bench/memory_wall.py


def dirs_for(root: str, count: int) -> list[str]:
    return [f"{root}/d{d:05d}" for d in range(-(-count // FILES_PER_DIR))]


# ------------------------------------------------- 1: bytes per file in-process
def fill_child(layout: str, total: int, seed: int) -> None:
    """Child process: fill a Namesystem with ``total`` files in ``layout`` ("small",
    "empty" or "blocks"); print one JSON line."""
    import psutil
    from namenode import replication
    from namenode.budget import release_free_memory
    from namenode.ops import dirs, files, small
    from protos import small_entry

    process = psutil.Process()
    fsn = bench_namesystem()
    fsn.small_file_threshold = 1 << 20
    caller = fsn.ns.caller("bench")
    client = "small-files-bench"
    container = None               # [path, block, targets, max bytes, end]

    def report(block, targets, length: int) -> None:
        for target in targets:
            fsn.incremental_report(target.uuid, [(block.block_id, block.generation_stamp, length)], [])

    def close_container() -> None:
        path, block, targets, _, end = container
        report(block, targets, end)
        if not files.complete(fsn, caller, path, client, (block.block_id, end)):
            raise RuntimeError(f"{path}: complete refused")

    gc.collect()
    release_free_memory()
    rss0 = process.memory_info().rss
    start = time.perf_counter()
    containers = 0
    for i in range(total):
        if i % FILES_PER_DIR == 0:
            dirs.mkdirs(fsn, caller, f"/bench/d{i // FILES_PER_DIR:05d}", 0o755, False)
            replication.tick(fsn)
        path = file_path("/bench", i)
        length = file_size(seed, i)
        if layout == "blocks":
            files.create(fsn, caller, path, 0o644, False, False, REPLICATION, 0, client)
            block, targets = files.add_block(fsn, caller, path, client, None, set(), "")
            report(block, targets, length)
            files.complete(fsn, caller, path, client, (block.block_id, length))
        elif layout == "empty":
            files.create(fsn, caller, path, 0o644, False, False, REPLICATION, 0, client)
            files.complete(fsn, caller, path, client, None)
        else:
            if container is not None and small_entry.entry_end(container[4], length) > container[3]:
                close_container()
                container = None
            if container is None:
                container = [*small.open_container(fsn, caller, client, "", set()), 0]
                containers += 1
            offset = container[4]
            small.commit_small(fsn, caller, path, client, container[1].block_id, offset, length, 0,
                               create=dict(permission=0o644, overwrite=False, create_parent=False, replication=0))
            container[4] = small_entry.entry_end(offset, length)
    if container is not None:
        close_container()
    replication.tick(fsn)
    gc.collect()
    release_free_memory()
    growth = process.memory_info().rss - rss0
    table = fsn.ns.table
    layout_bytes = table.nbytes() + fsn.blocks.nbytes() + table.small.nbytes()
    print(json.dumps({"layout": layout, "files": total, "directories": table.directories,
                      "blocks": len(fsn.blocks), "containers": containers, "small_rows": table.small.packed,
                      "rss_growth": growth, "bytes_per_file": growth / total,
                      "layout_bytes_per_file": layout_bytes / total,
                      "seconds": round(time.perf_counter() - start, 1)}), flush=True)


def inproc_bytes_per_file(layout: str, total: int, seed: int) -> dict:
    progress(f"in-process: a Namesystem with {total:,} {layout} files (fresh subprocess)")
    out = subprocess.run([sys.executable, "-m", "bench.small_files", "--fill-child", layout,
                          "--inproc-files", str(total), "--seed", str(seed)],
                         cwd=REPO_ROOT, check=True, stdout=subprocess.PIPE, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    progress(f"  {layout}: RSS +{result['rss_growth'] / 2**20:.1f} MiB, {result['bytes_per_file']:.1f} B/file "
             f"(arrays {result['layout_bytes_per_file']:.1f} B/file), {result['seconds']:.0f} s")
    return result


# --------------------------------------------------------- 2: writer processes
_worker: dict = {}


def _init_worker(conf_path: str, threads: int, barrier) -> None:
    from client.fs import HfedFileSystem
    fs = _worker["fs"] = HfedFileSystem(conf_path, host="bench-client")
    _worker["threads"] = ThreadPoolExecutor(threads)
    _worker["barrier"] = barrier
    fs.info(ROOTS["pipe"])           # open both NameNodes' channels before the clock starts
    fs.info(ROOTS["blocks"])


def _write_task(task: tuple) -> tuple[list[int], list[str]]:
    """Write files [start, stop) under root in ``mode``; returns (indices written, errors).
    Nothing is started after the deadline."""
    mode, kind, root, start, stop, deadline, seed, batch = task
    fs = _worker["fs"]

    def one(i: int) -> tuple[list[int], list[str]]:
        if deadline and time.time() > deadline:
            return [], []
        data = content(kind, seed, i)
        try:
            if mode == "open":
                with fs.open(file_path(root, i), "wb") as f:
                    f.write(data)
            else:
                fs.pipe_file(file_path(root, i), data, pack=mode != "blocks")
        except Exception as e:  # noqa: BLE001 - counted and reported, the run goes on
            return [], [f"{file_path(root, i)}: {e!r}"]
        return [i], []

    def many(first: int) -> tuple[list[int], list[str]]:
        span = range(first, min(first + batch, stop))
        results = fs.pipe_many([(file_path(root, i), content(kind, seed, i)) for i in span])
        return ([i for i, r in zip(span, results) if r is None],
                [f"{file_path(root, i)}: {r!r}" for i, r in zip(span, results) if r is not None])

    work = (many, range(start, stop, batch)) if mode == "many" else (one, range(start, stop))
    done, failed = [], []
    for ok, bad in _worker["threads"].map(*work):
        done += ok
        failed += bad
    return done, failed


def _flush_worker(_) -> None:
    """Close this process's staging containers; the barrier makes every process take one call."""
    _worker["fs"].flush_small_files()
    _worker["barrier"].wait(120)


def write_files(pool, mode: str, kind: str, root: str, total: int, args, deadline: float = 0.0,
                threads: int = 0) -> dict:
    threads = threads or args.threads
    per_task = threads * args.batch if mode == "many" else max(CHUNK, 25 * threads)   # a task: one process
    tasks = [(mode, kind, root, s, min(s + per_task, total), deadline, args.seed, args.batch)
             for s in range(0, total, per_task)]
    written, failed = [], []
    start = last_report = time.perf_counter()
    for done, bad in pool.imap_unordered(_write_task, tasks):
        written += done
        failed += bad
        now = time.perf_counter()
        if now - last_report >= 10:
            last_report = now
            progress(f"  {len(written):,} files in {now - start:.0f} s ({len(written) / (now - start):,.0f} files/s)")
    seconds = time.perf_counter() - start
    nbytes = sum(file_size(args.seed, i) for i in written)
    written.sort()
    progress(f"  {mode}: wrote {len(written):,} files, {nbytes / 1e6:.1f} MB in {seconds:.1f} s: "
             f"{len(written) / seconds:,.1f} files/s, {nbytes / 1e6 / seconds:.2f} MB/s"
             + (f"; {len(failed):,} FAILED, first: {failed[0]}" if failed else ""))
    return {"files": len(written), "bytes": nbytes, "seconds": seconds, "files_per_s": len(written) / seconds,
            "mb_per_s": nbytes / 1e6 / seconds, "failed": len(failed), "errors": failed[:5], "indices": written}


# --------------------------------------------------------- cluster measurements
def settled_rss(cluster, ns: str) -> int:
    """RSS after GetStats has had the chance to return freed memory (at most once a second)."""
    rss = 0
    for _ in range(3):
        time.sleep(1.1)
        rss = cluster.stats(ns).rss_bytes
    return rss


def pool_replicas(cluster, ns: str) -> dict[int, list[tuple[int, int]]]:
    """Block id -> [(bytes, bytes allocated on disk)] per replica of ``ns``'s pool on every
    DataNode (finalized and rbw); .meta files are listed under -1 - block id."""
    pool_id = cluster.stats(ns).pool_id
    found: dict[int, list[tuple[int, int]]] = {}
    for dn in cluster.config.datanodes.values():
        for kind in ("finalized", "rbw"):
            folder = Path(dn.data_dir) / pool_id / kind
            for entry in (os.scandir(folder) if folder.is_dir() else ()):
                if not entry.name.startswith("blk_"):
                    continue
                block_id = int(entry.name[4:].split("_")[0].split(".")[0])
                key = -1 - block_id if entry.name.endswith(".meta") else block_id
                st = entry.stat()
                found.setdefault(key, []).append((st.st_size, st.st_blocks * 512))
    return found


def count_block_files(cluster, ns: str, timeout: float = 90.0) -> dict:
    """Block data and .meta files of ``ns``'s pool, once deletions have reached the DataNodes
    (every block the NameNode knows has its replicas and nothing else is left), or at the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        stats = cluster.stats(ns)
        replicas = pool_replicas(cluster, ns)
        data = {k: v for k, v in replicas.items() if k >= 0}
        settled = len(data) == stats.blocks and all(len(v) == REPLICATION for v in data.values())
        if settled or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    return {"blocks": len(data), "namenode_blocks": stats.blocks, "settled": settled,
            "data_files": sum(len(v) for v in data.values()),
            "meta_files": sum(len(v) for k, v in replicas.items() if k < 0)}


def block_bytes(cluster, ns: str, block_ids: set[int], timeout: float = 60.0) -> dict:
    """Bytes of these blocks' replicas on the DataNodes (data and .meta; logical and allocated),
    once each has REPLICATION finalized-or-rbw replicas (or at the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        replicas = pool_replicas(cluster, ns)
        if all(len(replicas.get(b, ())) >= REPLICATION for b in block_ids) or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    data = [r for b in block_ids for r in replicas.get(b, ())]
    meta = [r for b in block_ids for r in replicas.get(-1 - b, ())]
    return {"blocks": len(block_ids), "replicas": len(data), "data_bytes": sum(s for s, _ in data),
            "data_allocated": sum(a for _, a in data), "meta_bytes": sum(s for s, _ in meta),
            "meta_allocated": sum(a for _, a in meta)}


def containers_of(fs, paths: list[str]) -> list[int]:
    return [fs.block_locations(p).blocks[0].block.block_id for p in paths]


def read_latencies(fs, sets: dict[str, tuple[list[tuple[str, int]], str]], reads: int, seed: int) -> dict:
    """Whole-file reads, one at a time, of random files (root, index) of each named set, the sets
    taken in turn so that every one sees the same machine (others' load drifts); every read is
    checked against what was written. {name: {reads, p50_ms, p99_ms, mean_ms}}."""
    rng = random.Random(seed + 7)
    for files, _kind in sets.values():                         # warm-up: channels, first-call costs
        for root, i in rng.sample(files, min(20, len(files))):
            fs.cat_file(file_path(root, i))
    times: dict[str, list[float]] = {name: [] for name in sets}
    for _ in range(reads):
        for name, (files, kind) in sets.items():
            root, i = rng.choice(files)
            started = time.perf_counter()
            data = fs.cat_file(file_path(root, i))
            times[name].append(time.perf_counter() - started)
            if data != content(kind, seed, i):
                raise AssertionError(f"{file_path(root, i)}: read {len(data)} bytes that differ from what was written")
    out = {}
    for name, t in times.items():
        t.sort()
        out[name] = {"reads": reads, "p50_ms": 1000 * statistics.median(t),
                     "p99_ms": 1000 * t[min(len(t) - 1, int(0.99 * len(t)))], "mean_ms": 1000 * statistics.fmean(t)}
        progress(f"  {name}: p50 {out[name]['p50_ms']:.2f} ms  p99 {out[name]['p99_ms']:.2f} ms")
    return out


def of(root: str, indices: list[int]) -> list[tuple[str, int]]:
    return [(root, i) for i in indices]


def container_kinds(fs, ns: str) -> dict[int, str]:
    """Block id -> kind ("s" staging, "p" packed, "c" older hfed's: the first letter of the name,
    namenode/packer.py) of every container of ``ns``, from a listing of the container directory
    (no mount point shows it; the bench's user started the cluster, so it is the superuser)."""
    from namenode.ops.small import CONTAINER_DIR
    nn, kinds, after = fs.session.namenode(ns), {}, ""
    while True:
        listing = nn.get_listing(CONTAINER_DIR, start_after=after)
        for status in listing.entries:
            name = status.path.rsplit("/", 1)[-1]
            for located in nn.get_block_locations(f"{CONTAINER_DIR}/{name}").blocks:
                kinds[located.block.block_id] = name[:1]
            after = name
        if not listing.remaining or not listing.entries:
            return kinds


def pack(fs, pool, args, sample: list[str], max_calls: int = 30) -> dict:
    """Close every writer's staging containers, then PackNow until no staging container is left
    (one call should do; see the report), and check where the sampled files are."""
    started = time.perf_counter()
    pool.map(_flush_worker, range(args.procs), chunksize=1)
    closed = time.perf_counter()
    calls, error = [], ""
    while len(calls) < max_calls:
        try:
            reply = fs.session.namenode(SMALL_NS).pack_now()
        except Exception as e:  # noqa: BLE001 - reported; the figures after it say they are of unpacked containers
            error = repr(e)
            progress(f"  PackNow FAILED: {error}")
            break
        left = list(container_kinds(fs, SMALL_NS).values()).count("s")
        calls.append({"files_packed": reply.files_packed, "containers_written": reply.containers_written,
                      "seconds": time.perf_counter() - closed, "staging_left": left})
        if not left:
            break
    packed = time.perf_counter()
    kinds = container_kinds(fs, SMALL_NS)
    where = [kinds.get(block_id, "?") for block_id in containers_of(fs, sample)]
    progress(f"  containers closed in {closed - started:.1f} s, then {len(calls)} PackNow call(s) in "
             f"{packed - closed:.1f} s: " + "; ".join(f"{c['files_packed']:,} files, {c['containers_written']} "
                                                     f"containers, {c['staging_left']} staging left" for c in calls)
             + f"; {where.count('p')} of {len(sample)} sampled files are in packed containers")
    return {"close_seconds": closed - started, "pack_seconds": packed - closed, "calls": calls,
            "files_packed": sum(c["files_packed"] for c in calls),
            "containers_written": sum(c["containers_written"] for c in calls), "error": error,
            "sampled": len(sample), "sample_packed": where.count("p"),
            "containers": {k: list(kinds.values()).count(k) for k in "spc"}}


class OpenStaging:
    """Files of a staging container kept open: written by this process, whose container a
    trickle of writes (one file every 0.5 s) keeps from closing as idle."""

    def __init__(self, fs, args):
        self.fs, self.root, self.count = fs, ROOTS["staging"], args.open_container_files
        progress(f"open staging container: {self.count} files to {self.root} ({OTHER_NS}), read while it is open")
        started = time.perf_counter()
        results = fs.pipe_many([(file_path(self.root, i), random_bytes(args.seed, i)) for i in range(self.count)])
        self.write_seconds = time.perf_counter() - started
        failed = [r for r in results if r is not None]
        if failed:
            raise RuntimeError(f"{len(failed)} writes to {self.root} failed, first: {failed[0]!r}")
        self.writer = fs.session.small_writer(OTHER_NS)
        self.container = self.writer._container       # the open staging container these files went to
        self.holders = set(containers_of(fs, [file_path(self.root, i)
                                              for i in range(0, self.count, max(1, self.count // 20))]))
        self._stop = threading.Event()
        self._keeper = threading.Thread(target=self._trickle, daemon=True)
        self._keeper.start()

    def _trickle(self) -> None:
        n = 0
        while not self._stop.wait(0.5):
            self.fs.pipe_file(f"{self.root}/trickle/t{n:05d}", b"keeps the staging container open\n" * 40)
            n += 1

    def files(self) -> list[tuple[str, int]]:
        return of(self.root, range(self.count))

    def close(self) -> dict:
        self._stop.set()
        self._keeper.join()
        c = self.container
        still_open = (c is not None and self.writer._container is c and not c.broken and self.holders == {c.block_id})
        progress("  the staging container stayed open during the reads" if still_open
                 else "  WARNING: the staging container was closed (or replaced) during the reads")
        self.fs.session.flush_small_files()
        return {"files": self.count, "write_seconds": self.write_seconds, "still_open": still_open}


def cluster_run(args, work: Path) -> dict:
    from client.fs import HfedFileSystem
    from client.minicluster import MiniCluster

    result: dict = {}
    with MiniCluster(work / "cluster", namespaces=2, datanodes=3, replication=REPLICATION) as cluster:
        cfg = cluster.config
        result["settings"] = {k: getattr(cfg, k) for k in ("small_file_threshold", "pack_count", "pack_bytes",
                                                            "pack_age", "durable_edits", "replication")}
        fs = HfedFileSystem(cluster.config_path, host="bench-client")
        small_total = args.files + args.open_files + args.batch_files
        counts = {"pipe": args.files, "open": args.open_files, "many": args.batch_files, "text": args.text_files,
                  "scaling": args.scaling_files if args.scaling_threads else 0, "empty": small_total,
                  "blocks": args.files, "text-blocks": args.text_files}
        wanted = [d for name, n in counts.items() for d in dirs_for(ROOTS[name], n)]
        for path, error in zip(wanted, fs.mkdirs_many(wanted)):
            if error is not None:
                raise RuntimeError(f"mkdir {path}: {error}")
        baseline = {ns: settled_rss(cluster, ns) for ns in (SMALL_NS, OTHER_NS)}
        ctx = multiprocessing.get_context("spawn")
        barrier = ctx.Barrier(args.procs)
        with ctx.Pool(args.procs, initializer=_init_worker,
                      initargs=(str(cluster.config_path), args.threads, barrier)) as pool:
            pool.map(time.sleep, [0.5] * args.procs)          # every worker started and connected
            runs: dict[str, dict] = {}
            for mode, n, how in (("pipe", args.files, "fs.pipe_file, one file per call"),
                                 ("open", args.open_files, 'fs.open(path, "wb"), one file per call'),
                                 ("many", args.batch_files, f"fs.pipe_many, {args.batch:,} files per call")):
                progress(f"small files: {n:,} to {ROOTS[mode]} ({SMALL_NS}) with {how}; "
                         f"{args.procs} processes x {args.threads} threads")
                runs[mode] = write_files(pool, mode, "random", ROOTS[mode], n, args)
            written = sum(runs[m]["files"] for m in ("pipe", "open", "many"))
            memory = {"baseline": baseline, "small_files": written,
                      "small_rss_after_writes": settled_rss(cluster, SMALL_NS)}

            progress(f"packing: close the writers' staging containers, PackNow ({SMALL_NS})")
            sample = [file_path(ROOTS[m], i) for m in ("pipe", "open", "many")
                      for i in runs[m]["indices"][::max(1, len(runs[m]["indices"]) // 20)]]
            runs["pack"] = pack(fs, pool, args, sample)
            memory["small_rss_after_pack"] = settled_rss(cluster, SMALL_NS)
            small_stats = cluster.stats(SMALL_NS)
            memory["small_stats"] = {"files": small_stats.files, "blocks": small_stats.blocks,
                                     "containers": small_stats.containers, "small_packed": small_stats.small_packed}
            progress(f"  block files of {SMALL_NS} (waiting for deleted staging containers to go)")
            runs["pack"]["block_files"] = count_block_files(cluster, SMALL_NS)
            progress(f"  {runs['pack']['block_files']}")

            progress(f"empty files: {written:,} to {ROOTS['empty']} ({OTHER_NS}) with fs.touch_many")
            started = time.perf_counter()
            failed = 0
            for s in range(0, written, 10_000):
                failed += sum(r is not None for r in fs.touch_many(
                    [file_path(ROOTS["empty"], i) for i in range(s, min(s + 10_000, written))]))
            runs["empty"] = {"files": written - failed, "failed": failed, "seconds": time.perf_counter() - started}
            runs["empty"]["files_per_s"] = runs["empty"]["files"] / runs["empty"]["seconds"]
            memory["empty_rss"] = settled_rss(cluster, OTHER_NS)
            memory["empty_files"] = runs["empty"]["files"]
            for name, rss, base, n in (("small, after writes", memory["small_rss_after_writes"], baseline[SMALL_NS],
                                        written),
                                       ("small, after packing", memory["small_rss_after_pack"], baseline[SMALL_NS],
                                        written),
                                       ("empty", memory["empty_rss"], baseline[OTHER_NS], runs["empty"]["files"])):
                progress(f"  NameNode RSS {name}: +{(rss - base) / 2**20:.1f} MiB for {n:,} files "
                         f"({(rss - base) / max(1, n):.1f} B/file)")
            progress("restarting both NameNodes (namespace state without what serving the writes left behind)")
            for ns in (SMALL_NS, OTHER_NS):
                cluster.kill_namenode(ns, signal.SIGTERM)
                cluster.start_namenode(ns)
            cluster.wait_for_block_reports()
            memory["restarted"] = {ns: settled_rss(cluster, ns) for ns in (SMALL_NS, OTHER_NS)}
            progress(f"  restarted: small +{per_file(memory['restarted'][SMALL_NS], baseline[SMALL_NS], written):.1f}"
                     f" B/file, empty +{per_file(memory['restarted'][OTHER_NS], baseline[OTHER_NS], written):.1f} B/file"
                     " over the first start's baselines")
            result["memory"] = memory

            progress(f"unpacked: writing to {ROOTS['blocks']} ({OTHER_NS}, pack=False) for "
                     f"{args.unpacked_seconds:.0f} s (at most {args.files:,} files)")
            runs["blocks"] = write_files(pool, "blocks", "random", ROOTS["blocks"], args.files, args,
                                         deadline=time.time() + args.unpacked_seconds)
            runs["blocks"]["block_files"] = count_block_files(cluster, OTHER_NS)

            staging = OpenStaging(fs, args)
            progress(f"reads: {args.reads:,} whole-file reads each of random packed, unpacked and open-container "
                     "files, in turn")
            try:
                reads = read_latencies(fs, {
                    "packed": ([f for m in ("pipe", "open", "many") for f in of(ROOTS[m], runs[m]["indices"])],
                               "random"),
                    "unpacked": (of(ROOTS["blocks"], runs["blocks"]["indices"]), "random"),
                    "staging": (staging.files(), "random")}, args.reads, args.seed)
            finally:
                runs["staging"] = staging.close()
            for name, run in (("packed", runs["pack"]), ("unpacked", runs["blocks"]), ("staging", runs["staging"])):
                run["read"] = reads[name]

            progress(f"text: {args.text_files:,} text-like files packed ({ROOTS['text']}, pipe_many) "
                     f"and unpacked ({ROOTS['text-blocks']}, pack=False)")
            text = write_files(pool, "many", "text", ROOTS["text"], args.text_files, args)
            text_paths = [file_path(ROOTS["text"], i) for i in text["indices"]]
            text["pack"] = pack(fs, pool, args, text_paths[::max(1, len(text_paths) // 20)])
            text["containers"] = sorted(set(containers_of(fs, text_paths)))
            text["disk"] = block_bytes(cluster, SMALL_NS, set(text["containers"]))
            text_blocks = write_files(pool, "blocks", "text", ROOTS["text-blocks"], args.text_files, args)
            block_ids = set(containers_of(fs, [file_path(ROOTS["text-blocks"], i) for i in text_blocks["indices"]]))
            text_blocks["disk"] = block_bytes(cluster, OTHER_NS, block_ids)
            for name, run in (("packed", text), ("unpacked", text_blocks)):
                d = run["disk"]
                progress(f"  {name}: {run['files']:,} files of {run['bytes'] / 1e6:.2f} MB -> {d['blocks']:,} blocks, "
                         f"{d['replicas']:,} replicas, {d['data_bytes'] / 1e6:.2f} MB on the DataNodes")
            progress(f"reads: {args.reads:,} whole-file reads each of random packed and unpacked text files, in turn")
            reads = read_latencies(fs, {"packed": (of(ROOTS["text"], text["indices"]), "text"),
                                        "unpacked": (of(ROOTS["text-blocks"], text_blocks["indices"]), "text")},
                                   args.reads, args.seed)
            text["read"], text_blocks["read"] = reads["packed"], reads["unpacked"]
            runs["text"], runs["text-blocks"] = text, text_blocks
        if args.scaling_threads:
            progress(f"one file per call with more threads: {args.scaling_files:,} files to {ROOTS['scaling']} "
                     f"with fs.pipe_file, {args.procs} processes x {args.scaling_threads} threads")
            with ctx.Pool(args.procs, initializer=_init_worker,
                          initargs=(str(cluster.config_path), args.scaling_threads, ctx.Barrier(args.procs))) as pool:
                pool.map(time.sleep, [0.5] * args.procs)
                runs["scaling"] = write_files(pool, "pipe", "random", ROOTS["scaling"], args.scaling_files, args,
                                              threads=args.scaling_threads)
                runs["scaling"]["threads"] = args.scaling_threads
        fs.close()
    for run in runs.values():
        run.pop("indices", None)
    result["runs"] = runs
    return result


def per_file(rss: int, base: int, files: int) -> float:
    return (rss - base) / max(1, files)


def main(argv=None) -> int:
    # The report reads this module's constants, so it is imported once this module is loaded.
    from bench.small_files_report import ratios, render, summary

    parser = argparse.ArgumentParser(prog="small_files", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", default="50k", help="small files written one per call with fs.pipe_file")
    parser.add_argument("--batch-files", help="small files written with fs.pipe_many (default: --files)")
    parser.add_argument("--open-files", help='small files written with fs.open(..., "wb") (default: --files / 5)')
    parser.add_argument("--inproc-files", default="200k", help="files of each layout in the in-process NameNode")
    parser.add_argument("--batch", type=int, default=1000, help="files per pipe_many call")
    parser.add_argument("--unpacked-seconds", type=float, default=60.0,
                        help="write unpacked files for this long (at most --files)")
    parser.add_argument("--text-files", default="2000", help="text-like files, packed and unpacked each")
    parser.add_argument("--open-container-files", type=int, default=500,
                        help="files read while their staging container is open")
    parser.add_argument("--scaling-threads", type=int, default=16,
                        help="also write --scaling-files with fs.pipe_file from this many threads a process (0: no)")
    parser.add_argument("--scaling-files", default="10k")
    parser.add_argument("--procs", type=int, default=2, help="writer processes")
    parser.add_argument("--threads", type=int, default=4, help="writer threads per process")
    parser.add_argument("--reads", type=int, default=2000, help="timed reads per layout")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--render", action="store_true",
                        help="only re-render small_files.md from small_files.json")
    parser.add_argument("--fill-child", choices=("small", "empty", "blocks"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.files = parse_count(str(args.files))
    args.batch_files = parse_count(args.batch_files) if args.batch_files else args.files
    args.open_files = parse_count(args.open_files) if args.open_files else args.files // 5
    args.inproc_files = parse_count(str(args.inproc_files))
    args.text_files = parse_count(str(args.text_files))
    args.scaling_files = parse_count(str(args.scaling_files))
    if args.fill_child:
        fill_child(args.fill_child, args.inproc_files, args.seed)
        return 0
    if args.render:
        fig = json.loads((RESULTS / "small_files.json").read_text())
        fig["ratios"] = ratios(fig)
        (RESULTS / "small_files.md").write_text(render(fig))
        progress(summary(fig))
        return 0
    fig = {"when": time.strftime("%Y-%m-%d %H:%M"),
           "command": " ".join(["python -m bench.small_files", *(argv if argv is not None else sys.argv[1:])]),
           "machine": f"{os.cpu_count()} cores, Python {platform.python_version()}",
           "args": {k: v for k, v in vars(args).items() if k not in ("fill_child", "render")}}
    started = time.perf_counter()
    fig["inproc"] = {layout: inproc_bytes_per_file(layout, args.inproc_files, args.seed)
                     for layout in ("small", "empty", "blocks")}
    with tempfile.TemporaryDirectory(prefix="hfed-smallfiles-") as tmp:
        fig["cluster"] = cluster_run(args, Path(tmp))
    fig["loadavg"] = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    fig["seconds"] = round(time.perf_counter() - started)
    fig["ratios"] = ratios(fig)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "small_files.json").write_text(json.dumps(fig, indent=1) + "\n")
    (RESULTS / "small_files.md").write_text(render(fig))
    progress(summary(fig))
    progress(f"wrote {RESULTS / 'small_files.md'} and small_files.json ({fig['seconds']:,} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
