"""Subtree moves between namespaces, the NameNode's half: export, changes, fences, import.

`hfed balance PATH NS` (client/balance.py) copies a subtree's metadata from the
source NameNode to the target; the bytes stay where they are, DataNodes
hard-link each replica from the source's block pool into the target's
(``LinkCmd``). No grpc and no I/O here (namenode/move_service.py translates the
RPCs); the import's edit and its apply function live in namenode/ops/moves.py.

Entries
-------
ExportSubtree streams, and ImportSubtree takes, chunks of **entries**: each
chunk is one JSON array of objects, one per inode, parents before children.
``path`` is relative to the subtree root ("" is the root directory itself,
"a/b.txt" is PATH/a/b.txt). Every entry but "gone" carries the inode's own
attributes::

    {"path": "a", "type": "dir", "perm": 493, "owner": "alice", "group": "staff",
     "mtime": 1700000000000, "atime": 0}

A directory with a quota adds ``"quota": [name quota, space quota]`` (-1: none).
A file adds ``replication``, ``block_size`` and ``layout`` (FileLayout: 0
blocks, 1 staged, 2 packed), ``"open": true`` while it is being written (its
last block, if its length is not fixed yet, is left out: the mover waits for
the writer or force-closes it, then carries the file over again), and by layout::

    0  "blocks": [[block_id, generation_stamp, num_bytes, ["datanode uuid", ...]], ...]
    2  "container": [block_id, generation_stamp, num_bytes, ["uuid", ...], raw, replication,
                     block_size], "offset": entry offset, "length": file length
    1  "data": the file's bytes, base64 (held by the NameNode: files of an older hfed)

Block ids and uuids are the source's: the uuids are the DataNodes holding a good
replica (for a container still being written, its pipeline's DataNodes).
``raw`` is 1 for a container of an older hfed (entries without headers); the
other two container fields are its file's. A path that no longer exists is
``{"path": "a/b", "type": "gone"}``.

The target maps every source block (containers included: one target container
per source container, shared by every file that moved with it) to a block id of
its own, once per move (``MoveMap``, journaled with each import and saved in
images), so importing a file again reuses its ids.
"""
from __future__ import annotations

import base64
import json

from protos import paths
from protos.checksum import BYTES_PER_CHECKSUM
from protos.errors import InvalidArgument, NotADirectory, NotFound, NoSpace, Retry
from namenode import edits
from namenode.inode_table import MAX_BLOCK_SIZE
from namenode.namespace import Inode
from namenode.small_files import Layout

CHUNK_BYTES = 2 << 20          # entries per ExportSubtree message: ~2 MB of JSON
LINK_PENDING_S = 300.0         # a queued link counts as a replica on its way this long
MAX_REPLICATION = 512


class MoveMap:
    """One move into this namespace: source block id -> target block id, and per target
    block its source id and the DataNodes that held the source replica (told to link it)."""

    def __init__(self, source_pool: str, path: str):
        self.source_pool, self.path = source_pool, path
        self.ids: dict[int, int] = {}              # source block id -> target block id
        self.holders: dict[int, tuple] = {}        # target block id -> (source block id, uuids)
        self.requeued = False                      # links re-queued since this process started

    def to_json(self) -> dict:
        uuids = sorted({u for _source, held in self.holders.values() for u in held})
        number = {u: i for i, u in enumerate(uuids)}
        return {"pool": self.source_pool, "path": self.path, "ids": [[s, t] for s, t in self.ids.items()],
                "uuids": uuids,
                "holders": [[t, [number[u] for u in held]] for t, (_s, held) in self.holders.items()]}

    @classmethod
    def from_json(cls, data: dict) -> MoveMap:
        move = cls(data["pool"], data["path"])
        move.ids = {int(s): int(t) for s, t in data["ids"]}
        back = {t: s for s, t in move.ids.items()}
        uuids = data["uuids"]
        move.holders = {int(t): (back.get(int(t), 0), tuple(uuids[i] for i in held)) for t, held in data["holders"]}
        return move


def moves_to_json(fsn) -> dict:
    """The moves into this namespace, for the image header ({} when none)."""
    return {move_id: move.to_json() for move_id, move in fsn.moves.items()}


def moves_from_json(fsn, data: dict | None) -> None:
    fsn.moves = {move_id: MoveMap.from_json(move) for move_id, move in (data or {}).items()}


