"""Moving a subtree to another namespace by metadata only, against copying it file by file.

    python -m bench.move [--files 50k] [--file-size 16KiB] [--sample 5k] [--replication 1]
                         [--datanodes 1] [--threads 8] [--target ns-a] [--tiny]

A MiniCluster (two namespaces: ns-a owns /user and /tmp, ns-b owns /data; small
blocks; small_file_threshold 0, so every file has a block of its own). Steps:

1. fill /data/move (ns-b) with --files one-block files of --file-size bytes, 1,000
   per directory (directories with mkdirs_many, files with pipe_many from --threads
   threads); the file's number is written into its bytes, so reads can check them.
2. DataNode disk usage: every file and directory under the DataNodes' data dirs,
   st_blocks x 512, each inode counted once (as du does: a hard link costs nothing).
3. client.balance.move(session, "/data/move", --target): export, import, catch-up
   rounds, fence, cutover, drop at the source; the DataNodes hard-link the replicas
   into the target's block pool. Then wait until the source's replicas are deleted,
   and measure the disk again (goal: growth < 1%). A sample of files is read back at
   the same paths (their bytes checked) and must now belong to the target.
4. the baseline, in the same run: `hfed dfs -cp` (the CLI's own code, called in this
   process: no process start counted) of the first --sample files' directories
   from the moved subtree to another namespace: every byte read and written again.
   Compared per 10,000 files (goal: the move >= 20x faster).

Figures and ratios are printed and written to bench/results/move.md and move.json
(--results DIR writes them elsewhere; --tiny is a seconds-long run for the tests).
On this 2-core machine a one-block file takes ~5 ms of CPU to write (client,
NameNode and DataNode together) and the fill is most of the run: the default
--files 50k takes ~10 minutes on an idle machine, more on a shared one (50k filled
at 84 files/s in 10 min with other work running); --files 100k twice as long.
The DataNode deletes the source's replicas after the move at a few dozen a second
(a delete command per block, 64 per heartbeat), which takes longer than the move:
the run reports how far it got rather than waiting (--wait-deletes waits).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.big_namespace import parse_count
from protos.config import parse_size

RESULTS = Path(__file__).parent / "results"
MOVE_FIGURES = ("files", "directories", "blocks", "replicas_linked", "rounds", "entries", "seconds", "fenced_seconds")
SOURCE_ROOT = "/data/move"       # ns-b's mount is /data
COPY_ROOT = "/data/copy"         # the baseline copies back into the source namespace
SOURCE_NS = "ns-b"
FILES_PER_DIR = 1000
BLOCK_SIZE = 1 << 20
FILL_CHUNK = 50                  # files per pipe_many call of one fill thread
GOAL_SPEEDUP = 20.0
GOAL_DISK_GROWTH = 0.01
PER = 10_000                     # figures per this many files
VERIFY_FILES = 200               # files read back after the move
TINY = dict(files=300, files_per_dir=100, sample=100, file_size=1024, threads=4, wait_deletes=True)


def progress(msg: str) -> None:
    print(msg, flush=True)


# ---------------------------------------------------------------- the cluster
def start_cluster(work: Path, args):
    from client.minicluster import MiniCluster
    settings = {"small_file_threshold": 0,       # every file gets a block of its own
                "durable_edits": False}          # fsyncs would only slow the fill, on either side
    return MiniCluster(work / "cluster", namespaces=2, datanodes=args.datanodes, replication=args.replication,
                       block_size=BLOCK_SIZE, heartbeat_interval=0.5, dead_interval=10.0,
                       settings=settings).up()


def wait_for_bound_addresses(conf: str, timeout: float = 30.0) -> None:
    """Until the cluster mount table lists every NameNode's bound address. Right after up()
    the holder may still list one at port 0; a client that learns the real address then
    reconnects to it, and a call already under way on the old channel fails."""
    from client.minicluster import wait_for
    from client.session import ClusterSession
    session = ClusterSession(conf)
    try:
        wait_for(lambda: session.refresh_mounts() and not any(
            address.endswith(":0") for address in session.mounts.state.nameservices.values()),
            timeout, "the mount table to list every NameNode's bound address", interval=0.2)
    finally:
        session.close()


def file_path(root: str, i: int, per_dir: int) -> str:
    return f"{root}/d{i // per_dir:05d}/{i:016x}"


def content(i: int, size: int) -> bytes:
    """The file's number, repeated: a read shows which file's bytes came back."""
    word = i.to_bytes(8, "big")
    return (word * (size // 8 + 1))[:size]


# ------------------------------------------------------------------ 1: fill
def fill(fs, root: str, count: int, size: int, per_dir: int, threads: int) -> dict:
    """``count`` one-block files under ``root``; progress every 10 s."""
    dirs = sorted({file_path(root, i, per_dir).rsplit("/", 1)[0] for i in range(count)})
    failed = [e for e in fs.mkdirs_many(dirs) if e is not None]
    if failed:
        raise failed[0]
    progress(f"filling {root}: {count:,} one-block files of {size:,} B in {len(dirs):,} directories, "
             f"{threads} threads")

    def chunk(start: int) -> list:
        span = range(start, min(start + FILL_CHUNK, count))
        results = fs.pipe_many([(file_path(root, i, per_dir), content(i, size)) for i in span])
        return [f"{file_path(root, i, per_dir)}: {r!r}" for i, r in zip(span, results) if r is not None]

    done, errors = 0, []
    start = last = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        for bad in pool.map(chunk, range(0, count, FILL_CHUNK)):
            done += FILL_CHUNK
            errors += bad
            now = time.perf_counter()
            if now - last >= 10:
                last = now
                progress(f"  {min(done, count):,} / {count:,} files in {now - start:.0f} s "
                         f"({min(done, count) / (now - start):,.0f} files/s)")
    seconds = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"{len(errors):,} files under {root} were not written; first: {errors[0]}")
    progress(f"  filled {count:,} files in {seconds:.0f} s ({count / seconds:,.0f} files/s)")
    return {"files": count, "directories": len(dirs), "seconds": seconds, "files_per_s": count / seconds}


# -------------------------------------------------------------- 2: the disk
def disk_usage(cluster) -> dict:
    """Bytes allocated under every DataNode's data dir (st_blocks x 512), each inode once."""
    seen: set[tuple[int, int]] = set()
    allocated = in_dirs = files = links = 0
    for dn in cluster.config.datanodes.values():
        for folder, dirnames, filenames in os.walk(dn.data_dir):
            for name, is_file in [*((d, False) for d in dirnames), *((f, True) for f in filenames)]:
                try:
                    st = os.lstat(os.path.join(folder, name))
                except FileNotFoundError:     # a source name the DataNode deleted meanwhile
                    continue
                links += is_file
                if (st.st_dev, st.st_ino) in seen:
                    continue
                seen.add((st.st_dev, st.st_ino))
                allocated += st.st_blocks * 512
                in_dirs += 0 if is_file else st.st_blocks * 512
                files += is_file
    return {"allocated": allocated, "directories": in_dirs, "inodes": files, "names": links}


