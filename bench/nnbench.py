"""NameNode throughput benchmark (in the spirit of HDFS's NNThroughputBenchmark).

    python -m bench.nnbench [-op all|create|mkdirs|open|fileStatus|listStatus|rename|delete]
                            [-threads 16] [-ops 20000] [-files-per-dir 1000] [-mode both|inproc|grpc]
                            [-rounds 5] [-batch 1000] [-batch-ops 100000] [-batch-threads 2]

in-process: calls the Namesystem directly (no RPC), one thread: the
            namespace core's own speed.
grpc:       a real NameNode process on loopback and, in the same run, a bare
            gRPC echo server in a process of its own (same grpc.aio server
            stack, nothing behind it): this machine's limit for one operation
            per RPC. Both are driven by the same grpc.aio client in this
            process with `-threads` calls in flight, so the ratio is fair.
            Each op runs in `-rounds` slices, each right after an echo round
            of as many calls (the load of a shared machine drifts); its rate
            is printed as a ratio to echo per RPC, the median of the rounds'.
security:   in the same run a second NameNode with security on (the default: a
            signed token on every call, checked by the NameNode, over TLS; the
            first runs with auth = "simple" and tls = false, as the echo server
            does): each op in `-rounds` slices over a tree of its own, each
            slice on the plain NameNode and right after on the secure one; the
            ratio of the rates is what security costs per RPC (goal: >= 0.9x).
batched:    Batch RPCs of `-batch` entries, `-batch-threads` in flight:
            getFileInfo, create (Create + Complete entries) and mkdirs.
Prints ops/s, latency percentiles and the goal next to each figure; writes
bench/results/nnbench.md. `--echo-server --address-file F` runs the echo
server alone (the benchmark starts and stops it).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc

from bench.metadata_durability import fdatasync_latency
from client import credentials
from protos import config as config_mod, hfed_pb2 as pb, hfed_pb2_grpc as pb_grpc, rpc

OPS = ["create", "mkdirs", "open", "fileStatus", "listStatus", "rename", "delete"]
RPCS_PER_OP = {"create": 2}       # Create + Complete, as NNThroughputBenchmark's create
CLIENT = "nnbench"
ECHO_METHOD = "/bench.Echo/Echo"
GOAL_BATCHED_INFO = 50_000        # batched getFileInfo entries/s
GOAL_VS_ECHO = 0.85               # unbatched RPCs/s over echo calls/s
GOAL_TLS = 0.9                    # unbatched ops/s with TLS over the same without (issue 12)
TLS_TOP = "/tlsbench"             # the tree the TLS comparison works in (on both NameNodes)


def progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def names(ops: int, files_per_dir: int, top: str = "/bench") -> list[str]:
    return [f"{top}/d{i // files_per_dir:05d}/f{i % files_per_dir:05d}" for i in range(ops)]


def parents(paths: list[str]) -> list[str]:
    return sorted({p.rsplit("/", 1)[0] for p in paths})


def summary(ops: int, elapsed: float, latencies: list[float]) -> dict:
    latencies.sort()
    return {"ops_per_s": ops / elapsed,
            "p50_ms": 1000 * latencies[len(latencies) // 2],
            "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]}


def ordered(op_names: list[str]) -> list[str]:
    """Every op needs the files `create` makes; rename must precede delete."""
    wanted = set(op_names)
    return [op for op in OPS if op in wanted or op == "create" or (op == "rename" and "delete" in wanted)]


# ------------------------------------------------------------- in-process
def inprocess_actions(ops: int, files_per_dir: int, quotas: bool = False) -> tuple[list[str], dict]:
    """A fresh Namesystem with the benchmark's directories: (paths, {op: action(path)}).
    ``quotas``: a name and a space quota on every ancestor of every path (/, /bench and
    each directory), high enough never to refuse: what counting and checking them costs."""
    from namenode.namesystem import Namesystem
    from namenode.ops import dirs, files, quota, reads

    fsn = Namesystem("bench", "CID", "BP", "bench", replication=1)
    me = fsn.ns.caller("bench")
    paths = names(ops, files_per_dir)
    for d in parents(paths):
        dirs.mkdirs(fsn, me, d, 0o755, True)
    if quotas:
        for d in ["/", "/bench", *parents(paths)]:
            quota.set_quota(fsn, me, d, 1 << 40, 1 << 60)

    def create(p):
        files.create(fsn, me, p, 0o644, False, False, 1, 0, CLIENT)
        files.complete(fsn, me, p, CLIENT, None)

    return paths, {
        "create": create,
        "mkdirs": lambda p: dirs.mkdirs(fsn, me, p + ".d", 0o755, False),
        "open": lambda p: reads.get_block_locations(fsn, me, p, 0, 0, ""),
        "fileStatus": lambda p: reads.get_file_info(fsn, me, p),
        "listStatus": lambda p: reads.get_listing(fsn, me, p.rsplit("/", 1)[0], "", 100),
        "rename": lambda p: dirs.rename(fsn, me, p, p + ".r"),
        "delete": lambda p: dirs.delete(fsn, me, p + ".r", False),
    }


def inprocess(op_names: list[str], ops: int, files_per_dir: int) -> dict:
    paths, actions = inprocess_actions(ops, files_per_dir)
    results = {}
    for name in ordered(op_names):
        latencies = []
        action = actions[name]
        start = time.perf_counter()
        for p in paths:
            t = time.perf_counter()
            action(p)
            latencies.append(time.perf_counter() - t)
        results[name] = summary(ops, time.perf_counter() - start, latencies)
    return results


QUOTA_OPS = ["create", "mkdirs"]
GOAL_QUOTAS = 0.95                # ops/s with a quota on every ancestor over the same without (issue 15)
QUOTA_SLICE = 250                 # ops timed back to back on each of the two namespaces


def quota_overhead(ops: int, files_per_dir: int, rounds: int) -> dict:
    """In-process create and mkdirs on two namespaces built alike, one with a quota on every
    ancestor: slices of ``QUOTA_SLICE`` ops on one then the other (alternating which goes
    first), timed in CPU seconds of this process; ``rounds`` times, fresh namespaces each.
    The machine is shared: slices this short, side by side, see the same neighbours.
    {op: {"plain": ops/s, "quotas": ops/s, "ratio": median of the slices' ratios}}."""
    slices = {op: {False: [], True: []} for op in QUOTA_OPS}
    for r in range(rounds):
        (paths, plain), (_, quota) = (inprocess_actions(ops, files_per_dir, q) for q in (False, True))
        variants = {False: plain, True: quota}
        for op in QUOTA_OPS:
            for k, start in enumerate(range(0, ops, QUOTA_SLICE)):
                part = paths[start:start + QUOTA_SLICE]
                for with_quotas in ((False, True) if k % 2 == 0 else (True, False)):
                    action = variants[with_quotas][op]
                    t = time.process_time()
                    for p in part:
                        action(p)
                    slices[op][with_quotas].append((time.process_time() - t) / len(part))
        progress(f"quotas round {r + 1}/{rounds}")
    return {op: {"plain": 1 / statistics.median(s[False]), "quotas": 1 / statistics.median(s[True]),
                 "ratio": statistics.median(p / q for p, q in zip(s[False], s[True]))}
            for op, s in slices.items()}


QUOTA_NOTES = """
Each path has three quota'd ancestors (/, /bench, its directory), each with a name and a
space quota. What a create or mkdirs pays for them (namenode/quotas.py): its apply function
looks up the quota'd ancestors of the deepest existing directory in a per-directory cache
(one dict look-up), adds the new names to each of them, and skips the per-directory check
while a global lower bound of every quota's room (`slack`) exceeds what the op adds. A
complete without a last block is one test. The remaining cost is the counter update per
quota'd ancestor (HDFS updates every ancestor with a quota the same way), so it grows with
the number of quota'd ancestors. Profiled designs before this one: a plan around every
record that resolved the path again and walked up the parent column (0.77x create, 0.86x
mkdirs), then `list.count(None)` on the resolved path, which calls `Inode.__eq__` per element.
"""


def report_quotas(ops: int, files_per_dir: int, rounds: int, results: dict) -> str:
    lines = [f"## in-process with a quota on every ancestor ({ops} ops, {files_per_dir} files per directory, "
             f"{rounds} rounds of {QUOTA_SLICE}-op slices side by side; CPU time)", "",
             "| op | ops/s plain | ops/s quotas | quotas / plain | goal |", "|---|---:|---:|---:|---|"]
    for op, r in results.items():
        met = "met" if r["ratio"] >= GOAL_QUOTAS else "NOT met"
        lines.append(f"| {op} | {r['plain']:,.0f} | {r['quotas']:,.0f} | {r['ratio']:.3f}x | "
                     f">= {GOAL_QUOTAS}x: {met} |")
    return "\n".join(lines) + "\n" + QUOTA_NOTES


# ------------------------------------------------------------ processes
def start_process(argv: list[str], tmp: Path, name: str, code: Path | None = None) -> tuple[subprocess.Popen, str]:
    """Start a server process that announces its address in a file; wait for it.
    ``code``: run the modules of that source tree (another version of hfed)."""
    addr, log = tmp / f"{name}.addr", tmp / f"{name}.log"
    env = None if code is None else {**os.environ, "PYTHONPATH": str(code)}
    proc = subprocess.Popen([sys.executable, "-m", *argv, "--address-file", str(addr)], stderr=open(log, "w"),
                            cwd=code, env=env)
    deadline = time.time() + 60
    while not addr.exists():
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            raise RuntimeError(f"{name} did not start: {log.read_text()[-2000:]}")
        time.sleep(0.05)
    return proc, addr.read_text()


def start_namenode(tmp: Path, secure: bool = False,
                   code: Path | None = None) -> tuple[subprocess.Popen, str, config_mod.ClusterConfig]:
    """A NameNode in ``tmp``: (process, address, its config, which clients need for its CA and
    token); ``secure``: tokens and TLS (the default of a real cluster), else both off;
    ``code``: the source tree to run it from (default: this one)."""
    tmp.mkdir(parents=True, exist_ok=True)
    security = {"auth": "token", "tls": True} if secure else {"auth": "simple", "tls": False}
    cfg = config_mod.from_dict({"cluster_id": "CID-bench", "replication": 1, "security": security,
                                "nameservices": {"ns-a": {"address": "127.0.0.1:0",
                                                          "meta_dir": str(tmp / "meta")}},
                                "mounts": [{"path": "/bench", "nameservice": "ns-a"},
                                           {"path": TLS_TOP, "nameservice": "ns-a"}]})
    conf = tmp / "hfed.toml"
    conf.write_text(config_mod.dump(cfg))
    proc, address = start_process(["namenode.server", "--conf", str(conf), "--nameservice", "ns-a"], tmp,
                                  "namenode", code)
    return proc, address, config_mod.load(conf)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def serve_echo(address_file: str) -> None:
    """The bare server: the NameNode's own server stack (grpc.aio, one event loop), nothing behind it."""
    async def echo(request, _context):
        return request
    server = rpc.aio_server()
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "bench.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(echo)}),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    rpc.write_address_file(address_file, f"127.0.0.1:{port}")
    await server.wait_for_termination()


# ---------------------------------------------------------------- driver
async def timed(concurrency: int, work: list, call) -> tuple[float, list[float]]:
    """``concurrency`` tasks take items from ``work`` and await call(item): (elapsed, each call's latency)."""
    latencies: list[float] = []
    items = iter(work)

    async def worker():
        for item in items:
            t = time.perf_counter()
            await call(item)
            latencies.append(time.perf_counter() - t)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - start, latencies


async def drive(concurrency: int, work: list, call, ops: int | None = None) -> dict:
    """ops/s and latency of ``work``; ``ops``: operations in all of it (default one per item)."""
    elapsed, latencies = await timed(concurrency, work, call)
    return summary(ops or len(work), elapsed, latencies)


async def paired(threads: int, rounds: int, paths: list[str], action, echo) -> dict:
    """The op over ``paths`` in ``rounds`` slices, each right after an echo round
    of as many calls: the shared machine's load drifts, so each slice is compared
    with the echo just before it; the ratio is the median of the slices'."""
    op_time = echo_time = 0.0
    op_latencies: list[float] = []
    ratios = []
    for part in (paths[i::rounds] for i in range(rounds)):
        echo_elapsed, _ = await timed(threads, part, echo)
        elapsed, latencies = await timed(threads, part, action)
        op_time, echo_time = op_time + elapsed, echo_time + echo_elapsed
        op_latencies += latencies
        ratios.append(echo_elapsed / elapsed)
    result = summary(len(paths), op_time, op_latencies)
    result.update(echo_per_s=len(paths) / echo_time, vs_echo=statistics.median(ratios))
    return result


def batch_call(stub, md):
    async def call(entries: list[pb.BatchEntry]):
        reply = await stub.Batch(pb.BatchRequest(entries=entries), metadata=md)
        failed = [r.error for r in reply.results if r.HasField("error")]
        if failed:   # a benchmark must not count failures as operations
            raise RuntimeError(f"{len(failed)} of {len(entries)} batch entries failed, first: {failed[0]}")
    return call


def chunks(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


async def over_grpc(op_names: list[str], ops: int, files_per_dir: int, threads: int, rounds: int, batch: int,
                    batch_ops: int, batch_threads: int) -> tuple[dict, dict, dict, tuple[float, float]]:
    with tempfile.TemporaryDirectory(prefix="hfed-nnbench-") as tmp_name:
        tmp = Path(tmp_name)
        echo_proc, echo_address = start_process(["bench.nnbench", "--echo-server"], tmp, "echo")
        nn_proc, address, _ = start_namenode(tmp)
        tls_proc, tls_address, tls_cfg = start_namenode(tmp / "tls", secure=True)
        md = rpc.identity_metadata()
        secure_md = credentials.find(tls_cfg).metadata("ns-a", tls_cfg)   # the owner's own token
        try:
            unbatched: dict = {}
            tls_vs_plain: dict = {}
            async with rpc.aio_channel(echo_address) as echo_channel, rpc.aio_channel(address) as channel, \
                    rpc.aio_channel(tls_address, tls_cfg) as tls_channel:
                echo_stub = echo_channel.unary_unary(ECHO_METHOD)
                payload = pb.GetFileInfoRequest(path="/bench/d00000/f00000").SerializeToString()

                def echo(_item):
                    return echo_stub(payload, metadata=md)
                stub = pb_grpc.ClientProtocolStub(channel)
                paths = names(ops, files_per_dir)
                tls_stub = pb_grpc.ClientProtocolStub(tls_channel)
                tls_paths = names(ops, files_per_dir, TLS_TOP)
                for d in parents(paths):       # also connects the channels before any clock starts
                    await stub.Mkdirs(pb.MkdirsRequest(path=d, create_parent=True), metadata=md)
                for d in parents(tls_paths):
                    await stub.Mkdirs(pb.MkdirsRequest(path=d, create_parent=True), metadata=md)
                    await tls_stub.Mkdirs(pb.MkdirsRequest(path=d, create_parent=True), metadata=secure_md)
                await echo(None)
                for name in ordered(op_names):
                    progress(f"{name}: {ops} ops, {threads} in flight, {rounds} rounds alternating with echo")
                    unbatched[name] = await paired(threads, rounds, paths, unbatched_action(stub, md, name), echo)
                    progress(f"{name}: {ops} ops, {rounds} rounds alternating plain and secure NameNodes")
                    tls_vs_plain[name] = await paired(threads, rounds, tls_paths,
                                                      unbatched_action(tls_stub, secure_md, name),
                                                      unbatched_action(stub, md, name))
                batched = await batched_ops(stub, md, batch, batch_ops, batch_threads, files_per_dir)
            return unbatched, tls_vs_plain, batched, fdatasync_latency(tmp)   # what every mutation waits for
        finally:
            stop(tls_proc)
            stop(nn_proc)
            stop(echo_proc)


def unbatched_action(stub, md, name: str):
    async def create(p):
        await stub.Create(pb.CreateRequest(path=p, client_name=CLIENT, replication=1), metadata=md)
        await stub.Complete(pb.CompleteRequest(path=p, client_name=CLIENT), metadata=md)

    return {
        "create": create,
        "mkdirs": lambda p: stub.Mkdirs(pb.MkdirsRequest(path=p + ".d"), metadata=md),
        "open": lambda p: stub.GetBlockLocations(pb.GetBlockLocationsRequest(path=p), metadata=md),
        "fileStatus": lambda p: stub.GetFileInfo(pb.GetFileInfoRequest(path=p), metadata=md),
        "listStatus": lambda p: stub.GetListing(pb.GetListingRequest(path=p.rsplit("/", 1)[0], limit=100),
                                                metadata=md),
        "rename": lambda p: stub.Rename(pb.RenameRequest(src=p, dst=p + ".r"), metadata=md),
        "delete": lambda p: stub.Delete(pb.DeleteRequest(path=p + ".r"), metadata=md),
    }[name]


async def batched_ops(stub, md, batch: int, batch_ops: int, threads: int, files_per_dir: int) -> dict:
    """create fresh files (batch_ops / 5), getFileInfo over them (batch_ops
    entries, each file five times) and mkdirs beside them, `batch` entries per call."""
    call = batch_call(stub, md)
    results = {}
    fresh = names(max(1, batch_ops // 5), files_per_dir, "/bench/batched")
    for d in parents(fresh):
        await stub.Mkdirs(pb.MkdirsRequest(path=d, create_parent=True), metadata=md)
    create = [e for p in fresh for e in (
        pb.BatchEntry(create=pb.CreateRequest(path=p, client_name=CLIENT, replication=1)),
        pb.BatchEntry(complete=pb.CompleteRequest(path=p, client_name=CLIENT)))]
    progress(f"batched create: {len(fresh)} files (Create + Complete entries), {batch} entries per call, "
             f"{threads} calls in flight")
    results["create"] = await drive(threads, chunks(create, batch), call, len(fresh))
    info = [pb.BatchEntry(get_file_info=pb.GetFileInfoRequest(path=fresh[i % len(fresh)]))
            for i in range(batch_ops)]
    progress(f"batched getFileInfo: {batch_ops} entries")
    results["getFileInfo"] = await drive(threads, chunks(info, batch), call, batch_ops)
    mkdirs = [pb.BatchEntry(mkdirs=pb.MkdirsRequest(path=p + ".d")) for p in fresh]
    progress(f"batched mkdirs: {len(fresh)} directories")
    results["mkdirs"] = await drive(threads, chunks(mkdirs, batch), call, len(fresh))
    return results


# ---------------------------------------------------------------- report
def report(title: str, results: dict) -> str:
    lines = [f"## {title}", "", "| op | ops/s | p50 ms | p99 ms |", "|---|---:|---:|---:|"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['ops_per_s']:,.0f} | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} |")
    return "\n".join(lines) + "\n"


def report_grpc(threads: int, rounds: int, unbatched: dict, tls_vs_plain: dict, batched: dict,
                fsync_ms: tuple[float, float],
                batch: int, batch_threads: int) -> str:
    sync_p50, sync_p99 = fsync_ms
    lines = [f"## over gRPC, one op per RPC ({threads} calls in flight; one grpc.aio client drives both the "
             f"NameNode and the echo server; {rounds} rounds, each after an echo round of as many calls)", "",
             "| op | RPCs/op | ops/s | p50 ms | p99 ms | echo calls/s | RPCs/s vs echo | goal |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    for name, r in unbatched.items():
        rpcs = RPCS_PER_OP.get(name, 1)
        ratio = r["vs_echo"] * rpcs
        verdict = "met" if ratio >= GOAL_VS_ECHO else "NOT met"
        lines.append(f"| {name} | {rpcs} | {r['ops_per_s']:,.0f} | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} | "
                     f"{r['echo_per_s']:,.0f} | {ratio:.2f}x | >= {GOAL_VS_ECHO}x: {verdict} |")
    echo = statistics.median(r["echo_per_s"] for r in unbatched.values())   # for the batched rows
    lines += ["", f"## Security on vs off, one op per RPC (two NameNodes of this build: tokens + TLS, the "
              f"default, and auth = \"simple\" + tls = false; {threads} calls in flight, {rounds} rounds: each "
              f"slice on the plain one, then on the secure one; ratio: median of the slices)", "",
              "| op | ops/s secure | ops/s plain | secure / plain | p50 ms secure | p99 ms secure | goal |",
              "|---|---:|---:|---:|---:|---:|---|"]
    for name, r in tls_vs_plain.items():
        verdict = "met" if r["vs_echo"] >= GOAL_TLS else "NOT met"
        lines.append(f"| {name} | {r['ops_per_s']:,.0f} | {r['echo_per_s']:,.0f} | {r['vs_echo']:.2f}x | "
                     f"{r['p50_ms']:.3f} | {r['p99_ms']:.3f} | >= {GOAL_TLS}x: {verdict} |")
    lines += ["", f"## over gRPC, batched ({batch} entries per Batch call, {batch_threads} calls in flight; "
              f"latency is per call)", "",
              "| op | ops/s | p50 ms (call) | p99 ms (call) | vs echo | goal |", "|---|---:|---:|---:|---:|---|"]
    for name, r in batched.items():
        goal = ""
        if name == "getFileInfo":
            goal = f">= {GOAL_BATCHED_INFO:,} ops/s: {'met' if r['ops_per_s'] >= GOAL_BATCHED_INFO else 'NOT met'}"
        lines.append(f"| {name} | {r['ops_per_s']:,.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
                     f"{r['ops_per_s'] / echo:.1f}x | {goal} |")
    lines.append("\nbatched create counts files (each a Create and a Complete entry in the same call).")
    lines.append(f"\nMutations (create, mkdirs, rename, delete) are acknowledged once their edit is on disk; one "
                 f"fdatasync covers every call in flight. fdatasync on the meta_dir's disk in this run: "
                 f"p50 {sync_p50:.1f} ms, p99 {sync_p99:.1f} ms; echo waits for no disk.")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="nnbench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-op", default="all", choices=["all", *OPS])
    parser.add_argument("-threads", type=int, default=16, help="calls in flight, one op per RPC")
    parser.add_argument("-ops", type=int, default=20000)
    parser.add_argument("-files-per-dir", type=int, default=1000)
    parser.add_argument("-rounds", type=int, default=5, help="op rounds, each after an echo round")
    parser.add_argument("-mode", default="both", choices=["both", "inproc", "grpc"])
    parser.add_argument("-batch", type=int, default=pb.MAX_BATCH, help="entries per Batch call")
    parser.add_argument("-batch-ops", type=int, default=100000, help="batched getFileInfo entries")
    parser.add_argument("-batch-threads", type=int, default=2, help="Batch calls in flight")
    parser.add_argument("--quotas", action="store_true",
                        help="in-process create and mkdirs also with a quota on every ancestor (ratio; "
                             "writes results/quota_overhead.md)")
    parser.add_argument("--echo-server", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--address-file", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.echo_server:
        asyncio.run(serve_echo(args.address_file))
        return 0
    if not 2 <= args.batch <= pb.MAX_BATCH or args.batch % 2:
        parser.error(f"-batch must be an even number from 2 to {pb.MAX_BATCH}")
    op_names = OPS if args.op == "all" else [args.op]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    text = (f"# nnbench: {args.ops} ops, {args.files_per_dir} files per directory\n\n"
            f"{os.cpu_count()} cores, load average before the run {load} (shared machine).\n\n")
    if args.mode in ("both", "inproc"):
        progress("in-process")
        text += report("in-process (no RPC, 1 thread)", inprocess(op_names, args.ops, args.files_per_dir))
        if args.quotas:
            quota_text = report_quotas(args.ops, args.files_per_dir, args.rounds,
                                       quota_overhead(args.ops, args.files_per_dir, args.rounds))
            text += "\n" + quota_text
            (Path(__file__).parent / "results" / "quota_overhead.md").write_text(
                text.split("\n\n", 2)[0] + "\n\n" + text.split("\n\n", 2)[1] + "\n\n" + quota_text)
    if args.mode in ("both", "grpc"):
        unbatched, tls_vs_plain, batched, fsync_ms = asyncio.run(over_grpc(
            op_names, args.ops, args.files_per_dir, args.threads, args.rounds, args.batch, args.batch_ops,
            args.batch_threads))
        text += "\n" + report_grpc(args.threads, args.rounds, unbatched, tls_vs_plain, batched, fsync_ms,
                                  args.batch, args.batch_threads)
    print(text)
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "nnbench.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
