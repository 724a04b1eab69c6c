"""tf.data input from hfed, reading the blocks on the trainer's own host.

    from client.tf_adapter import hfed_dataset
    ds = hfed_dataset("/data/digits/train-*.tfrecord", worker_index=i, num_workers=3,
                      worker_hosts=["host-1", "host-2", "host-3"])

How one worker's share is read (files are planned by client/tf_assign.py):
- a single-block file with a replica on this worker's host: the DataNode
  checks that replica's checksums and hands out its block file path, and
  TensorFlow's own reader (TFRecordDataset / TextLineDataset / read_file)
  reads that file. No Python runs per record; Python runs once per file, to
  ask for the path.
- any other file (no local replica, several blocks, a local DataNode that is
  down): its blocks are copied into a bounded local cache directory, local
  blocks from their block files and the others streamed from the remaining
  replicas through the client library (checksummed, falling back replica by
  replica), then read natively from the cache. Nothing is skipped: a file
  that cannot be read fails the epoch with an error naming it.

Counters (per worker, `HfedInput.counters`): bytes handed to the reader from
local block files, bytes that came over the network, bytes served again from
the cache, files opened and records produced. Bytes are counted per whole
file when it is handed to the reader, and so are records: a background thread
walks each handed-out file's TFRecord length fields (or counts its lines) off
the input path. An epoch stopped early over-counts both. (A tf op counting
each record, or even each batch, cost 10-50% of the throughput here.)
"""
from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import dataclasses
import hashlib
import logging
import os
import re
import shutil
import tempfile
import threading
import weakref
from typing import Iterable

try:
    import tensorflow as tf
except ImportError as e:  # the core installs without TensorFlow
    raise ImportError("client.tf_adapter needs TensorFlow: install the extra with "
                      "`pip install -e '.[tf]'` (or `pip install tensorflow-cpu`)") from e

from client.datanode_client import describe, iter_block_range, short_circuit_file
from client.fs import HfedFileSystem
from client.session import ClusterSession
from client.streams import HfedReader, block_spans
from client.tf_assign import FileLayout, InputPlan, assign_files, check_worker_index
from client import tf_records
from protos import errors
from protos import hfed_pb2 as pb

log = logging.getLogger(__name__)

KINDS = ("tfrecord", "lines", "bytes")
DEFAULT_CACHE_BYTES = 2 << 30
READER_BUFFER = 1 << 20      # TFRecordDataset read buffer
SHORT_CIRCUIT_TIMEOUT = 30.0
GLOB_CHARS = re.compile(r"[*?\[]")
WORKER_HOSTS_ENV = "HFED_WORKER_HOSTS"
CACHE_NAME = re.compile(r"^[0-9a-f]{16}-")   # BlockCache.key(): digest, then the file's base name


# ------------------------------------------------------------------ planning

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
               imbalance: float = 0.1) -> InputPlan:
    """Ask the NameNodes where every block is and assign the files to workers."""
    fs = fs or HfedFileSystem()
    layouts = [file_layout(fs.session, p) for p in expand_paths(fs, paths_or_globs)]
    return assign_files(layouts, list(worker_hosts), imbalance)


# ------------------------------------------------------------------ counters

@dataclasses.dataclass
class InputCounters:
    local_bytes: int = 0      # read by TensorFlow from local block files (short-circuit)
    remote_bytes: int = 0     # fetched over DataTransfer streams into the cache
    cached_bytes: int = 0     # served again from the cache, nothing fetched
    files: int = 0            # files handed to the reader (per epoch, summed)
    records: int = 0          # records produced (with count_records=True)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def local_fraction(self) -> float:
        moved = self.local_bytes + self.remote_bytes
        return self.local_bytes / moved if moved else 1.0


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


# ------------------------------------------------------------------ one worker

