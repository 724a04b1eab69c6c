"""The edit log: every namespace mutation as a checksummed record with a txid.

Byte layout (big-endian). A segment file starts with a 12-byte header,
``b"HFEDEDIT"`` + uint32 format version, then holds records back to back:

    uint32 payload length | uint32 CRC32C(txid bytes + payload) | uint64 txid | payload

The payload is an edit record (namenode/edits.py). Segments are named after
the txids they hold, as in HDFS: ``edits_inprogress_<first>`` while written,
``edits_<first>-<last>`` once rolled (finalized).

Group commit: ``append`` only frames the record into a memory buffer (on the
event loop, right after the mutation was applied). One background task writes
the buffer and fdatasyncs it; every RPC whose record was in that buffer is
released by that one sync, and records appended meanwhile wait for the next
round. The sync runs in a thread (asyncio.to_thread) unless the previous one
took under a millisecond: then it runs on the loop, because the two thread
hops cost more than the sync itself (measured: ~1.5x the single-client durable
rate); a slow sync sends the next one back to the thread. A failed write or sync fails every waiting RPC and calls
``on_failure`` so the owner can roll the namespace back to what is durable.
With ``durable=False`` (benchmark baseline) RPCs are acknowledged at once and
the buffer is written to the OS once per event-loop turn, never synced.
"""
from __future__ import annotations

import asyncio
import errno
import logging
import os
import re
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

import crc32c

from protos.errors import HfedError, NoSpace
from protos.files import fsync_dir
from namenode.edits import Edit

log = logging.getLogger(__name__)

MAGIC = b"HFEDEDIT"
FORMAT = 1
FILE_HEADER = MAGIC + struct.pack(">I", FORMAT)
RECORD = struct.Struct(">IIQ")
MAX_PAYLOAD = 16 << 20          # larger lengths can only be garbage
INLINE_SYNC_S = 0.001           # syncs faster than this run on the event loop, slower ones in a thread
_TXID = struct.Struct(">Q")
INPROGRESS = re.compile(r"^edits_inprogress_(\d+)$")
FINALIZED = re.compile(r"^edits_(\d+)-(\d+)$")


class CorruptLog(HfedError):
    """A record in the middle of the log is damaged (or a segment is missing)."""


def inprogress_name(first: int) -> str:
    return f"edits_inprogress_{first:019d}"


def finalized_name(first: int, last: int) -> str:
    return f"edits_{first:019d}-{last:019d}"


def frame(txid: int, payload: bytes) -> bytes:
    txid_bytes = _TXID.pack(txid)
    crc = crc32c.crc32c(txid_bytes + payload)
    return RECORD.pack(len(payload), crc, txid) + payload


# ------------------------------------------------------------------ reading
@dataclass
class Segment:
    path: Path
    first: int
    last: int | None            # None while in progress

    @property
    def inprogress(self) -> bool:
        return self.last is None


def list_segments(meta_dir: Path) -> list[Segment]:
    found = []
    for path in meta_dir.iterdir():
        if m := INPROGRESS.match(path.name):
            found.append(Segment(path, int(m.group(1)), None))
        elif m := FINALIZED.match(path.name):
            found.append(Segment(path, int(m.group(1)), int(m.group(2))))
    found.sort(key=lambda s: (s.first, s.inprogress))
    return found


@dataclass
class ScanResult:
    records: list = field(default_factory=list)   # (txid, payload bytes)
    valid_end: int = len(FILE_HEADER)              # byte offset after the last good record
    torn: str = ""                                 # why the tail was cut, if it was
    skipped: list = field(default_factory=list)    # (offset, reason) skipped by --recover


def _record_at(data: bytes, off: int):
    """(txid, payload, end) of a good record at ``off``, or (None, why, kind): kind 'tail'|'bad'."""
    if len(data) - off < RECORD.size:
        return None, f"{len(data) - off} bytes of a record header", "tail"
    length, crc, txid = RECORD.unpack_from(data, off)
    end = off + RECORD.size + length
    if length > MAX_PAYLOAD:
        return None, f"impossible record length {length}", "bad"
    if end > len(data):
        return None, f"record of {length} bytes cut off at end of file", "tail"
    payload = data[off + RECORD.size:end]
    if crc32c.crc32c(data[off + 8:off + 16] + payload) != crc:
        return None, f"checksum mismatch in record claiming txid {txid}", "bad"
    return txid, payload, end


