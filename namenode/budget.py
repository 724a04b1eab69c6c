"""A namespace's memory budget: refuse new files, directories and blocks once the
namespace would need more than ``max_memory`` bytes of resident memory, or holds
``max_objects`` objects (files + directories + blocks). Reads, renames and
deletes never ask.

Why a model and not RSS samples. RSS says what the process holds now, not what
the namespace needs: a table growing holds its old and new arrays for a moment,
freed memory stays resident until trimmed, and a NameNode restarted from an
image holds the same files more tightly than one that grew them. A budget that
compares raw RSS to ``max_memory`` therefore refuses at a peak, accepts again
once the peak passes, and moves its wall with every restart. Instead the budget
predicts what the namespace needs after the create::

    predicted = baseline + overhead + empty tables + objects x bytes_per_object

- ``baseline``: RSS of the NameNode before it loaded the namespace.
- ``bytes_per_object``: the tables' own byte counts (``nbytes()``: what their
  columns and indexes hold, growth room included) above what empty tables hold,
  per object, taken at its highest since the namespace started growing. Growth
  room is a fraction of a table, so the highest ratio carries the room the next
  growth takes, for tables that grow in proportion or in pages alike, and it
  follows from what the tables hold, not from how the allocator got there.
- ``overhead``: what RSS shows beyond baseline and tables (interpreter objects,
  request buffers), measured after glibc's malloc_trim gave freed memory back
  (memory in use, not memory merely held); the highest of the last few such
  measurements, as it wavers by about a megabyte. Serving creates makes it grow
  at first: until that growth was seen, the budget reserves it (WARMUP_BYTES).

The first create the model refuses latches the wall at the current object
count: creates stay refused until deletes take the count below it, and then
are accepted up to it again (freed slots are reused, so memory does not grow).
The wall is not forgotten while the NameNode runs. A restart recomputes it from
the loaded namespace with the same model, so it lands close to where it was
(what remains is the overhead: a NameNode that grew its namespace holds a
little more of it than one that loaded the same namespace).

Measured RSS remains a backstop: if trimmed RSS passes ``max_memory`` by half of
what the budget promises (``overshoot``) although the model predicted room, the
create is refused, the wall latched there, and the refusal says RSS decided.
(RSS may pass the budget by the overhead's wavering: within the promise.)

Reading RSS costs ~10-20 us (more than a create) and summing the tables' sizes
more, so both are sampled every RSS_SAMPLE_INTERVAL seconds or RSS_SAMPLE_CHECKS
checks; between samples the prediction uses the exact object count.
"""
from __future__ import annotations

import collections
import ctypes
import ctypes.util
import time

import psutil

from namenode.namesystem import Namesystem
from protos.errors import InvalidArgument, NoSpace

RSS_SAMPLE_INTERVAL = 0.05     # seconds between samples of RSS and table sizes in check() ...
RSS_SAMPLE_CHECKS = 1000       # ... or this many checks (a batch of creates runs in one event-loop turn)
HDFS_BYTES_PER_OBJECT = 150    # the usual HDFS NameNode heap sizing rule: ~150 B per file, directory or block
TRIM_INTERVAL = 1.0            # seconds between two returns of free memory to the OS (each calibrates overhead)
# Close to the budget every sample trims and recalibrates the overhead: a NameNode that
# just started (idle, its overhead low) must see the overhead of serving creates before
# it accepts many of them.
NEAR_FRACTION = 0.95
# The overhead is the highest of the last OVERHEAD_WINDOW trimmed measurements: it wavers
# by ~1 MiB with the allocator's state (pools, buffers of requests in flight); the highest
# of a short window follows a rise at once (a NameNode that just started, idle, must not
# accept thousands of creates before it sees what serving them costs) and does not keep
# the highest moment of a long fill (a restarted NameNode never saw it).
OVERHEAD_WINDOW = 10
# Serving creates makes the overhead of an idle NameNode grow (request buffers, pools,
# in steps of up to a megabyte): measured +0.8 MiB within ~5,000 creates of one client
# after a restart, ~1.6 MiB within ~12,000 of 8 locust users. Until the budget has seen
# that rise (or WARMUP_CHECKS creates), it reserves what is still to come: a NameNode
# restarted at its wall would otherwise accept creates while its overhead catches up and
# latch the wall 2-3% further than before the restart.
WARMUP_BYTES = 3 << 19
WARMUP_CHECKS = 20_000
# The tables' bytes per object is taken at its highest only once the tables hold this
# fraction of the room (max_memory - baseline): below it, fixed costs (empty tables, the
# first directories) dominate and would make a handful of objects look expensive.
CALIBRATION_MIN_FRACTION = 1 / 16

