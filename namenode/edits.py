"""Edit-log records: one frozen class per kind of namespace change.

A record is what ``Namesystem.commit`` applies and the journal stores; its
apply function (``ops.APPLY[type(record)]``) changes the tables, live and on
replay alike. On disk a record is compact JSON, ``{"op": kind, field: value,
...}`` in field order: the bytes hfed has always written, so edit logs of
earlier versions replay unchanged. Field names are those JSON keys.
"""
from __future__ import annotations

import base64
import functools
import json
from dataclasses import dataclass, fields
from typing import ClassVar

import numpy as np

BlockLength = tuple[int, int]     # (block id, length in bytes)


@dataclass(frozen=True)
class Edit:
    kind: ClassVar[str]
    KINDS: ClassVar[dict[str, type[Edit]]] = {}

    def __init_subclass__(cls, kind: str, **kw):
        super().__init_subclass__(**kw)
        cls.kind = kind
        Edit.KINDS[kind] = cls

    def to_json(self) -> dict:
        return {"op": self.kind, **self.__dict__}     # a dataclass's __dict__ holds its fields in order

    def encode(self) -> bytes:
        return json.dumps(self.to_json(), separators=(",", ":")).encode()


def decode(payload: bytes) -> Edit:
    """The record an edit-log payload holds; ValueError if it is not a known edit."""
    return _from_json(json.loads(payload))


def _from_json(record) -> Edit:
    if not isinstance(record, dict) or record.get("op") not in Edit.KINDS:
        raise ValueError(f"not a known edit: {str(record)[:80]}")
    cls = Edit.KINDS[record["op"]]
    names = _field_names(cls)
    if len(record) != len(names) + 1 or not all(name in record for name in names):
        raise ValueError(f"a {cls.kind} edit has fields {sorted(set(record) - {'op'})}, not {sorted(names)}")
    values = [record[name] for name in names]
    return cls(*[_frozen(v) if isinstance(v, (list, dict)) else v for v in values])


@functools.cache
def _field_names(cls) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


def _frozen(value):
    """JSON lists as tuples (records are immutable); a nested record as its class."""
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, dict):
        return _from_json(value)
    return value


# ------------------------------------------------------------ directories
@dataclass(frozen=True)
class Mkdirs(Edit, kind="mkdirs"):
    path: str
    perm: int
    owner: str
    group: str
    mtime: int
    parents: bool


@dataclass(frozen=True)
class Delete(Edit, kind="delete"):
    path: str
    recursive: bool
    mtime: int


@dataclass(frozen=True)
class Rename(Edit, kind="rename"):
    src: str
    dst: str
    mtime: int


# ------------------------------------------------------------------ files
@dataclass(frozen=True)
class Create(Edit, kind="create"):
    path: str
    perm: int
    owner: str
    group: str
    mtime: int
    overwrite: bool
    parents: bool
    replication: int
    block_size: int
    client: str


@dataclass(frozen=True)
class AddBlock(Edit, kind="add_block"):
    path: str
    client: str
    block_id: int
    gs: int
    previous: BlockLength | None     # the block before it, now of fixed length


@dataclass(frozen=True)
class Complete(Edit, kind="complete"):
    path: str
    client: str
    last: BlockLength | None
    mtime: int


@dataclass(frozen=True)
class Append(Edit, kind="append"):
    """A closed file reopened for writing at its end, leased to ``client``."""
    path: str
    client: str


@dataclass(frozen=True)
class AbandonBlock(Edit, kind="abandon_block"):
    path: str
    client: str
    block_id: int


@dataclass(frozen=True)
class RecoverLease(Edit, kind="recover_lease"):
    path: str
    client: str
    last_len: int | None             # None: drop the last block (no DataNode reported it)
    mtime: int


# ------------------------------------------------------------- attributes
@dataclass(frozen=True)
class SetReplication(Edit, kind="set_replication"):
    path: str
    replication: int


@dataclass(frozen=True)
class SetPermission(Edit, kind="set_permission"):
    path: str
    perm: int


@dataclass(frozen=True)
class SetOwner(Edit, kind="set_owner"):
    path: str
    owner: str                       # "": unchanged
    group: str


@dataclass(frozen=True)
class SetTimes(Edit, kind="set_times"):
    path: str
    mtime: int                       # negative: unchanged
    atime: int


# ------------------------------------------------------------ small files
@dataclass(frozen=True)
class CommitSmall(Edit, kind="commit_small"):
    path: str
    client: str
    container: int                   # container block id
    offset: int
    length: int
    crc: int
    mtime: int
    create: Create | None            # the file is created by this commit
    archive: tuple[int, int] | None  # (file id, mtime) of a file with blocks whose bytes the entry now holds

    def to_json(self) -> dict:
        out = super().to_json()
        if self.create is not None:
            out["create"] = self.create.to_json()
        return out


@dataclass(frozen=True)
class Packed(Edit, kind="packed"):
    """Files the packer rewrote into container ``block_id``. ``files``: 5 rows of int64
    (slot, old container, old offset, new offset, length), base64 of the little-endian
    array, so a record of thousands of files is one string, not thousands of JSON lists."""
    container: str                   # path of the packed container
    block_id: int
    files: str

    @classmethod
    def of(cls, container: str, block_id: int, columns: np.ndarray) -> Packed:
        data = np.ascontiguousarray(columns, dtype="<i8").tobytes()
        return cls(container, block_id, base64.b64encode(data).decode())

    def columns(self) -> np.ndarray:
        return np.frombuffer(base64.b64decode(self.files), dtype="<i8").reshape(5, -1)


# Records of an older hfed that held small files' bytes (base64 in ``data``):
# replayed from its edit logs, never written now.
@dataclass(frozen=True)
class CompleteSmall(Edit, kind="complete_small"):
    path: str
    client: str
    mtime: int
    data: str


@dataclass(frozen=True)
class StageFile(Edit, kind="stage_file"):
    path: str
    data: str


@dataclass(frozen=True)
class Pack(Edit, kind="pack"):
    container: str
    block_id: int
    entries: tuple[tuple[str, int, int, int], ...]    # (path, slot, offset, length)


@dataclass(frozen=True)
class Restage(Edit, kind="restage"):
    container_block: int
    entries: tuple[tuple[str, int, str], ...]         # (path, slot, base64 data)


# ---------------------------------------------------------- subtree moves
@dataclass(frozen=True)
class ImportSubtree(Edit, kind="import_subtree"):
    """A chunk of a subtree moved in from another namespace (namenode/subtree.py). ``entries``
    is the chunk's JSON text as the mover sent it; ``assigned`` the (source block id, target
    block id) pairs this call gave out, so replay makes exactly the same blocks."""
    path: str
    move_id: str
    source_pool: str
    entries: str
    removed: tuple[str, ...]
    assigned: tuple[tuple[int, int], ...]
    mtime: int


@dataclass(frozen=True)
class DropSubtree(Edit, kind="drop_subtree"):
    """The subtree moved away (or an aborted import): deleted here, whatever fence is up;
    the move's block mapping, if this namespace was its target, is forgotten."""
    path: str
    move_id: str
    mtime: int


@dataclass(frozen=True)
class ForgetMove(Edit, kind="forget_move"):
    """A move into this namespace is over: its (source block -> target block) mapping goes."""
    move_id: str


# ------------------------------------------------------------------ quotas
@dataclass(frozen=True)
class SetQuota(Edit, kind="set_quota"):
    """A directory's quotas as they are now (-1: none; both -1: it has none)."""
    path: str
    ns_quota: int
    space_quota: int