def scan(path: Path, data: bytes, expected: int, tail_ok: bool, recover: bool) -> ScanResult:
    """Check every record of a segment. ``expected`` is the txid of the first
    record; a damaged last record is a torn tail when ``tail_ok`` (the segment
    being written at the crash); damage elsewhere raises CorruptLog unless
    ``recover``, which skips to the next good record."""
    if len(data) < len(FILE_HEADER) or data[:len(MAGIC)] != MAGIC:
        if tail_ok and (not data.strip(b"\0") or FILE_HEADER.startswith(data)):
            return ScanResult(valid_end=0, torn="empty segment (crash right after it was created)")
        raise CorruptLog(f"{path}: not an hfed edit log segment (bad header)")
    if data[:len(FILE_HEADER)] != FILE_HEADER:
        raise CorruptLog(f"{path}: edit log format version {data[8:12].hex()} is not {FORMAT}")
    result = ScanResult()
    off = len(FILE_HEADER)
    while off < len(data):
        txid, payload, end = _record_at(data, off)
        if txid is not None and txid != expected:
            txid, payload, end = None, f"found txid {txid} where txid {expected} belongs", "bad"
        if txid is not None:
            result.records.append((txid, payload))
            result.valid_end, off, expected = end, end, expected + 1
            continue
        # payload holds why, end holds the kind of damage
        at_tail = end == "tail" or not data[off:].strip(b"\0") or _is_last(data, off)
        if tail_ok and at_tail:
            result.torn = f"torn record at byte {off} (txid {expected}): {payload}"
            return result
        where = f"{path}: corrupt edit log at byte {off}, txid {expected}: {payload}"
        if not recover:
            raise CorruptLog(where + " (start with --recover to skip damaged records, losing them)")
        nxt = _resync(data, off + 1, expected)
        log.error("RECOVER: %s; skipping %d bytes", where, (nxt or len(data)) - off)
        result.skipped.append((off, payload))
        if nxt is None:
            return result
        off = nxt
        expected = RECORD.unpack_from(data, nxt)[2]
    return result


def _is_last(data: bytes, off: int) -> bool:
    """A full-length record that ends exactly at end of file: its write was the last one."""
    length = RECORD.unpack_from(data, off)[0]
    return off + RECORD.size + length == len(data)


def _resync(data: bytes, start: int, expected: int) -> int | None:
    """Offset of the next good record with a txid at or after ``expected``."""
    for off in range(start, len(data) - RECORD.size + 1):
        txid, _payload, _end = _record_at(data, off)
        if txid is not None and txid >= expected:
            return off
    return None


# ------------------------------------------------------------------ writing
class SegmentFile:
    """One open segment file. Disk errors surface from ``write`` and ``sync``;
    tests substitute a subclass that raises ENOSPC or EIO there."""

    def __init__(self, path: Path):
        self.path = path
        self._file = open(path, "ab", buffering=0)     # closed with the object, even if leaked
        self.size = os.fstat(self._file.fileno()).st_size

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.pwrite(self._file.fileno(), view, self.size)
            self.size += written
            view = view[written:]

    def sync(self) -> None:
        os.fdatasync(self._file.fileno())

    def truncate(self, size: int) -> None:
        os.ftruncate(self._file.fileno(), size)
        os.fdatasync(self._file.fileno())
        self.size = size

    def close(self) -> None:
        self._file.close()


def describe(e: OSError) -> str:
    return e.strerror or str(e)


