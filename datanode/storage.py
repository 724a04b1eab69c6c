"""Replicas on a DataNode's disk: one block pool per namespace. No network here.

Layout under data_dir:

    VERSION                                  JSON: this DataNode's uuid and host label
    <pool_id>/finalized/blk_<id>             block data
    <pool_id>/finalized/blk_<id>_<gs>.meta   protos.checksum header + big-endian CRC32C per chunk
    <pool_id>/rbw/blk_<id>, blk_<id>_<gs>.meta   replicas being written

A replica may share its files with one in another pool (hard links made when a
subtree moved between namespaces, datanode/linking.py): space is counted once per
file, not per name, and removing a name gives space back only when it was the last.

At start the finalized replicas are scanned back into memory. A replica left
in rbw/ by a crash is cut to its checksum-verified prefix (recovery.py) and
finalized at that length, so it is reported like any other: the NameNode keeps
it as a candidate for a block still being written and deletes it when a
committed block's length differs. One with nothing verifiable is discarded.
"""
from __future__ import annotations

import asyncio
import errno
import fcntl
import json
import logging
import os
import re
import shutil
import threading
import uuid as uuid_lib
from dataclasses import dataclass

import psutil

from datanode.recovery import verified_length
from protos import checksum
from protos import hfed_pb2 as pb
from protos.errors import AlreadyExists, BlockMissing, ChecksumError, InvalidArgument, NoSpace
from protos.files import fsync_dir, replace_atomically

log = logging.getLogger("hfed.datanode.storage")

