"""Namespace images (checkpoints): the whole namespace as of one txid.

Byte layout: ``b"HFEDIMG2"`` | uint32 CRC32C of the payload | uint64 payload
length (big-endian) | payload. The payload is a uint32 length + JSON header
(cluster, namespace, txid, id counters, the owner/group string table, lease
holders, column list) followed by columns, one little-endian array per field:

    inodes: id q, parent q, is_dir b, permission H, owner I, group I, mtime q,
            atime q, replication H, block_size q, block count I; names as one
            NUL-separated UTF-8 string (names never hold NUL); block ids q
    blocks: block_id q, inode_id q, generation_stamp q, num_bytes q, committed b
    then the free inode slots, int32 in reuse order (ids after a restart are
    given out exactly as before it); then the packed small files' rows
    (container q, offset I, length I, inode i) and the staged small files
    (inode slots i, lengths q, their bytes back to back); the header lists small
    files being appended to whose entry is still kept ("appending")

Columns, not JSON rows: the in-memory table is itself columns
(namenode/inode_table.py), so saving and loading are mostly numpy copies.
Written a chunk of slots at a time (the CRC goes into the header last), by a
forked child that sees the tables copy-on-write while the NameNode goes on
(``fork_write``; namenode/README.md "Checkpoints"). Written atomically: temp
file, fsync, rename, fsync dir. Named ``fsimage_<txid>``.
"""
from __future__ import annotations

import ctypes
import gc
import json
import os
import re
import signal
import struct
import sys
import threading
from pathlib import Path

import crc32c
import numpy as np

from protos.checksum import BYTES_PER_CHECKSUM
from protos.errors import HfedError
from protos.files import fsync_dir
from namenode import subtree
from namenode.columns import DTYPES
from namenode.inode_table import DIR_BIT, PERM_BITS, USED_BIT
from namenode.small_files import IMAGE_ROWS as ROW_COLUMNS, PACKED_BIT, STAGED_BIT

MAGIC = b"HFEDIMG2"
HEADER = struct.Struct(">8sIQ")
NAME = re.compile(r"^fsimage_(\d+)$")


class CorruptImage(HfedError):
    pass


def image_name(txid: int) -> str:
    return f"fsimage_{txid:019d}"


def list_images(meta_dir: Path) -> list[tuple[int, Path]]:
    """(txid, path) of every image, newest first."""
    found = [(int(m.group(1)), p) for p in meta_dir.iterdir() if (m := NAME.match(p.name))]
    return sorted(found, reverse=True)


INODE_COLUMNS = (("id", "q"), ("parent", "q"), ("is_dir", "b"), ("permission", "H"), ("owner", "I"),
                 ("group", "I"), ("mtime", "q"), ("atime", "q"), ("replication", "H"), ("block_size", "q"),
                 ("nblocks", "I"), ("block_ids", "q"))
BLOCK_COLUMNS = (("block_id", "q"), ("inode_id", "q"), ("gs", "q"), ("num_bytes", "q"), ("committed", "b"))
_IMAGE_DTYPES = {**DTYPES, "b": np.int8}


CHUNK = 1 << 14       # slots per encoding step: the writer's temporaries stay ~1 MiB


def snapshot(fsn, txid: int, copy: bool = True) -> dict:
    """The namespace's columns as of ``txid``. Copies (one quick step on the event loop,
    so they are consistent while the loop goes on; encoded in a thread), or with
    ``copy=False`` views of the live tables for a writer that runs while nothing
    changes them: a forked child (``fork_write``) or the thread that owns them."""
    blocks = fsn.blocks
    header = {"cluster_id": fsn.cluster_id, "nameservice": fsn.nameservice, "txid": txid,
              "next_inode_id": fsn.ns.table.next_id, "next_block_id": blocks.next_block_id,
              "next_generation_stamp": blocks.next_generation_stamp, "names": list(fsn.ns.table.strings)}
    if fsn.moves:        # subtree moves into this namespace under way: their block mappings
        header["moves"] = subtree.moves_to_json(fsn)
    if fsn.quotas.dirs:  # directory quotas (their usage is counted again at load)
        header["quotas"] = fsn.quotas.to_json()
    grab = blocks.column if copy else blocks.view
    return {"header": header, "inodes": fsn.ns.table.export(copy),
            "blocks": {name: grab(name) for name in ("ids", "inode", "gs", "num_bytes", "committed")}}


