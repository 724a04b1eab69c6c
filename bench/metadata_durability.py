"""Metadata durability benchmark: what acknowledging only durable edits costs.

    python -m bench.metadata_durability [--seconds 3] [--rounds 3] [--files 1000000] [--edits 100000]

In one run:
  * create throughput: two real NameNode processes (durable_edits = true and
    false, each on a fresh meta_dir) and one grpc.aio client process running
    1, 16 and 64 concurrent tasks, each looping Create + Complete of an empty
    file. Files/s (each file = 2 journaled RPCs) and durable/non-durable ratio.
  * startup: a namespace of --files files (one block each, 1000 per directory)
    built in-process through ops.APPLY, written as an image, then --edits more
    creates in the edit log; times build_namesystem() (image load + replay)
    and reports image bytes per file.
Writes bench/results/metadata_durability.md.
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

from protos import config as config_mod, hfed_pb2 as pb, hfed_pb2_grpc as pb_grpc, rpc

RESULTS = Path(__file__).parent / "results"
CONCURRENCY = (1, 16, 64)


def progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------- throughput
def write_conf(base: Path, durable: bool, **extra) -> Path:
    cfg = config_mod.from_dict({
        "cluster_id": "CID-bench", "durable_edits": durable, **extra,
        "security": {"tls": False},   # the cost of durability alone (nnbench measures TLS's)
        "nameservices": {"ns-a": {"address": "127.0.0.1:0", "meta_dir": str(base / "meta")}},
        "mounts": [{"path": "/bench", "nameservice": "ns-a"}]})
    base.mkdir(parents=True, exist_ok=True)
    conf = base / "hfed.toml"
    conf.write_text(config_mod.dump(cfg))
    return conf


def start_namenode(base: Path, conf: Path) -> tuple[subprocess.Popen, str]:
    addr = base / "addr"
    proc = subprocess.Popen([sys.executable, "-m", "namenode.server", "--conf", str(conf), "--nameservice", "ns-a",
                             "--address-file", str(addr)], stderr=open(base / "log", "w"))
    deadline = time.time() + 60
    while not addr.exists():
        if proc.poll() is not None or time.time() > deadline:
            raise RuntimeError(f"NameNode did not start: {(base / 'log').read_text()}")
        time.sleep(0.05)
    return proc, addr.read_text()


async def create_load(address: str, tasks: int, seconds: float, prefix: str) -> int:
    """Files created (Create + Complete, both acknowledged) by ``tasks`` concurrent loops."""
    metadata = rpc.identity_metadata()
    async with rpc.aio_channel(address) as channel:
        stub = pb_grpc.ClientProtocolStub(channel)
        await stub.Mkdirs(pb.MkdirsRequest(path=prefix, create_parent=True), metadata=metadata)
        deadline = time.monotonic() + seconds
        counts = [0] * tasks

        async def loop(t: int) -> None:
            client = f"bench-{prefix}-{t}"
            while time.monotonic() < deadline:
                path = f"{prefix}/t{t}-{counts[t]}"
                await stub.Create(pb.CreateRequest(path=path, client_name=client), metadata=metadata)
                await stub.Complete(pb.CompleteRequest(path=path, client_name=client), metadata=metadata)
                counts[t] += 1
        await asyncio.gather(*(loop(t) for t in range(tasks)))
        return sum(counts)


def throughput(tmp: Path, seconds: float, rounds: int) -> dict:
    """Median files/s per (durable, clients). Both NameNodes run side by side and
    the cells alternate, so a burst of load from elsewhere hits both modes alike."""
    servers = {}
    try:
        for durable in (True, False):
            base = tmp / ("durable" if durable else "nondurable")
            servers[durable] = start_namenode(base, write_conf(base, durable))
            asyncio.run(create_load(servers[durable][1], 4, 1.0, "/bench/warmup"))
        samples: dict[tuple[bool, int], list[float]] = {}
        for r in range(rounds):
            for tasks in CONCURRENCY:
                progress(f"round {r + 1}/{rounds}: {tasks} concurrent clients, durable and not ...")
                for durable in (True, False):
                    started = time.monotonic()
                    files = asyncio.run(create_load(servers[durable][1], tasks, seconds, f"/bench/r{r}c{tasks}"))
                    samples.setdefault((durable, tasks), []).append(files / (time.monotonic() - started))
    finally:
        for proc, _address in servers.values():
            proc.terminate()
            proc.wait(60)
    return {key: statistics.median(values) for key, values in samples.items()}


# ---------------------------------------------------------------- startup
def build_meta_dir(tmp: Path, files: int, edits: int) -> tuple[Path, dict]:
    """A meta_dir holding an image of ``files`` files and ``edits`` later creates."""
    from namenode import edits, image as image_mod, journal as journal_mod, ops
    from namenode.namesystem import Namesystem
    base = tmp / "startup"
    conf = write_conf(base, True)
    cfg = config_mod.load(conf)
    meta = Path(cfg.nameservices["ns-a"].meta_dir)
    version = journal_mod.read_or_create_version(meta, "ns-a", cfg.cluster_id)
    fsn = Namesystem("ns-a", cfg.cluster_id, version["pool_id"], rpc.current_user())
    apply, now = ops.APPLY, fsn.now_ms()
    owner, group = rpc.current_user(), "supergroup"
    apply[edits.Mkdirs](fsn, edits.Mkdirs("/bench", 0o755, owner, group, now, parents=True))
    started = time.monotonic()
    for i in range(files):
        if i % 1000 == 0:
            apply[edits.Mkdirs](fsn, edits.Mkdirs(f"/bench/d{i // 1000}", 0o755, owner, group, now, parents=False))
        if i % 100_000 == 0 and i:
            progress(f"building: {i:,} files ({time.monotonic() - started:.0f} s)")
        path = f"/bench/d{i // 1000}/part-{i:07d}"
        apply[edits.Create](fsn, edits.Create(path, 0o644, owner, group, now, overwrite=False, parents=False,
                                              replication=3, block_size=128 << 20, client="builder"))
        block_id = fsn.blocks.next_block_id
        apply[edits.AddBlock](fsn, edits.AddBlock(path, "builder", block_id, fsn.blocks.next_generation_stamp,
                                                  previous=None))
        apply[edits.Complete](fsn, edits.Complete(path, "builder", (block_id, 64 << 20), now))
    progress(f"built {files:,} files in {time.monotonic() - started:.0f} s; writing the image ...")
    started = time.monotonic()
    image_path = image_mod.write(meta, image_mod.snapshot(fsn, 0))
    write_s = time.monotonic() - started
    journal = journal_mod.Journal(meta)
    fresh = Namesystem("ns-a", cfg.cluster_id, version["pool_id"], rpc.current_user())
    journal.load(fresh)
    fresh.journal = journal
    root = fresh.ns.caller(rpc.current_user())
    from namenode.ops import files as files_ops
    for i in range(edits):
        files_ops.create(fresh, root, f"/bench/edits/e{i:07d}", 0o644, False, True, 1, 0, "edits")
    journal.close()
    return conf, {"image_bytes": image_path.stat().st_size, "image_write_s": write_s}


def startup(tmp: Path, files: int, edits: int) -> dict:
    from namenode.server import build_namesystem
    conf, figures = build_meta_dir(tmp, files, edits)
    cfg = config_mod.load(conf)
    progress("timing startup (image + edits) ...")
    started = time.monotonic()
    fsn = build_namesystem(cfg, "ns-a")
    figures["startup_s"] = time.monotonic() - started
    figures["loaded_files"] = fsn.ns.table.files
    fsn.journal.close()
    return figures


def fdatasync_latency(tmp: Path, n: int = 200) -> tuple[float, float]:
    """p50 and p99 milliseconds of fdatasync after a 200-byte append, on the meta_dir filesystem."""
    path, times = tmp / "fsync-probe", []
    with open(path, "ab", buffering=0) as f:
        for _ in range(n):
            f.write(b"x" * 200)
            started = time.perf_counter()
            os.fdatasync(f.fileno())
            times.append((time.perf_counter() - started) * 1e3)
    times.sort()
    return times[n // 2], times[int(n * 0.99)]


# ----------------------------------------------------------------- report
def report(rates: dict, start: dict, files: int, edits: int, seconds: float, rounds: int) -> str:
    lines = [f"# Metadata durability: create throughput and startup ({os.cpu_count()} cores)", "",
             f"Create + Complete of empty files over gRPC, two NameNode processes (one per mode), one grpc.aio client "
             f"process, "
             f"median of {rounds} rounds of {seconds:g} s per cell, modes alternating; load average at the end "
             f"{os.getloadavg()[0]:.1f}. `durable` acknowledges each RPC only after its edit is fdatasynced "
             "(group commit: one sync covers every edit appended before it started). fdatasync on this disk: "
             f"p50 {rates['fsync'][0]:.2f} ms, p99 {rates['fsync'][1]:.2f} ms.", "",
             "| concurrent clients | durable files/s | non-durable files/s | ratio | goal |", "|---:|---:|---:|---|---|"]
    for tasks in CONCURRENCY:
        d, n = rates[(True, tasks)], rates[(False, tasks)]
        lines.append(f"| {tasks} | {d:,.0f} | {n:,.0f} | {d / n:.2f}x | {'>= 0.8x' if tasks == 64 else ''} |")
    lines += ["", f"Startup of a namespace of {files:,} files (one block each) from an image + {edits:,} "
                  "edits (build_namesystem: image load, replay, segment open):", "",
              "| figure | value | goal |", "|---|---:|---|",
              f"| startup time | {start['startup_s']:.2f} s | < 10 s |",
              f"| files loaded | {start['loaded_files']:,} | |",
              f"| image size | {start['image_bytes'] / 1e6:.1f} MB | |",
              f"| image bytes per file | {start['image_bytes'] / files:.0f} | |",
              f"| image write (encode + fsync) | {start['image_write_s']:.2f} s | |"]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0, help="per throughput cell")
    parser.add_argument("--rounds", type=int, default=3, help="throughput figures are medians of this many")
    parser.add_argument("--files", type=int, default=1_000_000)
    parser.add_argument("--edits", type=int, default=100_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hfed-metadata-") as tmp_name:
        tmp = Path(tmp_name)
        rates = throughput(tmp, args.seconds, args.rounds)
        rates["fsync"] = fdatasync_latency(tmp)
        start = startup(tmp, args.files, args.edits)
    text = report(rates, start, args.files, args.edits, args.seconds, args.rounds)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "metadata_durability.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
