"""The adapter's local cache of files fetched from hfed (client/tf_adapter.py)."""
from __future__ import annotations

import collections
import contextlib
import hashlib
import os
import re
import shutil
import tempfile
import weakref

from protos import hfed_pb2 as pb

CACHE_NAME = re.compile(r"^[0-9a-f]{16}-")   # BlockCache.key(): digest, then the file's base name


class BlockCache:
    """Whole files fetched from hfed, in a directory bounded to ``max_bytes``.

    Entries are keyed by the file's block ids and generation stamps, which never
    change for the same bytes, so a rewritten file is never served stale. The
    least recently used entries are evicted, but never the ``keep_recent`` newest:
    those may still be open in a reader (unlinking an open file is safe on
    POSIX, the reader keeps its bytes)."""

    def __init__(self, directory: str | None, max_bytes: int, keep_recent: int = 2):
        self.max_bytes = max_bytes
        self.keep_recent = keep_recent
        self._entries: collections.OrderedDict[str, int] = collections.OrderedDict()
        self._directory = directory
        if directory is not None:
            self._scan(directory)

    @property
    def directory(self) -> str:
        """Made on first use: a worker whose files are all local never needs one."""
        if self._directory is None:
            self._directory = tempfile.mkdtemp(prefix="hfed-tf-cache-")
            weakref.finalize(self, shutil.rmtree, self._directory, True)
        return self._directory

    def _scan(self, directory: str) -> None:
        os.makedirs(directory, exist_ok=True)
        # Entries left by earlier runs are reused; only names this cache made are ever touched.
        ours = [n for n in os.listdir(directory) if CACHE_NAME.match(n)]
        for name in sorted(ours, key=lambda n: os.path.getmtime(os.path.join(directory, n))):
            if name.endswith(".part"):   # a fetch that never finished
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(directory, name))
            else:
                self._entries[name] = os.path.getsize(os.path.join(directory, name))

    @staticmethod
    def key(nameservice: str, path: str, located: pb.LocatedBlocks) -> str:
        ids = ",".join(f"{lb.block.block_id}.{lb.block.generation_stamp}" for lb in located.blocks)
        # A small file has no block of its own: its place in the container, or its staged bytes, name it.
        ids += f"@{located.packed_offset}:{hashlib.sha256(located.inline_data).hexdigest()}" \
            if located.layout != pb.BLOCKS else ""
        digest = hashlib.sha256(f"{nameservice}:{path}:{located.file_length}:{ids}".encode()).hexdigest()[:16]
        return f"{digest}-{os.path.basename(path) or 'root'}"

    def lookup(self, key: str) -> str | None:
        if key in self._entries:
            self._entries.move_to_end(key)
            return os.path.join(self.directory, key)
        return None

    def partial_path(self, key: str) -> str:
        return os.path.join(self.directory, key + ".part")

    def commit(self, key: str) -> str:
        final = os.path.join(self.directory, key)
        os.replace(self.partial_path(key), final)
        self._entries[key] = os.path.getsize(final)
        self._evict()
        return final

    def _evict(self) -> None:
        while sum(self._entries.values()) > self.max_bytes and len(self._entries) > self.keep_recent:
            name, _ = self._entries.popitem(last=False)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self.directory, name))


class ReplicaPaths:
    """Local replica files a DataNode handed out (short-circuit), reused for ``reuse_seconds``.

    A finalized replica's file never changes under the same block id and generation
    stamp, so asking its DataNode again every epoch only costs a round trip per file
    (HDFS's client keeps its short-circuit file descriptors for minutes the same way).
    An entry is used only while its file is still there with the replica's length."""

    def __init__(self, reuse_seconds: float = 300.0):
        self.reuse_seconds = reuse_seconds
        self._entries: dict[tuple, tuple[str, int, float]] = {}

    @staticmethod
    def key(datanode_uuid: str, block: pb.Block) -> tuple:
        return datanode_uuid, block.pool_id, block.block_id, block.generation_stamp

    def lookup(self, key: tuple, now: float) -> tuple[str, int] | None:
        entry = self._entries.get(key)
        if entry is None or entry[2] < now:
            return None
        path, length, _ = entry
        try:
            if os.stat(path).st_size >= length:
                return path, length
        except OSError:
            pass
        del self._entries[key]
        return None

    def remember(self, key: tuple, path: str, length: int, now: float) -> None:
        self._entries[key] = (path, length, now + self.reuse_seconds)


class RecordCounts:
    """Record counts of local files already counted, by the file's identity (device,
    inode, size, modification time): a file read every epoch is walked once."""

    def __init__(self):
        self._counts: dict[tuple, int] = {}

    @staticmethod
    def identity(st: os.stat_result) -> tuple:
        return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns

    def lookup(self, path: str) -> int | None:
        try:
            return self._counts.get(self.identity(os.stat(path)))
        except OSError:
            return None

    def remember(self, st: os.stat_result, count: int) -> None:
        self._counts[self.identity(st)] = count
