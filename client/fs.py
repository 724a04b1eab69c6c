"""HfedFileSystem: the user-facing client, an fsspec filesystem ("hfed://").

The mount table picks the NameNode for each path; metadata calls go to it and
block bytes go to DataNodes (client/datanode_client.py). Mount points and the
directories above them look like ordinary directories, cannot be deleted or
renamed, and a rename between namespaces is refused with EXDEV, as in HDFS
ViewFs (mv(recursive=True) copies, verifies, then deletes: client/fs_tree.py).
Every error is a Python built-in naming the path and the namespace; one
namespace being down raises ConnectionError for its paths only.

The filesystem holds no connection or client state of its own: that is the
ClusterSession (client/session.py) it wraps, ``fs.session``. Each method
checks its path once (protos/paths.py) and hands the checked, resolved path on.
"""
from __future__ import annotations

import datetime
import os
import time
from typing import Iterable

from fsspec import AbstractFileSystem
from fsspec.callbacks import DEFAULT_CALLBACK
from fsspec.utils import isfilelike

from client import fs_tree
from client.archive import ArchiveResult, archive
from client.checksums import file_checksum
from client.datanode_client import PACKET_SIZE
from client.file_info import status_to_info
from client.fs_batch import BatchCalls
from client.mount_table import Resolved
from client.namenode_client import NamenodeClient
from client.session import ClusterSession
from client.streams import HfedReader, HfedWriter
from protos import config, errors, paths
from protos import hfed_pb2 as pb

LISTING_PAGE = 1000


MOUNT_MOVES_FOLLOWED = 3   # times a write follows its path to another namespace before giving up


def _overwrite(mode: str, path) -> bool:
    """fsspec's write mode: "overwrite" replaces a file, "create" refuses an existing one."""
    if mode not in ("overwrite", "create"):
        raise ValueError(f"cannot write {path}: mode must be 'overwrite' or 'create', got {mode!r}")
    return mode == "overwrite"