class EditLog:
    def __init__(self, meta_dir: Path, durable: bool = True, label: str = "", opener=SegmentFile):
        self.meta_dir, self.durable, self.label, self.opener = meta_dir, durable, label, opener
        self.last_txid = 0          # of the last appended record
        self.durable_txid = 0       # of the last record on disk (fdatasynced when durable)
        self.segment: SegmentFile | None = None
        self.segment_first = 0
        self.durable_offset = 0     # bytes of the segment known good on disk
        self.on_failure = None      # called with (error, first lost txid, last lost txid)
        self.broken: str = ""       # set when the log could not even be rolled back
        self.syncs = 0              # fdatasync rounds, for tests and benchmarks
        self.on_sync = None         # called with each sync's seconds (metrics; may run in a thread)
        self._buf = bytearray()
        self._waiters: list[tuple[int, asyncio.Future]] = []
        self._task: asyncio.Task | None = None
        self._write_soon = False
        self._last_sync_s = 1.0     # start in the thread; go inline once syncs prove fast

    # ------------------------------------------------------------ segments
    def open_segment(self, first: int) -> None:
        """Start ``edits_inprogress_<first>`` (header fsynced, directory entry too)."""
        path = self.meta_dir / inprogress_name(first)
        segment = self.opener(path)
        try:
            if segment.size == 0:
                segment.write(FILE_HEADER)
            segment.sync()
            fsync_dir(self.meta_dir)
        except OSError as e:
            segment.close()
            raise self._error(e, f"cannot start edit log segment {path}")
        self.segment, self.segment_first, self.durable_offset = segment, first, segment.size
        self.last_txid = self.durable_txid = first - 1

    def roll(self) -> int:
        """Finalize the current segment and start the next; returns its last txid.
        The caller must have drained the syncer (see ``drain``)."""
        self.flush()
        last, old = self.last_txid, self.segment
        if last < self.segment_first:           # nothing in it: keep writing to it
            return last
        self.open_segment(last + 1)             # first, so a failure leaves the old one in place
        old.close()
        try:
            os.replace(old.path, self.meta_dir / finalized_name(_first_of(old.path), last))
            fsync_dir(self.meta_dir)
        except OSError as e:                    # still readable as an in-progress segment
            log.error("%s: could not finalize %s: %s", self.label, old.path, describe(e))
        return last

    def close(self) -> None:
        if self.segment is not None:
            self.segment.close()
            self.segment = None

    # ---------------------------------------------------------- appending
    def append(self, record: Edit) -> int:
        if self.segment is None or self.broken:
            raise HfedError(f"namespace {self.label}: edit log is not writable: {self.broken or 'not open'}")
        self.last_txid += 1
        self._buf += frame(self.last_txid, record.encode())
        self._kick()
        return self.last_txid

    def _kick(self) -> None:
        if self._task is None and not self._write_soon:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return           # offline use (tools, unit tests): flush() writes it
            if self.durable:
                self._task = loop.create_task(self._syncer())
            else:                # one plain write per loop turn, on the loop: no thread hop per edit
                self._write_soon = True
                loop.call_soon(self._write_buffered)

    def _write_buffered(self) -> None:
        self._write_soon = False
        if not self._buf or self.segment is None:
            return
        data, end = bytes(self._buf), self.last_txid
        self._buf.clear()
        try:
            self.segment.write(data)
        except OSError as e:
            self._fail(e)
            return
        self._done_through(end)

    async def sync_to(self, txid: int) -> None:
        """Return once record ``txid`` is durable; NoSpace/HfedError if it never will be."""
        if txid <= self.durable_txid or not self.durable:
            return                 # non-durable mode acknowledges before the disk has it
        future = asyncio.get_running_loop().create_future()
        self._waiters.append((txid, future))
        self._kick()
        await future

    async def drain(self) -> None:
        """Wait until no write is in flight, so the caller may use the segment synchronously."""
        while self._task is not None:
            await asyncio.shield(self._task)

    async def _syncer(self) -> None:
        try:
            while self._buf and self.segment is not None:
                data, end = bytes(self._buf), self.last_txid
                self._buf.clear()
                try:
                    if self._last_sync_s < INLINE_SYNC_S:
                        self._write(data)     # a fast disk: a thread hop would cost more than the sync
                    else:
                        await asyncio.to_thread(self._write, data)
                except OSError as e:
                    self._fail(e)
                    return
                self._done_through(end)
        except Exception:  # noqa: BLE001 - never leave waiters hanging on a bug
            log.exception("edit log syncer failed")
            self._fail(OSError(errno.EIO, "internal error in the edit log syncer"))
        finally:
            self._task = None

    def _write(self, data: bytes) -> None:
        started = time.perf_counter()
        self.segment.write(data)
        if self.durable:
            self.segment.sync()
            self.syncs += 1
        self._last_sync_s = time.perf_counter() - started
        if self.durable and self.on_sync is not None:
            self.on_sync(self._last_sync_s)

    def flush(self) -> None:
        """Write and sync the buffer now, on the calling thread (no syncer in flight)."""
        if not self._buf:
            return
        data, end = bytes(self._buf), self.last_txid
        self._buf.clear()
        try:
            self.segment.write(data)
            self.segment.sync()
        except OSError as e:
            raise self._fail(e)
        self._done_through(end)

    def _done_through(self, txid: int) -> None:
        self.durable_txid, self.durable_offset = txid, self.segment.size
        still = []
        for waiting, future in self._waiters:
            if waiting <= txid:
                if not future.done():
                    future.set_result(None)
            else:
                still.append((waiting, future))
        self._waiters = still

    def _error(self, e: OSError, what: str) -> HfedError:
        cls = NoSpace if e.errno in (errno.ENOSPC, errno.EDQUOT) else HfedError
        return cls(f"namespace {self.label}: {what}: {describe(e)}")

    def _fail(self, e: OSError) -> HfedError:
        """Nothing after ``durable_txid`` is on disk: refuse it all and cut the file back."""
        lost = (self.durable_txid + 1, self.last_txid)
        err = self._error(e, f"{self.segment.path}: could not make edits txid {lost[0]}..{lost[1]} "
                             "durable; those changes are refused and rolled back")
        log.error("%s", err)
        self._buf.clear()
        for _txid, future in self._waiters:
            if not future.done():
                future.set_exception(err)
        self._waiters = []
        self.last_txid = self.durable_txid
        try:
            self.segment.truncate(self.durable_offset)
        except OSError as e2:
            self.broken = f"{self.segment.path} could not be cut back to its durable length: {describe(e2)}"
            log.critical("%s: %s; refusing all further edits", self.label, self.broken)
        if self.on_failure is not None:
            self.on_failure(err, *lost)
        return err


def _first_of(path: Path) -> int:
    return int(INPROGRESS.match(path.name).group(1))
