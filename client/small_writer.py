"""Small files straight to DataNodes: one open staging container per namespace per client.

A small file becomes an entry (protos/small_entry.py) appended to the
client's staging container, a block held open on a normal DataNode pipeline.
Once every replica has acknowledged the entry (flush, as HDFS's hflush), the
file is committed to its NameNode as (container, offset, length, crc): the
NameNode never sees the bytes.

Writers of one client share the container and work in two stages that run
side by side: a *flush* round (whoever finds none running leads it) pushes
every entry appended so far and waits for the replicas' acks; a *commit* round
sends every acknowledged entry to the NameNode in one Batch call (up to
MAX_BATCH per call). While one round's commit waits for the NameNode, the
next round's flush already waits for the DataNodes. Each stage runs one round
at a time and entries move through them in order, so commits reach the
NameNode in offset order, which is what it checks.

A container is closed when the next entry does not fit (max_bytes), after
CONTAINER_IDLE seconds without writes, or when the filesystem is closed;
the NameNode's packer then has a DataNode rewrite it compressed. If the
pipeline breaks, the container is closed at the end of its last committed
entry (the DataNodes keep what they acknowledged) and the entries not yet
committed are written again into a new one.
"""
from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from dataclasses import dataclass, field

from client.datanode_client import BlockWriter, DatanodePool, PipelineFailed
from client.failed_datanodes import FailedDatanodes
from client.namenode_client import NamenodeClient
from protos import errors, small_entry
from protos import hfed_pb2 as pb
from protos.checksum import BYTES_PER_CHECKSUM

log = logging.getLogger(__name__)

CONTAINER_IDLE = 5.0        # seconds without writes before the container is closed (so it can be packed)
RENEW_INTERVAL = 5.0        # lease renewal and closing of retired containers
PIPELINE_RETRIES = 3
CLOSE_TIMEOUT = 60.0        # session.close() waits this long for DataNodes to report a closed container


@dataclass
class _Entry:
    request: pb.CommitSmallRequest   # container_block_id and offset filled in when appended
    entry: bytes
    done: threading.Event = field(default_factory=threading.Event)
    error: Exception | None = None
    attempts: int = 0                # pipelines that broke under it


class _Container:
    """One open staging container: its pipeline and how far it is written and committed."""

    def __init__(self, reply: pb.OpenContainerResponse, writer: BlockWriter):
        self.path, self.located, self.max_bytes = reply.path, reply.block, reply.max_bytes
        self.writer = writer
        self.end = 0                 # bytes appended
        self.committed_end = 0       # end of the last committed entry
        self.broken = False
        self.closed_by_namenode = False   # a subtree move closed it: nothing left for us to complete
        self.used_at = time.monotonic()

    @property
    def block_id(self) -> int:
        return self.located.block.block_id


