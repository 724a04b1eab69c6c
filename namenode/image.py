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
    (inode slots i, lengths q, their bytes back to back)

Columns, not JSON rows: the in-memory table is itself columns
(namenode/inode_table.py), so saving and loading are mostly numpy copies.
Written atomically: temp file, fsync, rename, fsync dir. Named ``fsimage_<txid>``.
"""
from __future__ import annotations

import gc
import json
import os
import re
import struct
import threading
from pathlib import Path

import google_crc32c
import numpy as np

from protos.checksum import BYTES_PER_CHECKSUM
from protos.errors import HfedError
from protos.files import fsync_dir
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


def snapshot(fsn, txid: int) -> dict:
    """Copies of the namespace's columns: one quick step on the event loop, so it is
    consistent; turning them into image columns happens in write() (a thread)."""
    blocks = fsn.blocks
    header = {"cluster_id": fsn.cluster_id, "nameservice": fsn.nameservice, "txid": txid,
              "next_inode_id": fsn.ns.table.next_id, "next_block_id": blocks.next_block_id,
              "next_generation_stamp": blocks.next_generation_stamp, "names": list(fsn.ns.table.strings)}
    return {"header": header, "inodes": fsn.ns.table.export(),
            "blocks": {name: blocks.column(name) for name in ("ids", "inode", "gs", "num_bytes", "committed")}}


def _image_columns(snap: dict) -> tuple[dict, dict, bytes]:
    """(header, image columns, NUL-separated names) from a snapshot's table columns."""
    t = snap["inodes"]
    slots = np.flatnonzero(t["mode"] & USED_BIT)
    first, more = t["first_block"][slots], t["more_blocks"]
    multi = sorted(more)                    # files of 2+ blocks, by slot
    first[t["mode"][slots] & (STAGED_BIT | PACKED_BIT) != 0] = 0     # there it is a packed row, not a block
    counts = (first != 0).astype(np.int64)
    multi_rows = np.searchsorted(slots, multi) if multi else np.zeros(0, dtype=np.int64)
    counts[multi_rows] = [len(more[slot]) for slot in multi]
    offsets = np.cumsum(counts) - counts
    block_ids = np.zeros(int(counts.sum()), dtype=np.int64)
    single = counts == 1
    single[multi_rows] = False
    block_ids[offsets[single]] = first[single]
    for row, slot in zip(multi_rows.tolist(), multi):
        block_ids[offsets[row]:offsets[row] + counts[row]] = more[slot]
    arena, name_off, name_len = t["arena"], t["name_off"][slots].tolist(), t["name_len"][slots].tolist()
    names = b"\0".join([arena[o:o + n] for o, n in zip(name_off, name_len)])
    mode = t["mode"][slots]
    b = snap["blocks"]
    used = b["ids"] != 0
    cols = {"id": slots, "parent": t["parent"][slots], "is_dir": (mode & DIR_BIT) != 0, "permission": mode & PERM_BITS,
            "owner": t["owner"][slots], "group": t["group"][slots], "mtime": t["mtime"][slots],
            "atime": t["atime"][slots], "replication": t["replication"][slots],
            "block_size": t["block_units"][slots].astype(np.int64) * BYTES_PER_CHECKSUM, "nblocks": counts,
            "block_ids": block_ids, "block_id": b["ids"][used], "inode_id": b["inode"][used], "gs": b["gs"][used],
            "num_bytes": b["num_bytes"][used], "committed": b["committed"][used]}
    rows = np.searchsorted(slots, list(t["leases"]))
    header = dict(snap["header"], leases=[[int(r), holder] for r, holder in zip(rows, t["leases"].values())],
                  inodes=len(slots), blocks=int(np.count_nonzero(used)))
    return header, cols, names


def _encode(snap: dict) -> bytes:
    header, cols, names = _image_columns(snap)
    parts = [np.ascontiguousarray(cols[name], dtype=_little(code)).tobytes()
             for name, code in INODE_COLUMNS + BLOCK_COLUMNS]
    parts.append(names)
    parts.append(np.ascontiguousarray(snap["inodes"]["free"], dtype=_little("i")).tobytes())
    small = snap["inodes"]["small"]
    parts += [np.ascontiguousarray(small["rows"][name], dtype=_little(code)).tobytes() for name, code in ROW_COLUMNS]
    parts += [np.ascontiguousarray(small["staged_slots"], dtype=_little("i")).tobytes(),
              np.ascontiguousarray(small["staged_lengths"], dtype=_little("q")).tobytes(), small["staged_data"]]
    header["sizes"] = [len(p) for p in parts]
    header["raw_containers"] = [int(b) for b in small["raw_containers"]]   # absent: an older hfed's image
    head = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack(">I", len(head)) + head + b"".join(parts)


def _little(code: str) -> np.dtype:
    return np.dtype(_IMAGE_DTYPES[code]).newbyteorder("<")


def write(meta_dir: Path, snap: dict) -> Path:
    """Encode and write ``snap`` atomically; returns the image path. May run in a thread."""
    payload = _encode(snap)
    final = meta_dir / image_name(snap["header"]["txid"])
    # A name of its own: a shutdown checkpoint may race one still being written.
    tmp = final.with_name(f"{final.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(HEADER.pack(MAGIC, google_crc32c.value(payload), len(payload)))
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
        fsync_dir(meta_dir)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return final


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
    if google_crc32c.value(bytes(payload)) != crc:
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
    for row, holder in head["leases"]:
        fsn.add_lease(holder, table.get(int(c["id"][row])))
    fsn.blocks.load(c["block_id"], c["inode_id"], c["gs"], c["num_bytes"], c["committed"])
    fsn.blocks.next_block_id = max(fsn.blocks.next_block_id, head["next_block_id"])
    fsn.blocks.next_generation_stamp = max(fsn.blocks.next_generation_stamp, head["next_generation_stamp"])