def replica_files(cluster, ns: str) -> int:
    """Block data files of ``ns``'s pool on every DataNode (names only: DataNodes delete meanwhile)."""
    pool_id = cluster.stats(ns).pool_id
    count = 0
    for dn in cluster.config.datanodes.values():
        for kind in ("finalized", "rbw"):
            folder = Path(dn.data_dir) / pool_id / kind
            names = os.listdir(folder) if folder.is_dir() else ()
            count += sum(name.startswith("blk_") and not name.endswith(".meta") for name in names)
    return count


def leftover_replicas(cluster, ns: str, replication: int) -> int:
    """Replica files in ``ns``'s pool beyond its NameNode's blocks: deletes still to do."""
    return replica_files(cluster, ns) - cluster.stats(ns).blocks * replication


def wait_replicas_settled(cluster, names: list[str], replication: int, timeout: float = 180.0) -> bool:
    """Until each pool holds exactly its NameNode's blocks x replication (deletes done)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(replica_files(cluster, ns) == cluster.stats(ns).blocks * replication for ns in names):
            return True
        time.sleep(0.5)
    return False


def source_deletes(cluster, deletes: dict, args) -> dict:
    """How far the DataNodes got deleting the source's replicas since the move (with
    --wait-deletes: until none is left, at most 180 s more)."""
    settled = wait_replicas_settled(cluster, [SOURCE_NS], args.replication) if args.wait_deletes else False
    remaining = leftover_replicas(cluster, SOURCE_NS, args.replication)
    seconds = time.monotonic() - deletes["since"]
    rate = (deletes["at_move_end"] - remaining) / seconds
    progress(f"source replicas: {deletes['at_move_end']:,} when the move ended, {remaining:,} left "
             f"{seconds:.0f} s later ({rate:,.1f} deleted/s)")
    return {"at_move_end": deletes["at_move_end"], "remaining": remaining, "seconds": seconds,
            "per_s": rate, "settled": settled}


# ------------------------------------------------------------------ 3: move
def move_subtree(session, path: str, target: str) -> dict:
    from client import balance
    last = [0.0]

    def show(*args, **kwargs):       # at most a line a second: a round may report often
        if time.monotonic() - last[0] >= 1.0:
            last[0] = time.monotonic()
            progress("  move: " + " ".join(str(a) for a in (*args, *kwargs.values())))
    start = time.perf_counter()
    report = balance.move(session, path, target, progress=show)
    seconds = time.perf_counter() - start
    figures = {name: getattr(report, name) for name in MOVE_FIGURES if hasattr(report, name)}
    figures["wall_seconds"] = seconds
    return figures


def verify(fs, session, root: str, count: int, size: int, per_dir: int, target: str) -> dict:
    """Read a spread of files back at their paths: their bytes, and that ``target`` serves them."""
    step = max(1, count // VERIFY_FILES)
    checked = wrong = 0
    for i in range(0, count, step):
        path = file_path(root, i, per_dir)
        checked += 1
        if fs.cat_file(path) != content(i, size) or session.resolve(path).nameservice != target:
            wrong += 1
    listed = fs.content_summary(root)
    return {"checked": checked, "wrong": wrong, "files_listed": listed["file_count"]}


# ------------------------------------------------------------ 4: baseline
def baseline_copy(conf: str, root: str, dest: str, sample: int, per_dir: int) -> dict:
    """`hfed dfs -cp` of the first directories of ``root`` (``sample`` files) to ``dest``."""
    from client import cli
    dirs = [f"{root}/d{d:05d}" for d in range(max(1, sample // per_dir))]
    files = len(dirs) * per_dir
    progress(f"baseline: hfed dfs -cp of {len(dirs)} directories ({files:,} files) to {dest}")
    start = time.perf_counter()
    code = cli.main_dispatch(["--conf", conf, "dfs", "-mkdir", "-p", dest])
    code = code or cli.main_dispatch(["--conf", conf, "dfs", "-cp", *dirs, dest])
    seconds = time.perf_counter() - start
    if code:
        raise RuntimeError(f"hfed dfs -cp {' '.join(dirs)} {dest} failed with exit code {code}")
    progress(f"  copied {files:,} files in {seconds:.1f} s ({files / seconds:,.0f} files/s)")
    return {"files": files, "seconds": seconds, "per_10k": seconds * PER / files}


# ------------------------------------------------------------------ the run
def run(args) -> dict:
    from client.fs import HfedFileSystem
    from client.session import ClusterSession
    with tempfile.TemporaryDirectory(prefix="hfed-move-") as tmp:
        cluster = start_cluster(Path(tmp), args)
        try:
            conf = str(cluster.config_path)
            if args.target not in cluster.nameservices:
                cluster.add_namespace(args.target)
            wait_for_bound_addresses(conf)
            session = ClusterSession(conf)
            fs = HfedFileSystem(session=session, skip_instance_cache=True)
            filled = fill(fs, SOURCE_ROOT, args.files, args.file_size, args.files_per_dir, args.threads)
            wait_replicas_settled(cluster, [SOURCE_NS], args.replication)
            before = disk_usage(cluster)
            progress(f"DataNode disk before the move: {before['allocated'] / 2**20:,.1f} MiB "
                     f"({before['inodes']:,} files)")
            progress(f"moving {SOURCE_ROOT} from {SOURCE_NS} to {args.target}")
            moved = move_subtree(session, SOURCE_ROOT, args.target)
            progress(f"  moved in {moved['wall_seconds']:.1f} s")
            # Measured at once: the source's names for the replicas may still be there, but a
            # hard link shares its inode, and each inode is counted once.
            after = disk_usage(cluster)
            growth = (after["allocated"] - before["allocated"]) / before["allocated"]
            progress(f"DataNode disk after the move: {after['allocated'] / 2**20:,.1f} MiB "
                     f"({after['inodes']:,} files, {after['names']:,} names; growth {growth:+.2%})")
            deletes = {"at_move_end": leftover_replicas(cluster, SOURCE_NS, args.replication),
                       "since": time.monotonic()}
            checked = verify(fs, session, SOURCE_ROOT, args.files, args.file_size, args.files_per_dir, args.target)
            progress(f"  read back {checked['checked']} files at their paths: {checked['wrong']} wrong; "
                     f"{checked['files_listed']:,} files under {SOURCE_ROOT}")
            copied = baseline_copy(conf, SOURCE_ROOT, COPY_ROOT, args.sample, args.files_per_dir)
            session.close()
            deletes = source_deletes(cluster, deletes, args)
        finally:
            cluster.down()
    move_per_10k = moved["wall_seconds"] * PER / args.files
    return {"when": time.strftime("%Y-%m-%d %H:%M"), "machine": f"{os.cpu_count()} cores, Python "
            f"{platform.python_version()}", "load": os.getloadavg(), "tiny": args.tiny,
            "files": args.files, "file_size": args.file_size, "files_per_dir": args.files_per_dir,
            "replication": args.replication, "datanodes": args.datanodes, "target": args.target,
            "fill": filled, "disk_before": before, "disk_after": after, "disk_growth": growth,
            "dir_growth_per_file": (after["directories"] - before["directories"]) / args.files,
            "deletes": deletes, "move": moved, "move_per_10k": move_per_10k, "verify": checked,
            "copy": copied, "speedup": copied["per_10k"] / move_per_10k}


# ---------------------------------------------------------------- the report
def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def render(r: dict) -> str:
    mib = 2 ** 20
    m, c, d = r["move"], r["copy"], r["deletes"]
    rows = [
        ("move, seconds (all of it: export, import, rounds, fence, cutover, drop)",
         f"{m['wall_seconds']:.1f}", ""),
        ("move, seconds per 10,000 files", f"{r['move_per_10k']:.2f}", ""),
        (f"copy (`hfed dfs -cp`, {c['files']:,} files), seconds per 10,000 files", f"{c['per_10k']:.1f}", ""),
        ("move vs copy, per 10,000 files", f"**{r['speedup']:.1f}x** faster",
         f">= {GOAL_SPEEDUP:.0f}x: {verdict(r['speedup'] >= GOAL_SPEEDUP)}"),
        ("DataNode disk before / after the move",
         f"{r['disk_before']['allocated'] / mib:,.1f} / {r['disk_after']['allocated'] / mib:,.1f} MiB", ""),
        ("disk growth", f"**{r['disk_growth']:+.2%}**",
         f"< {GOAL_DISK_GROWTH:.0%}: {verdict(r['disk_growth'] < GOAL_DISK_GROWTH)}"),
        ("files read back at their paths after the move (bytes and namespace checked)",
         f"{r['verify']['checked'] - r['verify']['wrong']} / {r['verify']['checked']} right",
         verdict(r["verify"]["wrong"] == 0)),
    ]
    lines = ["# Moving a subtree between namespaces: metadata only vs copying", "",
             f"Measured {r['when']} on {r['machine']} (load average at the end {r['load'][0]:.1f} / "
             f"{r['load'][1]:.1f} / {r['load'][2]:.1f}; the machine is shared). Re-run with `make movebench` "
             "(or `python -m bench.move --help`)." + (" **Tiny run (smoke test), not figures.**" if r["tiny"] else ""),
             "",
             f"A MiniCluster with two namespaces, {r['datanodes']} DataNode(s), replication {r['replication']}, "
             f"1 MiB blocks, small_file_threshold 0 (every file its own block). {SOURCE_ROOT} in {SOURCE_NS} was "
             f"filled with {r['files']:,} one-block files of {r['file_size']:,} B ({r['files_per_dir']:,} per "
             f"directory) in {r['fill']['seconds']:.0f} s ({r['fill']['files_per_s']:,.0f} files/s; a one-block file "
             "costs ~5 ms of CPU to write on this machine, and the fill is most of the run: the default "
             f"`--files 50k` takes ~10 minutes on an idle machine, more when it is shared), then moved to {r['target']} with `client.balance.move` (what `hfed balance` runs): the "
             "DataNodes hard-link the replicas into the target's block pool, nothing is copied. The baseline, in "
             f"the same run, is `hfed dfs -cp` of {c['files']:,} of those files to another namespace (the CLI's "
             "own code, called in-process): every byte read and written again.", "",
             "| figure | measured | goal |", "|---|---:|---|"]
    lines += [f"| {a} | {b} | {g} |" for a, b, g in rows]
    lines += ["", "The move's own report:", "", "| " + " | ".join(m) + " |", "|" + "---:|" * len(m),
              "| " + " | ".join(f"{v:,.2f}" if isinstance(v, float) else f"{v:,}" for v in m.values()) + " |", "",
              "Disk usage counts every file and directory under the DataNodes' data dirs by st_blocks, each inode "
              "once (a hard link adds a name, not blocks), right before and right after the move: "
              f"{r['disk_before']['inodes']:,} files before, {r['disk_after']['inodes']:,} after "
              f"({r['disk_after']['names']:,} names: the source's names go as the DataNodes delete its replicas). "
              f"Those deletes: {d['at_move_end']:,} source replicas when the move ended, {d['remaining']:,} left "
              f"{d['seconds']:.0f} s later ({d['per_s']:,.1f} deleted/s"
              + (f"; all of them would take ~{d['at_move_end'] / d['per_s'] / 60:,.0f} min" if d["remaining"] and
                 d["per_s"] > 0 else "") + "); they free no space, the target's names keep the inodes. Directories (the pools' own, holding a name per block and "
              f".meta file) take {r['disk_before']['directories'] / mib:,.1f} MiB before and "
              f"{r['disk_after']['directories'] / mib:,.1f} MiB after: the target pool's new directory entries "
              f"are the growth, {r['dir_growth_per_file']:,.0f} B per moved file whatever its size (so the "
              "share shrinks as files grow; with these small files it is what there is to see).",
              "", "Raw figures: move.json beside this page."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="bench.move", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", default="50k", help="one-block files in the moved subtree")
    parser.add_argument("--file-size", default="16KiB", help="bytes per file")
    parser.add_argument("--files-per-dir", type=int, default=FILES_PER_DIR)
    parser.add_argument("--sample", default="5k", help="files the baseline copies (whole directories)")
    parser.add_argument("--replication", type=int, default=1)
    parser.add_argument("--datanodes", type=int, default=1)
    parser.add_argument("--threads", type=int, default=8, help="fill threads")
    parser.add_argument("--target", default="ns-a", help="namespace to move to (added when the cluster lacks it)")
    parser.add_argument("--results", default=str(RESULTS), help="where move.md and move.json go")
    parser.add_argument("--wait-deletes", action="store_true",
                        help="at the end, wait (up to 180 s) until the source's replicas are deleted")
    parser.add_argument("--tiny", action="store_true", help="a seconds-long run (smoke test)")
    args = parser.parse_args(argv)
    args.files, args.sample = parse_count(args.files), parse_count(args.sample)
    args.file_size = parse_size(args.file_size)
    if args.tiny:
        for key, value in TINY.items():
            setattr(args, key, value)
    if not 0 < args.sample <= args.files or args.replication > args.datanodes:
        parser.error("want 0 < --sample <= --files and --replication <= --datanodes")
    result = run(args)
    progress(f"move {result['move_per_10k']:.2f} s per 10k files vs copy {result['copy']['per_10k']:.1f} s: "
             f"{result['speedup']:.1f}x (goal >= {GOAL_SPEEDUP:.0f}x); disk growth {result['disk_growth']:+.2%} "
             f"(goal < {GOAL_DISK_GROWTH:.0%})")
    out = Path(args.results)
    out.mkdir(parents=True, exist_ok=True)
    (out / "move.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / "move.md").write_text(render(result))
    progress(f"wrote {out / 'move.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
