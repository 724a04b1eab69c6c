"""set_replication, set_permission, set_owner, set_times."""
from __future__ import annotations

from protos import paths
from protos.errors import AccessDenied, InvalidArgument, IsADirectory
from namenode import edits
from namenode.namespace import WRITE, Caller
from namenode.ops.files import check_replication


def _target(fsn, caller: Caller, path: str):
    path = paths.validate(path)
    fsn.check_writable(path)
    chain = fsn.ns.resolve(path)
    fsn.ns.check_traverse(caller, chain, path)
    return path, fsn.ns.get(path)


def set_replication(fsn, caller: Caller, path: str, replication: int) -> None:
    path, inode = _target(fsn, caller, path)
    if inode.is_dir:
        raise IsADirectory(f"{fsn.ns.where(path)}: cannot set replication of a directory", path)
    check_replication(fsn, path, replication)
    fsn.ns.check(caller, inode, WRITE, path)
    fsn.commit(edits.SetReplication(path, replication))


def apply_set_replication(fsn, rec: edits.SetReplication) -> None:
    inode = fsn.ns.get(rec.path)
    inode.replication = rec.replication
    fsn.needs_check.update(inode.blocks)


def set_permission(fsn, caller: Caller, path: str, permission: int) -> None:
    path, inode = _target(fsn, caller, path)
    if permission > 0o7777:
        raise InvalidArgument(f"{fsn.ns.where(path)}: invalid mode {oct(permission)}", path)
    fsn.ns.check_owner(caller, inode, path)
    fsn.commit(edits.SetPermission(path, permission))


def apply_set_permission(fsn, rec: edits.SetPermission) -> None:
    fsn.ns.get(rec.path).permission = rec.perm


def set_owner(fsn, caller: Caller, path: str, owner: str, group: str) -> None:
    """Only the superuser gives a file away; an owner may change its group to one of theirs."""
    path, inode = _target(fsn, caller, path)
    if not owner and not group:
        raise InvalidArgument(f"{fsn.ns.where(path)}: set_owner needs an owner or a group", path)
    if not caller.superuser:
        if owner and owner != inode.owner:
            raise AccessDenied(f"{fsn.ns.where(path)}: permission denied: only the superuser may change "
                               f"the owner (user={caller.user})", path)
        fsn.ns.check_owner(caller, inode, path)
        if group and group not in caller.groups:
            raise AccessDenied(f"{fsn.ns.where(path)}: permission denied: user={caller.user} is not in "
                               f"group {group}", path)
    fsn.commit(edits.SetOwner(path, owner, group))


def apply_set_owner(fsn, rec: edits.SetOwner) -> None:
    inode = fsn.ns.get(rec.path)
    inode.owner = rec.owner or inode.owner
    inode.group = rec.group or inode.group


def set_times(fsn, caller: Caller, path: str, mtime_ms: int, atime_ms: int) -> None:
    path, inode = _target(fsn, caller, path)
    if not fsn.ns.allowed(caller, inode, WRITE):
        fsn.ns.check_owner(caller, inode, path)
    fsn.commit(edits.SetTimes(path, mtime_ms, atime_ms))


def apply_set_times(fsn, rec: edits.SetTimes) -> None:
    inode = fsn.ns.get(rec.path)
    if rec.mtime >= 0:
        inode.mtime = rec.mtime
    if rec.atime >= 0:
        inode.atime = rec.atime
