"""Namespace operations, one module per family.

Each mutation has a live entry point (validates input, checks permissions,
builds its edit record, namenode/edits.py) and an ``apply_*`` function that
changes the tables from the record. ``Namesystem.commit`` runs the apply
function for live calls and journal replay runs the very same one.
"""
from namenode import edits
from namenode.ops import append, attrs, dirs, files, moves, quota, small

APPLY = {
    edits.Mkdirs: dirs.apply_mkdirs,
    edits.Delete: dirs.apply_delete,
    edits.Rename: dirs.apply_rename,
    edits.Create: files.apply_create,
    edits.AddBlock: files.apply_add_block,
    edits.Complete: files.apply_complete,
    edits.Append: append.apply_append,
    edits.AbandonBlock: files.apply_abandon_block,
    edits.RecoverLease: files.apply_recover_lease,
    edits.SetReplication: attrs.apply_set_replication,
    edits.SetPermission: attrs.apply_set_permission,
    edits.SetOwner: attrs.apply_set_owner,
    edits.SetTimes: attrs.apply_set_times,
    edits.CommitSmall: small.apply_commit_small,
    edits.Packed: small.apply_packed,
    edits.ImportSubtree: moves.apply_import,
    edits.DropSubtree: moves.apply_drop,
    edits.ForgetMove: moves.apply_forget,
    edits.SetQuota: quota.apply_set_quota,
    # records of an older hfed that held small files' bytes (replayed, never written now)
    edits.CompleteSmall: small.apply_complete_small,
    edits.StageFile: small.apply_stage_file,
    edits.Pack: small.apply_pack,
    edits.Restage: small.apply_restage,
}
