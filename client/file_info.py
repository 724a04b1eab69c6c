"""A FileStatus from a NameNode as the info dict fsspec callers expect."""
from __future__ import annotations

from protos import hfed_pb2 as pb

LAYOUT_NAMES = {pb.BLOCKS: "blocks", pb.STAGED: "staged", pb.PACKED: "packed"}


def status_to_info(status: pb.FileStatus, name: str, nameservice: str) -> dict:
    return {
        "name": name,
        "size": 0 if status.is_dir else status.length,
        "type": "directory" if status.is_dir else "file",
        "owner": status.owner,
        "group": status.group,
        "permission": status.permission,
        "replication": status.replication,
        "block_size": status.block_size,
        "mtime": status.mtime_ms / 1000.0,
        "atime": status.atime_ms / 1000.0,
        "file_id": status.file_id,
        "children_count": status.children_count,
        "under_construction": status.under_construction,
        "layout": "" if status.is_dir else LAYOUT_NAMES.get(status.layout, "blocks"),
        "nameservice": nameservice,
    }
