"""`hfed archive`: pack an existing tree of small files in place.

Every closed regular file under the given paths that still has blocks and is
small in its namespace (0 < length < small_file_threshold) is read and written
as an entry into this client's staging container (client/small_writer.py);
its commit swaps the file's blocks for that entry only if the file is still
exactly the one read (same id, length and mtime), so a file rewritten
meanwhile is skipped, never clobbered. Then the staging containers are closed
and each namespace touched runs its packer (PackNow), which has DataNodes
rewrite them compressed. The files keep their paths, owners, modes and times.
Finding the files (a walk of the tree) is the filesystem's part (HfedFileSystem.archive).
"""
from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor

from fsspec.callbacks import DEFAULT_CALLBACK, Callback

from client.session import ClusterSession
from client.streams import HfedReader
from protos import errors
from protos import hfed_pb2 as pb

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


def _why_not(session: ClusterSession, info: dict) -> str | None:
    """Why this file is not packed in place (None: it is a candidate)."""
    threshold = session.small_file_threshold(info["nameservice"])
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


def _stage_one(session: ClusterSession, info: dict) -> int:
    """Read one file and write it as an entry of a staging container in place of its
    blocks; returns its length."""
    target = session.resolve(info["name"])
    with HfedReader(session, target) as reader:
        data = reader.read()
    if len(data) != info["size"]:
        raise errors.InvalidArgument(f"{info['name']} changed while it was read; not archived", info["name"])
    request = pb.CommitSmallRequest(path=target.path, expect_file_id=info["file_id"],
                                    expect_mtime_ms=round(info["mtime"] * 1000))
    error = session.small_writer(target.nameservice).write([request], [data])[0]
    if error is not None:
        raise error
    return len(data)


def archive(session: ClusterSession, files: list[dict], result: ArchiveResult,
            callback: Callback | None = None) -> ArchiveResult:
    """Pack the small ones of ``files`` (info dicts of regular files) in place; ``result``
    may hold errors of finding them already. ``callback`` sees the bytes staged (set_size:
    the bytes of every candidate). Errors are collected per path, not raised."""
    callback = callback or DEFAULT_CALLBACK
    candidates = []
    touched: set[str] = set()   # namespaces whose packer runs at the end
    for info in files:
        try:
            reason = _why_not(session, info)
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
        futures = [(info, pool.submit(_stage_one, session, info)) for info in candidates]
        for info, future in futures:
            try:
                result.staged_bytes += future.result()
            except (OSError, ValueError) as e:    # e.g. PermissionError: the caller may not write it
                result.errors.append((info["name"], e))
                continue
            result.staged += 1
            touched.add(info["nameservice"])
            callback.relative_update(info["size"])
    session.flush_small_files()        # closed staging containers are what the packers pack
    for ns in sorted(touched):
        try:
            reply = session.namenode(ns).pack_now()
        except (OSError, ValueError) as e:
            result.errors.append((f"namespace {ns}", e))
            continue
        result.namespaces.append(ns)
        result.packed += reply.files_packed
        result.containers_written += reply.containers_written
        result.containers_compacted += reply.containers_compacted
    return result
