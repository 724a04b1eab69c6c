"""Thin synchronous client for one NameNode's ClientProtocol.

One method per RPC. Every call carries the caller's identity (gRPC metadata)
and a deadline, and fails fast when the namespace is down: calls do not wait
for the channel to become ready, and a connection attempt gives up after ~2 s,
so one dead NameNode never stalls work on the other mounts. gRPC errors come
back as the shared hfed errors, with the namespace named in the message.
"""
from __future__ import annotations

import time

import grpc

from protos import errors, rpc, rpc_errors
from protos.mount_state import MountState
from protos import hfed_pb2 as pb
from protos import hfed_pb2_grpc as pb_grpc

DEFAULT_TIMEOUT = 30.0
CONNECT_TIMEOUT_MS = 2000
# Read-only calls are safe to retry after a transient Unavailable (e.g. the
# channel still backing off right after a NameNode restart).
# PackNow too: a second run packs what the first left (nothing, if it finished); SetQuota
# and RefreshNodes set absolute values, so a second call changes nothing more.
_IDEMPOTENT = {"GetFileInfo", "GetListing", "GetBlockLocations", "GetContentSummary", "GetStats",
               "GetServerDefaults", "RenewLease", "PackNow", "SetQuota", "RefreshNodes"}
_RETRY_BUDGET = 2.0
# How long a call refused with errors.Retry (a subtree being cut over to another
# namespace) is tried again before the error reaches the caller.
RETRY_WAIT = 30.0
# Calls bound to state in one namespace (a staging container): after a mount change they
# are not sent elsewhere; the caller redoes the work (client/fs.py pipe_many).
_NOT_REDIRECTED = {"CommitSmall", "OpenContainer"}
VERSION_KEY = "hfed-mount-version"   # namenode/mounts.py: the mount table version each side knows
PACK_TIMEOUT = 600.0   # PackNow returns once DataNodes packed every closed container

CHANNEL_OPTIONS = rpc.OPTIONS + [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    # grpc core uses this as the minimum connect timeout of one attempt.
    ("grpc.min_reconnect_backoff_ms", CONNECT_TIMEOUT_MS),
    ("grpc.enable_retries", 0),
]


def namespace_where(nameservice: str, address: str) -> str:
    return f"namespace {nameservice} at {address}"


def rebuild_error(err: grpc.RpcError, nameservice: str, address: str, path: str | None = None) -> errors.HfedError:
    """The hfed error for ``err``, its message naming the namespace (and path)."""
    return name_error(rpc_errors.from_rpc_error(err, namespace_where(nameservice, address)), nameservice, address,
                      path)


def batch_error(error: pb.BatchError, nameservice: str, address: str) -> errors.HfedError:
    """A failed batch entry as the exception its single call would have raised."""
    return name_error(errors.from_kind(error.kind, error.message), nameservice, address, error.path or None)


def name_error(error: errors.HfedError, nameservice: str, address: str, path: str | None) -> errors.HfedError:
    """``error`` again, its message naming the namespace (and path)."""
    message = error.message
    if path and path not in message:
        message = f"{path}: {message}"
    if nameservice not in message:
        message = f"{message} [namespace {nameservice}]"
    if isinstance(error, errors.Unavailable) and "unavailable" not in message:
        message = f"{message} ({namespace_where(nameservice, address)} is unavailable)"
    rebuilt = type(error)(message, path or error.path)
    return rebuilt


def _is_retry(err: grpc.RpcError) -> bool:
    return any(k == rpc_errors.ERROR_KEY and v == errors.Retry.kind for k, v in err.trailing_metadata() or ())


