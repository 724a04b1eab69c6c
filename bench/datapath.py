"""Data-path benchmark: hfed's reads and writes against this machine's limits, in one run.

    python -m bench.datapath [--size 1G] [--block-size 128M] [--runs 3]
                             [--clients 64] [--client-size 8M] [--baseline REV] [--report datapath.md]

Starts a local cluster (1 namespace, 3 DataNodes, replication 3) in a temp dir and
measures, each a median of --runs:
  * raw socket stream  - sendall from a 1 MiB buffer in one process, recv_into one
                         reused 1 MiB buffer in another, over loopback (the limit)
  * sendfile           - os.sendfile of a page-cached file to such a socket
  * plain file read    - readinto one reused buffer from a page-cached local file
  * new-data write x3  - three processes at once writing as much new file data
                         each: the page-cache work replication 3 asks of one machine;
                         and with O_DIRECT: what the disk takes without the page cache
  * TLS socket stream  - the raw socket stream over TLS 1.3 (the cluster's certificate):
                         the ceiling of a DataTransfer stream with TLS on
  * write, replication 3 - hfed put from a client on no DataNode's host
                         (client -> DN1 -> DN2 -> DN3); security on (the default:
                         tokens, block tokens, TLS on gRPC and on the block bytes)
  * remote read        - hfed read from a client on no DataNode's host; security on
  * the write and remote read again on a third cluster of the same build with
    security off ([security] auth = "simple", tls = false): what security costs,
    measured in the same run; and on a fourth with security on but the block
    bytes unencrypted (encrypt_data = false: tokens and TLS on gRPC only)
  * local-host read    - hfed read from a client on host-1 (short-circuit)
  * the write and remote read again on a second cluster whose DataNodes have
    cache_writes = false (replicas written with O_DIRECT): no page cache filled by
    writes, so the read that follows comes from the disk
then --clients threads at once, each with its own HfedFileSystem, writing and
reading back a --client-size file: their aggregate MB/s, and each DataNode's
threads, TCP sockets and open files idle (after a warm-up round of the same
clients) and after the clients closed (see bench/datapath_clients.py).

--baseline REV exports that commit with `git archive` and runs its own
bench.datapath (--runs 1, same sizes) in a subprocess, for its write and remote
read figures: the write goal is a multiple of the baseline's, measured the same
day on the same machine. --baseline none skips it.

Prints the figures, the ratios beside their goals (issue 11), and writes
bench/results/datapath.md.
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from bench import datapath_clients as clients_mod
from bench import datapath_limits as limits
from protos import config as config_mod
from protos.config import SecurityConfig

REPO = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).parent / "results"
HFED_IO_CHUNK = 4 << 20   # bytes per hfed read()/write() call, as in earlier runs of this benchmark
# The last commit whose DataTransfer bytes go over gRPC (one protobuf message per
# packet): the write goal is stated against it.
DEFAULT_BASELINE = "6ea862c2e4d05cfa81990968254c3a62303f3483"
BASELINE_TIMEOUT = 1800.0
REMOTE_HOST = "no-datanode-here"

# Row labels of the figures table. A baseline's run is parsed by the first two, so
# they keep the wording (and the MB/s column) of the reports before this one.
WRITE, REMOTE, LOCAL = "hfed write, replication 3", "hfed remote read", "hfed local-host read"
SOCKET, SENDFILE, PLAIN = "raw socket stream (limit)", "sendfile of a cached file (limit)", "plain file read (limit)"
NEW_DATA = "new-data write, 3 files at once, per file (limit under replication 3)"
NEW_DIRECT = "new-data write with O_DIRECT, 3 files at once, per file (limit under cache_writes = false)"
DIRECT_WRITE = "hfed write, replication 3, cache_writes = false (O_DIRECT)"
DIRECT_REMOTE = "hfed remote read of that file (from the disk)"
TLS_SOCKET = "TLS socket stream (limit with TLS on)"
PLAIN_WRITE, PLAIN_REMOTE = "hfed write, replication 3, security off", "hfed remote read, security off"
CLEAR_WRITE = "hfed write, replication 3, tokens + TLS, encrypt_data = false"
CLEAR_REMOTE = "hfed remote read, tokens + TLS, encrypt_data = false"
FIGURES = {"socket": SOCKET, "tls_socket": TLS_SOCKET, "sendfile": SENDFILE, "plain": PLAIN, "new_data": NEW_DATA,
           "new_direct": NEW_DIRECT, "write": WRITE,
           "remote": REMOTE, "local": LOCAL, "direct_write": DIRECT_WRITE, "direct_remote": DIRECT_REMOTE,
           "plain_write": PLAIN_WRITE, "plain_remote": PLAIN_REMOTE, "clear_write": CLEAR_WRITE,
           "clear_remote": CLEAR_REMOTE}

# (what, numerator, denominator, goal): ratios of medians, goals from issue 11.
GOALS = [
    ("remote read / raw socket stream", "remote", "socket", 0.5),
    ("write r3 / raw socket stream", "write", "socket", 0.12),
    ("write r3 / baseline write r3", "write", "baseline_write", 3.0),
    ("local-host read / plain file read", "local", "plain", 0.7),
    ("write r3 (cache_writes = false) / raw socket stream", "direct_write", "socket", 0.12),
    ("write r3 (cache_writes = false) / baseline write r3", "direct_write", "baseline_write", 3.0),
    ("write r3 / new-data write x3", "write", "new_data", None),
    ("write r3 (cache_writes = false) / new-data O_DIRECT write x3", "direct_write", "new_direct", None),
    ("remote read / sendfile", "remote", "sendfile", None),
    ("remote read / baseline remote read", "remote", "baseline_remote", None),
    # issue 12: TLS and tokens cost <= 20% of read/write throughput (security on, the default, against
    # auth = "simple" and tls = false), and the same with block bytes unencrypted (encrypt_data = false)
    ("remote read, security on / off", "remote", "plain_remote", 0.8),
    ("write r3, security on / off", "write", "plain_write", 0.8),
    ("remote read, tokens + unencrypted data / security off", "clear_remote", "plain_remote", 0.8),
    ("write r3, tokens + unencrypted data / security off", "clear_write", "plain_write", 0.8),
    ("remote read (TLS) / TLS socket stream", "remote", "tls_socket", None),
    ("remote read (security off) / raw socket stream", "plain_remote", "socket", None),
    ("TLS socket stream / raw socket stream", "tls_socket", "socket", None),
]


# ------------------------------------------------------------------------ hfed

def hfed_write_rate(fs, path: str, source: Path, replication: int) -> float:
    size = source.stat().st_size
    start = time.perf_counter()
    with open(source, "rb") as src, fs.open(path, "wb", replication=replication) as dst:
        while chunk := src.read(HFED_IO_CHUNK):
            dst.write(chunk)
    return size / (time.perf_counter() - start)


def hfed_read_rate(fs, path: str, size: int) -> float:
    start, got = time.perf_counter(), 0
    with fs.open(path, "rb") as f:
        while chunk := f.read(HFED_IO_CHUNK):
            got += len(chunk)
    elapsed = time.perf_counter() - start
    if got != size:
        raise RuntimeError(f"read {got} of {size} bytes from {path}")
    return size / elapsed


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def measure_runs(cluster, cfg, direct_cfg, plain_cfg, clear_cfg, source: Path,
                 runs: int) -> dict[str, list[float]]:
    from client.fs import HfedFileSystem

    size = source.stat().st_size
    figures: dict[str, list[float]] = {k: [] for k in FIGURES}
    remote_fs = HfedFileSystem(cfg, host=REMOTE_HOST, skip_instance_cache=True)
    local_fs = HfedFileSystem(cfg, host="host-1", skip_instance_cache=True)
    direct_fs = HfedFileSystem(direct_cfg, host=REMOTE_HOST, skip_instance_cache=True)
    plain_fs = HfedFileSystem(plain_cfg, host=REMOTE_HOST, skip_instance_cache=True)
    clear_fs = HfedFileSystem(clear_cfg, host=REMOTE_HOST, skip_instance_cache=True)
    try:
        for i in range(runs):
            progress(f"run {i + 1}/{runs}: limits")
            figures["socket"].append(limits.socket_stream_rate(size))
            figures["tls_socket"].append(limits.tls_stream_rate(size, cfg))
            figures["sendfile"].append(limits.sendfile_rate(source))
            figures["plain"].append(limits.plain_read_rate(source))
            figures["new_data"].append(limits.new_data_write_rate(cluster.dir, size))
            figures["new_direct"].append(limits.new_data_write_rate(cluster.dir, size, direct=True))
            path = f"/data/bench-{i}.bin"
            progress(f"run {i + 1}/{runs}: hfed write, remote read, local-host read")
            os.sync()   # the write starts with no dirty pages, as the new-data limit did
            figures["write"].append(hfed_write_rate(remote_fs, path, source, 3))
            # Let the kernel flush the 3 replicas just written before timing reads:
            # on 2 cores its writeback competes with the reader for CPU.
            os.sync()
            figures["remote"].append(hfed_read_rate(remote_fs, path, size))
            figures["local"].append(hfed_read_rate(local_fs, path, size))
            remote_fs.rm(path)
            progress(f"run {i + 1}/{runs}: hfed write and remote read, cache_writes = false")
            os.sync()
            figures["direct_write"].append(hfed_write_rate(direct_fs, path, source, 3))
            figures["direct_remote"].append(hfed_read_rate(direct_fs, path, size))
            direct_fs.rm(path)
            for key, fs, what in (("plain", plain_fs, "security off"), ("clear", clear_fs, "unencrypted data")):
                progress(f"run {i + 1}/{runs}: hfed write and remote read, {what}")
                os.sync()
                figures[f"{key}_write"].append(hfed_write_rate(fs, path, source, 3))
                os.sync()
                figures[f"{key}_remote"].append(hfed_read_rate(fs, path, size))
                fs.rm(path)
    finally:
        remote_fs.close()
        local_fs.close()
        direct_fs.close()
        plain_fs.close()
        clear_fs.close()
    return figures


def measure_clients(cluster, cfg, clients: int, file_size: int) -> dict:
    """Warm-up round, idle census, measured round, census once settled (see datapath_clients)."""
    before = clients_mod.census(cluster)
    progress(f"{clients} clients: warm-up round ({file_size >> 20} MiB each)")
    warmup = clients_mod.mixed_clients(cfg, clients, file_size, "/data/clients-warmup", host=REMOTE_HOST)
    idle = clients_mod.steady(cluster)
    progress(f"{clients} clients: measured round")
    measured = clients_mod.mixed_clients(cfg, clients, file_size, "/data/clients", host=REMOTE_HOST)
    after, waited = clients_mod.settle(cluster, idle, timeout=10.0, tolerance=clients_mod.TOLERANCE)
    return {"clients": clients, "file_size": file_size, "warmup": warmup, "measured": measured,
            "before": before, "idle": idle, "after": after, "settle_seconds": waited}


def run(size: int, block_size: int, runs: int, clients: int, client_size: int) -> dict:
    from client.minicluster import MiniCluster

    with tempfile.TemporaryDirectory(prefix="hfed-datapath-") as tmp_name:
        tmp = Path(tmp_name)
        source = tmp / "source.bin"
        with open(source, "wb") as f:
            for _ in range(0, size, limits.SOCKET_BUFFER):
                f.write(os.urandom(limits.SOCKET_BUFFER))
        os.sync()
        size = source.stat().st_size
        progress(f"starting four clusters in {tmp}")
        with MiniCluster(tmp / "cluster", namespaces=1, datanodes=3, block_size=block_size,
                         replication=3) as cluster, \
                MiniCluster(tmp / "cluster-direct", namespaces=1, datanodes=3, block_size=block_size,
                            replication=3, datanode_settings={"cache_writes": False}) as direct, \
                MiniCluster(tmp / "cluster-plain", namespaces=1, datanodes=3, block_size=block_size, replication=3,
                            settings={"security": SecurityConfig(auth="simple", tls=False)}) as plain, \
                MiniCluster(tmp / "cluster-clear", namespaces=1, datanodes=3, block_size=block_size, replication=3,
                            settings={"security": SecurityConfig(encrypt_data=False)}) as clear:
            cfg = config_mod.load(cluster.config_path)
            figures = measure_runs(cluster, cfg, config_mod.load(direct.config_path),
                                   config_mod.load(plain.config_path), config_mod.load(clear.config_path), source,
                                   runs)
            many = measure_clients(cluster, cfg, clients, client_size) if clients > 0 else None
    medians = {k: statistics.median(v) for k, v in figures.items()}
    return {"size": size, "block_size": block_size, "runs": runs, "medians": medians, "all": figures,
            "clients": many}


# -------------------------------------------------------------------- baseline

def _row_value(text: str, label: str) -> float | None:
    match = re.search(rf"^\| {re.escape(label)} \| ([0-9.]+) \|", text, re.MULTILINE)
    return float(match.group(1)) * 1e6 if match else None


def run_baseline(rev: str, size: int, block_size: int) -> dict:
    """{"rev", "write", "remote"} in bytes/s from REV's own bench.datapath, or {"rev", "note"}."""
    def skipped(why: str) -> dict:
        progress(f"baseline {rev}: skipped ({why})")
        return {"rev": rev, "note": why}

    try:
        found = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
                               capture_output=True, text=True)
    except OSError as exc:
        return skipped(f"git is not available: {exc}")
    if found.returncode != 0:
        return skipped(f"revision {rev} is not in {REPO}")
    commit = found.stdout.strip()
    with tempfile.TemporaryDirectory(prefix="hfed-baseline-") as tmp_name:
        tree = Path(tmp_name) / "tree"
        tree.mkdir()
        archive = Path(tmp_name) / "tree.tar"
        done = subprocess.run(["git", "-C", str(REPO), "archive", "--output", str(archive), commit],
                              capture_output=True, text=True)
        if done.returncode != 0:
            return skipped(f"git archive failed: {done.stderr.strip()}")
        with tarfile.open(archive) as tar:
            tar.extractall(tree, filter="data")
        cmd = [sys.executable, "-m", "bench.datapath", "--size", str(size), "--block-size", str(block_size),
               "--runs", "1"]
        if "--baseline" in (tree / "bench" / "datapath.py").read_text():
            cmd += ["--baseline", "none", "--clients", "0"]   # a baseline of its own would recurse
        env = {**os.environ, "PYTHONPATH": str(tree)}
        progress(f"baseline {commit[:12]}: running its bench.datapath --runs 1 in {tree}")
        try:
            done = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True,
                                  timeout=BASELINE_TIMEOUT)
        except subprocess.TimeoutExpired:
            return skipped(f"its bench.datapath did not finish in {BASELINE_TIMEOUT:.0f} s")
        report_path = tree / "bench" / "results" / "datapath.md"
        if done.returncode != 0 or not report_path.exists():
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
            progress(tail)
            return skipped(f"its bench.datapath exited with {done.returncode}")
        text = report_path.read_text()
    write, remote = _row_value(text, WRITE), _row_value(text, REMOTE)
    if write is None or remote is None:
        return skipped("its report has no write or remote-read row")
    return {"rev": commit, "write": write, "remote": remote}


