"""Crash test: kill -9 NameNodes (and DataNodes) under load; nothing acknowledged may be lost.

    python -m bench.crash [--cycles 20] [--workers 8] [--seed 1]

Starts a local cluster (1 namespace, 4 DataNodes, 1 MiB blocks). Worker
threads run creates (with data: empty, small files that go to staging
containers, files of blocks), batches of small files (pipe_many), mkdirs,
renames and deletes, each in its own directory, and keep a model of what the
NameNode acknowledged. Each cycle lets
them run for a random moment, SIGKILLs the NameNode (every third cycle also a
DataNode), restarts it, waits for safe mode to end and checks every worker's
directory against its model:
  * every acknowledged operation is present (lost = 0),
  * an operation whose reply was lost in the crash is either fully applied or
    not at all (a rename leaves exactly one of source and destination),
  * every file reads back identical.
At the end it waits for re-replication and runs `hfed fsck /`, which must say
HEALTHY. Prints the counts; exits non-zero on any loss.
"""
from __future__ import annotations

import argparse
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from client.fs import HfedFileSystem
from client.minicluster import MiniCluster
from client.session import ClusterSession
from protos import hfed_pb2 as pb

ROOT = "/data/crash"


def content(name: str) -> bytes:
    """Deterministic bytes per file name (sizes up to 1.5 blocks; files named s<n> are small)."""
    rng = random.Random(name)
    return rng.randbytes(rng.randint(1, 16384) if name.startswith("s")
                         else rng.choice([0, 100, 4096, 300_000, 1_500_000]))


class Worker(threading.Thread):
    """Runs operations in its own directory and models what was acknowledged."""

    def __init__(self, conf: str, index: int, seed: int, running: threading.Event):
        super().__init__(daemon=True, name=f"worker-{index}")
        self.fs = HfedFileSystem(conf=conf, skip_instance_cache=True)
        self.root = f"{ROOT}/w{index}"
        self.rng = random.Random(seed * 1000 + index)
        self.running = running
        self.idle = threading.Event()
        self.stop = False
        self.model: dict[str, str] = {}    # path -> "dir" | "file:<name it was created as>" (acknowledged)
        self.uncertain: list[tuple] = []           # operations whose reply was lost
        self.acked = 0
        self.counter = 0

    def fresh(self, kind: str) -> str:
        self.counter += 1
        return f"{self.root}/{kind}{self.counter}"

    def run(self) -> None:
        self.fs.makedirs(self.root, exist_ok=True)
        while not self.stop:
            if not self.running.is_set():
                self.idle.set()
                self.running.wait(0.1)
                continue
            self.idle.clear()
            self.one_operation()

    def one_operation(self) -> None:
        files = [p for p, kind in self.model.items() if kind.startswith("file")]
        empty_dirs = [p for p, kind in self.model.items() if kind == "dir"]
        choice = self.rng.random()
        if choice < 0.1:
            self.small_batch()
            return
        if choice < 0.45 or not files:
            path = self.fresh("f")
            op = ("create", path)
            action = lambda: self.fs.pipe_file(path, content(path.rsplit("/", 1)[1]))  # noqa: E731
        elif choice < 0.65:
            path = self.fresh("d")
            op = ("mkdir", path)
            action = lambda: self.fs.mkdir(path, create_parents=False)  # noqa: E731
        elif choice < 0.85:
            src, dst = self.rng.choice(files), self.fresh("r")
            op = ("rename", src, dst)
            action = lambda: self.fs.mv(src, dst)  # noqa: E731
        else:
            path = self.rng.choice(files + empty_dirs)
            op = ("delete", path)
            action = lambda: self.fs.rm(path)  # noqa: E731
        try:
            action()
        except Exception:  # noqa: BLE001 - the NameNode may have died before or after applying it
            self.uncertain.append(op)
            time.sleep(0.2)
            return
        self.acked += 1
        self.apply(op, self.model)

    def small_batch(self) -> None:
        """Small files in one pipe_many call: each acknowledged (or not) on its own."""
        paths = [self.fresh("s") for _ in range(self.rng.randint(2, 20))]
        try:
            results = self.fs.pipe_many({p: content(p.rsplit("/", 1)[1]) for p in paths})
        except Exception:  # noqa: BLE001 - the whole call failed: none is known to be applied
            results = [OSError("call failed")] * len(paths)
        for path, error in zip(paths, results):
            if error is None:
                self.acked += 1
                self.apply(("create", path), self.model)
            else:
                self.uncertain.append(("create", path))

    @staticmethod
    def apply(op: tuple, model: dict) -> None:
        if op[0] == "create":
            model[op[1]] = "file:" + op[1].rsplit("/", 1)[1]
        elif op[0] == "mkdir":
            model[op[1]] = "dir"
        elif op[0] == "rename":
            model[op[2]] = model.pop(op[1])
        else:
            model.pop(op[1], None)

    def check(self, reader: HfedFileSystem) -> list[str]:
        """Compare the namespace with the model; adopt the outcome of uncertain ops."""
        actual = {e["name"]: e["type"] for e in reader.ls(self.root)} if reader.exists(self.root) else {}
        actual = {p: ("dir" if t == "directory" else "file") for p, t in actual.items()}
        problems = []
        for op in self.uncertain:
            applied = dict(self.model)
            self.apply(op, applied)
            touched = op[1:]
            now = {p: actual.get(p) for p in touched}
            if now == {p: kind_of(applied.get(p)) for p in touched}:
                self.model = applied
                if op[0] == "create":
                    # Its writer failed part-way: the bytes were never acknowledged.
                    reader.rm(op[1])
                    self.model.pop(op[1])
                    actual.pop(op[1])
            elif now != {p: kind_of(self.model.get(p)) for p in touched}:
                problems.append(f"HALF-APPLIED {op}: namespace has {now}")
        self.uncertain = []
        for path, value in self.model.items():
            if actual.get(path) != kind_of(value):
                problems.append(f"LOST acknowledged {value} {path} (namespace has {actual.get(path)})")
            elif value.startswith("file:") and reader.cat_file(path) != content(value[5:]):
                problems.append(f"CORRUPT {path}: bytes differ from {value}")
        for path in actual.keys() - self.model.keys():
            problems.append(f"UNEXPECTED {actual[path]} {path}")
            self.model[path] = actual[path]
        return problems