class SmallFileWriter:
    """Appends small files of one namespace to this client's staging container and commits them."""

    def __init__(self, namenode: NamenodeClient, datanodes: DatanodePool, client_name: str, client_host: str,
                 failed_datanodes: FailedDatanodes):
        self.nn, self.nameservice = namenode, namenode.nameservice
        self.datanodes, self.client_name, self.client_host = datanodes, client_name, client_host
        self.failed_datanodes = failed_datanodes
        self._lock = threading.Lock()          # container, entry queues, the stage flags
        self._round_done = threading.Condition(self._lock)
        self._flushing = self._committing = False
        self._container: _Container | None = None
        self._pending: list[tuple[_Container, _Entry]] = []   # appended, not yet acknowledged
        self._acked: list[tuple[_Container, _Entry]] = []     # acknowledged by every replica, not yet committed
        self._retired: list[_Container] = []  # full, idle or broken containers waiting to be closed
        self._stop = threading.Event()
        self._closed = False
        self._ticker = threading.Thread(target=self._tick, name=f"small-{self.nameservice}", daemon=True)
        self._ticker.start()
        atexit.register(_close_at_exit, weakref.ref(self))

    # --------------------------------------------------------------- writing
    def write(self, requests: list[pb.CommitSmallRequest], payloads: list[bytes]) -> list[Exception | None]:
        """Append each payload as an entry and commit it with its request (path, create or
        archive options already set). One result per file: None, or why it failed."""
        entries = []
        for request, data in zip(requests, payloads):
            request.client_name = self.client_name
            request.length = len(data)
            request.crc32c = small_entry.crc32c(data)
            entries.append(_Entry(request, small_entry.encode(data, align=BYTES_PER_CHECKSUM, crc=request.crc32c)))
        with self._lock:
            if self._closed:
                raise errors.InvalidArgument(f"the small-file writer of namespace {self.nameservice} is closed")
            for entry in entries:
                self._append(entry)
            # Two stages run side by side, each led by one writer at a time: a flush of what
            # was appended, and a commit of what the DataNodes acknowledged before. Commits
            # leave in acknowledgement order, which within a container is offset order.
            while not all(e.done.is_set() for e in entries):
                if self._pending and not self._flushing:
                    self._flush_round()
                elif self._acked and not self._committing:
                    self._commit_round()
                else:
                    self._round_done.wait()
        return [entry.error for entry in entries]

    def _append(self, entry: _Entry) -> None:
        """Send one entry down the open container (opening one if needed); lock held.
        A failure to open one fails the entry."""
        container = self._container
        if container is not None and container.end + len(entry.entry) > container.max_bytes:
            self._retire(container)
            container = None
        try:
            if container is None:
                container = self._container = self._open()
        except errors.HfedError as e:
            entry.error = e
            entry.done.set()
            return
        entry.request.container_block_id, entry.request.offset = container.block_id, container.end
        container.end += len(entry.entry)
        container.used_at = time.monotonic()
        self._pending.append((container, entry))
        try:
            container.writer.write(entry.entry)
        except PipelineFailed as e:
            self._broken(container, e)      # the entry stays pending: its round writes it again

    def _open(self) -> _Container:
        excluded = self.failed_datanodes.recent()
        reply = self.nn.open_container(self.client_name, self.client_host, sorted(excluded))
        writer = BlockWriter(self.datanodes, reply.block, self.client_name, reply.path, keep_partial=True)
        return _Container(reply, writer)

    def _flush_round(self) -> None:
        """Push every appended entry down its pipeline and wait for every replica's ack;
        acknowledged entries join the commit queue in order, those of a broken pipeline
        are written again into a new container. Lock held; released while waiting."""
        self._flushing = True
        try:
            todo, self._pending = self._pending, []
            pushed, lost = {}, []
            for container in dict.fromkeys(c for c, _ in todo):
                try:
                    pushed[container] = container.writer.push()
                except PipelineFailed as e:
                    self._broken(container, e)
            self._lock.release()
            try:
                for container, seqno in pushed.items():
                    try:
                        container.writer.wait_acked(seqno)
                    except PipelineFailed as e:
                        lost.append((container, e))
            finally:
                self._lock.acquire()
            broken = {c for c, _ in lost}
            for container, error in lost:
                self._broken(container, error)
            for container, entry in todo:
                if container in pushed and container not in broken:
                    self._acked.append((container, entry))
                else:
                    self._retry(entry)
        finally:
            self._flushing = False
            self._round_done.notify_all()

    def _commit_round(self) -> None:
        """Commit every acknowledged entry, in order (one Batch call per MAX_BATCH).
        Lock held; released while the NameNode answers, so the next flush runs meanwhile."""
        self._committing = True
        try:
            todo, self._acked = self._acked, []
            self._lock.release()
            reopen = []
            try:
                reopen = self._commit(todo)
            finally:
                self._lock.acquire()
            for container, entry, error in reopen:     # its container was closed under it: write it again
                self._closed_under_us(container, error)
                entry.request.ClearField("container_block_id")
                self._retry(entry)
        finally:
            self._committing = False
            self._round_done.notify_all()

    def _retry(self, entry: _Entry) -> None:
        """An entry whose pipeline broke before every replica acknowledged it: write it again."""
        entry.attempts += 1
        if entry.attempts > PIPELINE_RETRIES:
            entry.error = errors.Unavailable(f"writing {entry.request.path}: the staging container pipeline "
                                             f"failed {entry.attempts} times", entry.request.path)
            entry.done.set()
        else:
            self._append(entry)

    def _commit(self, todo: list[tuple[_Container, _Entry]]) -> list:
        """Commit ``todo``; returns (container, entry, error) of the entries whose container the
        NameNode closed under them (LeaseConflict), which the caller writes again elsewhere."""
        reopen = []
        if len(todo) == 1:
            container, entry = todo[0]
            try:
                self.nn.commit_small(entry.request)
            except errors.LeaseConflict as e:
                return [(container, entry, e)]
            except errors.HfedError as e:
                entry.error = e
            self._committed(container, entry)
            return reopen
        for start in range(0, len(todo), pb.MAX_BATCH):
            chunk = todo[start:start + pb.MAX_BATCH]
            try:
                replies = self.nn.batch([pb.BatchEntry(commit_small=e.request) for _, e in chunk])
            except errors.HfedError as error:
                replies = [error] * len(chunk)
            for (container, entry), reply in zip(chunk, replies):
                if isinstance(reply, errors.LeaseConflict):
                    reopen.append((container, entry, reply))
                    continue
                if isinstance(reply, Exception):
                    entry.error = reply
                self._committed(container, entry)
        return reopen

    @staticmethod
    def _committed(container: _Container, entry: _Entry) -> None:
        if entry.error is None:
            container.committed_end = entry.request.offset + len(entry.entry)
        entry.done.set()

    # ----------------------------------------------------------- containers
    def _broken(self, container: _Container, error: PipelineFailed) -> None:
        if container.broken:
            return
        log.warning("staging container %s (namespace %s): %s; closing it at %d committed bytes",
                    container.path, self.nameservice, error, container.committed_end)
        self.failed_datanodes.note(error.failed_uuid)
        container.broken = True
        container.writer.abort()
        self._retire(container)

    def _closed_under_us(self, container: _Container, error: errors.HfedError) -> None:
        """The NameNode closed this container (its lease recovered, e.g. for a subtree move):
        stop its pipeline, keep what was committed, open a new one for what comes next."""
        if container.closed_by_namenode:
            return
        log.info("staging container %s (namespace %s) was closed by the NameNode (%s); writing on in a new one",
                 container.path, self.nameservice, error)
        container.closed_by_namenode = container.broken = True
        container.writer.abort()
        self._retire(container)

    def _retire(self, container: _Container) -> None:
        if self._container is container:
            self._container = None
        if container not in self._retired:
            self._retired.append(container)

    def _close_retired(self, wait: bool) -> None:
        """Complete retired containers with no entry waiting (lock held, no round running)."""
        busy = {c for c, _ in self._pending + self._acked}
        for container in [c for c in self._retired if c not in busy]:
            try:
                if self._close_container(container, wait):
                    self._retired.remove(container)
            except errors.HfedError as e:
                log.warning("closing staging container %s (namespace %s) failed: %s", container.path,
                            self.nameservice, e)
                self._retired.remove(container)   # the NameNode recovers it when the lease expires

    def _close_container(self, container: _Container, wait: bool) -> bool:
        """Finish the pipeline (if still whole) and Complete the container; False while no
        DataNode has reported it yet (try again later). A broken one ends at its last
        committed entry: the DataNodes kept at least that much."""
        if container.closed_by_namenode:
            return True
        if not container.broken and not container.writer.finished:
            try:
                container.writer.close()
            except PipelineFailed as e:
                self._broken(container, e)
        length = container.committed_end if container.broken else container.writer.offset
        last = pb.Block(pool_id=container.located.block.pool_id, block_id=container.block_id,
                        generation_stamp=container.located.block.generation_stamp, num_bytes=length)
        deadline = time.monotonic() + (CLOSE_TIMEOUT if wait else 0)
        while True:
            if self.nn.complete(container.path, self.client_name, last):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def _tick(self) -> None:
        """Renew the lease; close idle and retired containers."""
        while not self._stop.wait(min(RENEW_INTERVAL, CONTAINER_IDLE) / 2):
            with self._lock:
                if self._flushing or self._committing or self._closed:
                    continue
                container = self._container
                if container is not None and not self._pending and not self._acked \
                        and time.monotonic() - container.used_at > CONTAINER_IDLE:
                    self._retire(container)
                if self._container is not None or self._retired:
                    try:
                        self.nn.renew_lease(self.client_name)
                        self._close_retired(wait=False)
                    except errors.HfedError as e:
                        log.warning("namespace %s: staging container upkeep failed: %s", self.nameservice, e)

    def close(self) -> None:
        """Close every container (waiting for the DataNodes' reports); entries were committed already."""
        self._stop.set()
        with self._lock:
            while self._flushing or self._committing:
                self._round_done.wait()
            if self._closed:
                return
            self._closed = True
            if self._container is not None:
                self._retire(self._container)
            self._close_retired(wait=True)


def _close_at_exit(ref) -> None:
    writer = ref()
    if writer is not None:
        try:
            writer.close()
        except Exception as e:  # noqa: BLE001 - at exit, a NameNode may already be gone
            log.debug("closing small-file writer at exit: %s", e)