# ------------------------------------------------- encoding, a chunk at a time
# The image is column-major, the tables are slot-major with holes: each image
# column is one pass over the table's slots in chunks, so no step holds more
# than a chunk of any column (a whole-table temporary would cost what the
# checkpoint is meant not to: a second copy of the namespace).

def _used(mode: np.ndarray, start: int, size: int = CHUNK) -> np.ndarray:
    """Inode slots in use among start..start+size."""
    return np.flatnonzero(mode[start:start + size] & USED_BIT) + start


def _inode_chunks(mode: np.ndarray, pick, size: int = CHUNK):
    """pick(inode slots in use) for each chunk of ``size`` slots."""
    for start in range(0, len(mode), size):
        yield pick(_used(mode, start, size))


def _block_chunks(ids: np.ndarray, pick):
    """pick(block slots in use: id not 0) for each chunk of slots."""
    for start in range(0, len(ids), CHUNK):
        yield pick(np.flatnonzero(ids[start:start + CHUNK]) + start)


def _file_blocks(t: dict, slots: np.ndarray, multi: np.ndarray):
    """(first block, block count, rows of multi-block files, their slots) of ``slots``."""
    first = t["first_block"][slots]
    first[t["mode"][slots] & (STAGED_BIT | PACKED_BIT) != 0] = 0     # there it is a packed row, not a block
    counts = (first != 0).astype(np.int64)
    lo, hi = np.searchsorted(multi, [slots[0], slots[-1] + 1]) if len(slots) else (0, 0)
    mine = multi[lo:hi]
    rows = np.searchsorted(slots, mine)
    counts[rows] = [len(t["more_blocks"][slot]) for slot in mine.tolist()]
    return first, counts, rows, mine


def _block_ids(t: dict, slots: np.ndarray, multi: np.ndarray) -> np.ndarray:
    first, counts, rows, mine = _file_blocks(t, slots, multi)
    offsets = np.cumsum(counts) - counts
    out = np.zeros(int(counts.sum()), dtype=np.int64)
    single = counts == 1
    single[rows] = False
    out[offsets[single]] = first[single]
    for row, slot in zip(rows.tolist(), mine.tolist()):
        out[offsets[row]:offsets[row] + counts[row]] = t["more_blocks"][slot]
    return out


