"""tf.data input from hfed, reading the blocks on the trainer's own host.

    from client.tf_adapter import hfed_dataset
    ds = hfed_dataset("/data/digits/train-*.tfrecord", worker_index=i, num_workers=3,
                      worker_hosts=["host-1", "host-2", "host-3"])

How one worker's share is read (files are planned by client/tf_assign.py):
- a single-block file with a replica on this worker's host: the DataNode
  checks that replica's checksums and hands out its block file path, and
  TensorFlow's own reader (TFRecordDataset / TextLineDataset / read_file)
  reads that file. No Python runs per record; Python runs once per file, to
  hand out the path. What that costs is kept off the per-file path: an epoch's
  block locations are looked up at its start (one NameNode call per namespace),
  a DataNode's short-circuit answer is reused for minutes (as HDFS's client keeps
  its short-circuit descriptors), and a file read every epoch is counted once.
  The dataset is one map over the file indices and TensorFlow's reader over its
  paths: each tf.data function costs every epoch's iterator milliseconds.
- any other file (no local replica, several blocks, a local DataNode that is
  down): its blocks are copied into a bounded local cache directory, local
  blocks from their block files and the others streamed from the remaining
  replicas through the client library (checksummed, falling back replica by
  replica), then read natively from the cache. Nothing is skipped: a file
  that cannot be read fails the epoch with an error naming it.

Counters (per worker, `HfedInput.counters` in all, `epoch_counters()` per
epoch): bytes handed to the reader from local block files, bytes that came
over the network, bytes served again from the cache, files opened and
records produced. Bytes are counted per whole file when it is handed to the
reader, and so are records: a background thread walks each handed-out file's
TFRecord length fields (or counts its lines) off the input path; with exact
epochs the plan's counts are used. An epoch stopped early over-counts both.
(A tf op counting each record, or even each batch, cost 10-50% of the
throughput here.) An epoch ends when its last file has been handed to the
reader: one index past the last file closes it, once per epoch, so no Python
runs per record; with HFED_JOB_DIR set the epoch's counters are then written
to $HFED_JOB_DIR/worker-<index>.json.

Exact epochs (``exact_epochs="pad"`` or ``"drop"``): the plan carries every
file's record count, and tf_assign.epoch_shares gives every worker ranges of
records (its own files first; the surplus of a worker above an even share is
read, from the same file, by one below it) so that every worker yields the
same number of elements. A range is read natively: TFRecordDataset(file)
.skip(start).take(count).
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import json
import logging
import os
import shutil
import tempfile
import threading
import time

try:
    import tensorflow as tf
except ImportError as e:  # the core installs without TensorFlow
    raise ImportError("client.tf_adapter needs TensorFlow: install the extra with "
                      "`pip install -e '.[tf]'` (or `pip install tensorflow-cpu`)") from e

from client.datanode_client import describe, iter_block_range, short_circuit_file
from client.fs import HfedFileSystem
from client.streams import HfedReader, block_spans
from client.tf_assign import REMAINDERS, FileLayout, InputPlan, check_worker_index, epoch_shares, steps_per_epoch
from client.tf_cache import BlockCache, RecordCounts, ReplicaPaths
from client.tf_plan import KINDS, expand_paths, file_layout, plan_input   # noqa: F401 (this module's API)
from client import tf_records
from protos import errors
from protos import hfed_pb2 as pb

log = logging.getLogger(__name__)

DEFAULT_CACHE_BYTES = 2 << 30
READER_BUFFER = 1 << 20      # TFRecordDataset read buffer
SHORT_CIRCUIT_TIMEOUT = 30.0
WORKER_HOSTS_ENV = "HFED_WORKER_HOSTS"
INPUT_PLAN_ENV = "HFED_INPUT_PLAN"   # path of an InputPlan JSON file (InputPlan.to_json), e.g. from a launcher
JOB_DIR_ENV = "HFED_JOB_DIR"         # each worker writes its per-epoch counters there as worker-<index>.json
END_OF_EPOCH = -1                    # the file index that closes an epoch (after the last file)
START_OF_EPOCH = -2                  # the file index that opens one (a pass left unfinished is not an epoch)
NO_RECORDS = os.devnull              # what those two indices map to: every reader reads it as nothing


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
    exact_epochs     None, "pad" or "drop": every worker gets the same number of elements
                     per epoch and every record is read once per epoch across workers
                     (tf_assign.epoch_shares); the plan must carry record counts (counted
                     when this makes the plan). With "pad" elements are (record, weight):
                     weight 1.0, and 0.0 for the padding element some workers end with.
    Without ``plan`` and paths, the plan in the file named by env HFED_INPUT_PLAN (a
    launcher's) is used; only an input with that plan writes the job's counter file.
    """

    def __init__(self, paths_or_globs=None, worker_index: int | None = None, num_workers: int | None = None, *,
                 fs: HfedFileSystem | None = None, kind: str = "tfrecord", worker_hosts: list[str] | None = None,
                 plan: InputPlan | None = None, input_context=None, cache_dir: str | None = None,
                 cache_bytes: int = DEFAULT_CACHE_BYTES, count_records: bool = True, cycle_length: int = 1,
                 shuffle_files: bool = False, seed: int | None = None, imbalance: float = 0.1,
                 exact_epochs: str | None = None, record_counts: dict[str, int] | None = None):
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        if exact_epochs is not None and exact_epochs not in REMAINDERS:   # before any file is counted
            raise ValueError(f"exact_epochs must be None or one of {', '.join(REMAINDERS)}, got {exact_epochs!r}")
        job_plan = load_plan(os.environ[INPUT_PLAN_ENV]) if os.environ.get(INPUT_PLAN_ENV) else None
        if plan is None and paths_or_globs is None:
            plan = job_plan
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
            plan = plan_input(paths_or_globs, worker_hosts, self.fs, imbalance, kind=kind,
                              count_records=exact_epochs is not None, record_counts=record_counts)
        elif plan.num_workers != num_workers:
            raise ValueError(f"the plan is for {plan.num_workers} workers, not {num_workers}")
        self.plan = plan
        self.host = plan.worker_hosts[worker_index] or self.session.host or ""
        if self.session.host and self.host != self.session.host:
            log.warning("worker %d is planned on host %r but its client declares %r; reading as %r",
                        worker_index, self.host, self.session.host, self.host)
        self.files = plan.files_of(worker_index)
        self.exact_epochs = exact_epochs
        # Exact epochs: this worker's record ranges (some of other workers' files) and padding.
        self.share = epoch_shares(plan, exact_epochs)[worker_index] if exact_epochs is not None else None
        self.cache = BlockCache(cache_dir, cache_bytes, keep_recent=max(2, cycle_length + 1))
        self.count_records = count_records
        self.cycle_length = cycle_length
        self.shuffle_files = shuffle_files
        self.seed = seed
        self.counters = InputCounters()            # since this object was made
        self._epoch = InputCounters()              # the epoch being read
        self._epochs: list[dict] = []              # finished epochs, oldest first
        self._remote_warned: set[str] = set()      # files already logged as read remotely
        self._lock = threading.Lock()
        self._handed: list[tuple[str, str, str]] = []   # this epoch's files so far: hfed path, namespace, local path
        # Records are counted per file off the input path, by a thread walking the file's framing.
        self._counter_thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="hfed-count")
        self._record_counts: set[concurrent.futures.Future] = set()
        self._known_counts = RecordCounts()        # a file read every epoch is counted once
        self._replica_paths = ReplicaPaths()       # short-circuit answers, reused across epochs
        # Where this epoch's files are: looked up at its start, one call per namespace.
        read = ({s.file for s in self.share.segments} if self.share is not None
                else plan.indices_of(worker_index))
        self._epoch_paths = [plan.files[i].path for i in sorted(read)]
        self._located: dict[str, pb.LocatedBlocks] = {}
        # Only the job's own input (its plan is the launcher's) reports epochs to the job:
        # another input of the same script (an evaluation set) must not overwrite them.
        job_input = job_plan is None or plan.digest() == job_plan.digest()
        self.job_file = (os.path.join(os.environ[JOB_DIR_ENV], f"worker-{worker_index}.json")
                         if os.environ.get(JOB_DIR_ENV) and job_input else None)

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

    @property
    def elements_per_epoch(self) -> int | None:
        """Elements every worker's dataset yields per epoch with exact_epochs (else None)."""
        return self.share.elements if self.share else None

    def steps_per_epoch(self, batch_size: int, drop_remainder: bool = False) -> int:
        """Batches per epoch, the same on every worker (exact_epochs only), e.g. for Keras fit()."""
        if self.share is None:
            raise ValueError("steps_per_epoch needs exact_epochs: without it workers' shares differ")
        return steps_per_epoch(self.share.elements, batch_size, drop_remainder)

    # ------------------------------------------------------------ the dataset

    # Built without autograph: the functions below are plain TensorFlow, and autograph would re-read
    # this module's source to convert them (an edited file then builds the wrong function).
    @tf.autograph.experimental.do_not_convert
    def dataset(self) -> "tf.data.Dataset":
        if self.share is not None:
            return self._exact_dataset()
        mine = self.plan.indices_of(self.worker_index)
        indices = tf.data.Dataset.from_tensor_slices(tf.constant(mine, tf.int64, shape=[len(mine)]))
        if self.shuffle_files:
            indices = indices.shuffle(max(len(mine), 1), seed=self.seed, reshuffle_each_iteration=True)
        # A first and a last index open and close the epoch (block locations, counters); both map to
        # NO_RECORDS, which the reader reads as nothing. One map and no filter: every tf.data
        # function costs each epoch's new iterator 2-5 ms to instantiate (~3% of a 16 MiB epoch each).
        indices = (tf.data.Dataset.from_tensors(tf.constant(START_OF_EPOCH, tf.int64)).concatenate(indices)
                   .concatenate(tf.data.Dataset.from_tensors(tf.constant(END_OF_EPOCH, tf.int64))))
        local_paths = indices.map(lambda i: self._local_path_op(i, tf.constant(-1, tf.int64)))
        if self.kind == "bytes":   # one element per file: the markers' NO_RECORDS is not one
            return self._finish(local_paths.filter(lambda p: p != NO_RECORDS).map(tf.io.read_file))
        # The reader takes the dataset of paths itself: one flat_map over the files. (A reader made
        # per path inside our own flat_map nests a second one: ~15% of the throughput at 1 KiB records.)
        parallel = None if self.cycle_length == 1 else self.cycle_length   # deterministic either way
        if self.kind == "tfrecord":
            ds = tf.data.TFRecordDataset(local_paths, buffer_size=READER_BUFFER, num_parallel_reads=parallel)
        else:
            ds = tf.data.TextLineDataset(local_paths, num_parallel_reads=parallel)
        return self._finish(ds)

    def _exact_dataset(self) -> "tf.data.Dataset":
        """This worker's record ranges, then its padding: the same element count on every worker."""
        segments = self.share.segments
        ranges = tf.data.Dataset.from_tensor_slices(tuple(
            tf.constant([getattr(s, name) for s in segments], tf.int64, shape=[len(segments)])
            for name in ("file", "start", "stop")))
        if self.shuffle_files:
            ranges = ranges.shuffle(max(len(segments), 1), seed=self.seed, reshuffle_each_iteration=True)
        start, end = tf.constant(START_OF_EPOCH, tf.int64), tf.constant(END_OF_EPOCH, tf.int64)
        ranges = (tf.data.Dataset.from_tensors((start, start, start)).concatenate(ranges)
                  .concatenate(tf.data.Dataset.from_tensors((end, end, end))))
        opened = ranges.map(lambda f, start, stop: (self._local_path_op(f, stop - start), start, stop))
        opened = opened.filter(lambda path, start, stop: path != NO_RECORDS)

        def records(path, start, stop):
            return self._reader(path).skip(start).take(stop - start)
        if self.cycle_length == 1:
            ds = opened.flat_map(records)
        else:
            ds = opened.interleave(records, cycle_length=self.cycle_length,
                                   num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        if self.exact_epochs == "pad":
            ds = ds.map(lambda r: (r, tf.constant(1.0)))
            if self.share.padding:
                # A real record (so the user's parsing works) with weight 0: it changes no loss.
                pad_file = (segments[0].file if segments
                            else next(i for i, f in enumerate(self.plan.files) if f.records))
                padding = tf.data.Dataset.from_tensors(tf.constant(pad_file, tf.int64)).map(self._padding_path_op)
                ds = ds.concatenate(padding.flat_map(self._reader).take(1).map(lambda r: (r, tf.constant(0.0)))
                                    .repeat(self.share.padding))
        # Known length: Keras and tf.distribute see the steps per epoch without a first pass.
        return self._finish(ds.apply(tf.data.experimental.assert_cardinality(self.share.elements)))

    def _reader(self, path) -> "tf.data.Dataset":
        if self.kind == "tfrecord":
            return tf.data.TFRecordDataset(path, buffer_size=READER_BUFFER)
        if self.kind == "lines":
            return tf.data.TextLineDataset(path)
        return tf.data.Dataset.from_tensors(path).map(tf.io.read_file)

    @staticmethod
    def _finish(ds: "tf.data.Dataset") -> "tf.data.Dataset":
        options = tf.data.Options()
        # hfed already gave this worker its own files; TF must not shard them again.
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
        return ds.with_options(options)

    def _local_path_op(self, index, records):
        path = tf.py_function(self._local_path_for, [index, records], tf.string, name="hfed_local_path")
        path.set_shape([])
        return path

    def _padding_path_op(self, index):
        path = tf.py_function(self._padding_path_for, [index], tf.string, name="hfed_padding_path")
        path.set_shape([])
        return path

    def counters_now(self) -> InputCounters:
        """A snapshot of the counters, once the record counts of the files handed out so far are in."""
        self._settle()
        with self._lock:
            return dataclasses.replace(self.counters)

    def epoch_counters(self) -> list[dict]:
        """One dict per finished epoch: {"epoch": n (from 1), local_bytes, remote_bytes,
        cached_bytes, files, records}. An epoch finishes when the dataset is read to its end."""
        self._settle()
        with self._lock:
            return [dict(e) for e in self._epochs]

    def current_epoch_counters(self) -> dict:
        """The epoch being read (or the next one, before its first file), as epoch_counters."""
        self._settle()
        with self._lock:
            return {"epoch": len(self._epochs) + 1, **self._epoch.as_dict()}

    def _settle(self) -> None:
        concurrent.futures.wait(list(self._record_counts))

    def _start_epoch(self) -> None:
        with self._lock:
            if self._epoch != InputCounters():
                # An iterator dropped before the end (e.g. a look-ahead by Keras): its reads stay
                # in the running totals, but the epoch starts afresh.
                log.debug("worker %d: a pass over the input stopped early: %s", self.worker_index, self._epoch)
                self._epoch = InputCounters()
            self._handed = []
        # A file whose lookup failed here is looked up alone when its turn comes (and its error raised then).
        found = self.fs.locations_many(self._epoch_paths) if self._epoch_paths else []
        with self._lock:
            self._located = {path: located for path, located in zip(self._epoch_paths, found)
                             if not isinstance(located, Exception)}

    def _end_epoch(self) -> None:
        with self._lock:
            finished, self._epoch = self._epoch, InputCounters()
            self._located = {}
        # Queued behind this epoch's record counts on the same single thread, so they are in.
        self._later(self._close_epoch, finished)

    def _close_epoch(self, finished: InputCounters) -> None:
        with self._lock:
            self._epochs.append({"epoch": len(self._epochs) + 1, **finished.as_dict()})
            epochs = [dict(e) for e in self._epochs]
        if self.job_file:
            write_json_atomically(self.job_file, {"worker": self.worker_index, "epochs": epochs})

    def _later(self, fn, *args) -> None:
        future = self._counter_thread.submit(fn, *args)
        with self._lock:
            self._record_counts = {f for f in self._record_counts if not f.done()} | {future}

    # ------------------------------------------------------------ per file

    def _local_path_for(self, index, records) -> str:
        if int(index) == END_OF_EPOCH:
            self._end_epoch()
            return NO_RECORDS
        if int(index) == START_OF_EPOCH:
            self._start_epoch()
            return NO_RECORDS
        return self.local_path(self.plan.files[int(index)], int(records))

    def _padding_path_for(self, index) -> str:
        """The padding element's file: read like any other, but not counted as read input."""
        layout = self.plan.files[int(index)]
        return self._block_or_cached_path(layout, self._locations(layout), count=False)

    def _locations(self, layout: FileLayout) -> pb.LocatedBlocks:
        """The file's blocks as looked up at this epoch's start, else (outside an epoch) now."""
        with self._lock:
            located = self._located.get(layout.path)
        return located or self.session.block_locations(self.session.resolve(layout.path))

    def local_path(self, layout: FileLayout, records: int = -1) -> str:
        """A local file holding ``layout``'s current bytes: its block file, or a cache copy.
        ``records``: how many of its records will be read, when known (exact epochs)."""
        local = self._block_or_cached_path(layout, self._locations(layout))
        self._count(files=1)
        with self._lock:
            self._handed.append((layout.path, layout.nameservice, local))
        if records >= 0:
            self._count(records=records)
        elif self.count_records:
            known = self._known_counts.lookup(local)
            if known is not None:
                self._count(records=known)
            else:
                fd = os.open(local, os.O_RDONLY)   # opened now: the cache may unlink the file before the count runs
                self._later(self._count_records_in, fd, self._epoch)
        return local

    def _block_or_cached_path(self, layout: FileLayout, located: pb.LocatedBlocks, count: bool = True) -> str:
        if (located.layout == pb.BLOCKS and len(located.blocks) == 1
                and located.blocks[0].block.num_bytes == located.file_length):
            local = self._local_block_path(located.blocks[0], layout)
            if local is not None:
                if count:
                    self._count(local_bytes=located.file_length)
                return local
        self._warn_remote_once(layout, located)
        return self._cached_copy(layout, located, count)

    def _warn_remote_once(self, layout: FileLayout, located: pb.LocatedBlocks) -> None:
        """Name, once per file, a file whose bytes come over the network, and why."""
        if layout.path in self._remote_warned:
            return
        blocks = list(located.blocks) if located.layout == pb.BLOCKS else list(located.blocks[:1])
        elsewhere = [i for i, lb in enumerate(blocks) if not any(dn.host_label == self.host for dn in lb.locations)]
        if not elsewhere:
            return   # local replicas exist (a short-circuit failure is logged where it happens)
        self._remote_warned.add(layout.path)
        hosts = sorted({dn.host_label for i in elsewhere for dn in blocks[i].locations})
        why = ("this worker declares no host label (HFED_HOST)" if not self.host else
               f"no replica on this worker's host {self.host!r} of {len(elsewhere)} of its {len(blocks)} "
               f"block(s) (replicas on: {', '.join(hosts) or 'none'})")
        log.warning("worker %d reads %s [namespace %s] remotely: %s", self.worker_index, layout.path,
                    layout.nameservice, why)

    def _count_records_in(self, fd: int, epoch: InputCounters) -> None:
        try:
            st = os.fstat(fd)
            if self.kind == "bytes":
                records = 1
            elif self.kind == "tfrecord":
                records = tf_records.count_records(fd)
            else:
                records = tf_records.count_lines(fd)
        finally:
            os.close(fd)
        with self._lock:
            self._known_counts.remember(st, records)
        self._count(epoch, records=records)

    def _local_block_path(self, located: pb.LocatedBlock, layout: FileLayout) -> str | None:
        """The verified block file of a replica on this host, or None (then the caller fetches)."""
        for dn in located.locations:
            if not self.host or dn.host_label != self.host:
                continue
            key, now = ReplicaPaths.key(dn.uuid, located.block), time.monotonic()
            with self._lock:
                known = self._replica_paths.lookup(key, now)
            try:
                block_path, length = known or short_circuit_file(
                    self.session.datanodes, dn, located.block, self.host, SHORT_CIRCUIT_TIMEOUT, located.token)
            except errors.HfedError as e:
                log.warning("%s [namespace %s]: no short-circuit read from %s (%s); fetching instead",
                            layout.path, layout.nameservice, describe(dn), e)
                return None
            if known is None:
                with self._lock:
                    self._replica_paths.remember(key, block_path, length, now)
            if length >= located.block.num_bytes and os.path.exists(block_path):
                return block_path
        return None

    def _cached_copy(self, layout: FileLayout, located: pb.LocatedBlocks, count: bool = True) -> str:
        key = BlockCache.key(layout.nameservice, layout.path, located)
        with self._lock:
            hit = self.cache.lookup(key)
        if hit is not None:
            if count:
                self._count(cached_bytes=located.file_length)
            return hit
        if not count:   # the padding file, not in the cache: fetch it, counted, as the next epoch would
            return self._cached_copy(layout, located)
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

    def _count(self, epoch: InputCounters | None = None, **amounts: int) -> None:
        """Add to the running totals and to ``epoch`` (default: the epoch being read)."""
        with self._lock:
            for counters in (self.counters, epoch or self._epoch):
                for name, amount in amounts.items():
                    setattr(counters, name, getattr(counters, name) + amount)

    # ------------------------------------------------------------ errors

    @contextlib.contextmanager
    def errors_named(self):
        """Re-raise TensorFlow's "corrupted record at N" naming the hfed file it came from.

        TensorFlow's reader names only the offset: of this epoch's files handed out so far,
        the one named is the last whose own reading fails the same way (each is re-read)."""
        try:
            yield
        except tf.errors.DataLossError as e:
            with self._lock:
                handed = list(self._handed)
            culprit = next((f for f in reversed(handed) if len(handed) == 1 or self._fails_to_read(f[2])), None)
            if culprit is None:
                raise
            path, ns, local = culprit
            raise tf.errors.DataLossError(e.node_def, e.op, f"{e.message.strip()} in hfed file {path} "
                                          f"[namespace {ns}] (read from {local})") from e

    def _fails_to_read(self, local: str) -> bool:
        try:
            for _ in self._reader(local):
                pass
        except tf.errors.DataLossError:
            return True
        return False


def hfed_dataset(paths_or_globs=None, worker_index: int | None = None, num_workers: int | None = None,
                 **options) -> "tf.data.Dataset":
    """One worker's share of the files as a tf.data.Dataset (see HfedInput for the options).

    The HfedInput that built it, with its counters, is the dataset's ``hfed_input``."""
    source = HfedInput(paths_or_globs, worker_index, num_workers, **options)
    ds = source.dataset()
    ds.hfed_input = source
    return ds


def load_plan(path: str) -> InputPlan:
    """An InputPlan from a JSON file (InputPlan.to_json), with an error naming the file."""
    try:
        with open(path, encoding="utf-8") as f:
            return InputPlan.from_json(f.read())
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"input plan {path} (from {INPUT_PLAN_ENV}) is unreadable: {e}") from e


def write_json_atomically(path: str, document: dict) -> None:
    """Readers see the old file or the new one, never half of one."""
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    fd, partial = tempfile.mkstemp(prefix=".worker-", suffix=".json.part", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(document, f, indent=1, sort_keys=True)
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
        raise
