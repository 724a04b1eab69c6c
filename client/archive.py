"""`hfed archive`: pack an existing tree of small files in place.

Every closed regular file under the given paths that still has blocks and is
small in its namespace (0 < length < small_file_threshold) is read and written
as an entry into this client's staging container (client/small_writer.py);
its commit swaps the file's blocks for that entry only if the file is still
exactly the one read (same id, length and mtime), so a file rewritten
meanwhile is skipped, never clobbered. Then the staging containers are closed
and each namespace touched runs its packer (PackNow), which has DataNodes
rewrite them compressed. The files keep their paths, owners, modes and times.
"""
from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Iterable

from fsspec.callbacks import DEFAULT_CALLBACK, Callback

from protos import errors
from protos import hfed_pb2 as pb

if TYPE_CHECKING:
    from client.fs import HfedFileSystem

READERS = 4   # files read and staged at once: each is a few round trips, mostly waiting


@dataclasses.dataclass
class ArchiveResult:
    staged: int = 0                   # files whose bytes were handed to their NameNode
    staged_bytes: int = 0
    skipped: dict[str, int] = dataclasses.field(default_factory=dict)   # reason -> files
    errors: list[tuple[str, Exception]] = dataclasses.field(default_factory=list)   # (path, why)
    packed: int = 0                   # files the packers moved into containers (PackNow)
    containers_written: int = 0
    containers_compacted: int = 0
    namespaces: list[str] = dataclasses.field(default_factory=list)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


def _files_under(fs: "HfedFileSystem", path: str, result: ArchiveResult) -> Iterable[dict]:
    try:
        info = fs.info(path)
    except (OSError, ValueError) as e:
        result.errors.append((path, e))
        return
    if info["type"] != "directory":
        yield info
        return
    try:
        found = fs.find(path, detail=True)
    except (OSError, ValueError) as e:
        result.errors.append((path, e))
        return
    for name in sorted(found):
        yield found[name]


def _why_not(fs: "HfedFileSystem", info: dict) -> str | None:
    """Why this file is not packed in place (None: it is a candidate)."""
    threshold = fs.small_file_threshold(info["nameservice"])
    if info.get("under_construction"):
        return "open for writing"
    if info.get("layout") in ("staged", "packed"):
        return f"already {info['layout']}"
    if threshold <= 0:
        return f"packing is off in namespace {info['nameservice']}"
    if info["size"] == 0:
        return "empty"
    if info["size"] >= threshold:
        return "not small"
    return None


def _stage_one(fs: "HfedFileSystem", info: dict) -> int:
    """Read one file and write it as an entry of a staging container in place of its
    blocks; returns its length."""
    data = fs.cat_file(info["name"])
    if len(data) != info["size"]:
        raise errors.InvalidArgument(f"{info['name']} changed while it was read; not archived", info["name"])
    _, ns, inner = fs._nn_for(info["name"])
    request = pb.CommitSmallRequest(path=inner, expect_file_id=info["file_id"],
                                    expect_mtime_ms=round(info["mtime"] * 1000))
    error = fs.small_writer(ns).write([request], [data])[0]
    if error is not None:
        raise error
    return len(data)


def archive(fs: "HfedFileSystem", paths: list[str], callback: Callback | None = None) -> ArchiveResult:
    """Pack the small files under ``paths`` in place. ``callback`` sees the bytes staged
    (set_size: the bytes of every candidate). Errors are collected per path, not raised."""
    callback = callback or DEFAULT_CALLBACK
    result = ArchiveResult()
    candidates = []
    touched: set[str] = set()   # namespaces whose packer runs at the end
    for path in paths:
        for info in _files_under(fs, path, result):
            try:
                reason = _why_not(fs, info)
            except (OSError, ValueError) as e:    # its namespace is down
                result.errors.append((info["name"], e))
                continue
            if reason in ("already staged", "already packed"):
                touched.add(info["nameservice"])   # maybe in a staging container: its packer runs below
            if reason:
                result.skip(reason)
            else:
                candidates.append(info)
    callback.set_size(sum(info["size"] for info in candidates))
    with ThreadPoolExecutor(READERS, thread_name_prefix="archive") as pool:
        futures = [(info, pool.submit(_stage_one, fs, info)) for info in candidates]
        for info, future in futures:
            try:
                result.staged_bytes += future.result()
            except (OSError, ValueError) as e:    # e.g. PermissionError: the caller may not write it
                result.errors.append((info["name"], e))
                continue
            result.staged += 1
            touched.add(info["nameservice"])
            callback.relative_update(info["size"])
    fs.flush_small_files()        # closed staging containers are what the packers pack
    for ns in sorted(touched):
        try:
            reply = fs.namenode(ns).pack_now()
        except (OSError, ValueError) as e:
            result.errors.append((f"namespace {ns}", e))
            continue
        result.namespaces.append(ns)
        result.packed += reply.files_packed
        result.containers_written += reply.containers_written
        result.containers_compacted += reply.containers_compacted
    return result
