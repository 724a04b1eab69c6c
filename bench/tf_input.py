"""Input throughput of the TensorFlow adapter against TensorFlow's own reader on plain files.

    python -m bench.tf_input            # ~1-2 minutes; writes bench/results/tf_input.md

A local cluster (one DataNode per trainer host, replication 1) holds TFRecord
shards of one block each, spread over the hosts. For each worker, in the same
run and alternating, we time:
- plain:    tf.data.TFRecordDataset over local copies of that worker's shards
            (the same bytes, from ordinary files: this machine's limit);
- adapter:  HfedInput for that worker on its own host (block files read natively);
- remote:   the same share read by a worker on no DataNode's host (every byte
            fetched over DataTransfer into the cache, then read natively).
Batched = .batch(B) consumed from Python; unbatched = one record at a time from
Python (the first --unbatched-records records). Everything reads from the page
cache (the files were just written). Medians of --repeats runs.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parent.parent
REPORT = REPO / "bench" / "results" / "tf_input.md"
MiB = 1 << 20


def records(total_bytes: int, record_bytes: int):
    body = bytes(range(256)) * (record_bytes // 256 + 1)
    for i in range(total_bytes // (record_bytes + 16)):
        yield i.to_bytes(8, "little") + body[:record_bytes - 8]


def consume_batched(ds) -> int:
    n = 0
    for batch in ds:
        n += int(batch.shape[0])
    return n


def consume_unbatched_all(ds) -> int:
    n = 0
    for _ in ds:
        n += 1
    return n


def timed(fn):
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def measure_worker(w: int, plan, hosts, conf: str, plain_dir: Path, args) -> dict:
    import tensorflow as tf
    from client.fs import HfedFileSystem
    from client.tf_adapter import READER_BUFFER, HfedInput
    from client.tf_assign import InputPlan

    files = plan.files_of(w)
    share_bytes = sum(f.size for f in files)
    plain_paths = [str(plain_dir / Path(f.path).name) for f in files]
    fs = HfedFileSystem(conf=conf, host=hosts[w], skip_instance_cache=True)
    remote_fs = HfedFileSystem(conf=conf, host="no-datanode-here", skip_instance_cache=True)
    remote_plan = InputPlan(plan.files, ("no-datanode-here",) * plan.num_workers, plan.owner)
    n = plan.num_workers

    def plain():
        return tf.data.TFRecordDataset(plain_paths, buffer_size=READER_BUFFER)

    # Build every pipeline once (tracing the adapter's tf.functions is a one-off cost, not throughput).
    local = lambda **kw: HfedInput(plan=plan, worker_index=w, num_workers=n, fs=fs, **kw)   # noqa: E731
    counted_source = local()
    pipelines = {"plain_b": plain().batch(args.batch), "adapter_b": counted_source.dataset().batch(args.batch),
                 "adapter_b_nocount": local(count_records=False).dataset().batch(args.batch),
                 "plain_u": plain().take(args.unbatched_records),
                 "adapter_u": local().dataset().take(args.unbatched_records)}
    consume = {k: (consume_batched if k.endswith(("_b", "nocount")) else consume_unbatched_all)
               for k in pipelines}
    for key, ds in pipelines.items():   # warm-up epoch: iterator set-up, page cache
        consume[key](ds)
    times: dict[str, list[float]] = {k: [] for k in pipelines}
    counts = {}
    for rep in range(args.repeats):
        keys = list(pipelines) if rep % 2 == 0 else list(reversed(pipelines))   # alternate the order
        for key in keys:
            seconds, counts[key] = timed(lambda: consume[key](pipelines[key]))
            times[key].append(seconds)
    total_records = counts["plain_b"]
    if counts["adapter_b"] != total_records or counts["adapter_u"] != counts["plain_u"]:
        raise SystemExit(f"worker {w}: the adapter read {counts['adapter_b']} records, plain {total_records}")
    local_counters = counted_source.counters_now()
    epochs = args.repeats + 1
    if local_counters.records != epochs * total_records or local_counters.remote_bytes:
        raise SystemExit(f"worker {w}: counters disagree with the plan: {local_counters}")
    remote = HfedInput(plan=remote_plan, worker_index=w, num_workers=n, fs=remote_fs,
                       cache_dir=str(plain_dir.parent / f"cache-{w}"))
    remote_ds = remote.dataset().batch(args.batch)
    remote_cold, _ = timed(lambda: consume_batched(remote_ds))
    remote_cached, _ = timed(lambda: consume_batched(remote_ds))
    remote_counters = remote.counters_now()
    unbatched = min(args.unbatched_records, total_records)
    unbatched_bytes = share_bytes * unbatched / total_records
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "worker": w, "host": hosts[w], "files": len(files), "bytes": share_bytes, "records": total_records,
        "rows": [
            ("plain TFRecordDataset, batched", total_records / med["plain_b"], share_bytes / med["plain_b"], None),
            ("adapter, batched", total_records / med["adapter_b"], share_bytes / med["adapter_b"],
             med["plain_b"] / med["adapter_b"]),
            ("adapter, batched, record counting off", total_records / med["adapter_b_nocount"],
             share_bytes / med["adapter_b_nocount"], med["plain_b"] / med["adapter_b_nocount"]),
            ("plain TFRecordDataset, unbatched", unbatched / med["plain_u"], unbatched_bytes / med["plain_u"], None),
            ("adapter, unbatched", unbatched / med["adapter_u"], unbatched_bytes / med["adapter_u"],
             med["plain_u"] / med["adapter_u"]),
            ("remote only, batched, first epoch (fetch)", total_records / remote_cold, share_bytes / remote_cold,
             med["plain_b"] / remote_cold),
            ("remote only, batched, next epoch (cache)", total_records / remote_cached, share_bytes / remote_cached,
             med["plain_b"] / remote_cached),
        ],
        "local_counters": local_counters.as_dict(), "remote_counters": remote_counters.as_dict(),
        "spread": {k: (min(v), max(v)) for k, v in times.items()},
    }


def report(results: list[dict], args, setup: str) -> str:
    lines = ["# TensorFlow input: hfed adapter vs plain local files", "",
             f"`python -m bench.tf_input {' '.join(sys.argv[1:])}`".replace(" `", "`"), "", setup, "",
             "Ratios are against the plain reader measured in the same run (batched rows against plain batched, "
             "unbatched against plain unbatched). Unbatched means Python pulls one record at a time, a "
             "per-element cost that dominates both readers. The 'record counting off' and 'next epoch (cache)' "
             "rows read through the same native path as the plain reader, so their spread around 1.0x is "
             "this machine's run-to-run noise.", "",
             "## Summary", "", "| worker | adapter/plain batched | adapter/plain unbatched | remote fetch/plain | "
             "remote bytes when local |", "|---|---:|---:|---:|---:|"]
    for r in results:
        ratio = {name: value for name, _, _, value in r["rows"]}
        lines.append(f"| {r['worker']} ({r['host']}) | {ratio['adapter, batched']:.2f}x | "
                     f"{ratio['adapter, unbatched']:.2f}x | {ratio['remote only, batched, first epoch (fetch)']:.2f}x"
                     f" | {r['local_counters']['remote_bytes']} |")
    lines.append("")
    for r in results:
        lines += [f"## worker {r['worker']} ({r['host']}): {r['files']} files, {r['bytes'] / MiB:.0f} MiB, "
                  f"{r['records']} records", "",
                  "| path | records/s | MB/s | ratio vs plain |", "|---|---:|---:|---:|"]
        for name, rps, bps, ratio in r["rows"]:
            lines.append(f"| {name} | {rps:,.0f} | {bps / 1e6:,.0f} | {'' if ratio is None else f'{ratio:.2f}x'} |")
        lc, rc = r["local_counters"], r["remote_counters"]
        lines += ["", f"Counters, {args.repeats + 1} local epochs (batched): local bytes {lc['local_bytes']}, "
                      f"remote bytes {lc['remote_bytes']}, "
                      f"files {lc['files']}, records {lc['records']}. Remote-only worker, two epochs: local bytes "
                      f"{rc['local_bytes']}, remote bytes {rc['remote_bytes']}, cached bytes {rc['cached_bytes']}, "
                      f"records {rc['records']}.", ""]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workers", type=int, default=3)
    p.add_argument("--size-mb", type=int, default=192, help="total data, MiB")
    p.add_argument("--block-size-mb", type=int, default=32)
    p.add_argument("--record-bytes", type=int, default=1024)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--unbatched-records", type=int, default=5000)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--out", default=str(REPORT))
    args = p.parse_args(argv)

    from client.fs import HfedFileSystem
    from client.minicluster import MiniCluster
    from client.tf_adapter import plan_input
    from client.tf_records import write_tfrecord_shards

    with tempfile.TemporaryDirectory(prefix="hfed-tf-input-") as scratch, \
            MiniCluster(Path(scratch) / "cluster", namespaces=1, datanodes=args.workers, replication=1,
                        block_size=args.block_size_mb * MiB) as cluster:
        conf = str(cluster.config_path)
        fs = HfedFileSystem(conf=conf, skip_instance_cache=True)
        hosts = list(fs.session.cfg.datanodes)
        print(f"writing {args.size_mb} MiB of {args.record_bytes}-byte records as "
              f"{args.block_size_mb} MiB shards on {', '.join(hosts)} ...", flush=True)
        shards = write_tfrecord_shards(fs, records(args.size_mb * MiB, args.record_bytes), "/data/bench",
                                       replication=1, hosts=hosts,
                                       on_shard=lambda s: print(f"  {s.path} on {s.first_replica_host}", flush=True))
        plan = plan_input("/data/bench/*.tfrecord", hosts, fs)
        plain_dir = Path(scratch) / "plain"
        plain_dir.mkdir()
        for shard in shards:   # the same bytes, as ordinary local files
            fs.get_file(shard.path, str(plain_dir / Path(shard.path).name))
        import tensorflow as tf  # noqa: F401  (imported once, before any timing)
        results = []
        for w in range(len(hosts)):
            print(f"worker {w} ({hosts[w]}): measuring ...", flush=True)
            results.append(measure_worker(w, plan, hosts, conf, plain_dir, args))
            for name, rps, bps, ratio in results[-1]["rows"]:
                print(f"  {name:<44} {rps:>10,.0f} rec/s {bps / 1e6:>8,.0f} MB/s"
                      f"{'' if ratio is None else f'  {ratio:.2f}x plain'}", flush=True)
            lc = results[-1]["local_counters"]
            print(f"  local epoch counters: local {lc['local_bytes']} B, remote {lc['remote_bytes']} B, "
                  f"records {lc['records']}", flush=True)
    setup = (f"Setup: {args.workers} DataNodes (one per worker host), replication 1, {args.block_size_mb} MiB blocks, "
             f"{args.size_mb} MiB of {args.record_bytes}-byte records in {len(shards)} one-block shards, batch "
             f"{args.batch}, unbatched rows over the first {args.unbatched_records} records, median of "
             f"{args.repeats} alternating runs; {os.cpu_count()} CPUs, page cache warm.")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(report(results, args, setup))
    print(f"report: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
