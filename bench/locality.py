"""Locality where the network costs what it costs: 3 emulated hosts behind 1 Gbit/s links.

    python -m bench.locality            # ~2 minutes, root only; bench/results/locality.md + .png + .json

A throwaway cluster with emulated hosts (client/emulated_hosts.py: one network namespace
per DataNode, its own 198.18.0.x address, an htb-limited link both ways), replication 1,
TFRecord shards of one block each. Which host holds a shard is a seeded shuffle (as HDFS
places a first replica when the writer is on no DataNode), each host the same number.
Measured in one run:

(a) the link: a plain TCP transfer from host-2's namespace to host-1's (the raw rate of
    two shaped links, what any protocol can hope for), then a reader in host-1's
    namespace reading one-block files of HDFS's default block size (--read-block-mb,
    128) through the client library in 4 MiB reads, as `hfed dfs -get` copies: files
    on host-2 (remote: over both links) and files on host-1 (local). Ratio remote / raw.
    Beside it, the same remote files read whole into one bytes object (cat_file: the
    copies that costs) and the 32 MiB TFRecord shards streamed.
(b) one epoch of TFRecord input for 3 trainers, each in its host's namespace (started
    by the launcher, client/tf_launch.py, which does that by itself on such a cluster),
    each reading its share through HfedInput: the adapter's locality plan (plan_input)
    vs a locality-blind round-robin plan (shard i to trainer i mod 3), alternating,
    --repeats epochs each in the same trainer processes, each epoch with an empty cache. Epoch time: from a barrier all trainers pass after building
    their input to the last trainer's last record; bytes that came over the network.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import shutil
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
DATA_DIR = "/data/locality"
MiB = 1 << 20
BARRIER_TIMEOUT = 120.0


def records(count: int, record_bytes: int):
    body = os.urandom(record_bytes)
    for i in range(count):
        yield i.to_bytes(8, "little") + body[8:]


# ------------------------------------------------------------------ probes (run inside a namespace)

def probe_sink(bind: str) -> None:
    """Accept one connection, read to EOF; print the port, then bytes and seconds from the first byte."""
    server = socket.create_server((bind, 0))
    print(server.getsockname()[1], flush=True)
    conn, _ = server.accept()
    buf = bytearray(4 * MiB)
    total = conn.recv_into(buf)
    started = time.perf_counter()
    while True:
        n = conn.recv_into(buf)
        if not n:
            break
        total += n
    print(json.dumps({"bytes": total, "seconds": time.perf_counter() - started}), flush=True)


def probe_source(address: str, nbytes: int) -> None:
    host, port = address.rsplit(":", 1)
    chunk = os.urandom(4 * MiB)
    with socket.create_connection((host, int(port))) as conn:
        sent = 0
        while sent < nbytes:
            conn.sendall(chunk)
            sent += len(chunk)


READ_CHUNK = 4 * MiB


def probe_read(conf: str, host: str, paths: list[str], whole: bool = False) -> None:
    """Read each file through the client library, in READ_CHUNK reads (as a copy to a
    file does) or ``whole`` into one bytes object; print [{path, bytes, seconds}]."""
    from client.fs import HfedFileSystem
    fs = HfedFileSystem(conf=conf, host=host, skip_instance_cache=True)
    out = []
    for path in paths:
        started = time.perf_counter()
        if whole:
            got = len(fs.cat_file(path))
        else:
            got = 0
            with fs.open(path, "rb") as f:
                while chunk := f.read(READ_CHUNK):
                    got += len(chunk)
        out.append({"path": path, "bytes": got, "seconds": time.perf_counter() - started})
    print(json.dumps(out), flush=True)


def in_netns(emulation, label: str, args: list[str], **kw) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    return subprocess.Popen([*emulation.exec_prefix(label), sys.executable, "-m", "bench.locality", *args],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, text=True, **kw)


def raw_link(emulation, src: str, dst: str, nbytes: int) -> dict:
    sink = in_netns(emulation, dst, ["--probe", "sink", "--bind", emulation.host(dst).ip])
    port = int(sink.stdout.readline())
    source = in_netns(emulation, src, ["--probe", "source", "--connect", f"{emulation.host(dst).ip}:{port}",
                                        "--bytes", str(nbytes)])
    if source.wait(timeout=120) != 0:
        raise SystemExit("the raw TCP source failed")
    result = json.loads(sink.stdout.readline())
    sink.wait(timeout=30)
    return result


def block_reads(emulation, conf: str, reader: str, paths: list[str], whole: bool = False) -> list[dict]:
    proc = in_netns(emulation, reader, ["--probe", "read", "--conf", conf, "--host", reader,
                                        *(["--whole"] if whole else []), *paths])
    out, _ = proc.communicate(timeout=300)
    if proc.returncode != 0:
        raise SystemExit(f"the block reader in {reader}'s namespace failed (exit {proc.returncode})")
    return json.loads(out)


# ------------------------------------------------------------------ the trainers (started by the launcher)

PLANS_FILE = "plans.json"


def epoch_order(names: list[str], repeats: int) -> list[tuple[int, str]]:
    """(repeat, plan) in run order: the plans alternate which goes first."""
    return [(rep, name) for rep in range(repeats) for name in (names if rep % 2 == 0 else names[::-1])]


def run_trainer(batch: int, repeats: int) -> None:
    """Every epoch of every plan in one process (TensorFlow starts once); a barrier before each epoch."""
    from client.fs import HfedFileSystem
    from client.tf_adapter import HfedInput
    from client.tf_assign import InputPlan
    from client.tf_launch import finish

    index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
    job = Path(os.environ["HFED_JOB_DIR"])
    plans = {name: InputPlan.from_json(text) for name, text in json.loads((job / PLANS_FILE).read_text()).items()}
    fs = HfedFileSystem(conf=os.environ["HFED_CONF"], host=os.environ["HFED_HOST"], skip_instance_cache=True)
    for rep, name in epoch_order(list(plans), repeats):
        plan = plans[name]
        cache = job / f"cache-{name}-{rep}-{index}"    # empty: every epoch fetches its remote files
        source = HfedInput(plan=plan, worker_index=index, num_workers=plan.num_workers, fs=fs, cache_dir=str(cache))
        dataset = source.dataset().batch(batch)
        # Every trainer starts reading together: building the input is not the epoch.
        tag = f"{name}-{rep}"
        (job / f"ready-{tag}-{index}").write_text("")
        deadline = time.monotonic() + BARRIER_TIMEOUT
        while not all((job / f"ready-{tag}-{i}").exists() for i in range(plan.num_workers)):
            if time.monotonic() > deadline:
                raise SystemExit(f"trainer {index}: the others did not get ready in {BARRIER_TIMEOUT:.0f}s")
            time.sleep(0.005)
        started = time.time()
        count = sum(int(b.shape[0]) for b in dataset)
        ended = time.time()
        (job / f"result-{tag}-{index}.json").write_text(json.dumps({
            "worker": index, "host": os.environ["HFED_HOST"], "records": count, "started": started,
            "ended": ended, "counters": source.counters_now().as_dict()}))
        shutil.rmtree(cache, ignore_errors=True)
    finish()


def run_epochs(conf: str, plans: dict, hosts: list[str], job: Path, batch: int, repeats: int) -> dict[str, list]:
    """One launch of 3 trainers running ``repeats`` epochs of each plan; per plan, each epoch's figures."""
    from client.tf_launch import launch
    shutil.rmtree(job, ignore_errors=True)
    job.mkdir(parents=True)
    (job / PLANS_FILE).write_text(json.dumps({name: plan.to_json() for name, plan in plans.items()}))
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="-1", TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    with open(os.devnull, "w") as sink:
        result = launch([sys.executable, "-m", "bench.locality", "--trainer", "--batch", str(batch),
                         "--repeats", str(repeats)], len(hosts), hosts=hosts, conf=conf, job_dir=job,
                        plan=plans["locality"], env=env, timeout=600, out=sink, err=sink)
    if result.exit_code != 0:
        raise SystemExit(f"a trainer failed (exit {result.exit_code}); logs in {job}")
    epochs: dict[str, list] = {name: [] for name in plans}
    for rep, name in epoch_order(list(plans), repeats):
        trainers = [json.loads((job / f"result-{name}-{rep}-{i}.json").read_text()) for i in range(len(hosts))]
        epoch = {"seconds": max(t["ended"] for t in trainers) - min(t["started"] for t in trainers),
                 "remote_bytes": sum(t["counters"]["remote_bytes"] for t in trainers),
                 "local_bytes": sum(t["counters"]["local_bytes"] for t in trainers),
                 "records": sum(t["records"] for t in trainers), "trainers": trainers}
        epochs[name].append(epoch)
        print(f"epoch {rep + 1} {name:<11} {epoch['seconds']:.2f} s, remote "
              f"{epoch['remote_bytes'] / MiB:.0f} MiB, records {epoch['records']}", flush=True)
    return epochs


