"""Namespace operations, one module per family.

Each mutation has a live entry point (validates input, checks permissions,
builds a journal record) and an ``apply_*`` function that changes the tables
from the record. ``Namesystem.commit`` runs the apply function for live calls
and journal replay runs the very same one.
"""
from namenode.ops import attrs, dirs, files, small

APPLY = {
    "mkdirs": dirs.apply_mkdirs,
    "delete": dirs.apply_delete,
    "rename": dirs.apply_rename,
    "create": files.apply_create,
    "add_block": files.apply_add_block,
    "complete": files.apply_complete,
    "abandon_block": files.apply_abandon_block,
    "recover_lease": files.apply_recover_lease,
    "set_replication": attrs.apply_set_replication,
    "set_permission": attrs.apply_set_permission,
    "set_owner": attrs.apply_set_owner,
    "set_times": attrs.apply_set_times,
    "commit_small": small.apply_commit_small,
    "packed": small.apply_packed,
    # records of an older hfed that held small files' bytes (replayed, never written now)
    "complete_small": small.apply_complete_small,
    "stage_file": small.apply_stage_file,
    "pack": small.apply_pack,
    "restage": small.apply_restage,
}
