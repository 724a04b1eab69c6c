"""gRPC servicers: proto in, a call on the Namesystem, proto out. Nothing else."""
from __future__ import annotations

import asyncio
import logging

from protos import errors, paths, rpc_errors, security, hfed_pb2 as pb, hfed_pb2_grpc as pb_grpc
from protos import datatransfer as dt
from protos.checksum import BYTES_PER_CHECKSUM
from namenode import stats
from namenode.auth import Authenticator
from namenode.handlers import translated
from namenode.mounts import caller_version
from namenode.move_service import MoveRpcs
from namenode.admin_service import AdminRpcs
from namenode.quota_service import QuotaRpcs
from namenode.topology import address_host
from namenode.namesystem import DeleteCmd, LinkCmd, Namesystem, TransferCmd, VerifyCmd
from protos.mount_state import MountState
from namenode.packer import PackCmd
from namenode.ops import append, attrs, dirs, files, reads, small

log = logging.getLogger(__name__)
# How long the NameNode waits for a DataNode's old address to accept a connection
# before it counts as gone (a registration under its uuid from elsewhere then replaces it).
UUID_PROBE_TIMEOUT = 1.0


def file_status(st: reads.Status) -> pb.FileStatus:
    i = st.inode
    return pb.FileStatus(path=st.path, is_dir=i.is_dir, length=st.length, replication=i.replication,
                         block_size=i.block_size, mtime_ms=i.mtime, atime_ms=i.atime, permission=i.permission,
                         owner=i.owner, group=i.group, file_id=i.id, children_count=st.children,
                         under_construction=i.under_construction, layout=i.table.layout(i.slot))


def datanode_id(node) -> pb.DatanodeId:
    return pb.DatanodeId(uuid=node.uuid, host_label=node.host_label, transfer_address=node.transfer_address,
                         http_address=node.http_address, rack=node.rack)


# The user named in block tokens the NameNode hands to DataNodes in commands.
DATANODE_TOKEN_USER = "hfed-datanode"


def block_token(fsn: Namesystem, user: str, block_id: int, generation_stamp: int, modes: str) -> str:
    """A block access token for this block ("" when block tokens are off): one per block, never per replica."""
    keys = fsn.block_keys
    return "" if keys is None else keys.token(user, fsn.pool_id, block_id, generation_stamp, modes)


def _block_tuple(block: pb.Block):
    return (block.block_id, block.num_bytes) if block.block_id else None


# Requests that name no path, or that the mover sends to both sides of a move (paths the
# mount table gives to another namespace on purpose): not checked against the mount table.
UNROUTED = (pb.ExportSubtreeRequest, pb.SubtreeChangesRequest, pb.FenceSubtreeRequest, pb.ImportSubtreeRequest,
            pb.MoveProgressRequest)
_READS = (pb.GetFileInfoRequest, pb.GetListingRequest, pb.GetBlockLocationsRequest, pb.GetContentSummaryRequest)


def _routed_paths(request):
    """(path, is a write) for every path a client request names."""
    if isinstance(request, pb.RenameRequest):
        return ((request.src, True), (request.dst, True))
    if isinstance(request, pb.BatchRequest):
        found = []
        for entry in request.entries:
            op = entry.WhichOneof("op")
            if op is not None:
                inner = getattr(entry, op)
                found.append((inner.path, not isinstance(inner, _READS)))
        return found
    path = getattr(request, "path", None)
    return () if path is None else ((path, not isinstance(request, _READS)),)