def blind_plan(plan):
    """Shard i (by path) to trainer i mod N, whatever host holds it."""
    from client.tf_assign import InputPlan
    files = tuple(sorted(plan.files, key=lambda f: f.path))
    return InputPlan(files, plan.worker_hosts, tuple(i % plan.num_workers for i in range(len(files))))


# ------------------------------------------------------------------ the run

def measure(args) -> dict:
    from client import emulated_hosts
    from client.fs import HfedFileSystem
    from client.minicluster import MiniCluster
    from client.tf_plan import plan_input
    from client.tf_records import write_tfrecord_shards

    problem = emulated_hosts.support_problem()
    if problem:
        raise SystemExit(f"bench.locality: {problem}")
    hosts = ["host-1", "host-2", "host-3"]
    work = Path(tempfile.mkdtemp(prefix="hfed-locality-"))
    try:
        with MiniCluster(work / "cluster", namespaces=1, emulate_hosts=len(hosts), link=args.link, replication=1,
                         block_size=args.block_size_mb * MiB, webhdfs=False,
                         settings={"small_file_threshold": 0}) as cluster:
            em, conf = cluster.emulation, str(cluster.config_path)
            fs = HfedFileSystem(conf=conf, skip_instance_cache=True)
            shards_n = args.size_mb // args.block_size_mb
            per_shard = (args.block_size_mb * MiB) // ((args.record_kb << 10) + 16)   # TFRecord framing: 16 bytes
            placement = [hosts[i % len(hosts)] for i in range(shards_n)]
            random.Random(args.seed).shuffle(placement)
            print(f"writing {args.size_mb} MiB as {shards_n} one-block shards over {', '.join(hosts)} "
                  f"({em.link} links) ...", flush=True)
            shards = write_tfrecord_shards(fs, records(shards_n * per_shard, args.record_kb << 10), DATA_DIR,
                                           replication=1, hosts=placement, block_size=args.block_size_mb * MiB,
                                           records_per_shard=per_shard)
            on = {s.path: s.first_replica_host for s in shards}
            # (a) raw link, remote and local block reads from host-1's namespace
            remote_paths = write_blocks(conf, "host-2", args.read_block_mb, args.read_repeats)
            local_paths = write_blocks(conf, "host-1", args.read_block_mb, args.read_repeats)
            shard_paths = [p for p, h in sorted(on.items()) if h == "host-2"][:args.read_repeats]
            raw = [raw_link(em, "host-2", "host-1", args.raw_mb * MiB) for _ in range(args.read_repeats)]
            block_reads(em, conf, "host-1", shard_paths[:1] + local_paths[:1])   # warm-up: imports, connections
            remote = block_reads(em, conf, "host-1", remote_paths)
            remote_whole = block_reads(em, conf, "host-1", remote_paths, whole=True)
            remote_shards = block_reads(em, conf, "host-1", shard_paths)
            local = block_reads(em, conf, "host-1", local_paths)
            print(f"raw TCP {rate(raw):.0f} MB/s, remote block read {rate(remote):.0f} MB/s, "
                  f"local {rate(local):.0f} MB/s", flush=True)
            # The same transfers with host-1's and host-2's links unshaped: what this machine's CPUs allow.
            for label in ("host-1", "host-2"):
                emulated_hosts.shape(em, label, None)
            raw_free = [raw_link(em, "host-2", "host-1", args.raw_mb * MiB)]
            remote_free = block_reads(em, conf, "host-1", remote_paths)
            for label in ("host-1", "host-2"):
                emulated_hosts.shape(em, label, em.link)
            print(f"unshaped: raw TCP {rate(raw_free):.0f} MB/s, remote block read {rate(remote_free):.0f} MB/s",
                  flush=True)
            # (b) one epoch, three trainers, locality plan vs round-robin, alternating
            plans = {"locality": plan_input(f"{DATA_DIR}/*.tfrecord", hosts, fs)}
            plans["round-robin"] = blind_plan(plans["locality"])
            epochs = run_epochs(conf, plans, hosts, work / "job", args.batch, args.repeats)
            planned_local = {name: sum(p.local_bytes_of(w) for w in range(p.num_workers)) for name, p in plans.items()}
            total_bytes = sum(s.size for s in shards)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if len({e["records"] for runs in epochs.values() for e in runs}) != 1:
        raise SystemExit(f"the plans read different record counts: {epochs}")
    return {"link": em.link, "link_bits": em.link_bits, "hosts": hosts, "shards": len(shards),
            "shard_bytes": total_bytes, "block_size": args.block_size_mb * MiB, "record_bytes": args.record_kb << 10,
            "raw": raw, "remote_reads": remote, "local_reads": local, "epochs": epochs,
            "remote_whole_reads": remote_whole, "remote_shard_reads": remote_shards,
            "raw_unshaped": raw_free, "remote_unshaped": remote_free, "load_average": os.getloadavg(),
            "planned_local_bytes": planned_local, "cpus": os.cpu_count(), "args": vars(args)}


