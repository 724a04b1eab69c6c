"""Namespace images (checkpoints): the whole namespace as of one txid.

Byte layout: ``b"HFEDIMG2"`` | uint32 CRC32C of the payload | uint64 payload
length (big-endian) | payload. The payload is a uint32 length + JSON header
(cluster, namespace, txid, id counters, the owner/group string table, lease
holders, column list) followed by columns, one little-endian array per field:

    inodes: id q, parent q, is_dir b, permission H, owner I, group I, mtime q,
            atime q, replication H, block_size q, block count I; names as one
            NUL-separated UTF-8 string (names never hold NUL); block ids q
    blocks: block_id q, inode_id q, generation_stamp q, num_bytes q, committed b

Columns, not JSON rows: a million files load in a few seconds because arrays
turn into Python ints in C (``tolist``) instead of one parser step per value.
Written atomically: temp file, fsync, rename, fsync dir. Named ``fsimage_<txid>``.
"""
from __future__ import annotations

import gc
import json
import os
import re
import struct
import sys
import threading
from array import array
from pathlib import Path

import google_crc32c

from protos.errors import HfedError
from namenode.blocks import BlockInfo
from protos.files import fsync_dir
from namenode.namespace import Inode

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
_LITTLE = sys.byteorder == "little"


def snapshot(fsn, txid: int) -> dict:
    """The namespace as flat columns (taken on the event loop, so it is consistent)."""
    inodes = list(fsn.ns.table.all_inodes())
    names: dict[str, int] = {}
    index = names.setdefault
    cols = {
        "id": [i.id for i in inodes], "parent": [i.parent for i in inodes],
        "is_dir": [i.is_dir for i in inodes], "permission": [i.permission for i in inodes],
        "owner": [index(i.owner, len(names)) for i in inodes], "group": [index(i.group, len(names)) for i in inodes],
        "mtime": [i.mtime for i in inodes], "atime": [i.atime for i in inodes],
        "replication": [i.replication for i in inodes], "block_size": [i.block_size for i in inodes],
        "nblocks": [len(i.blocks) for i in inodes], "block_ids": [b for i in inodes for b in i.blocks]}
    blocks = list(fsn.blocks.blocks.values())
    cols.update({"block_id": [b.block_id for b in blocks], "inode_id": [b.inode_id for b in blocks],
                 "gs": [b.generation_stamp for b in blocks], "num_bytes": [b.num_bytes for b in blocks],
                 "committed": [b.committed for b in blocks]})
    header = {"cluster_id": fsn.cluster_id, "nameservice": fsn.nameservice, "txid": txid,
              "next_inode_id": fsn.ns.table.next_id, "next_block_id": fsn.blocks.next_block_id,
              "next_generation_stamp": fsn.blocks.next_generation_stamp, "names": list(names),
              "leases": [[n, i.lease_holder] for n, i in enumerate(inodes) if i.lease_holder],
              "inodes": len(inodes), "blocks": len(blocks)}
    return {"header": header, "names": "\0".join(i.name for i in inodes), "columns": cols}


def _encode(snap: dict) -> bytes:
    parts = []
    for name, code in INODE_COLUMNS + BLOCK_COLUMNS:
        arr = array(code, snap["columns"][name])
        if not _LITTLE:
            arr.byteswap()
        parts.append(arr.tobytes())
    parts.append(snap["names"].encode())
    header = dict(snap["header"], sizes=[len(p) for p in parts])
    head = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack(">I", len(head)) + head + b"".join(parts)


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
            arr = array(code)
            arr.frombytes(payload[off:off + size])
            if not _LITTLE:
                arr.byteswap()
            columns[name] = arr.tolist()
            off += size
        names = bytes(payload[off:off + header["sizes"][-1]]).decode()
    except (ValueError, KeyError, TypeError, struct.error) as e:
        raise CorruptImage(f"{path}: image payload is not valid: {e!r}")
    return {"header": header, "names": names, "columns": columns}


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
    strings = head["names"]
    owners = [strings[i] for i in c["owner"]]
    groups = owners if c["group"] == c["owner"] else [strings[i] for i in c["group"]]
    flat, lists, at = c["block_ids"], [], 0
    for n in c["nblocks"]:
        lists.append(flat[at:at + n])
        at += n
    inodes = list(map(Inode, c["id"], c["parent"], image["names"].split("\0"), map(bool, c["is_dir"]),
                      c["permission"], owners, groups, c["mtime"], c["atime"], c["replication"],
                      c["block_size"], lists))
    if not len(inodes) == head["inodes"] == len(c["id"]):
        raise CorruptImage(f"image txid {head['txid']}: {len(inodes)} inode names for {head['inodes']} inodes")
    orphans = fsn.ns.table.add_many(inodes)
    if orphans:
        raise CorruptImage(f"image txid {head['txid']}: {len(orphans)} inodes have no parent directory "
                           f"(e.g. {orphans[0].name!r} under inode {orphans[0].parent})")
    for n, holder in head["leases"]:
        fsn.add_lease(holder, inodes[n])
    fsn.blocks.blocks.update(zip(c["block_id"], map(BlockInfo, c["block_id"], c["inode_id"], c["gs"],
                                                    c["num_bytes"], map(bool, c["committed"]))))
    table = fsn.ns.table
    table.next_id = max(table.next_id, head["next_inode_id"])
    fsn.blocks.next_block_id = max(fsn.blocks.next_block_id, head["next_block_id"])
    fsn.blocks.next_generation_stamp = max(fsn.blocks.next_generation_stamp, head["next_generation_stamp"])
