"""HfedFileSystem: the user-facing client, an fsspec filesystem ("hfed://").

The mount table picks the NameNode for each path; metadata calls go to it and
block bytes go to DataNodes (client/datanode_client.py). Mount points and the
directories above them look like ordinary directories, cannot be deleted or
renamed, and a rename between namespaces is refused with EXDEV, as in HDFS
ViewFs. Every error is a Python built-in naming the path and the namespace;
one namespace being down raises ConnectionError for its paths only.
"""
from __future__ import annotations

import datetime
import os
import threading
import time
import uuid
from typing import Iterable

from fsspec import AbstractFileSystem
from fsspec.callbacks import DEFAULT_CALLBACK

from client.datanode_client import PACKET_SIZE, DatanodePool
from client.mount_table import MountTable
from client.namenode_client import NamenodeClient
from client.small_writer import SmallFileWriter
from client.streams import HfedReader, HfedWriter
from protos import checksum, config, errors, paths, rpc
from protos import hfed_pb2 as pb

LISTING_PAGE = 1000
LAYOUT_NAMES = {pb.BLOCKS: "blocks", pb.STAGED: "staged", pb.PACKED: "packed"}


def status_to_info(status: pb.FileStatus, name: str, nameservice: str) -> dict:
    return {
        "name": name,
        "size": 0 if status.is_dir else status.length,
        "type": "directory" if status.is_dir else "file",
        "owner": status.owner,
        "group": status.group,
        "permission": status.permission,
        "replication": status.replication,
        "block_size": status.block_size,
        "mtime": status.mtime_ms / 1000.0,
        "atime": status.atime_ms / 1000.0,
        "file_id": status.file_id,
        "children_count": status.children_count,
        "under_construction": status.under_construction,
        "layout": "" if status.is_dir else LAYOUT_NAMES.get(status.layout, "blocks"),
        "nameservice": nameservice,
    }