def _names(t: dict):
    """The names of the inodes in use, NUL-separated, a chunk at a time. Gathered with
    numpy, not as one bytes object per name: in a forked writer, short-lived small
    objects land in free blocks all over the parent's heap and copy those pages."""
    arena = np.frombuffer(t["arena"], dtype=np.uint8)
    first = True
    # A quarter chunk: the gather indexes are per name byte (~16 per slot), 8 bytes each.
    for slots in _inode_chunks(t["mode"], lambda slots: slots, CHUNK // 4):
        if not len(slots):
            continue
        offsets, lengths = t["name_off"][slots].astype(np.int64), t["name_len"][slots].astype(np.int64)
        lead = 0 if first else 1                      # a NUL before the chunk's first name
        ends = np.cumsum(lengths + 1) - 1 + lead      # where each name's NUL goes (the last one is cut)
        out = np.zeros(int(ends[-1]), dtype=np.uint8)
        within = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        out[np.repeat(ends - lengths, lengths) + within] = arena[np.repeat(offsets, lengths) + within]
        first = False
        yield out.tobytes()


def _parts(snap: dict) -> tuple[dict, list]:
    """(header, [(typecode or None for raw bytes, size in bytes, chunk iterable)]) of an image:
    a first pass counts what the header and the part sizes need, the parts are generators."""
    t, b = snap["inodes"], snap["blocks"]
    mode = t["mode"]
    multi = np.array(sorted(t["more_blocks"]), dtype=np.int64)    # files of 2+ blocks, by slot
    lease_slots = np.array(list(t["leases"]), dtype=np.int64)
    lease_rows, by_slot = np.zeros(len(lease_slots), dtype=np.int64), np.argsort(lease_slots)
    inodes = nblocks = name_bytes = 0
    for start in range(0, len(mode), CHUNK):
        slots = _used(mode, start)
        lo, hi = np.searchsorted(lease_slots[by_slot], [start, start + CHUNK])
        lease_rows[by_slot[lo:hi]] = inodes + np.searchsorted(slots, lease_slots[by_slot[lo:hi]])
        inodes += len(slots)
        nblocks += int(_file_blocks(t, slots, multi)[1].sum())
        name_bytes += int(t["name_len"][slots].sum(dtype=np.int64))
    blocks = sum(int(np.count_nonzero(b["ids"][start:start + CHUNK])) for start in range(0, len(b["ids"]), CHUNK))
    per_inode = {"id": lambda s: s, "parent": lambda s: t["parent"][s],
                 "is_dir": lambda s: (mode[s] & DIR_BIT) != 0, "permission": lambda s: mode[s] & PERM_BITS,
                 "block_size": lambda s: t["block_units"][s].astype(np.int64) * BYTES_PER_CHECKSUM,
                 "nblocks": lambda s: _file_blocks(t, s, multi)[1],
                 "block_ids": lambda s: _block_ids(t, s, multi)}
    parts = []
    for name, code in INODE_COLUMNS:
        pick = per_inode.get(name) or (lambda s, column=t[name]: column[s])
        count = nblocks if name == "block_ids" else inodes
        parts.append((code, count * _little(code).itemsize, _inode_chunks(mode, pick)))
    image_names = {"block_id": "ids", "inode_id": "inode", "gs": "gs", "num_bytes": "num_bytes",
                   "committed": "committed"}
    for name, code in BLOCK_COLUMNS:
        parts.append((code, blocks * _little(code).itemsize,
                      _block_chunks(b["ids"], lambda s, column=b[image_names[name]]: column[s])))
    parts.append((None, name_bytes + max(inodes - 1, 0), _names(t)))
    small = t["small"]
    whole = [("i", t["free"])] + [(code, small["rows"][name]) for name, code in ROW_COLUMNS] + \
        [("i", small["staged_slots"]), ("q", small["staged_lengths"]), (None, small["staged_data"])]
    for code, data in whole:
        parts.append((code, len(data) * (_little(code).itemsize if code else 1), [data]))
    header = dict(snap["header"], leases=[[int(r), holder] for r, holder in zip(lease_rows, t["leases"].values())],
                  inodes=inodes, blocks=blocks)
    header["sizes"] = [size for _code, size, _chunks_ in parts]
    header["raw_containers"] = [int(b) for b in small["raw_containers"]]   # absent: an older hfed's image
    if small["appending"]:     # small files being appended to in blocks: (slot, container, offset, length)
        header["appending"] = small["appending"]
    return header, parts


def _image_columns(snap: dict) -> tuple[dict, dict, bytes]:
    """(header, image columns, NUL-separated names) in one piece each: for tests and
    small tables (``write`` streams the same parts)."""
    header, parts = _parts(snap)
    cols = {}
    for (name, code), (_code, _size, chunks) in zip(INODE_COLUMNS + BLOCK_COLUMNS, parts):
        cols[name] = np.concatenate([np.zeros(0, _IMAGE_DTYPES[code])] +
                                    [np.asarray(c, dtype=_IMAGE_DTYPES[code]) for c in chunks])
    return header, cols, b"".join(parts[len(cols)][2])


def _little(code: str) -> np.dtype:
    return np.dtype(_IMAGE_DTYPES[code]).newbyteorder("<")


def write(meta_dir: Path, snap: dict) -> Path:
    """Encode and write ``snap`` atomically, a chunk at a time; returns the image path.
    May run in a thread (on copies) or in a forked child."""
    header, parts = _parts(snap)
    head = json.dumps(header, separators=(",", ":")).encode()
    length = 4 + len(head) + sum(header["sizes"])
    final = meta_dir / image_name(snap["header"]["txid"])
    # A name of its own: a shutdown checkpoint may race one still being written.
    tmp = final.with_name(f"{final.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(HEADER.pack(MAGIC, 0, length))        # the CRC is known at the end
            crc = _put(f, 0, struct.pack(">I", len(head)) + head)
            for code, size, chunks in parts:
                written = 0
                for chunk in chunks:
                    data = chunk if code is None else np.ascontiguousarray(chunk, dtype=_little(code)).tobytes()
                    crc = _put(f, crc, data)
                    written += len(data)
                if written != size:
                    raise ValueError(f"image part of {written} bytes, {size} planned: the namespace changed")
            f.seek(0)
            f.write(HEADER.pack(MAGIC, crc, length))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
        fsync_dir(meta_dir)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return final


def _put(f, crc: int, data: bytes) -> int:
    f.write(data)
    return crc32c.crc32c(data, value=crc)


# --------------------------------------------- checkpoints from a forked child
def can_fork() -> bool:
    """Whether checkpoints may fork: not where grpc's own fork handlers may be on
    (namenode/__init__.py), which do not support grpc.aio and crash the child."""
    import namenode

    return hasattr(os, "fork") and not namenode.GRPC_FORK_HANDLERS


def fork_write(meta_dir: Path, fsn, txid: int) -> "ForkedWrite":
    """Write the image of ``fsn`` as it is now, from a forked child, as Redis's BGSAVE
    does: the child sees the tables copy-on-write, frozen at the fork, so the parent
    goes on changing them at once and the memory cost is the pages it changes while
    the child writes (4 KiB each), not a copy of the namespace. Call on the thread
    that changes the namespace, between two changes; then ``wait()`` in a thread.

    The child runs only this module's encoder: no grpc, no event loop, no logging
    (another thread may have held their locks at the fork), and it leaves with
    os._exit, so no atexit handler, finaliser or buffered file of the parent runs
    twice. Raises OSError if the fork fails (the caller falls back to copying)."""
    read_end, write_end = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_end)
        os.close(write_end)
        raise
    if pid == 0:
        try:
            # Only stdio and the report pipe: inherited copies of the listening socket and
            # of the meta_dir lock would keep both held if the parent died meanwhile.
            os.closerange(3, write_end)
            os.closerange(write_end + 1, 1 << 20)
            _child_signals()
            _child_malloc()
            # A collection would write to every tracked object's header: copies of the whole heap.
            gc.disable()
            try:
                report = {"path": str(write(meta_dir, snapshot(fsn, txid, copy=False)))}
            except BaseException as e:  # noqa: BLE001 - reported to the parent, which raises it
                report = {"error": f"{type(e).__name__}: {e}"[:2000], "errno": getattr(e, "errno", None)}
            os.write(write_end, json.dumps(report).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    return ForkedWrite(pid, read_end)


def _child_signals() -> None:
    """The parent's signal handlers would write to its event loop's wakeup pipe (shared
    after the fork): the child takes the default actions and leaves the pipe alone."""
    try:
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)
    except (ValueError, OSError):
        pass


# Looked up here, not in the child: ctypes.util.find_library runs ldconfig in a
# subprocess, a fork from the child (it crashed there in grpc's fork handlers).
_MALLOPT = getattr(ctypes.CDLL(None), "mallopt", None) if sys.platform.startswith("linux") else None


def _child_malloc() -> None:
    """Big temporaries from fresh mappings, given back when freed: otherwise glibc
    raises its mmap threshold after the first free and serves them from free space
    in the heap the child shares with its parent, copying those pages."""
    if _MALLOPT is not None:
        _MALLOPT(-3, 1 << 16)                      # M_MMAP_THRESHOLD: fixed at 64 KiB


class ForkedWrite:
    """A child writing an image; ``wait()`` returns its path or raises what it hit."""

    def __init__(self, pid: int, report_fd: int):
        self.pid, self._fd = pid, report_fd

    def wait(self) -> Path:
        """Blocks until the child is done (run it in a thread)."""
        with os.fdopen(self._fd, "rb") as f:
            raw = f.read()                     # until the child exits
        _pid, status = os.waitpid(self.pid, 0)
        try:
            report = json.loads(raw)
        except ValueError:
            raise HfedError(f"image writer (pid {self.pid}) died without a report "
                            f"(wait status {status:#x})") from None
        if "path" in report:
            return Path(report["path"])
        if report.get("errno"):
            raise OSError(report["errno"], report["error"])
        raise HfedError(f"image writer (pid {self.pid}) failed: {report['error']}")


def read(path: Path) -> dict:
    """The image at ``path`` as {"header", "names", "columns"}; CorruptImage naming
    the file if it is not a whole, valid one."""
    data = path.read_bytes()
    if len(data) < HEADER.size:
        raise CorruptImage(f"{path}: truncated image ({len(data)} bytes)")
    magic, crc, length = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise CorruptImage(f"{path}: not an hfed namespace image")
    payload = memoryview(data)[HEADER.size:]
    if len(payload) != length:
        raise CorruptImage(f"{path}: truncated image ({len(payload)} of {length} payload bytes)")
    if crc32c.crc32c(payload) != crc:
        raise CorruptImage(f"{path}: image checksum mismatch")
    try:
        (head_len,) = struct.unpack_from(">I", payload)
        header = json.loads(bytes(payload[4:4 + head_len]))
        off, columns = 4 + head_len, {}
        for (name, code), size in zip(INODE_COLUMNS + BLOCK_COLUMNS, header["sizes"]):
            columns[name] = np.frombuffer(payload[off:off + size], dtype=_little(code)).astype(_IMAGE_DTYPES[code])
            off += size
        sizes = header["sizes"][len(INODE_COLUMNS + BLOCK_COLUMNS):]
        names = bytes(payload[off:off + sizes[0]])
        free = small = None
        extra, at = [], off + sizes[0]
        for size in sizes[1:]:
            extra.append(payload[at:at + size])
            at += size
        if extra:               # images since the compact table also save its free-slot stack
            free = np.frombuffer(extra[0], dtype=_little("i"))
        if len(extra) >= 2 + len(ROW_COLUMNS) + 2:      # ... and since small files, their index and staged bytes
            rows = {name: np.frombuffer(part, dtype=_little(code)).astype(_IMAGE_DTYPES[code])
                    for (name, code), part in zip(ROW_COLUMNS, extra[1:])}
            k = 1 + len(ROW_COLUMNS)
            small = {"rows": rows, "staged_slots": np.frombuffer(extra[k], dtype=_little("i")),
                     "staged_lengths": np.frombuffer(extra[k + 1], dtype=_little("q")),
                     "staged_data": bytes(extra[k + 2]), "raw_containers": header.get("raw_containers")}
    except (ValueError, KeyError, TypeError, struct.error) as e:
        raise CorruptImage(f"{path}: image payload is not valid: {e!r}")
    return {"header": header, "names": names, "columns": columns, "free": free, "small": small}


def load_into(fsn, image: dict) -> None:
    """Rebuild inodes, blocks and leases of an empty Namesystem from ``image``."""
    # Millions of new objects would trigger the cyclic GC again and again over a
    # growing heap (most of the load time); none of them is garbage yet.
    enabled = gc.isenabled()
    gc.disable()
    try:
        _load(fsn, image)
    finally:
        if enabled:
            gc.enable()


def _load(fsn, image: dict) -> None:
    head, c = image["header"], image["columns"]
    table = fsn.ns.table
    if not len(c["id"]) == head["inodes"]:
        raise CorruptImage(f"image txid {head['txid']}: {len(c['id'])} inodes of {head['inodes']}")
    try:
        orphans = table.load(c, image["names"], head["names"], head["next_inode_id"], image.get("free"),
                             image.get("small"))
    except (ValueError, IndexError) as e:
        raise CorruptImage(f"image txid {head['txid']}: inode columns are not valid: {e}")
    if orphans:
        raise CorruptImage(f"image txid {head['txid']}: {len(orphans)} inodes have no parent directory "
                           f"(e.g. inode {orphans[0]})")
    for slot, container, offset, length in head.get("appending", ()):
        table.small.appending[slot] = table.small.add_row(container, offset, length)
    for row, holder in head["leases"]:
        fsn.add_lease(holder, table.get(int(c["id"][row])))
    fsn.blocks.load(c["block_id"], c["inode_id"], c["gs"], c["num_bytes"], c["committed"])
    fsn.blocks.next_block_id = max(fsn.blocks.next_block_id, head["next_block_id"])
    fsn.blocks.next_generation_stamp = max(fsn.blocks.next_generation_stamp, head["next_generation_stamp"])
    subtree.moves_from_json(fsn, head.get("moves"))
    fsn.quotas.from_json(head.get("quotas"))
    fsn.quotas.recount_all(fsn)
