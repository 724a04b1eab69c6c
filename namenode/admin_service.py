"""DataNode administration RPCs of ClientProtocol (`hfed dfsadmin -refreshNodes`): proto in,
namenode/decommission.py calls, proto out. Superuser only."""
from __future__ import annotations

from protos import config as config_mod, errors, hfed_pb2 as pb
from namenode import decommission
from namenode.handlers import translated


class AdminRpcs:
    """Mixed into ClientProtocolServicer (which provides fsn and _caller)."""

    @translated
    def RefreshNodes(self, request, context):
        """Re-read [datanodes] exclude from the config file this NameNode started with."""
        fsn = self.fsn
        caller = self._caller(context)
        if not caller.superuser:
            raise errors.AccessDenied(f"namespace {fsn.nameservice}: only the superuser may refresh the DataNode "
                                      f"list (user={caller.user})")
        if not fsn.config_source or fsn.config_source.startswith("<"):
            raise errors.InvalidArgument(f"namespace {fsn.nameservice}: started without a config file to re-read")
        try:
            exclude = config_mod.load(fsn.config_source).datanode_exclude
        except FileNotFoundError as e:
            raise errors.InvalidArgument(f"namespace {fsn.nameservice}: {e}") from e
        decommission.refresh(fsn, exclude)      # a bad config raised above: nothing changed
        progressing, done = decommission.report(fsn)
        return pb.RefreshNodesResponse(decommissioning=progressing, decommissioned=done)