class HfedFileSystem(AbstractFileSystem):
    protocol = "hfed"
    root_marker = "/"
    cachable = False

    def __init__(self, conf: str | os.PathLike | config.ClusterConfig | None = None, user: str | None = None,
                 host: str | None = None, groups: list[str] | None = None, **storage_options):
        super().__init__(**storage_options)
        if isinstance(conf, config.ClusterConfig):
            self.cfg = conf
        else:
            self.cfg = config.load(config.find_config_path(str(conf) if conf else None))
        self.mounts = MountTable(self.cfg)
        self.user = user or rpc.current_user()
        self.groups = groups or ([self.user] if user else rpc.current_groups())
        self.host = host or self.cfg.client_host_label()
        self.client_name = f"hfed-client-{self.host or 'nohost'}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.datanodes = DatanodePool(rpc.identity_metadata(self.user, self.groups))
        self._namenodes: dict[str, NamenodeClient] = {}
        self._defaults: dict[str, pb.GetServerDefaultsResponse] = {}
        self._lock = threading.Lock()
        self._failed_datanodes: dict[str, float] = {}  # uuid -> when a write pipeline last failed there
        self._small_writers: dict[str, SmallFileWriter] = {}   # nameservice -> its open staging container

    FAILED_DATANODE_MEMORY = 30.0  # until the NameNode notices a dead DataNode, steer new blocks away

    def note_failed_datanode(self, datanode_uuid: str) -> None:
        if datanode_uuid:
            self._failed_datanodes[datanode_uuid] = time.monotonic()

    def recently_failed_datanodes(self) -> set[str]:
        cutoff = time.monotonic() - self.FAILED_DATANODE_MEMORY
        return {u for u, when in list(self._failed_datanodes.items()) if when > cutoff}

    # --------------------------------------------------------------- plumbing

    @classmethod
    def _strip_protocol(cls, path):
        if isinstance(path, (list, tuple)):
            return [cls._strip_protocol(p) for p in path]
        path = str(path)
        if path.startswith("hfed://"):
            path = "/" + path[len("hfed://"):].lstrip("/")  # hfed://user/x and hfed:///user/x alike
        # A bare relative path stays relative, for paths.validate to refuse.
        return path if path == "/" or not path.endswith("/") else path.rstrip("/") or "/"

    def _path(self, path) -> str:
        return paths.validate(self._strip_protocol(path))

    def namenode(self, nameservice: str) -> NamenodeClient:
        with self._lock:
            client = self._namenodes.get(nameservice)
            if client is None:
                ns = self.cfg.nameservices.get(nameservice)
                if ns is None:
                    raise errors.InvalidArgument(f"unknown nameservice {nameservice!r} "
                                                 f"(known: {', '.join(sorted(self.cfg.nameservices))})")
                client = self._namenodes[nameservice] = NamenodeClient(nameservice, ns.address, self.user,
                                                                        self.groups)
            return client

    def resolve(self, path) -> tuple[str, str]:
        return self.mounts.resolve(self._path(path))

    def _nn_for(self, path) -> tuple[NamenodeClient, str, str]:
        ns, inner = self.resolve(path)
        return self.namenode(ns), ns, inner

    def server_defaults(self, nameservice: str) -> pb.GetServerDefaultsResponse:
        if nameservice not in self._defaults:
            self._defaults[nameservice] = self.namenode(nameservice).get_server_defaults()
        return self._defaults[nameservice]

    def default_block_size(self, nameservice: str) -> int:
        return self.server_defaults(nameservice).block_size or self.cfg.block_size

    def small_file_threshold(self, nameservice: str) -> int:
        """Files of 0 < size < this many bytes get no block in that namespace (0: packing is off)."""
        return self.server_defaults(nameservice).small_file_threshold

    def small_writer(self, nameservice: str) -> SmallFileWriter:
        """This client's writer of small files into ``nameservice`` (client/small_writer.py)."""
        with self._lock:
            writer = self._small_writers.get(nameservice)
        if writer is None:
            created = SmallFileWriter(self, nameservice)
            with self._lock:
                writer = self._small_writers.setdefault(nameservice, created)
            if writer is not created:
                created.close()
        return writer

    def flush_small_files(self) -> None:
        """Close the open staging containers, so the NameNodes' packers may pack them."""
        with self._lock:
            writers, self._small_writers = list(self._small_writers.values()), {}
        for writer in writers:
            writer.close()

    def close(self) -> None:
        self.flush_small_files()
        for client in self._namenodes.values():
            client.close()
        self._namenodes.clear()
        self.datanodes.close()

    def _synthetic_dir(self, path: str, nameservice: str | None) -> dict:
        """A mount point or internal directory that its namespace does not hold (yet)."""
        return {"name": path, "size": 0, "type": "directory", "owner": self.user, "group": self.groups[0],
                "permission": 0o555, "replication": 0, "block_size": 0, "mtime": 0.0, "atime": 0.0,
                "nameservice": nameservice or "", "mount_point": nameservice is not None}

    def _mount_point_info(self, path: str, nameservice: str | None) -> dict:
        """A mount point as its own namespace describes it (owner, mode, mtime);
        synthetic when that namespace is down or does not hold it yet."""
        if nameservice is None:
            return self._synthetic_dir(path, None)
        try:
            info = status_to_info(self.namenode(nameservice).get_file_info(path), path, nameservice)
        except (errors.NotFound, ConnectionError):
            return self._synthetic_dir(path, nameservice)
        info["mount_point"] = True
        return info

    # ---------------------------------------------------------------- listing

    def info(self, path, **kwargs) -> dict:
        path = self._path(path)
        try:
            nn, ns, inner = self._nn_for(path)
            return status_to_info(nn.get_file_info(inner), path, ns)
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
            self.resolve(path)  # raises NotFound naming the path
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

    def _list_namespace(self, path: str) -> Iterable[dict]:
        nn, ns, inner = self._nn_for(path)
        start_after = ""
        while True:
            reply = nn.get_listing(inner, start_after, LISTING_PAGE)
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

    def modified(self, path) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self.info(path)["mtime"], tz=datetime.timezone.utc)

    def created(self, path) -> datetime.datetime:
        return self.modified(path)

    # ------------------------------------------------------------ directories

    def mkdir(self, path, create_parents=True, permission=0o755, **kwargs) -> None:
        path = self._path(path)
        nn, ns, inner = self._nn_for(path)
        # A mount point's own directory may not exist in its namespace yet.
        parent = paths.parent_of(path)
        if self.mounts.is_mount_point(path) or self.mounts.is_protected(parent):
            create_parents = True
        nn.mkdirs(inner, permission, create_parents)

    def makedirs(self, path, exist_ok=False, permission=0o755) -> None:
        path = self._path(path)
        if not exist_ok and self.exists(path):
            raise errors.AlreadyExists(f"{path} already exists", path)
        nn, ns, inner = self._nn_for(path)
        nn.mkdirs(inner, permission, True)

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

    def rm(self, path, recursive=False, maxdepth=None) -> None:
        if isinstance(path, (list, tuple)):
            for p in path:
                self.rm(p, recursive=recursive, maxdepth=maxdepth)
            return
        path = self._path(path)
        self._refuse_protected(path, "delete")
        nn, ns, inner = self._nn_for(path)
        if not nn.delete(inner, recursive):
            raise errors.NotFound(f"cannot delete {path}: no such file or directory [namespace {ns}]", path)

    def rm_file(self, path) -> None:
        path = self._path(path)
        if self.isdir(path):
            raise errors.IsADirectory(f"cannot delete {path} as a file: it is a directory", path)
        self.rm(path)

    _rm = rm_file

    def mv(self, path1, path2, recursive=False, maxdepth=None, **kwargs) -> None:
        src, dst = self._path(path1), self._path(path2)
        self._refuse_protected(src, "rename")
        if src == dst:
            return
        src_ns, _ = self.resolve(src)
        if not self.mounts.is_protected(dst):
            # Refuse before asking anyone: the other namespace may even be down.
            self._refuse_cross_namespace(src, src_ns, dst, self.resolve(dst)[0])
        try:
            if self.info(dst)["type"] == "directory":  # hdfs dfs -mv into an existing directory
                dst = paths.join(dst, src.rsplit("/", 1)[-1])
        except FileNotFoundError:
            pass
        self._refuse_cross_namespace(src, src_ns, dst, self.resolve(dst)[0])
        if self.mounts.is_protected(dst):
            raise errors.AccessDenied(f"cannot rename {src} to {dst}: the target is a mount point", dst)
        self.namenode(src_ns).rename(src, dst)

    rename = mv

    @staticmethod
    def _refuse_cross_namespace(src: str, src_ns: str, dst: str, dst_ns: str) -> None:
        if src_ns != dst_ns:
            raise errors.CrossNamespace(f"cannot rename {src} (namespace {src_ns}) to {dst} (namespace {dst_ns}): "
                                        f"cross-namespace rename", src)

    def chmod(self, path, mode: int) -> None:
        nn, ns, inner = self._nn_for(path)
        nn.set_permission(inner, mode)

    def chown(self, path, owner: str | None = None, group: str | None = None) -> None:
        nn, ns, inner = self._nn_for(path)
        nn.set_owner(inner, owner or "", group or "")

    def setrep(self, path, replication: int) -> None:
        nn, ns, inner = self._nn_for(path)
        nn.set_replication(inner, replication)

    def set_times(self, path, mtime: float | None = None, atime: float | None = None) -> None:
        """Seconds since the epoch; None leaves a time unchanged."""
        nn, ns, inner = self._nn_for(path)
        nn.set_times(inner, -1 if mtime is None else int(mtime * 1000), -1 if atime is None else int(atime * 1000))

    def touch(self, path, truncate=True, **kwargs) -> None:
        path = self._path(path)
        if truncate or not self.exists(path):
            with self.open(path, "wb", **kwargs):
                pass
        else:
            self.set_times(path, mtime=time.time())

    # --------------------------------------------------------------- summaries

    def content_summary(self, path) -> dict:
        """Totals under ``path``, across every namespace mounted below it."""
        path = self._path(path)
        total = {"length": 0, "file_count": 0, "directory_count": 0, "space_consumed": 0}
        parts = []
        if self.mounts.mount_of(path) is not None or self.mounts.fallback:
            parts.append(path)
        parts += [m for m, _ in self.mounts.mounts_below(path)]
        found = False
        for part in parts:
            nn, ns, inner = self._nn_for(part)
            try:
                reply = nn.get_content_summary(inner)
            except errors.NotFound:
                if part == path and not self.mounts.is_protected(path):
                    raise
                continue
            found = True
            for key in total:
                total[key] += getattr(reply, key)
        if not found and not self.mounts.is_protected(path):
            raise errors.NotFound(f"{path}: no such file or directory", path)
        return total

    def du(self, path, total=True, maxdepth=None, withdirs=False, **kwargs):
        """Bytes under ``path``; with total=False, per entry directly under it (as `hdfs dfs -du`)."""
        path = self._path(path)
        if total:
            return self.content_summary(path)["length"]
        return {entry["name"]: (self.content_summary(entry["name"])["length"]
                                if entry["type"] == "directory" else entry["size"])
                for entry in self.ls(path, detail=True)}

    # ------------------------------------------------------------------ files

    def _open(self, path, mode="rb", block_size=None, autocommit=True, cache_options=None, replication=None,
              overwrite=True, permission=0o644, pack=True, **kwargs):
        """``pack=False``: give the file blocks even if it is small (e.g. for read locality)."""
        path = self._path(path)
        nn, ns, inner = self._nn_for(path)
        if mode == "rb":
            status = nn.get_file_info(inner)
            if status.is_dir:
                raise errors.IsADirectory(f"cannot open {path} for reading: it is a directory "
                                          f"[namespace {ns}]", path)
            return HfedReader(self, inner, ns)
        if mode in ("wb", "xb"):
            if self.mounts.is_protected(path):
                raise errors.IsADirectory(f"cannot open {path} for writing: it is a mount point or holds one", path)
            status = nn.create(inner, self.client_name, permission, overwrite and mode == "wb", True,
                               replication or 0, block_size or 0)
            bpc = self.server_defaults(ns).bytes_per_checksum or checksum.BYTES_PER_CHECKSUM
            return HfedWriter(self, inner, ns, status, bpc, self.small_file_threshold(ns) if pack else 0)
        raise errors.InvalidArgument(f"cannot open {path} with mode {mode!r}: hfed supports 'rb', 'wb' and 'xb'",
                                     path)

    def cat_file(self, path, start=None, end=None, **kwargs) -> bytes:
        with self.open(path, "rb") as f:
            size = f.size
            start = 0 if start is None else (max(size + start, 0) if start < 0 else start)
            end = size if end is None else (max(size + end, 0) if end < 0 else min(end, size))
            if end <= start:
                return b""
            f.seek(start)
            return f.read(end - start)

    def pipe_file(self, path, value, **kwargs) -> None:
        """Write ``value`` as the file's content. A small file (0 < size < the namespace's
        small_file_threshold, unless pack=False) is one entry in a staging container and
        one NameNode call that creates and closes it."""
        if kwargs.get("pack", True) and not set(kwargs) - {"pack", "permission", "overwrite"}:
            error = self.pipe_many([(path, value)], overwrite=kwargs.get("overwrite", True),
                                   permission=kwargs.get("permission", 0o644))[0]
            if error is not None:
                raise error
            return
        with self.open(path, "wb", **kwargs) as f:
            f.write(value)

    def pipe_many(self, items, overwrite=True, permission=0o644) -> list[None | Exception]:
        """Write many files ({path: bytes} or (path, bytes) pairs): small ones appended to
        staging containers and committed in batches (up to MAX_BATCH per call), larger
        ones one by one. None where it worked, else the exception, in order."""
        pairs = list(items.items() if isinstance(items, dict) else items)
        results: list = [None] * len(pairs)
        by_ns: dict[str, list[tuple[int, pb.CommitSmallRequest, bytes]]] = {}
        for i, (raw, value) in enumerate(pairs):
            data = bytes(value)
            try:
                path = self._path(raw)
                ns, inner = self.resolve(path)
                if self.mounts.is_protected(path):
                    raise errors.IsADirectory(f"cannot write {path}: it is a mount point or holds one", path)
                small = 0 < len(data) < self.small_file_threshold(ns)
            except errors.HfedError as e:
                results[i] = e
                continue
            if not small:
                results[i] = self._pipe_large(path, data, overwrite, permission)
                continue
            request = pb.CommitSmallRequest(path=inner, create=True, overwrite=overwrite, permission=permission,
                                            create_parent=True)
            by_ns.setdefault(ns, []).append((i, request, data))
        for ns, todo in by_ns.items():
            try:
                outcome = self.small_writer(ns).write([r for _, r, _ in todo], [d for _, _, d in todo])
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
        with self.open(path1, "rb") as src, self.open(path2, "wb", **kwargs) as dst:
            while chunk := src.read(PACKET_SIZE * 8):
                dst.write(chunk)

    def put_file(self, lpath, rpath, callback=None, mode="overwrite", **kwargs) -> None:
        callback = callback or DEFAULT_CALLBACK
        if os.path.isdir(lpath):
            self.makedirs(rpath, exist_ok=True)
            return
        with open(lpath, "rb") as local:
            callback.set_size(os.fstat(local.fileno()).st_size)
            with self.open(rpath, "xb" if mode == "create" else "wb", **kwargs) as remote:
                while chunk := local.read(PACKET_SIZE * 8):
                    remote.write(chunk)
                    callback.relative_update(len(chunk))

    def get_file(self, rpath, lpath, callback=None, outfile=None, **kwargs) -> None:
        callback = callback or DEFAULT_CALLBACK
        if self.isdir(rpath):
            os.makedirs(lpath, exist_ok=True)
            return
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

    # ---------------------------------------------------------------- batches

    def _batched(self, raw_paths, entry_for) -> list[tuple[str | None, str | None, object]]:
        """One Batch entry per path (``entry_for(path, inner)``), grouped by
        namespace and chunked by MAX_BATCH. Returns (path, nameservice, result)
        in the order given; result is the reply or the exception the single call
        would have raised (a bad path, a down namespace) -- returned, not raised."""
        out: list = [None] * len(raw_paths)
        by_ns: dict[str, list[tuple[int, pb.BatchEntry]]] = {}
        for i, raw in enumerate(raw_paths):
            path = ns = None
            try:
                path = self._path(raw)
                ns, inner = self.resolve(path)
                by_ns.setdefault(ns, []).append((i, entry_for(path, inner)))
                out[i] = (path, ns, None)
            except errors.HfedError as e:
                out[i] = (path, ns, e)
        for ns, todo in by_ns.items():
            for start in range(0, len(todo), pb.MAX_BATCH):
                chunk = todo[start:start + pb.MAX_BATCH]
                try:
                    replies = self.namenode(ns).batch([entry for _, entry in chunk])
                except errors.HfedError as e:   # e.g. the namespace is down: its paths fail, the others go on
                    replies = [e] * len(chunk)
                for (i, _), reply in zip(chunk, replies):
                    out[i] = (out[i][0], ns, reply)
        return out

    def info_many(self, path_list) -> list[dict | Exception]:
        """info() of many paths in one call per namespace (per MAX_BATCH paths), in order."""
        def entry(path, inner):
            return pb.BatchEntry(get_file_info=pb.GetFileInfoRequest(path=inner))
        return [status_to_info(result.status, path, ns) if not isinstance(result, Exception)
                else self._info_without_status(path, result) if path else result
                for path, ns, result in self._batched(list(path_list), entry)]

    def mkdirs_many(self, path_list, permission=0o755, create_parents=True) -> list[None | Exception]:
        """mkdir() of many paths in few calls: None where it worked, else the exception, in order."""
        def entry(path, inner):
            parents = create_parents or self.mounts.is_mount_point(path) or self.mounts.is_protected(
                paths.parent_of(path))   # as mkdir(): a mount point's directory may not exist yet
            return pb.BatchEntry(mkdirs=pb.MkdirsRequest(path=inner, permission=permission, create_parent=parents))
        return [result if isinstance(result, Exception) else None
                for _, _, result in self._batched(list(path_list), entry)]

    def touch_many(self, path_list, overwrite=True, permission=0o644, replication=0) -> list[None | Exception]:
        """Create many empty files (Create, then Complete, batched): None where
        it worked, else the exception the single call would raise, in order."""
        def create(path, inner):
            if self.mounts.is_protected(path):
                raise errors.IsADirectory(f"cannot create {path}: it is a mount point or holds one", path)
            return pb.BatchEntry(create=pb.CreateRequest(
                path=inner, permission=permission, overwrite=overwrite, create_parent=True,
                replication=replication or 0, client_name=self.client_name))

        def complete(path, inner):
            return pb.BatchEntry(complete=pb.CompleteRequest(path=inner, client_name=self.client_name))
        raw = list(path_list)
        results = [r if isinstance(r, Exception) else None for _, _, r in self._batched(raw, create)]
        created = [i for i, r in enumerate(results) if r is None]
        for i, (_, _, done) in zip(created, self._batched([raw[i] for i in created], complete)):
            if isinstance(done, Exception):
                results[i] = done
            elif not done.completed:   # an empty file has no block to wait for
                results[i] = errors.HfedError(f"{raw[i]}: the NameNode did not close the new file")
        return results

    # -------------------------------------------------------------- for the CLI

    def block_locations(self, path) -> pb.LocatedBlocks:
        nn, ns, inner = self._nn_for(path)
        return nn.get_block_locations(inner, 0, 1 << 62, self.host)

    def stats(self) -> list[tuple[str, pb.GetStatsResponse | Exception]]:
        """Each namespace's statistics, or the error when it is down (the others still answer)."""
        result = []
        for ns in sorted(self.cfg.nameservices):
            try:
                result.append((ns, self.namenode(ns).get_stats()))
            except (errors.HfedError, OSError) as e:
                result.append((ns, e))
        return result

    def archive(self, path, callback=None):
        """Pack the small files under ``path`` (a path or a list of them) into containers in
        place; returns a client.archive.ArchiveResult (counts, skips and why, errors by path)."""
        from client.archive import archive
        raw = path if isinstance(path, (list, tuple)) else [path]
        return archive(self, [self._path(p) for p in raw], callback)

    def report_bad_replica(self, nameservice: str, block: pb.Block, datanode_uuid: str) -> None:
        self.namenode(nameservice).report_bad_blocks([(block, datanode_uuid)])
