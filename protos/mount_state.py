"""The cluster mount table as data: which namespaces exist, where, and which subtree each owns.

One NameNode, the holder (``mount_holder`` in the config), orders changes: each
change gets the next version and is on its disk before it is acknowledged.
Every other NameNode keeps a copy it pulls from the holder; clients cache the
table and fetch it again when a NameNode's reply shows a newer version. The
config's ``[[mounts]]`` and ``[nameservices]`` only seed the holder's first
table (version 1); a NameNode that has not heard from the holder yet routes by
its config (version 0).

Routing follows HDFS ViewFs: a path belongs to the mount whose path is its
longest prefix by whole components; unmatched paths go to the fallback. Pure:
no I/O, no grpc beyond converting to and from the wire message.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

from protos import errors, paths
from protos import hfed_pb2 as pb


@dataclass(frozen=True)
class Mount:
    path: str
    nameservice: str
    readonly: bool = False


@dataclass(frozen=True)
class MountState:
    version: int
    nameservices: dict[str, str]                 # name -> address
    mounts: tuple[Mount, ...] = ()               # longest path first (so the first match wins)
    fallback: str = ""
    holder: str = ""
    _by_path: dict = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        ordered = tuple(sorted(self.mounts, key=lambda m: (-len(m.path), m.path)))
        object.__setattr__(self, "mounts", ordered)
        object.__setattr__(self, "_by_path", {m.path: m for m in ordered})

    # ------------------------------------------------------------- routing
    def mount_of(self, path: str) -> Mount | None:
        """The mount owning ``path`` (a checked path), or None."""
        for mount in self.mounts:
            if paths.is_within(path, mount.path):
                return mount
        return None

    def owner_of(self, path: str) -> str:
        """The namespace of ``path`` ("" when no mount covers it and there is no fallback)."""
        mount = self.mount_of(path)
        return mount.nameservice if mount else self.fallback

    def mount_at(self, path: str) -> Mount | None:
        return self._by_path.get(path)

    def mounts_below(self, path: str) -> list[Mount]:
        """Mounts strictly below ``path``."""
        return [m for m in self.mounts if m.path != path and paths.is_within(m.path, path)]

    # ------------------------------------------------------------- changes
    def with_mount(self, path: str, nameservice: str, readonly: bool = False) -> MountState:
        """This table plus (or with a new target for) the mount at ``path``; same version."""
        path = paths.check(path)
        if nameservice not in self.nameservices:
            raise errors.InvalidArgument(f"mount {path}: unknown nameservice {nameservice!r} "
                                         f"(known: {', '.join(sorted(self.nameservices))})", path)
        if path == "/":
            raise errors.InvalidArgument("/ cannot be a mount point: set the fallback namespace instead", path)
        kept = tuple(m for m in self.mounts if m.path != path)
        return replace(self, mounts=kept + (Mount(path, nameservice, readonly),))

    def without_mount(self, path: str) -> MountState:
        path = paths.check(path)
        if path not in self._by_path:
            known = ", ".join(sorted(self._by_path)) or "none"
            raise errors.NotFound(f"{path} is not a mount point (mount points: {known})", path)
        return replace(self, mounts=tuple(m for m in self.mounts if m.path != path))

    def with_nameservice(self, name: str, address: str) -> MountState:
        return replace(self, nameservices={**self.nameservices, name: address})

    # -------------------------------------------------------------- formats
    def to_pb(self) -> pb.MountTableState:
        return pb.MountTableState(
            version=self.version, fallback=self.fallback, holder=self.holder,
            nameservices=[pb.NameserviceAddress(name=n, address=a) for n, a in sorted(self.nameservices.items())],
            mounts=[pb.MountPoint(path=m.path, nameservice=m.nameservice, readonly=m.readonly)
                    for m in sorted(self.mounts, key=lambda m: m.path)])

    @classmethod
    def from_pb(cls, msg: pb.MountTableState) -> MountState:
        """A table from the wire, checked: a mount naming a namespace the table lacks is refused."""
        state = cls(msg.version, {n.name: n.address for n in msg.nameservices},
                    tuple(Mount(paths.check(m.path), m.nameservice, m.readonly) for m in msg.mounts),
                    msg.fallback, msg.holder)
        state.check()
        return state

    def check(self) -> None:
        for mount in self.mounts:
            if mount.nameservice not in self.nameservices:
                raise errors.InvalidArgument(f"mount {mount.path} names unknown nameservice {mount.nameservice!r}")
        if self.fallback and self.fallback not in self.nameservices:
            raise errors.InvalidArgument(f"fallback names unknown nameservice {self.fallback!r}")

    def to_json(self) -> str:
        return json.dumps({"version": self.version, "nameservices": self.nameservices, "fallback": self.fallback,
                           "holder": self.holder,
                           "mounts": [[m.path, m.nameservice, m.readonly] for m in self.mounts]}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> MountState:
        raw = json.loads(text)
        return cls(raw["version"], dict(raw["nameservices"]), tuple(Mount(*m) for m in raw["mounts"]),
                   raw.get("fallback", ""), raw.get("holder", ""))

    @classmethod
    def from_config(cls, cfg, version: int) -> MountState:
        """The table a config describes (its [[mounts]], nameservices and fallback)."""
        return cls(version, {name: ns.dial_address for name, ns in cfg.nameservices.items()},
                   tuple(Mount(path, ns) for path, ns in cfg.mounts), cfg.fallback or "", cfg.holder())
