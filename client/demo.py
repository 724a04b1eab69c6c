"""A guided tour of hfed (`make demo`, i.e. `python -m client.demo`).

Starts a local federated cluster (2 NameNodes, 3 DataNodes, 1 MiB blocks) in a
temporary directory, writes and reads files in both namespaces through the hfed
command, shows fsck and the dfsadmin report, shows that a rename across
namespaces is refused and that one namespace going down leaves the other
working, then stops everything.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

from client import cli
from client.minicluster import MiniCluster

BLOCK = 1 << 20


def heading(text: str) -> None:
    print(f"\n=== {text} {'=' * max(3, 72 - len(text))}", flush=True)


def hfed(conf: Path, *args: str) -> int:
    """Run one hfed command in this process, echoing it like a shell session."""
    print(f"$ hfed {' '.join(shlex.quote(a) for a in args)}", flush=True)
    sys.stdout.flush()
    code = cli.run(["--conf", str(conf), *args])
    sys.stdout.flush()
    sys.stderr.flush()
    if code:
        print(f"(exit code {code})", flush=True)
    return code


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def tour(directory: Path) -> None:
    heading("Starting a local cluster")
    print(f"2 namespaces, 3 DataNodes, {BLOCK >> 20} MiB blocks, replication 3, in {directory}")
    started = time.monotonic()
    cluster = MiniCluster(directory / "cluster", namespaces=2, datanodes=3, block_size=BLOCK,
                          heartbeat_interval=0.5, dead_interval=4.0)
    with cluster:
        conf = cluster.config_path
        print(f"up in {time.monotonic() - started:.1f}s; config {conf}")
        for row in cluster.status():
            print(f"  {row['role']:<9} {row['name']:<7} {row['address']:<21} pid {row['pid']}")
        print("Mount table (client side): " + ", ".join(f"{p} -> {ns}" for p, ns in cluster.config.mounts))

        heading("Writing files into both namespaces")
        local = directory / "sample.bin"
        local.write_bytes(os.urandom(3 * BLOCK + BLOCK // 2))  # 3.5 MiB: four blocks
        notes = directory / "notes.txt"
        notes.write_text("hfed: one NameNode per subtree, every DataNode serves them all.\n")
        hfed(conf, "dfs", "-mkdir", "-p", "/user/demo", "/data/demo")
        hfed(conf, "dfs", "-put", "-f", str(local), "/data/demo/sample.bin")
        hfed(conf, "dfs", "-put", "-f", str(notes), "/user/demo/notes.txt")
        hfed(conf, "dfs", "-cp", "-f", "/data/demo/sample.bin", "/user/demo/sample-copy.bin")

        heading("Listing")
        hfed(conf, "dfs", "-ls", "/")
        hfed(conf, "dfs", "-ls", "-R", "-h", "/user/demo", "/data/demo")
        hfed(conf, "dfs", "-du", "-s", "-h", "/user", "/data")

        heading("Reading back")
        hfed(conf, "dfs", "-cat", "/user/demo/notes.txt")
        back = directory / "sample.back"
        hfed(conf, "dfs", "-get", "/user/demo/sample-copy.bin", str(back))
        same = "identical" if digest(back) == digest(local) else "DIFFERENT"
        print(f"sha256 of the original {digest(local)}, of the copy read back {digest(back)}: {same}")

        heading("fsck: where the blocks are")
        hfed(conf, "fsck", "/data/demo", "-files", "-blocks", "-locations")

        heading("dfsadmin -report")
        hfed(conf, "dfsadmin", "-report")

        heading("Small files: no block each, packed into containers")
        small = directory / "small"
        small.mkdir()
        for i in range(200):
            (small / f"note-{i:03d}.txt").write_bytes(os.urandom(100 + 37 * i))
        print("200 files of 100 B-7 KiB, below small_file_threshold (1 MiB): each goes straight to the "
              "DataNodes as an entry of a staging container (its NameNode records only where), then the "
              "packer has a DataNode rewrite them compressed into one container")
        hfed(conf, "dfs", "-put", str(small), "/user/demo/small")
        hfed(conf, "archive", "/user/demo/small")      # pack now instead of waiting for pack_age
        hfed(conf, "fsck", "/user/demo/small")

        heading("A rename across namespaces is refused")
        print("/user belongs to ns-a and /data to ns-b: a rename cannot move metadata between NameNodes.")
        hfed(conf, "dfs", "-mv", "/user/demo/notes.txt", "/data/demo/notes.txt")
        print("Within one namespace it is a metadata-only rename:")
        hfed(conf, "dfs", "-mv", "/user/demo/notes.txt", "/user/demo/readme.txt")
        hfed(conf, "dfs", "-ls", "/user/demo")

        heading("One namespace down, the other keeps working")
        cluster.kill_namenode("ns-b")
        print("killed the NameNode of ns-b (/data)")
        hfed(conf, "dfs", "-cat", "/user/demo/readme.txt")
        hfed(conf, "dfs", "-ls", "/data/demo")
        cluster.start_namenode("ns-b")
        cluster.wait_for_block_reports()
        print("restarted ns-b: it replays its edit log and rebuilds block locations from block reports")
        hfed(conf, "dfs", "-ls", "/data/demo")

        heading("Stopping the cluster")
    print("all daemons stopped")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m client.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--dir", help="keep the cluster and files here instead of a temporary directory")
    a = parser.parse_args(argv)
    if a.dir:
        Path(a.dir).mkdir(parents=True, exist_ok=True)
        tour(Path(a.dir).resolve())
    else:
        with tempfile.TemporaryDirectory(prefix="hfed-demo-") as tmp:
            tour(Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