# ------------------------------------------------------------------ checks
def subtree_root(fsn, path: str, verb: str, must_exist: bool = True) -> tuple[str, Inode | None]:
    """The validated path and its directory; InvalidArgument for / or a file, NotFound if missing."""
    path = paths.validate(path)
    if path == "/":
        raise InvalidArgument(f"cannot {verb} / (namespace {fsn.nameservice}): move a directory below it", path)
    inode = fsn.ns.resolve(path)[-1]
    if inode is None:
        if must_exist:
            raise NotFound(f"{fsn.ns.where(path)}: cannot {verb}: no such directory", path)
        return path, None
    if not inode.is_dir:
        raise InvalidArgument(f"{fsn.ns.where(path)}: cannot {verb}: not a directory (move its directory)", path)
    return path, inode


def _relative(root: str, path: str) -> str:
    return "" if path == root else path[len(root) + 1:]


def absolute(root: str, rel: str) -> str:
    return root if not rel else f"{root}/{rel}"


# ------------------------------------------------------------------ export
def walk(fsn, inode: Inode, rel: str):
    """(relative path, inode) of ``inode`` and everything below it, parents first."""
    table = fsn.ns.table
    stack = [(rel, inode)]
    while stack:
        rel, node = stack.pop()
        yield rel, node
        if node.is_dir:
            children = [(f"{rel}/{name}" if rel else name, child) for name, child in table.children(node.id)]
            stack.extend(reversed(children))


def entry(fsn, rel: str, inode: Inode) -> dict:
    """The export entry of one inode (shape: module docstring)."""
    out = {"path": rel, "type": "dir" if inode.is_dir else "file", "perm": inode.permission,
           "owner": inode.owner, "group": inode.group, "mtime": inode.mtime, "atime": inode.atime}
    if inode.is_dir:
        quota = fsn.quotas.quota_of(inode.id)
        if quota is not None:              # quotas travel with their directory
            out["quota"] = [quota.ns_quota, quota.space_quota]
        return out
    table, blocks = fsn.ns.table, fsn.blocks
    layout = table.layout(inode.id)
    out.update(replication=inode.replication, block_size=inode.block_size, layout=int(layout))
    if inode.under_construction:
        out["open"] = True
    if layout == Layout.BLOCKS:
        listed = []
        for block_id in inode.blocks:
            block = blocks.get(block_id)
            if block is None or (inode.under_construction and not block.committed):
                continue          # a writer's last block: its length is not known yet
            listed.append([block_id, block.generation_stamp, block.num_bytes, sorted(block.replicas)])
        out["blocks"] = listed
    elif layout == Layout.PACKED:
        container_id, offset, length = table.small.location(table.first_block[inode.id])
        out.update(container=container_entry(fsn, container_id), offset=offset, length=length)
    else:
        out["data"] = base64.b64encode(table.small.staged[inode.id]).decode()
    return out


def container_entry(fsn, block_id: int) -> list:
    small, block = fsn.ns.table.small, fsn.blocks.get(block_id)
    holder = fsn.ns.table.find(block.inode_id)
    replicas = sorted(block.replicas) or list(small.open_targets.get(block_id, ())
                                              or small.unreported_targets.get(block_id, ()))
    length = max(block.num_bytes, small.open_end.get(block_id, 0))
    return [block_id, block.generation_stamp, length, replicas, int(block_id in small.raw),
            holder.replication if holder else fsn.default_replication,
            holder.block_size if holder else fsn.container_bytes]


class Chunks:
    """Entries encoded as they come, cut into JSON arrays of about ``size`` bytes."""

    def __init__(self, size: int = CHUNK_BYTES):
        self.size, self.done, self.parts, self.length, self.count = size, [], [], 0, 0

    def add(self, item: dict) -> None:
        data = json.dumps(item, separators=(",", ":")).encode()
        if self.parts and self.length + len(data) > self.size:
            self._cut()
        self.parts.append(data)
        self.length += len(data) + 1
        self.count += 1

    def _cut(self) -> None:
        self.done.append(b"[" + b",".join(self.parts) + b"]")
        self.parts, self.length = [], 0

    def finish(self) -> list[bytes]:
        if self.parts or not self.done:
            self._cut()
        return self.done


