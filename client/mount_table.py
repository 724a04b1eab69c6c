"""Client-side view of the cluster mount table (protos/mount_state.py), with HDFS ViewFs rules.

Each mount sends one directory subtree to one nameservice. A path goes to the
mount whose path is its longest prefix *by whole components* (/user owns
/user/x but not /username); unmatched paths go to the fallback namespace if
the config names one. Paths keep their full absolute form inside a namespace
(no prefix stripping), so /user/x is /user/x in ns-a too.

Directories above mount points (/ and /a when /a/b is a mount) are "internal"
directories: listing them shows the mount points below as directories, merged
with the fallback's own entries when there is a fallback. Pure: no I/O.

Every method takes a raw path or a paths.CheckedPath; a checked one is not
validated again, so callers check a path once, at their edge, and pass it on.
"""
from __future__ import annotations

from typing import NamedTuple

from protos import errors, paths
from protos.config import ClusterConfig
from protos.mount_state import MountState


class Resolved(NamedTuple):
    """Where a checked path lives: its nameservice and its (unchanged) path there."""
    nameservice: str
    path: paths.CheckedPath


class MountTable:
    def __init__(self, source: ClusterConfig | MountState):
        """Routing by a cluster mount table, or by the one a config seeds (version 0)."""
        self.state = source if isinstance(source, MountState) else MountState.from_config(source, 0)
        self.version = self.state.version
        # Longest first, so the first match is the longest prefix.
        self.mounts: list[tuple[str, str]] = [(m.path, m.nameservice) for m in self.state.mounts]
        self.fallback: str | None = self.state.fallback or None
        self._by_path = dict(self.mounts)

    def mount_of(self, path: str) -> tuple[str, str] | None:
        """(mount path, nameservice) of the mount owning ``path``, or None."""
        for mount_path, ns in self.mounts:
            if paths.is_within(path, mount_path):
                return mount_path, ns
        return None

    def resolve(self, path: str) -> Resolved:
        """(nameservice, path inside it) for a path; NotFound when nothing owns it."""
        path = paths.check(path)
        found = self.mount_of(path)
        if found:
            return Resolved(found[1], path)
        if self.fallback:
            return Resolved(self.fallback, path)
        known = ", ".join(m for m, _ in sorted(self.mounts)) or "none"
        raise errors.NotFound(f"{path}: no mount point covers this path and there is no fallback "
                              f"namespace (mount points: {known})", path)

    def is_read_only(self, path: str) -> bool:
        mount = self.state.mount_of(paths.check(path))
        return mount is not None and mount.readonly

    def is_mount_point(self, path: str) -> bool:
        return paths.check(path) in self._by_path

    def nameservice_of_mount(self, path: str) -> str | None:
        return self._by_path.get(paths.check(path))

    def mount_points_under(self, path: str) -> dict[str, str | None]:
        """Children of directory ``path`` that a listing must show because of mounts.

        Maps child path -> nameservice when the child is itself a mount point,
        or None when it is an internal directory leading to deeper mounts.
        """
        path = paths.check(path)
        depth = len(paths.components(path))
        children: dict[str, str | None] = {}
        for mount_path, ns in self.mounts:
            if mount_path == path or not paths.is_within(mount_path, path):
                continue
            child = "/" + "/".join(paths.components(mount_path)[:depth + 1])
            if child == mount_path:
                children[child] = ns
            else:
                children.setdefault(child, None)
        return dict(sorted(children.items()))

    def mounts_below(self, path: str) -> list[tuple[str, str]]:
        """Every mount strictly below ``path`` (for summaries spanning namespaces)."""
        path = paths.check(path)
        return sorted((m, ns) for m, ns in self.mounts if m != path and paths.is_within(m, path))

    def is_internal_dir(self, path: str) -> bool:
        """True for a directory that exists only because mount points lie below it."""
        path = paths.check(path)
        return self.mount_of(path) is None and (path == "/" or bool(self.mount_points_under(path)))

    def is_protected(self, path: str) -> bool:
        """Paths that may not be deleted or renamed: /, mount points and anything above one."""
        path = paths.check(path)
        return path == "/" or path in self._by_path or bool(self.mount_points_under(path))
