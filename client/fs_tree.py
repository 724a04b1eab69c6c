"""Tree operations of HfedFileSystem with fsspec's meaning: rm of globs, lists and
maxdepth; du; and mv, which is a rename within a namespace and, with recursive=True
between namespaces, a copy that is verified before anything is deleted.

A move between namespaces (the mount table routes source and target to different
NameNodes, where HDFS ViewFs refuses the rename) copies every file, then checks
each copy (verify_copy), and only then deletes the source: the files it copied,
then the directories it emptied, deepest first. A file that appeared in the source
meanwhile is not deleted (its directory stays and the move reports it).
"""
from __future__ import annotations

import errno
import glob
import posixpath

import crc32c
from fsspec.utils import other_paths
from fsspec.implementations.local import trailing_sep

from client.checksums import file_checksum
from client.datanode_client import PACKET_SIZE
from protos import errors
from protos import hfed_pb2 as pb

COPY_CHUNK = PACKET_SIZE * 8


def has_magic(path) -> bool:
    """A glob pattern, as fsspec tells one (glob.has_magic)."""
    return isinstance(path, str) and glob.has_magic(path)


def expand_sources(fs, path) -> list[str]:
    """A path, a list of them or a glob -> the paths named, as fsspec expands them
    (a glob matching nothing is FileNotFoundError naming the pattern). A name that
    exists as written is taken literally (HDFS allows * [ ? in names; the CLI and
    WebHDFS hand over such names after their own expansion)."""
    if isinstance(path, (list, tuple)):
        return [p for one in path for p in expand_sources(fs, one)]
    if has_magic(path) and not fs.exists(path):
        found = fs.glob(path)
        if not found:
            raise FileNotFoundError(errno.ENOENT, f"{path}: no match", path)
        return sorted(found)
    return [path]


# ------------------------------------------------------------------- rm

def remove(fs, path, recursive: bool, maxdepth: int | None) -> None:
    """fsspec's rm. Without maxdepth each path is one NameNode call (a directory needs
    recursive=True unless it is empty); with maxdepth only the entries down to that depth
    go, and a directory still holding deeper ones is ENOTEMPTY."""
    if maxdepth is not None and maxdepth < 1:
        raise ValueError("maxdepth must be at least 1")
    for one in expand_sources(fs, path):
        if maxdepth is None or not recursive:
            fs._rm_one(one, recursive)
            continue
        found = fs.find(one, maxdepth=maxdepth, withdirs=True, detail=True)
        files = [name for name, info in found.items() if info["type"] != "directory"]
        dirs = [name for name, info in found.items() if info["type"] == "directory"]
        left = delete_exactly(fs, files, dirs)
        if left:
            raise OSError(errno.ENOTEMPTY, f"cannot delete {left[0]}: it holds entries deeper than "
                                           f"maxdepth={maxdepth}", left[0])


def delete_exactly(fs, files: list[str], dirs: list[str]) -> list[str]:
    """Delete ``files`` (batched per namespace), then ``dirs`` deepest first, each only if
    empty. Returns the directories left because they still hold something; any other
    failure is raised."""
    for path, _, result in fs._batched(files, lambda p: pb.BatchEntry(delete=pb.DeleteRequest(path=p))):
        if isinstance(result, Exception) and not isinstance(result, FileNotFoundError):
            raise result
    left = []
    for d in sorted(dirs, key=lambda p: (-p.count("/"), p)):
        try:
            fs._rm_one(d, recursive=False)
        except FileNotFoundError:
            pass
        except OSError as e:
            if e.errno != errno.ENOTEMPTY:
                raise
            left.append(d)
    return left


# ------------------------------------------------------------------- du

def disk_usage(fs, path, total: bool, maxdepth: int | None, withdirs: bool, **kwargs):
    """fsspec's du: {path: size} of every file below ``path`` (and of each directory, size 0,
    with ``withdirs``) down to ``maxdepth``, or their sum. The whole-tree sum is one
    content summary per namespace instead of a walk."""
    if total and maxdepth is None and not has_magic(path) and not isinstance(path, (list, tuple)):
        return fs.content_summary(path)["length"]
    sizes = {}
    for one in expand_sources(fs, path):
        if withdirs and fs.isdir(one):
            info = fs.info(one)
            sizes[info["name"]] = info["size"]
        for name, info in fs.find(one, maxdepth=maxdepth, withdirs=withdirs, detail=True, **kwargs).items():
            sizes[name] = info["size"]
    return sum(sizes.values()) if total else sizes


