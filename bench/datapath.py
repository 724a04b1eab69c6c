"""Data-path benchmark: hfed's reads and writes against this machine's raw limits.

    python -m bench.datapath [--size 1G] [--block-size 128M] [--runs 3]

Starts a local cluster (3 DataNodes, replication 3) in a temp dir and, in the
same run, measures:
  * bare gRPC stream   - one process streams the same bytes to another over
                         loopback gRPC in 1 MiB messages (no disk, no checksums)
  * plain file read    - Python reading a local file of the same size (readinto)
  * pipeline write     - hfed put at replication 3 (client -> DN1 -> DN2 -> DN3)
  * remote read        - hfed read from a client on no DataNode's host
  * local-host read    - hfed read from a client on host-1 (short-circuit)
Prints MB/s (median of --runs) and the ratios the goals are stated in, and
writes bench/results/datapath.md.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc

from protos import config as config_mod
from protos.rpc import OPTIONS, PACKET_SIZE

RESULTS = Path(__file__).parent / "results"
BARE_METHOD = "/bench.Bare/Stream"


# ---------------------------------------------------------------- bare stream
def serve_bare(port_file: str, size: int) -> None:
    """A gRPC server that streams ``size`` bytes in 1 MiB messages, from memory."""
    from concurrent import futures
    payload = os.urandom(PACKET_SIZE)

    def stream(_request, _context):
        sent = 0
        while sent < size:
            n = min(PACKET_SIZE, size - sent)
            yield payload if n == PACKET_SIZE else payload[:n]
            sent += n

    handler = grpc.method_handlers_generic_handler("bench.Bare", {
        "Stream": grpc.unary_stream_rpc_method_handler(stream)})
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), options=OPTIONS)
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    Path(port_file).write_text(str(port))
    server.wait_for_termination()


def bare_stream_rate(size: int, tmp: Path) -> float:
    port_file = tmp / "bare.port"
    port_file.unlink(missing_ok=True)
    proc = subprocess.Popen([sys.executable, "-m", "bench.datapath", "--serve-bare", str(port_file),
                             "--size", str(size)])
    try:
        while not port_file.exists():
            time.sleep(0.05)
        channel = grpc.insecure_channel(f"127.0.0.1:{port_file.read_text()}", options=OPTIONS)
        call = channel.unary_stream(BARE_METHOD)
        start, got = time.perf_counter(), 0
        for message in call(b""):
            got += len(message)
        elapsed = time.perf_counter() - start
        assert got == size, f"bare stream returned {got} of {size} bytes"
        channel.close()
        return size / elapsed
    finally:
        proc.terminate()
        proc.wait(10)


# ------------------------------------------------------------------ plain file
def plain_read_rate(path: Path) -> float:
    """The fastest plain read Python does: readinto one reused buffer (no allocation
    per read), so the ratio against it is conservative."""
    buffer = bytearray(PACKET_SIZE)
    # Two passes, the second timed: the first brings the file into the page
    # cache, where the hfed reads find their replicas too.
    for _pass in range(2):
        start, got = time.perf_counter(), 0
        with open(path, "rb", buffering=0) as f:
            while n := f.readinto(buffer):
                got += n
    return got / (time.perf_counter() - start)


# ------------------------------------------------------------------------ hfed
def hfed_write_rate(fs, path: str, source: Path, replication: int) -> float:
    size = source.stat().st_size
    start = time.perf_counter()
    with open(source, "rb") as src, fs.open(path, "wb", replication=replication) as dst:
        while chunk := src.read(PACKET_SIZE):
            dst.write(chunk)
    return size / (time.perf_counter() - start)


def hfed_read_rate(fs, path: str, size: int) -> float:
    start, got = time.perf_counter(), 0
    with fs.open(path, "rb") as f:
        while chunk := f.read(PACKET_SIZE):
            got += len(chunk)
    elapsed = time.perf_counter() - start
    assert got == size, f"read {got} of {size} bytes from {path}"
    return size / elapsed


def run(size: int, block_size: int, runs: int) -> dict:
    from client.fs import HfedFileSystem
    from client.minicluster import MiniCluster

    with tempfile.TemporaryDirectory(prefix="hfed-datapath-") as tmp_name:
        tmp = Path(tmp_name)
        source = tmp / "source.bin"
        with open(source, "wb") as f:
            for _ in range(0, size, PACKET_SIZE):
                f.write(os.urandom(PACKET_SIZE))
        os.sync()
        size = source.stat().st_size
        figures: dict[str, list[float]] = {k: [] for k in
                                           ("bare", "plain", "write", "remote", "local")}
        with MiniCluster(tmp / "cluster", namespaces=1, datanodes=3, block_size=block_size,
                         replication=3) as cluster:
            cfg = config_mod.load(cluster.config_path)
            remote_fs = HfedFileSystem(cfg, host="no-datanode-here")
            local_fs = HfedFileSystem(cfg, host="host-1")
            for i in range(runs):
                print(f"run {i + 1}/{runs}", file=sys.stderr, flush=True)
                figures["bare"].append(bare_stream_rate(size, tmp))
                figures["plain"].append(plain_read_rate(source))
                path = f"/data/bench-{i}.bin"
                figures["write"].append(hfed_write_rate(remote_fs, path, source, 3))
                # Let the kernel flush the 3 replicas just written before timing reads:
                # on 2 cores its writeback competes with the reader for CPU.
                os.sync()
                figures["remote"].append(hfed_read_rate(remote_fs, path, size))
                figures["local"].append(hfed_read_rate(local_fs, path, size))
                remote_fs.rm(path)
        medians = {k: statistics.median(v) for k, v in figures.items()}
        return {"size": size, "block_size": block_size, "runs": runs, "medians": medians, "all": figures}


def report(result: dict) -> str:
    m = result["medians"]
    rows = [
        ("bare gRPC stream (limit)", m["bare"], "", ""),
        ("plain file read (limit)", m["plain"], "", ""),
        ("hfed remote read", m["remote"], f"{m['remote'] / m['bare']:.2f}x bare stream", ">= 0.6x"),
        ("hfed local-host read", m["local"], f"{m['local'] / m['plain']:.2f}x plain read", ">= 0.5x"),
        ("hfed write, replication 3", m["write"], f"{m['write'] / m['bare']:.2f}x bare stream", ">= 0.3x"),
    ]
    lines = [f"# Data path: {result['size'] >> 20} MiB file, block size {result['block_size'] >> 20} MiB, "
             f"median of {result['runs']} runs", "",
             "| path | MB/s | ratio | goal |", "|---|---:|---|---|"]
    lines += [f"| {name} | {rate / 1e6:.1f} | {ratio} | {goal} |" for name, rate, ratio, goal in rows]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1G")
    parser.add_argument("--block-size", default="128M")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--serve-bare", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    size = config_mod.parse_size(args.size)
    if args.serve_bare:
        serve_bare(args.serve_bare, size)
        return 0
    result = run(size, config_mod.parse_size(args.block_size), args.runs)
    text = report(result)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "datapath.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
