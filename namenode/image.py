"""Namespace images (checkpoints): the whole namespace as of one txid.

Byte layout: ``b"HFEDIMG1"`` | uint32 CRC32C of the payload | uint64 payload
length | payload (big-endian), the payload being compact JSON:

    {"cluster_id", "nameservice", "txid", "next_inode_id", "next_block_id",
     "next_generation_stamp", "names": [owner/group strings],
     "inodes": [[id, parent, name, is_dir, perm, owner#, group#, mtime, atime,
                 replication, block_size, [block ids], lease holder], ...],
     "blocks": [[block_id, inode_id, generation_stamp, num_bytes, committed], ...]}

Owners and groups are indexes into ``names`` (a few distinct users own
millions of files). Written atomically: temp file, fsync, rename, fsync dir.
Files are named ``fsimage_<txid>`` as in HDFS.
"""
from __future__ import annotations

import json
import os
import re
import struct
from pathlib import Path

import google_crc32c

from protos.errors import HfedError
from namenode.blocks import BlockInfo
from namenode.editlog import fsync_dir
from namenode.namespace import ROOT_ID, Inode

MAGIC = b"HFEDIMG1"
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


def snapshot(fsn, txid: int) -> dict:
    """The namespace as plain lists (taken on the event loop, so it is consistent)."""
    table = fsn.ns.table
    names: dict[str, int] = {}
    index = lambda s: names.setdefault(s, len(names))  # noqa: E731
    inodes = [[i.id, i.parent, i.name, i.is_dir, i.permission, index(i.owner), index(i.group), i.mtime, i.atime,
               i.replication, i.block_size, i.blocks[:], i.lease_holder] for i in table.all_inodes()]
    blocks = [[b.block_id, b.inode_id, b.generation_stamp, b.num_bytes, b.committed]
              for b in fsn.blocks.blocks.values()]
    return {"cluster_id": fsn.cluster_id, "nameservice": fsn.nameservice, "txid": txid,
            "next_inode_id": table.next_id, "next_block_id": fsn.blocks.next_block_id,
            "next_generation_stamp": fsn.blocks.next_generation_stamp, "names": list(names),
            "inodes": inodes, "blocks": blocks}


def write(meta_dir: Path, snap: dict) -> Path:
    """Encode and write ``snap`` atomically; returns the image path. May run in a thread."""
    payload = json.dumps(snap, separators=(",", ":")).encode()
    final = meta_dir / image_name(snap["txid"])
    tmp = final.with_name(final.name + ".tmp")
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
    """The image at ``path``; CorruptImage naming the file if it is not a whole, valid one."""
    data = path.read_bytes()
    if len(data) < HEADER.size:
        raise CorruptImage(f"{path}: truncated image ({len(data)} bytes)")
    magic, crc, length = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise CorruptImage(f"{path}: not an hfed namespace image")
    payload = data[HEADER.size:]
    if len(payload) != length:
        raise CorruptImage(f"{path}: truncated image ({len(payload)} of {length} payload bytes)")
    if google_crc32c.value(payload) != crc:
        raise CorruptImage(f"{path}: image checksum mismatch")
    try:
        return json.loads(payload)
    except (ValueError, UnicodeDecodeError) as e:
        raise CorruptImage(f"{path}: image payload is not valid: {e}")


def load_into(fsn, image: dict) -> None:
    """Rebuild inodes, blocks and leases of an empty Namesystem from ``image``."""
    table, names = fsn.ns.table, image["names"]
    # A parent may have a larger id than its child (after a rename), so add in tree order.
    by_parent: dict[int, list] = {}
    for row in image["inodes"]:
        if row[0] == ROOT_ID:
            root = table.get(ROOT_ID)
            root.permission, root.owner, root.group, root.mtime = row[4], names[row[5]], names[row[6]], row[7]
        else:
            by_parent.setdefault(row[1], []).append(row)
    queue = [ROOT_ID]
    add = table.add
    while queue:
        for row in by_parent.pop(queue.pop(), ()):
            inode = Inode(row[0], row[1], row[2], row[3], row[4], names[row[5]], names[row[6]], row[7], row[8],
                          row[9], row[10], row[11], row[12])
            add(inode)
            if inode.lease_holder:
                fsn.add_lease(inode.lease_holder, inode)
            if inode.is_dir:
                queue.append(inode.id)
    if by_parent:
        orphans = sum(len(rows) for rows in by_parent.values())
        raise CorruptImage(f"image txid {image['txid']}: {orphans} inodes have no parent in the image")
    for block_id, inode_id, gs, num_bytes, committed in image["blocks"]:
        fsn.blocks.add(BlockInfo(block_id, inode_id, gs, num_bytes, committed))
    table.next_id = max(table.next_id, image["next_inode_id"])
    fsn.blocks.next_block_id = max(fsn.blocks.next_block_id, image["next_block_id"])
    fsn.blocks.next_generation_stamp = max(fsn.blocks.next_generation_stamp, image["next_generation_stamp"])