class NamenodeClient:
    def __init__(self, nameservice: str, address: str, user: str | None = None,
                 groups: list[str] | None = None, timeout: float = DEFAULT_TIMEOUT, metadata: tuple | None = None,
                 cfg=None, router=None):
        """``metadata``: what every call carries (client/credentials.py: a token); without it the
        caller only claims ``user`` and ``groups``, which a cluster with tokens refuses. ``cfg``:
        the cluster's config, for its TLS settings (None: a plain channel). ``router``: the
        session whose mount table this client follows (client/session.py), or None."""
        self.nameservice = nameservice
        self.address = address
        self.timeout = timeout
        self.metadata = metadata if metadata is not None else rpc.identity_metadata(user, groups)
        self._channel = rpc.channel(address, cfg, CHANNEL_OPTIONS)
        self._stub = pb_grpc.ClientProtocolStub(self._channel)
        self.router = router

    def __repr__(self) -> str:
        return f"NamenodeClient({self.nameservice!r}, {self.address!r})"

    def close(self) -> None:
        self._channel.close()

    def call(self, method: str, request, path: str | None = None, timeout: float | None = None):
        """Invoke ``method`` with ``request``; raise hfed errors naming namespace and path.
        With a router, the call follows the cluster mount table: a reply showing a newer
        table refreshes it; a path now owned elsewhere (MountMoved) is sent there; a subtree
        being cut over (Retry) is waited for, up to RETRY_WAIT seconds."""
        retry_until = None
        delay = 0.05
        while True:
            try:
                return self._call_once(method, request, path, timeout)
            except errors.MountMoved:
                if self.router is None:
                    raise
                self.router.refresh_mounts()
                other = self.router.namenode_for(path) if path and method not in _NOT_REDIRECTED else self
                if other is self:
                    raise
                return other.call(method, request, path, timeout)
            except errors.Retry:
                retry_until = retry_until or time.monotonic() + RETRY_WAIT
                if time.monotonic() + delay > retry_until:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.5)

    def _call_once(self, method: str, request, path: str | None, timeout: float | None):
        stub_method = getattr(self._stub, method)
        deadline = time.monotonic() + _RETRY_BUDGET
        delay = 0.1
        router = self.router
        metadata = self.metadata if router is None else self.metadata + ((VERSION_KEY, str(router.mount_version)),)
        while True:
            try:
                reply, call = stub_method.with_call(request, timeout=timeout or self.timeout, metadata=metadata,
                                                    wait_for_ready=False)
                if router is not None:
                    for key, value in call.trailing_metadata() or ():
                        if key == VERSION_KEY and int(value) > router.mount_version:
                            router.refresh_mounts()
                return reply
            except grpc.RpcError as e:
                retry = (method in _IDEMPOTENT and e.code() == grpc.StatusCode.UNAVAILABLE
                         and not _is_retry(e) and time.monotonic() + delay < deadline)
                if not retry:
                    raise rebuild_error(e, self.nameservice, self.address, path) from None
                time.sleep(delay)
                delay *= 2

    def call_checked(self, method: str, request, path: str, took_effect) -> bool:
        """A call that is not idempotent, retried after a transient Unavailable. A
        retry can fail only because an earlier attempt already took effect (the
        lease is gone, the file changed); ``took_effect()`` then says whether it did.
        Returns True once the call (or an earlier attempt of it) took effect."""
        deadline = time.monotonic() + _RETRY_BUDGET
        delay = 0.1
        retried = False
        while True:
            try:
                self.call(method, request, path)
                return True
            except errors.Unavailable:
                if time.monotonic() + delay >= deadline:
                    raise
                time.sleep(delay)
                delay *= 2
                retried = True
            except errors.HfedError:
                if retried and took_effect():
                    return True
                raise

    # ------------------------------------------------------------ namespace

    def mkdirs(self, path: str, permission: int = 0o755, create_parent: bool = True) -> pb.MkdirsResponse:
        return self.call("Mkdirs", pb.MkdirsRequest(path=path, permission=permission,
                                                    create_parent=create_parent), path)

    def get_file_info(self, path: str) -> pb.FileStatus:
        return self.call("GetFileInfo", pb.GetFileInfoRequest(path=path), path).status

    def get_listing(self, path: str, start_after: str = "", limit: int = 1000) -> pb.GetListingResponse:
        return self.call("GetListing", pb.GetListingRequest(path=path, start_after=start_after, limit=limit), path)

    def rename(self, src: str, dst: str) -> pb.RenameResponse:
        return self.call("Rename", pb.RenameRequest(src=src, dst=dst), src)

    def delete(self, path: str, recursive: bool = False) -> bool:
        return self.call("Delete", pb.DeleteRequest(path=path, recursive=recursive), path).deleted

    def set_replication(self, path: str, replication: int) -> pb.SetAttrResponse:
        return self.call("SetReplication", pb.SetReplicationRequest(path=path, replication=replication), path)

    def set_permission(self, path: str, permission: int) -> pb.SetAttrResponse:
        return self.call("SetPermission", pb.SetPermissionRequest(path=path, permission=permission), path)

    def set_owner(self, path: str, owner: str = "", group: str = "") -> pb.SetAttrResponse:
        return self.call("SetOwner", pb.SetOwnerRequest(path=path, owner=owner or "", group=group or ""), path)

    def set_times(self, path: str, mtime_ms: int = -1, atime_ms: int = -1) -> pb.SetAttrResponse:
        return self.call("SetTimes", pb.SetTimesRequest(path=path, mtime_ms=mtime_ms, atime_ms=atime_ms), path)

    def set_quota(self, path: str, namespace_quota: int | None = None,
                  space_quota: int | None = None) -> pb.SetAttrResponse:
        """None leaves a quota as it is; -1 clears it."""
        return self.call("SetQuota", pb.SetQuotaRequest(path=path, namespace_quota=namespace_quota,
                                                        space_quota=space_quota), path)

    def get_content_summary(self, path: str) -> pb.GetContentSummaryResponse:
        return self.call("GetContentSummary", pb.GetContentSummaryRequest(path=path), path)

    # ---------------------------------------------------------------- files

    def create(self, path: str, client_name: str, permission: int = 0o644, overwrite: bool = True,
               create_parent: bool = True, replication: int = 0, block_size: int = 0) -> pb.FileStatus:
        request = pb.CreateRequest(path=path, permission=permission, overwrite=overwrite,
                                   create_parent=create_parent, replication=replication or 0,
                                   block_size=block_size or 0, client_name=client_name)
        return self.call("Create", request, path).status

    def append(self, path: str, client_name: str, client_host: str = "") -> pb.AppendResponse:
        """Reopen a closed file for writing at its end, leased to ``client_name`` (as after
        create). The NameNode does not reopen the last block: appends go on in a new one."""
        request = pb.AppendRequest(path=path, client_name=client_name, new_block=True, client_host=client_host or "")
        return self.call("Append", request, path)

    def add_block(self, path: str, client_name: str, previous: pb.Block | None = None,
                  excluded_uuids=(), client_host: str = "") -> pb.LocatedBlock:
        request = pb.AddBlockRequest(path=path, client_name=client_name, excluded_uuids=list(excluded_uuids),
                                     client_host=client_host or "")
        if previous is not None:
            request.previous.CopyFrom(previous)
        return self.call("AddBlock", request, path).block

    def complete(self, path: str, client_name: str, last: pb.Block | None = None) -> bool:
        request = pb.CompleteRequest(path=path, client_name=client_name)
        if last is not None:
            request.last.CopyFrom(last)
        return self.call("Complete", request, path).completed

    def open_container(self, client_name: str, client_host: str = "",
                       excluded_uuids=()) -> pb.OpenContainerResponse:
        """A new staging container for small files, leased to ``client_name``."""
        return self.call("OpenContainer", pb.OpenContainerRequest(
            client_name=client_name, client_host=client_host or "", excluded_uuids=list(excluded_uuids)))

    def commit_small(self, request: pb.CommitSmallRequest) -> None:
        """Make request.path the committed entry; back once the edit is durable."""
        def committed() -> bool:
            status = self.get_file_info(request.path)
            return (not status.under_construction and status.layout == pb.PACKED
                    and status.length == request.length)
        self.call_checked("CommitSmall", request, request.path, committed)

    def pack_now(self) -> pb.PackNowResponse:
        """Run the namespace's packer (and compactor) now; returns when done."""
        return self.call("PackNow", pb.PackNowRequest(), timeout=PACK_TIMEOUT)

    def abandon_block(self, path: str, client_name: str, block: pb.Block) -> pb.AbandonBlockResponse:
        return self.call("AbandonBlock", pb.AbandonBlockRequest(path=path, client_name=client_name, block=block),
                         path)

    def get_block_locations(self, path: str, offset: int = 0, length: int = 1 << 62,
                            client_host: str = "") -> pb.LocatedBlocks:
        request = pb.GetBlockLocationsRequest(path=path, offset=offset, length=length, client_host=client_host or "")
        return self.call("GetBlockLocations", request, path).blocks

    def renew_lease(self, client_name: str) -> pb.RenewLeaseResponse:
        return self.call("RenewLease", pb.RenewLeaseRequest(client_name=client_name))

    def report_bad_blocks(self, replicas: list[tuple]) -> pb.ReportBadBlocksResponse:
        """``replicas``: (block, datanode uuid) or (block, datanode uuid, read token)."""
        request = pb.ReportBadBlocksRequest(
            replicas=[pb.BadReplica(block=r[0], datanode_uuid=r[1], token=r[2] if len(r) > 2 else "")
                      for r in replicas])
        return self.call("ReportBadBlocks", request)

    # --------------------------------------------------------------- admin

    def get_stats(self) -> pb.GetStatsResponse:
        return self.call("GetStats", pb.GetStatsRequest())

    def set_safe_mode(self, action: int = pb.SafeModeRequest.GET) -> pb.SafeModeResponse:
        return self.call("SetSafeMode", pb.SafeModeRequest(action=action))

    def save_namespace(self) -> pb.SaveNamespaceResponse:
        return self.call("SaveNamespace", pb.SaveNamespaceRequest())

    def get_server_defaults(self) -> pb.GetServerDefaultsResponse:
        return self.call("GetServerDefaults", pb.GetServerDefaultsRequest())

    # --------------------------------------------------------------- tokens

    def get_delegation_token(self, renewer: str = "") -> pb.GetDelegationTokenResponse:
        return self.call("GetDelegationToken", pb.GetDelegationTokenRequest(renewer=renewer))

    def renew_delegation_token(self, token: str) -> int:
        """The token's new expiry (epoch ms)."""
        return self.call("RenewDelegationToken", pb.RenewDelegationTokenRequest(token=token)).expiry_ms

    def cancel_delegation_token(self, token: str) -> None:
        self.call("CancelDelegationToken", pb.CancelDelegationTokenRequest(token=token))

    def issue_user_token(self, user: str, lifetime_s: float = 0) -> pb.IssueUserTokenResponse:
        return self.call("IssueUserToken", pb.IssueUserTokenRequest(user=user, lifetime_s=int(lifetime_s)))

    # ---------------------------------------------------------------- batch

    def batch(self, entries: list[pb.BatchEntry]) -> list:
        """Many operations in one call (at most pb.MAX_BATCH): one result per
        entry, in order, each its reply message or, for an entry that failed,
        the exception its single call would have raised (returned, not raised).
        Entries refused with Retry are sent again (up to RETRY_WAIT); after a mount
        change the entries go to the namespaces that own their paths now."""
        try:
            reply = self.call("Batch", pb.BatchRequest(entries=entries))
        except errors.MountMoved as moved:
            if self.router is None:
                raise
            return self.router.rebatch(entries, moved)
        results = [batch_error(r.error, self.nameservice, self.address) if r.HasField("error")
                   else getattr(r, r.WhichOneof("result")) for r in reply.results]
        retry_until, delay = time.monotonic() + RETRY_WAIT, 0.05
        while True:
            again = [i for i, r in enumerate(results) if isinstance(r, errors.Retry)]
            if not again or time.monotonic() + delay > retry_until:
                return results
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
            for i, result in zip(again, self.batch([entries[i] for i in again])):
                results[i] = result


def mount_table_of(client: NamenodeClient, known_version: int = 0) -> MountState | None:
    """The cluster mount table ``client``'s NameNode knows, or None when it is not newer than
    ``known_version``. A plain call: it neither follows nor refreshes a mount table."""
    try:
        reply = client._stub.GetMountTable(pb.GetMountTableRequest(known_version=known_version),
                                           timeout=5.0, metadata=client.metadata, wait_for_ready=False)
    except grpc.RpcError as e:
        raise rebuild_error(e, client.nameservice, client.address) from None
    return MountState.from_pb(reply.table) if reply.HasField("table") else None