def export_chunks(fsn, path: str, only=(), chunk_bytes: int = CHUNK_BYTES) -> list[bytes]:
    """The subtree at ``path`` as entry chunks, built in one step (a consistent snapshot).
    ``only``: just those paths (each with its subtree, if a directory; "gone" if missing)
    and the directories between the root and them (their own entries), root first."""
    path, root = subtree_root(fsn, path, "export")
    out = Chunks(chunk_bytes)
    if not only:
        for rel, inode in walk(fsn, root, ""):
            out.add(entry(fsn, rel, inode))
        return out.finish()
    wanted = set()
    for p in only:
        p = paths.validate(p)
        if not paths.is_within(p, path):
            raise InvalidArgument(f"{fsn.ns.where(p)}: not under the exported subtree {path}", p)
        wanted.add(p)
    seen, whole = {""}, set()
    out.add(entry(fsn, "", root))
    for p in sorted(wanted):
        rel = _relative(path, p)
        names = rel.split("/") if rel else []
        if any("/".join(names[:i]) in whole for i in range(len(names))):
            # Inside a directory exported whole: its entries are out already; a path gone
            # from it must still be named, or the target would keep it.
            if rel not in seen and lookup_path(fsn, p) is None:
                seen.add(rel)
                out.add({"path": rel, "type": "gone"})
            continue
        node, at = root, ""
        for name in names[:-1]:             # the directories between the root and p
            child = fsn.ns.table.lookup(node.id, name) if node.is_dir else None
            at = f"{at}/{name}" if at else name
            if child is None or not child.is_dir:
                node = None
                break
            node = child
            if at not in seen:
                seen.add(at)
                out.add(entry(fsn, at, node))
        target = root if not names else (fsn.ns.table.lookup(node.id, names[-1]) if node is not None else None)
        if target is None:
            if rel not in seen:
                seen.add(rel)
                out.add({"path": rel, "type": "gone"})
        elif target.is_dir:
            whole.add(rel)
            for sub, inode in walk(fsn, target, rel):
                if sub not in seen or sub == rel:
                    seen.add(sub)
                    if sub != "" or rel != "":
                        out.add(entry(fsn, sub, inode))
        elif rel not in seen:
            seen.add(rel)
            out.add(entry(fsn, rel, target))
    return out.finish()


# ----------------------------------------------------------------- changes
def changed_paths(fsn, root: str, records) -> tuple[list[str], bool]:
    """Paths under ``root`` that ``records`` ((txid, Edit) pairs) touched, and whether
    some record could not be mapped to paths (the mover then exports everything again)."""
    touched, resync = set(), False

    def note(path: str) -> None:
        if paths.is_within(path, root):
            touched.add(path)
        elif paths.is_within(root, path):
            touched.add(root)              # an ancestor was deleted or renamed

    table = fsn.ns.table
    for _txid, rec in records:
        if isinstance(rec, edits.Rename):
            note(rec.src)
            note(rec.dst)
        elif isinstance(rec, edits.Packed):        # rows moved to another container: slot -> file now
            for slot in rec.columns()[0].tolist():
                inode = table.find(int(slot))
                if inode is not None:
                    note(fsn.ns.path_of(inode))
        elif isinstance(rec, (edits.Pack, edits.Restage)):
            for item in rec.entries:
                note(item[0])
        elif isinstance(rec, edits.ForgetMove):
            continue
        elif hasattr(rec, "path"):
            note(rec.path)
        else:
            resync = True
    return sorted(touched), resync


# ------------------------------------------------------------------ fences
# Records that change the namespace under a fenced subtree; writers of files already
# open may finish (add_block, complete, abandon_block, recover_lease, commit_small of
# an open file), and the packer may move files between containers.
FENCED = (edits.Mkdirs, edits.Create, edits.Append, edits.Delete, edits.SetReplication, edits.SetPermission,
          edits.SetOwner, edits.SetTimes, edits.ImportSubtree)


def check_fences(fsn, record) -> None:
    """errors.Retry if ``record`` would change a subtree being moved to another namespace."""
    if isinstance(record, edits.Rename):
        touched = [(record.src, True), (record.dst, False)]
    elif isinstance(record, edits.CommitSmall):
        touched = [(record.path, False)] if record.create is not None or record.archive is not None else []
    elif isinstance(record, FENCED):
        touched = [(record.path, isinstance(record, edits.Delete))]
    else:
        return
    for path, takes_subtree in touched:
        for fenced in fsn.fences:
            if paths.is_within(path, fenced) or (takes_subtree and paths.is_within(fenced, path)):
                raise Retry(f"{fsn.ns.where(path)}: {fenced} is being moved to another namespace, retry "
                            f"shortly", path)


