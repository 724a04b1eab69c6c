"""create, add_block, complete, abandon_block: the write path of a file."""
from __future__ import annotations

from protos import paths
from protos.checksum import BYTES_PER_CHECKSUM
from protos.errors import (AlreadyExists, InvalidArgument, IsADirectory, LeaseConflict, NoSpace,
                           NotFound)
from namenode import edits, quotas
from namenode.blocks import BlockInfo
from namenode.placement import choose_targets
from namenode.inode_table import MAX_BLOCK_SIZE
from namenode.namespace import EXECUTE, WRITE, Caller, Inode
from namenode.ops import append as appending
from namenode.ops.dirs import make_missing_dirs, remove_file_blocks

DEFAULT_FILE_MODE = 0o644
MAX_REPLICATION = 512


def check_replication(fsn, path: str, replication: int) -> None:
    if not 1 <= replication <= MAX_REPLICATION:
        raise InvalidArgument(f"{fsn.ns.where(path)}: replication {replication} is outside 1..{MAX_REPLICATION}",
                              path)


# ------------------------------------------------------------------ create
def create(fsn, caller: Caller, path: str, permission: int, overwrite: bool, create_parent: bool,
           replication: int, block_size: int, client_name: str) -> Inode:
    return fsn.commit(create_record(fsn, caller, path, permission, overwrite, create_parent, replication,
                                    block_size, client_name))


def create_record(fsn, caller: Caller, path: str, permission: int, overwrite: bool, create_parent: bool,
                  replication: int, block_size: int, client_name: str) -> edits.Create:
    """Every check of a create; the journal record that makes it (create and commit_small)."""
    path = paths.validate(path)
    fsn.check_writable(path)
    if path == "/":
        raise IsADirectory(f"{fsn.ns.where(path)}: is a directory", path)
    if not client_name:
        raise InvalidArgument(f"{fsn.ns.where(path)}: create needs a client name (lease holder)", path)
    replication = replication or fsn.default_replication
    block_size = block_size or fsn.default_block_size
    check_replication(fsn, path, replication)
    if not BYTES_PER_CHECKSUM <= block_size <= MAX_BLOCK_SIZE or block_size % BYTES_PER_CHECKSUM:
        raise InvalidArgument(f"{fsn.ns.where(path)}: block size {block_size} must be a positive multiple "
                              f"of {BYTES_PER_CHECKSUM} of at most {MAX_BLOCK_SIZE}", path)
    chain = fsn.ns.resolve(path)
    fsn.ns.check_traverse(caller, chain, path)
    deepest = max(i for i, inode in enumerate(chain[:-1]) if inode is not None)
    fsn.ns.check(caller, chain[deepest], WRITE | EXECUTE, path)
    if chain[-1] is not None and not chain[-1].is_dir:
        fsn.ns.check_sticky(caller, chain[-2], chain[-1], path)
    group = chain[deepest].group
    fsn.check_room(path)
    return edits.Create(path, (permission or DEFAULT_FILE_MODE) & 0o7777, caller.user, group, fsn.now_ms(),
                        overwrite, create_parent, replication, block_size, client_name)


