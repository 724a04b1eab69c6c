"""open_container, commit_small, packed: small files whose bytes never reach the NameNode.

A writer asks for a staging container (a one-block file under
/.hfed-containers leased to it), appends entries to it on the DataNodes, and
commits each file once every replica acknowledged its entry: the record holds
(container, offset, length, crc), never bytes. The packer later has a DataNode
rewrite containers into packed ones; ``packed`` then moves each file still
where the packer found it.

complete_small, stage_file, pack and restage are the records of an older hfed
that held small files' bytes in the NameNode: replaying its edit logs still
runs them, so nothing it acknowledged is lost; the packer then moves those
bytes out (namenode/packer.py).
"""
from __future__ import annotations

import base64

from protos import paths, small_entry
from protos.checksum import BYTES_PER_CHECKSUM
from protos.errors import AccessDenied, InvalidArgument, IsADirectory, LeaseConflict, NotFound
from namenode import edits
from namenode.namespace import WRITE, Caller
from namenode.ops import dirs, files
from namenode.ops.dirs import remove_file_blocks
from namenode.ops.files import writing_inode
from namenode.small_files import CONTAINER_DIR, Layout


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


# ---------------------------------------------------------- open_container
STAGING, PACKED, RAW = "s", "p", "c"   # first letter of a container's name: who wrote it


def create_container(fsn, kind: str, client_name: str) -> str:
    """A new, empty container file of ``kind`` leased to ``client_name``; its path."""
    fsn.container_seq += 1
    path = f"{CONTAINER_DIR}/{kind}{fsn.now_ms()}-{fsn.container_seq}"
    files.create(fsn, fsn.ns.caller(fsn.ns.superuser), path, 0o600, False, True, 0, fsn.container_bytes,
                 client_name)
    return path


def open_container(fsn, caller: Caller, client_name: str, client_host: str, excluded: set[str]):
    """A new staging container leased to ``client_name``: (path, BlockInfo, pipeline, max bytes)."""
    _threshold(fsn, CONTAINER_DIR)
    if not client_name:
        raise InvalidArgument(f"namespace {fsn.nameservice}: a staging container needs a client name "
                              f"(its lease holder)", CONTAINER_DIR)
    su = fsn.ns.caller(fsn.ns.superuser)
    path = create_container(fsn, STAGING, client_name)
    try:
        block, targets = files.add_block(fsn, su, path, client_name, None, excluded, client_host)
    except Exception:
        dirs.delete(fsn, su, path, False)
        raise
    fsn.ns.table.small.open_targets[block.block_id] = [n.uuid for n in targets]
    return path, block, targets, fsn.container_bytes


def _open_container_of(fsn, path: str, block_id: int, client_name: str):
    """The container inode of ``block_id`` if it is open and leased to ``client_name``."""
    block = fsn.blocks.get(block_id)
    container = fsn.ns.table.find(block.inode_id) if block is not None else None
    if container is None or not fsn.ns.path_of(container).startswith(CONTAINER_DIR + "/") \
            or not container.blocks or container.blocks[-1] != block_id:
        raise InvalidArgument(f"{fsn.ns.where(path)}: block {block_id} is not a staging container", path)
    if container.lease_holder != client_name:
        # LeaseConflict: the writer sends the entry again in a new container (client/small_writer.py);
        # a subtree move closes the containers that hold its files, with writers still using them.
        raise LeaseConflict(f"{fsn.ns.where(path)}: staging container block {block_id} is not open for "
                            f"{client_name} (it was closed, or another writer holds it)", path)
    return container


# ------------------------------------------------------------ commit_small
def commit_small(fsn, caller: Caller, path: str, client_name: str, container_block: int, offset: int,
                 length: int, crc: int, *, create: dict | None = None, archive: tuple[int, int] | None = None) -> None:
    """Make ``path`` the entry at ``offset`` of an open staging container. ``create``:
    Create's arguments (the file is created closed in this one step); ``archive``:
    (file id, mtime) of a closed file with blocks whose bytes the entry now holds."""
    path = paths.validate(path)
    fsn.check_writable(path)
    _check_size(fsn, path, length)
    container = _open_container_of(fsn, path, container_block, client_name)
    committed_end = fsn.ns.table.small.committed_end(container_block)
    if offset % BYTES_PER_CHECKSUM or offset < committed_end \
            or small_entry.entry_end(offset, length) > container.block_size:
        raise InvalidArgument(f"{fsn.ns.where(path)}: an entry of {length} bytes at offset {offset} was not "
                              f"given to this writer in container block {container_block} (entries start on a "
                              f"{BYTES_PER_CHECKSUM}-byte boundary past {committed_end} "
                              f"and end within {container.block_size})", path)
    mtime, create_record, archived = fsn.now_ms(), None, None
    if create is not None:
        create_record = files.create_record(fsn, caller, path, client_name=client_name, block_size=0, **create)
    elif archive is not None:
        _check_archive(fsn, caller, path, length, *archive)
        archived = tuple(archive)
    else:
        inode = writing_inode(fsn, path, client_name)
        if inode.blocks:
            raise InvalidArgument(f"{fsn.ns.where(path)}: already has blocks; close it with Complete", path)
    fsn.commit(edits.CommitSmall(path, client_name, container_block, offset, length, crc, mtime, create_record,
                                 archived))