def open_files(fsn, root_path: str, root: Inode) -> list[str]:
    """Files under the subtree being written, and the staging containers still being
    written that hold small files of it (their entries cannot be linked until closed)."""
    table, small = fsn.ns.table, fsn.ns.table.small
    found, containers = [], set()
    for rel, inode in walk(fsn, root, ""):
        if inode.is_dir:
            continue
        if inode.under_construction:
            found.append(absolute(root_path, rel))
        elif small.open_end and table.layout(inode.id) == Layout.PACKED:
            block_id = small.location(table.first_block[inode.id])[0]
            if block_id in small.open_end:
                containers.add(block_id)
    for block_id in sorted(containers):
        block = fsn.blocks.get(block_id)
        holder = table.find(block.inode_id) if block is not None else None
        if holder is not None and holder.under_construction:
            found.append(fsn.ns.path_of(holder))
    return found


# ------------------------------------------------------------------ import
_ATTRS = {"perm": int, "owner": str, "group": str, "mtime": int, "atime": int}
_FILE = {"replication": int, "block_size": int, "layout": int}


def parse_entries(fsn, root: str, payload: bytes | str) -> list[dict]:
    """Entries of one ImportSubtree call, every field checked (InvalidArgument naming the
    entry, the path and the namespace); nothing is applied before all of them pass."""
    if not payload:
        return []
    try:
        items = json.loads(payload)
    except ValueError as e:
        raise InvalidArgument(f"{fsn.ns.where(root)}: import entries are not JSON: {e}", root)
    if not isinstance(items, list):
        raise InvalidArgument(f"{fsn.ns.where(root)}: import entries must be a JSON array", root)
    for n, item in enumerate(items):
        _check_entry(fsn, root, n, item)
    return items


def _check_entry(fsn, root: str, n: int, item) -> None:
    def bad(why: str):
        where = item.get("path") if isinstance(item, dict) and isinstance(item.get("path"), str) else "?"
        return InvalidArgument(f"{fsn.ns.where(root)}: import entry {n} ({where!r}): {why}", root)

    if not isinstance(item, dict) or not isinstance(item.get("path"), str):
        raise bad("not an object with a path")
    rel = item["path"]
    if rel:
        try:
            normal = paths.validate("/" + rel)
        except ValueError as e:           # InvalidPath
            raise bad(f"bad path: {e}")
        if normal != "/" + rel:
            raise bad("a path relative to the subtree root, normalised")
    kind = item.get("type")
    if kind == "gone":
        if not rel:
            raise bad("the subtree root cannot be gone (use removed)")
        return
    if kind not in ("dir", "file"):
        raise bad(f"type {kind!r} is not dir, file or gone")
    for name, typ in (_ATTRS | (_FILE if kind == "file" else {})).items():
        value = item.get(name)
        if not isinstance(value, typ) or isinstance(value, bool) or (typ is int and value < 0):
            raise bad(f"{name} must be a non-negative {typ.__name__}")
    if item["perm"] > 0o7777 or not item["owner"] or not item["group"]:
        raise bad("perm above 0o7777, or no owner/group")
    if kind == "dir":
        quota = item.get("quota")
        if quota is not None and not (isinstance(quota, list) and len(quota) == 2 and all(
                isinstance(q, int) and not isinstance(q, bool) and (q == -1 or q > 0) for q in quota)):
            raise bad("quota must be [name quota, space quota], each -1 (none) or positive")
        return
    if not rel:
        raise bad("the subtree root must be a directory")
    if not 1 <= item["replication"] <= MAX_REPLICATION or item["block_size"] > MAX_BLOCK_SIZE \
            or item["block_size"] % BYTES_PER_CHECKSUM:
        raise bad("replication or block size out of range")
    layout = item["layout"]
    if layout == Layout.BLOCKS:
        blocks = item.get("blocks")
        if not isinstance(blocks, list) or not all(_is_block(b) for b in blocks):
            raise bad("blocks must be [[block_id, generation_stamp, num_bytes, [uuids]], ...]")
    elif layout == Layout.PACKED:
        c = item.get("container")
        if not (_is_block(c, 7) and c[4] in (0, 1) and 1 <= c[5] <= MAX_REPLICATION and c[6] <= MAX_BLOCK_SIZE
                and not c[6] % BYTES_PER_CHECKSUM):
            raise bad("container must be [block_id, gs, num_bytes, [uuids], raw, replication, block_size]")
        for name in ("offset", "length"):
            if not isinstance(item.get(name), int) or isinstance(item[name], bool) or not 0 <= item[name] < 1 << 32:
                raise bad(f"{name} must be a uint32")
    elif layout == Layout.STAGED:
        try:
            base64.b64decode(item.get("data", None) or "", validate=True)
        except (ValueError, TypeError) as e:
            raise bad(f"data must be base64: {e}")
        if not isinstance(item.get("data"), str):
            raise bad("data must be base64")
    else:
        raise bad(f"layout {layout} is not 0, 1 or 2")


