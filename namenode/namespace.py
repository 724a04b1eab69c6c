"""The in-memory namespace: inode table, child index, path resolution, permissions.

No grpc and no I/O: everything here is driven by plain calls (and unit-tested
that way). The inodes themselves live in columns (namenode/inode_table.py).
"""
from __future__ import annotations

from dataclasses import dataclass

from protos import paths
from protos.errors import AccessDenied, NotADirectory, NotFound
from namenode.inode_table import DIR_BIT, ROOT_ID, Inode, InodeTable  # noqa: F401 - re-exported

STICKY = 0o1000
READ, WRITE, EXECUTE = 4, 2, 1


@dataclass(frozen=True)
class Caller:
    """Who is asking: the user and groups from the call's metadata."""
    user: str
    groups: tuple[str, ...] = ()
    superuser: bool = False


class Namespace:
    """Path resolution and POSIX permission checks over an ``InodeTable``."""

    def __init__(self, nameservice: str, superuser: str, supergroup: str = "supergroup", now_ms: int = 0):
        self.nameservice = nameservice
        self.superuser = superuser
        self.supergroup = supergroup
        self.table = InodeTable()
        self.table.add(0, "", True, 0o755, superuser, supergroup, now_ms)

    # ------------------------------------------------------------ resolution
    def caller(self, user: str, groups=()) -> Caller:
        groups = tuple(groups)
        return Caller(user, groups, user == self.superuser or self.supergroup in groups)

    def where(self, path: str) -> str:
        return f"{path} (namespace {self.nameservice})"

    def resolve(self, path: str) -> list[Inode | None]:
        """Inodes from the root down to ``path``; a missing tail is None-padded.

        Raises NotADirectory when a file sits where a directory is needed."""
        table = self.table
        mode, lookup = table.mode, table.lookup_slot
        chain: list[Inode | None] = [Inode(table, ROOT_ID)]
        names = paths.components(path)
        slot = ROOT_ID
        for i, name in enumerate(names):
            if slot is None:
                chain.append(None)
                continue
            if not mode[slot] & DIR_BIT:
                prefix = "/" + "/".join(names[:i])
                raise NotADirectory(f"{self.where(path)}: {prefix} is not a directory", path)
            slot = lookup(slot, name.encode())
            chain.append(None if slot is None else Inode(table, slot))
        return chain

    def get(self, path: str) -> Inode:
        inode = self.resolve(path)[-1]
        if inode is None:
            raise NotFound(f"{self.where(path)}: no such file or directory", path)
        return inode

    def path_of(self, inode: Inode) -> str:
        names = []
        while inode.id != ROOT_ID:
            names.append(inode.name)
            inode = self.table.get(inode.parent)
        return "/" + "/".join(reversed(names))

    # ----------------------------------------------------------- permissions
    def allowed(self, caller: Caller, inode: Inode, access: int) -> bool:
        if caller.superuser:
            return True
        if caller.user == inode.owner:
            bits = inode.permission >> 6
        elif inode.group in caller.groups:
            bits = inode.permission >> 3
        else:
            bits = inode.permission
        return (bits & access) == access

    def check(self, caller: Caller, inode: Inode, access: int, path: str) -> None:
        if not self.allowed(caller, inode, access):
            wanted = "".join(c for c, bit in (("r", READ), ("w", WRITE), ("x", EXECUTE)) if access & bit)
            raise AccessDenied(
                f"{self.where(path)}: permission denied: user={caller.user}, access={wanted}, "
                f"inode={self.path_of(inode)}:{inode.owner}:{inode.group}:{mode_string(inode)}", path)

    def check_traverse(self, caller: Caller, chain: list[Inode | None], path: str) -> None:
        """Execute permission on every existing ancestor directory."""
        for inode in chain[:-1]:
            if inode is None:
                return
            self.check(caller, inode, EXECUTE, path)

    def check_sticky(self, caller: Caller, parent: Inode, child: Inode, path: str) -> None:
        """In a sticky directory (like /tmp) only owners may remove or rename entries."""
        if (parent.permission & STICKY and not caller.superuser
                and caller.user not in (parent.owner, child.owner)):
            raise AccessDenied(f"{self.where(path)}: permission denied: sticky bit set on "
                               f"{self.path_of(parent)} and {caller.user} owns neither", path)

    def check_owner(self, caller: Caller, inode: Inode, path: str) -> None:
        if not caller.superuser and caller.user != inode.owner:
            raise AccessDenied(f"{self.where(path)}: permission denied: user={caller.user} is not "
                               f"the owner ({inode.owner}) or the superuser", path)


def mode_string(inode: Inode) -> str:
    out = []
    for shift in (6, 3, 0):
        bits = inode.permission >> shift
        out += ["r" if bits & 4 else "-", "w" if bits & 2 else "-", "x" if bits & 1 else "-"]
    if inode.permission & STICKY:
        out[8] = "t" if out[8] == "x" else "T"
    return ("d" if inode.is_dir else "-") + "".join(out)