class ClientProtocolServicer(QuotaRpcs, MoveRpcs, AdminRpcs, pb_grpc.ClientProtocolServicer):
    PROTOCOL = "ClientProtocol"      # names its RPCs in metrics

    def __init__(self, fsn: Namesystem, auth: Authenticator, tls: bool = False):
        self.fsn = fsn
        self.auth = auth
        self.tls = tls
        self.where = f"namespace {fsn.nameservice}"     # names the server in error messages

    def _caller(self, context):
        """Who is calling (namenode/auth.py): a verified token, groups resolved here."""
        return self.auth.client(context)

    def _authenticate(self, request, context) -> None:
        caller = self.auth.client(context)
        mounts = self.fsn.mount_table
        if mounts is not None and type(request) not in UNROUTED:
            version = caller_version(context)
            for path, write in _routed_paths(request):
                try:
                    path = paths.check(path)
                except errors.HfedError:
                    continue          # a malformed path gets its own error from the operation
                mounts.check(path, write, version)

    def _block(self, block) -> pb.Block:
        return pb.Block(block_id=block.block_id, generation_stamp=block.generation_stamp,
                        num_bytes=block.num_bytes, pool_id=self.fsn.pool_id)

    # One function per operation, op(caller, request, reply), shared by its own
    # RPC handler and by Batch, so a batched entry behaves exactly like the call.
    # It fills ``reply`` in place: in a batch that is the result's own field
    # (building a reply and copying it in cost ~10% of a batched getFileInfo).

    def _answer(self, op, request, context, reply):
        op(self._caller(context), request, reply)
        return reply

    def _mkdirs(self, caller, request, reply: pb.MkdirsResponse) -> None:
        dirs.mkdirs(self.fsn, caller, request.path, request.permission, request.create_parent)

    def _create(self, caller, request, reply: pb.CreateResponse) -> None:
        inode = files.create(self.fsn, caller, request.path, request.permission, request.overwrite,
                             request.create_parent, request.replication, request.block_size, request.client_name)
        reply.status.CopyFrom(file_status(reads.status(self.fsn, request.path.rstrip("/"), inode)))

    def _complete(self, caller, request, reply: pb.CompleteResponse) -> None:
        last = _block_tuple(request.last) if request.HasField("last") else None
        reply.completed = files.complete(self.fsn, caller, request.path, request.client_name, last)

    def _get_block_locations(self, caller, request, reply: pb.GetBlockLocationsResponse) -> None:
        found = reads.get_block_locations(self.fsn, caller, request.path, request.offset, request.length,
                                          request.client_host)
        out = reply.blocks
        out.file_length, out.under_construction = found.file_length, found.under_construction
        out.layout, out.inline_data, out.packed_offset = found.layout, found.inline, found.packed_offset
        out.packed_raw = found.packed_raw
        fsn, user = self.fsn, caller.user
        out.blocks.extend(
            pb.LocatedBlock(block=self._block(b), offset=off, locations=[datanode_id(n) for n in nodes],
                            token=block_token(fsn, user, b.block_id, b.generation_stamp, security.READ))
            for b, off, nodes in found.located)

    def _get_file_info(self, caller, request, reply: pb.GetFileInfoResponse) -> None:
        reply.status.CopyFrom(file_status(reads.get_file_info(self.fsn, caller, request.path)))

    def _delete(self, caller, request, reply: pb.DeleteResponse) -> None:
        reply.deleted = dirs.delete(self.fsn, caller, request.path, request.recursive)

    def _commit_small(self, caller, request, reply: pb.CommitSmallResponse) -> None:
        create = dict(permission=request.permission, overwrite=request.overwrite,
                      create_parent=request.create_parent, replication=0) if request.create else None
        archive = (request.expect_file_id, request.expect_mtime_ms) if request.expect_file_id else None
        small.commit_small(self.fsn, caller, request.path, request.client_name, request.container_block_id,
                           request.offset, request.length, request.crc32c, create=create, archive=archive)

    # BatchEntry.op / BatchResult.result field -> the operation
    BATCHABLE = {"get_file_info": _get_file_info, "mkdirs": _mkdirs, "create": _create, "complete": _complete,
                 "delete": _delete, "get_block_locations": _get_block_locations, "commit_small": _commit_small}

    @translated
    def Batch(self, request, context):
        """Each entry on its own, in order; `translated` then waits for one sync
        covering every entry's edits (group commit) before the reply goes out."""
        entries = request.entries
        if len(entries) > pb.MAX_BATCH:
            raise errors.InvalidArgument(f"namespace {self.fsn.nameservice}: a batch holds at most {pb.MAX_BATCH} "
                                         f"entries, this one has {len(entries)}: nothing was applied; split it")
        caller = self._caller(context)
        reply = pb.BatchResponse()
        for index, entry in enumerate(entries):
            result = reply.results.add()
            op = entry.WhichOneof("op")
            op_request = getattr(entry, op) if op else None
            try:
                if op is None:
                    raise errors.InvalidArgument(f"batch entry {index} names no operation")
                answer = getattr(result, op)
                answer.SetInParent()          # an empty reply (Mkdirs) still says which op answered
                self.BATCHABLE[op](self, caller, op_request, answer)
            except Exception as e:  # noqa: BLE001 - one entry's failure is that entry's result
                error = rpc_errors.as_hfed_error(e, f"Batch entry {index} ({op})")
                result.error.kind = error.kind
                result.error.code = rpc_errors.status_of(error).value[0]
                result.error.message = error.message
                result.error.path = error.path or getattr(op_request, "path", "")
        return reply

    @translated
    def Mkdirs(self, request, context):
        return self._answer(self._mkdirs, request, context, pb.MkdirsResponse())

    @translated
    def Create(self, request, context):
        return self._answer(self._create, request, context, pb.CreateResponse())

    @translated
    def AddBlock(self, request, context):
        previous = _block_tuple(request.previous) if request.HasField("previous") else None
        caller = self._caller(context)
        block, targets = files.add_block(self.fsn, caller, request.path, request.client_name,
                                         previous, set(request.excluded_uuids), request.client_host)
        inode = self.fsn.ns.get(request.path.rstrip("/"))
        offset = self.fsn.blocks_length(inode) - block.num_bytes
        return pb.AddBlockResponse(block=pb.LocatedBlock(
            block=self._block(block), offset=offset, locations=[datanode_id(t) for t in targets],
            token=block_token(self.fsn, caller.user, block.block_id, block.generation_stamp,
                              security.READ + security.WRITE)))

    @translated
    def Complete(self, request, context):
        return self._answer(self._complete, request, context, pb.CompleteResponse())

    @translated
    def Append(self, request, context):
        """Always the NEW_BLOCK variant: last_block stays unset (no block is reopened)."""
        inode = append.append(self.fsn, self._caller(context), request.path, request.client_name)
        return pb.AppendResponse(status=file_status(reads.status(self.fsn, request.path.rstrip("/"), inode)))

    @translated
    def AbandonBlock(self, request, context):
        files.abandon_block(self.fsn, self._caller(context), request.path, request.client_name,
                            request.block.block_id)
        return pb.AbandonBlockResponse()

    @translated
    def GetBlockLocations(self, request, context):
        return self._answer(self._get_block_locations, request, context, pb.GetBlockLocationsResponse())

    @translated
    def GetFileInfo(self, request, context):
        return self._answer(self._get_file_info, request, context, pb.GetFileInfoResponse())

    @translated
    def GetListing(self, request, context):
        entries, remaining = reads.get_listing(self.fsn, self._caller(context), request.path,
                                               request.start_after, request.limit)
        return pb.GetListingResponse(entries=[file_status(e) for e in entries], remaining=remaining)

    @translated
    def Rename(self, request, context):
        dirs.rename(self.fsn, self._caller(context), request.src, request.dst)
        return pb.RenameResponse()

    @translated
    def Delete(self, request, context):
        return self._answer(self._delete, request, context, pb.DeleteResponse())

    @translated
    def SetReplication(self, request, context):
        attrs.set_replication(self.fsn, self._caller(context), request.path, request.replication)
        return pb.SetAttrResponse()

    @translated
    def SetPermission(self, request, context):
        attrs.set_permission(self.fsn, self._caller(context), request.path, request.permission)
        return pb.SetAttrResponse()

    @translated
    def SetOwner(self, request, context):
        attrs.set_owner(self.fsn, self._caller(context), request.path, request.owner, request.group)
        return pb.SetAttrResponse()

    @translated
    def SetTimes(self, request, context):
        attrs.set_times(self.fsn, self._caller(context), request.path, request.mtime_ms, request.atime_ms)
        return pb.SetAttrResponse()

    @translated
    def GetContentSummary(self, request, context):
        return pb.GetContentSummaryResponse(**reads.content_summary(self.fsn, self._caller(context),
                                                                    request.path))

    @translated
    def RenewLease(self, request, context):
        self.fsn.renew_lease(request.client_name)
        return pb.RenewLeaseResponse()

    @translated
    def ReportBadBlocks(self, request, context):
        """A client's claim is never a verdict: with a read token for the block (when tokens
        are on) the DataNode holding the replica is asked to verify it, and only its own
        report (DatanodeProtocol.ReportBadBlocks) marks the replica corrupt."""
        fsn, caller = self.fsn, self._caller(context)
        if fsn.block_keys is not None:     # every claim checked before any is acted on
            for bad in request.replicas:
                block = bad.block
                fsn.block_keys.verify(bad.token, block.pool_id or fsn.pool_id, block.block_id,
                                      block.generation_stamp, security.READ,
                                      f"namespace {fsn.nameservice}: bad-block report by {caller.user}")
        queued = [bad for bad in request.replicas if fsn.queue_verify(bad.block.block_id, bad.datanode_uuid)]
        if queued:      # one line per report, however many replicas it names
            log.warning("%s reports %d bad replica(s), first block %d on %s: asked the DataNodes to verify",
                        caller.user, len(queued), queued[0].block.block_id, queued[0].datanode_uuid)
        return pb.ReportBadBlocksResponse()

    @translated
    def GetStats(self, request, context):
        fsn = self.fsn
        nodes = [pb.DatanodeReport(id=datanode_id(row.node), alive=row.alive, capacity=row.capacity, used=row.used,
                                   remaining=row.remaining, last_heartbeat_ms_ago=int(row.last_heartbeat_s_ago * 1000),
                                   num_blocks=row.num_blocks, admin_state=row.node.admin_state)
                 for row in stats.datanode_rows(fsn)]
        caller = self._caller(context)
        return pb.GetStatsResponse(datanodes=nodes, auth_mode=self.auth.mode, tls=self.tls, caller=caller.user,
                                   caller_groups=caller.groups, caller_superuser=caller.superuser,
                                   **stats.namesystem_figures(fsn))

    @translated
    def GetServerDefaults(self, request, context):
        fsn = self.fsn
        return pb.GetServerDefaultsResponse(block_size=fsn.default_block_size, replication=fsn.default_replication,
                                            nameservice=fsn.nameservice, pool_id=fsn.pool_id,
                                            cluster_id=fsn.cluster_id, bytes_per_checksum=BYTES_PER_CHECKSUM,
                                            small_file_threshold=fsn.small_file_threshold)

    @translated
    def OpenContainer(self, request, context):
        caller = self._caller(context)
        path, block, targets, max_bytes = small.open_container(
            self.fsn, caller, request.client_name, request.client_host, set(request.excluded_uuids))
        return pb.OpenContainerResponse(path=path, max_bytes=max_bytes, block=pb.LocatedBlock(
            block=self._block(block), offset=0, locations=[datanode_id(t) for t in targets],
            token=block_token(self.fsn, caller.user, block.block_id, block.generation_stamp,
                              security.READ + security.WRITE)))

    @translated
    def CommitSmall(self, request, context):
        return self._answer(self._commit_small, request, context, pb.CommitSmallResponse())

    @translated
    async def PackNow(self, request, context):
        """Pack every staged small file and compact containers now (any user may ask)."""
        if self.fsn.packer is None:
            raise errors.InvalidArgument(f"namespace {self.fsn.nameservice}: no packer runs here")
        return pb.PackNowResponse(**await self.fsn.packer.pack_now(everything=True))


    # ------------------------------------------------------------ tokens

    def _by_user_token(self, context, what: str):
        """Tokens are handed out only to a caller who proved itself with a user token
        (HDFS: no delegation token from a delegation token)."""
        caller = self._caller(context)
        if self.auth.tokens and self.auth.token_kind(context) != "user":
            raise errors.AccessDenied(f"{self.where}: {what} needs a user token, not a delegation token "
                                      f"(user={caller.user})")
        if not self.auth.tokens or self.fsn.delegation is None:
            raise errors.InvalidArgument(f"{self.where}: security is off ([security] auth = \"simple\"): "
                                         f"there are no tokens to issue")
        return caller

    @translated
    def GetDelegationToken(self, request, context):
        caller = self._by_user_token(context, "a delegation token")
        token, expiry, max_date = self.fsn.delegation.issue(caller.user, request.renewer)
        return pb.GetDelegationTokenResponse(token=token, expiry_ms=expiry, max_date_ms=max_date)

    @translated
    def RenewDelegationToken(self, request, context):
        caller = self._by_user_token(context, "renewing a delegation token")
        expiry = self.fsn.delegation.renew(request.token, caller.user)
        self.auth.forget(request.token)
        return pb.RenewDelegationTokenResponse(expiry_ms=expiry)

    @translated
    def CancelDelegationToken(self, request, context):
        caller = self._caller(context)   # a job may cancel its own token when done
        if self.fsn.delegation is None:
            raise errors.InvalidArgument(f"{self.where}: security is off: there are no tokens to cancel")
        self.fsn.delegation.cancel(request.token, caller.user, caller.superuser)
        self.auth.forget(request.token)
        return pb.CancelDelegationTokenResponse()

    @translated
    def IssueUserToken(self, request, context):
        caller = self._by_user_token(context, "issuing a user token")
        if not caller.superuser:
            raise errors.AccessDenied(f"{self.where}: only the superuser may issue user tokens "
                                      f"(user={caller.user})")
        if not request.user:
            raise errors.InvalidArgument(f"{self.where}: IssueUserToken names no user")
        lifetime = request.lifetime_s or self.fsn.user_token_lifetime
        token = security.user_token(self.auth.secret, request.user, lifetime)
        log.info("user token for %s issued by %s (%.0f days)", request.user, caller.user, lifetime / 86400)
        return pb.IssueUserTokenResponse(token=token, expiry_ms=security.decode(token)["x"])

    @translated
    def SetSafeMode(self, request, context):
        fsn, caller = self.fsn, self._caller(context)
        if request.action != pb.SafeModeRequest.GET and not caller.superuser:
            raise errors.AccessDenied(f"namespace {fsn.nameservice}: only the superuser may change safe mode "
                                      f"(user={caller.user})")
        if request.action == pb.SafeModeRequest.ENTER:
            fsn.safemode.enter(manual=True)
        elif request.action == pb.SafeModeRequest.LEAVE:
            fsn.safemode.leave()
        return pb.SafeModeResponse(**fsn.safemode.status(fsn))

    @translated
    async def SaveNamespace(self, request, context):
        """Write an image now (and roll the edit log): superuser only."""
        fsn, caller = self.fsn, self._caller(context)
        if not caller.superuser:
            raise errors.AccessDenied(f"namespace {fsn.nameservice}: only the superuser may save the namespace "
                                      f"(user={caller.user})")
        if fsn.journal is None:
            raise errors.InvalidArgument(f"namespace {fsn.nameservice} has no meta_dir: nothing to save to")
        txid, path = await fsn.journal.checkpoint(fsn)
        return pb.SaveNamespaceResponse(txid=txid, image=str(path))

    # ---------------------------------------------------------- mount table
    def _mounts(self):
        if self.fsn.mount_table is None:
            raise errors.InvalidArgument(f"{self.where} keeps no cluster mount table")
        return self.fsn.mount_table

    @translated
    def GetMountTable(self, request, context):
        mounts = self._mounts()
        if request.known_version and request.known_version >= mounts.version:
            return pb.GetMountTableResponse()
        return pb.GetMountTableResponse(table=mounts.to_pb())

    @translated
    def UpdateMountTable(self, request, context):
        self._superuser(context, "change the mount table")
        state = self._mounts().update(request.expected_version, MountState.from_pb(request.table))
        return pb.UpdateMountTableResponse(table=state.to_pb())

    @translated
    def InstallMountTable(self, request, context):
        self._superuser(context, "install a mount table")
        mounts = self._mounts()
        mounts.install(MountState.from_pb(request.table))
        return pb.InstallMountTableResponse(version=mounts.version)


