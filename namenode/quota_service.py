"""The SetQuota RPC of ClientProtocol (hdfs dfsadmin -setQuota ...): proto in, namenode/ops/quota.py
call, proto out. An absent field leaves that quota as it is; -1 clears it."""
from __future__ import annotations

from protos import hfed_pb2 as pb
from namenode.handlers import translated
from namenode.ops import quota


class QuotaRpcs:
    """Mixed into ClientProtocolServicer (which provides fsn and _caller)."""

    @translated
    def SetQuota(self, request, context):
        ns = request.namespace_quota if request.HasField("namespace_quota") else None
        space = request.space_quota if request.HasField("space_quota") else None
        quota.set_quota(self.fsn, self._caller(context), request.path, ns, space)
        return pb.SetAttrResponse()
