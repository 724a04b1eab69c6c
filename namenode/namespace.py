"""The in-memory namespace: inode table, child index, path resolution, permissions.

No grpc and no I/O: everything here is driven by plain calls (and unit-tested
that way). ``InodeTable`` is the storage interface — a later layout that cuts
bytes per file replaces only that class.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sortedcontainers import SortedDict

from protos import paths
from protos.errors import AccessDenied, NotADirectory, NotFound

ROOT_ID = 1
STICKY = 0o1000
READ, WRITE, EXECUTE = 4, 2, 1


@dataclass(slots=True)
class Inode:
    id: int
    parent: int
    name: str
    is_dir: bool
    permission: int
    owner: str
    group: str
    mtime: int                 # milliseconds since the epoch
    atime: int = 0
    replication: int = 0       # files only
    block_size: int = 0        # files only
    blocks: list[int] = field(default_factory=list)  # block ids, in file order
    lease_holder: str = ""     # client writing it ("" = closed)

    @property
    def under_construction(self) -> bool:
        return bool(self.lease_holder)


class InodeTable:
    """Inodes by id, plus a per-directory child index kept in name order."""

    def __init__(self):
        self._inodes: dict[int, Inode] = {}
        self._children: dict[int, SortedDict] = {}
        self.next_id = ROOT_ID + 1
        self.files = 0
        self.directories = 0

    def __len__(self) -> int:
        return len(self._inodes)

    def get(self, inode_id: int) -> Inode:
        return self._inodes[inode_id]

    def find(self, inode_id: int) -> Inode | None:
        return self._inodes.get(inode_id)

    def lookup(self, parent_id: int, name: str) -> Inode | None:
        child = self._children[parent_id].get(name)
        return None if child is None else self._inodes[child]

    def children(self, dir_id: int, start_after: str = "", limit: int | None = None):
        """(name, inode) pairs of a directory in name order, after ``start_after``."""
        index = self._children[dir_id]
        names = index.irange(minimum=start_after, inclusive=(False, True)) if start_after else index.keys()
        for count, name in enumerate(names):
            if limit is not None and count >= limit:
                return
            yield name, self._inodes[index[name]]

    def child_count(self, dir_id: int) -> int:
        return len(self._children[dir_id])

    def count_after(self, dir_id: int, name: str) -> int:
        index = self._children[dir_id]
        return len(index) - index.bisect_right(name)

    def allocate_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def add(self, inode: Inode) -> None:
        self._inodes[inode.id] = inode
        self.next_id = max(self.next_id, inode.id + 1)
        if inode.is_dir:
            self._children[inode.id] = SortedDict()
            self.directories += 1
        else:
            self.files += 1
        if inode.id != ROOT_ID:
            self._children[inode.parent][inode.name] = inode.id

    def add_many(self, inodes) -> list[Inode]:
        """Bulk insert for image loading: each directory's index is sorted once
        instead of taking one insert per child. Returns inodes whose parent is
        not a directory of the table (left out)."""
        pending: dict[int, dict] = {}
        for inode in inodes:
            self._inodes[inode.id] = inode
            if inode.is_dir and inode.id not in self._children:
                pending.setdefault(inode.id, {})
            if inode.id != ROOT_ID:
                pending.setdefault(inode.parent, {})[inode.name] = inode.id
        orphans = []
        for dir_id, entries in pending.items():
            parent = self._inodes.get(dir_id)
            if parent is None or not parent.is_dir:
                orphans += [self._inodes.pop(i) for i in entries.values()]
            elif dir_id in self._children:
                self._children[dir_id].update(entries)
            else:
                self._children[dir_id] = SortedDict(entries)
        self.files = sum(1 for i in self._inodes.values() if not i.is_dir)
        self.directories = len(self._inodes) - self.files
        self.next_id = max(self.next_id, max(self._inodes) + 1)
        return orphans

    def remove(self, inode: Inode) -> None:
        """Remove one inode (a directory must already be empty)."""
        del self._children[inode.parent][inode.name]
        del self._inodes[inode.id]
        if inode.is_dir:
            del self._children[inode.id]
            self.directories -= 1
        else:
            self.files -= 1

    def move(self, inode: Inode, new_parent: int, new_name: str) -> None:
        del self._children[inode.parent][inode.name]
        inode.parent, inode.name = new_parent, new_name
        self._children[new_parent][new_name] = inode.id

    def all_inodes(self):
        return self._inodes.values()


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
        self.table.add(Inode(ROOT_ID, 0, "", True, 0o755, superuser, supergroup, now_ms))

    # ------------------------------------------------------------ resolution
    def caller(self, user: str, groups=()) -> Caller:
        groups = tuple(groups)
        return Caller(user, groups, user == self.superuser or self.supergroup in groups)

    def where(self, path: str) -> str:
        return f"{path} (namespace {self.nameservice})"

    def resolve(self, path: str) -> list[Inode | None]:
        """Inodes from the root down to ``path``; a missing tail is None-padded.

        Raises NotADirectory when a file sits where a directory is needed."""
        chain: list[Inode | None] = [self.table.get(ROOT_ID)]
        names = paths.components(path)
        for i, name in enumerate(names):
            current = chain[-1]
            if current is None:
                chain.append(None)
                continue
            if not current.is_dir:
                prefix = "/" + "/".join(names[:i])
                raise NotADirectory(f"{self.where(path)}: {prefix} is not a directory", path)
            chain.append(self.table.lookup(current.id, name))
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
