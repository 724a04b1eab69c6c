"""HDFS's trash for `hfed dfs -rm` and `hfed dfs -expunge` (fsspec's rm has none).

With ``fs.trash.interval`` > 0 (minutes, [fs.trash] in the config), `-rm` renames the
path into the user's trash instead of deleting it: ``<trash root>/Current/<full path>``.
A rename never crosses namespaces, so the trash root is in the namespace that owns
the path, chosen as HDFS does (plain HDFS, and ViewFs with
fs.viewfs.trash.force-inside-mount-point):

- ``/user/<user>/.Trash`` when the user's home is in that namespace;
- else ``<mount point>/.Trash/<user>`` of the mount holding the path (``/.Trash/<user>``
  for a path only the fallback namespace holds). ``<mount point>/.Trash`` is made
  world-writable and sticky (1777, as /tmp) so every user's trash fits below it; a
  user who may not create it gets an error naming it, and nothing is deleted.

A name already in the trash gets the time in milliseconds appended (as HDFS). A path
already in the trash is deleted for good; a path holding the user's trash is refused
(use -skipTrash). `-expunge` deletes the checkpoints older than the interval, then
renames Current to a checkpoint named by the time (yyMMddHHmmss, UTC);
`-expunge -immediate` deletes every checkpoint, Current included. Each NameNode does
the same for the trash roots it holds every fs.trash.checkpoint.interval, as HDFS's
emptier (namenode/trash_emptier.py). Names: protos/trash_layout.py.
"""
from __future__ import annotations

import posixpath
import sys
import time

from protos import errors, paths
from protos.trash_layout import CURRENT, TRASH, checkpoint_name, checkpoint_time, expired

SHARED_TRASH_MODE = 0o1777             # <mount>/.Trash: anyone may add their own, only owners remove
USER_TRASH_MODE = 0o700                # as HDFS: a user's trash is private