def _is_block(b, size: int = 4) -> bool:
    return (isinstance(b, list) and len(b) == size and all(isinstance(x, int) and not isinstance(x, bool) and x >= 0
                                                            for x in b[:3] + b[4:]) and b[0] > 0
            and isinstance(b[3], list) and all(isinstance(u, str) and u for u in b[3]))


def source_blocks(items: list[dict]):
    """(source block id, gs, num_bytes, uuids) of every block and container the entries name."""
    for item in items:
        if item.get("type") != "file":
            continue
        if item["layout"] == Layout.BLOCKS:
            for b in item["blocks"]:
                yield b[0], b[1], b[2], b[3]
        elif item["layout"] == Layout.PACKED:
            c = item["container"]
            yield c[0], c[1], c[2], c[3]


def import_record(fsn, path: str, source_pool: str, payload, removed, move_id: str) -> edits.ImportSubtree:
    """Every check of an import; the record that makes it (block ids assigned here)."""
    path, _root = subtree_root(fsn, path, "import into", must_exist=False)
    fsn.check_writable(path)
    if not source_pool or not move_id:
        raise InvalidArgument(f"{fsn.ns.where(path)}: an import names its source pool and move id", path)
    if source_pool == fsn.pool_id:
        raise InvalidArgument(f"{fsn.ns.where(path)}: source pool {source_pool} is this namespace's own", path)
    move = fsn.moves.get(move_id)
    if move is not None and (move.source_pool, move.path) != (source_pool, path):
        raise InvalidArgument(f"{fsn.ns.where(path)}: move {move_id} is of {move.path} from pool "
                              f"{move.source_pool}, not of {path} from {source_pool}", path)
    items = parse_entries(fsn, path, payload)
    gone = []
    for p in removed:
        p = paths.validate(p)
        if not paths.is_within(p, path):
            raise InvalidArgument(f"{fsn.ns.where(p)}: removed path is not under the imported subtree {path}", p)
        gone.append(p)
    _check_parents(fsn, path, items, gone)
    known = move.ids if move is not None else {}
    next_id, assigned = fsn.blocks.next_block_id, {}
    for source_id, _gs, _n, _uuids in source_blocks(items):
        if source_id not in known and source_id not in assigned:
            assigned[source_id] = next_id
            next_id += 1
    new_objects = len(assigned) + sum(1 for item in items if item["type"] != "gone"
                                      and lookup_path(fsn, absolute(path, item["path"])) is None)
    check_room_for(fsn, path, new_objects)
    text = json.dumps(items, separators=(",", ":")) if items else ""
    record = edits.ImportSubtree(path, move_id, source_pool, text, tuple(gone),
                                 tuple(assigned.items()), fsn.now_ms())
    if len(record.encode()) > MAX_RECORD:
        raise InvalidArgument(f"{fsn.ns.where(path)}: an import of {len(text):,} bytes of entries is too large "
                              f"for one edit ({MAX_RECORD:,}); send fewer entries per call", path)
    return record


MAX_RECORD = (16 << 20) - 4096       # editlog.MAX_PAYLOAD, less room for the record's other fields


def _check_parents(fsn, root: str, items: list[dict], gone: list[str]) -> None:
    """Each entry's parent is the root's, an earlier entry, or a directory here now."""
    dirs, files = {""}, set()
    for item in items:
        rel = item["path"]
        if item["type"] == "gone":
            continue
        if rel:
            parent = rel.rsplit("/", 1)[0] if "/" in rel else ""
            if parent not in dirs and parent in files:
                raise InvalidArgument(f"{fsn.ns.where(absolute(root, rel))}: import entry's parent {parent!r} "
                                      f"is a file in the same import", absolute(root, rel))
            if parent not in dirs:
                here = lookup_path(fsn, absolute(root, parent))
                if here is None or not here.is_dir or any(paths.is_within(absolute(root, parent), g) for g in gone):
                    raise InvalidArgument(f"{fsn.ns.where(absolute(root, rel))}: import entry comes before its "
                                          f"parent directory {parent!r} (parents first)", absolute(root, rel))
        (dirs if item["type"] == "dir" else files).add(rel)


