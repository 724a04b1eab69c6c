"""gRPC plumbing every role shares: channel/server options and caller identity."""
from __future__ import annotations

import getpass
import os

import grpc

from protos import tls
from protos.errors import InvalidArgument
from protos.files import replace_atomically

MAX_MESSAGE = 64 << 20
OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE),
    ("grpc.max_receive_message_length", MAX_MESSAGE),
    ("grpc.so_reuseport", 0),
    ("grpc.max_metadata_size", 16 << 10),   # a caller's metadata (user, token) past 16 KiB is refused
]
USER_KEY = "hfed-user"
GROUPS_KEY = "hfed-groups"
ENV_USER = "HFED_USER"
ENV_GROUPS = "HFED_GROUPS"
MAX_CLAIMED_NAME = 256      # simple mode: the longest user or group name a caller may claim
MAX_CLAIMED_GROUPS = 64


def current_user() -> str:
    return os.environ.get(ENV_USER) or getpass.getuser()


def current_groups() -> list[str]:
    raw = os.environ.get(ENV_GROUPS)
    return [g for g in raw.split(",") if g] if raw else [current_user()]


def identity_metadata(user: str | None = None, groups: list[str] | None = None) -> tuple:
    return ((USER_KEY, user or current_user()), (GROUPS_KEY, ",".join(groups or current_groups())))


def caller_identity(context) -> tuple[str, list[str]]:
    """(user, groups) a server-side call carries; anonymous callers are 'nobody'."""
    user, groups = "nobody", ""
    for key, value in context.invocation_metadata() or ():
        if key == USER_KEY:
            user = value
        elif key == GROUPS_KEY:
            groups = value
    groups = [g for g in groups.split(",") if g]
    if len(user) > MAX_CLAIMED_NAME or len(groups) > MAX_CLAIMED_GROUPS or \
            any(len(g) > MAX_CLAIMED_NAME for g in groups):
        raise InvalidArgument(f"claimed identity too large: user of {len(user)} bytes, {len(groups)} groups "
                              f"(at most {MAX_CLAIMED_NAME} bytes each, {MAX_CLAIMED_GROUPS} groups)")
    return user, groups


def insecure_channel(address: str) -> grpc.Channel:
    return grpc.insecure_channel(address, options=OPTIONS)


def channel(address: str, cfg=None, options=OPTIONS) -> grpc.Channel:
    """A channel to a daemon of ``cfg``'s cluster: TLS checked against the cluster CA when
    ``[security] tls`` is on (``cfg`` None: plain, for servers outside a cluster)."""
    if cfg is None or not cfg.security.tls:
        return grpc.insecure_channel(address, options=options)
    return grpc.secure_channel(address, tls.channel_credentials(cfg), options=options)


def aio_channel(address: str, cfg=None, options=OPTIONS) -> grpc.aio.Channel:
    if cfg is None or not cfg.security.tls:
        return grpc.aio.insecure_channel(address, options=options)
    return grpc.aio.secure_channel(address, tls.channel_credentials(cfg), options=options)


def add_port(server, address: str, cfg=None, names=()) -> int:
    """Bind ``server`` (sync or aio) to ``address``, with the cluster's certificate when
    ``cfg``'s TLS is on (one carrying ``names``, those the server advertises); the port
    bound (0: it could not bind)."""
    if cfg is None or not cfg.security.tls:
        return server.add_insecure_port(address)
    return server.add_secure_port(address, tls.server_credentials(cfg, names))


def aio_server() -> grpc.aio.Server:
    return grpc.aio.server(options=OPTIONS)


def write_address_file(path: str | None, address: str) -> None:
    """Announce a ready daemon's bound address (atomically: launchers poll for it)."""
    if path:
        replace_atomically(path, address)
