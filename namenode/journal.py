"""Namespace persistence: an image of the namespace plus a log of later edits.

Startup loads the image and replays the edits through the same ``apply``
functions the live RPCs use. The image is rewritten (atomically) on clean
shutdown. This is the simple form: edits are flushed to the OS per record
but not fsynced, and there are no checksums or segments yet.
"""
from __future__ import annotations

import json
import logging
import os
import uuid
from pathlib import Path

from protos.errors import HfedError, InvalidArgument
from namenode import ops
from namenode.blocks import BlockInfo
from namenode.namespace import ROOT_ID, Inode

log = logging.getLogger(__name__)
IMAGE, EDITS, VERSION = "image.json", "edits.jsonl", "VERSION"


def read_or_create_version(meta_dir: Path, nameservice: str, cluster_id: str) -> dict:
    """The pool id is created once per namespace and kept; a foreign cluster id refuses to start."""
    meta_dir.mkdir(parents=True, exist_ok=True)
    path = meta_dir / VERSION
    if path.exists():
        version = json.loads(path.read_text())
        if version["cluster_id"] != cluster_id:
            raise InvalidArgument(f"{path}: belongs to cluster {version['cluster_id']}, not {cluster_id}")
        return version
    version = {"cluster_id": cluster_id, "nameservice": nameservice,
               "pool_id": f"BP-{uuid.uuid4().hex[:12]}-{nameservice}"}
    path.write_text(json.dumps(version))
    return version


class Journal:
    def __init__(self, meta_dir: Path):
        self.meta_dir = meta_dir
        self._edits = None

    def load(self, fsn) -> int:
        """Image then edits into ``fsn``; returns the number of edits replayed."""
        image = self.meta_dir / IMAGE
        if image.exists():
            _load_image(fsn, json.loads(image.read_text()))
        replayed = 0
        edits = self.meta_dir / EDITS
        if edits.exists():
            for line in edits.read_text().splitlines():
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    log.warning("%s: ignoring a torn record at the tail", edits)
                    break
                try:
                    ops.APPLY[record["op"]](fsn, record)
                except HfedError as e:      # it failed live too, after being logged
                    log.warning("replay of %s failed as it did live: %s", record["op"], e)
                replayed += 1
        self._edits = open(edits, "a", encoding="utf-8")
        return replayed

    def append(self, record: dict) -> None:
        self._edits.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._edits.flush()

    def save_image(self, fsn) -> None:
        """Write the whole namespace (temp file + rename), then start a fresh edit log."""
        tmp = self.meta_dir / (IMAGE + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(_image_of(fsn), f, separators=(",", ":"))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.meta_dir / IMAGE)
        if self._edits is not None:
            self._edits.close()
        self._edits = open(self.meta_dir / EDITS, "w", encoding="utf-8")

    def close(self) -> None:
        if self._edits is not None:
            self._edits.close()
            self._edits = None


def _image_of(fsn) -> dict:
    table = fsn.ns.table
    inodes = [[i.id, i.parent, i.name, i.is_dir, i.permission, i.owner, i.group, i.mtime, i.atime,
               i.replication, i.block_size, i.blocks, i.lease_holder] for i in table.all_inodes()]
    blocks = [[b.block_id, b.inode_id, b.generation_stamp, b.num_bytes, b.committed]
              for b in fsn.blocks.blocks.values()]
    return {"next_inode_id": table.next_id, "next_block_id": fsn.blocks.next_block_id,
            "next_generation_stamp": fsn.blocks.next_generation_stamp, "inodes": inodes, "blocks": blocks}


def _load_image(fsn, image: dict) -> None:
    table = fsn.ns.table
    # Parents first: sort by id works because a parent always predates its children
    # except after renames, so add directories in breadth order instead.
    by_parent: dict[int, list] = {}
    for row in image["inodes"]:
        if row[0] == ROOT_ID:
            root = table.get(ROOT_ID)
            root.permission, root.owner, root.group, root.mtime = row[4], row[5], row[6], row[7]
        else:
            by_parent.setdefault(row[1], []).append(row)
    queue = [ROOT_ID]
    while queue:
        parent = queue.pop()
        for row in by_parent.get(parent, ()):
            inode = Inode(*row[:11], blocks=list(row[11]), lease_holder=row[12])
            table.add(inode)
            if inode.lease_holder:
                fsn.add_lease(inode.lease_holder, inode)
            if inode.is_dir:
                queue.append(inode.id)
    for block_id, inode_id, gs, num_bytes, committed in image["blocks"]:
        fsn.blocks.add(BlockInfo(block_id, inode_id, gs, num_bytes, committed))
    table.next_id = max(table.next_id, image["next_inode_id"])
    fsn.blocks.next_block_id = max(fsn.blocks.next_block_id, image["next_block_id"])
    fsn.blocks.next_generation_stamp = max(fsn.blocks.next_generation_stamp, image["next_generation_stamp"])
