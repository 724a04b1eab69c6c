"""complete_small, stage_file, pack, restage: small files without blocks of their own.

Staged bytes travel inside the journal record (base64 in the JSON edit), so a
small file is as durable as any namespace change the moment it is
acknowledged, and replay brings staged files back. ``pack`` switches files to
their container only after the container block is complete on DataNodes.
"""
from __future__ import annotations

import base64

from protos import paths
from protos.errors import AccessDenied, InvalidArgument, IsADirectory, NotFound
from namenode.namespace import WRITE, Caller
from namenode.ops.dirs import remove_file_blocks
from namenode.ops.files import writing_inode

CONTAINER_DIR = "/.hfed-containers"     # outside every mount point: clients never see it


def _threshold(fsn, path: str) -> int:
    if not fsn.small_file_threshold:
        raise InvalidArgument(f"{fsn.ns.where(path)}: small files are off in this namespace "
                              "(small_file_threshold = 0)", path)
    return fsn.small_file_threshold


def _check_size(fsn, path: str, size: int) -> None:
    threshold = _threshold(fsn, path)
    if not 0 < size < threshold:
        raise InvalidArgument(f"{fsn.ns.where(path)}: {size} bytes is not a small file "
                              f"(0 < size < {threshold})", path)


# ---------------------------------------------------------- complete_small
def complete_small(fsn, caller: Caller, path: str, client_name: str, data: bytes) -> None:
    """Close a file being written with its bytes instead of blocks."""
    path = paths.validate(path)
    fsn.check_writable(path)
    inode = fsn.ns.get(path)
    if (not inode.is_dir and not inode.lease_holder and fsn.ns.table.layout(inode.id) == 1
            and fsn.file_length(inode) == len(data)):
        return             # a retried call that already succeeded
    inode = writing_inode(fsn, path, client_name)
    _check_size(fsn, path, len(data))
    if inode.blocks:
        raise InvalidArgument(f"{fsn.ns.where(path)}: already has blocks; close it with Complete", path)
    fsn.commit({"op": "complete_small", "path": path, "client": client_name, "mtime": fsn.now_ms(),
                "data": base64.b64encode(data).decode()})


def apply_complete_small(fsn, rec: dict) -> None:
    inode = writing_inode(fsn, rec["path"], rec["client"])
    fsn.ns.table.stage(inode, base64.b64decode(rec["data"]))
    inode.mtime = rec["mtime"]
    fsn.release_lease(inode)


# -------------------------------------------------------------- stage_file
def stage_file(fsn, caller: Caller, path: str, data: bytes, file_id: int, length: int, mtime: int) -> None:
    """`hfed archive`: a closed file with blocks becomes a staged small file, if it is
    still the file the caller read; its blocks are then deleted."""
    path = paths.validate(path)
    fsn.check_writable(path)
    inode = fsn.ns.find(caller, path)
    if inode.is_dir:
        raise IsADirectory(f"{fsn.ns.where(path)}: is a directory", path)
    if not caller.superuser and not fsn.ns.allowed(caller, inode, WRITE):
        raise AccessDenied(f"{fsn.ns.where(path)}: permission denied: user={caller.user} may not write "
                           f"this file, so may not pack it", path)
    _check_size(fsn, path, len(data))
    now = (inode.id, fsn.file_length(inode), inode.mtime)
    if inode.under_construction or fsn.ns.table.layout(inode.id) != 0 or now != (file_id, length, mtime) \
            or length != len(data):
        raise InvalidArgument(f"{fsn.ns.where(path)}: changed since it was read (or is open or already "
                              f"small); not packed", path)
    fsn.commit({"op": "stage_file", "path": path, "data": base64.b64encode(data).decode()})


def apply_stage_file(fsn, rec: dict) -> None:
    inode = fsn.ns.get(rec["path"])
    remove_file_blocks(fsn, inode)
    fsn.ns.table.stage(inode, base64.b64decode(rec["data"]))


# -------------------------------------------------------------------- pack
def apply_pack(fsn, rec: dict) -> int:
    """Point staged files at their bytes in a finished container. A file that was
    deleted or rewritten since the packer took it stays as it is (its bytes in
    the container are a hole). Returns the number of files switched."""
    table, block_id = fsn.ns.table, rec["block_id"]
    if fsn.blocks.get(block_id) is None:
        raise NotFound(f"container block {block_id} of {rec['container']} does not exist "
                       f"(namespace {fsn.nameservice})", rec["container"])
    switched = 0
    for path, slot, offset, length in rec["entries"]:
        inode = fsn.ns.resolve(path)[-1]
        if inode is None or inode.id != slot or table.layout(slot) != 1 or table.small_length(slot) != length:
            continue
        table.mark_packed(inode, block_id, offset)
        switched += 1
    return switched


# ----------------------------------------------------------------- restage
def apply_restage(fsn, rec: dict) -> None:
    """Compaction: files of a mostly-empty container get their bytes staged again
    (the packer writes them into a new container; the old one is then deleted)."""
    table = fsn.ns.table
    for path, slot, data in rec["entries"]:
        inode = fsn.ns.resolve(path)[-1]
        if inode is not None and inode.id == slot and table.layout(slot) == 2 \
                and table.small.container[table.first_block[slot]] == rec["container_block"]:
            table.stage(inode, base64.b64decode(data))
