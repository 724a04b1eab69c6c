"""The NameNode's trash emptier, as HDFS's (TrashPolicyDefault.Emptier): every
fs.trash.checkpoint.interval it visits the trash roots this namespace holds, deletes
the checkpoints older than fs.trash.interval and turns each Current into a new
checkpoint. Trash roots (client/trash.py): /user/<user>/.Trash, and
<mount point>/.Trash/<user> below each mount point of this namespace (and the root,
for the fallback namespace). It acts as the superuser, through the same operations
(and edit records) as a client's rename and delete.
"""
from __future__ import annotations

import asyncio
import logging
import time

from protos import paths
from protos.trash_layout import CURRENT, TRASH, checkpoint_name, checkpoint_time, expired
from namenode.ops import dirs

log = logging.getLogger(__name__)


def trash_roots(fsn, mount_dirs) -> list[str]:
    """The trash roots present in this namespace."""
    table, roots = fsn.ns.table, []

    def subdirs(path: str) -> list[tuple[str, object]]:
        inode = fsn.ns.resolve(path)[-1]
        if inode is None or not inode.is_dir:
            return []
        return [(name, child) for name, child in table.children(inode.id) if child.is_dir]
    for name, home in subdirs("/user"):
        trash = table.lookup(home.id, TRASH)
        if trash is not None and trash.is_dir:
            roots.append(f"/user/{name}/{TRASH}")
    for top in sorted({"/", *mount_dirs}):
        shared = paths.join(top, TRASH)
        roots += [paths.join(shared, user) for user, _ in subdirs(shared)]
    return roots


def empty_once(fsn, mount_dirs, interval_minutes: float, now: float) -> tuple[list[str], list[str]]:
    """One pass over every trash root: (checkpoints deleted, checkpoints made)."""
    su = fsn.ns.caller(fsn.ns.superuser)
    deleted, made = [], []
    for root in trash_roots(fsn, mount_dirs):
        inode = fsn.ns.resolve(root)[-1]
        names = [name for name, _ in fsn.ns.table.children(inode.id)]
        for name in names:
            if name != CURRENT and expired(name, now, interval_minutes):
                dirs.delete(fsn, su, paths.join(root, name), True)
                deleted.append(paths.join(root, name))
        if CURRENT in names:
            base = checkpoint = paths.join(root, checkpoint_name(now))
            attempt = 0
            while fsn.ns.resolve(checkpoint)[-1] is not None:
                attempt += 1
                checkpoint = f"{base}-{attempt}"
            dirs.rename(fsn, su, paths.join(root, CURRENT), checkpoint)
            made.append(checkpoint)
        for name in names:
            if name != CURRENT and checkpoint_time(name) is None:
                log.warning("%s: unexpected item in trash %s: left alone", fsn.nameservice, paths.join(root, name))
    return deleted, made


async def run(fsn, mount_dirs, interval_minutes: float, checkpoint_minutes: float) -> None:
    """Empty the trash every checkpoint interval (fs.trash.checkpoint.interval, or the
    trash interval when that is 0), for as long as the NameNode runs."""
    every = 60 * (checkpoint_minutes or interval_minutes)
    while True:
        await asyncio.sleep(every)
        if fsn.safemode.on:
            continue
        try:
            deleted, made = empty_once(fsn, mount_dirs, interval_minutes, time.time())
            if fsn.journal is not None and (deleted or made):
                await fsn.journal.sync_to(fsn.journal.last_txid)
            for path in deleted:
                log.info("%s: deleted trash checkpoint %s", fsn.nameservice, path)
            for path in made:
                log.info("%s: created trash checkpoint %s", fsn.nameservice, path)
        except Exception:  # noqa: BLE001 - an emptier bug must not stop the NameNode
            log.exception("trash emptier pass failed")
