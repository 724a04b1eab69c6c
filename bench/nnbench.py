"""NameNode throughput benchmark (in the spirit of HDFS's NNThroughputBenchmark).

    python -m bench.nnbench [-op all|create|mkdirs|open|fileStatus|listStatus|rename|delete]
                            [-threads 16] [-ops 20000] [-files-per-dir 1000] [-mode both|inproc|grpc]

in-process: calls the Namesystem directly (no RPC), one thread: the
            namespace core's own speed.
grpc:       a real NameNode process on loopback, `-threads` client threads
            each with its own stub; in the same run, a bare gRPC echo server
            answered by the same threads is this machine's limit for one
            operation per RPC, and each op's rate is printed as a ratio to it.
Prints ops/s and latency percentiles per operation.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from concurrent import futures
from pathlib import Path

import grpc

from protos import config as config_mod, hfed_pb2 as pb, hfed_pb2_grpc as pb_grpc, rpc

OPS = ["create", "mkdirs", "open", "fileStatus", "listStatus", "rename", "delete"]
CLIENT = "nnbench"


def names(ops: int, files_per_dir: int) -> list[str]:
    return [f"/bench/d{i // files_per_dir:05d}/f{i % files_per_dir:05d}" for i in range(ops)]


# ------------------------------------------------------------- in-process
def inprocess(op_names: list[str], ops: int, files_per_dir: int) -> dict:
    from namenode.namesystem import Namesystem
    from namenode.ops import dirs, files, reads

    fsn = Namesystem("bench", "CID", "BP", "bench", replication=1)
    me = fsn.ns.caller("bench")
    paths = names(ops, files_per_dir)
    for d in sorted({p.rsplit("/", 1)[0] for p in paths}):
        dirs.mkdirs(fsn, me, d, 0o755, True)

    def create(p):
        files.create(fsn, me, p, 0o644, False, False, 1, 0, CLIENT)
        files.complete(fsn, me, p, CLIENT, None)

    actions = {
        "create": create,
        "mkdirs": lambda p: dirs.mkdirs(fsn, me, p + ".d", 0o755, False),
        "open": lambda p: reads.get_block_locations(fsn, me, p, 0, 0, ""),
        "fileStatus": lambda p: reads.get_file_info(fsn, me, p),
        "listStatus": lambda p: reads.get_listing(fsn, me, p.rsplit("/", 1)[0], "", 100),
        "rename": lambda p: dirs.rename(fsn, me, p, p + ".r"),
        "delete": lambda p: dirs.delete(fsn, me, p + ".r", False),
    }
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


def ordered(op_names: list[str]) -> list[str]:
    """Every op needs the files `create` makes; rename must precede delete."""
    wanted = set(op_names)
    return [op for op in OPS if op in wanted or op == "create" or (op == "rename" and "delete" in wanted)]


def summary(ops: int, elapsed: float, latencies: list[float]) -> dict:
    latencies.sort()
    return {"ops_per_s": ops / elapsed,
            "p50_ms": 1000 * latencies[len(latencies) // 2],
            "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]}


# ------------------------------------------------------------------ grpc
def start_namenode(tmp: Path) -> tuple[subprocess.Popen, str]:
    cfg = config_mod.from_dict({"cluster_id": "CID-bench", "replication": 1,
                                "nameservices": {"ns-a": {"address": "127.0.0.1:0",
                                                          "meta_dir": str(tmp / "meta")}},
                                "mounts": [{"path": "/bench", "nameservice": "ns-a"}]})
    conf = tmp / "hfed.toml"
    conf.write_text(config_mod.dump(cfg))
    addr = tmp / "nn.addr"
    proc = subprocess.Popen([sys.executable, "-m", "namenode.server", "--conf", str(conf), "--nameservice", "ns-a",
                             "--address-file", str(addr)], stderr=open(tmp / "nn.log", "w"))
    while not addr.exists():
        if proc.poll() is not None:
            raise RuntimeError(f"NameNode failed to start: {(tmp / 'nn.log').read_text()[-2000:]}")
        time.sleep(0.05)
    return proc, addr.read_text()


def echo_server() -> tuple[grpc.Server, str]:
    handler = grpc.method_handlers_generic_handler("bench.Echo", {
        "Echo": grpc.unary_unary_rpc_method_handler(lambda request, _context: request)})
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16), options=rpc.OPTIONS)
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, f"127.0.0.1:{port}"


def run_threads(threads: int, work: list, call) -> dict:
    """Split ``work`` over ``threads``; each thread calls call(item) and times it."""
    latencies: list[float] = []
    lock = threading.Lock()

    def worker(items):
        mine = []
        for item in items:
            t = time.perf_counter()
            call(item)
            mine.append(time.perf_counter() - t)
        with lock:
            latencies.extend(mine)

    crew = [threading.Thread(target=worker, args=(work[i::threads],)) for i in range(threads)]
    start = time.perf_counter()
    for t in crew:
        t.start()
    for t in crew:
        t.join()
    return summary(len(work), time.perf_counter() - start, latencies)


def over_grpc(op_names: list[str], ops: int, files_per_dir: int, threads: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="hfed-nnbench-") as tmp_name:
        tmp = Path(tmp_name)
        echo, echo_address = echo_server()
        proc, address = start_namenode(tmp)
        try:
            results = {}
            echo_channel = rpc.insecure_channel(echo_address)
            echo_call = echo_channel.unary_unary("/bench.Echo/Echo")
            payload = pb.GetFileInfoRequest(path="/bench/d00000/f00000").SerializeToString()
            results["echo (limit)"] = run_threads(threads, [payload] * ops, echo_call)
            channel = rpc.insecure_channel(address)
            stub = pb_grpc.ClientProtocolStub(channel)
            md = rpc.identity_metadata()
            paths = names(ops, files_per_dir)
            for d in sorted({p.rsplit("/", 1)[0] for p in paths}):
                stub.Mkdirs(pb.MkdirsRequest(path=d, create_parent=True), metadata=md)

            def create(p):
                stub.Create(pb.CreateRequest(path=p, client_name=CLIENT, replication=1), metadata=md)
                stub.Complete(pb.CompleteRequest(path=p, client_name=CLIENT), metadata=md)

            actions = {
                "create": create,
                "mkdirs": lambda p: stub.Mkdirs(pb.MkdirsRequest(path=p + ".d"), metadata=md),
                "open": lambda p: stub.GetBlockLocations(pb.GetBlockLocationsRequest(path=p), metadata=md),
                "fileStatus": lambda p: stub.GetFileInfo(pb.GetFileInfoRequest(path=p), metadata=md),
                "listStatus": lambda p: stub.GetListing(
                    pb.GetListingRequest(path=p.rsplit("/", 1)[0], limit=100), metadata=md),
                "rename": lambda p: stub.Rename(pb.RenameRequest(src=p, dst=p + ".r"), metadata=md),
                "delete": lambda p: stub.Delete(pb.DeleteRequest(path=p + ".r"), metadata=md),
            }
            for name in ordered(op_names):
                results[name] = run_threads(threads, paths, actions[name])
            return results
        finally:
            proc.terminate()
            proc.wait(30)
            echo.stop(0)


def report(title: str, results: dict, baseline: float | None) -> str:
    lines = [f"## {title}", "", "| op | ops/s | p50 ms | p99 ms | vs echo |", "|---|---:|---:|---:|---:|"]
    for name, r in results.items():
        ratio = f"{r['ops_per_s'] / baseline:.2f}x" if baseline and not name.startswith("echo") else ""
        lines.append(f"| {name} | {r['ops_per_s']:,.0f} | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} | {ratio} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="nnbench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-op", default="all", choices=["all", *OPS])
    parser.add_argument("-threads", type=int, default=16)
    parser.add_argument("-ops", type=int, default=20000)
    parser.add_argument("-files-per-dir", type=int, default=1000)
    parser.add_argument("-mode", default="both", choices=["both", "inproc", "grpc"])
    args = parser.parse_args(argv)
    op_names = OPS if args.op == "all" else [args.op]
    text = f"# nnbench: {args.ops} ops, {args.files_per_dir} files per directory\n\n"
    if args.mode in ("both", "inproc"):
        text += report("in-process (no RPC, 1 thread)", inprocess(op_names, args.ops, args.files_per_dir), None)
    if args.mode in ("both", "grpc"):
        results = over_grpc(op_names, args.ops, args.files_per_dir, args.threads)
        text += "\n" + report(f"over gRPC ({args.threads} client threads; create = Create + Complete)",
                              results, results["echo (limit)"]["ops_per_s"])
    print(text)
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "nnbench.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
