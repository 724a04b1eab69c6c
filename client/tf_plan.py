"""Where a training job's input files are, and which worker reads which: the adapter's
plan (client/tf_adapter.py), made without TensorFlow so a launcher can make it once."""
from __future__ import annotations

import dataclasses
import re
from typing import Iterable, Mapping

from client.fs import HfedFileSystem
from client.session import ClusterSession
from client.streams import block_spans
from client.tf_assign import FileLayout, InputPlan, assign_files
from client import tf_records
from protos import errors
from protos import hfed_pb2 as pb

GLOB_CHARS = re.compile(r"[*?\[]")
KINDS = ("tfrecord", "lines", "bytes")
COUNT_CHUNK = 1 << 20


def expand_paths(fs: HfedFileSystem, paths_or_globs: str | Iterable[str]) -> list[str]:
    """Files named by paths, directories (their files, recursively) and globs; sorted, no duplicates."""
    items = [paths_or_globs] if isinstance(paths_or_globs, str) else list(paths_or_globs)
    if not items:
        raise ValueError("no input paths given")
    found: set[str] = set()
    for item in items:
        ns = _namespace_of(fs, item)
        if GLOB_CHARS.search(item):
            matches = [p for p, info in fs.glob(item, detail=True).items() if info["type"] == "file"]
            if not matches:
                raise FileNotFoundError(f"{item}: no hfed file matches this pattern [namespace {ns}]")
            found.update(matches)
            continue
        info = fs.info(item)   # FileNotFoundError naming the path and namespace
        if info["type"] == "file":
            found.add(info["name"])
            continue
        files = fs.find(item)
        if not files:
            raise FileNotFoundError(f"{item}: directory holds no files [namespace {ns}]")
        found.update(files)
    return sorted(found)


def _namespace_of(fs: HfedFileSystem, path: str) -> str:
    try:
        return fs.session.resolve(GLOB_CHARS.split(path, 1)[0].rsplit("/", 1)[0] or "/").nameservice
    except (errors.HfedError, ValueError):
        return "none"


def file_layout(session: ClusterSession, path: str) -> FileLayout:
    target = session.resolve(path)
    ns = target.nameservice
    located = session.block_locations(target)
    if located.layout != pb.BLOCKS:   # a small file: no block of its own (packed: a range of a container)
        hosts = tuple(sorted(dn.host_label for lb in located.blocks[:1] for dn in lb.locations))
        return FileLayout(path, ns, located.file_length, ((located.file_length, hosts),) if hosts else ())
    spans = block_spans(list(located.blocks), located.file_length)
    blocks = tuple((end - start, tuple(sorted(dn.host_label for dn in lb.locations)))
                   for lb, (start, end) in zip(located.blocks, spans))
    return FileLayout(path, ns, located.file_length, blocks)


def plan_input(paths_or_globs, worker_hosts: list[str], fs: HfedFileSystem | None = None,
               imbalance: float = 0.1, *, count_records: bool = False, kind: str = "tfrecord",
               record_counts: Mapping[str, int] | None = None) -> InputPlan:
    """Ask the NameNodes where every block is and assign the files to workers.

    With ``count_records`` every file's record count goes into the plan (exact epochs
    need them): taken from ``record_counts`` (hfed path -> records, e.g. from the
    ShardInfo list write_tfrecord_shards returns) where given, else counted by reading
    the file once (its length fields; lines for kind="lines"; 1 for kind="bytes").
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    fs = fs or HfedFileSystem()
    layouts = [file_layout(fs.session, p) for p in expand_paths(fs, paths_or_globs)]
    if count_records or record_counts:
        known = dict(record_counts or {})
        layouts = [dataclasses.replace(f, records=known[f.path] if f.path in known
                                       else count_file_records(fs, f, kind)) for f in layouts]
    return assign_files(layouts, list(worker_hosts), imbalance)


def count_file_records(fs: HfedFileSystem, layout: FileLayout, kind: str) -> int:
    """Records in one hfed file as the adapter's reader will yield them (reads the file once)."""
    if kind == "bytes":
        return 1
    with fs.open(layout.path, "rb") as f:
        chunks = iter(lambda: f.read(COUNT_CHUNK), b"")
        if kind == "tfrecord":
            return tf_records.count_records_in_stream(chunks, layout.size)
        return tf_records.count_lines_in_stream(chunks)
