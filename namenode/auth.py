"""Who is calling a NameNode: tokens checked, groups resolved here, never taken from the caller.

With ``[security] auth = "token"`` (the default) every ClientProtocol call
carries a user token or a delegation token of this namespace (gRPC metadata
``hfed-token``) and every DatanodeProtocol call a DataNode token naming the
DataNode's uuid; anything else is Unauthenticated. Groups come from the
NameNode host's OS (the user's primary and supplementary groups, as HDFS's
default group mapping) plus ``[security.groups]`` of the config. With
``auth = "simple"`` callers say who they are (metadata ``hfed-user`` and
``hfed-groups``), as HDFS without Kerberos.

Verifying a token costs an HMAC and a JSON parse (~5 us); a verified token is
remembered (until it expires) so a call pays one dict lookup.
"""
from __future__ import annotations

import grp
import os
import pwd
import time

from protos import errors, rpc, security
from protos.config import ClusterConfig
from namenode.delegation import DelegationTokens
from namenode.namespace import Caller, Namespace

GROUPS_CACHE_SECONDS = 300.0   # HDFS hadoop.security.groups.cache.secs
TOKEN_CACHE_ENTRIES = 10_000


def process_user() -> str:
    """The OS account running this process (not $HFED_USER): the NameNode's superuser."""
    return pwd.getpwuid(os.geteuid()).pw_name


class GroupMapping:
    """A user's groups as this host knows them: OS groups, then the config's extra ones."""

    def __init__(self, extra: dict[str, list[str]]):
        self.extra = extra
        self._cache: dict[str, tuple[float, tuple[str, ...]]] = {}

    def groups(self, user: str) -> tuple[str, ...]:
        now = time.monotonic()
        cached = self._cache.get(user)
        if cached is not None and cached[0] > now:
            return cached[1]
        found: list[str] = []
        try:
            entry = pwd.getpwnam(user)
            for gid in os.getgrouplist(user, entry.pw_gid):
                try:
                    found.append(grp.getgrgid(gid).gr_name)
                except KeyError:
                    found.append(str(gid))
        except KeyError:
            pass   # not an OS account here: only the config's groups
        for group in self.extra.get(user, ()):
            if group not in found:
                found.append(group)
        if len(self._cache) > TOKEN_CACHE_ENTRIES:
            self._cache.clear()
        self._cache[user] = (now + GROUPS_CACHE_SECONDS, tuple(found))
        return self._cache[user][1]


class Authenticator:
    def __init__(self, cfg: ClusterConfig, nameservice: str, ns: Namespace, delegation: DelegationTokens | None):
        self.tokens = cfg.security.tokens
        self.nameservice = nameservice
        self.ns = ns
        self.delegation = delegation
        self.group_mapping = GroupMapping(cfg.security.groups)
        self.secret = security.ensure_secret(cfg.secret_path()) if self.tokens else b""
        self._user_key = security.derive(self.secret, "user")
        self._datanode_key = security.derive(self.secret, "datanode")
        self._verified: dict[str, tuple[Caller, int]] = {}   # token -> (caller, expiry ms; 0 = none)

    @property
    def mode(self) -> str:
        return "token" if self.tokens else "simple"

    def where(self) -> str:
        return f"namespace {self.nameservice}"

    # ------------------------------------------------------------ clients

    def client(self, context) -> Caller:
        """The caller of a ClientProtocol call; Unauthenticated without a valid token."""
        if not self.tokens:
            user, groups = rpc.caller_identity(context)
            return self.ns.caller(user, groups)
        token = _metadata(context, security.TOKEN_KEY)
        if not token:
            raise errors.Unauthenticated(
                f"{self.where()}: this cluster requires a token and the call carried none: the cluster's "
                f"owner has one (it can read the cluster secret); other users ask the superuser for one "
                f"(`hfed dfsadmin -fetchToken USER FILE`) and set $HFED_TOKEN_FILE or copy it to "
                f"~/.hfed/tokens/<cluster id>.json")
        cached = self._verified.get(token)
        if cached is not None:
            caller, expiry = cached
            if not expiry or security.now_ms() <= expiry:
                return caller
            del self._verified[token]
        caller, expiry = self._verify_client_token(token)
        if len(self._verified) >= TOKEN_CACHE_ENTRIES:
            self._verified.clear()
        self._verified[token] = (caller, expiry)
        return caller

    def _verify_client_token(self, token: str) -> tuple[Caller, int]:
        fields = security.decode(token)
        if fields["k"] == "dt":
            if self.delegation is None:
                raise errors.Unauthenticated(f"{self.where()}: delegation tokens are not kept here")
            fields = self.delegation.check(token)
            user, expiry = fields["o"], self.delegation.expiry_of(fields)
        else:
            fields = security.verify(token, self._user_key, "user")
            user, expiry = fields["u"], fields.get("x", 0)
        if not isinstance(user, str) or not user:
            raise errors.Unauthenticated(f"{self.where()}: token names no user")
        return self.ns.caller(user, self.group_mapping.groups(user)), expiry

    def token_kind(self, context) -> str:
        token = _metadata(context, security.TOKEN_KEY)
        return security.decode(token)["k"] if (self.tokens and token) else "simple"

    def forget(self, token: str) -> None:
        """A cancelled or renewed delegation token: verify it afresh next time."""
        self._verified.pop(token, None)

    # ------------------------------------------------------------ DataNodes

    def datanode(self, context, uuid: str) -> str:
        """DatanodeProtocol calls come only from DataNodes holding the cluster secret, each
        speaking for its own uuid (``uuid``: the one the request names, "" for none). Returns
        the caller's uuid ("" in simple mode, where nobody is checked)."""
        if not self.tokens:
            return ""
        token = _metadata(context, security.TOKEN_KEY)
        if not token:
            raise errors.Unauthenticated(f"{self.where()}: DataNode calls need the cluster's DataNode token")
        fields = security.verify(token, self._datanode_key, "dn")
        if uuid and fields.get("u") != uuid:
            raise errors.Unauthenticated(f"{self.where()}: DataNode {fields.get('u')} may not speak for "
                                         f"DataNode {uuid}")
        return fields.get("u", "")


def _metadata(context, key: str) -> str:
    for name, value in context.invocation_metadata() or ():
        if name == key:
            return value
    return ""