VERSION_FILE = "VERSION"
FINALIZED = "finalized"
RBW = "rbw"
BPC = checksum.BYTES_PER_CHECKSUM
_META_NAME = re.compile(r"^blk_(\d+)_(\d+)\.meta$")
_POOL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def meta_size(num_bytes: int, bytes_per_checksum: int = BPC) -> int:
    """Size of the meta file of a block of ``num_bytes``."""
    chunks = -(-num_bytes // bytes_per_checksum)
    return checksum.HEADER_SIZE + chunks * checksum.CRC_SIZE


def block_name(block_id: int, generation_stamp: int) -> str:
    return f"blk_{block_id}_{generation_stamp}"


@dataclass
class Replica:
    """A finalized replica: complete, fsynced, read-only."""
    pool_id: str
    block_id: int
    generation_stamp: int
    num_bytes: int
    block_path: str
    meta_path: str

    def to_block(self) -> pb.Block:
        return pb.Block(pool_id=self.pool_id, block_id=self.block_id,
                        generation_stamp=self.generation_stamp, num_bytes=self.num_bytes)

    def __str__(self) -> str:
        return f"{block_name(self.block_id, self.generation_stamp)} of pool {self.pool_id}"


class ReplicaBeingWritten:
    """A replica under rbw/ receiving packets in order; finalize or abort it."""

    def __init__(self, storage: "BlockStorage", pool_id: str, block_id: int, generation_stamp: int):
        self.storage = storage
        self.pool_id = pool_id
        self.block_id = block_id
        self.generation_stamp = generation_stamp
        rbw_dir = storage.pool_dir(pool_id, RBW)
        self.block_path = os.path.join(rbw_dir, f"blk_{block_id}")
        self.meta_path = os.path.join(rbw_dir, block_name(block_id, generation_stamp) + ".meta")
        # A stale file of a crashed earlier attempt at this very block cannot be in
        # use (the start-up scan emptied rbw/ and live writers are tracked), so replace it.
        self._data = open(self.block_path, "wb", buffering=0)
        self._direct = not storage.cache_writes and _set_direct(self._data, True)
        self._meta = open(self.meta_path, "wb", buffering=0)
        self._meta.write(checksum.header())
        self.num_bytes = 0  # written to disk
        self.received_bytes = 0  # accepted by check_packet; writes may lag behind
        self.reserved = 0  # bytes accounted in storage.used() so far
        self.closed = False

    def __str__(self) -> str:
        return f"{block_name(self.block_id, self.generation_stamp)} of pool {self.pool_id}"

    def check_packet(self, offset: int, data, checksums: bytes) -> None:
        """Accept the next packet, or reject one that does not continue this replica
        with whole chunks (call in packet order, before write)."""
        if offset != self.received_bytes:
            raise InvalidArgument(f"packet for {self} at offset {offset}, expected {self.received_bytes}"
                                  f" on DataNode {self.storage.host_label}")
        if len(data) and self.received_bytes % BPC:
            raise InvalidArgument(f"packet for {self} at offset {offset} follows a partial chunk"
                                  f" on DataNode {self.storage.host_label}")
        want = -(-len(data) // BPC) * checksum.CRC_SIZE
        if len(checksums) != want:
            raise InvalidArgument(f"packet for {self} at offset {offset} carries {len(checksums)} checksum"
                                  f" bytes for {len(data)} data bytes (expected {want})")
        self.reserved += self.storage.reserve(len(data), str(self))
        self.received_bytes += len(data)

    def write(self, data, checksums: bytes) -> None:
        """Append a checked packet (blocking: call it from a worker thread). With O_DIRECT
        (cache_writes off) the file offset and the packet must be whole pages in an aligned
        buffer: the first packet that is not (a block's tail, a flushed partial packet)
        switches this replica to buffered writes for good."""
        if self._direct and (len(data) % DIRECT_ALIGN or not _write_direct(self._data, data)):
            self._direct = _set_direct(self._data, False)
        if not self._direct:
            _write_all(self._data, data)
        _write_all(self._meta, checksums)
        self.num_bytes += len(data)

    def sync_and_close(self, sync: bool) -> None:
        if sync:
            os.fsync(self._data.fileno())
            os.fsync(self._meta.fileno())
        self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._data.close()
            self._meta.close()


DIRECT_ALIGN = 4096


def _set_direct(f, on: bool) -> bool:
    """Turn O_DIRECT on or off for ``f``; whether it is now on (a filesystem without
    O_DIRECT, tmpfs for one, keeps writing through the page cache)."""
    flags = fcntl.fcntl(f.fileno(), fcntl.F_GETFL)
    try:
        fcntl.fcntl(f.fileno(), fcntl.F_SETFL, flags | os.O_DIRECT if on else flags & ~os.O_DIRECT)
    except OSError:
        return False
    return on


def _write_direct(f, data) -> bool:
    """Write a whole-page packet with O_DIRECT; False (nothing written) when the kernel
    refuses it, e.g. a buffer that is not page aligned."""
    try:
        _write_all(f, data)
    except OSError as e:
        if e.errno != errno.EINVAL:
            raise
        return False
    return True


def _write_all(f, data) -> None:
    view = memoryview(data)
    while view:
        written = f.write(view)
        view = view[written:]


class BlockStorage:
    """Every block pool of one DataNode. Mutations of the replica maps run on the event
    loop thread; write streams' threads append to their own ReplicaBeingWritten and
    reserve space (``_used`` is locked); blocking file work (fsync, whole-replica
    verification) goes to threads."""

    def __init__(self, data_dir: str, host_label: str, capacity: int = 0, sync_on_close: bool = False,
                 cache_writes: bool = True):
        self.data_dir = os.path.abspath(data_dir)
        # As HDFS's dfs.datanode.synconclose (default off): a finalized replica is
        # in the page cache, which survives a process crash; fsync only guards
        # against power loss and costs the disk's write rate per replica.
        self.sync_on_close = sync_on_close
        # False: replicas are written with O_DIRECT while their packets stay whole pages
        # (see ReplicaBeingWritten.write).
        self.cache_writes = cache_writes
        self.host_label = host_label
        self.configured_capacity = capacity
        os.makedirs(self.data_dir, exist_ok=True)
        self.uuid = self._load_or_create_uuid()
        self._pools: dict[str, dict[int, Replica]] = {}
        self._writing: dict[tuple[str, int], ReplicaBeingWritten] = {}
        self._used = 0
        self._used_lock = threading.Lock()  # write streams reserve space from their own threads
        # (pool, block, gs) -> the verification key of the files last verified: one lookup per
        # finalize (a scan of every key made each write O(replicas): 30 writes/s at 75k replicas)
        self._verified: dict[tuple, tuple] = {}
        self._verifying: dict[tuple, asyncio.Future] = {}
        # Replicas whose checksums failed (block scanner or short-circuit check): kept
        # until their NameNode asks for their deletion, never handed out again.
        self._corrupt: set[tuple[str, int, int]] = set()
        # Held while a replica's names are looked at and removed (delete, finalize over an
        # older generation) or linked (datanode/linking.py), so "was it the last name" and
        # the link cannot interleave.
        self.names_lock = threading.Lock()
        self._counted_inodes: set[tuple[int, int]] = set()  # files with several names, at start-up
        self._scan()
        self._counted_inodes.clear()

    # ------------------------------------------------------------ start-up

    def _load_or_create_uuid(self) -> str:
        path = os.path.join(self.data_dir, VERSION_FILE)
        try:
            with open(path) as f:
                version = json.load(f)
            return version["uuid"]
        except FileNotFoundError:
            pass
        except (ValueError, KeyError) as e:
            raise InvalidArgument(f"{path}: not a DataNode VERSION file ({e})")
        new_uuid = f"DN-{uuid_lib.uuid4()}"
        replace_atomically(path, json.dumps({"uuid": new_uuid, "host_label": self.host_label}), durable=True)
        return new_uuid

    def _scan(self) -> None:
        for pool_id in sorted(os.listdir(self.data_dir)):
            if not os.path.isdir(os.path.join(self.data_dir, pool_id)) or not _POOL_ID.match(pool_id):
                continue
            finalized = self.pool_dir(pool_id, FINALIZED)
            replicas = self._pools.setdefault(pool_id, {})
            for name in os.listdir(finalized):
                match = _META_NAME.match(name)
                if match:
                    replica = self._load_replica(pool_id, finalized, int(match.group(1)), int(match.group(2)))
                    if replica is not None:
                        replicas[replica.block_id] = replica
            recovered = self._recover_rbw(pool_id)
            log.info("pool %s: %d finalized replicas (%d recovered from an interrupted write)",
                     pool_id, len(replicas), recovered)

    def _recover_rbw(self, pool_id: str) -> int:
        """Finalize each replica a crash left in rbw/ at its verified length; empty rbw/."""
        rbw_dir = self.pool_dir(pool_id, RBW)
        newest: dict[int, int] = {}  # block id -> generation stamp of its newest meta file
        for name in os.listdir(rbw_dir):
            match = _META_NAME.match(name)
            if match:
                block_id, gs = int(match.group(1)), int(match.group(2))
                newest[block_id] = max(gs, newest.get(block_id, gs))
        recovered = sum(self._recover_one(pool_id, block_id, gs) for block_id, gs in sorted(newest.items()))
        leftovers = os.listdir(rbw_dir)
        if leftovers:
            log.warning("pool %s: discarding %d unrecoverable file(s) in %s left by an interrupted write: %s",
                        pool_id, len(leftovers), rbw_dir, ", ".join(sorted(leftovers)[:10]))
            shutil.rmtree(rbw_dir)
            os.makedirs(rbw_dir)
        return recovered

    def _recover_one(self, pool_id: str, block_id: int, gs: int) -> bool:
        rbw_dir = self.pool_dir(pool_id, RBW)
        name = block_name(block_id, gs)
        where = f"replica being written {name} of pool {pool_id} on DataNode {self.host_label}"
        block_path = os.path.join(rbw_dir, f"blk_{block_id}")
        meta_path = os.path.join(rbw_dir, name + ".meta")
        try:
            length = verified_length(block_path, meta_path, where)
        except FileNotFoundError:
            log.warning("%s has no block file; discarding it", where)
            return False
        except ChecksumError as e:
            log.warning("%s has an unusable meta file (%s); discarding it", where, e)
            return False
        if length == 0:
            log.warning("%s has no checksum-verified bytes; discarding it", where)
            return False
        older = self._pools[pool_id].get(block_id)
        if older is not None and older.generation_stamp >= gs:
            log.warning("%s is superseded by finalized replica %s; discarding it", where, older)
            return False
        on_disk = os.path.getsize(block_path)
        finalized = self.pool_dir(pool_id, FINALIZED)
        replica = Replica(pool_id, block_id, gs, length, os.path.join(finalized, f"blk_{block_id}"),
                          os.path.join(finalized, name + ".meta"))
        # Cut both files to the verified prefix and make that durable before the
        # replica becomes visible: a second crash must not resurrect the torn tail.
        for path, size in ((block_path, length), (meta_path, meta_size(length))):
            with open(path, "r+b") as f:
                f.truncate(size)
                os.fsync(f.fileno())
        freed = freed_bytes(older) if older is not None else 0
        os.replace(meta_path, replica.meta_path)
        os.replace(block_path, replica.block_path)
        if older is not None:
            _unlink(older.meta_path)  # its data file was just replaced
            self._account(-freed)
        fsync_dir(finalized)
        self._account(length + meta_size(length))
        self._pools[pool_id][block_id] = replica
        key = self._verification_key(replica)
        self._verified[key[:3]] = key
        log.warning("recovered %s: %d checksum-verified bytes of %d on disk, finalized", where, length, on_disk)
        return True

    def _load_replica(self, pool_id: str, finalized: str, block_id: int, gs: int) -> Replica | None:
        block_path = os.path.join(finalized, f"blk_{block_id}")
        meta_path = os.path.join(finalized, block_name(block_id, gs) + ".meta")
        try:
            data_st, meta_st = os.stat(block_path), os.stat(meta_path)
        except FileNotFoundError:
            log.warning("pool %s: %s has no block file; ignoring it", pool_id, meta_path)
            return None
        num_bytes, meta_bytes = data_st.st_size, meta_st.st_size
        if meta_bytes != meta_size(num_bytes):
            # A replica whose checksums do not cover its data cannot be served: leave the files for inspection.
            log.warning("pool %s: %s is %d bytes, expected %d for a %d-byte block; ignoring the replica",
                        pool_id, meta_path, meta_bytes, meta_size(num_bytes), num_bytes)
            return None
        previous = self._pools.get(pool_id, {}).get(block_id)
        if previous is not None:
            # Two generations of one block: a crash between finalizing the newer one
            # and removing the older meta file. The newer generation wins.
            stale_meta = meta_path if gs < previous.generation_stamp else previous.meta_path
            log.warning("pool %s: two meta files for blk_%d; dropping %s", pool_id, block_id, stale_meta)
            _unlink(stale_meta)
            if stale_meta == meta_path:
                return None
            self._account(meta_bytes - meta_size(previous.num_bytes))  # the data file is shared
            return Replica(pool_id, block_id, gs, num_bytes, block_path, meta_path)
        self._account(self._first_count(data_st) + self._first_count(meta_st))
        return Replica(pool_id, block_id, gs, num_bytes, block_path, meta_path)

    def _first_count(self, st: os.stat_result) -> int:
        """The file's size the first time the start-up scan meets it, 0 for its other names."""
        if st.st_nlink > 1:
            inode = (st.st_dev, st.st_ino)
            if inode in self._counted_inodes:
                return 0
            self._counted_inodes.add(inode)
        return st.st_size

    # ------------------------------------------------------------ pools and lookup

    def pool_dir(self, pool_id: str, kind: str = "") -> str:
        if not isinstance(pool_id, str) or not _POOL_ID.match(pool_id):
            raise InvalidArgument(f"invalid block pool id {pool_id!r} on DataNode {self.host_label}")
        path = os.path.join(self.data_dir, pool_id, kind)
        if kind and not os.path.isdir(path):
            os.makedirs(os.path.join(self.data_dir, pool_id, FINALIZED), exist_ok=True)
            os.makedirs(os.path.join(self.data_dir, pool_id, RBW), exist_ok=True)
            self._pools.setdefault(pool_id, {})
        return path

    def add_pool(self, pool_id: str) -> None:
        self.pool_dir(pool_id, FINALIZED)

    def report(self, pool_id: str) -> list[pb.Block]:
        """Every finalized replica of a pool, for a full block report."""
        return [r.to_block() for r in self._pools.get(pool_id, {}).values()]

    def num_replicas(self) -> int:
        return sum(len(p) for p in self._pools.values())

    def pool_sizes(self) -> dict[str, int]:
        """Finalized replicas per block pool."""
        return {pool_id: len(replicas) for pool_id, replicas in self._pools.items()}

    def finalized_replicas(self) -> list[Replica]:
        """A snapshot of every finalized replica, in pool and block order."""
        return [replica for pool_id in sorted(self._pools)
                for _, replica in sorted(self._pools[pool_id].items())]

    def holds(self, replica: Replica) -> bool:
        """Is this exact replica (not a deleted or replaced one) still here?"""
        return self._pools.get(replica.pool_id, {}).get(replica.block_id) is replica

    def find(self, pool_id: str, block_id: int) -> Replica | None:
        """The finalized replica of this block id in the pool, whatever its generation."""
        return self._pools.get(pool_id, {}).get(block_id)

    def adopt(self, replica: Replica) -> None:
        """Add a finalized replica whose files another name already holds (a hard link,
        datanode/linking.py): its bytes are counted already."""
        self.pool_dir(replica.pool_id, FINALIZED)
        self._pools[replica.pool_id][replica.block_id] = replica

    def is_being_written(self, pool_id: str, block_id: int) -> bool:
        return (pool_id, block_id) in self._writing

    def being_written(self, pool_id: str, block_id: int) -> "ReplicaBeingWritten | None":
        return self._writing.get((pool_id, block_id))

    def get(self, pool_id: str, block_id: int, generation_stamp: int) -> Replica:
        """The finalized replica, or BlockMissing naming block, pool and host."""
        replica = self._pools.get(pool_id, {}).get(block_id)
        name = block_name(block_id, generation_stamp)
        if replica is None:
            raise BlockMissing(f"block {name} of pool {pool_id} is not on DataNode {self.host_label}")
        if replica.generation_stamp != generation_stamp:   # not saying which it holds: a guess must not learn it
            raise BlockMissing(f"block {name} of pool {pool_id} is not on DataNode {self.host_label}")
        return replica

    def readable(self, pool_id: str, block_id: int, generation_stamp: int) -> tuple[Replica, bool]:
        """(replica, being written) for a reader: the finalized replica, or else a
        Replica view of the bytes a write has put on disk so far (their checksums are
        in its meta file, so they read like a finalized replica's). The view's files
        move to finalized/ when the write ends: a reader that cannot open them looks
        up again. BlockMissing as ``get`` when neither is here."""
        replica = self._pools.get(pool_id, {}).get(block_id)
        if replica is not None and replica.generation_stamp == generation_stamp:
            return replica, False
        rbw = self._writing.get((pool_id, block_id))
        if rbw is not None and rbw.generation_stamp == generation_stamp:
            return Replica(pool_id, block_id, generation_stamp, rbw.num_bytes, rbw.block_path, rbw.meta_path), True
        return self.get(pool_id, block_id, generation_stamp), False

    # ------------------------------------------------------------ writing

    def create_rbw(self, pool_id: str, block_id: int, generation_stamp: int) -> ReplicaBeingWritten:
        self.pool_dir(pool_id)
        name = block_name(block_id, generation_stamp)
        if (pool_id, block_id) in self._writing:
            raise AlreadyExists(f"block {name} of pool {pool_id} is already being written"
                                f" on DataNode {self.host_label}")
        existing = self._pools.get(pool_id, {}).get(block_id)
        if existing is not None and existing.generation_stamp >= generation_stamp:
            raise AlreadyExists(f"block {name} of pool {pool_id} already has a finalized replica {existing}"
                                f" on DataNode {self.host_label}")
        if self.remaining() <= 0:
            raise NoSpace(f"DataNode {self.host_label} has no space left for block {name} of pool {pool_id}")
        self.pool_dir(pool_id, RBW)
        rbw = ReplicaBeingWritten(self, pool_id, block_id, generation_stamp)
        self._writing[(pool_id, block_id)] = rbw
        return rbw

    def reserve(self, nbytes: int, what: str) -> int:
        """Account for incoming data and its checksums; NoSpace past a configured capacity."""
        amount = nbytes + -(-nbytes // BPC) * checksum.CRC_SIZE
        with self._used_lock:
            if self.configured_capacity and self._used + amount > self.configured_capacity:
                raise NoSpace(f"DataNode {self.host_label} is full ({self._used} of {self.configured_capacity}"
                              f" bytes used) while writing {what}")
            self._used += amount
        return amount

    def _account(self, nbytes: int) -> None:
        with self._used_lock:
            self._used += nbytes

    async def finalize(self, rbw: ReplicaBeingWritten, verified: bool = False, partial: bool = False) -> Replica:
        """Close (and optionally fsync) the replica and move it to finalized/ (replacing
        an older generation). ``verified``: every packet's checksums were checked on
        arrival, so short-circuit readers need no second pass over the file.
        ``partial``: the write broke off; keep the bytes written (rbw.num_bytes, whose
        packets were verified), cutting any torn tail of a failed write from both files.
        Call it only once no write to ``rbw`` is pending."""
        finalized = self.pool_dir(rbw.pool_id, FINALIZED)
        replica = Replica(rbw.pool_id, rbw.block_id, rbw.generation_stamp, rbw.num_bytes,
                          os.path.join(finalized, f"blk_{rbw.block_id}"),
                          os.path.join(finalized, block_name(rbw.block_id, rbw.generation_stamp) + ".meta"))
        older = self._pools.get(rbw.pool_id, {}).get(rbw.block_id)
        freed = 0

        def move():
            nonlocal freed
            if partial:
                for f, size in ((rbw._data, rbw.num_bytes), (rbw._meta, meta_size(rbw.num_bytes))):
                    f.truncate(size)
            rbw.sync_and_close(self.sync_on_close)
            with self.names_lock:
                freed = freed_bytes(older) if older is not None else 0
                os.replace(rbw.meta_path, replica.meta_path)
                os.replace(rbw.block_path, replica.block_path)
                if older is not None and older.meta_path != replica.meta_path:
                    _unlink(older.meta_path)
            if self.sync_on_close:
                fsync_dir(finalized)

        try:
            await asyncio.to_thread(move)
        except BaseException:
            self.abort(rbw)
            raise
        self._writing.pop((rbw.pool_id, rbw.block_id), None)
        if partial:  # give back what was reserved for packets received but never written
            self._account(-(rbw.reserved - (rbw.num_bytes + meta_size(rbw.num_bytes) - checksum.HEADER_SIZE)))
        if older is not None:
            self._account(-freed)
            self._corrupt.discard(_replica_key(older))
        self._account(checksum.HEADER_SIZE)
        self._pools[rbw.pool_id][rbw.block_id] = replica
        if verified:
            key = self._verification_key(replica)
            self._verified[key[:3]] = key
        return replica

    def abort(self, rbw: ReplicaBeingWritten) -> None:
        """Drop a replica whose write failed."""
        if (rbw.pool_id, rbw.block_id) not in self._writing:
            return
        self._writing.pop((rbw.pool_id, rbw.block_id), None)
        rbw.close()
        _unlink(rbw.block_path)
        _unlink(rbw.meta_path)
        self._account(-rbw.reserved)

    # ------------------------------------------------------------ deleting

    def delete(self, pool_id: str, block_id: int, generation_stamp: int = 0) -> Replica | None:
        """Delete a finalized replica; a newer generation than asked for is kept."""
        replicas = self._pools.get(pool_id, {})
        replica = replicas.get(block_id)
        if replica is None or (generation_stamp and replica.generation_stamp > generation_stamp):
            return None
        del replicas[block_id]
        with self.names_lock:
            freed = freed_bytes(replica)
            _unlink(replica.block_path)
            _unlink(replica.meta_path)
        self._account(-freed)
        self._forget_verification(replica)
        self._corrupt.discard(_replica_key(replica))
        return replica

    # ------------------------------------------------------------ corruption

    def mark_corrupt(self, replica: Replica) -> None:
        """Never hand this replica out again; it stays until its NameNode deletes it."""
        self._forget_verification(replica)
        self._corrupt.add(_replica_key(replica))

    def is_corrupt(self, replica: Replica) -> bool:
        return _replica_key(replica) in self._corrupt

    def corrupt_replicas(self, pool_id: str) -> list[pb.Block]:
        """Replicas of a pool known to be corrupt, to report again after a full report."""
        return [r.to_block() for r in self._pools.get(pool_id, {}).values() if self.is_corrupt(r)]

    # ------------------------------------------------------------ reading

    @staticmethod
    def read_packet(replica: Replica, data_fd: int, meta_fd: int, pos: int, nbytes: int) -> tuple[bytes, bytes]:
        """Data [pos, pos+nbytes) and its stored checksums; ``pos`` is chunk aligned (blocking)."""
        data = os.pread(data_fd, nbytes, pos)
        chunks = -(-len(data) // BPC)
        crcs = os.pread(meta_fd, chunks * checksum.CRC_SIZE, checksum.HEADER_SIZE + (pos // BPC) * checksum.CRC_SIZE)
        if len(data) != nbytes or len(crcs) != chunks * checksum.CRC_SIZE:
            raise ChecksumError(f"replica {replica} is truncated on disk at offset {pos + len(data)}")
        return data, crcs

    def verify_replica(self, replica: Replica, pace=None, piece: int = 8 << 20) -> None:
        """Check every chunk of a replica against its meta file (blocking).
        ``pace(nbytes)``, when given, is called after each piece read (rate limiting)."""
        where = f"replica {replica} on DataNode {self.host_label}"
        with open(replica.block_path, "rb") as data_file, open(replica.meta_path, "rb") as meta_file:
            meta = meta_file.read()
            if checksum.parse_header(meta, where) != BPC:
                raise ChecksumError(f"{where}: unsupported bytes per checksum")
            bpc = BPC
            crcs = memoryview(meta)[checksum.HEADER_SIZE:]
            pos = 0
            step = max(piece // bpc, 1) * bpc
            while True:
                data = data_file.read(step)
                if not data:
                    break
                if pace is not None:
                    pace(len(data))
                first = (pos // bpc) * checksum.CRC_SIZE
                want = crcs[first:first + -(-len(data) // bpc) * checksum.CRC_SIZE]
                if len(want) * bpc < len(data):
                    raise ChecksumError(f"{where}: meta file too short at offset {pos}")
                checksum.verify(data, bytes(want), pos, where, bpc)
                pos += len(data)
            if pos != replica.num_bytes or len(crcs) != meta_size(pos, bpc) - checksum.HEADER_SIZE:
                raise ChecksumError(f"{where}: {pos} bytes on disk with {len(crcs)} checksum bytes,"
                                    f" expected {replica.num_bytes}")

    def _verification_key(self, replica: Replica) -> tuple:
        st = os.stat(replica.block_path)
        meta_st = os.stat(replica.meta_path)
        return (replica.pool_id, replica.block_id, replica.generation_stamp, st.st_size, st.st_mtime_ns,
                meta_st.st_size, meta_st.st_mtime_ns)

    async def verify_once(self, replica: Replica) -> None:
        """Verify a replica unless this exact file (size, mtime) was verified before."""
        try:
            key = self._verification_key(replica)
        except FileNotFoundError:
            raise BlockMissing(f"block {replica} vanished from DataNode {self.host_label}")
        if self.is_corrupt(replica):
            raise ChecksumError(f"replica {replica} on DataNode {self.host_label} failed its checksum check"
                                f" and awaits deletion")
        if self._verified.get(key[:3]) == key:
            return
        pending = self._verifying.get(key)
        if pending is None:
            pending = asyncio.ensure_future(asyncio.to_thread(self.verify_replica, replica))
            self._verifying[key] = pending
            pending.add_done_callback(lambda _: self._verifying.pop(key, None))
        try:
            await asyncio.shield(pending)
        except ChecksumError:
            if self.holds(replica):
                self.mark_corrupt(replica)
            raise
        self.note_verified(replica, key)

    def verification_key(self, replica: Replica) -> tuple:
        """Identifies the replica's files as they are now (FileNotFoundError if gone)."""
        return self._verification_key(replica)

    def note_verified(self, replica: Replica, key: tuple) -> None:
        """Record a passed check of the files ``key`` was taken from (before reading them)."""
        if self.holds(replica) and not self.is_corrupt(replica):
            self._verified[key[:3]] = key

    def _forget_verification(self, replica: Replica) -> None:
        self._verified.pop((replica.pool_id, replica.block_id, replica.generation_stamp), None)

    # ------------------------------------------------------------ space

    def used(self) -> int:
        return max(self._used, 0)

    def capacity(self) -> int:
        if self.configured_capacity:
            return self.configured_capacity
        return psutil.disk_usage(self.data_dir).total

    def remaining(self) -> int:
        free = psutil.disk_usage(self.data_dir).free
        if self.configured_capacity:
            return max(0, min(self.configured_capacity - self.used(), free))
        return free


def _replica_key(replica: Replica) -> tuple[str, int, int]:
    return replica.pool_id, replica.block_id, replica.generation_stamp


def freed_bytes(replica: Replica) -> int:
    """What removing the replica's two names gives back: nothing for a file another name
    (a hard link in another pool) still holds."""
    freed = 0
    for path, size in ((replica.block_path, replica.num_bytes), (replica.meta_path, meta_size(replica.num_bytes))):
        try:
            if os.stat(path).st_nlink > 1:
                continue
        except FileNotFoundError:
            pass
        freed += size
    return freed


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