class DatanodeProtocolServicer(pb_grpc.DatanodeProtocolServicer):
    PROTOCOL = "DatanodeProtocol"

    def __init__(self, fsn: Namesystem, auth: Authenticator, heartbeat_interval: float,
                 block_report_interval: float):
        self.fsn = fsn
        self.auth = auth
        self.where = f"namespace {fsn.nameservice}"
        self.heartbeat_ms = int(heartbeat_interval * 1000)
        self.report_ms = int(block_report_interval * 1000)

    def _authenticate(self, request, context) -> None:
        """Only a DataNode holding the cluster secret, and only for itself."""
        self.auth.datanode(context, request.id.uuid if isinstance(request, pb.RegisterRequest) else
                           getattr(request, "uuid", ""))

    async def _refuse_if_uuid_is_live_elsewhere(self, dn: pb.DatanodeId) -> None:
        """AlreadyExists while a live DataNode holds ``dn.uuid`` at another address (the rule:
        namenode/datanodes.py); the registry is left as it was."""
        fsn = self.fsn
        holder = fsn.datanodes.live_elsewhere(dn.uuid, dn.transfer_address, fsn.monotonic())
        if holder is None or not await asyncio.to_thread(dt.accepts_connections, holder.transfer_address,
                                                         UUID_PROBE_TIMEOUT):
            return
        if fsn.datanodes.live_elsewhere(dn.uuid, dn.transfer_address, fsn.monotonic()) is not holder:
            return        # it re-registered or died while we probed: the registry decides anew
        refusal = fsn.datanodes.refusal(holder, dn.host_label, dn.transfer_address, fsn.nameservice)
        log.warning("%s", refusal)
        raise refusal

    @translated
    async def Register(self, request, context):
        fsn = self.fsn
        if not request.id.uuid or not request.id.host_label:
            raise errors.InvalidArgument(f"namespace {fsn.nameservice}: a DataNode registers with a uuid and a "
                                         f"host label")
        dt.split_address(request.id.transfer_address)    # InvalidArgument unless host:port
        if request.cluster_id != fsn.cluster_id:
            raise errors.InvalidArgument(f"DataNode {request.id.host_label} belongs to cluster "
                                         f"{request.cluster_id!r}, namespace {fsn.nameservice} to {fsn.cluster_id!r}")
        if request.id.http_address:
            dt.split_address(request.id.http_address)
        await self._refuse_if_uuid_is_live_elsewhere(request.id)
        # Resolved (and cached) off the event loop: a topology script may take up to its timeout.
        await asyncio.to_thread(fsn.topology.rack_of, request.id.host_label,
                                address_host(request.id.transfer_address))
        fsn.register_datanode(request.id.uuid, request.id.host_label, request.id.transfer_address,
                              request.id.http_address)
        log.info("DataNode %s (%s) registered at %s, rack %s", request.id.host_label, request.id.uuid,
                 request.id.transfer_address, fsn.datanodes.nodes[request.id.uuid].rack)
        return pb.RegisterResponse(nameservice=fsn.nameservice, pool_id=fsn.pool_id, cluster_id=fsn.cluster_id,
                                   heartbeat_interval_ms=self.heartbeat_ms, block_report_interval_ms=self.report_ms,
                                   block_keys=self._block_keys())

    @translated
    def Heartbeat(self, request, context):
        commands = self.fsn.heartbeat(request.uuid, request.capacity, request.used, request.remaining,
                                      request.active_transfers)
        if commands is None:
            return pb.HeartbeatResponse(reregister=True)
        # Every valid key, every heartbeat (a few of ~50 bytes): a DataNode that missed
        # a roll catches up at once, and its set is exactly the NameNode's.
        reply = pb.HeartbeatResponse(commands=[self._command(c) for c in commands], block_keys=self._block_keys())
        self._newer_mount_table(request.mount_version, reply)
        return reply

    def _newer_mount_table(self, known_version: int, reply: pb.HeartbeatResponse) -> None:
        """A DataNode behind on the cluster mount table gets it: it registers with
        namespaces added since (only then, so a heartbeat stays small)."""
        table = getattr(self.fsn, "mount_table", None)
        if table is not None and known_version < table.version:
            reply.mount_table.CopyFrom(table.to_pb())

    def _block_keys(self) -> list[pb.BlockKey]:
        keys = self.fsn.block_keys
        return [] if keys is None else keys.keys_proto()

    def _token(self, block_id: int, generation_stamp: int, modes: str) -> str:
        return block_token(self.fsn, DATANODE_TOKEN_USER, block_id, generation_stamp, modes)

    def _command(self, cmd) -> pb.DatanodeCommand:
        pool = self.fsn.pool_id
        if isinstance(cmd, TransferCmd):
            block = pb.Block(block_id=cmd.block_id, generation_stamp=cmd.generation_stamp,
                             num_bytes=cmd.num_bytes, pool_id=pool)
            return pb.DatanodeCommand(transfer=pb.TransferCommand(
                block=block, targets=[datanode_id(t) for t in cmd.targets],
                token=self._token(cmd.block_id, cmd.generation_stamp, security.COPY)))
        if isinstance(cmd, PackCmd):
            return pb.DatanodeCommand(pack=self._pack_command(cmd))
        if isinstance(cmd, VerifyCmd):
            return pb.DatanodeCommand(verify=pb.VerifyCommand(blocks=[
                pb.Block(block_id=b, generation_stamp=g, num_bytes=n, pool_id=pool) for b, g, n in cmd.blocks]))
        if isinstance(cmd, LinkCmd):
            return pb.DatanodeCommand(link=pb.LinkCommand(source_pool=cmd.source_pool, blocks=[
                pb.LinkedBlock(source=pb.Block(block_id=s, generation_stamp=g, num_bytes=n, pool_id=cmd.source_pool),
                               target_block_id=t) for s, g, n, t in cmd.blocks]))
        assert isinstance(cmd, DeleteCmd)
        return pb.DatanodeCommand(delete=pb.DeleteCommand(blocks=[
            pb.Block(block_id=b, generation_stamp=g, num_bytes=n, pool_id=pool) for b, g, n in cmd.blocks]))

    def _pack_command(self, cmd: PackCmd) -> pb.PackCommand:
        """The proto of a PackCommand: one source per file, its container's location built once."""
        pool, job = self.fsn.pool_id, cmd.job
        located = {b: pb.LocatedBlock(block=pb.Block(block_id=b, generation_stamp=block.generation_stamp,
                                                     num_bytes=block.num_bytes, pool_id=pool),
                                      locations=[datanode_id(n) for n in nodes],
                                      token=self._token(b, block.generation_stamp, security.READ))
                   for b, (block, nodes, _raw) in cmd.containers.items()}
        out = pb.PackCommand(block=pb.Block(block_id=cmd.block_id, generation_stamp=cmd.generation_stamp,
                                            pool_id=pool),
                             targets=[datanode_id(t) for t in cmd.targets], compress=cmd.compress,
                             token=self._token(cmd.block_id, cmd.generation_stamp, security.WRITE))
        for i, (block_id, offset, length) in enumerate(zip(job.blocks.tolist(), job.offsets.tolist(),
                                                            job.lengths.tolist())):
            source = out.sources.add(length=length)
            if not block_id:
                source.inline_data = cmd.inline.get(i, b"")
            elif block_id in located:
                source.container.CopyFrom(located[block_id])
                source.offset, source.raw = offset, cmd.containers[block_id][2]
        return out

    @translated
    def ContainerPacked(self, request, context):
        self._known(request.uuid)
        if self.fsn.packer is not None:
            self.fsn.packer.on_packed(request.block.block_id, request.block.num_bytes, list(request.offsets),
                                      request.failed)
        return pb.ContainerPackedResponse()

    def _known(self, uuid: str) -> None:
        if not self.fsn.datanodes.is_live(uuid):
            raise errors.InvalidArgument(f"DataNode {uuid} is not registered with namespace "
                                         f"{self.fsn.nameservice}: register first")

    @translated
    def BlockReport(self, request, context):
        self._known(request.uuid)
        self.fsn.block_report(request.uuid, [(b.block_id, b.generation_stamp, b.num_bytes)
                                             for b in request.blocks])
        return pb.BlockReportResponse()

    @translated
    def IncrementalBlockReport(self, request, context):
        self._known(request.uuid)
        self.fsn.incremental_report(request.uuid,
                                    [(b.block_id, b.generation_stamp, b.num_bytes) for b in request.received],
                                    [(b.block_id, b.generation_stamp, b.num_bytes) for b in request.deleted])
        return pb.IncrementalBlockReportResponse()

    @translated
    def ReportBadBlocks(self, request, context):
        """A DataNode's word on its own replicas is trusted (it checked their checksums); about
        another DataNode's replica (bytes that failed while it read them) it is a claim, and
        that DataNode is asked to verify, as for a client's report."""
        reporter = self.auth.datanode(context, "")
        if reporter:
            self._known(reporter)
        for bad in request.replicas:     # all checked before any is acted on
            self._known(bad.datanode_uuid)
        for bad in request.replicas:
            if not reporter or bad.datanode_uuid == reporter:
                self.fsn.report_bad_replica(bad.block.block_id, bad.datanode_uuid)
            else:
                self.fsn.queue_verify(bad.block.block_id, bad.datanode_uuid)
        if request.replicas:   # one line per report, however many replicas it names
            first = request.replicas[0]
            log.warning("DataNode %s reports a bad replica of block %d on %s (%d in this report)",
                        reporter or first.datanode_uuid, first.block.block_id, first.datanode_uuid,
                        len(request.replicas))
        return pb.ReportBadBlocksResponse()