def write_blocks(conf: str, host: str, block_mb: int, count: int) -> list[str]:
    """``count`` one-block files of ``block_mb`` MiB whose replica is on ``host`` (written as
    that host's client: the first replica goes to the writer's host)."""
    from client.fs import HfedFileSystem
    fs = HfedFileSystem(conf=conf, host=host, skip_instance_cache=True)
    paths = [f"{DATA_DIR}-reads/{host}-{i}" for i in range(count)]
    for path in paths:
        with fs.open(path, "wb", block_size=block_mb * MiB) as f:
            f.write(os.urandom(block_mb * MiB))
        if [dn.host_label for b in fs.block_locations(path).blocks for dn in b.locations] != [host]:
            raise SystemExit(f"{path}: its replica is not on {host}")
    return paths


def rate(samples: list[dict]) -> float:
    """Median MB/s (10^6 bytes per second) of the samples."""
    return statistics.median(s["bytes"] / s["seconds"] for s in samples) / 1e6


def summary(r: dict) -> dict:
    link_mbs = r["link_bits"] / 8e6
    med = {name: statistics.median(e["seconds"] for e in runs) for name, runs in r["epochs"].items()}
    return {"link_MBps": link_mbs, "raw_MBps": rate(r["raw"]), "remote_MBps": rate(r["remote_reads"]),
            "remote_whole_MBps": rate(r["remote_whole_reads"]), "remote_shard_MBps": rate(r["remote_shard_reads"]),
            "local_MBps": rate(r["local_reads"]), "raw_unshaped_MBps": rate(r["raw_unshaped"]),
            "remote_unshaped_MBps": rate(r["remote_unshaped"]), "remote_vs_raw": rate(r["remote_reads"]) / rate(r["raw"]),
            "remote_vs_nominal": rate(r["remote_reads"]) / link_mbs, "epoch_seconds": med,
            "epoch_ratio": med["locality"] / med["round-robin"],
            "remote_bytes": {name: statistics.median(e["remote_bytes"] for e in runs)
                             for name, runs in r["epochs"].items()}}