def apply_create(fsn, rec: edits.Create) -> Inode:
    path, ns = rec.path, fsn.ns
    chain = ns.resolve(path)
    existing = chain[-1]
    if existing is not None:
        if existing.is_dir:
            raise IsADirectory(f"{ns.where(path)}: cannot create file: is a directory", path)
        if existing.lease_holder and existing.lease_holder != rec.client:
            raise LeaseConflict(f"{ns.where(path)}: is being written by {existing.lease_holder}", path)
        if not rec.overwrite:
            raise AlreadyExists(f"{ns.where(path)}: file exists", path)
    if chain[-2] is None and not rec.parents:
        raise NotFound(f"{ns.where(path)}: parent {paths.parent_of(path)} does not exist", path)
    if fsn.quotas.dirs:     # counted (and checked) before anything changes
        if existing is None:
            fsn.quotas.names_added(fsn, chain)
        else:
            fsn.quotas.file_replaced(fsn, chain[-2], quotas.file_space(fsn, existing))
    if existing is not None:
        remove_file_blocks(fsn, existing)
        ns.table.remove(existing)
    parent = make_missing_dirs(fsn, path, chain, 0o755, rec.owner, rec.group, rec.mtime,
                               include_last=False)
    inode = ns.table.add(parent.id, paths.components(path)[-1], False, rec.perm, rec.owner, rec.group,
                         rec.mtime, rec.mtime, rec.replication, rec.block_size)
    parent.mtime = rec.mtime
    fsn.add_lease(rec.client, inode)
    return inode


def writing_inode(fsn, path: str, client_name: str) -> Inode:
    """The file ``client_name`` holds the lease on, or a clear error."""
    inode = fsn.ns.get(path)
    if inode.is_dir:
        raise IsADirectory(f"{fsn.ns.where(path)}: is a directory", path)
    if inode.lease_holder != client_name:
        held = f"is being written by {inode.lease_holder}" if inode.lease_holder else "is not open for writing"
        raise LeaseConflict(f"{fsn.ns.where(path)}: {held} (caller {client_name})", path)
    return inode


def _check_last(fsn, inode: Inode, path: str, block_id: int) -> None:
    last = inode.blocks[-1] if inode.blocks else None
    if block_id != last:
        raise InvalidArgument(f"{fsn.ns.where(path)}: block {block_id} is not the file's last block "
                              f"({last})", path)


def _check_fixed_length(fsn, path: str, block_id: int, num_bytes: int) -> None:
    """A block already of fixed length (the last one of a file being appended to) keeps it."""
    block = fsn.blocks.get(block_id)
    if block is not None and block.committed and block.num_bytes != num_bytes:
        raise InvalidArgument(f"{fsn.ns.where(path)}: block {block_id} has {block.num_bytes} bytes, "
                              f"not {num_bytes}", path)


# --------------------------------------------------------------- add_block
def add_block(fsn, caller: Caller, path: str, client_name: str, previous: tuple[int, int] | None,
              excluded: set[str], client_host: str):
    """Allocate the next block; returns (BlockInfo, pipeline DataNodes)."""
    path = paths.validate(path)
    fsn.check_writable(path)
    inode = writing_inode(fsn, path, client_name)
    if previous is not None:
        _check_last(fsn, inode, path, previous[0])
        _check_fixed_length(fsn, path, *previous)
    elif inode.blocks:
        raise InvalidArgument(f"{fsn.ns.where(path)}: add_block needs the previous block", path)
    fsn.check_room(path)
    candidates = [dn for dn in fsn.datanodes.in_service() if dn.uuid not in excluded]   # not decommissioning
    targets = choose_targets(inode.replication, candidates, client_host)
    if not targets:
        raise NoSpace(f"{fsn.ns.where(path)}: no live DataNode can take a block "
                      f"({len(fsn.datanodes.live())} live, {len(fsn.datanodes.in_service())} in service, "
                      f"{len(excluded)} excluded)", path)
    fsn.commit(edits.AddBlock(path, client_name, fsn.blocks.next_block_id, fsn.blocks.next_generation_stamp,
                              tuple(previous) if previous else None))
    return fsn.blocks.get(inode.blocks[-1]), targets


def _commit_length(fsn, block_id: int, num_bytes: int) -> None:
    block = fsn.blocks.get(block_id)
    block.num_bytes, block.committed = num_bytes, True
    # Replicas reported with another length are not this block.
    fsn.needs_check.add(block_id)


