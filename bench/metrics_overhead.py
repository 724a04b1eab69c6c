"""What metrics and the status page cost a NameNode: one op per RPC (nnbench's
figures) on this build's NameNode while a scraper reads /metrics, /jmx and the status
page every second, against a NameNode of the build before metrics existed.

    python -m bench.metrics_overhead [-ops 6000] [-threads 16] [-rounds 5] [-op create fileStatus ...]
                                     [--baseline REV] [--scrape-interval 1.0]

The baseline is ``REV`` of this repository (default: the commit before namenode/metrics.py
was added) exported with ``git archive`` and run from there. Both NameNodes run at once
(auth = "simple", no TLS, a meta_dir each, durable edits); every op runs in ``-rounds``
slices, each on both NameNodes one right after the other (the load of a shared machine
drifts), which one first alternating; the ratio of the rates is the median of the slices'.
Goal: this build >= 0.97x the baseline. Writes bench/results/metrics_overhead.md.
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

import requests

from bench.nnbench import (OPS, RPCS_PER_OP, names, ordered, parents, progress, start_namenode, stop, timed,
                           unbatched_action)
from protos import hfed_pb2 as pb, hfed_pb2_grpc as pb_grpc, rpc

REPO = Path(__file__).resolve().parents[1]
GOAL = 0.97
SCRAPED = ("/metrics", "/jmx", "/")


def baseline_revision() -> str:
    added = subprocess.run(["git", "-C", str(REPO), "log", "--diff-filter=A", "--format=%H", "-1", "--",
                            "namenode/metrics.py"], check=True, capture_output=True, text=True).stdout.strip()
    if not added:
        raise SystemExit("namenode/metrics.py is not in this repository's history: give --baseline REV")
    return added + "^"


def export(revision: str, into: Path) -> str:
    """The tree of ``revision`` in ``into``; returns its short commit id."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", revision], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", revision], check=True,
                          capture_output=True, text=True).stdout.strip()


async def alternating(threads: int, rounds: int, paths: list[str], new, base) -> dict:
    """The op over ``paths`` in ``rounds`` slices, each slice on both NameNodes, which one
    first alternating (whichever goes second finds the machine warmer or busier)."""
    times = {"new": 0.0, "base": 0.0}
    ratios = []
    for i, part in enumerate(paths[i::rounds] for i in range(rounds)):
        order = (("base", base), ("new", new)) if i % 2 == 0 else (("new", new), ("base", base))
        elapsed = {}
        for which, action in order:
            elapsed[which], _ = await timed(threads, part, action)
            times[which] += elapsed[which]
        ratios.append(elapsed["base"] / elapsed["new"])
    return {"base_per_s": len(paths) / times["base"], "new_per_s": len(paths) / times["new"],
            "ratio": statistics.median(ratios), "ratios": ratios}


def scrape_forever(address: str, interval: float) -> None:
    """The scraper process: every page once per ``interval`` seconds, as Prometheus and a person would."""
    session = requests.Session()
    count = 0
    while True:
        started = time.monotonic()
        for page in SCRAPED:
            session.get(f"http://{address}{page}", timeout=10).raise_for_status()
        count += 1
        if count % 10 == 0:
            print(f"scrapes: {count}", file=sys.stderr, flush=True)
        time.sleep(max(0.0, interval - (time.monotonic() - started)))


async def compare(op_names: list[str], ops: int, threads: int, rounds: int, tmp: Path, baseline_code: Path,
                  interval: float) -> tuple[dict, float]:
    base_proc, base_address, _ = start_namenode(tmp / "baseline", code=baseline_code)
    new_proc, new_address, _ = start_namenode(tmp / "metrics")
    scraper = None
    md = rpc.identity_metadata()
    try:
        async with rpc.aio_channel(base_address) as base_channel, rpc.aio_channel(new_address) as new_channel:
            base, new = pb_grpc.ClientProtocolStub(base_channel), pb_grpc.ClientProtocolStub(new_channel)
            http = (await new.GetStats(pb.GetStatsRequest(), metadata=md)).http_address
            scraper = subprocess.Popen([sys.executable, "-m", "bench.metrics_overhead", "--scrape", http,
                                        "--scrape-interval", str(interval)], stderr=subprocess.DEVNULL)
            paths = names(ops, 1000)
            for d in parents(paths):
                for stub in (base, new):
                    await stub.Mkdirs(pb.MkdirsRequest(path=d, create_parent=True), metadata=md)
            results = {}
            started = time.monotonic()
            for name in ordered(op_names):
                progress(f"{name}: {ops} ops, {threads} in flight, {rounds} rounds alternating baseline and metrics")
                results[name] = await alternating(threads, rounds, paths, unbatched_action(new, md, name),
                                                  unbatched_action(base, md, name))
            elapsed = time.monotonic() - started
            if scraper.poll() is not None:
                raise RuntimeError("the scraper stopped: the figures were not measured under scraping")
            return results, elapsed
    finally:
        if scraper is not None:
            scraper.terminate()
            scraper.wait()
        stop(new_proc)
        stop(base_proc)