# ------------------------------------------------------------ copy, verify

def copy_bytes(fs, src: str, dst: str, overwrite: bool = True, **open_options) -> tuple[int, int]:
    """Stream ``src`` into a new ``dst`` (parents created); (length, CRC32C) of the bytes copied."""
    length, crc = 0, 0
    with fs.open(src, "rb") as reader, fs.open(dst, "wb" if overwrite else "xb", **open_options) as writer:
        while chunk := reader.read(COPY_CHUNK):
            writer.write(chunk)
            length += len(chunk)
            crc = crc32c.crc32c(chunk, crc)
    return length, crc


def verify_copy(fs, src: str, dst: str, length: int, crc: int) -> None:
    """The one check made before a moved file's source is deleted: ``dst`` holds the
    ``length`` bytes with CRC32C ``crc`` copied from ``src`` (its content checksum, folded
    by the DataNodes from the CRCs they stored: nothing is read back), and ``src`` still
    has that length."""
    found = file_checksum(fs.session, fs._target(dst))
    source_length = fs.info(src)["size"]
    if (found.file_length, found.value) != (length, crc) or source_length != length:
        raise OSError(errno.EIO, f"cannot move {src} to {dst}: the copy does not match (source {source_length} "
                                 f"bytes, copied {length} bytes crc32c {crc:08x}, the copy holds "
                                 f"{found.file_length} bytes crc32c {found.value:08x}); nothing was deleted", src)


# ------------------------------------------------------------------- mv

def move(fs, path1, path2, recursive: bool, maxdepth: int | None) -> None:
    """fsspec's mv. Several sources (a list or a glob) go into ``path2`` as a directory.
    Within a namespace a move is one rename (atomic, whatever the tree's size); between
    namespaces it is refused with EXDEV, as HDFS ViewFs does, unless ``recursive``: then
    copy, verify, delete (move_between_namespaces)."""
    if isinstance(path1, (list, tuple)) or has_magic(path1):
        sources = expand_sources(fs, path1)
        targets = other_paths(sources, path2, exists=False, flatten=True)
        if not fs.exists(path2):
            fs.makedirs(path2, exist_ok=True)
        for src, dst in zip(sources, targets):
            move(fs, src, dst, recursive, maxdepth)
        return
    src, dst = fs._path(path1), fs._path(path2.rstrip("/") if trailing_sep(path2) else path2)
    if src == dst:
        return
    src_ns, dst_ns = fs.session.resolve(src).nameservice, fs.session.resolve(dst).nameservice
    if src_ns == dst_ns or not recursive:
        fs._rename(src, dst)
        return
    if trailing_sep(path2) or fs.isdir(dst):     # into an existing directory, as a rename
        dst = fs._path(posixpath.join(dst, posixpath.basename(src)))
    move_between_namespaces(fs, src, dst, maxdepth)


def move_between_namespaces(fs, src: str, dst: str, maxdepth: int | None) -> None:
    """Copy ``src`` (a file or a tree, down to ``maxdepth``) to ``dst`` in another
    namespace, verify every copied file, then delete what was copied. ``dst`` must not
    exist (a move never overwrites). Nothing is deleted unless every file verified."""
    fs._refuse_protected(src, "move")
    if fs.exists(dst):
        raise errors.AlreadyExists(f"cannot move {src} to {dst}: {dst} exists", dst)
    info = fs.info(src)
    if info["type"] != "directory":
        files, dirs = {src: dst}, {}
    else:
        found = fs.find(src, maxdepth=maxdepth, withdirs=True, detail=True)
        found.setdefault(src, info)

        def target(name):
            return dst if name == src else posixpath.join(dst, posixpath.relpath(name, src))
        files = {n: target(n) for n, i in found.items() if i["type"] != "directory"}
        dirs = {n: target(n) for n, i in found.items() if i["type"] == "directory"}
    for d in sorted(dirs.values()):
        fs.makedirs(d, exist_ok=True)
    copied = {s: copy_bytes(fs, s, d, overwrite=False) for s, d in sorted(files.items())}
    for s, (length, crc) in copied.items():
        verify_copy(fs, s, files[s], length, crc)
    left = delete_exactly(fs, sorted(files), sorted(dirs))
    deeper = maxdepth is not None
    unexpected = [d for d in left if not deeper]
    if unexpected:
        raise OSError(errno.ENOTEMPTY, f"moved {src} to {dst}, but {', '.join(unexpected)} gained entries during "
                                       f"the move and were left in place", unexpected[0])
