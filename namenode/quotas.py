"""Directory quotas (HDFS's name and space quotas), counted incrementally.

A directory may carry a *name quota* (files + directories at and below it, the
directory itself included) and a *space quota* (bytes x replication of the
files below it). Only directories with a quota have an entry here: a sparse
map inode id -> ``Usage``. Every namespace change passes through
``Quotas.apply`` (``Namesystem.apply``, live and on replay), which works out
what the change adds or removes from the state *before* it, checks the quota'd
directories above the change, applies it, and then adds that to each of them:
a walk up the changed inode's ancestors, never over a tree. Usage is counted by
a tree walk only when a directory gets its first quota, when an image is loaded,
and where HDFS walks too (below).

What a file counts against a space quota (as HDFS, ``INodeFile.storagespaceConsumed``):
replication x (committed blocks' lengths + the *preferred block size* for each
block still being written), so a writer that is refused gets that answer at
add_block, not after writing the bytes; once complete, the real length. A small
file counts its entry's length (a small file being appended in blocks also its
old entry, until blocks hold those bytes).

Checks run for live calls only (``enforce``; journal replay turns it off, as
HDFS skips quota checks while loading edits): a refused call changes nothing.
Walks, and their cost:
- delete walks the subtree it removes anyway (once more here, for its counts);
- rename between two places with different quota'd ancestors needs the moved
  subtree's counts: a quota'd source has them counted; otherwise a walk of the
  source, as HDFS does (``computeQuotaUsage``); a rename under the same quota'd
  ancestors (the common case) needs nothing;
- a subtree move (``hfed balance``) chunk touching a quota'd directory walks the
  imported root; quotas are counted there but not enforced (an admin's move).
"""
from __future__ import annotations

from protos.errors import QuotaExceeded
from namenode import edits
from namenode.inode_table import DIR_BIT, ROOT_ID
from namenode.small_files import Layout

NONE = -1      # no quota set (HDFS prints "none" / "inf")


class Usage:
    """One quota'd directory: its quotas and what its subtree holds now."""
    __slots__ = ("ns_quota", "space_quota", "dirs", "files", "space")

    def __init__(self, ns_quota: int = NONE, space_quota: int = NONE):
        self.ns_quota, self.space_quota = ns_quota, space_quota
        self.dirs = self.files = self.space = 0

    @property
    def names(self) -> int:
        return self.dirs + self.files


class Counts:
    """What a subtree holds: directories, files, space; ``quotas`` its quota'd directories."""
    __slots__ = ("dirs", "files", "space", "quotas")

    def __init__(self, dirs=0, files=0, space=0):
        self.dirs, self.files, self.space, self.quotas = dirs, files, space, []


def file_space(fsn, inode) -> int:
    """Bytes x replication a file counts against space quotas (see the module doc)."""
    table = fsn.ns.table
    slot = inode.slot
    if table.layout(slot) != Layout.BLOCKS:
        return table.small_length(slot) * table.replication[slot]
    total = 0
    small = table.small
    if small.appending and slot in small.appending:
        total = small.length[small.appending[slot]]
    blocks = fsn.blocks
    preferred = inode.block_size
    for block_id in table.blocks_of(slot):
        b = blocks.slot_of(block_id)
        if b is not None:
            total += blocks.num_bytes[b] if blocks.committed[b] else preferred
    return total * table.replication[slot]


def walk(fsn, inode, quotas: dict) -> Counts:
    """Counts of ``inode``'s subtree (itself included), and the quota'd directories in it."""
    table = fsn.ns.table
    counts = Counts()
    stack = [inode]
    while stack:
        node = stack.pop()
        if table.mode[node.slot] & DIR_BIT:
            counts.dirs += 1
            if node.slot in quotas:
                counts.quotas.append(node.slot)
            stack.extend(child for _name, child in table.children(node.slot))
        else:
            counts.files += 1
            counts.space += file_space(fsn, node)
    return counts


def _fmt_bytes(n: int) -> str:
    """HDFS's long2String(n, "B", 2): 384 MB, 1.50 GB."""
    for unit, shift in (("E", 60), ("P", 50), ("T", 40), ("G", 30), ("M", 20), ("K", 10)):
        if abs(n) >= 1 << shift:
            value = n / (1 << shift)
            return f"{value:.2f}".rstrip("0").rstrip(".") + f" {unit}B"
    return f"{n} B"


