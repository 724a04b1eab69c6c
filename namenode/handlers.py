"""The one wrapper of every NameNode RPC handler: errors, authentication, durability."""
from __future__ import annotations

import functools
import inspect
import time

from namenode.mounts import VERSION_KEY
from protos import rpc_errors


def translated(handler):
    """``rpc_errors.serves`` plus authentication (the servicer's ``_authenticate``, before
    anything else) and durable acknowledgement: a handler that changed the
    namespace appended edits to the journal; the reply waits until the last of them
    is on disk (one fdatasync shared by every RPC that appended before it started).
    Each call's time, failed ones too, goes to the NameNode's per-method histogram."""
    method = handler.__name__

    @functools.wraps(handler)
    async def durable(self, request, context):
        started = time.perf_counter()
        try:
            self._authenticate(request, context)
            journal = self.fsn.journal
            before = journal.last_txid if journal is not None else 0
            reply = handler(self, request, context)
            if inspect.isawaitable(reply):
                reply = await reply
            if journal is not None and journal.last_txid > before:
                await journal.sync_to(journal.last_txid)
            mounts = self.fsn.mount_table
            if mounts is not None:     # every reply says which mount table version this NameNode knows
                context.set_trailing_metadata(((VERSION_KEY, str(mounts.version)),))
            return reply
        finally:
            metrics = self.fsn.metrics
            if metrics is not None:
                metrics.observe_rpc(self.PROTOCOL, method, time.perf_counter() - started)
    return rpc_errors.serves(durable)
