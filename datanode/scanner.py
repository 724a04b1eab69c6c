"""Block scanner: re-verify every finalized replica's checksums in the background.

Disks rot silently; a replica verified when it was written can go bad years
later, and nobody notices until a reader does. As HDFS's block scanner, each
DataNode reads all its finalized replicas once per ``scan_period`` seconds at
most ``scan_bytes_per_second``, in a worker thread so the event loop keeps
serving. A corrupt replica is marked in storage (no more short-circuit grants)
and reported to its pool's NameNode, which re-replicates a good copy and then
sends a DeleteCommand for the bad one.

The time the last full pass finished is kept in ``<data_dir>/scanner.json`` so
a restarted DataNode does not rescan everything at once.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
from dataclasses import dataclass

from datanode.storage import BlockStorage, Replica
from protos import config
from protos.errors import ChecksumError
from protos.files import replace_atomically

log = logging.getLogger("hfed.datanode.scanner")

DEFAULT_SCAN_PERIOD = 3 * 7 * 24 * 3600.0   # three weeks, as HDFS's dfs.datanode.scan.period.hours
DEFAULT_SCAN_BYTES_PER_SECOND = 64 << 20
STATE_FILE = "scanner.json"


class ScanStopped(Exception):
    """The scanner is stopping: abandon the replica being read."""


class Throttle:
    """Paces a reading thread to ``bytes_per_second`` (no burst beyond one piece)."""

    def __init__(self, bytes_per_second: int, stop: threading.Event):
        self.bytes_per_second = bytes_per_second
        self.stop = stop
        self._paid_until = time.monotonic()

    def piece_size(self) -> int:
        """Read about a quarter second's worth at a time, so pauses stay short."""
        return max(64 << 10, min(8 << 20, self.bytes_per_second // 4))

    def consume(self, nbytes: int) -> None:
        now = time.monotonic()
        self._paid_until = max(self._paid_until, now) + nbytes / self.bytes_per_second
        delay = self._paid_until - now
        stopped = self.stop.wait(delay) if delay > 0 else self.stop.is_set()
        if stopped:
            raise ScanStopped()


@dataclass
class PassSummary:
    scanned: int = 0
    scanned_bytes: int = 0
    corrupt: int = 0
    skipped: int = 0  # being written, already known corrupt, deleted or replaced meanwhile


class BlockScanner:
    def __init__(self, storage: BlockStorage, report_bad_block, period: float = DEFAULT_SCAN_PERIOD,
                 bytes_per_second: int = DEFAULT_SCAN_BYTES_PER_SECOND):
        """``report_bad_block(pb.Block)``: coroutine telling the replica's NameNode."""
        self.storage = storage
        self.report_bad_block = report_bad_block
        self.period = period
        self.bytes_per_second = bytes_per_second
        self._stop = threading.Event()
        self.throttle = Throttle(bytes_per_second, self._stop)
        self.state_path = os.path.join(storage.data_dir, STATE_FILE)
        self._task: asyncio.Task | None = None
        # Progress, for metrics: passes finished since start, the current pass's replicas
        # and how many of them are done, totals verified and found corrupt.
        self.passes = self.pass_replicas = self.pass_done = 0
        self.verified_total = self.verified_bytes_total = self.corrupt_total = 0
        self.last_pass_end = self._last_pass_end()

    @property
    def enabled(self) -> bool:
        return self.period > 0 and self.bytes_per_second > 0

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        if not self.enabled:
            log.info("block scanner disabled (scan_period %s, scan_bytes_per_second %s)",
                     self.period, self.bytes_per_second)
            return
        self._stop.clear()
        self._task = asyncio.ensure_future(self.run())

    async def stop(self) -> None:
        self._stop.set()  # wakes a throttled reader thread at once
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def run(self) -> None:
        log.info("block scanner: every %.0fs at most %d bytes/s", self.period, self.bytes_per_second)
        while True:
            wait = self._last_pass_end() + self.period - time.time()
            if wait > 0:
                await asyncio.sleep(wait)
            started = time.monotonic()
            summary = await self.scan_pass()
            self.last_pass_end = time.time()
            self.passes += 1
            self._save_pass_end(self.last_pass_end)
            log.info("block scanner pass done in %.1fs: %d replicas (%d bytes) verified, %d corrupt, %d skipped",
                     time.monotonic() - started, summary.scanned, summary.scanned_bytes, summary.corrupt,
                     summary.skipped)

    # ------------------------------------------------------------ scanning

    async def scan_pass(self) -> PassSummary:
        """Verify every finalized replica once (those present when the pass starts)."""
        summary = PassSummary()
        replicas = self.storage.finalized_replicas()
        self.pass_replicas, self.pass_done = len(replicas), 0
        for replica in replicas:
            outcome = await self.scan_replica(replica)
            if outcome == "ok":
                summary.scanned += 1
                summary.scanned_bytes += replica.num_bytes
                self.verified_total += 1
                self.verified_bytes_total += replica.num_bytes
            elif outcome == "corrupt":
                summary.corrupt += 1
                self.corrupt_total += 1
            else:
                summary.skipped += 1
            self.pass_done += 1
        return summary

    async def scan_replica(self, replica: Replica) -> str:
        """"ok", "corrupt" or "skipped"."""
        return await verify_now(self.storage, replica, self.report_bad_block, self.throttle.consume,
                                self.throttle.piece_size(), "block scanner")

    # ------------------------------------------------------------ state

    def _last_pass_end(self) -> float:
        try:
            with open(self.state_path) as f:
                return float(json.load(f)["last_pass_end"])
        except FileNotFoundError:
            return 0.0
        except (ValueError, KeyError, TypeError) as e:
            log.warning("%s is unreadable (%s); scanning now", self.state_path, e)
            return 0.0

    def _save_pass_end(self, when: float) -> None:
        try:
            replace_atomically(self.state_path, json.dumps({"last_pass_end": when}))
        except OSError as e:  # only costs an early rescan after a restart
            log.warning("could not record the scanner pass in %s: %s", self.state_path, e)


def settings(cfg: config.ClusterConfig) -> tuple[float, int]:
    """(scan_period seconds, scan_bytes_per_second), cluster-wide keys of the config;
    a period or rate <= 0 turns the scanner off."""
    return float(cfg.scan_period), int(cfg.scan_bytes_per_second)


def _still_current(storage: BlockStorage, replica: Replica) -> bool:
    # A newer generation being finalized replaces the files under the reader;
    # a deleted replica vanishes. Either way the result says nothing.
    return storage.holds(replica) and not storage.is_being_written(replica.pool_id, replica.block_id)


async def verify_now(storage: BlockStorage, replica: Replica, report_bad_block, pace=None, piece: int = 8 << 20,
                     who: str = "verification") -> str:
    """Read every chunk of ``replica`` against its checksums (in a worker thread): "ok",
    "corrupt" (then marked in storage and reported with ``report_bad_block(pb.Block)``)
    or "skipped" (being written, known corrupt, gone or replaced meanwhile, unreadable).
    The block scanner's pass and a NameNode's VerifyCommand both check through here."""
    if not _still_current(storage, replica) or storage.is_corrupt(replica):
        return "skipped"
    try:
        key = storage.verification_key(replica)
        await asyncio.to_thread(storage.verify_replica, replica, pace, piece)
    except ScanStopped:
        raise asyncio.CancelledError()
    except (ChecksumError, FileNotFoundError) as e:
        # Checked on the event loop, where storage changes: no race with delete/finalize.
        if not _still_current(storage, replica):
            return "skipped"
        reason = e if isinstance(e, ChecksumError) else f"file missing: {e.filename}"
        log.error("%s: corrupt replica %s on DataNode %s: %s", who, replica, storage.host_label, reason)
        storage.mark_corrupt(replica)
        await report_bad_block(replica.to_block())
        return "corrupt"
    except OSError as e:  # an unreadable disk is not proof of corruption: try again next pass
        log.warning("%s could not read %s on DataNode %s: %s", who, replica, storage.host_label, e)
        return "skipped"
    if not _still_current(storage, replica):
        return "skipped"
    storage.note_verified(replica, key)
    return "ok"