class Quotas:
    def __init__(self):
        self.dirs: dict[int, Usage] = {}
        self.enforce = True

    # ---------------------------------------------------------- accounting
    def quota_of(self, inode_id: int) -> Usage | None:
        return self.dirs.get(inode_id)

    def _above(self, fsn, slot: int) -> list[Usage]:
        """Usage of the quota'd directories from ``slot`` up to the root (``slot`` included)."""
        dirs, parent, found = self.dirs, fsn.ns.table.parent, []
        while True:
            usage = dirs.get(slot)
            if usage is not None:
                found.append((slot, usage))
            if slot == ROOT_ID:
                return found
            slot = parent[slot]

    def _check(self, fsn, over: list, names: int, space: int) -> None:
        if not self.enforce or (names <= 0 and space <= 0):
            return
        for slot, u in over:
            if names > 0 and u.ns_quota != NONE and u.names + names > u.ns_quota:
                path = fsn.ns.path_of(fsn.ns.table.get(slot))
                raise QuotaExceeded(f"The NameSpace quota (directories and files) of directory {path} "
                                    f"(namespace {fsn.nameservice}) is exceeded: quota={u.ns_quota} "
                                    f"file count={u.names + names}", path)
            if space > 0 and u.space_quota != NONE and u.space + space > u.space_quota:
                path = fsn.ns.path_of(fsn.ns.table.get(slot))
                raise QuotaExceeded(f"The DiskSpace quota of {path} (namespace {fsn.nameservice}) is exceeded: "
                                    f"quota = {u.space_quota} B = {_fmt_bytes(u.space_quota)} but diskspace "
                                    f"consumed = {u.space + space} B = {_fmt_bytes(u.space + space)}", path)

    @staticmethod
    def _add(over: list, dirs: int, files: int, space: int) -> None:
        for _slot, u in over:
            u.dirs += dirs
            u.files += files
            u.space += space

    def recount(self, fsn, slot: int) -> None:
        counts = walk(fsn, fsn.ns.table.get(slot), {})
        u = self.dirs[slot]
        u.dirs, u.files, u.space = counts.dirs, counts.files, counts.space

    def recount_all(self, fsn) -> None:
        """After an image load: every quota'd directory's usage from its subtree (a
        quota'd directory whose slot is no directory any more is a corrupt image's: dropped)."""
        table = fsn.ns.table
        for slot in list(self.dirs):
            if not table.exists(slot) or not table.mode[slot] & DIR_BIT:
                del self.dirs[slot]
            else:
                self.recount(fsn, slot)

    def to_json(self) -> list:
        return [[slot, u.ns_quota, u.space_quota] for slot, u in sorted(self.dirs.items())]

    def from_json(self, rows) -> None:
        self.dirs = {int(slot): Usage(int(ns), int(space)) for slot, ns, space in rows or ()}

    # ------------------------------------------------------- one mutation
    def apply(self, fsn, record, apply):
        """``apply(fsn, record)`` with its quota check before and usage update after."""
        plan = _PLANS.get(type(record))
        if plan is None:
            return apply(fsn, record)
        return plan(self, fsn, record, apply)

    def _plan_names(self, fsn, record, apply):
        """mkdirs and create: new directories (and a file) under the deepest existing one."""
        chain = fsn.ns.resolve(record.path)
        existing = chain[-1]
        is_create = type(record) is not edits.Mkdirs
        parents = record.create.parents if type(record) is edits.CommitSmall else record.parents
        if (existing is not None and (not is_create or existing.is_dir)) or (chain[-2] is None and not parents):
            return apply(fsn, record)                     # nothing new (or the apply refuses)
        deepest = len(chain) - 2
        while chain[deepest] is None:
            deepest -= 1
        new_dirs = len(chain) - 1 - deepest - (1 if is_create else 0)
        new_files, space = (1, 0) if is_create else (0, 0)
        if existing is not None:                          # overwrite: the old file goes
            new_files, space = 0, -file_space(fsn, existing)
        if type(record) is edits.CommitSmall:
            space += record.length * record.create.replication
        dirs = self.dirs
        over = [(i.slot, u) for i in chain[:deepest + 1] if (u := dirs.get(i.slot)) is not None]
        if not over:
            return apply(fsn, record)
        self._check(fsn, over, new_dirs + new_files, space)
        result = apply(fsn, record)
        self._add(over, new_dirs, new_files, space)
        return result

    def _plan_delete(self, fsn, record, apply):
        inode = fsn.ns.get(record.path)
        over = self._above(fsn, inode.parent)
        within = inode.is_dir and self._any_within(fsn, inode.slot)
        counts = walk(fsn, inode, self.dirs) if over or within else None
        result = apply(fsn, record)
        if counts is not None:
            self._add(over, -counts.dirs, -counts.files, -counts.space)
            for slot in counts.quotas:
                del self.dirs[slot]
        return result

    def _any_within(self, fsn, root: int) -> bool:
        """Whether a quota'd directory sits at or below ``root`` (a walk up from each)."""
        parent = fsn.ns.table.parent
        for slot in self.dirs:
            while True:
                if slot == root:
                    return True
                if slot == ROOT_ID:
                    break
                slot = parent[slot]
        return False

    def _plan_rename(self, fsn, record, apply):
        inode = fsn.ns.get(record.src)
        dst_chain = fsn.ns.resolve(record.dst)
        src_over = self._above(fsn, inode.parent)
        parent = dst_chain[-2]
        dst_over = self._above(fsn, parent.slot) if parent is not None and parent.is_dir else []
        src_ids, dst_ids = {s for s, _ in src_over}, {s for s, _ in dst_over}
        if src_ids == dst_ids:
            return apply(fsn, record)
        own = self.dirs.get(inode.slot)
        if own is not None:
            dirs, files, space = own.dirs, own.files, own.space
        else:
            counts = walk(fsn, inode, {})
            dirs, files, space = counts.dirs, counts.files, counts.space
        leaving = [(s, u) for s, u in src_over if s not in dst_ids]
        entering = [(s, u) for s, u in dst_over if s not in src_ids]
        self._check(fsn, entering, dirs + files, space)
        result = apply(fsn, record)
        self._add(leaving, -dirs, -files, -space)
        self._add(entering, dirs, files, space)
        return result

    def _plan_file(self, fsn, record, apply):
        """A change to one file's blocks, length or replication: its space before and after."""
        if type(record) is edits.CommitSmall and record.create is not None:
            return self._plan_names(fsn, record, apply)
        inode = fsn.ns.get(record.path)
        over = self._above(fsn, inode.parent)
        if not over:
            return apply(fsn, record)
        before = file_space(fsn, inode)
        self._check(fsn, over, 0, _growth(fsn, inode, record, before))
        result = apply(fsn, record)
        after = file_space(fsn, inode) if fsn.ns.table.exists(inode.slot) else 0
        self._add(over, 0, 0, after - before)
        return result

    def _plan_subtree(self, fsn, record, apply):
        """A subtree move's import or drop: counts of its root before and after (a walk,
        only when a quota'd directory is above or inside it). Not enforced."""
        chain = fsn.ns.resolve(record.path)
        deepest = len(chain) - 1
        while chain[deepest] is None:
            deepest -= 1
        root = chain[-1]
        over = [(i.slot, u) for i in chain[:deepest + 1] if i is not root and (u := self.dirs.get(i.slot))]
        if not over and (root is None or not self._any_within(fsn, root.slot)):
            return apply(fsn, record)
        before = walk(fsn, root, self.dirs) if root is not None else Counts()
        result = apply(fsn, record)
        after_chain = fsn.ns.resolve(record.path)
        new_root = after_chain[-1]
        after = walk(fsn, new_root, self.dirs) if new_root is not None else Counts()
        made_above = sum(1 for i in range(deepest + 1, len(chain) - 1) if after_chain[i] is not None)
        self._add(over, after.dirs - before.dirs + made_above, after.files - before.files,
                  after.space - before.space)
        for slot in set(before.quotas) - set(after.quotas):
            del self.dirs[slot]
        for slot in after.quotas:
            self.recount(fsn, slot)
        return result