def lookup_path(fsn, path: str) -> Inode | None:
    """The inode at ``path``, or None (also when a file sits where a directory should)."""
    try:
        return fsn.ns.resolve(path)[-1]
    except NotADirectory:
        return None


def check_room_for(fsn, path: str, count: int) -> None:
    """NoSpace unless the memory budget has room for ``count`` more objects (changes nothing)."""
    fsn.check_room(path)
    budget = fsn.budget
    if budget is None or not count or not budget.limited:
        return
    from namenode.budget import object_counts     # here: budget imports namesystem, which imports this
    objects = sum(object_counts(fsn))
    if budget.max_objects and objects + count > budget.max_objects:
        raise NoSpace(f"{fsn.ns.where(path)}: importing {count:,} objects would pass the namespace object "
                      f"budget ({objects:,} of {budget.max_objects:,} used); nothing was imported", path)
    if budget.max_memory and budget.predicted(objects + count) > budget.max_memory:
        raise NoSpace(f"{fsn.ns.where(path)}: importing {count:,} objects would pass the memory budget "
                      f"({budget.max_memory:,} bytes); nothing was imported", path)


def import_subtree(fsn, path: str, source_pool: str, payload, removed, move_id: str) -> dict:
    """ImportSubtree: one journaled edit, then links queued. With no entries and nothing
    removed it only re-queues the move's links still missing a replica (no edit, so also
    in safe mode: a target restarted mid-move waits there for exactly those replicas)."""
    counts = {"files": 0, "directories": 0, "blocks": 0}
    if not payload and not removed:
        path, _root = subtree_root(fsn, path, "import into", must_exist=False)
        move = fsn.moves.get(move_id)
        if move is None or (move.source_pool, move.path) != (source_pool, path):
            raise InvalidArgument(f"{fsn.ns.where(path)}: no move {move_id} of {path} from pool {source_pool} "
                                  f"here: nothing to link", path)
        queue_links(fsn, move)
        move.requeued = True
        return counts
    record = import_record(fsn, path, source_pool, payload, removed, move_id)
    counts = fsn.commit(record)
    move = fsn.moves[move_id]
    wanted = None if not move.requeued else {move.ids[s] for s, *_ in source_blocks(json.loads(record.entries))} \
        if record.entries else set()
    queue_links(fsn, move, wanted)
    move.requeued = True
    return counts


def queue_links(fsn, move: MoveMap, targets=None) -> int:
    """Tell DataNodes to link the replicas of ``targets`` (default: every block of the move)
    they held in the source pool and have not reported in this pool yet, unless a link
    asked for earlier is still pending."""
    now = fsn.monotonic()
    links: dict[str, list] = {}
    for target in (move.holders if targets is None else targets):
        block = fsn.blocks.get(target)
        if block is None or target not in move.holders:
            continue
        source, holders = move.holders[target]
        have, pending = block.replicas, fsn.pending.get(target)
        waiting = pending[0] if pending and pending[1] > now else set()
        for uuid in holders:
            if uuid not in have and uuid not in waiting:
                links.setdefault(uuid, []).append((source, block.generation_stamp, block.num_bytes, target))
    return fsn.queue_links(move.source_pool, links, now + LINK_PENDING_S)


# ---------------------------------------------------------------- progress
def progress(fsn, path: str) -> dict:
    """MoveProgress: the subtree's blocks and containers, how many have a replica here,
    replicas expected (the source's holders) and linked (of those, reported here)."""
    path, root = subtree_root(fsn, path, "report the move of")
    table, seen = fsn.ns.table, set()
    for _rel, inode in walk(fsn, root, ""):
        if inode.is_dir:
            continue
        layout = table.layout(inode.id)
        if layout == Layout.BLOCKS:
            seen.update(inode.blocks)
        elif layout == Layout.PACKED:
            seen.add(table.small.location(table.first_block[inode.id])[0])
    holders = {}
    for move in fsn.moves.values():
        holders.update(move.holders)
    out = {"blocks": 0, "blocks_with_replicas": 0, "replicas_expected": 0, "replicas_linked": 0}
    for block_id in seen:
        block = fsn.blocks.get(block_id)
        if block is None:
            continue
        replicas, expected = block.replicas, holders.get(block_id, (0, ()))[1]
        out["blocks"] += 1
        out["blocks_with_replicas"] += bool(replicas)
        out["replicas_expected"] += len(expected)
        out["replicas_linked"] += len(replicas.intersection(expected))
    return out
