"""import_subtree, drop_subtree, forget_move: the edits of subtree moves (namenode/subtree.py).

An import upserts entries (shape: namenode/subtree.py) under its path as they
are on the source: same attributes, the source's generation stamps, and block
ids this namespace assigned once per source block (the record carries the new
assignments, so replay makes exactly the same blocks). Blocks a re-imported
file no longer has leave the map and their replicas here are deleted; blocks
that merely moved to another path within the same import stay, replicas and all.
"""
from __future__ import annotations

import base64
import json
import logging

from protos import paths
from protos.errors import HfedError
from protos.checksum import BYTES_PER_CHECKSUM
from namenode import edits
from namenode.inode_table import ROOT_ID
from namenode.namespace import Inode
from namenode.ops import files
from namenode.ops.dirs import bottom_up, make_missing_dirs
from namenode.ops.small import CONTAINER_DIR
from namenode.quotas import Usage
from namenode.small_files import Layout
from namenode.subtree import MoveMap, absolute, lookup_path, open_files, source_blocks, subtree_root

log = logging.getLogger(__name__)
MOVED = "m"      # first letter of a container that moved in from another namespace


def apply_import(fsn, rec: edits.ImportSubtree) -> dict:
    items = json.loads(rec.entries) if rec.entries else []
    move = fsn.moves.get(rec.move_id)
    if move is None:
        move = fsn.moves[rec.move_id] = MoveMap(rec.source_pool, rec.path)
    move.ids.update((int(s), int(t)) for s, t in rec.assigned)
    keep = {move.ids[s] for s, *_ in source_blocks(items)}
    root, table = rec.path, fsn.ns.table
    for path in rec.removed + tuple(absolute(root, i["path"]) for i in items if i["type"] == "gone"):
        inode = lookup_path(fsn, path)
        if inode is not None:
            remove_tree(fsn, inode, keep)
    chain = fsn.ns.resolve(root)
    su, supergroup = fsn.ns.superuser, fsn.ns.supergroup
    if chain[-1] is None:      # missing directories down to the root: the superuser's, 0755
        make_missing_dirs(fsn, root, chain, 0o755, su, supergroup, rec.mtime, include_last=True)
    dirs = {"": fsn.ns.get(root)}
    counts = {"files": 0, "directories": 0, "blocks": len(keep)}
    quotas = []
    for item in items:
        rel = item["path"]
        if item["type"] == "gone":
            continue
        if rel:
            parent_rel, _, name = rel.rpartition("/")
            parent = dirs.get(parent_rel) or fsn.ns.get(absolute(root, parent_rel))
            existing = table.lookup(parent.id, name)
        else:
            parent, name, existing = None, "", dirs[""]
        if item["type"] == "dir":
            dirs[rel] = _upsert_dir(fsn, parent, name, item, existing, keep)
            counts["directories"] += 1
            quotas.append((dirs[rel].id, item.get("quota")))
        else:
            _upsert_file(fsn, move, parent, name, item, existing, keep, rec.mtime)
            counts["files"] += 1
    _carry_quotas(fsn, quotas)
    return counts


def _carry_quotas(fsn, dirs: list) -> None:
    """The imported directories' quotas as the source has them now (none: cleared),
    their usage counted once the entries are in."""
    known = fsn.quotas
    for slot, quota in dirs:
        if quota is None:
            if known.quota_of(slot) is not None:
                known.drop(slot)
            continue
        known.set_usage(slot, Usage(*quota))
    for slot, quota in dirs:
        if quota is not None:
            known.recount(fsn, slot)


def _set_attrs(inode: Inode, item: dict) -> None:
    inode.permission, inode.owner, inode.group = item["perm"], item["owner"], item["group"]
    inode.mtime, inode.atime = item["mtime"], item["atime"]


def _upsert_dir(fsn, parent: Inode | None, name: str, item: dict, existing: Inode | None, keep: set) -> Inode:
    if existing is not None and not existing.is_dir:
        remove_tree(fsn, existing, keep)
        existing = None
    if existing is None:
        return fsn.ns.table.add(parent.id, name, True, item["perm"], item["owner"], item["group"], item["mtime"],
                                item["atime"])
    _set_attrs(existing, item)
    return existing


def _upsert_file(fsn, move: MoveMap, parent: Inode, name: str, item: dict, existing: Inode | None,
                 keep: set, mtime: int) -> None:
    table = fsn.ns.table
    if existing is not None and existing.is_dir:
        remove_tree(fsn, existing, keep)
        existing = None
    if existing is None:
        inode = table.add(parent.id, name, False, item["perm"], item["owner"], item["group"], item["mtime"],
                          item["atime"], item["replication"], item["block_size"])
    else:
        inode = existing
        if inode.under_construction:
            fsn.release_lease(inode)           # a copy has no writer here
        _set_attrs(inode, item)
        inode.replication = item["replication"]
        table.block_units[inode.slot] = item["block_size"] // BYTES_PER_CHECKSUM
    layout = item["layout"]
    wanted = [move.ids[b[0]] for b in item["blocks"]] if layout == Layout.BLOCKS else []
    old = inode.blocks
    table.drop_small(inode.slot)
    for block_id in old:
        if block_id not in keep:
            drop_block(fsn, block_id)
    table.clear_blocks(inode)
    if layout == Layout.BLOCKS:
        for (source, gs, num_bytes, uuids), target in zip(item["blocks"], wanted):
            _put_block(fsn, target, inode.id, gs, num_bytes)
            table.append_block(inode, target)
            move.holders[target] = (source, tuple(uuids))
        fsn.needs_check.update(b for b in wanted if fsn.blocks.get(b).replicas)
    elif layout == Layout.PACKED:
        c = item["container"]
        target = _container(fsn, move.ids[c[0]], c, mtime)
        move.holders[target] = (c[0], tuple(c[3]))
        table.set_packed(inode, target, item["offset"], item["length"])
    else:
        table.stage(inode, base64.b64decode(item["data"]))