def cost_model(files: int = 20_000, calls: int = 200_000) -> dict:
    """The same costs measured in-process, free of the shared machine's noise: one RPC's
    instrumentation (observe_rpc) and one scrape (/metrics, /jmx, status page rendered)
    over a namespace of ``files`` files."""
    from prometheus_client import generate_latest

    from namenode import status_page
    from namenode.metrics import NamenodeMetrics
    from namenode.namesystem import Namesystem
    from namenode.ops import dirs, files as file_ops

    fsn = Namesystem("bench", "CID", "BP", "bench", replication=1)
    me = fsn.ns.caller("bench")
    for d in parents(names(files, 1000)):
        dirs.mkdirs(fsn, me, d, 0o755, True)
    for p in names(files, 1000):
        file_ops.create(fsn, me, p, 0o644, False, False, 1, 0, "bench")
        file_ops.complete(fsn, me, p, "bench", None)
    metrics = fsn.metrics = NamenodeMetrics(fsn)
    methods = ["GetFileInfo", "Create", "Complete", "GetListing"]
    started = time.perf_counter()
    for i in range(calls):
        metrics.observe_rpc("ClientProtocol", methods[i & 3], 0.0001)
    observe_s = (time.perf_counter() - started) / calls
    scrapes = 20
    started = time.perf_counter()
    for _ in range(scrapes):
        generate_latest(metrics.registry)
        [bean.as_json() for bean in metrics.beans()]
        status_page.overview(fsn, "simple")
    scrape_s = (time.perf_counter() - started) / scrapes
    return {"files": files, "observe_us": observe_s * 1e6, "scrape_ms": scrape_s * 1e3}


def report(results: dict, threads: int, rounds: int, revision: str, interval: float, elapsed: float) -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [f"# Metrics and status page overhead (one op per RPC, {threads} calls in flight)", "",
             f"This build's NameNode, with a scraper reading {', '.join(SCRAPED)} every {interval:g} s in "
             f"another process, against the NameNode of commit {revision} (before metrics existed). "
             f"{rounds} rounds per op, each on both NameNodes one after the other, which first alternating; "
             f"ratio: median of the rounds'. {os.cpu_count()} cores, load average after the run {load} (shared machine); "
             f"{elapsed:.0f} s of measurement.", "",
             "| op | ops/s baseline | ops/s with metrics + scraper | ratio (median) | rounds' ratios | goal |",
             "|---|---:|---:|---:|---|---|"]
    for name, r in results.items():
        verdict = "met" if r["ratio"] >= GOAL else "NOT met"
        spread = " ".join(f"{x:.2f}" for x in r["ratios"])
        lines.append(f"| {name} | {r['base_per_s']:,.0f} | {r['new_per_s']:,.0f} | {r['ratio']:.3f}x | {spread} | "
                     f">= {GOAL}x: {verdict} |")
    lines.append("\ncreate is Create + Complete (two RPCs), as in nnbench; mutations wait for their edit's "
                 "fdatasync on both NameNodes.")
    cost = cost_model()
    rate = max(r["base_per_s"] * RPCS_PER_OP.get(name, 1) for name, r in results.items())
    share = cost["observe_us"] * 1e-6 * rate + cost["scrape_ms"] * 1e-3 / interval
    lines += ["", "## The same costs measured in-process (no noise from the shared machine)", "",
              f"- one RPC's instrumentation (per-method histogram): {cost['observe_us']:.2f} us",
              f"- one scrape of /metrics + /jmx + the status page's overview, {cost['files']:,} files: "
              f"{cost['scrape_ms']:.2f} ms of the NameNode's event loop",
              f"- at this run's highest rate ({rate:,.0f} RPCs/s) and one scrape per {interval:g} s: "
              f"{100 * share:.2f}% of the NameNode's time (goal <= {100 * (1 - GOAL):.0f}%)"]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="metrics_overhead", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-op", nargs="+", default=["create", "fileStatus", "listStatus"], choices=OPS)
    parser.add_argument("-ops", type=int, default=6000)
    parser.add_argument("-threads", type=int, default=16)
    parser.add_argument("-rounds", type=int, default=8)
    parser.add_argument("--baseline", help="revision to compare with (default: the one before metrics)")
    parser.add_argument("--scrape-interval", type=float, default=1.0)
    parser.add_argument("--scrape", metavar="HTTP_ADDRESS", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.scrape:
        scrape_forever(args.scrape, args.scrape_interval)
        return 0
    revision = args.baseline or baseline_revision()
    with tempfile.TemporaryDirectory(prefix="hfed-metrics-overhead-") as tmp_name:
        tmp = Path(tmp_name)
        short = export(revision, tmp / "baseline-code")
        results, elapsed = asyncio.run(compare(args.op, args.ops, args.threads, args.rounds, tmp,
                                               tmp / "baseline-code", args.scrape_interval))
    text = report(results, args.threads, args.rounds, short, args.scrape_interval, elapsed)
    print(text)
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "metrics_overhead.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