class HfedInput:
    """One worker's share of hfed input files, as a tf.data.Dataset (``dataset()``).

    paths_or_globs   files, directories (all files below) or globs, in any namespace
    worker_index, num_workers   this worker of N; or ``input_context`` (tf.distribute)
    worker_hosts     host label of every worker, the same list on every worker (or env
                     HFED_WORKER_HOSTS=h1,h2,...); without it files are balanced by size only
    plan             a precomputed InputPlan (plan_input), e.g. made once by a launcher so
                     every worker reads the same plan even if replicas move meanwhile
    fs               the client (its session reads the blocks); its host (HFED_HOST) should be
                     this worker's host label
    kind             "tfrecord" (records), "lines" (text lines) or "bytes" (one element per file)
    cache_dir, cache_bytes   where fetched files go, and the (soft) bound on their total size
    cycle_length     files read at once (1: in order, one after another)
    shuffle_files, seed      reshuffle this worker's file order every epoch
    count_records    count records per file in a background thread (see the module doc)
    """

    def __init__(self, paths_or_globs=None, worker_index: int | None = None, num_workers: int | None = None, *,
                 fs: HfedFileSystem | None = None, kind: str = "tfrecord", worker_hosts: list[str] | None = None,
                 plan: InputPlan | None = None, input_context=None, cache_dir: str | None = None,
                 cache_bytes: int = DEFAULT_CACHE_BYTES, count_records: bool = True, cycle_length: int = 1,
                 shuffle_files: bool = False, seed: int | None = None, imbalance: float = 0.1):
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        if input_context is not None:   # tf.distribute.InputContext: one input pipeline per worker
            worker_index, num_workers = input_context.input_pipeline_id, input_context.num_input_pipelines
        worker_index = 0 if worker_index is None else worker_index
        num_workers = (plan.num_workers if plan else 1) if num_workers is None else num_workers
        check_worker_index(worker_index, num_workers)
        self.fs = fs or HfedFileSystem()
        self.session = self.fs.session
        self.kind = kind
        self.worker_index = worker_index
        if plan is None:
            if paths_or_globs is None:
                raise ValueError("give paths_or_globs or a precomputed plan")
            worker_hosts = self._worker_hosts(worker_hosts, num_workers)
            plan = plan_input(paths_or_globs, worker_hosts, self.fs, imbalance)
        elif plan.num_workers != num_workers:
            raise ValueError(f"the plan is for {plan.num_workers} workers, not {num_workers}")
        self.plan = plan
        self.host = plan.worker_hosts[worker_index] or self.session.host or ""
        if self.session.host and self.host != self.session.host:
            log.warning("worker %d is planned on host %r but its client declares %r; reading as %r",
                        worker_index, self.host, self.session.host, self.host)
        self.files = plan.files_of(worker_index)
        self.cache = BlockCache(cache_dir, cache_bytes, keep_recent=max(2, cycle_length + 1))
        self.count_records = count_records
        self.cycle_length = cycle_length
        self.shuffle_files = shuffle_files
        self.seed = seed
        self.counters = InputCounters()
        self._lock = threading.Lock()
        self._current: tuple[str, str, str] | None = None   # hfed path, namespace, local path being read
        # Records are counted per file off the input path, by a thread walking the file's framing.
        self._counter_thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="hfed-count")
        self._record_counts: set[concurrent.futures.Future] = set()

    def _worker_hosts(self, worker_hosts, num_workers: int) -> list[str]:
        if worker_hosts is None and os.environ.get(WORKER_HOSTS_ENV):
            worker_hosts = os.environ[WORKER_HOSTS_ENV].split(",")
        if worker_hosts is None:
            if num_workers == 1:
                return [self.session.host or ""]
            # Every worker must plan alike, and each knows only its own host: plan without locality.
            log.warning("no worker_hosts (or %s) given: assigning files by size only, without locality",
                        WORKER_HOSTS_ENV)
            return [""] * num_workers
        if len(worker_hosts) != num_workers:
            raise ValueError(f"worker_hosts names {len(worker_hosts)} hosts for {num_workers} workers")
        return list(worker_hosts)

    @property
    def planned_bytes(self) -> int:
        return sum(f.size for f in self.files)

    # ------------------------------------------------------------ the dataset

    def dataset(self) -> "tf.data.Dataset":
        indices = tf.data.Dataset.range(len(self.files))
        if self.shuffle_files:
            indices = indices.shuffle(max(len(self.files), 1), seed=self.seed, reshuffle_each_iteration=True)
        local_paths = indices.map(self._local_path_op)
        if self.kind == "bytes":
            ds = local_paths.map(tf.io.read_file)
        else:
            reader = ((lambda p: tf.data.TFRecordDataset(p, buffer_size=READER_BUFFER)) if self.kind == "tfrecord"
                      else tf.data.TextLineDataset)
            if self.cycle_length == 1:
                ds = local_paths.flat_map(reader)
            else:
                ds = local_paths.interleave(reader, cycle_length=self.cycle_length,
                                            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        options = tf.data.Options()
        # hfed already gave this worker its own files; TF must not shard them again.
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
        return ds.with_options(options)

    def _local_path_op(self, index):
        path = tf.py_function(self._local_path_for, [index], tf.string, name="hfed_local_path")
        path.set_shape([])
        return path

    def counters_now(self) -> InputCounters:
        """A snapshot of the counters, once the record counts of the files handed out so far are in."""
        concurrent.futures.wait(list(self._record_counts))
        with self._lock:
            return dataclasses.replace(self.counters)

    # ------------------------------------------------------------ per file

    def _local_path_for(self, index) -> str:
        return self.local_path(self.files[int(index)])

    def local_path(self, layout: FileLayout) -> str:
        """A local file holding ``layout``'s current bytes: its block file, or a cache copy."""
        located = self.session.block_locations(self.session.resolve(layout.path))   # fresh: replicas may have moved
        local = None
        if (located.layout == pb.BLOCKS and len(located.blocks) == 1
                and located.blocks[0].block.num_bytes == located.file_length):
            local = self._local_block_path(located.blocks[0], layout)
            if local is not None:
                self._count(local_bytes=located.file_length)
        if local is None:
            local = self._cached_copy(layout, located)
        with self._lock:
            self.counters.files += 1
            self._current = (layout.path, layout.nameservice, local)
        if self.count_records:
            self._count_records_later(local)
        return local

    def _count_records_later(self, local: str) -> None:
        fd = os.open(local, os.O_RDONLY)   # opened now: the cache may unlink the file before the count runs
        future = self._counter_thread.submit(self._count_records_in, fd)
        with self._lock:
            self._record_counts = {f for f in self._record_counts if not f.done()} | {future}

    def _count_records_in(self, fd: int) -> None:
        try:
            if self.kind == "bytes":
                records = 1
            elif self.kind == "tfrecord":
                records = tf_records.count_records(fd)
            else:
                records = tf_records.count_lines(fd)
        finally:
            os.close(fd)
        self._count(records=records)

    def _local_block_path(self, located: pb.LocatedBlock, layout: FileLayout) -> str | None:
        """The verified block file of a replica on this host, or None (then the caller fetches)."""
        for dn in located.locations:
            if not self.host or dn.host_label != self.host:
                continue
            try:
                block_path, length = short_circuit_file(self.session.datanodes, dn, located.block, self.host,
                                                        SHORT_CIRCUIT_TIMEOUT, located.token)
            except errors.HfedError as e:
                log.warning("%s [namespace %s]: no short-circuit read from %s (%s); fetching instead",
                            layout.path, layout.nameservice, describe(dn), e)
                return None
            if length >= located.block.num_bytes and os.path.exists(block_path):
                return block_path
        return None

    def _cached_copy(self, layout: FileLayout, located: pb.LocatedBlocks) -> str:
        key = BlockCache.key(layout.nameservice, layout.path, located)
        with self._lock:
            hit = self.cache.lookup(key)
        if hit is not None:
            self._count(cached_bytes=located.file_length)
            return hit
        if located.layout != pb.BLOCKS:   # a small file: the reader serves its range of the container
            with open(self.cache.partial_path(key), "wb") as out, \
                    HfedReader(self.session, self.session.resolve(layout.path)) as f:
                shutil.copyfileobj(f, out, 1 << 20)
            local_container = any(dn.host_label == self.host for lb in located.blocks[:1] for dn in lb.locations)
            self._count(**{"local_bytes" if local_container else "remote_bytes": located.file_length})
            with self._lock:
                return self.cache.commit(key)
        spans = block_spans(list(located.blocks), located.file_length)
        with open(self.cache.partial_path(key), "wb") as out:
            for lb, (start, end) in zip(located.blocks, spans):
                local = self._local_block_path(lb, layout) if any(
                    dn.host_label == self.host for dn in lb.locations) else None
                if local is not None:
                    try:
                        with open(local, "rb") as block_file:
                            shutil.copyfileobj(block_file, out, 1 << 20)   # a block file is the block's bytes
                        self._count(local_bytes=end - start)
                        continue
                    except OSError as e:   # the replica vanished meanwhile: stream this block instead
                        log.warning("%s [namespace %s]: local block file %s unreadable (%s); streaming it",
                                    layout.path, layout.nameservice, local, e)
                        out.seek(start)
                        out.truncate()
                for chunk in iter_block_range(self.session.datanodes, lb, 0, end - start, path=layout.path,
                                              report_bad=self._reporter(layout.nameservice)):
                    out.write(chunk)
                self._count(remote_bytes=end - start)
        with self._lock:
            return self.cache.commit(key)

    def _reporter(self, nameservice: str):
        return lambda block, dn, token: self.session.report_bad_replica(nameservice, block, dn.uuid, token)

    def _count(self, **amounts: int) -> None:
        with self._lock:
            for name, amount in amounts.items():
                setattr(self.counters, name, getattr(self.counters, name) + amount)

    # ------------------------------------------------------------ errors

    @contextlib.contextmanager
    def errors_named(self):
        """Re-raise TensorFlow's "corrupted record at N" naming the hfed file it came from.

        TensorFlow's reader names only the offset. With cycle_length=1 the file
        being read is the last one this worker resolved."""
        try:
            yield
        except tf.errors.DataLossError as e:
            current = self._current
            if current is None:
                raise
            path, ns, local = current
            raise tf.errors.DataLossError(e.node_def, e.op, f"{e.message.strip()} in hfed file {path} "
                                          f"[namespace {ns}] (read from {local})") from e


def hfed_dataset(paths_or_globs=None, worker_index: int | None = None, num_workers: int | None = None,
                 **options) -> "tf.data.Dataset":
    """One worker's share of the files as a tf.data.Dataset (see HfedInput for the options).

    The HfedInput that built it, with its counters, is the dataset's ``hfed_input``."""
    source = HfedInput(paths_or_globs, worker_index, num_workers, **options)
    ds = source.dataset()
    ds.hfed_input = source
    return ds
