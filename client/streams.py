"""File objects returned by HfedFileSystem.open: HfedReader and HfedWriter.

Both work on a ClusterSession (client/session.py) and a path the mount table
resolved (checked once, at the filesystem's edge). Opening a reader is one
NameNode call (GetBlockLocations: the length, layout and blocks are all it
needs; a directory is refused there).

HfedReader fetches only the blocks a read touches, in whole packets, and keeps
one stream open while reading sequentially. HfedWriter streams each block down
its pipeline as data arrives, keeping only the current block's bytes (to
re-send them through a new pipeline if the first one breaks before the final
ack), renews the file's lease in the background and completes the file on
close.

Small files (below the namespace's small_file_threshold): the writer holds the
bytes until they reach the threshold and, if the file ends below it, hands
them to the client's staging container (client/small_writer.py), which writes
them to DataNodes and commits the file: no block of its own. The reader
fetches a PACKED file's entry (protos/small_entry.py) with one ranged read of
its container, through the same block-reading path as any block, and checks
it; a STAGED file (an older hfed's, until converted) comes from the NameNode.
"""
from __future__ import annotations

import bisect
import io
import logging
import threading
import time

from client.datanode_client import PACKET_SIZE, BlockWriter, PipelineFailed, iter_block_range
from client.file_info import status_to_info
from client.mount_table import Resolved
from client.session import ClusterSession
from protos import errors, small_entry
from protos import hfed_pb2 as pb

log = logging.getLogger(__name__)

LEASE_RENEW_INTERVAL = 10.0
PIPELINE_RETRIES = 3
COMPLETE_TIMEOUT = 60.0


def block_spans(blocks: list[pb.LocatedBlock], file_length: int) -> list[tuple[int, int]]:
    """(start, end) file offsets of each block; the last one ends at the file length."""
    spans = []
    for i, lb in enumerate(blocks):
        end = blocks[i + 1].offset if i + 1 < len(blocks) else file_length
        spans.append((lb.offset, end))
    return spans


def blocks_for_range(spans: list[tuple[int, int]], start: int, end: int) -> list[int]:
    """Indices of the blocks that hold any byte of [start, end)."""
    if start >= end:
        return []
    first = max(bisect.bisect_right([s for s, _ in spans], start) - 1, 0)
    return [i for i in range(first, len(spans)) if spans[i][0] < end and spans[i][1] > start]


