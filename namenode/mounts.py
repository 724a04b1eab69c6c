"""This NameNode's copy of the cluster mount table (protos/mount_state.py).

Why a holder and copies: a change must have one order (two admins adding
mounts at once must not both make "version 7"), and routing must keep working
when one NameNode is down. So one NameNode, the holder, orders changes
(compare-and-set on the version, written durably to ``meta_dir/mount_table.json``
before the reply), and every NameNode keeps its own durable copy, pulled from the
holder every heartbeat interval and pushed to it right away by the admin
commands and the mover. A holder that is down stops changes, not routing.

Each NameNode refuses calls for paths its table gives to another namespace
(``MountMoved``; the client fetches the table and goes there) and writes under
read-only mounts. When a caller's table is newer than ours, we pull first and
ask the caller to retry, so a NameNode that is behind never judges by an old table.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from pathlib import Path

import grpc

from protos import config as config_mod, errors, rpc, security
from protos import hfed_pb2 as pb
from protos import hfed_pb2_grpc as pb_grpc
from protos.files import replace_atomically
from protos.log_limit import RateLimitedLog
from protos.mount_state import MountState

log = logging.getLogger(__name__)

TABLE_FILE = "mount_table.json"
VERSION_KEY = "hfed-mount-version"     # gRPC metadata: the table version a client or NameNode knows


class ClusterMounts:
    def __init__(self, nameservice: str, cfg, meta_dir: str = ""):
        self.nameservice = nameservice
        self.holder = cfg.holder()
        self.is_holder = nameservice == self.holder
        self._file = Path(meta_dir) / TABLE_FILE if meta_dir else None
        if self._file is not None and self._file.exists():
            self.state = MountState.from_json(self._file.read_text())
        else:
            # The config seeds the holder's first table; the others wait to hear from it.
            self.state = MountState.from_config(cfg, 1 if self.is_holder else 0)
        self.pull_wanted = asyncio.Event()
        self.address = ""      # where this NameNode serves, once bound

    @property
    def version(self) -> int:
        return self.state.version

    def to_pb(self) -> pb.MountTableState:
        return self.state.to_pb()

    def owner_of(self, path: str) -> str:
        return self.state.owner_of(path)

    def check(self, path: str, write: bool, caller_version: int) -> None:
        """Refuse a call for ``path`` that is not ours (MountMoved) or writes under a
        read-only mount (ReadOnlyMount). Paths no table covers are served (standalone use)."""
        mount = self.state.mount_of(path)
        owner = mount.nameservice if mount else self.state.fallback
        if owner and owner != self.nameservice:
            if caller_version > self.version:
                self.pull_wanted.set()
                raise errors.Retry(f"{path}: namespace {self.nameservice} has mount table version {self.version}, "
                                   f"older than the caller's {caller_version}; it is fetching the new one, retry",
                                   path)
            raise errors.MountMoved(f"{path} belongs to namespace {owner}, not {self.nameservice} "
                                    f"(mount table version {self.version})", path)
        if write and mount is not None and mount.readonly:
            raise errors.ReadOnlyMount(f"{path}: under read-only mount point {mount.path} "
                                       f"[namespace {self.nameservice}]", path)

    def advertise(self, address: str) -> None:
        """The holder puts its own bound address in the table (a config may say port 0)."""
        self.address = address
        if self.is_holder and self.state.nameservices.get(self.nameservice) != address:
            self.update(self.version, self.state.with_nameservice(self.nameservice, address))

    def install(self, state: MountState) -> bool:
        """Keep ``state`` if it is newer than ours (durably first). True if kept."""
        if state.version <= self.version:
            return False
        state.check()
        self._save(state)
        log.info("%s: mount table version %d (%d mounts, %d namespaces)", self.nameservice, state.version,
                 len(state.mounts), len(state.nameservices))
        return True

    def update(self, expected_version: int, proposed: MountState) -> MountState:
        """Holder only: ``proposed`` becomes version expected + 1, if nobody changed the table meanwhile."""
        if not self.is_holder:
            raise errors.InvalidArgument(f"namespace {self.nameservice} does not hold the mount table: "
                                         f"send changes to {self.holder}")
        if expected_version != self.version:
            raise errors.Retry(f"the mount table changed (version {self.version}, not {expected_version}): "
                               f"fetch it and apply the change again")
        state = replace(proposed, version=self.version + 1, holder=self.holder)
        state.check()
        self._save(state)
        log.info("%s: mount table changed to version %d", self.nameservice, state.version)
        return state

    def _save(self, state: MountState) -> None:
        if self._file is not None:
            replace_atomically(self._file, state.to_json(), durable=True, mode=0o600)
        self.state = state


def caller_version(context) -> int:
    for key, value in context.invocation_metadata() or ():
        if key == VERSION_KEY:
            try:
                return int(value)
            except ValueError:
                return 0
    return 0


def _metadata(cfg) -> tuple:
    """How this NameNode calls the holder: as itself, the superuser."""
    if not cfg.security.tokens:
        return rpc.identity_metadata()
    secret = security.ensure_secret(cfg.secret_path())
    return ((security.TOKEN_KEY, security.user_token(secret, rpc.current_user(), 86400.0)),)


def _holder_address(mounts: ClusterMounts, cfg) -> str:
    """Where the holder serves: by our table, else by the config file as it is now (a local
    cluster starts its NameNodes on port 0 and writes the bound addresses there after)."""
    address = mounts.state.nameservices.get(mounts.holder, "")
    if address and not address.endswith(":0"):
        return address
    try:
        return config_mod.load(cfg.source).nameservices[mounts.holder].dial_address
    except (errors.HfedError, OSError, KeyError):
        return cfg.nameservices[mounts.holder].dial_address


async def follow_holder(mounts: ClusterMounts, cfg, interval: float) -> None:
    """Pull newer tables from the holder: every ``interval`` seconds, and at once when a
    caller showed us a newer version. Failures are logged (rate-limited) and retried."""
    if mounts.is_holder:
        return
    failures = RateLimitedLog(log, 60.0)
    channel, address, metadata = None, "", _metadata(cfg)
    try:
        while True:
            try:
                await asyncio.wait_for(mounts.pull_wanted.wait(), interval)
            except asyncio.TimeoutError:
                pass
            mounts.pull_wanted.clear()
            holder_address = _holder_address(mounts, cfg)
            if holder_address != address:
                if channel is not None:
                    await channel.close()
                address, channel = holder_address, rpc.aio_channel(holder_address, cfg)
            try:
                stub = pb_grpc.ClientProtocolStub(channel)
                reply = await stub.GetMountTable(
                    pb.GetMountTableRequest(known_version=mounts.version), metadata=metadata, timeout=5.0)
                if reply.HasField("table"):
                    mounts.install(MountState.from_pb(reply.table))
                if mounts.address and mounts.version and \
                        mounts.state.nameservices.get(mounts.nameservice) != mounts.address:
                    # Tell the holder where we serve (compare-and-set: a lost race retries next pass).
                    table = mounts.state.with_nameservice(mounts.nameservice, mounts.address).to_pb()
                    reply = await stub.UpdateMountTable(pb.UpdateMountTableRequest(
                        expected_version=mounts.version, table=table), metadata=metadata, timeout=5.0)
                    mounts.install(MountState.from_pb(reply.table))
            except (grpc.RpcError, errors.HfedError, OSError) as e:
                detail = e.details() if isinstance(e, grpc.RpcError) else e
                failures.warning("holder", f"{mounts.nameservice}: cannot reach the mount table holder "
                                 f"{mounts.holder} at {address}: {detail}")
    finally:
        if channel is not None:
            await channel.close()
