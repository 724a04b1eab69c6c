"""Resident memory of a NameNode holding millions of one-block files, loaded from an image.

    python -m bench.big_namespace --files 10M [--json out.json]

Filling 10 million files through the live operations takes most of an hour
here, so this benchmark writes a namespace image of N one-block files
(replication 3, 16-byte names, 1,000 files per directory) directly with
numpy, then, in a fresh process, measures the NameNode's resident memory
before and after loading it with the NameNode's own startup path
(Journal.load), as after a restart. Replica locations are not in images (they
come from block reports), but their three columns are allocated at load.
bench/memory_wall.py measures the same figure for namespaces filled op by op.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

FILES_PER_DIR = 1000


def parse_count(text: str) -> int:
    """'1M', '250k', '10000' -> a count (benchmarks' --files flags)."""
    text = text.strip().upper()
    scale = {"K": 1_000, "M": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("KM")) * scale)


def write_image(meta_dir: Path, files: int) -> None:
    """An image of /bench/dNNNNNNN/file-NNNNNNNNNNN (16-byte names), one 1 MiB block each."""
    from namenode import image
    from namenode.inode_table import DIR_BIT, USED_BIT
    from namenode.small_files import SmallFiles

    dirs = -(-files // FILES_PER_DIR)
    size = 3 + dirs + files                     # slot 0 unused, 1 root, 2 /bench
    first_dir, first_file = 3, 3 + dirs
    parent = np.zeros(size, np.int32)
    parent[2] = 1
    parent[first_dir:first_file] = 2
    parent[first_file:] = first_dir + np.arange(files) // FILES_PER_DIR
    names = [b"", b"", b"bench"] + [f"d{d:07d}".encode() for d in range(dirs)] + \
            [f"file-{i:011d}".encode() for i in range(files)]
    lengths = np.array([len(n) for n in names], np.int64)
    mode = np.full(size, USED_BIT | 0o644, np.uint16)
    mode[0] = 0
    mode[1:first_file] = USED_BIT | DIR_BIT | 0o755
    now = int(time.time() * 1000)
    block_ids = (1 << 30) + np.arange(files, dtype=np.int64)
    first_block = np.zeros(size, np.int64)
    first_block[first_file:] = block_ids
    replication = np.zeros(size, np.uint16)
    replication[first_file:] = 3
    units = np.zeros(size, np.uint32)
    units[first_file:] = (128 << 20) // 512
    inodes = {"parent": parent, "name_off": np.cumsum(lengths) - lengths, "name_len": lengths.astype(np.uint8),
              "mode": mode, "owner": np.zeros(size, np.uint16), "group": np.ones(size, np.uint16),
              "mtime": np.full(size, now, np.int64), "atime": np.full(size, now, np.int64),
              "replication": replication, "block_units": units, "first_block": first_block,
              "arena": b"".join(names), "more_blocks": {}, "leases": {}, "free": np.zeros(0, np.int32),
              "small": SmallFiles().export(first_block, mode)}
    blocks = {"ids": block_ids, "inode": np.arange(first_file, size, dtype=np.int32),
              "gs": np.full(files, 1000, np.int64), "num_bytes": np.full(files, 1 << 20, np.int64),
              "committed": np.ones(files, np.uint8)}
    header = {"cluster_id": "CID-bench", "nameservice": "ns-bench", "txid": 0, "next_inode_id": size,
              "next_block_id": int(block_ids[-1]) + 1, "next_generation_stamp": 1001,
              "names": ["bench", "supergroup"]}
    meta_dir.mkdir(parents=True, exist_ok=True)
    image.write(meta_dir, {"header": header, "inodes": inodes, "blocks": blocks})


def measure_load(meta_dir: Path) -> dict:
    """In this (fresh) process: RSS before and after loading the image."""
    import gc

    import psutil

    from namenode.budget import release_free_memory
    from namenode.journal import Journal
    from namenode.namesystem import Namesystem

    fsn = Namesystem("ns-bench", "CID-bench", "BP-bench", "bench")
    gc.collect()
    process = psutil.Process()
    before = process.memory_info().rss
    started = time.monotonic()
    journal = Journal(meta_dir, durable=False)
    journal.load(fsn)
    release_free_memory()            # as the NameNode does after loading (namenode/server.py)
    seconds = time.monotonic() - started
    gc.collect()
    after = process.memory_info().rss
    journal.close()
    layout = fsn.ns.table.nbytes() + fsn.blocks.nbytes()
    files = fsn.ns.table.files
    return {"files": files, "directories": fsn.ns.table.directories, "blocks": len(fsn.blocks),
            "rss_growth": after - before, "bytes_per_file": (after - before) / files,
            "layout_bytes_per_file": layout / files, "load_seconds": seconds}


def run(files: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="hfed-bignamespace-") as tmp:
        meta = Path(tmp) / "meta"
        started = time.monotonic()
        write_image(meta, files)
        print(f"  wrote an image of {files:,} one-block files in {time.monotonic() - started:.0f} s", flush=True)
        out = subprocess.run([sys.executable, "-m", "bench.big_namespace", "--measure", str(meta)],
                             capture_output=True, text=True, check=True)
        return json.loads(out.stdout)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", default="1M", help="e.g. 1M, 10M (default 1M)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)   # the fresh-process half
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure_load(args.measure)))
        return
    result = run(parse_count(args.files))
    print(f"{result['files']:,} files loaded in {result['load_seconds']:.1f} s: RSS growth "
          f"{result['rss_growth'] / 2**20:,.0f} MiB = {result['bytes_per_file']:.0f} B/file "
          f"(goal <= 150 B; arrays alone {result['layout_bytes_per_file']:.0f} B/file)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