class HfedReader(io.BufferedIOBase):
    """Read-only, seekable view of one file."""

    def __init__(self, session: ClusterSession, target: Resolved):
        """IsADirectory (from the NameNode) when ``target`` is a directory."""
        super().__init__()
        self.session = session
        self.target = target
        self.path = target.path
        self.nameservice = target.nameservice
        self.mode = "rb"
        self._pos = 0
        self._buf = b""          # last chunk read, starting at file offset _buf_start
        self._buf_start = 0
        self._stream = None      # iterator of chunks from the current block, next byte at _stream_pos
        self._stream_pos = -1
        self._stream_end = -1
        self._load_locations()

    def _load_locations(self) -> None:
        located = self.session.block_locations(self.target)
        self.size = located.file_length
        self.layout = located.layout
        self._inline = located.inline_data if located.layout == pb.STAGED else None
        self._packed = located if located.layout == pb.PACKED else None
        self._blocks = list(located.blocks)
        self._spans = block_spans(self._blocks, self.size)

    def _read_packed(self) -> bytes:
        """The file's entry in its container, read in one range and checked (CRC, length)."""
        located = self._packed
        container = located.blocks[0]
        start = located.packed_offset
        end = start + (self.size if located.packed_raw else small_entry.read_span(self.size))
        if container.block.num_bytes > start:        # a compressed last entry ends before read_span does
            end = min(end, container.block.num_bytes)
        data = b"".join(iter_block_range(self.session.datanodes, container, start, end, path=self.path,
                                         client_host=self.session.host, report_bad=self._report_bad))
        if located.packed_raw:
            return data
        return small_entry.decode(data, f"{self.path} (namespace {self.nameservice}, container block "
                                        f"{container.block.block_id} at {start})", self.size)

    def __repr__(self) -> str:
        return f"<HfedReader {self.path} ({self.nameservice}) pos={self._pos} size={self.size}>"

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        self._check_open()
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._check_open()
        if whence == io.SEEK_SET:
            target = offset
        elif whence == io.SEEK_CUR:
            target = self._pos + offset
        elif whence == io.SEEK_END:
            target = self.size + offset
        else:
            raise ValueError(f"{self.path}: invalid whence {whence}")
        if target < 0:
            raise ValueError(f"{self.path}: negative seek position {target}")
        self._pos = target
        return target

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError(f"I/O operation on closed file {self.path}")

    def _drop_stream(self) -> None:
        if self._stream is not None:
            self._stream.close()
        self._stream = None

    def _open_stream(self, want: int) -> None:
        """Start reading at _pos: to the block's end when reading on sequentially, else one packet or ``want``."""
        self._drop_stream()
        index = blocks_for_range(self._spans, self._pos, self._pos + 1)[0]
        block_start, block_end = self._spans[index]
        sequential = self._pos == self._stream_end
        end = block_end if sequential else min(block_end, self._pos + max(want, PACKET_SIZE))
        shift = -block_start   # file offset -> offset within the block
        self._stream = iter_block_range(self.session.datanodes, self._blocks[index], self._pos + shift,
                                        end + shift, path=self.path, client_host=self.session.host,
                                        report_bad=self._report_bad)
        self._stream_pos, self._stream_end = self._pos, end

    def _report_bad(self, block: pb.Block, dn: pb.DatanodeId, token: str) -> None:
        self.session.report_bad_replica(self.nameservice, block, dn.uuid, token)

    def _fill(self, want: int) -> None:
        """Make _buf cover _pos (which is < size)."""
        if self._buf_start <= self._pos < self._buf_start + len(self._buf):
            return
        if self._inline is None and self._packed is not None:
            self._inline = self._with_fresh_locations(self._read_packed)
        if self._inline is not None:    # a small file: all of it is in memory
            self._buf, self._buf_start = self._inline, 0
            return

        def next_chunk() -> bytes:
            if self._stream is None or self._stream_pos != self._pos:
                self._open_stream(want)
            chunk = next(self._stream, None)
            if chunk is None:       # that range is done: continue with a fresh one
                self._open_stream(want)
                chunk = next(self._stream)
            return chunk
        chunk = self._with_fresh_locations(next_chunk)
        self._buf, self._buf_start = chunk, self._stream_pos
        self._stream_pos += len(chunk)

    def _with_fresh_locations(self, read):
        """``read()``, and once more after asking the NameNode again if every replica failed:
        it may know newer replicas by now, or the file was packed into another container."""
        for attempt in (0, 1):
            try:
                return read()
            except errors.BlockMissing:
                self._drop_stream()
                if attempt:
                    raise
                self._load_locations()

    def read(self, size: int | None = -1) -> bytes:
        self._check_open()
        remaining = self.size - self._pos
        if size is None or size < 0 or size > remaining:
            size = remaining
        if size <= 0:
            return b""
        parts = []
        got = 0
        while got < size:
            self._fill(size - got)
            offset = self._pos - self._buf_start
            piece = self._buf[offset:offset + size - got]
            parts.append(piece)
            got += len(piece)
            self._pos += len(piece)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def read1(self, size: int = -1) -> bytes:
        return self.read(PACKET_SIZE if size is None or size < 0 else size)

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        memoryview(buffer).cast("B")[:len(data)] = data
        return len(data)

    def peek(self, size: int = 0) -> bytes:
        """Bytes from the current position without moving it (makes readline fast)."""
        self._check_open()
        if self._pos >= self.size:
            return b""
        self._fill(max(size, 1))
        return self._buf[self._pos - self._buf_start:]

    def info(self) -> dict:
        status = self.session.namenode(self.nameservice).get_file_info(self.path)
        return status_to_info(status, self.path, self.nameservice)

    def close(self) -> None:
        if not self.closed:
            self._drop_stream()
            self._buf = b""
        super().close()