# ---------------------------------------------------------------------- report

def _mbps(rate: float) -> str:
    return f"{rate / 1e6:.1f}"


def ratios(result: dict) -> list[tuple[str, float | None, float | None]]:
    values = dict(result["medians"])
    baseline = result.get("baseline") or {}
    values["baseline_write"], values["baseline_remote"] = baseline.get("write"), baseline.get("remote")
    rows = []
    for what, num, den, goal in GOALS:
        ratio = values[num] / values[den] if values.get(den) else None
        rows.append((what, ratio, goal))
    return rows


def clients_section(many: dict) -> list[str]:
    measured, warmup = many["measured"], many["warmup"]
    mib = many["file_size"] >> 20
    lines = ["", f"## {many['clients']} clients at once, {mib} MiB each: write (replication 3), then read back",
             "",
             f"Aggregate {_mbps(measured.rate)} MB/s ({measured.bytes_written >> 20} MiB written and "
             f"{measured.bytes_read >> 20} MiB read in {measured.seconds:.1f} s; the warm-up round: "
             f"{_mbps(warmup.rate)} MB/s). Failed clients: "
             f"{len(measured.errors) + len(warmup.errors) or 'none'}.", "",
             "Each DataNode's counts before the warm-up round / idle after it / after the measured round "
             f"(clients closed, {many['settle_seconds']:.1f} s to settle, at most 10 s). A leak is what the "
             "measured round left above idle; links to peer DataNodes count only beyond one each way per "
             "peer (the pipeline orders a round happens to use vary), and within "
             f"{', '.join(f'{n} {k}' for k, n in clients_mod.TOLERANCE.items())} is no leak.", "",
             "| DataNode | threads | sockets (clients, NameNodes, listening) | links to peer DataNodes "
             "| other open fds | leak |", "|---|---|---|---|---|---|"]
    leaks = []
    for label, idle in many["idle"].items():
        before, after = many["before"][label], many["after"][label]
        cells = [f"{getattr(before, k)} / {getattr(idle, k)} / {getattr(after, k)}"
                 for k in ("threads", "other_sockets", "peer_links", "files")]
        leak = clients_mod.leak_text(idle, after, len(many["idle"]), clients_mod.TOLERANCE)
        lines.append(f"| {label} | {' | '.join(cells)} | {leak} |")
        if not leak.startswith("none"):
            leaks.append(f"{label} {leak}")
    lines += ["", f"Leak: {'; '.join(leaks) or 'none'}."]
    errors = warmup.errors + measured.errors
    if errors:
        lines += ["", *(f"- {error}" for error in errors[:5])]
    return lines