def report(r: dict, s: dict, plot_name: str) -> str:
    ok = lambda cond: "met" if cond else "NOT met"   # noqa: E731
    lines = [
        "# Locality on emulated hosts with shaped links", "",
        f"`python -m bench.locality {' '.join(sys.argv[1:])}`".replace(" `", "`"), "",
        f"Setup: 3 emulated hosts (network namespaces, one DataNode each, addresses in 198.18.0.0/15), every "
        f"host's link limited to {r['link']} in both directions by htb; replication 1; {r['shards']} TFRecord "
        f"shards of one {r['block_size'] // MiB} MiB block ({r['shard_bytes'] / MiB:.0f} MiB, "
        f"{r['record_bytes'] >> 10} KiB records), each host holding the same number (seeded shuffle); "
        f"{r['cpus']} CPUs shared by the DataNodes, the trainers and the kernel's forwarding. TLS and block "
        f"tokens on (the defaults).", "",
        f"![locality]({plot_name})", "",
        "## (a) A remote block read against the link", "",
        "| transfer, host-2 -> host-1 (two shaped links) | MB/s (median) | vs raw TCP | vs nominal link |",
        "|---|---:|---:|---:|",
        f"| nominal link ({r['link']}) | {s['link_MBps']:.0f} | | 1.00x |",
        f"| raw TCP socket, {r['args']['raw_mb']} MiB, {len(r['raw'])} runs | {s['raw_MBps']:.0f} | 1.00x | "
        f"{s['raw_MBps'] / s['link_MBps']:.2f}x |",
        f"| remote block read through the client ({len(r['remote_reads'])} one-block files of "
        f"{r['args']['read_block_mb']} MiB, 4 MiB reads) | "
        f"{s['remote_MBps']:.0f} | {s['remote_vs_raw']:.2f}x | {s['remote_vs_nominal']:.2f}x |",
        f"| the same files read whole into one bytes object (cat_file) | {s['remote_whole_MBps']:.0f} | "
        f"{s['remote_whole_MBps'] / s['raw_MBps']:.2f}x | |",
        f"| the {r['block_size'] // MiB} MiB TFRecord shards on host-2, 4 MiB reads | "
        f"{s['remote_shard_MBps']:.0f} | {s['remote_shard_MBps'] / s['raw_MBps']:.2f}x | |",
        f"| local block read on host-1 (same namespace, no link) | {s['local_MBps']:.0f} | "
        f"{s['local_MBps'] / s['raw_MBps']:.2f}x | |",
        f"| raw TCP socket, links unshaped | {s['raw_unshaped_MBps']:.0f} | | |",
        f"| remote block read, links unshaped | {s['remote_unshaped_MBps']:.0f} | | |", "",
        f"The unshaped rows show what this machine's CPUs allow without the link: when the remote read is no "
        f"faster unshaped, the client and DataNode (TLS, checksums, Python) are the limit, not the link. "
        f"Load average at the end of the run: {', '.join('%.1f' % x for x in r['load_average'])} "
        f"(other work shares the {r['cpus']} CPUs).", "",
        f"Goal: a remote read within 10% of the link rate: {s['remote_vs_raw']:.2f}x of the raw TCP rate measured "
        f"in this run ({ok(s['remote_vs_raw'] >= 0.9)}); a local read is "
        f"{s['local_MBps'] / s['remote_MBps']:.1f}x a remote one.", "",
        "## (b) One epoch, 3 trainers, each in its host's namespace", "",
        "| plan | epoch seconds (median) | runs | bytes over the network per epoch | planned local bytes |",
        "|---|---:|---|---:|---:|"]
    for name, runs in r["epochs"].items():
        lines.append(f"| {name} | {s['epoch_seconds'][name]:.2f} | "
                     f"{', '.join('%.2f' % e['seconds'] for e in runs)} | "
                     f"{s['remote_bytes'][name] / MiB:.0f} MiB | {r['planned_local_bytes'][name] / MiB:.0f} MiB |")
    lines += ["", f"Epoch time, locality plan / round-robin plan: {s['epoch_ratio']:.2f}x (goal <= 0.5x: "
                  f"{ok(s['epoch_ratio'] <= 0.5)}). The round-robin plan moves "
                  f"{s['remote_bytes']['round-robin'] / MiB:.0f} MiB across the links per epoch (the shuffle "
                  f"co-location avoids); the locality plan {s['remote_bytes']['locality'] / MiB:.0f} MiB.", "",
              "Epoch time runs from a barrier every trainer passes once its input is built (TensorFlow's start-up "
              "is excluded) to the last trainer's last record. Remote files are fetched into each trainer's "
              "cache and read from there (client/tf_adapter.py); each run starts with an empty cache.", ""]
    return "\n".join(lines)