def _put_block(fsn, target: int, inode_id: int, gs: int, num_bytes: int) -> None:
    block = fsn.blocks.get(target)
    if block is not None and block.generation_stamp != gs:
        drop_block(fsn, target)              # the source recovered it: a new replica to link
        block = None
    if block is None:
        fsn.blocks.add(target, inode_id, gs, num_bytes, committed=True)   # keeps the gs counter above gs
        return
    fsn.blocks.inode[block.slot] = inode_id
    if block.num_bytes != num_bytes:
        block.num_bytes = num_bytes
        fsn.needs_check.add(target)


def _container(fsn, target: int, c: list, mtime: int) -> int:
    """The container block ``target`` (a file of its own under CONTAINER_DIR, made once)."""
    _source, gs, num_bytes, _uuids, raw, replication, block_size = c
    block = fsn.blocks.get(target)
    if block is not None:
        if num_bytes > block.num_bytes:      # a staging container that took more commits:
            block.num_bytes = num_bytes      # its replicas here are too short until linked again
            for uuid in list(block.replicas):
                fsn.blocks.remove_replica(target, uuid)
        return target
    table, su = fsn.ns.table, fsn.ns.superuser
    folder = fsn.ns.resolve(CONTAINER_DIR)[-1]
    if folder is None:
        folder = table.add(ROOT_ID, paths.components(CONTAINER_DIR)[0], True, 0o755, su, fsn.ns.supergroup, mtime)
    holder = table.add(folder.id, f"{MOVED}{target}", False, 0o600, su, folder.group, mtime, mtime, replication,
                       block_size)
    fsn.blocks.add(target, holder.id, gs, num_bytes, committed=True)
    table.append_block(holder, target)
    if raw:
        table.small.raw.add(target)
    return target


def drop_block(fsn, block_id: int) -> None:
    """The block leaves this namespace: its replicas in this pool are deleted."""
    block = fsn.blocks.remove(block_id)
    if block is not None:
        fsn.invalidate(block)
        fsn.pending.pop(block_id, None)
    fsn.ns.table.small.forget_container(block_id)


def remove_tree(fsn, inode: Inode, keep: set = frozenset()) -> None:
    """Remove ``inode`` and everything below it; blocks in ``keep`` stay in the map
    (another entry of the same import takes them)."""
    table = fsn.ns.table
    for node in bottom_up(table, inode):
        if not node.is_dir:
            if node.lease_holder:
                fsn.release_lease(node)
            for block_id in node.blocks:
                if block_id not in keep:
                    drop_block(fsn, block_id)
            table.clear_blocks(node)
        elif fsn.quotas.quota_of(node.id) is not None:
            fsn.quotas.drop(node.id)          # its slot may be reused by the next directory made
        table.remove(node)


def apply_drop(fsn, rec: edits.DropSubtree) -> None:
    inode = lookup_path(fsn, rec.path)
    if inode is not None:
        parent = fsn.ns.table.get(inode.parent)
        remove_tree(fsn, inode)
        parent.mtime = rec.mtime
    fsn.fences.pop(rec.path, None)
    fsn.moves.pop(rec.move_id, None)


def apply_forget(fsn, rec: edits.ForgetMove) -> None:
    fsn.moves.pop(rec.move_id, None)


# ------------------------------------------------------------ fences (live only)
def fence(fsn, path: str, move_id: str, force_close_open: bool) -> list[str]:
    """Refuse namespace changes under ``path`` (errors.Retry) until unfenced or dropped;
    returns what is still open under it (force_close_open: their leases are recovered
    now, as when a writer's lease expires). Kept in memory only."""
    path, root = subtree_root(fsn, path, "fence")
    fsn.fences[path] = move_id
    still = open_files(fsn, path, root)
    # Staging containers holding its small files are closed always: their writers carry on
    # in new containers (client/small_writer.py); user files only with force_close_open.
    closing = [p for p in still if force_close_open or p.startswith(CONTAINER_DIR + "/")]
    if closing:
        for open_path in closing:
            try:
                files.recover_lease(fsn, open_path)
            except HfedError as e:      # closed meanwhile, or not recoverable: reported as still open
                log.warning("%s: could not close %s for a move: %s", fsn.nameservice, open_path, e)
        still = open_files(fsn, path, root)
    return still


def unfence(fsn, path: str, move_id: str) -> None:
    """Lift the fence; on the target of a finished move, forget its block mapping."""
    fsn.fences.pop(paths.validate(path), None)
    if move_id and move_id in fsn.moves:
        fsn.commit(edits.ForgetMove(move_id))


def drop(fsn, path: str, move_id: str) -> None:
    """Delete the subtree here (it moved away, or an import was aborted) and lift the fence."""
    path, inode = subtree_root(fsn, path, "drop", must_exist=False)
    fsn.check_writable(path)
    if inode is not None or (move_id and move_id in fsn.moves):
        fsn.commit(edits.DropSubtree(path, move_id, fsn.now_ms()))
    fsn.fences.pop(path, None)