def kind_of(value: str | None) -> str | None:
    return None if value is None else value.split(":", 1)[0]


def wait_out_of_safe_mode(cluster: MiniCluster, conf: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    session = ClusterSession(conf)
    try:
        while time.time() < deadline:
            try:
                if not session.namenode("ns-a").set_safe_mode(pb.SafeModeRequest.GET).on:
                    return
            except Exception:  # noqa: BLE001 - still starting
                pass
            time.sleep(0.2)
    finally:
        session.close()
    raise TimeoutError(f"ns-a still in safe mode after {timeout}s")


def run(cycles: int, workers: int, seed: int, directory: Path) -> dict:
    rng = random.Random(seed)
    counts = {"cycles": 0, "namenode_kills": 0, "datanode_kills": 0, "acked": 0, "lost": 0, "uncertain": 0}
    with MiniCluster(directory, namespaces=1, datanodes=4, block_size=1 << 20, replication=3,
                     heartbeat_interval=0.2, dead_interval=2.0) as cluster:
        conf = str(cluster.config_path)
        running = threading.Event()
        crew = [Worker(conf, i, seed, running) for i in range(workers)]
        HfedFileSystem(conf=conf, skip_instance_cache=True).makedirs(ROOT, exist_ok=True)
        for w in crew:
            w.start()
        try:
            for cycle in range(1, cycles + 1):
                running.set()
                time.sleep(rng.uniform(0.5, 2.0))
                cluster.kill_namenode("ns-a", signal.SIGKILL)
                counts["namenode_kills"] += 1
                victim = None
                if cycle % 3 == 0:
                    victim = rng.choice(cluster.host_labels)
                    cluster.kill_datanode(victim, signal.SIGKILL)
                    counts["datanode_kills"] += 1
                time.sleep(rng.uniform(0.1, 0.5))
                running.clear()
                cluster.start_namenode("ns-a")
                if victim is not None:
                    cluster.start_datanode(victim)
                wait_out_of_safe_mode(cluster, conf)
                for w in crew:
                    w.idle.wait(60)
                counts["uncertain"] += sum(len(w.uncertain) for w in crew)
                reader = HfedFileSystem(conf=conf, host="checker", skip_instance_cache=True)
                problems = [p for w in crew for p in w.check(reader)]
                counts["lost"] += sum(1 for p in problems if not p.startswith("UNEXPECTED"))
                counts["cycles"] = cycle
                acked = sum(w.acked for w in crew)
                print(f"cycle {cycle}/{cycles}: {acked} acknowledged so far, {len(problems)} problems",
                      file=sys.stderr, flush=True)
                for p in problems:
                    print(f"  {p}", file=sys.stderr)
        finally:
            for w in crew:
                w.stop = True
            running.set()
        counts["acked"] = sum(w.acked for w in crew)
        cluster.wait_for_block_reports(30)
        for _ in range(60):   # re-replication after the DataNode kills
            stats = cluster.stats("ns-a")
            if stats.under_replicated == 0 and stats.missing == 0:
                break
            time.sleep(1)
        fsck = subprocess.run([sys.executable, "-m", "client.cli", "--conf", conf, "fsck", "/"],
                              capture_output=True, text=True).stdout
        counts["fsck_healthy"] = "is HEALTHY" in fsck
    return counts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hfed-crash-") as tmp:
        counts = run(args.cycles, args.workers, args.seed, Path(tmp) / "cluster")
    print(f"cycles: {counts['cycles']}  NameNode kills: {counts['namenode_kills']}  "
          f"DataNode kills: {counts['datanode_kills']}")
    print(f"acknowledged operations: {counts['acked']}  replies lost in crashes: {counts['uncertain']}  "
          f"lost or half-applied: {counts['lost']}  fsck: {'HEALTHY' if counts['fsck_healthy'] else 'NOT HEALTHY'}")
    return 0 if counts["lost"] == 0 and counts["fsck_healthy"] else 1


if __name__ == "__main__":
    sys.exit(main())