def apply_add_block(fsn, rec: edits.AddBlock) -> BlockInfo:
    inode = writing_inode(fsn, rec.path, rec.client)
    if rec.previous:
        _commit_length(fsn, *rec.previous)
        appending.blocks_committed(fsn, inode)
    else:
        appending.before_first_block(fsn, inode)
    block = fsn.blocks.add(rec.block_id, inode.id, rec.gs)
    fsn.ns.table.append_block(inode, block.block_id)
    return block


# ---------------------------------------------------------------- complete
def complete(fsn, caller: Caller, path: str, client_name: str, last: tuple[int, int] | None) -> bool:
    """Close the file; False while a block has no reported replica yet (caller retries)."""
    path = paths.validate(path)
    fsn.check_writable(path)
    inode = fsn.ns.get(path)
    if not inode.is_dir and not inode.lease_holder and last is not None and inode.blocks \
            and inode.blocks[-1] == last[0]:
        return True        # a retried complete that already succeeded
    inode = writing_inode(fsn, path, client_name)
    if last is not None:
        _check_last(fsn, inode, path, last[0])
    elif inode.blocks:
        raise InvalidArgument(f"{fsn.ns.where(path)}: complete needs the last block", path)
    if any(not fsn.blocks.get(b).replicas for b in inode.blocks):
        return False
    appending.check_final_length(fsn, inode, path, last)
    fsn.commit(edits.Complete(path, client_name, tuple(last) if last else None, fsn.now_ms()))
    return True


def apply_complete(fsn, rec: edits.Complete) -> None:
    inode = writing_inode(fsn, rec.path, rec.client)
    if rec.last:
        _commit_length(fsn, *rec.last)
        fsn.ns.table.small.container_closed(rec.last[0])
    appending.blocks_committed(fsn, inode)
    inode.mtime = rec.mtime
    fsn.release_lease(inode)
    fsn.needs_check.update(inode.blocks)


# ----------------------------------------------------------- abandon_block
def abandon_block(fsn, caller: Caller, path: str, client_name: str, block_id: int) -> None:
    path = paths.validate(path)
    fsn.check_writable(path)
    inode = writing_inode(fsn, path, client_name)
    _check_last(fsn, inode, path, block_id)
    fsn.commit(edits.AbandonBlock(path, client_name, block_id))


def apply_abandon_block(fsn, rec: edits.AbandonBlock) -> None:
    inode = writing_inode(fsn, rec.path, rec.client)
    fsn.ns.table.pop_block(inode)
    block = fsn.blocks.remove(rec.block_id)
    if block is not None:
        fsn.invalidate(block)


# ------------------------------------------------------------ lease recovery
def recover_lease(fsn, path: str) -> None:
    """Close a file whose writer vanished: keep every block some DataNode holds,
    at the length a DataNode reported; drop a last block nobody reported."""
    inode = fsn.ns.get(path)
    last_len = None
    if inode.blocks:
        last = fsn.blocks.get(inode.blocks[-1])
        if last.committed or last.replicas:
            last_len = last.num_bytes
        # A staging container keeps every committed entry even if no replica was
        # reported yet (DataNodes down): its replicas hold at least that much.
        committed_end = fsn.ns.table.small.open_end.get(last.block_id)
        if committed_end:
            last_len = max(last_len or 0, committed_end)
    fsn.commit(edits.RecoverLease(path, inode.lease_holder, last_len, fsn.now_ms()))


def apply_recover_lease(fsn, rec: edits.RecoverLease) -> None:
    inode = writing_inode(fsn, rec.path, rec.client)
    if inode.blocks:
        if rec.last_len is None:
            block = fsn.blocks.remove(fsn.ns.table.pop_block(inode))
            if block is not None:
                fsn.invalidate(block)
        else:
            _commit_length(fsn, inode.blocks[-1], rec.last_len)
            fsn.ns.table.small.container_closed(inode.blocks[-1])
    appending.recovered(fsn, inode)
    inode.mtime = rec.mtime
    fsn.release_lease(inode)
    fsn.needs_check.update(inode.blocks)