class HfedFileSystem(BatchCalls, AbstractFileSystem):
    protocol = "hfed"
    root_marker = "/"
    cachable = False

    def __init__(self, conf: str | os.PathLike | config.ClusterConfig | None = None, user: str | None = None,
                 host: str | None = None, groups: list[str] | None = None, session: ClusterSession | None = None,
                 **storage_options):
        """A filesystem over ``session``, or over a new one for ``conf``, ``user``, ``host`` and
        ``groups`` (see ClusterSession). close() closes the session."""
        super().__init__(**storage_options)
        self.session = session or ClusterSession(conf, user, host, groups)
        self.mounts = self.session.mounts

    # --------------------------------------------------------------- plumbing

    @classmethod
    def _strip_protocol(cls, path):
        if isinstance(path, (list, tuple)):
            return [cls._strip_protocol(p) for p in path]
        path = str(path)
        if path.startswith("hfed://"):
            path = "/" + path[len("hfed://"):].lstrip("/")  # hfed://user/x and hfed:///user/x alike
        # A bare relative path stays relative, for paths.check to refuse.
        return path if path == "/" or not path.endswith("/") else path.rstrip("/") or "/"

    def _path(self, path) -> paths.CheckedPath:
        """The edge: every path a caller hands in is checked here, once."""
        return path if isinstance(path, paths.CheckedPath) else paths.check(self._strip_protocol(path))

    def _target(self, path) -> Resolved:
        return self.session.resolve(self._path(path))

    def _namenode_of(self, path) -> tuple[NamenodeClient, Resolved]:
        target = self._target(path)
        return self.session.namenode(target.nameservice), target

    def close(self) -> None:
        self.session.close()

    def _synthetic_dir(self, path: str, nameservice: str | None) -> dict:
        """A mount point or internal directory that its namespace does not hold (yet)."""
        return {"name": path, "size": 0, "type": "directory", "owner": self.session.user,
                "group": self.session.groups[0], "permission": 0o555, "replication": 0, "block_size": 0,
                "mtime": 0.0, "atime": 0.0, "nameservice": nameservice or "", "mount_point": nameservice is not None}

    def _mount_point_info(self, path: str, nameservice: str | None) -> dict:
        """A mount point as its own namespace describes it (owner, mode, mtime);
        synthetic when that namespace is down or does not hold it yet."""
        if nameservice is None:
            return self._synthetic_dir(path, None)
        try:
            status = self.session.namenode(nameservice).get_file_info(path)
        except (errors.NotFound, ConnectionError):
            return self._synthetic_dir(path, nameservice)
        info = status_to_info(status, path, nameservice)
        info["mount_point"] = True
        return info

    # ---------------------------------------------------------------- listing

    def info(self, path, **kwargs) -> dict:
        path = self._path(path)
        try:
            nn, target = self._namenode_of(path)
            return status_to_info(nn.get_file_info(path), path, target.nameservice)
        except (errors.NotFound, ConnectionError) as e:
            found = self._info_without_status(path, e)
            if found is e:
                raise
            return found

    def _info_without_status(self, path: str, error: Exception) -> dict | Exception:
        """info() of a path no namespace described: mount points and internal
        directories are (synthetic) directories; anything else is ``error``."""
        if isinstance(error, errors.NotFound) and (self.mounts.is_mount_point(path)
                                                   or self.mounts.is_internal_dir(path)):
            return self._synthetic_dir(path, self.mounts.nameservice_of_mount(path))
        if isinstance(error, ConnectionError) and self.mounts.is_internal_dir(path):
            return self._synthetic_dir(path, None)  # the fallback is down; the mounts below still work
        return error

    def ls(self, path, detail=True, **kwargs):
        path = self._path(path)
        below = self.mounts.mount_points_under(path)
        entries: dict[str, dict] = {}
        owned = self.mounts.mount_of(path) is not None or self.mounts.fallback
        if not owned and not below:
            self.session.resolve(path)  # raises NotFound naming the path
        if owned:
            try:
                entries = {e["name"]: e for e in self._list_namespace(path)}
            except errors.NotFound:
                if not (below or self.mounts.is_mount_point(path)):
                    raise
            except ConnectionError:
                if not self.mounts.is_internal_dir(path):  # a down fallback must not hide the mounts
                    raise
        for child, ns in below.items():   # mount points shadow what the namespace holds there
            entries[child] = self._mount_point_info(child, ns)
        listing = [entries[name] for name in sorted(entries)]
        return listing if detail else [e["name"] for e in listing]

    def _list_namespace(self, path: paths.CheckedPath) -> Iterable[dict]:
        nn, target = self._namenode_of(path)
        ns = target.nameservice
        start_after = ""
        while True:
            reply = nn.get_listing(path, start_after, LISTING_PAGE)
            for status in reply.entries:
                if status.path.startswith("/"):
                    name = status.path
                else:
                    name = paths.join(path, status.path)
                yield status_to_info(status, name, ns)
            if not reply.remaining or not reply.entries:
                return
            last = reply.entries[-1].path
            start_after = last.rsplit("/", 1)[-1]

    def walk(self, path, maxdepth=None, topdown=True, on_error="omit", **kwargs):
        """fsspec's walk (os.walk's contract: topdown callers may prune ``dirs`` in place),
        with an explicit stack instead of recursion, so a tree deeper than Python's
        recursion limit is walked too; ``on_error`` applies at every level."""
        if maxdepth is not None and maxdepth < 1:
            raise ValueError("maxdepth must be at least 1")
        detail = kwargs.pop("detail", False)
        stack = [[self._strip_protocol(path), 1, None, None]]    # [path, depth, children left, (dirs, files)]
        while stack:
            frame = stack[-1]
            if frame[2] is None:                   # first visit: list it
                listed = self._walk_listing(frame[0], on_error, detail, kwargs)
                if listed is None:
                    stack.pop()
                    continue
                dirs, files, full_dirs = listed
                if topdown:
                    yield frame[0], dirs, files
                deeper = maxdepth is None or frame[1] < maxdepth
                frame[2] = iter([full_dirs[d] for d in dirs if d in full_dirs] if deeper else [])
                frame[3] = (dirs, files)
                continue
            child = next(frame[2], None)
            if child is not None:
                stack.append([child, frame[1] + 1, None, None])
                continue
            stack.pop()
            if not topdown:
                yield frame[0], *frame[3]

    def _walk_listing(self, path: str, on_error, detail: bool, kwargs) -> tuple | None:
        """(dirs, files, full path of each dir) of one directory, as fsspec's walk lists it."""
        try:
            listing = self.ls(path, detail=True, **kwargs)
        except OSError as e:    # FileNotFoundError too
            if on_error == "raise":
                raise
            if callable(on_error):
                on_error(e)
            return None
        dirs, files, full_dirs = {}, {}, {}
        for info in listing:
            pathname = info["name"].rstrip("/")
            name = pathname.rsplit("/", 1)[-1]
            if info["type"] == "directory" and pathname != path:
                full_dirs[name], dirs[name] = pathname, info
            else:
                files["" if pathname == path else name] = info
        return (dirs, files, full_dirs) if detail else (list(dirs), list(files), full_dirs)

    def modified(self, path) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self.info(path)["mtime"], tz=datetime.timezone.utc)

    def created(self, path) -> datetime.datetime:
        return self.modified(path)

    def checksum(self, path) -> int:
        """The file's content checksum: its COMPOSITE-CRC32C (`hfed dfs -checksum`) as an int,
        folded by DataNodes from stored CRCs (client/checksums.py): equal bytes, equal value."""
        return file_checksum(self.session, self._target(path)).value

    def ukey(self, path) -> str:
        """A content key: algorithm, length and CRC32C (no mtime: a copy has the same key)."""
        found = file_checksum(self.session, self._target(path))
        return f"{found.algorithm}:{found.file_length}:{found.hex}"

    # ------------------------------------------------------------ directories

    def mkdir(self, path, create_parents=True, permission=0o755, **kwargs) -> None:
        """Without create_parents: FileExistsError if ``path`` exists, FileNotFoundError if its
        parent does not. No existence check first: the NameNode answers."""
        path = self._path(path)
        nn, target = self._namenode_of(path)
        if create_parents:
            nn.mkdirs(path, permission, True)
            return
        try:
            nn.mkdirs(path, permission, False)
        except errors.NotFound:
            # A mount point's own directory (or the one it is in) may not exist in its namespace yet.
            if not (self.mounts.is_mount_point(path) or self.mounts.is_protected(paths.parent_of(path))):
                raise
            nn.mkdirs(path, permission, True)

    def makedirs(self, path, exist_ok=False, permission=0o755) -> None:
        """With exist_ok, an existing directory is fine and an existing file is FileExistsError."""
        path = self._path(path)
        if not exist_ok and self.mounts.is_protected(path):
            raise errors.AlreadyExists(f"{path} already exists", path)   # the mount table shows it always
        nn, target = self._namenode_of(path)
        if exist_ok:
            nn.mkdirs(path, permission, True)
            return
        try:
            nn.mkdirs(path, permission, False)   # fails if it exists
        except errors.NotFound:                  # a parent is missing: create the chain
            nn.mkdirs(path, permission, True)

    def rmdir(self, path) -> None:
        path = self._path(path)
        if not self.isdir(path):
            raise errors.NotADirectory(f"{path} is not a directory", path)
        self.rm(path, recursive=False)

    # -------------------------------------------------------------- mutations

    def _refuse_protected(self, path: str, action: str) -> None:
        if self.mounts.is_protected(path):
            ns = self.mounts.nameservice_of_mount(path)
            what = f"a mount point (namespace {ns})" if ns else ("the root" if path == "/"
                                                                else "a directory holding mount points")
            raise errors.AccessDenied(f"cannot {action} {path}: it is {what}", path)

    def exists(self, path, **kwargs) -> bool:
        """fsspec's exists() answers False on any error; being refused (no token, no
        permission) is no answer about the path, so that is raised instead."""
        try:
            self.info(path)
            return True
        except PermissionError:
            raise
        except Exception:  # noqa: BLE001 - fsspec's contract for everything else
            return False

    def rm(self, path, recursive=False, maxdepth=None) -> None:
        """fsspec's rm: a path, a list or a glob; a directory needs recursive=True unless it is
        empty; with maxdepth only entries down to that depth (client/fs_tree.py). No trash:
        `hfed dfs -rm` moves to the trash (client/trash.py)."""
        fs_tree.remove(self, path, recursive, maxdepth)

    def _rm_one(self, path, recursive: bool) -> None:
        """One NameNode delete of one path (a whole tree with recursive)."""
        path = self._path(path)
        self._refuse_protected(path, "delete")
        nn, target = self._namenode_of(path)
        if not nn.delete(path, recursive):
            raise errors.NotFound(f"cannot delete {path}: no such file or directory "
                                  f"[namespace {target.nameservice}]", path)

    def rm_file(self, path) -> None:
        path = self._path(path)
        if self.isdir(path):
            raise errors.IsADirectory(f"cannot delete {path} as a file: it is a directory", path)
        self._rm_one(path, recursive=False)

    _rm = rm_file

    def mv(self, path1, path2, recursive=False, maxdepth=None, **kwargs) -> None:
        """fsspec's mv. Within a namespace one rename; between namespaces EXDEV (as HDFS
        ViewFs), unless recursive=True: then copy, verify every byte, and only then delete
        the source (client/fs_tree.py)."""
        fs_tree.move(self, path1, path2, recursive, maxdepth)

    rename = mv

    def _rename(self, path1, path2) -> None:
        """One rename within a namespace; into ``path2`` when it is a directory (as hdfs dfs -mv)."""
        src, dst = self._path(path1), self._path(path2)
        self._refuse_protected(src, "rename")
        if src == dst:
            return
        src_ns = self.session.resolve(src).nameservice
        if not self.mounts.is_protected(dst):
            # Refuse before asking anyone: the other namespace may even be down.
            self._refuse_cross_namespace(src, src_ns, dst, self.session.resolve(dst).nameservice)
        try:
            if self.info(dst)["type"] == "directory":  # hdfs dfs -mv into an existing directory
                dst = self._path(paths.join(dst, src.rsplit("/", 1)[-1]))
        except FileNotFoundError:
            pass
        self._refuse_cross_namespace(src, src_ns, dst, self.session.resolve(dst).nameservice)
        if self.mounts.is_protected(dst):
            raise errors.AccessDenied(f"cannot rename {src} to {dst}: the target is a mount point", dst)
        self.session.namenode(src_ns).rename(src, dst)

    @staticmethod
    def _refuse_cross_namespace(src: str, src_ns: str, dst: str, dst_ns: str) -> None:
        if src_ns != dst_ns:
            raise errors.CrossNamespace(f"cannot rename {src} (namespace {src_ns}) to {dst} (namespace {dst_ns}): "
                                        f"cross-namespace rename", src)

    def chmod(self, path, mode: int) -> None:
        nn, target = self._namenode_of(path)
        nn.set_permission(target.path, mode)

    def chown(self, path, owner: str | None = None, group: str | None = None) -> None:
        nn, target = self._namenode_of(path)
        nn.set_owner(target.path, owner or "", group or "")

    def setrep(self, path, replication: int) -> None:
        nn, target = self._namenode_of(path)
        nn.set_replication(target.path, replication)

    def set_times(self, path, mtime: float | None = None, atime: float | None = None) -> None:
        """Seconds since the epoch; None leaves a time unchanged."""
        nn, target = self._namenode_of(path)
        nn.set_times(target.path, -1 if mtime is None else int(mtime * 1000),
                     -1 if atime is None else int(atime * 1000))

    def touch(self, path, truncate=True, **kwargs) -> None:
        path = self._path(path)
        if truncate or not self.exists(path):
            with self.open(path, "wb", **kwargs):
                pass
        else:
            self.set_times(path, mtime=time.time())

    # --------------------------------------------------------------- summaries

    def set_quota(self, path, namespace_quota: int | None = None, space_quota: int | None = None) -> None:
        """Superuser: a directory's name quota (files + directories, itself included) and space
        quota (bytes x replication). None leaves one as it is, -1 clears it."""
        nn, target = self._namenode_of(path)
        nn.set_quota(target.path, namespace_quota, space_quota)

    def content_summary(self, path) -> dict:
        """Totals under ``path``, across every namespace mounted below it; ``quota`` and
        ``space_quota`` are the directory's own (-1: none)."""
        path = self._path(path)
        total = {"length": 0, "file_count": 0, "directory_count": 0, "space_consumed": 0}
        quotas = {"quota": -1, "space_quota": -1}
        parts = []
        if self.mounts.mount_of(path) is not None or self.mounts.fallback:
            parts.append(path)
        parts += [m for m, _ in self.mounts.mounts_below(path)]
        found = False
        for part in parts:
            nn, target = self._namenode_of(part)
            try:
                reply = nn.get_content_summary(target.path)
            except errors.NotFound:
                if part == path and not self.mounts.is_protected(path):
                    raise
                continue
            found = True
            for key in total:
                total[key] += getattr(reply, key)
            if part == path:
                quotas = {"quota": reply.quota, "space_quota": reply.space_quota}
        if not found and not self.mounts.is_protected(path):
            raise errors.NotFound(f"{path}: no such file or directory", path)
        return {**total, **quotas}

    def du(self, path, total=True, maxdepth=None, withdirs=False, **kwargs):
        """fsspec's du: the bytes of the files under ``path``, or with total=False {path: size}
        of each (directories too, size 0, with withdirs), down to ``maxdepth``."""
        return fs_tree.disk_usage(self, path, total, maxdepth, withdirs, **kwargs)

    # ------------------------------------------------------------------ files

    def _open(self, path, mode="rb", block_size=None, autocommit=True, cache_options=None, replication=None,
              overwrite=True, permission=0o644, pack=True, **kwargs):
        """``pack=False``: give the file blocks even if it is small (e.g. for read locality)."""
        target = self._target(path)
        if mode == "rb":
            return HfedReader(self.session, target)
        if mode in ("wb", "xb", "ab"):
            if self.mounts.is_protected(target.path):
                raise errors.IsADirectory(f"cannot open {target.path} for writing: it is a mount point or "
                                          f"holds one", target.path)
            options = dict(permission=permission, replication=replication or 0, block_size=block_size or 0,
                           pack=pack)
            if mode == "ab":      # at the end of the file (created if missing), as HDFS's append
                return HfedWriter.append(self.session, target, **options)
            return HfedWriter.create(self.session, target, overwrite=overwrite and mode == "wb", **options)
        raise errors.InvalidArgument(f"cannot open {target.path} with mode {mode!r}: hfed supports 'rb', 'wb', "
                                     f"'xb' and 'ab'", target.path)

    def cat_file(self, path, start=None, end=None, **kwargs) -> bytes:
        with self.open(path, "rb") as f:
            size = f.size
            start = 0 if start is None else (max(size + start, 0) if start < 0 else start)
            end = size if end is None else (max(size + end, 0) if end < 0 else min(end, size))
            if end <= start:
                return b""
            f.seek(start)
            return f.read(end - start)

    def pipe_file(self, path, value, mode="overwrite", **kwargs) -> None:
        """Write ``value`` as the file's content; mode="create": FileExistsError if it exists
        (checked by the NameNode, atomically). A small file (0 < size < the namespace's
        small_file_threshold, unless pack=False) is one entry in a staging container and
        one NameNode call that creates and closes it."""
        overwrite = kwargs.pop("overwrite", True) and _overwrite(mode, path)
        if kwargs.get("pack", True) and not set(kwargs) - {"pack", "permission"}:
            error = self.pipe_many([(path, value)], overwrite=overwrite, permission=kwargs.get("permission", 0o644))[0]
            if error is not None:
                raise error
            return
        with self.open(path, "wb" if overwrite else "xb", **kwargs) as f:
            f.write(value)

    def pipe_many(self, items, overwrite=True, permission=0o644) -> list[None | Exception]:
        """Write many files ({path: bytes} or (path, bytes) pairs): small ones appended to
        staging containers and committed in batches (up to MAX_BATCH per call), larger
        ones one by one. None where it worked, else the exception, in order. A small
        file whose path moved to another namespace meanwhile is written again there
        (its bytes went into the old namespace's container)."""
        pairs = list(items.items() if isinstance(items, dict) else items)
        results = self._pipe_many(pairs, overwrite, permission)
        for _ in range(MOUNT_MOVES_FOLLOWED):
            moved = [i for i, r in enumerate(results) if isinstance(r, errors.MountMoved)]
            if not moved:
                break
            for i, result in zip(moved, self._pipe_many([pairs[i] for i in moved], overwrite, permission)):
                results[i] = result
        return results

    def _pipe_many(self, pairs, overwrite: bool, permission: int) -> list[None | Exception]:
        results: list = [None] * len(pairs)
        by_ns: dict[str, list[tuple[int, pb.CommitSmallRequest, bytes]]] = {}
        for i, (raw, value) in enumerate(pairs):
            data = bytes(value)
            try:
                path = self._path(raw)
                ns = self.session.resolve(path).nameservice
                if self.mounts.is_protected(path):
                    raise errors.IsADirectory(f"cannot write {path}: it is a mount point or holds one", path)
                small = 0 < len(data) < self.session.small_file_threshold(ns)
            except errors.HfedError as e:
                results[i] = e
                continue
            if not small:
                results[i] = self._pipe_large(path, data, overwrite, permission)
                continue
            request = pb.CommitSmallRequest(path=path, create=True, overwrite=overwrite, permission=permission,
                                            create_parent=True)
            by_ns.setdefault(ns, []).append((i, request, data))
        for ns, todo in by_ns.items():
            try:
                outcome = self.session.small_writer(ns).write([r for _, r, _ in todo], [d for _, _, d in todo])
            except errors.HfedError as e:
                outcome = [e] * len(todo)
            for (i, _, _), error in zip(todo, outcome):
                results[i] = error
        return results

    def _pipe_large(self, path, data: bytes, overwrite: bool, permission: int) -> Exception | None:
        try:
            with self.open(path, "wb" if overwrite else "xb", permission=permission, pack=False) as f:
                f.write(data)
        except (errors.HfedError, OSError) as e:
            return e
        return None

    def cp_file(self, path1, path2, **kwargs) -> None:
        """As fsspec: a directory is created at ``path2`` (copy(recursive=True) hands them
        over), a file's bytes copied (missing parents created). Between namespaces too."""
        if self.isdir(path1):
            self.makedirs(path2, exist_ok=True)
            return
        fs_tree.copy_bytes(self, path1, path2, **kwargs)

    def put_file(self, lpath, rpath, callback=None, mode="overwrite", **kwargs) -> None:
        """As fsspec (parents created); mode="create": FileExistsError if ``rpath`` exists."""
        callback = callback or DEFAULT_CALLBACK
        overwrite = _overwrite(mode, rpath)
        if os.path.isdir(lpath):
            self.makedirs(rpath, exist_ok=True)
            return
        with open(lpath, "rb") as local:
            callback.set_size(os.fstat(local.fileno()).st_size)
            with self.open(rpath, "wb" if overwrite else "xb", **kwargs) as remote:
                while chunk := local.read(PACKET_SIZE * 8):
                    remote.write(chunk)
                    callback.relative_update(len(chunk))

    def get_file(self, rpath, lpath, callback=None, outfile=None, **kwargs) -> None:
        """As fsspec: a directory becomes a local directory; a file's local parents are created;
        ``lpath`` may be an open file (or ``outfile`` given)."""
        callback = callback or DEFAULT_CALLBACK
        if outfile is None and isfilelike(lpath):
            outfile = lpath
        elif outfile is None and self.isdir(rpath):
            os.makedirs(lpath, exist_ok=True)
            return
        if outfile is None:
            os.makedirs(os.path.dirname(os.path.abspath(lpath)), exist_ok=True)
        with self.open(rpath, "rb") as remote:
            callback.set_size(remote.size)
            local = outfile or open(lpath, "wb")
            try:
                while chunk := remote.read(PACKET_SIZE * 8):
                    local.write(chunk)
                    callback.relative_update(len(chunk))
            finally:
                if outfile is None:
                    local.close()

    # -------------------------------------------------------------- for the CLI

    def block_locations(self, path) -> pb.LocatedBlocks:
        return self.session.block_locations(self._target(path))

    def archive(self, path, callback=None) -> ArchiveResult:
        """Pack the small files under ``path`` (a path or a list of them) into containers in
        place; returns a client.archive.ArchiveResult (counts, skips and why, errors by path)."""
        result = ArchiveResult()
        files = []
        for top in [self._path(p) for p in (path if isinstance(path, (list, tuple)) else [path])]:
            try:
                info = self.info(top)
                found = [info] if info["type"] != "directory" else [
                    entry for _, entry in sorted(self.find(top, detail=True).items())]
            except (OSError, ValueError) as e:
                result.errors.append((top, e))
                continue
            files += found
        return archive(self.session, files, result, callback)
