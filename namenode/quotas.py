"""Directory quotas (HDFS's name and space quotas), counted incrementally.

A directory may carry a *name quota* (files + directories at and below it, the
directory itself included) and a *space quota* (bytes x replication of the
files below it). Only directories with a quota have an entry here: a sparse
map inode id -> ``Usage`` (quotas, names, space). A change adds what it makes or
removes to the quota'd directories above it: a walk up the changed inode's
ancestors (cached per directory), never over a tree. mkdirs and create do it in
their apply functions (``names_added``: the hot path); every other kind through
a *plan* (``PLANS``) that ``Namesystem.apply`` runs around the record's apply
function while any quota exists: it works out what the change adds from the
state before it, checks, applies, and adds. Live calls and journal replay run
the same code. Usage is counted by a tree walk only when a directory gets its
first quota, when an image is loaded, and where HDFS walks too (below).

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
OVER_CACHE = 1 << 16     # directories whose quota'd ancestors are remembered


UNLIMITED = 1 << 62


class Usage:
    """One quota'd directory: its quotas and what its subtree holds now: ``names``, its
    directories + files (what the name quota counts; HDFS's fileAndDirectoryCount), and
    ``space``. The limits are the quotas with none as UNLIMITED: a check is one comparison."""
    __slots__ = ("_ns_quota", "_space_quota", "ns_limit", "space_limit", "names", "space")

    def __init__(self, ns_quota: int = NONE, space_quota: int = NONE):
        self.ns_quota, self.space_quota = ns_quota, space_quota
        self.names = self.space = 0

    @property
    def ns_quota(self) -> int:
        return self._ns_quota

    @ns_quota.setter
    def ns_quota(self, value: int) -> None:
        self._ns_quota, self.ns_limit = value, UNLIMITED if value == NONE else value

    @property
    def space_quota(self) -> int:
        return self._space_quota

    @space_quota.setter
    def space_quota(self, value: int) -> None:
        self._space_quota, self.space_limit = value, UNLIMITED if value == NONE else value


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


def missing(chain: list) -> int:
    """How many inodes at the end of a resolved path do not exist (by identity: a list's
    count(None) would call Inode.__eq__ on every element)."""
    n = 0
    while chain[-1 - n] is None:
        n += 1
    return n


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
    """``appliers``: record kind -> function(fsn, record) that applies it, what
    ``Namesystem.apply`` calls: the plain apply functions while no directory has a quota
    (nothing to count, not even a look-up), else those with a plan wrapped in it."""

    def __init__(self, apply_table: dict):
        self.dirs: dict[int, Usage] = {}
        self.enforce = True
        self.plain = self.appliers = apply_table
        self.planned = {kind: _planned(self, plan, apply_table[kind]) for kind, plan in PLANS.items()}
        # directory slot -> the Usage of the quota'd directories at and above it: one lookup
        # instead of a walk up per create. Forgotten whenever a directory moves or goes, or
        # a quota comes or goes (a slot may be reused; an ancestor may change).
        self._over: dict[int, list[Usage]] = {}
        # A lower bound of every quota'd directory's room under its name quota (limit - names):
        # while an op adds no more than that, no directory can refuse it and the hot path skips
        # the check. Lowered by every addition; computed again (a pass over the quotas) when
        # quotas change and, once it is too low, after every len(dirs) exactly checked ops.
        self.slack = UNLIMITED
        self._exact = 0

    # ---------------------------------------------------------- accounting
    def quota_of(self, inode_id: int) -> Usage | None:
        return self.dirs.get(inode_id)

    def _above(self, fsn, slot: int) -> list[Usage]:
        """Usage of the quota'd directories from ``slot`` up to the root (``slot`` included)."""
        dirs, parent, found = self.dirs, fsn.ns.table.parent, []
        while True:
            usage = dirs.get(slot)
            if usage is not None:
                found.append(usage)
            if slot == ROOT_ID:
                return found
            slot = parent[slot]

    def over(self, fsn, slot: int) -> list[Usage]:
        found = self._over.get(slot)
        if found is None:
            if len(self._over) >= OVER_CACHE:
                self._over.clear()
            found = self._over[slot] = self._above(fsn, slot)
        return found

    def forget_ancestors(self) -> None:
        self._over.clear()

    def set_usage(self, slot: int, usage: Usage) -> None:
        self.dirs[slot] = usage
        self.changed()

    def drop(self, slot: int) -> None:
        self.dirs.pop(slot, None)
        self.changed()

    def changed(self) -> None:
        """A quota came, went or changed: ancestors' lists and the slack are stale; the
        appliers may change."""
        self._over.clear()
        self._reslack()
        self.appliers = {**self.plain, **self.planned} if self.dirs else self.plain

    def names_added(self, fsn, chain: list) -> None:
        """mkdirs' and create's apply, before they change anything: the inodes missing at the
        end of the resolved ``chain`` (directories, and create's file) are made below the
        deepest existing directory. Checked, then counted: the hot path, so written out."""
        if chain[-2] is not None:                 # the usual case: one new inode
            n, slot = 1, chain[-2].slot
        else:
            n = missing(chain)
            slot = chain[-1 - n].slot
        over = self._over.get(slot)
        if over is None:
            over = self.over(fsn, slot)
        exact = self.slack < n and self.enforce
        if exact:
            for u in over:
                if u.names + n > u.ns_limit:
                    self._refuse(fsn, u, n, 0)
        for u in over:
            u.names += n
        self.slack -= n
        if exact:
            self._exact += 1
            if self._exact >= len(self.dirs):
                self._reslack()

    def _reslack(self) -> None:
        self.slack = min((u.ns_limit - u.names for u in self.dirs.values()), default=UNLIMITED)
        self._exact = 0

    def file_replaced(self, fsn, parent, space: int) -> None:
        """create's apply overwriting a file: its space goes (names stay as they are)."""
        self._add(self.over(fsn, parent.slot), 0, 0, -space)

    def _check(self, fsn, over: list, names: int, space: int) -> None:
        """Refuse (live calls only) what would take a directory in ``over`` past a quota."""
        if self.enforce and (names > 0 or space > 0):
            for u in over:
                if (names > 0 and u.names + names > u.ns_limit) or (space > 0 and u.space + space > u.space_limit):
                    self._refuse(fsn, u, names, space)

    def _refuse(self, fsn, u: Usage, names: int, space: int):
        slot = next(s for s, usage in self.dirs.items() if usage is u)
        path = fsn.ns.path_of(fsn.ns.table.get(slot))
        if names > 0 and u.ns_quota != NONE and u.names + names > u.ns_quota:
            raise QuotaExceeded(f"The NameSpace quota (directories and files) of directory {path} "
                                f"(namespace {fsn.nameservice}) is exceeded: quota={u.ns_quota} "
                                f"file count={u.names + names}", path)
        raise QuotaExceeded(f"The DiskSpace quota of {path} (namespace {fsn.nameservice}) is exceeded: "
                            f"quota = {u.space_quota} B = {_fmt_bytes(u.space_quota)} but diskspace "
                            f"consumed = {u.space + space} B = {_fmt_bytes(u.space + space)}", path)

    def _add(self, over: list, dirs: int, files: int, space: int) -> None:
        names = dirs + files
        if names > 0:
            self.slack -= names
        for u in over:
            u.names += names
            u.space += space

    def recount(self, fsn, slot: int) -> None:
        counts = walk(fsn, fsn.ns.table.get(slot), {})
        u = self.dirs[slot]
        u.names, u.space = counts.dirs + counts.files, counts.space
        self._reslack()

    def recount_all(self, fsn) -> None:
        """After an image load: every quota'd directory's usage from its subtree (a
        quota'd directory whose slot is no directory any more is a corrupt image's: dropped)."""
        self.forget_ancestors()
        table = fsn.ns.table
        for slot in list(self.dirs):
            if not table.exists(slot) or not table.mode[slot] & DIR_BIT:
                self.drop(slot)
            else:
                self.recount(fsn, slot)

    def to_json(self) -> list:
        return [[slot, u.ns_quota, u.space_quota] for slot, u in sorted(self.dirs.items())]

    def from_json(self, rows) -> None:
        self.dirs = {int(slot): Usage(int(ns), int(space)) for slot, ns, space in rows or ()}
        self.changed()

    # ------------------------------------------------------- one mutation
    # While there are quotas, a record with a plan is applied as plan(quotas, fsn, record,
    # apply): the quota check before ``apply(fsn, record)`` and the usage update after it.

    def _plan_small_create(self, fsn, record, apply):
        """commit_small creating its file: apply_create counts the names (names_added), this
        the entry's space, checked before anything changes."""
        chain = fsn.ns.resolve(record.path)
        existing = chain[-1]
        if existing is not None and existing.is_dir or chain[-2] is None and not record.create.parents:
            return apply(fsn, record)                     # the apply refuses
        deepest = chain[len(chain) - 1 - missing(chain) - (0 if existing is None else 1)]
        over = self.over(fsn, deepest.slot)
        if not over:
            return apply(fsn, record)
        space = record.length * record.create.replication
        self._check(fsn, over, 0, space - (file_space(fsn, existing) if existing is not None else 0))
        result = apply(fsn, record)
        self._add(over, 0, 0, space)
        return result

    def _plan_delete(self, fsn, record, apply):
        inode = fsn.ns.get(record.path)
        over = self.over(fsn, inode.parent)
        within = inode.is_dir and self._any_within(fsn, inode.slot)
        if inode.is_dir:
            self.forget_ancestors()
        counts = walk(fsn, inode, self.dirs) if over or within else None
        result = apply(fsn, record)
        if counts is not None:
            self._add(over, -counts.dirs, -counts.files, -counts.space)
            for slot in counts.quotas:
                self.drop(slot)
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
        src_over = self.over(fsn, inode.parent)
        parent = dst_chain[-2]
        dst_over = self.over(fsn, parent.slot) if parent is not None and parent.is_dir else []
        src_ids, dst_ids = {id(u) for u in src_over}, {id(u) for u in dst_over}
        if src_ids == dst_ids:
            return apply(fsn, record)
        if inode.is_dir:
            self.forget_ancestors()
        own = self.dirs.get(inode.slot)
        if own is not None:
            dirs, files, space = 0, own.names, own.space
        else:
            counts = walk(fsn, inode, {})
            dirs, files, space = counts.dirs, counts.files, counts.space
        leaving = [u for u in src_over if id(u) not in dst_ids]
        entering = [u for u in dst_over if id(u) not in src_ids]
        self._check(fsn, entering, dirs + files, space)
        result = apply(fsn, record)
        self._add(leaving, -dirs, -files, -space)
        self._add(entering, dirs, files, space)
        return result

    def _plan_file(self, fsn, record, apply):
        """A change to one file's blocks, length or replication: its space before and after."""
        kind = type(record)
        if kind is edits.CommitSmall and record.create is not None:
            return self._plan_small_create(fsn, record, apply)
        inode = fsn.ns.get(record.path)
        over = self.over(fsn, inode.parent)
        if not over:
            return apply(fsn, record)
        if kind is edits.Complete:
            delta = _completed(fsn, inode, record)
            if delta is not None:                         # the common case, without two sums
                result = apply(fsn, record)
                self._add(over, 0, 0, delta)
                return result
        before = file_space(fsn, inode)
        self._check(fsn, over, 0, _growth(fsn, inode, record, before))
        result = apply(fsn, record)
        after = file_space(fsn, inode) if fsn.ns.table.exists(inode.slot) else 0
        self._add(over, 0, 0, after - before)
        return result

    def _plan_complete(self, fsn, record, apply):
        if not record.last and not fsn.ns.table.small.appending:
            return apply(fsn, record)                     # no last block: nothing changes
        return self._plan_file(fsn, record, apply)

    def _plan_subtree(self, fsn, record, apply):
        """A subtree move's import or drop: counts of its root before and after (a walk,
        only when a quota'd directory is above or inside it). Not enforced."""
        self.forget_ancestors()
        chain = fsn.ns.resolve(record.path)
        deepest = len(chain) - 1
        while chain[deepest] is None:
            deepest -= 1
        root = chain[-1]
        over = [u for i in chain[:deepest + 1] if i is not root and (u := self.dirs.get(i.slot))]
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
            self.drop(slot)
        for slot in after.quotas:
            self.recount(fsn, slot)
        return result


def _planned(quotas: Quotas, plan, apply):
    return lambda fsn, record: plan(quotas, fsn, record, apply)


def _completed(fsn, inode, record) -> int | None:
    """What complete changes in a file of blocks (only its last block's length is fixed now:
    it counted the preferred block size); None for a small file being appended in blocks."""
    table = fsn.ns.table
    if table.small.appending and inode.slot in table.small.appending:
        return None
    if table.layout(inode.slot) != Layout.BLOCKS or not record.last:
        return 0
    blocks = fsn.blocks
    b = blocks.slot_of(record.last[0])
    if b is None or blocks.committed[b]:
        return 0
    return (record.last[1] - inode.block_size) * table.replication[inode.slot]


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


_FILE_RECORDS = (edits.AddBlock, edits.Append, edits.AbandonBlock, edits.RecoverLease,
                 edits.SetReplication, edits.CommitSmall, edits.CompleteSmall, edits.StageFile)
# mkdirs and create count their names in their apply functions (names_added), where the
# resolved path is at hand: they are the hot path, and a second look-up cost 10% of a create.
PLANS = {edits.Delete: Quotas._plan_delete, edits.Rename: Quotas._plan_rename,
          edits.ImportSubtree: Quotas._plan_subtree, edits.DropSubtree: Quotas._plan_subtree,
          edits.Complete: Quotas._plan_complete, **{kind: Quotas._plan_file for kind in _FILE_RECORDS}}