class HfedWriter(io.BufferedIOBase):
    """Write-only stream that becomes the file's content on close()."""

    @classmethod
    def create(cls, session: ClusterSession, target: Resolved, *, overwrite: bool, permission: int,
               replication: int = 0, block_size: int = 0, pack: bool = True) -> "HfedWriter":
        """Create the file (leased to this client) and a writer for it. ``pack=False``: give
        the file blocks even if it is small (e.g. for read locality)."""
        status = session.namenode(target.nameservice).create(
            target.path, session.client_name, permission, overwrite, True, replication, block_size)
        return cls(session, target, status, session.small_file_threshold(target.nameservice) if pack else 0)

    @classmethod
    def append(cls, session: ClusterSession, target: Resolved, *, permission: int, replication: int = 0,
               block_size: int = 0, pack: bool = True) -> "HfedWriter":
        """A writer that goes on at the file's end (its lease taken); a missing file is
        created (Python's "ab"). A small file's bytes are read and written again ahead of
        the new ones: as a new entry if it stays small, else as the first blocks (the
        NameNode keeps the old entry until those blocks are committed)."""
        nn = session.namenode(target.nameservice)
        try:
            status = nn.append(target.path, session.client_name, session.host).status
        except errors.NotFound:
            return cls.create(session, target, overwrite=False, permission=permission, replication=replication,
                              block_size=block_size, pack=pack)
        writer = cls(session, target, status, session.small_file_threshold(target.nameservice) if pack else 0)
        writer.mode = "ab"
        try:
            writer._go_to_end(target, status)
        except BaseException:
            writer.abort()
            io.BufferedIOBase.close(writer)
            raise
        return writer

    def _go_to_end(self, target: Resolved, status: pb.FileStatus) -> None:
        """Start at the end of the file just reopened for appending."""
        if status.layout == pb.PACKED:
            with HfedReader(self.session, target) as reader:
                old = reader.read()
            self._unchanged = len(old)
            if self._held is not None and len(old) < self._small_limit:
                self._held += old
            else:
                self._held = None
                self._write_blocks(memoryview(old))
        else:
            located = self._nn.get_block_locations(self.path, 0, 1 << 62, self.session.host)
            if located.blocks:           # appended bytes go on in new blocks after the last one
                self._held = None
                self._previous = located.blocks[-1].block
        self._written = status.length

    def __init__(self, session: ClusterSession, target: Resolved, status: pb.FileStatus,
                 small_file_threshold: int = 0):
        """``small_file_threshold``: a file that ends below it (and is not empty) is closed
        as a small file with no block of its own (0: always blocks)."""
        super().__init__()
        self.session = session
        self.path = target.path
        self.nameservice = target.nameservice
        self.mode = "wb"
        self.block_size = status.block_size or session.default_block_size(self.nameservice)
        self.bytes_per_checksum = session.bytes_per_checksum(self.nameservice)
        self._nn = session.namenode(self.nameservice)
        self._client_name = session.client_name
        self._small_limit = small_file_threshold
        self._held: bytearray | None = bytearray() if small_file_threshold > 0 else None  # bytes of a maybe-small file
        self._written = 0
        self._unchanged = -1                     # appending to a small file: its old length
        self._previous: pb.Block | None = None   # last fully acked block
        self._located: pb.LocatedBlock | None = None
        self._pipeline: BlockWriter | None = None
        self._block_data = bytearray()           # current block's bytes, kept until acked
        self._excluded: set[str] = set()
        self._failed = False
        self._stop_renewal = threading.Event()
        self._renewer = threading.Thread(target=self._renew_lease, name=f"lease-{self.path}", daemon=True)
        self._renewer.start()

    def __repr__(self) -> str:
        return f"<HfedWriter {self.path} ({self.nameservice}) written={self._written}>"

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._written

    def _renew_lease(self) -> None:
        while not self._stop_renewal.wait(LEASE_RENEW_INTERVAL):
            try:
                self._nn.renew_lease(self._client_name)
            except errors.HfedError as e:
                log.warning("renewing the lease on %s failed: %s", self.path, e)

    def write(self, data) -> int:
        if self.closed:
            raise ValueError(f"write to closed file {self.path}")
        if self._failed:
            raise errors.Unavailable(f"{self.path}: an earlier write failed; the file cannot be continued",
                                     self.path)
        view = memoryview(data).cast("B")
        total = len(view)
        try:
            if self._held is not None:
                if len(self._held) + total < self._small_limit:
                    self._held += view          # still small: no block, no pipeline yet
                    self._written += total
                    return total
                held, self._held = self._held, None    # reached the threshold: blocks after all
                self._write_blocks(memoryview(held))
            self._write_blocks(view)
        except BaseException:
            self._failed = True
            raise
        self._written += total
        return total

    def _write_blocks(self, view: memoryview) -> None:
        while view:
            if self._pipeline is None:
                self._start_block()
            piece = view[:self.block_size - len(self._block_data)]
            view = view[len(piece):]
            self._block_data += piece
            try:
                self._pipeline.write(piece)
            except PipelineFailed as e:
                self._recover(e)
            if len(self._block_data) >= self.block_size:
                self._finish_block()

    def _start_block(self) -> None:
        excluded = self._excluded | self.session.failed_datanodes.recent()
        try:
            self._located = self._nn.add_block(self.path, self._client_name, self._previous, sorted(excluded),
                                               self.session.host)
        except errors.NoSpace:
            if excluded == self._excluded:
                raise
            # Too few DataNodes left without the remembered failures: let the NameNode choose.
            self._located = self._nn.add_block(self.path, self._client_name, self._previous,
                                               sorted(self._excluded), self.session.host)
        self._pipeline = BlockWriter(self.session.datanodes, self._located, self._client_name, self.path,
                                     bytes_per_checksum=self.bytes_per_checksum)

    def _recover(self, error: PipelineFailed) -> None:
        """Abandon the broken block and re-send its bytes through a new pipeline."""
        for attempt in range(PIPELINE_RETRIES):
            log.warning("%s: %s; retrying with a new pipeline (%d/%d)", self.path, error, attempt + 1,
                        PIPELINE_RETRIES)
            self._abandon_current()
            if error.failed_uuid:
                self._excluded.add(error.failed_uuid)
                self.session.failed_datanodes.note(error.failed_uuid)
            self._start_block()
            try:
                self._pipeline.write(bytes(self._block_data))
                return
            except PipelineFailed as e:
                error = e
        raise errors.Unavailable(f"writing {self.path}: the block pipeline failed {PIPELINE_RETRIES + 1} times; "
                                 f"last error: {error}", self.path)

    def _abandon_current(self) -> None:
        if self._pipeline is not None:
            self._pipeline.abort()
            self._pipeline = None
        if self._located is not None:
            try:
                self._nn.abandon_block(self.path, self._client_name, self._located.block)
            except errors.HfedError as e:
                log.warning("abandoning %s of %s failed: %s", self._located.block.block_id, self.path, e)
            self._located = None

    def _finish_block(self) -> None:
        """Close the current block's pipeline, retrying through new pipelines if it breaks."""
        retries = 0
        while True:
            try:
                num_bytes = self._pipeline.close()
                break
            except PipelineFailed as e:
                retries += 1
                if retries > PIPELINE_RETRIES:
                    raise errors.Unavailable(f"writing {self.path}: could not finish block "
                                             f"{self._located.block.block_id}: {e}", self.path) from None
                self._recover(e)
        block = self._located.block
        self._previous = pb.Block(pool_id=block.pool_id, block_id=block.block_id,
                                  generation_stamp=block.generation_stamp, num_bytes=num_bytes)
        self._pipeline = None
        self._located = None
        self._block_data = bytearray()

    def flush(self) -> None:
        """Nothing to do: bytes go down the pipeline as whole packets fill; close() makes them durable."""

    def close(self) -> None:
        if self.closed:
            return
        try:
            if self._failed:
                self.abort()
                return
            if self._held and len(self._held) != self._unchanged:   # 0 < size < threshold: a small file
                error = self.session.small_writer(self.nameservice).write(
                    [pb.CommitSmallRequest(path=self.path)], [bytes(self._held)])[0]
                if error is not None:
                    raise error
                return
            if self._pipeline is not None:
                self._finish_block()
            self._complete()
        except BaseException:
            self.abort()
            raise
        finally:
            self._stop_renewal.set()
            super().close()

    def _complete(self) -> None:
        deadline = time.monotonic() + COMPLETE_TIMEOUT
        delay = 0.02
        while not self._nn.complete(self.path, self._client_name, self._previous):
            if time.monotonic() > deadline:
                raise errors.Unavailable(f"could not complete {self.path} (namespace {self.nameservice}): its "
                                         f"last block is still not reported by a DataNode after "
                                         f"{COMPLETE_TIMEOUT:.0f}s", self.path)
            time.sleep(delay)
            delay = min(delay * 2, 0.5)

    def abort(self) -> None:
        """Give up: abandon the unfinished block; the NameNode recovers the file when the lease expires."""
        self._failed = True
        self._stop_renewal.set()
        self._abandon_current()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
            return
        # Like a local file, what was written is kept; if even that fails, abandon quietly
        # so the original exception is the one the caller sees.
        try:
            self.close()
        except Exception as close_error:
            log.warning("closing %s after %s failed: %s", self.path, exc_type.__name__, close_error)
            self.abort()
            io.BufferedIOBase.close(self)
