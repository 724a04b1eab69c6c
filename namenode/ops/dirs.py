"""mkdirs, delete, rename."""
from __future__ import annotations

from protos import paths
from protos.errors import AlreadyExists, InvalidArgument, NotADirectory, NotEmpty, NotFound
from namenode import edits
from namenode.namespace import EXECUTE, WRITE, Caller, Inode

DEFAULT_DIR_MODE = 0o755


def _refuse_special(fsn, path: str, verb: str) -> None:
    if path == "/":
        raise InvalidArgument(f"cannot {verb} / (namespace {fsn.nameservice})", path)
    if path in fsn.mount_dirs:
        raise InvalidArgument(f"cannot {verb} {path}: it is a mount point of namespace {fsn.nameservice}", path)


# ------------------------------------------------------------------ mkdirs
def mkdirs(fsn, caller: Caller, path: str, permission: int, create_parent: bool) -> None:
    path = paths.validate(path)
    fsn.check_writable(path)
    chain = fsn.ns.resolve(path)
    fsn.ns.check_traverse(caller, chain, path)
    deepest = max(i for i, inode in enumerate(chain) if inode is not None)
    if deepest < len(chain) - 1:
        fsn.ns.check(caller, chain[deepest], WRITE | EXECUTE, path)
        fsn.check_room(path)
    fsn.commit(edits.Mkdirs(path, (permission or DEFAULT_DIR_MODE) & 0o7777, caller.user,
                            _group_of(fsn, chain, deepest), fsn.now_ms(), create_parent))


def _group_of(fsn, chain, deepest) -> str:
    """New inodes take their parent's group, as in HDFS (BSD rule)."""
    return chain[deepest].group if chain[deepest].is_dir else fsn.ns.supergroup


def apply_mkdirs(fsn, rec: edits.Mkdirs) -> None:
    path = rec.path
    chain = fsn.ns.resolve(path)
    if chain[-1] is not None:
        if not chain[-1].is_dir:
            raise AlreadyExists(f"{fsn.ns.where(path)}: exists and is a file", path)
        if not rec.parents:
            raise AlreadyExists(f"{fsn.ns.where(path)}: directory exists", path)
        return
    if chain[-2] is None and not rec.parents:
        raise NotFound(f"{fsn.ns.where(path)}: parent {paths.parent_of(path)} does not exist", path)
    if fsn.quotas.dirs:
        fsn.quotas.names_added(fsn, chain)
    make_missing_dirs(fsn, path, chain, rec.perm, rec.owner, rec.group, rec.mtime, include_last=True)


def make_missing_dirs(fsn, path, chain, perm, owner, group, mtime, include_last: bool) -> Inode:
    """Create the missing directories of ``chain``; returns the last directory."""
    names = paths.components(path)
    last = len(chain) if include_last else len(chain) - 1
    table = fsn.ns.table
    for i in range(1, last):
        if chain[i] is None:
            parent = chain[i - 1]
            # Intermediate directories stay writable by their creator (u+wx), as in HDFS.
            mode = perm if i == len(chain) - 1 else perm | 0o300
            chain[i] = table.add(parent.id, names[i - 1], True, mode, owner, group, mtime)
            parent.mtime = mtime
    return chain[last - 1]


# ------------------------------------------------------------------ delete
def delete(fsn, caller: Caller, path: str, recursive: bool) -> bool:
    path = paths.validate(path)
    fsn.check_writable(path)
    _refuse_special(fsn, path, "delete")
    chain = fsn.ns.resolve(path)
    fsn.ns.check_traverse(caller, chain, path)
    inode = fsn.ns.get(path)
    parent = chain[-2]
    fsn.ns.check(caller, parent, WRITE | EXECUTE, path)
    fsn.ns.check_sticky(caller, parent, inode, path)
    fsn.commit(edits.Delete(path, recursive, fsn.now_ms()))
    return True


def apply_delete(fsn, rec: edits.Delete) -> None:
    path = rec.path
    inode = fsn.ns.get(path)
    table = fsn.ns.table
    if inode.is_dir and table.child_count(inode.id) and not rec.recursive:
        raise NotEmpty(f"{fsn.ns.where(path)}: directory is not empty (use recursive delete)", path)
    parent = table.get(inode.parent)
    for node in bottom_up(table, inode):
        if not node.is_dir:
            remove_file_blocks(fsn, node)
        table.remove(node)
    parent.mtime = rec.mtime


def remove_file_blocks(fsn, inode: Inode) -> None:
    if inode.lease_holder:
        fsn.release_lease(inode)
    for block_id in inode.blocks:
        block = fsn.blocks.remove(block_id)
        if block is not None:
            fsn.invalidate(block)
            fsn.pending.pop(block_id, None)
        fsn.ns.table.small.forget_container(block_id)   # a container being deleted: its number is free
    fsn.ns.table.clear_blocks(inode)


# ------------------------------------------------------------------ rename
def rename(fsn, caller: Caller, src: str, dst: str) -> None:
    src, dst = paths.validate(src), paths.validate(dst)
    fsn.check_writable(src)
    _refuse_special(fsn, src, "rename")
    if dst == "/":      # the root always exists (and has no parent to move into)
        raise AlreadyExists(f"cannot rename {src} to / (namespace {fsn.nameservice}): destination exists", dst)
    if paths.is_within(dst, src):
        raise InvalidArgument(f"cannot rename {src} to {dst} (namespace {fsn.nameservice}): "
                              "a directory cannot move into its own subtree", src)
    src_chain, dst_chain = fsn.ns.resolve(src), fsn.ns.resolve(dst)
    fsn.ns.check_traverse(caller, src_chain, src)
    fsn.ns.check_traverse(caller, dst_chain, dst)
    inode = fsn.ns.get(src)
    fsn.ns.check(caller, src_chain[-2], WRITE | EXECUTE, src)
    fsn.ns.check_sticky(caller, src_chain[-2], inode, src)
    if dst_chain[-2] is not None and dst_chain[-2].is_dir:
        fsn.ns.check(caller, dst_chain[-2], WRITE | EXECUTE, dst)
    fsn.commit(edits.Rename(src, dst, fsn.now_ms()))


def apply_rename(fsn, rec: edits.Rename) -> None:
    src, dst = rec.src, rec.dst
    inode = fsn.ns.get(src)
    dst_chain = fsn.ns.resolve(dst)
    if dst_chain[-1] is not None:
        raise AlreadyExists(f"cannot rename {src} to {dst} (namespace {fsn.nameservice}): destination exists",
                            dst)
    new_parent = dst_chain[-2]
    if new_parent is None:
        raise NotFound(f"cannot rename {src} to {dst} (namespace {fsn.nameservice}): "
                       f"parent {paths.parent_of(dst)} does not exist", dst)
    if not new_parent.is_dir:
        raise NotADirectory(f"cannot rename {src} to {dst} (namespace {fsn.nameservice}): "
                            f"{paths.parent_of(dst)} is not a directory", dst)
    old_parent = fsn.ns.table.get(inode.parent)
    fsn.ns.table.move(inode, new_parent.id, paths.components(dst)[-1])
    old_parent.mtime = new_parent.mtime = rec.mtime


def bottom_up(table, inode) -> list:
    """``inode`` and everything below it, children before their directory (so each
    directory is empty by the time it is removed); iterative, for deep trees."""
    stack, order = [inode], []
    while stack:
        node = stack.pop()
        order.append(node)
        if node.is_dir:
            stack.extend(child for _name, child in table.children(node.id))
    order.reverse()
    return order