def report(result: dict) -> str:
    m, every = result["medians"], result["all"]
    load = result.get("load", {})
    lines = [f"# Data path: {result['size'] >> 20} MiB file, block size {result['block_size'] >> 20} MiB, "
             f"median of {result['runs']} runs", "",
             f"{os.cpu_count()} CPUs; 1-minute load average {load.get('start', 0):.1f} at the start, "
             f"{load.get('end', 0):.1f} at the end (figures from a busy machine vary).", "",
             "| path | MB/s | each run |", "|---|---:|---|"]
    for key, label in FIGURES.items():
        lines.append(f"| {label} | {_mbps(m[key])} | {', '.join(_mbps(r) for r in every[key])} |")
    baseline = result.get("baseline")
    if baseline and "note" not in baseline:
        short = baseline["rev"][:12]
        lines.append(f"| baseline {short}: write, replication 3 | {_mbps(baseline['write'])} | 1 run |")
        lines.append(f"| baseline {short}: remote read | {_mbps(baseline['remote'])} | 1 run |")
    lines += ["", "| ratio | measured | goal | met |", "|---|---:|---|---|"]
    for what, ratio, goal in ratios(result):
        shown = f"{ratio:.2f}x" if ratio is not None else "n/a"
        met = "" if goal is None or ratio is None else ("yes" if ratio >= goal else "no")
        lines.append(f"| {what} | {shown} | {f'>= {goal:g}x' if goal else ''} | {met} |")
    if baseline and "note" in baseline:
        lines += ["", f"Baseline {baseline['rev']} skipped: {baseline['note']}."]
    if result.get("clients"):
        lines += clients_section(result["clients"])
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1G", help="file size of the single-client figures (default 1G)")
    parser.add_argument("--block-size", default="128M")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--clients", type=int, default=64, help="clients at once in the last phase (0: skip it)")
    parser.add_argument("--client-size", default="8M", help="file size each of those clients writes and reads")
    parser.add_argument("--baseline", default=DEFAULT_BASELINE,
                        help="commit whose write and remote read to run beside this one ('none': skip)")
    parser.add_argument("--report", default="datapath.md", help="file name of the report under bench/results")
    args = parser.parse_args(argv)
    size, block_size = config_mod.parse_size(args.size), config_mod.parse_size(args.block_size)
    if args.runs < 1 or size < limits.SOCKET_BUFFER:
        parser.error("--runs must be at least 1 and --size at least 1M")
    load_start = os.getloadavg()[0]
    result = run(size, block_size, args.runs, args.clients, config_mod.parse_size(args.client_size))
    if args.baseline.lower() != "none":
        result["baseline"] = run_baseline(args.baseline, result["size"], block_size)
    result["load"] = {"start": load_start, "end": os.getloadavg()[0]}
    text = report(result)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / args.report).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
