"""Read-only operations: file info, listing, block locations, content summary."""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from protos import paths
from protos.errors import InvalidArgument, IsADirectory
from namenode.namespace import EXECUTE, READ, Caller, Inode
from namenode.small_files import Layout

MAX_LISTING = 1000


@dataclass
class Status:
    """One entry as the client sees it: the inode, its full path and length."""
    path: str
    inode: Inode
    length: int
    children: int = 0


def status(fsn, path: str, inode: Inode) -> Status:
    if inode.is_dir:
        return Status(path, inode, 0, fsn.ns.table.child_count(inode.id))
    return Status(path, inode, fsn.file_length(inode))


def get_file_info(fsn, caller: Caller, path: str) -> Status:
    path = paths.validate(path)
    return status(fsn, path, fsn.ns.find(caller, path))


def get_listing(fsn, caller: Caller, path: str, start_after: str, limit: int) -> tuple[list[Status], int]:
    """Up to ``limit`` entries after ``start_after`` in name order, and how many remain."""
    path = paths.validate(path)
    inode = fsn.ns.find(caller, path)
    if not inode.is_dir:
        return [status(fsn, path, inode)], 0
    fsn.ns.check(caller, inode, READ | EXECUTE, path)
    limit = min(limit or MAX_LISTING, MAX_LISTING)
    entries = [status(fsn, paths.join(path, name), child)
               for name, child in fsn.ns.table.children(inode.id, start_after, limit)]
    remaining = fsn.ns.table.count_after(inode.id, entries[-1].inode.name) if entries else 0
    return entries, remaining


class Locations(NamedTuple):
    file_length: int
    under_construction: bool
    located: list            # [(BlockInfo, offset in file, [DatanodeInfo])]
    layout: Layout = Layout.BLOCKS
    inline: bytes = b""      # staged (older hfed): the whole file
    packed_offset: int = 0   # packed: where the file's entry starts in its container (located[0])
    packed_raw: bool = False  # packed by an older hfed: no entry header


def get_block_locations(fsn, caller: Caller, path: str, offset: int, length: int, client_host: str) -> Locations:
    path = paths.validate(path)
    inode = fsn.ns.find(caller, path)
    if inode.is_dir:
        raise IsADirectory(f"{fsn.ns.where(path)}: is a directory", path)
    fsn.ns.check(caller, inode, READ, path)
    file_length = fsn.file_length(inode)
    table = fsn.ns.table
    layout = table.layout(inode.id)
    if layout == Layout.STAGED:
        return Locations(file_length, False, [], layout, table.small.staged[inode.id])
    stashed = table.small.appending.get(inode.id) if table.small.appending else None
    if layout == Layout.PACKED or stashed is not None:    # (stashed: an append's blocks do not hold it yet)
        row = table.first_block[inode.id] if stashed is None else stashed
        container, packed_offset, _length = table.small.location(row)
        block = fsn.blocks.get(container)
        return Locations(file_length, False, [(block, 0, container_locations(fsn, block, client_host))],
                         Layout.PACKED, b"", packed_offset, container in table.small.raw)
    if offset > file_length:
        raise InvalidArgument(f"{fsn.ns.where(path)}: offset {offset} is past the end ({file_length})", path)
    end = file_length if length == 0 else min(file_length, offset + length)
    located, position = [], 0
    for block_id in inode.blocks:
        block = fsn.blocks.get(block_id)
        block_end = position + block.num_bytes
        if block_end > offset and position < end or (block.num_bytes == 0 and position >= offset):
            located.append((block, position, fsn.live_locations(block, client_host)))
        position = block_end
    return Locations(file_length, inode.under_construction, located)


def container_locations(fsn, block, client_host: str) -> list:
    """Where to read a container: its reported replicas; while it is still being
    written (replicas are reported once finalized), the DataNodes of its pipeline,
    or after a NameNode restart every live DataNode."""
    nodes = fsn.live_locations(block, client_host)
    if nodes or block.committed:
        return nodes
    targets = fsn.ns.table.small.open_targets.get(block.block_id)
    live = [n for n in fsn.datanodes.live() if targets is None or n.uuid in targets]
    return fsn.by_distance(live, client_host)


def content_summary(fsn, caller: Caller, path: str) -> dict:
    path = paths.validate(path)
    root = fsn.ns.find(caller, path)
    summary = {"length": 0, "file_count": 0, "directory_count": 0, "space_consumed": 0}
    stack = [root]
    while stack:
        inode = stack.pop()
        if inode.is_dir:
            summary["directory_count"] += 1
            stack.extend(child for _name, child in fsn.ns.table.children(inode.id))
        else:
            length = fsn.file_length(inode)
            summary["file_count"] += 1
            summary["length"] += length
            summary["space_consumed"] += length * inode.replication
    usage = fsn.quotas.quota_of(root.id)
    if usage is None:
        summary["quota"] = summary["space_quota"] = -1
    else:   # the counts its quotas are checked against: files + directories, and space
        summary.update(quota=usage.ns_quota, space_quota=usage.space_quota, space_consumed=usage.space,
                       file_count=usage.names - summary["directory_count"])
    return summary