class Trash:
    """One user's trash across the namespaces ``fs`` reaches."""

    def __init__(self, fs, interval_minutes: float | None = None, now=time.time):
        cfg = fs.session.cfg
        self.fs, self.user, self.now = fs, fs.session.user, now
        self.interval = cfg.trash_interval if interval_minutes is None else interval_minutes

    @property
    def enabled(self) -> bool:
        return self.interval > 0

    @property
    def home(self) -> str:
        return f"/user/{self.user}"

    def _nameservice(self, path: str) -> str | None:
        try:
            return self.fs.session.resolve(path).nameservice
        except errors.NotFound:      # no mount and no fallback holds it
            return None

    def root_for(self, path: str) -> str:
        """The user's trash root in the namespace that owns ``path``."""
        if self._nameservice(self.home) == self._nameservice(path):
            return posixpath.join(self.home, TRASH)
        mount = self.fs.mounts.mount_of(path)
        return posixpath.join(mount[0] if mount else "/", TRASH, self.user)

    def roots(self) -> list[str]:
        """Every trash root this user may have: the home's, and one per mount point (and the
        fallback's) in a namespace other than the home's."""
        candidates = [posixpath.join(self.home, TRASH)]
        home_ns = self._nameservice(self.home)
        tops = [m for m, ns in self.fs.mounts.mounts_below("/") if ns != home_ns]
        if self.fs.mounts.fallback and self.fs.mounts.fallback != home_ns:
            tops.append("/")
        candidates += [posixpath.join(top, TRASH, self.user) for top in sorted(tops)]
        return [root for root in candidates if self.fs.isdir(root)]

    # ---------------------------------------------------------------- -rm

    def move_to_trash(self, path: str) -> str | None:
        """Rename ``path`` into the trash; the trash path, or None when it is to be deleted
        for good instead (trash off, or ``path`` already in the trash)."""
        path = paths.check(path)
        if not self.enabled:
            return None
        root = self.root_for(path)
        if path == root or path.startswith(root + "/"):
            return None
        if root.startswith(path.rstrip("/") + "/"):
            raise errors.AccessDenied(f"Cannot move \"{path}\" to the trash, as it contains the trash "
                                      f"({root}). Consider using -skipTrash option", path)
        target = base = posixpath.join(root, CURRENT, path.lstrip("/"))
        try:
            target = base = self._make_trash_dirs(root, target)
        except (PermissionError, FileExistsError, NotADirectoryError) as e:
            if not isinstance(e, errors.HfedError):
                raise
            why = f"is not writable by {self.user}" if isinstance(e, PermissionError) else "has a file in the way"
            raise errors.from_kind(e.kind, f"Failed to move to trash: {path}: the trash {root} {why} ({e}); "
                                           f"nothing was deleted", path) from None
        stamp = int(self.now() * 1000)
        while self.fs.exists(target):                 # as HDFS: a clash gets the time appended
            target, stamp = f"{base}{stamp}", stamp + 1
        try:
            self.fs.session.namenode(self._nameservice(path)).rename(path, target)
        except errors.HfedError as e:
            raise errors.from_kind(e.kind, f"Failed to move to trash: {path}: {e}", path) from None
        return target

    def _make_trash_dirs(self, root: str, target: str) -> str:
        """Create ``target``'s parents in the trash; ``target``, renamed as HDFS does when a
        file in the trash stands where one of its parents goes (that file's name + the time)."""
        if not self.fs.exists(root):
            shared = posixpath.dirname(root)               # <mount>/.Trash above <mount>/.Trash/<user>
            if posixpath.basename(shared) == TRASH and not self.fs.exists(shared):
                self.fs.mkdir(shared, create_parents=True, permission=SHARED_TRASH_MODE)
                self.fs.chmod(shared, SHARED_TRASH_MODE)     # the sticky bit, whatever mkdir kept
            self.fs.mkdir(root, create_parents=True, permission=USER_TRASH_MODE)
        try:
            self.fs.mkdir(posixpath.dirname(target), create_parents=True, permission=USER_TRASH_MODE)
            return target
        except (FileExistsError, NotADirectoryError):
            blocker = posixpath.dirname(target)
            while not self.fs.exists(blocker):
                blocker = posixpath.dirname(blocker)
            if self.fs.isdir(blocker):
                raise
            moved = f"{blocker}{int(self.now() * 1000)}" + target[len(blocker):]
            self.fs.mkdir(posixpath.dirname(moved), create_parents=True, permission=USER_TRASH_MODE)
            return moved

    # ------------------------------------------------------------ -expunge

    def expunge(self, immediate: bool = False, out=sys.stdout) -> None:
        """As `hdfs dfs -expunge [-immediate]`, for every trash root of the user."""
        for root in self.roots():
            if immediate:
                self.checkpoint(root, out)
                self.delete_checkpoints(root, out, everything=True)
            else:
                self.delete_checkpoints(root, out)
                self.checkpoint(root, out)

    def checkpoint(self, root: str, out=sys.stdout) -> str | None:
        current = posixpath.join(root, CURRENT)
        if not self.fs.exists(current):
            return None
        base = posixpath.join(root, checkpoint_name(self.now()))
        checkpoint, attempt = base, 0
        while self.fs.exists(checkpoint):                 # two in one second: -1, -2 ... as HDFS
            attempt += 1
            checkpoint = f"{base}-{attempt}"
        self.fs.session.namenode(self._nameservice(root)).rename(current, checkpoint)
        print(f"Created trash checkpoint: {checkpoint}", file=out)
        return checkpoint

    def delete_checkpoints(self, root: str, out=sys.stdout, everything: bool = False) -> list[str]:
        deleted = []
        for entry in self.fs.ls(root, detail=False):
            name = posixpath.basename(entry)
            if name == CURRENT:
                continue
            if checkpoint_time(name) is None:
                print(f"hfed: expunge: unexpected item in trash: {entry}; ignored", file=sys.stderr)
                continue
            if everything or expired(name, self.now(), self.interval):
                self.fs.rm(entry, recursive=True)
                print(f"Deleted trash checkpoint: {entry}", file=out)
                deleted.append(entry)
        return deleted


# ----------------------------------------------------------- dfs commands

def to_trash(fs, path: str, skip_trash: bool) -> bool:
    """`hfed dfs -rm` of one path: True when it went to the trash (HDFS's message
    printed), False when the caller is to delete it for good."""
    if skip_trash:
        return False
    target = Trash(fs).move_to_trash(path)
    if target is None:
        return False
    print(f"Moved: '{path}' to trash at: {target}")
    return True


def cmd_expunge(ctx, a) -> int:
    """`hfed dfs -expunge [-immediate]`."""
    Trash(ctx.fs).expunge(immediate=a.immediate)
    return 0
