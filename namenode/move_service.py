"""The subtree-move RPCs of ClientProtocol (`hfed balance`): proto in, namenode/subtree.py
and namenode/ops/moves.py calls, proto out. Superuser only, every one of them."""
from __future__ import annotations

from protos import errors, rpc_errors, hfed_pb2 as pb
from namenode import subtree
from namenode.handlers import translated
from namenode.ops import moves


class MoveRpcs:
    """Mixed into ClientProtocolServicer (which provides fsn, _caller, _authenticate)."""

    def _superuser(self, context, what: str, path: str = ""):
        caller = self._caller(context)
        if not caller.superuser:
            raise errors.AccessDenied(f"namespace {self.fsn.nameservice}: only the superuser may {what} "
                                      f"(user={caller.user})", path or None)
        return caller

    def _txid(self) -> int:
        return self.fsn.journal.last_txid if self.fsn.journal is not None else 0

    @rpc_errors.serves
    async def ExportSubtree(self, request, context):
        """The subtree as of one moment, in chunks (built at once on the event loop, so no
        change lands in the middle; sent afterwards)."""
        self._superuser(context, "export a subtree", request.path)
        txid = self._txid()
        chunks = subtree.export_chunks(self.fsn, request.path, list(request.only))
        for chunk in chunks:
            yield pb.ExportSubtreeResponse(entries=chunk, txid=txid, pool_id=self.fsn.pool_id)

    @translated
    async def SubtreeChanges(self, request, context):
        self._superuser(context, "list a subtree's changes", request.path)
        fsn = self.fsn
        path, _root = subtree.subtree_root(fsn, request.path, "list changes of", must_exist=False)
        if fsn.journal is None:       # no edit log to read: everything may have changed
            return pb.SubtreeChangesResponse(txid=0, resync=True)
        records, txid = await fsn.journal.edits_since(request.since_txid)
        if records is None:
            return pb.SubtreeChangesResponse(txid=txid, resync=True)
        changed, resync = subtree.changed_paths(fsn, path, records)
        return pb.SubtreeChangesResponse(paths=changed, txid=txid, resync=resync)

    @translated
    def FenceSubtree(self, request, context):
        self._superuser(context, "fence a subtree", request.path)
        fsn, action, reply = self.fsn, request.action, pb.FenceSubtreeResponse()
        if action == pb.FenceSubtreeRequest.FENCE:
            reply.open_files.extend(moves.fence(fsn, request.path, request.move_id, request.force_close_open))
        elif action == pb.FenceSubtreeRequest.UNFENCE:
            moves.unfence(fsn, request.path, request.move_id)
        elif action == pb.FenceSubtreeRequest.DROP:
            moves.drop(fsn, request.path, request.move_id)
        else:
            raise errors.InvalidArgument(f"namespace {fsn.nameservice}: unknown fence action {action}",
                                         request.path)
        reply.txid = self._txid()
        return reply

    @translated
    def ImportSubtree(self, request, context):
        self._superuser(context, "import a subtree", request.path)
        counts = subtree.import_subtree(self.fsn, request.path, request.source_pool, request.entries,
                                        list(request.removed), request.move_id)
        return pb.ImportSubtreeResponse(**counts)

    @translated
    def MoveProgress(self, request, context):
        self._superuser(context, "follow a move", request.path)
        return pb.MoveProgressResponse(**subtree.progress(self.fsn, request.path))
