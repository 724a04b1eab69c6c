"""append: a closed file reopened for writing at its end (HDFS's append with NEW_BLOCK).

The caller then holds the file's lease as after create, adds blocks with
add_block (the first one's ``previous`` is the file's last block, already of
fixed length) and closes it with complete. Appended bytes always go on in a
new block: the last block is never reopened, so a file may have blocks of
different sizes (each LocatedBlock carries its offset).

A small file (PACKED: an entry in a container) has no block to go on in.
Its appender reads the entry, and writes old bytes then new ones: while they
stay below the threshold, commit_small swaps the entry for a new one in one
record. Once they need blocks, the first add_block moves the entry's row
aside (``small.appending``) instead of dropping it: readers go on seeing the
old bytes, and the row is dropped only when committed blocks hold at least
that many bytes (add_block of a later block, complete, or lease recovery).
Lease recovery of an appender that died before that drops its blocks and
makes the file the old entry again: nothing acknowledged before the append
is lost, whichever moment the appender dies at. (Doing the swap in the
NameNode keeps the copy on the client: a NameNode never moves file bytes.)
"""
from __future__ import annotations

from protos import paths
from protos.errors import InvalidArgument, IsADirectory, LeaseConflict, NotFound
from namenode import edits
from namenode.namespace import WRITE, Caller, Inode
from namenode.ops.dirs import remove_file_blocks
from namenode.small_files import CONTAINER_DIR, Layout


def append(fsn, caller: Caller, path: str, client_name: str) -> Inode:
    """Lease the closed file at ``path`` to ``client_name`` for appending; its inode."""
    path = paths.validate(path)
    fsn.check_writable(path)
    where = fsn.ns.where(path)
    if not client_name:
        raise InvalidArgument(f"{where}: append needs a client name (lease holder)", path)
    if paths.is_within(path, CONTAINER_DIR):
        raise InvalidArgument(f"{where}: small-file containers cannot be appended to", path)
    chain = fsn.ns.resolve(path)
    fsn.ns.check_traverse(caller, chain, path)
    inode = chain[-1]
    if inode is None:
        raise NotFound(f"{where}: no such file", path)
    if inode.is_dir:
        raise IsADirectory(f"{where}: cannot append: is a directory", path)
    fsn.ns.check(caller, inode, WRITE, path)
    _check_free(fsn, inode, path)
    if fsn.ns.table.layout(inode.id) == Layout.STAGED:
        raise InvalidArgument(f"{where}: held by the NameNode from an older hfed until the packer moves it "
                              f"(seconds); append again then", path)
    fsn.check_room(path)
    fsn.commit(edits.Append(path, client_name))
    return inode


def _check_free(fsn, inode: Inode, path: str) -> None:
    if inode.lease_holder:
        raise LeaseConflict(f"{fsn.ns.where(path)}: is already open for writing by {inode.lease_holder}", path)


def apply_append(fsn, rec: edits.Append) -> None:
    inode = fsn.ns.get(rec.path)
    if inode.is_dir:
        raise IsADirectory(f"{fsn.ns.where(rec.path)}: cannot append: is a directory", rec.path)
    _check_free(fsn, inode, rec.path)
    fsn.add_lease(rec.client, inode)


# ------------------------------------------- a small file going on in blocks
def stashed_length(fsn, inode: Inode) -> int | None:
    """Length of the entry of a small file being appended in blocks (None: not one)."""
    small = fsn.ns.table.small
    row = small.appending.get(inode.id) if small.appending else None
    return None if row is None else small.length[row]


def before_first_block(fsn, inode: Inode) -> None:
    """add_block's apply: a packed file's entry moves aside (readable) as blocks start."""
    if fsn.ns.table.layout(inode.id) == Layout.PACKED:
        fsn.ns.table.stash_small(inode)


def blocks_committed(fsn, inode: Inode) -> None:
    """Every block of the file has its final length: once they hold the old entry's bytes,
    the entry goes (its container may then be compacted)."""
    old = stashed_length(fsn, inode)
    if old is not None and fsn.blocks_length(inode) >= old:
        fsn.ns.table.unstash_small(inode, restore=False)


def check_final_length(fsn, inode: Inode, path: str, last: tuple[int, int] | None) -> None:
    """complete's check: an appended small file does not end before its old end."""
    old = stashed_length(fsn, inode)
    if old is None:
        return
    final = sum(fsn.blocks.get(b).num_bytes for b in inode.blocks[:-1]) + (last[1] if last else 0)
    if final < old:
        raise InvalidArgument(f"{fsn.ns.where(path)}: an append cannot end the file at {final} bytes, before "
                              f"its old end ({old})", path)


def recovered(fsn, inode: Inode) -> None:
    """Lease recovery closed the file: blocks shorter than the old entry lose to it."""
    old = stashed_length(fsn, inode)
    if old is None:
        return
    if fsn.blocks_length(inode) >= old:
        fsn.ns.table.unstash_small(inode, restore=False)
    else:
        remove_file_blocks(fsn, inode)
        fsn.ns.table.unstash_small(inode, restore=True)
