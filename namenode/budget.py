"""A namespace's memory budget: refuse new files, directories and blocks once the
NameNode's resident memory (``max_memory``) or its object count (``max_objects``)
reaches the configured limit. Reads, renames and deletes never ask.

The object count (files + directories + blocks) is exact and cheap. RSS is not:
reading it costs ~10-20 us, more than a create itself, so it is sampled every
RSS_SAMPLE_INTERVAL seconds or every RSS_SAMPLE_CHECKS checks, whichever comes
first; a burst of creates can overshoot the budget by what it adds in between
(about a megabyte), plus what one operation allocates at once (the inode and
block tables grow their arrays in steps of several megabytes).

Deleting files rarely makes RSS shrink: Python keeps freed memory in its own
pools and reuses it for the next objects. So once RSS reaches ``max_memory``
the object count at that moment becomes the wall: while RSS stays over the
budget, creates are allowed again whenever deletes took the count below the
wall, up to the wall. What users see is "after deleting N objects I can create
N again" instead of a namespace that stays read-only until a restart. The wall
is forgotten as soon as RSS drops below the budget again.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import time

import psutil

from protos.errors import InvalidArgument, NoSpace

RSS_SAMPLE_INTERVAL = 0.05     # seconds between RSS samples in check() ...
RSS_SAMPLE_CHECKS = 1000       # ... or this many checks (a batch of creates runs in one event-loop turn)
HDFS_BYTES_PER_OBJECT = 150    # the usual HDFS NameNode heap sizing rule: ~150 B per file, directory or block

TRIM_INTERVAL = 1.0            # seconds between two returns of free memory to the OS
_PROCESS = psutil.Process()
_LIBC = ctypes.CDLL(ctypes.util.find_library("c")) if ctypes.util.find_library("c") else None


def release_free_memory() -> None:
    """Give memory the allocator holds but nobody uses back to the OS (glibc's
    malloc_trim). Big temporaries (an image being loaded or written, a batch's
    buffers) are freed but stay resident otherwise: after loading 1M files RSS
    was ~200 MiB above the empty NameNode for ~115 MiB of tables; trimmed, ~117 MiB."""
    trim = getattr(_LIBC, "malloc_trim", None)
    if trim is not None:
        trim(0)


def process_rss() -> int:
    return _PROCESS.memory_info().rss


def mib(n: int) -> str:
    return f"{n / (1 << 20):,.1f} MiB"


def object_counts(fsn) -> tuple[int, int, int]:
    """(files, directories, blocks) of the namespace, exactly."""
    return fsn.ns.table.files, fsn.ns.table.directories, len(fsn.blocks)


class MemoryBudget:
    """``max_memory`` bytes of RSS and ``max_objects`` files+directories+blocks; 0 is unlimited.
    ``baseline_rss`` is the RSS of the empty namespace (bytes per object are counted above it);
    ``rss`` and ``clock`` are seams for tests."""

    def __init__(self, max_memory: int = 0, max_objects: int = 0, *, baseline_rss: int = 0,
                 rss=process_rss, clock=time.monotonic, sample_interval: float = RSS_SAMPLE_INTERVAL,
                 sample_checks: int = RSS_SAMPLE_CHECKS):
        self.max_memory, self.max_objects = max_memory, max_objects
        self.baseline_rss = baseline_rss
        self._rss, self._clock, self._interval, self._every = rss, clock, sample_interval, sample_checks
        self._sampled_at = float("-inf")
        self._unsampled = 0     # checks since the last sample
        self._last_rss = 0
        self._trimmed_at = float("-inf")
        self.wall_objects: int | None = None   # object count when RSS reached max_memory

    @property
    def limited(self) -> bool:
        return bool(self.max_memory or self.max_objects)

    def rss(self, fresh: bool = False) -> int:
        now = self._clock()
        self._unsampled += 1
        if fresh or self._unsampled >= self._every or now - self._sampled_at >= self._interval:
            self._last_rss, self._sampled_at, self._unsampled = self._rss(), now, 0
        return self._last_rss

    def refusal(self, objects: int, rss: int) -> str | None:
        """Why an operation adding objects is refused now, or None when there is room."""
        if self.max_objects and objects >= self.max_objects:
            return (f"namespace object budget reached: {objects:,} objects (files, directories, blocks) of "
                    f"{self.max_objects:,} allowed, RSS {mib(rss)} (delete files or raise max_objects)")
        if not self.max_memory:
            return None
        if rss < self.max_memory:
            self.wall_objects = None
            return None
        if self.wall_objects is None:
            self.wall_objects = objects
        if objects < self.wall_objects:
            return None
        return (f"namespace memory budget reached: {objects:,} objects, RSS {mib(rss)} of "
                f"{mib(self.max_memory)} budget (delete files or raise max_memory)")

    def _trim_due(self) -> bool:
        return self._clock() - self._trimmed_at >= TRIM_INTERVAL

    def trimmed_rss(self) -> int:
        """RSS once memory the allocator holds unused went back to the OS."""
        self._trimmed_at = self._clock()
        release_free_memory()
        return self.rss(fresh=True)

    def check(self, fsn, path: str) -> None:
        """NoSpace naming ``path`` and the namespace when no object may be added."""
        if not self.limited:
            return
        objects = sum(object_counts(fsn))
        rss = self.rss()
        if self.max_memory and rss >= self.max_memory and self._trim_due():
            rss = self.trimmed_rss()     # memory the allocator merely holds is not the namespace's
        reason = self.refusal(objects, rss)
        if reason:
            raise NoSpace(f"{fsn.ns.where(path)}: {reason}", path)

    def usage(self, fsn) -> dict:
        """What the status RPC reports: objects, memory, budget and the HDFS heap estimate."""
        files, directories, blocks = object_counts(fsn)
        objects = files + directories + blocks
        rss = self.trimmed_rss() if self._trim_due() else self.rss(fresh=True)
        return {"files": files, "directories": directories, "blocks": blocks, "objects": objects,
                "rss_bytes": rss, "baseline_rss_bytes": self.baseline_rss,
                "bytes_per_object": max(rss - self.baseline_rss, 0) // max(objects, 1),
                "max_memory": self.max_memory, "max_objects": self.max_objects,
                "hdfs_heap_estimate": HDFS_BYTES_PER_OBJECT * objects,
                "budget_refusal": (self.refusal(objects, rss) or "") if self.limited else ""}


def refuse_impossible(nameservice: str, source: str, max_memory: int, max_objects: int,
                      empty_rss: int, empty_objects: int) -> None:
    """InvalidArgument when a budget leaves no room even in an empty namespace
    (the NameNode refuses to start rather than refuse every create)."""
    if max_memory and max_memory <= empty_rss:
        raise InvalidArgument(
            f"{source}: nameservice {nameservice}: max_memory = {max_memory} ({mib(max_memory)}) is below what an "
            f"empty namespace needs: the NameNode's RSS is already {mib(empty_rss)} before loading any files; "
            f"raise max_memory well above that (0 means unlimited)")
    if max_objects and max_objects <= empty_objects:
        raise InvalidArgument(
            f"{source}: nameservice {nameservice}: max_objects = {max_objects} leaves no room: an empty namespace "
            f"already has {empty_objects} objects (the root and the mount point directories); "
            f"raise max_objects (0 means unlimited)")