def _check_archive(fsn, caller: Caller, path: str, length: int, file_id: int, mtime: int) -> None:
    inode = fsn.ns.find(caller, path)
    if inode.is_dir:
        raise IsADirectory(f"{fsn.ns.where(path)}: is a directory", path)
    if not caller.superuser and not fsn.ns.allowed(caller, inode, WRITE):
        raise AccessDenied(f"{fsn.ns.where(path)}: permission denied: user={caller.user} may not write "
                           f"this file, so may not pack it", path)
    if inode.under_construction or fsn.ns.table.layout(inode.id) != Layout.BLOCKS \
            or (inode.id, fsn.file_length(inode), inode.mtime) != (file_id, length, mtime):
        raise InvalidArgument(f"{fsn.ns.where(path)}: changed since it was read (or is open or already "
                              f"small); not packed", path)


def apply_commit_small(fsn, rec: edits.CommitSmall) -> None:
    table = fsn.ns.table
    if rec.create:
        inode = files.apply_create(fsn, rec.create)
    elif rec.archive:
        inode = fsn.ns.get(rec.path)
        remove_file_blocks(fsn, inode)
    else:
        inode = writing_inode(fsn, rec.path, rec.client)
    table.set_packed(inode, rec.container, rec.offset, rec.length)
    small = table.small
    small.open_end[rec.container] = max(small.committed_end(rec.container),
                                        small_entry.entry_end(rec.offset, rec.length))
    if not rec.archive:
        inode.mtime = rec.mtime
        fsn.release_lease(inode)


# ------------------------------------------------------------------ packed
def apply_packed(fsn, rec: edits.Packed) -> int:
    """Files the packer rewrote into container ``block_id`` move there, if each is still
    the entry the packer read (a file deleted or rewritten meanwhile stays as it is).
    Returns the number of files moved."""
    table, block_id = fsn.ns.table, rec.block_id
    if fsn.blocks.get(block_id) is None:
        raise NotFound(f"packed container block {block_id} of {rec.container} does not exist "
                       f"(namespace {fsn.nameservice})", rec.container)
    small, moved = table.small, 0
    for slot, old_block, old_offset, new_offset, length in zip(*rec.columns().tolist()):
        if _location(table, slot) != (old_block, old_offset, length):
            continue
        table.set_packed(table.get(slot), block_id, new_offset, length)
        moved += 1
    if not moved:
        small.container_number(block_id)      # numbered even when empty, so the packer deletes it
    return moved


def _location(table, slot: int):
    """(container block, offset, length) of a packed file; ("staged", 0, length) of a staged one."""
    if not table.exists(slot):
        return None
    layout = table.layout(slot)
    if layout == Layout.PACKED:
        return table.small.location(table.first_block[slot])
    if layout == Layout.STAGED:
        return (0, 0, table.small_length(slot))
    return None


# -------------------------------------------------- records of an older hfed
def apply_complete_small(fsn, rec: edits.CompleteSmall) -> None:
    """Older hfed: the file was closed with its bytes, held by the NameNode."""
    inode = writing_inode(fsn, rec.path, rec.client)
    fsn.ns.table.stage(inode, base64.b64decode(rec.data))
    inode.mtime = rec.mtime
    fsn.release_lease(inode)


def apply_stage_file(fsn, rec: edits.StageFile) -> None:
    """Older hfed's `hfed archive`: blocks swapped for bytes held by the NameNode."""
    inode = fsn.ns.get(rec.path)
    remove_file_blocks(fsn, inode)
    fsn.ns.table.stage(inode, base64.b64decode(rec.data))


def apply_pack(fsn, rec: edits.Pack) -> int:
    """Older hfed: staged files moved into a container without entry headers."""
    table, block_id = fsn.ns.table, rec.block_id
    if fsn.blocks.get(block_id) is None:
        raise NotFound(f"container block {block_id} of {rec.container} does not exist "
                       f"(namespace {fsn.nameservice})", rec.container)
    table.small.raw.add(block_id)
    switched = 0
    for path, slot, offset, length in rec.entries:
        inode = fsn.ns.resolve(path)[-1]
        if inode is None or inode.id != slot or table.layout(slot) != Layout.STAGED \
                or table.small_length(slot) != length:
            continue
        table.set_packed(inode, block_id, offset, length)
        switched += 1
    return switched


def apply_restage(fsn, rec: edits.Restage) -> None:
    """Older hfed's compaction: files of a sparse container staged again."""
    table = fsn.ns.table
    for path, slot, data in rec.entries:
        inode = fsn.ns.resolve(path)[-1]
        if inode is not None and inode.id == slot and table.layout(slot) == Layout.PACKED \
                and table.small.location(table.first_block[slot])[0] == rec.container_block:
            table.stage(inode, base64.b64decode(data))