MODEL, MEASURED_RSS, OBJECT_COUNT = "model", "measured RSS", "object count"

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


# mallopt parameters (glibc malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
PROMPT_RETURN_BYTES = 256 << 10


def return_memory_promptly() -> None:
    """Make glibc give freed memory back at once: blocks of PROMPT_RETURN_BYTES and more
    are mapped on their own (unmapped when freed), and a free top of the heap past that
    is trimmed. By default glibc raises both thresholds as a program frees big blocks,
    up to tens of MiB held resident for reuse: RSS read between two trims was then up to
    4 MiB above what the NameNode used, and a budgeted NameNode's RSS should mean use."""
    mallopt = getattr(_LIBC, "mallopt", None)
    if mallopt is not None:
        mallopt(_M_MMAP_THRESHOLD, PROMPT_RETURN_BYTES)
        mallopt(_M_TRIM_THRESHOLD, PROMPT_RETURN_BYTES)


def process_rss() -> int:
    return _PROCESS.memory_info().rss


def mib(n: float) -> str:
    return f"{n / (1 << 20):,.1f} MiB"


def overshoot(max_memory: int) -> int:
    """How far RSS may pass ``max_memory`` (a create is decided before its memory is
    measured): what the budget promises, max(4 MiB, 2%)."""
    return max(4 << 20, max_memory // 50)


def object_counts(fsn) -> tuple[int, int, int]:
    """(files, directories, blocks) of the namespace, exactly."""
    return fsn.ns.table.files, fsn.ns.table.directories, len(fsn.blocks)


def table_bytes(fsn) -> int:
    """Bytes the namespace's tables hold (inodes, blocks, packed small files, and the
    bytes of staged small files an older hfed kept in memory), as the tables count them."""
    table = fsn.ns.table
    return table.nbytes() + fsn.blocks.nbytes() + table.small.nbytes() + table.small.staged_bytes


_empty_tables: int | None = None


def empty_table_bytes() -> int:
    """What the tables of an empty namespace hold (their first pages, empty indexes): a
    fixed cost, not a per-object one (counted per object it would make the first
    thousands of objects look several times dearer). Measured once per process."""
    global _empty_tables
    if _empty_tables is None:
        _empty_tables = table_bytes(Namesystem("empty", "", "", ""))
    return _empty_tables


class MemoryBudget:
    """``max_memory`` bytes and ``max_objects`` files+directories+blocks; 0 is unlimited.
    ``baseline_rss`` is the RSS before the namespace was loaded; ``rss``, ``clock`` and
    ``tables`` (table_bytes of a Namesystem) are seams for tests."""

    def __init__(self, max_memory: int = 0, max_objects: int = 0, *, baseline_rss: int = 0,
                 rss=process_rss, clock=time.monotonic, tables=table_bytes, trim=release_free_memory,
                 sample_interval: float = RSS_SAMPLE_INTERVAL, sample_checks: int = RSS_SAMPLE_CHECKS):
        self.max_memory, self.max_objects = max_memory, max_objects
        self.baseline_rss = baseline_rss
        if max_memory and rss is process_rss:       # a NameNode held to a memory budget (not a test's fake)
            return_memory_promptly()
        self._rss, self._clock, self._tables, self._trim = rss, clock, tables, trim
        self._interval, self._every = sample_interval, sample_checks
        self._sampled_at = float("-inf")
        self._unsampled = 0            # checks since the last sample
        self._trimmed_at = float("-inf")
        self.last_rss = 0
        self.last_tables = 0           # table bytes at the last sample
        self.last_objects = 0          # objects at the last sample
        self.overhead = 0              # RSS - baseline - tables: the highest of the recent trimmed samples
        self._overheads = collections.deque(maxlen=OVERHEAD_WINDOW)
        self._checks = 0               # creates asked about (for the warm-up reserve)
        self._first_served: int | None = None   # overhead at the first trimmed sample of a create
        self._highest = 0              # highest overhead measured since
        self.calibrated_at = 0         # objects when overhead was last measured (0: never)
        self.fixed = empty_table_bytes() if max_memory else 0   # table bytes with no objects at all
        self.peak_ratio = 0.0          # highest table bytes (above the fixed part) per object while growing
        self._grown_to = 0             # most objects seen at a sample
        self.wall_objects: int | None = None   # latched: creates refused while objects >= this
        self.wall_method = ""          # what latched the wall: MODEL or MEASURED_RSS
        self.wall_reason = ""

    @property
    def limited(self) -> bool:
        return bool(self.max_memory or self.max_objects)

    # ------------------------------------------------------------ calibration
    def _sample_due(self) -> bool:
        self._unsampled += 1
        return self._unsampled >= self._every or self._clock() - self._sampled_at >= self._interval

    def sample(self, fsn, objects: int, trim: bool | None = None) -> None:
        """Read RSS and the tables' sizes; recalibrate. A trimmed sample (at most one per
        TRIM_INTERVAL unless asked) also measures the overhead beyond the tables."""
        now = self._clock()
        if trim is None:
            trim = now - self._trimmed_at >= TRIM_INTERVAL or self.near(objects)
        if trim:
            self._trim()
            self._trimmed_at = now
        self.last_rss, self._sampled_at, self._unsampled = self._rss(), now, 0
        self.last_tables, self.last_objects = self._tables(fsn), objects
        if trim:
            self._overheads.append(max(self.last_rss - self.baseline_rss - self.last_tables, 0))
            self.overhead = max(self._overheads)
            if self._checks:           # a create is being served: what the warm-up is measured from
                if self._first_served is None:
                    self._first_served = self.overhead
                self._highest = max(self._highest, self.overhead)
            self.calibrated_at = objects
        room = self.max_memory - self.baseline_rss
        if objects >= self._grown_to and objects and self.last_tables >= room * CALIBRATION_MIN_FRACTION:
            self._grown_to = objects
            self.peak_ratio = max(self.peak_ratio, self._ratio())

    @property
    def bytes_per_object(self) -> float:
        """The model's table bytes per object: the highest seen while growing, or, before the
        tables were big enough to tell, what they hold now per object."""
        return max(self.peak_ratio, self._ratio())

    def _ratio(self) -> float:
        return max(self.last_tables - self.fixed, 0) / self.last_objects if self.last_objects else 0.0

    def near(self, objects: int) -> bool:
        """Whether the prediction is close to the budget (and calibration should be fresh)."""
        return bool(self.max_memory) and self.calibrated_at > 0 and \
            self.predicted(objects) >= NEAR_FRACTION * self.max_memory

    def warmup(self) -> int:
        """Overhead growth serving creates is still expected to bring (WARMUP_BYTES)."""
        if self._checks >= WARMUP_CHECKS:
            return 0
        risen = self._highest - self._first_served if self._first_served is not None else 0
        # A small budget cannot set a megabyte and a half aside: at most an eighth of its room.
        reserve = min(WARMUP_BYTES, max(self.max_memory - self.baseline_rss, 0) // 8)
        return max(reserve - risen, 0)

    def predicted(self, objects: int) -> float:
        """Memory the namespace is predicted to need with ``objects`` objects."""
        return self.baseline_rss + self.overhead + self.warmup() + self.fixed + objects * self.bytes_per_object

    def method(self) -> str:
        """How the budget decides, in words (for the report)."""
        if self.max_objects and not self.max_memory:
            return f"{OBJECT_COUNT} ({self.max_objects:,} allowed)"
        basis = ("table bytes per object at their highest while growing" if self.peak_ratio
                 else "table bytes per object now (tables too small to calibrate)")
        warmup = self.warmup()
        return (f"{MODEL}: empty NameNode {mib(self.baseline_rss)} + overhead {mib(self.overhead)} "
                f"(trimmed RSS at {self.calibrated_at:,} objects) "
                + (f"+ {mib(warmup)} it may still grow serving creates " if warmup else "")
                + f"+ empty tables {mib(self.fixed)} "
                f"+ objects x {self.bytes_per_object:,.1f} B ({basis})")

    # -------------------------------------------------------------- decisions
    def refusal(self, fsn, objects: int) -> str | None:
        """Why an operation adding an object is refused now, or None when there is room."""
        if self.max_objects and objects >= self.max_objects:
            if not self.max_memory:
                self.last_rss = self._rss()      # not sampled for a count-only budget: read for the message
            return (f"namespace object budget reached: {objects:,} objects (files, directories, blocks) of "
                    f"{self.max_objects:,} allowed, RSS {mib(self.last_rss)} (delete files or raise max_objects)")
        if not self.max_memory:
            return None
        if self.wall_objects is not None:
            if objects >= self.wall_objects:
                return self.wall_reason
            # Below the latched wall deletes made room: freed slots and names are reused, so
            # the model is not asked again. Only RSS far past the budget (beyond what the
            # budget promises, OVERSHOOT) lowers the wall.
            if self.last_rss < self.max_memory + overshoot(self.max_memory):
                return None
            self.sample(fsn, objects, trim=True)
            if self.last_rss < self.max_memory + overshoot(self.max_memory):
                return None
            return self._latch(objects, MEASURED_RSS, self._measured_reason(objects))
        after = self.predicted(objects + 1)
        if after > self.max_memory:
            return self._latch(objects, MODEL, (
                f"namespace memory budget reached: {objects:,} objects; one more would need "
                f"{mib(after)} of {mib(self.max_memory)} budget, predicted by the {self.method()}; "
                f"RSS {mib(self.last_rss)} (delete files or raise max_memory)"))
        backstop = self.max_memory + overshoot(self.max_memory) // 2
        if self.last_rss >= backstop:
            self.sample(fsn, objects, trim=True)     # memory the allocator merely holds is not the namespace's
            if self.last_rss >= backstop:
                return self._latch(objects, MEASURED_RSS, self._measured_reason(objects))
        return None

    def _measured_reason(self, objects: int) -> str:
        return (f"namespace memory budget reached: {objects:,} objects, {MEASURED_RSS} {mib(self.last_rss)} "
                f"(trimmed) of {mib(self.max_memory)} budget although the model predicted "
                f"{mib(self.predicted(objects))} (delete files or raise max_memory)")

    def _latch(self, objects: int, method: str, reason: str) -> str:
        """The wall: the object count at the first refusal (the lowest, if deletes came first)."""
        if self.wall_objects is None or objects < self.wall_objects:
            self.wall_objects, self.wall_method, self.wall_reason = objects, method, reason
        return reason

    def check(self, fsn, path: str) -> None:
        """NoSpace naming ``path`` and the namespace when no object may be added."""
        if not self.limited:
            return
        objects = sum(object_counts(fsn))
        if self.max_memory:
            self._checks += 1
            if self._sample_due():
                self.sample(fsn, objects)
        reason = self.refusal(fsn, objects)
        if reason:
            raise NoSpace(f"{fsn.ns.where(path)}: {reason}", path)

    def usage(self, fsn) -> dict:
        """What the status RPC reports: objects, memory, budget and the HDFS heap estimate."""
        files, directories, blocks = object_counts(fsn)
        objects = files + directories + blocks
        self.sample(fsn, objects)
        # The model's "no room for one more" latches the wall here as a create would:
        # the report shows the wall the next create meets.
        refusal = (self.refusal(fsn, objects) or "") if self.limited else ""
        if self.max_memory:
            per_object = self.bytes_per_object
        else:        # no model runs: RSS above the empty NameNode per object, as measured
            per_object = max(self.last_rss - self.baseline_rss, 0) / max(objects, 1)
        return {"files": files, "directories": directories, "blocks": blocks, "objects": objects,
                "rss_bytes": self.last_rss, "baseline_rss_bytes": self.baseline_rss,
                "bytes_per_object": round(per_object),
                "max_memory": self.max_memory, "max_objects": self.max_objects,
                "hdfs_heap_estimate": HDFS_BYTES_PER_OBJECT * objects, "budget_refusal": refusal}


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
