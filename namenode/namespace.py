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
        self._last_resolved: tuple = (None, -1, [])    # (path, table.version, chain)

    # ------------------------------------------------------------ resolution
    def caller(self, user: str, groups=()) -> Caller:
        groups = tuple(groups)
        return Caller(user, groups, user == self.superuser or self.supergroup in groups)

    def where(self, path: str) -> str:
        return f"{path} (namespace {self.nameservice})"

    def resolve(self, path: str) -> list[Inode | None]:
        """Inodes from the root down to ``path``; a missing tail is None-padded.

        Raises NotADirectory when a file sits where a directory is needed.
        An operation resolves its path in its check and again in its apply step
        (which replay runs alone): the last answer is kept until the tree changes."""
        table = self.table
        last_path, version, chain = self._last_resolved
        if last_path == path and version == table.version:
            return list(chain)
        mode, lookup = table.mode, table.lookup_slot
        chain = [Inode(table, ROOT_ID)]
        names = path.encode()[1:].split(b"/") if path != "/" else ()
        slot = ROOT_ID
        for i, name in enumerate(names):
            if slot is None:
                chain.append(None)
                continue
            if not mode[slot] & DIR_BIT:
                prefix = "/" + "/".join(paths.components(path)[:i])
                raise NotADirectory(f"{self.where(path)}: {prefix} is not a directory", path)
            slot = lookup(slot, name)
            chain.append(None if slot is None else Inode(table, slot))
        self._last_resolved = (path, table.version, chain)
        return list(chain)

    def find(self, caller: Caller, path: str) -> Inode:
        """The inode at ``path`` once the caller may traverse every directory above it
        (NotFound otherwise): the start of every read, so it walks slots without
        building the whole chain."""
        table = self.table
        mode, lookup = table.mode, table.lookup_slot
        slot, check = ROOT_ID, not caller.superuser
        for name in (path.encode()[1:].split(b"/") if path != "/" else ()):
            bits = mode[slot]
            if not bits & DIR_BIT:
                self.resolve(path)                       # raises NotADirectory naming the culprit
            # a directory everyone may enter (0o111) needs no owner/group lookup
            if check and bits & 0o111 != 0o111:
                self.check(caller, Inode(table, slot), EXECUTE, path)
            slot = lookup(slot, name)
            if slot is None:
                raise NotFound(f"{self.where(path)}: no such file or directory", path)
        return Inode(table, slot)

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
        table, slot = self.table, inode.slot
        mode = table.mode[slot]
        if table.strings[table.owner[slot]] == caller.user:
            bits = mode >> 6
        elif table.strings[table.group[slot]] in caller.groups:
            bits = mode >> 3
        else:
            bits = mode
        return (bits & access) == access

    def check(self, caller: Caller, inode: Inode, access: int, path: str) -> None:
        if not self.allowed(caller, inode, access):
            wanted = "".join(c for c, bit in (("r", READ), ("w", WRITE), ("x", EXECUTE)) if access & bit)
            raise AccessDenied(
                f"{self.where(path)}: permission denied: user={caller.user}, access={wanted}, "
                f"inode={self.path_of(inode)}:{inode.owner}:{inode.group}:{mode_string(inode)}", path)

    def check_traverse(self, caller: Caller, chain: list[Inode | None], path: str) -> None:
        """Execute permission on every existing ancestor directory."""
        if caller.superuser:
            return
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
