"""Changing the cluster mount table (HDFS: `hdfs dfsrouteradmin`), superuser only:

    hfed mount -ls                          the table: version, holder, namespaces, mount points
    hfed mount -add PATH NS [-readonly]     PATH and everything below it go to namespace NS
    hfed mount -rm PATH                     PATH is no mount point any more

A change goes to the holder NameNode as a compare-and-set on the table's version
(namenode/mounts.py), then is pushed to every NameNode that answers, so they route
by it at once; one that is down catches up from the holder when it is back.
Clients follow within one call (client/namenode_client.py).
"""
from __future__ import annotations

import sys

from client.cli_dfs import CommandError, Parser, absolute
from client.cli_format import printable
from client.namenode_client import mount_table_of
from protos import errors, paths
from protos import hfed_pb2 as pb
from protos.mount_state import MountState

CHANGE_ATTEMPTS = 5   # compare-and-set attempts when others change the table at the same time


def current_table(session) -> MountState:
    """The holder's table (the session's cached one when the holder does not answer)."""
    session.refresh_mounts()
    return session.mounts.state


def change(session, edit) -> MountState:
    """Apply ``edit`` (MountState -> MountState) to the holder's table, then push the result to
    every NameNode that answers. Returns the new table."""
    for _ in range(CHANGE_ATTEMPTS):
        holder = session.mounts.state.holder or session.cfg.holder()
        table = mount_table_of(session.namenode(holder)) or session.mounts.state
        proposed = edit(table)
        try:
            reply = session.namenode(holder).call("UpdateMountTable", pb.UpdateMountTableRequest(
                expected_version=table.version, table=proposed.to_pb()))
        except errors.Retry:
            continue          # someone else changed it first: apply ours to theirs
        state = MountState.from_pb(reply.table)
        install_everywhere(session, state)
        return state
    raise errors.Retry(f"the mount table kept changing under {CHANGE_ATTEMPTS} attempts: try again")


def install_everywhere(session, state: MountState, required: tuple[str, ...] = ()) -> list[str]:
    """Push ``state`` to every NameNode; returns those that did not answer. Those in ``required``
    must take it (their failure is raised): the mover needs the source and target to route by it."""
    missed = []
    for ns in sorted(state.nameservices):
        try:
            session.namenode(ns).call("InstallMountTable", pb.InstallMountTableRequest(table=state.to_pb()))
        except (errors.Unavailable, errors.Unauthenticated) as e:
            if ns in required:
                raise
            missed.append(f"{ns} ({e.message})")
    session.refresh_mounts()
    return missed


def add_mount(session, path: str, nameservice: str, readonly: bool = False) -> MountState:
    path = paths.check(path)
    return change(session, lambda table: table.with_mount(path, nameservice, readonly))


def remove_mount(session, path: str) -> MountState:
    path = paths.check(path)
    return change(session, lambda table: table.without_mount(path))


# ------------------------------------------------------------------- CLI

def format_table(state: MountState, out=sys.stdout) -> None:
    print(f"Mount table version {state.version} (held by {state.holder or '?'}), "
          f"{len(state.mounts)} mount points", file=out)
    print(f"{'Source':<30} {'Nameservice':<12} {'Mode':<10}", file=out)
    for mount in sorted(state.mounts, key=lambda m: m.path):
        print(f"{printable(mount.path):<30} "
              f"{mount.nameservice:<12} {'read-only' if mount.readonly else 'read-write':<10}", file=out)
    if state.fallback:
        print(f"{'(everything else)':<30} {state.fallback:<12} {'read-write':<10}", file=out)
    print("Namespaces: " + ", ".join(f"{ns} at {address}" for ns, address in sorted(state.nameservices.items())),
          file=out)


def run_mount(ctx, args) -> int:
    parser = Parser("hfed mount", description="show or change the cluster mount table (changes: superuser only)")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("-ls", action="store_true", help="print the mount table")
    what.add_argument("-add", nargs=2, metavar=("PATH", "NS"), help="mount PATH on namespace NS")
    what.add_argument("-rm", metavar="PATH", help="remove the mount point PATH")
    parser.add_argument("-readonly", action="store_true", help="with -add: refuse every write under PATH")
    a = parser.parse_args(args)
    session = ctx.session
    try:
        if a.ls:
            format_table(current_table(session))
            return 0
        if a.add:
            path, ns = absolute(a.add[0]), a.add[1]
            before = current_table(session).owner_of(path)
            hidden = bool(before) and before != ns and _exists_in(session, before, path)
            state = add_mount(session, path, ns, a.readonly)
            print(f"Mounted {path} on {ns}{' read-only' if a.readonly else ''} (mount table version {state.version})")
            if hidden:
                print(f"warning: {path} holds files in namespace {before}; they are hidden behind the new mount "
                      f"point (move them with `hfed balance {path} {ns}` instead)", file=sys.stderr)
            return 0
        state = remove_mount(session, absolute(a.rm))
        print(f"Removed mount point {absolute(a.rm)} (mount table version {state.version})")
        return 0
    except (OSError, ValueError) as e:
        raise CommandError("mount", e) from e


def _exists_in(session, nameservice: str, path: str) -> bool:
    try:
        session.namenode(nameservice).get_file_info(path)
        return True
    except errors.HfedError:
        return False