def _growth(fsn, inode, record, before: int) -> int:
    """How much a file-level record may add to the file's space (checked before it applies)."""
    kind = type(record)
    replication = inode.replication
    if kind is edits.AddBlock:
        grow = inode.block_size
        if record.previous:                # the previous block now counts its real length
            b = fsn.blocks.slot_of(record.previous[0])
            if b is not None and not fsn.blocks.committed[b]:
                grow += record.previous[1] - inode.block_size
        return grow * replication
    if kind is edits.SetReplication:
        return before // replication * record.replication - before if replication else 0
    if kind is edits.CommitSmall:
        return record.length * replication - before
    return 0


_FILE_RECORDS = (edits.AddBlock, edits.Complete, edits.Append, edits.AbandonBlock, edits.RecoverLease,
                 edits.SetReplication, edits.CommitSmall, edits.CompleteSmall, edits.StageFile)
_PLANS = {edits.Mkdirs: Quotas._plan_names, edits.Create: Quotas._plan_names,
          edits.Delete: Quotas._plan_delete, edits.Rename: Quotas._plan_rename,
          edits.ImportSubtree: Quotas._plan_subtree, edits.DropSubtree: Quotas._plan_subtree,
          **{kind: Quotas._plan_file for kind in _FILE_RECORDS}}
