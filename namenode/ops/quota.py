"""set_quota: a directory's name and space quotas (hdfs dfsadmin -setQuota / -setSpaceQuota,
superuser only). The counting is namenode/quotas.py's."""
from __future__ import annotations

from protos import paths
from protos.errors import AccessDenied, InvalidArgument, NotFound
from namenode import edits
from namenode.namespace import Caller
from namenode.quotas import NONE, Usage

MAX_QUOTA = (1 << 63) - 1


def _checked(fsn, path: str, value: int | None, current: int, what: str) -> int:
    """The quota after this call: None keeps ``current``, -1 clears, else a positive count."""
    if value is None:
        return current
    if value == NONE:
        return NONE
    if not 0 < value <= MAX_QUOTA:
        raise InvalidArgument(f"{fsn.ns.where(path)}: invalid {what} quota {value}: must be a positive "
                              f"integer (or -1 to clear it)", path)
    return value


def set_quota(fsn, caller: Caller, path: str, ns_quota: int | None, space_quota: int | None) -> None:
    path = paths.validate(path)
    fsn.check_writable(path)
    if not caller.superuser:
        raise AccessDenied(f"{fsn.ns.where(path)}: only the superuser may set quotas (user={caller.user})", path)
    inode = fsn.ns.get(path)
    if not inode.is_dir:
        raise NotFound(f"{fsn.ns.where(path)}: Cannot set quota on a file", path)
    now = fsn.quotas.quota_of(inode.id) or Usage()
    ns = _checked(fsn, path, ns_quota, now.ns_quota, "name")
    space = _checked(fsn, path, space_quota, now.space_quota, "space")
    fsn.commit(edits.SetQuota(path, ns, space))


def apply_set_quota(fsn, rec: edits.SetQuota) -> None:
    inode = fsn.ns.get(rec.path)
    if not inode.is_dir:
        raise NotFound(f"{fsn.ns.where(rec.path)}: Cannot set quota on a file", rec.path)
    quotas = fsn.quotas
    if rec.ns_quota == NONE and rec.space_quota == NONE:
        quotas.drop(inode.id)
        return
    usage = quotas.dirs.get(inode.id)
    if usage is None:          # its first quota: count what is there once
        quotas.set_usage(inode.id, usage := Usage())
        quotas.recount(fsn, inode.id)
    usage.ns_quota, usage.space_quota = rec.ns_quota, rec.space_quota
    quotas.changed()
