"""Which token a client presents, and where it finds it.

In order (the first that applies wins):
1. ``$HFED_TOKEN_FILE``: a credentials file (protos/security.py) — how a job's
   workers get the delegation tokens their launcher fetched, and how a user
   points at a token the superuser issued;
2. ``~/.hfed/tokens/<cluster id>.json`` (``$HFED_HOME``): a user's own token
   for that cluster, saved by ``hfed dfsadmin -fetchToken`` or copied there;
3. the cluster secret, when this process can read it (the account that ran
   ``hfed cluster up``): the owner signs a token for itself on the spot, so
   ``make demo`` and every example work with no step of their own.
Otherwise the client has no token, and NameNodes refuse its calls saying so.
With ``[security] auth = "simple"`` none of this applies: calls carry the
user and groups the client claims ($HFED_USER, $HFED_GROUPS).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from protos import config, errors, rpc, security

OWNER_TOKEN_LIFETIME = 86400.0   # a token the owner signs for itself lives a day (per session)


@dataclass
class Credentials:
    user: str
    tokens: dict[str, str] = field(default_factory=dict)   # nameservice or "*" -> token
    source: str = "none"
    groups: list[str] = field(default_factory=list)        # simple mode only: claimed, not proven

    def token_for(self, nameservice: str) -> str:
        return self.tokens.get(nameservice) or self.tokens.get("*", "")

    def metadata(self, nameservice: str, cfg: config.ClusterConfig) -> tuple:
        """gRPC metadata of a call to ``nameservice``."""
        if not cfg.security.tokens:
            return rpc.identity_metadata(self.user, self.groups or None)
        token = self.token_for(nameservice)
        return ((security.TOKEN_KEY, token),) if token else ()


def user_tokens_path(cfg: config.ClusterConfig) -> Path:
    return config.DEFAULT_HOME / "tokens" / f"{cfg.cluster_id}.json"


def find(cfg: config.ClusterConfig, user: str | None = None, groups: list[str] | None = None) -> Credentials:
    """This process's credentials for ``cfg``'s cluster (``user``: act as that user,
    which only the cluster's owner can do without that user's own token)."""
    if not cfg.security.tokens:
        who = user or rpc.current_user()
        return Credentials(who, source="simple", groups=groups or ([who] if user else rpc.current_groups()))
    explicit = os.environ.get(security.ENV_TOKEN_FILE)
    for path in ([Path(explicit)] if explicit else []) + [user_tokens_path(cfg)]:
        if path.exists():
            owner, tokens = security.read_credentials(path)
            if user is None or user == owner:
                return Credentials(owner, tokens, str(path))
        elif explicit and path == Path(explicit):
            raise errors.InvalidArgument(f"${security.ENV_TOKEN_FILE} = {explicit}: no such file")
    who = user or rpc.current_user()
    try:
        secret = security.read_secret(cfg.secret_path())
    except (OSError, errors.InvalidArgument):
        return Credentials(who)     # no token: the NameNode's refusal says what to do
    return Credentials(who, {"*": security.user_token(secret, who, OWNER_TOKEN_LIFETIME)}, "cluster secret")


def fetch_delegation_tokens(session, path: Path, renewer: str = "") -> list[tuple[str, object]]:
    """Delegation tokens of every namespace for ``session``'s user, saved as a credentials file
    at ``path`` (0600): a job's processes started with ``HFED_TOKEN_FILE=path`` act as the user
    without the user's own token. Returns each namespace's reply (expiry, max date)."""
    replies = [(ns, session.namenode(ns).get_delegation_token(renewer or session.user))
               for ns in sorted(session.cfg.nameservices)]
    security.write_credentials(Path(path), session.user, {ns: reply.token for ns, reply in replies})
    return replies


def cancel_delegation_tokens(session, path: Path) -> None:
    """Cancel the tokens of a finished job (each namespace's own; a namespace that is down keeps
    its token until it expires)."""
    _owner, tokens = security.read_credentials(Path(path))
    for ns, token in tokens.items():
        try:
            session.namenode(ns).cancel_delegation_token(token)
        except (errors.Unavailable, errors.Unauthenticated):
            pass    # down, or already expired/cancelled: nothing left to revoke
