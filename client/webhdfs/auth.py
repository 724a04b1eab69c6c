"""Who a WebHDFS request acts for, and the client sessions that act for them.

``[security] auth = "simple"``: the caller is ``user.name`` (``dr.who`` when
absent, as HDFS), with the groups this host knows for that account.

With tokens (the default) a request carries ``delegation=``: either a user
token (what ``hfed dfsadmin -fetchToken`` issues; the cluster's owner has one
on the spot) or what GETDELEGATIONTOKEN returned: one delegation token per
namespace joined by ``~`` (each says which namespace issued it). The gateway
and the DataNodes never act with their own identity for a caller: every call
they make for it carries the caller's token and the NameNodes check it. So a
forged or foreign token gets nowhere, and sessions are cached per token, not
per claimed user name. ``doas`` (proxy users) is not supported.
"""
from __future__ import annotations

import grp
import os
import pwd
import threading
from collections import OrderedDict
from contextlib import contextmanager
from typing import NamedTuple

from client.credentials import Credentials
from client.fs import HfedFileSystem
from client.session import ClusterSession
from client.webhdfs.params import Params
from client.webhdfs.shapes import WebHdfsError, security
from protos import config, errors
from protos import security as tokens

ANONYMOUS = "dr.who"        # HDFS's hadoop.http.staticuser.user
SEPARATOR = "~"             # joins the per-namespace tokens of one delegation string
SESSIONS_KEPT = 64


class Caller(NamedTuple):
    user: str
    credentials: Credentials
    auth_param: tuple[str, str]     # what a redirect's Location carries: ("user.name", u) or ("delegation", t)

    @property
    def key(self) -> tuple:
        return self.auth_param


def how_to_get_a_token(cfg: config.ClusterConfig) -> str:
    return (f"this cluster requires a token: pass delegation=TOKEN. TOKEN is your user token (the \"*\" entry "
            f"of ~/.hfed/tokens/{cfg.cluster_id}.json, issued by the superuser with `hfed dfsadmin -fetchToken "
            f"USER FILE`; the cluster's owner prints one with `hfed webhdfs -token`), or what "
            f"op=GETDELEGATIONTOKEN returned for it")


def identify(cfg: config.ClusterConfig, params: Params) -> Caller:
    """The caller of a request; WebHdfsError (401/403) when it cannot be one."""
    claimed = params.user_name("user.name")
    doas = params.user_name("doas")
    delegation = params.raw("delegation")
    if not cfg.security.tokens:
        if delegation:
            raise security("security is off on this cluster ([security] auth = \"simple\"): there are no "
                           "tokens; say who you are with user.name=")
        user = claimed or ANONYMOUS
        caller = Caller(user, Credentials(user, source="webhdfs simple", groups=host_groups(user)),
                        ("user.name", user))
    else:
        if not delegation:
            raise security(how_to_get_a_token(cfg) + (f" (user.name={claimed} alone proves nothing)"
                                                      if claimed else ""))
        user, by_ns = decode_delegation(delegation)
        if claimed and claimed != user:
            raise security(f"user.name={claimed} but the token is {user}'s: a request acts for the token's owner")
        caller = Caller(user, Credentials(user, by_ns, source="webhdfs delegation"), ("delegation", delegation))
    if doas and doas != caller.user:
        raise WebHdfsError("AuthorizationException", f"User: {caller.user} is not allowed to impersonate {doas} "
                                                     f"(hfed's WebHDFS has no proxy users)")
    return caller


def decode_delegation(value: str) -> tuple[str, dict[str, str]]:
    """(owner, {nameservice or "*": token}) of a delegation string; unverified (NameNodes verify)."""
    by_ns: dict[str, str] = {}
    owners = set()
    parts = value.split(SEPARATOR)
    if len(parts) > 64:
        raise security(f"delegation: {len(parts)} tokens joined; at most one per namespace")
    for token in parts:
        try:
            fields = tokens.decode(token)
        except errors.Unauthenticated as e:
            raise security(f"delegation: {e}") from None
        if fields["k"] == "dt" and isinstance(fields.get("ns"), str):
            by_ns[fields["ns"]] = token
            owners.add(fields.get("o"))
        elif fields["k"] == "user":
            by_ns["*"] = token
            owners.add(fields.get("u"))
        else:
            raise security(f"delegation: a {fields['k']} token is not a user's token")
    if len(owners) != 1 or not all(isinstance(o, str) and o for o in owners):
        raise security("delegation: the tokens must all be one user's")
    return owners.pop(), by_ns


def encode_delegation(by_ns: dict[str, str]) -> str:
    return SEPARATOR.join(by_ns[ns] for ns in sorted(by_ns))


def delegation_param(tokens: dict[str, str]) -> str:
    """What a holder of ``tokens`` (client Credentials.tokens) passes as ``delegation=``."""
    return tokens["*"] if "*" in tokens else encode_delegation(tokens)


def host_groups(user: str) -> list[str]:
    """Simple mode: the groups this host knows for ``user`` (its own name when it has no account here)."""
    try:
        entry = pwd.getpwnam(user)
        found = []
        for gid in os.getgrouplist(user, entry.pw_gid):
            try:
                found.append(grp.getgrgid(gid).gr_name)
            except KeyError:
                found.append(str(gid))
        return found or [user]
    except KeyError:
        return [user]


class Sessions:
    """One client filesystem per caller (per token with tokens on), the least recently used
    closed when more than SESSIONS_KEPT callers came by -- never while a request uses it."""

    def __init__(self, cfg: config.ClusterConfig, host: str = "", kept: int = SESSIONS_KEPT):
        self.cfg = cfg
        self.host = host
        self.kept = kept
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple, list] = OrderedDict()   # key -> [filesystem, requests using it]

    @contextmanager
    def using(self, caller: Caller):
        """The caller's filesystem (made on first use: it asks a NameNode, so call this in a thread)."""
        with self._lock:
            entry = self._entries.get(caller.key)
            if entry is not None:
                entry[1] += 1
                self._entries.move_to_end(caller.key)
        if entry is None:
            made = HfedFileSystem(session=ClusterSession(self.cfg, host=self.host or None,
                                                         acting_for=caller.credentials))
            with self._lock:
                entry = self._entries.setdefault(caller.key, [made, 0])
                entry[1] += 1
            if entry[0] is not made:
                made.close()
        try:
            yield entry[0]
        finally:
            with self._lock:
                entry[1] -= 1
                unused = self._evict()
            for fs in unused:
                fs.close()

    def _evict(self) -> list[HfedFileSystem]:
        unused = []
        for key in list(self._entries):
            if len(self._entries) - len(unused) <= self.kept:
                break
            if self._entries[key][1] == 0:
                unused.append(self._entries.pop(key)[0])
        return unused

    def close(self) -> None:
        with self._lock:
            entries, self._entries = list(self._entries.values()), OrderedDict()
        for fs, _ in entries:
            fs.close()
