"""Token commands of the `hfed` CLI (HDFS: `hdfs fetchdt`, `hdfs groups`):

    hfed dfsadmin -fetchToken USER FILE [-lifetime DAYS]   superuser: a user token for USER
    hfed fetchdt [-renewer USER] FILE                      delegation tokens of every namespace
    hfed fetchdt -renew FILE | -cancel FILE | -print FILE
    hfed groups                                            who the NameNodes take you to be
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from client import credentials
from client.cli_dfs import CommandError, Parser
from protos import errors, security


def _when(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000))


def fetch_user_token(ctx, user: str, file: str, lifetime_days: float | None) -> int:
    """A superuser issues ``user`` a token and saves it as that user's credentials file."""
    cfg = ctx.config()
    lifetime = lifetime_days * 86400 if lifetime_days else 0
    errors_seen = []
    for ns in sorted(cfg.nameservices):       # any NameNode can issue: user tokens are valid at all
        try:
            reply = ctx.session.namenode(ns).issue_user_token(user, lifetime)
            break
        except errors.Unavailable as e:
            errors_seen.append(e)
    else:
        raise CommandError("dfsadmin", errors_seen[-1])
    security.write_credentials(Path(file), user, {"*": reply.token})
    print(f"Token for {user} (valid until {_when(reply.expiry_ms)}) written to {file}.\n"
          f"Give it to {user}, who uses it with HFED_TOKEN_FILE={file} or by copying it to "
          f"~/.hfed/tokens/{cfg.cluster_id}.json (in their own home)")
    return 0


def run_fetchdt(ctx, args) -> int:
    parser = Parser("hfed fetchdt", description="get, renew, cancel or print delegation tokens: a job's "
                                                "processes then act as you with HFED_TOKEN_FILE=FILE")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("-renew", action="store_true", help="renew the tokens in FILE (you must be their renewer)")
    what.add_argument("-cancel", action="store_true", help="cancel the tokens in FILE")
    what.add_argument("-print", action="store_true", help="print the tokens in FILE")
    parser.add_argument("-renewer", default="", help="who may renew the tokens (default: you)")
    parser.add_argument("file", metavar="FILE")
    a = parser.parse_args(args)
    path = Path(a.file)
    if not (a.renew or a.cancel or a.print):
        session = ctx.session
        try:
            replies = credentials.fetch_delegation_tokens(session, path, a.renewer)
        except (OSError, ValueError) as e:
            raise CommandError("fetchdt", e) from e
        for ns, reply in replies:
            print(f"{ns}: delegation token for {session.user}, renewer {a.renewer or session.user}, "
                  f"expires {_when(reply.expiry_ms)} unless renewed, at the latest {_when(reply.max_date_ms)}")
        print(f"written to {path}")
        return 0
    owner, tokens = security.read_credentials(path)
    failed = 0
    for ns, token in sorted(tokens.items()):
        fields = security.decode(token)
        if a.print:
            print(f"{ns}: kind {fields['k']}, owner {fields.get('o') or fields.get('u')}, renewer {fields.get('r', '-')}, "
                  f"issued {_when(fields.get('i', 0))}, max date {_when(fields.get('m') or fields.get('x', 0))}")
            continue
        try:
            namenode = ctx.session.namenode(ns)
            if a.renew:
                print(f"{ns}: renewed until {_when(namenode.renew_delegation_token(token))}")
            else:
                namenode.cancel_delegation_token(token)
                print(f"{ns}: cancelled")
        except (OSError, ValueError) as e:
            print(f"hfed: fetchdt: {ns}: {e}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


def run_groups(ctx, args) -> int:
    Parser("hfed groups", description="the user and groups the NameNodes take you to be").parse_args(args)
    for ns, stats in ctx.session.stats():
        if isinstance(stats, Exception):
            continue
        suffix = " (superuser)" if stats.caller_superuser else ""
        print(f"{stats.caller} : {' '.join(stats.caller_groups)}{suffix}")
        print(f"security: {stats.auth_mode} authentication, TLS {'on' if stats.tls else 'off'}; "
              f"credentials from {ctx.session.credentials.source}")
        return 0
    raise CommandError("groups", errors.Unavailable("no NameNode answered"))