def plot(r: dict, s: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    names = [f"nominal\n{r['link']}", "raw TCP", "remote\nblock read", "local\nblock read"]
    values = [s["link_MBps"], s["raw_MBps"], s["remote_MBps"], s["local_MBps"]]
    bars = ax1.bar(names, values, color=["#bbbbbb", "#888888", "#d62728", "#2ca02c"])
    ax1.bar_label(bars, fmt="%.0f")
    ax1.set_ylabel("MB/s")
    ax1.set_title("(a) one block, host-2 -> host-1")
    plans = list(r["epochs"])
    bars = ax2.bar(plans, [s["epoch_seconds"][p] for p in plans], color=["#2ca02c", "#d62728"])
    ax2.bar_label(bars, labels=[f"{s['epoch_seconds'][p]:.2f} s\n{s['remote_bytes'][p] / MiB:.0f} MiB remote"
                                for p in plans])
    ax2.set_ylabel("epoch seconds (3 trainers)")
    ax2.set_ylim(0, max(s["epoch_seconds"].values()) * 1.3)
    ax2.set_title(f"(b) one epoch, {r['shard_bytes'] / MiB:.0f} MiB")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--link", default="1gbit", help="every host's link rate (tc syntax)")
    p.add_argument("--size-mb", type=int, default=288, help="TFRecord data, MiB (whole blocks, 3 hosts)")
    p.add_argument("--block-size-mb", type=int, default=32)
    p.add_argument("--record-kb", type=int, default=64)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--raw-mb", type=int, default=128, help="bytes of each raw TCP transfer, MiB")
    p.add_argument("--read-block-mb", type=int, default=128, help="block (= file) size of the read test, MiB")
    p.add_argument("--whole", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--read-repeats", type=int, default=3, help="raw transfers and block reads of each kind")
    p.add_argument("--repeats", type=int, default=3, help="epochs of each plan (alternating, same trainers)")
    p.add_argument("--seed", type=int, default=17)
    p.add_argument("--out", default=str(RESULTS / "locality.md"))
    # internal: the processes the run starts inside the namespaces
    p.add_argument("--trainer", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--probe", choices=["sink", "source", "read"], help=argparse.SUPPRESS)
    p.add_argument("--bind", help=argparse.SUPPRESS)
    p.add_argument("--connect", help=argparse.SUPPRESS)
    p.add_argument("--bytes", type=int, help=argparse.SUPPRESS)
    p.add_argument("--conf", help=argparse.SUPPRESS)
    p.add_argument("--host", help=argparse.SUPPRESS)
    p.add_argument("paths", nargs="*", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.trainer:
        run_trainer(args.batch, args.repeats)
        return 0
    if args.probe:
        {"sink": lambda: probe_sink(args.bind), "source": lambda: probe_source(args.connect, args.bytes),
         "read": lambda: probe_read(args.conf, args.host, args.paths, args.whole)}[args.probe]()
        return 0
    r = measure(args)
    s = summary(r)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    png = out.with_suffix(".png")
    plot(r, s, png)
    out.with_suffix(".json").write_text(json.dumps({"summary": s, "run": r}, indent=1, default=str) + "\n")
    out.write_text(report(r, s, png.name))
    print(f"remote read {s['remote_vs_raw']:.2f}x raw TCP ({s['remote_MBps']:.0f} vs {s['raw_MBps']:.0f} MB/s); "
          f"epoch locality/round-robin {s['epoch_ratio']:.2f}x; report: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
