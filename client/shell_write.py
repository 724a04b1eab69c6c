"""`hfed dfs` commands that change the namespace: -mkdir -put -appendToFile -rm -rmdir -mv
-cp -touch -touchz -setrep -chmod -chown -chgrp (and their HDFS aliases)."""
from __future__ import annotations

import os
import posixpath
import re
import shutil
import sys
import time

from client import shell_format as sf
from client import trash
from client.cli_format import full_name, printable, walk
from client.shell_core import (Command, ShellError, Target, UsageProblem, expand_all, for_each, run_each,
                               to_path)
from client.shell_read import CHUNK, finish, progress
from protos import errors


def parent_must_be_dir(fs, path: str, shown: str) -> None:
    """HDFS creates no missing parents for a file: ```/x/y': No such file or directory``."""
    parent = posixpath.dirname(path) or "/"
    try:
        if fs.info(parent)["type"] != "directory":
            raise ShellError(posixpath.dirname(shown) or parent, "Is not a directory")
    except FileNotFoundError:
        raise ShellError(shown, "No such file or directory") from None


# ------------------------------------------------------------------ -mkdir

def cmd_mkdir(ctx, o, args) -> int:
    def one(target):
        if o.p:
            try:
                ctx.fs.makedirs(target.path, exist_ok=True)
            except FileExistsError:
                raise ShellError(target.shown, "Is not a directory") from None
        else:
            ctx.fs.mkdir(target.path, create_parents=False)
    return for_each("mkdir", ctx.fs, args, one)


# -------------------------------------------------------------------- -put

def cmd_put(ctx, o, args, move=False) -> int:
    *sources, dst_arg = args
    fs = ctx.fs
    command = o.command or "put"
    dst, dst_is_dir = destination(fs, dst_arg, len(sources))

    def claim(target: str, shown: str):
        if fs.exists(target):
            if not o.f:
                raise ShellError(shown, "File exists")
            fs.rm(target, recursive=fs.isdir(target))

    def upload(local, remote):
        callback = progress(f"put {remote}")
        fs.put_file(local, remote, callback=callback, **ctx.write_options)
        finish(callback)
        if o.p:
            st = os.stat(local)
            fs.set_times(remote, mtime=st.st_mtime, atime=st.st_atime)
            fs.chmod(remote, st.st_mode & 0o7777)

    def one(source):
        if source == "-":
            if dst_is_dir:
                raise ShellError(dst_arg, "Is a directory")
            claim(dst, dst_arg)
            parent_must_be_dir(fs, dst, dst_arg)
            with fs.open(dst, "wb", **ctx.write_options) as out:
                shutil.copyfileobj(sys.stdin.buffer, out, CHUNK)
            return
        if not os.path.exists(source):
            raise ShellError(source, "No such file or directory")
        name = posixpath.basename(source.rstrip("/"))
        target, shown = ((posixpath.join(dst, name), posixpath.join(dst_arg, name)) if dst_is_dir
                         else (dst, dst_arg))
        claim(target, shown)
        if not dst_is_dir:
            parent_must_be_dir(fs, target, shown)
        if os.path.isdir(source):
            fs.makedirs(target, exist_ok=True)
            for root, dirs, files in os.walk(source):
                base = posixpath.join(target, os.path.relpath(root, source)).removesuffix("/.")
                for d in sorted(dirs):
                    fs.makedirs(posixpath.join(base, d), exist_ok=True)
                for f in sorted(files):
                    upload(os.path.join(root, f), posixpath.join(base, f))
        else:
            upload(source, target)
        if move:
            shutil.rmtree(source) if os.path.isdir(source) else os.unlink(source)
    return run_each(command, sources, one, shown=lambda s: s)


def cmd_append_to_file(ctx, o, args) -> int:
    """DST is opened for appending once and every source goes on at its end in order;
    a missing source fails before anything is appended."""
    *sources, dst_arg = args
    dst = to_path(dst_arg)
    for source in sources:
        if source != "-" and not os.path.isfile(source):
            raise ShellError(source, "Is a directory" if os.path.isdir(source) else "No such file or directory")
    if not ctx.fs.exists(dst):
        parent_must_be_dir(ctx.fs, dst, dst_arg)      # created if missing, but not its parents (as HDFS)
    callback = progress(f"appendToFile {dst}")
    callback.set_size(sum(os.path.getsize(s) for s in sources if s != "-"))
    with ctx.fs.open(dst, "ab", **ctx.write_options) as out:
        for source in sources:
            with (open(source, "rb") if source != "-" else open(sys.stdin.fileno(), "rb", closefd=False)) as src:
                while chunk := src.read(CHUNK):
                    out.write(chunk)
                    callback.relative_update(len(chunk))
    finish(callback)
    return 0


# ------------------------------------------------------------- -rm, -rmdir

def delete(ctx, o, target: Target, is_dir: bool) -> None:
    """Into the trash (unless -skipTrash, the trash is off, or the path is in the trash
    already), else deleted for good."""
    try:
        if trash.to_trash(ctx.fs, target.path, o.skipTrash):
            return
    except OSError as e:       # the trash's own words (which trash, why): not HDFS's short reasons
        raise errors.HfedError(str(e), target.path) from None
    ctx.fs.rm(target.path, recursive=is_dir)
    print(f"Deleted {printable(target.shown)}")


def cmd_rm(ctx, o, args) -> int:
    def one(target):
        try:
            info = ctx.fs.info(target.path)
        except FileNotFoundError:
            if o.f:
                return
            raise
        is_dir = info["type"] == "directory"
        if is_dir and not (o.r or o.R):
            raise ShellError(target.shown, "Is a directory")
        delete(ctx, o, target, is_dir)
    return for_each("rm", ctx.fs, args, one, missing_ok=o.f)


def cmd_rmdir(ctx, o, args) -> int:
    def one(target):
        if ctx.fs.info(target.path)["type"] != "directory":
            raise ShellError(target.shown, "Is not a directory")
        try:
            ctx.fs.rm(target.path, recursive=False)
        except errors.NotEmpty:
            if not o.get("-ignore-fail-on-non-empty"):
                raise ShellError(target.shown, "Directory is not empty") from None
    return for_each("rmdir", ctx.fs, args, one)


# ---------------------------------------------------------------- -mv, -cp

def destination(fs, dst_arg: str, sources: int) -> tuple[str, bool]:
    """DST's path and whether it is a directory (which several sources need)."""
    dst = to_path(dst_arg)
    try:
        dst_info = fs.info(dst)
    except FileNotFoundError:
        dst_info = None
    dst_is_dir = bool(dst_info) and dst_info["type"] == "directory"
    if sources > 1 and not dst_is_dir:
        raise ShellError(dst_arg, "Is not a directory" if dst_info else "No such file or directory")
    return dst, dst_is_dir


def sources_and_targets(command, fs, args):
    """(source, destination) pairs: into DST when it is a directory (several sources need one)."""
    *sources, dst_arg = args
    targets, status = expand_all(command, fs, sources)
    dst, dst_is_dir = destination(fs, dst_arg, len(targets))
    pairs = []
    for t in targets:
        name = posixpath.basename(t.path)
        into = Target(posixpath.join(dst_arg, name), posixpath.join(dst, name)) if dst_is_dir else Target(dst_arg, dst)
        pairs.append((t, into))
    return pairs, status


def cmd_mv(ctx, o, args) -> int:
    fs = ctx.fs
    pairs, status = sources_and_targets("mv", fs, args)

    def one(pair):
        src, dst = pair
        if src.path == dst.path:
            return
        if fs.exists(dst.path):
            raise ShellError(dst.shown, "File exists")
        fs.mv(src.path, dst.path)
    return run_each("mv", pairs, one, shown=lambda p: p[0].shown) | status


def cmd_cp(ctx, o, args) -> int:
    fs = ctx.fs
    pairs, status = sources_and_targets("cp", fs, args)

    def copy_file(src: str, dst: str, shown: str):
        if fs.exists(dst):
            if not o.f:
                raise ShellError(shown, "File exists")
            fs.rm(dst)
        fs.cp_file(src, dst, **ctx.write_options)

    def preserve(src: str, dst: str, info: dict):
        if o.p:
            fs.set_times(dst, mtime=info["mtime"], atime=info["atime"] or None)
            fs.chmod(dst, int(info["permission"]))
            if info.get("owner") and info["owner"] != ctx.session.user:
                fs.chown(dst, info["owner"], info.get("group") or "")

    def one(pair):
        src, dst = pair
        info = fs.info(src.path)
        if info["type"] != "directory":
            parent_must_be_dir(fs, dst.path, dst.shown)
            copy_file(src.path, dst.path, dst.shown)
            preserve(src.path, dst.path, info)
            return
        if dst.path == src.path or dst.path.startswith(src.path + "/"):
            raise ShellError(dst.shown, f"is a subdirectory of itself ({src.shown})")
        for entry in list(walk(fs, src.path)):
            name = full_name(entry)
            target = dst.path if name == src.path else posixpath.join(dst.path, posixpath.relpath(name, src.path))
            if entry["type"] == "directory":
                fs.makedirs(target, exist_ok=True)
            else:
                copy_file(name, target, target)
            preserve(name, target, entry)
    return run_each("cp", pairs, one, shown=lambda p: p[0].shown) | status


# ---------------------------------------------------------- -touch, -touchz

def create_empty(ctx, target: Target) -> None:
    parent_must_be_dir(ctx.fs, target.path, target.shown)
    ctx.fs.touch(target.path, **ctx.write_options)


def cmd_touchz(ctx, o, args) -> int:
    def one(target):
        try:
            info = ctx.fs.info(target.path)
        except FileNotFoundError:
            create_empty(ctx, target)
            return
        if info["type"] == "directory":
            raise ShellError(target.shown, "Is a directory")
        if int(info.get("size") or 0) != 0:
            raise ShellError(target.shown, "Not a zero length file")
        ctx.fs.set_times(target.path, mtime=time.time())
    return for_each("touchz", ctx.fs, args, one)


def cmd_touch(ctx, o, args) -> int:
    """Set access and modification times (-a/-m: only one; -t yyyyMMdd:HHmmss, UTC; else now);
    a missing file is created empty unless -c."""
    when = sf.parse_touch_time(o.t) if o.t else None

    def one(target):
        try:
            info = ctx.fs.info(target.path)
        except FileNotFoundError:
            if o.c:
                return
            create_empty(ctx, target)
            if when is None:
                return
            info = ctx.fs.info(target.path)
        if info["type"] == "directory":
            raise ShellError(target.shown, "Is a directory")
        stamp = time.time() if when is None else when
        both = not (o.a or o.m)
        ctx.fs.set_times(target.path, mtime=stamp if (o.m or both) else None,
                         atime=stamp if (o.a or both) else None)
    return for_each("touch", ctx.fs, args, one)


# ------------------------------------------------------- attributes

def cmd_setrep(ctx, o, args) -> int:
    rep, *paths = args
    if not rep.isdigit() or int(rep) < 1:
        raise UsageProblem("Illegal replication, a positive integer expected")
    n, fs = int(rep), ctx.fs
    changed = []

    def one(target):
        for entry in walk(fs, target.path):
            if entry["type"] != "directory":
                name = full_name(entry)
                fs.setrep(name, n)
                changed.append(name)
                print(f"Replication {n} set: {printable(target.below(name).shown)}")
    status = for_each("setrep", fs, paths, one)
    if o.w:
        for f in changed:
            print(f"Waiting for {printable(f)} ...", end="", flush=True)
            deadline = time.monotonic() + 120
            while any(len(b.locations) != n for b in fs.block_locations(f).blocks):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{f}: blocks did not reach replication {n} within 120s")
                time.sleep(0.5)
            print(" done")
    return status


def each_below(ctx, o, command, paths, action) -> int:
    """``action(info)`` on each path, and with -R on everything below it."""
    def one(target):
        for info in (walk(ctx.fs, target.path) if o.R else [ctx.fs.info(target.path)]):
            action(dict(info, name=full_name(info)))
    return for_each(command, ctx.fs, paths, one)


def cmd_chmod(ctx, o, args) -> int:
    mode, *paths = args
    change = sf.parse_mode(mode)
    return each_below(ctx, o, "chmod", paths, lambda info: ctx.fs.chmod(
        info["name"], change(int(info.get("permission") or 0), info["type"] == "directory")))


NAME = r"[-_./@a-zA-Z0-9]+"


def cmd_chown(ctx, o, args) -> int:
    spec, *paths = args
    match = re.fullmatch(rf"({NAME})?(?::({NAME})?)?", spec)
    if not match or not (match.group(1) or match.group(2)):
        raise UsageProblem(f"'{spec}' does not match expected pattern for [owner][:group].")
    owner, group = match.group(1) or "", match.group(2) or ""
    return each_below(ctx, o, "chown", paths, lambda info: ctx.fs.chown(info["name"], owner, group))


def cmd_chgrp(ctx, o, args) -> int:
    group, *paths = args
    if not re.fullmatch(NAME, group):
        raise UsageProblem(f"'{group}' does not match expected pattern for group")
    return each_below(ctx, o, "chgrp", paths, lambda info: ctx.fs.chown(info["name"], "", group))


PUT_USAGE = "[-f] [-p] [-l] [-d] <localsrc> ... <dst>"
PUT_HELP = ("Copy local files (- for stdin) to dst (a directory for several). Directories are copied whole.\n"
            "-f  Overwrite the destination if it exists.\n-p  Keep modification and access times and "
            "the permission bits.\n-l, -d  Accepted (hfed writes no temporary _COPYING_ file).")

COMMANDS = [
    Command("mkdir", "[-p] <path> ...", "Create a directory at each path.\n"
            "-p  Create missing parents; no error if the directory exists.", cmd_mkdir, flags="p", min_args=1),
    Command("put", PUT_USAGE, PUT_HELP, cmd_put, flags="f p l d", min_args=2),
    Command("copyFromLocal", PUT_USAGE, "As -put.", cmd_put, flags="f p l d", min_args=2),
    Command("moveFromLocal", PUT_USAGE, "As -put, then delete the local sources.",
            lambda c, o, a: cmd_put(c, o, a, move=True), flags="f p l d", min_args=2),
    Command("appendToFile", "<localsrc> ... <dst>",
            "Append the local files (- for stdin), in order, to dst (created if missing).",
            cmd_append_to_file, min_args=2),
    Command("rm", "[-f] [-r|-R] [-skipTrash] [-safely] <src> ...",
            "Delete the files matching each pattern.\n-f  No error if a file does not exist.\n"
            "-R, -r  Delete directories with their content.\n-skipTrash, -safely  Accepted.",
            cmd_rm, flags="f r R skipTrash safely", min_args=1),
    Command("rmdir", "[--ignore-fail-on-non-empty] <dir> ...",
            "Delete each empty directory.\n--ignore-fail-on-non-empty  No error for a directory that "
            "is not empty (it stays).", cmd_rmdir, flags="-ignore-fail-on-non-empty", min_args=1),
    Command("mv", "<src> ... <dst>", "Move files matching the patterns to dst (a directory for several), "
            "within one namespace.", cmd_mv, min_args=2),
    Command("cp", "[-f] [-p | -p[topax]] [-d] <src> ... <dst>",
            "Copy files matching the patterns to dst (a directory for several), across namespaces too.\n"
            "-f  Overwrite the destination if it exists.\n-p  Keep times, owner, group and permission "
            "bits (-p[topax] alike: hfed has no ACLs or xattrs).\n-d  Accepted.",
            cmd_cp, flags="f p d", min_args=2),
    Command("touch", "[-a] [-m] [-t TIMESTAMP (yyyyMMdd:HHmmss)] [-c] <path> ...",
            "Set the access and modification times of each file to now (or TIMESTAMP, UTC), creating "
            "a missing file empty (its parent must exist).\n-a  Change only the access time.\n"
            "-m  Change only the modification time.\n-t  Use TIMESTAMP (UTC) instead of now.\n-c  Create no file.", cmd_touch, flags="a m c",
            values="t", min_args=1),
    Command("touchz", "<path> ...", "Create an empty file at each path (its parent must exist); an "
            "existing file must be empty.", cmd_touchz, min_args=1),
    Command("setrep", "[-R] [-w] <rep> <path> ...",
            "Set the replication of each file (every file below a directory).\n-w  Wait until the "
            "blocks have that many replicas.\n-R  Accepted (directories are always recursive).",
            cmd_setrep, flags="R w", min_args=2),
    Command("chmod", "[-R] <MODE[,MODE]... | OCTALMODE> <path> ...",
            "Change the permission bits: octal (755, 1777) or symbolic ([ugoa...][+-=][rwxXt...], "
            "comma separated).\n-R  Recurse.", cmd_chmod, flags="R", min_args=2),
    Command("chown", "[-R] [OWNER][:[GROUP]] <path> ...", "Change the owner and/or group.\n-R  Recurse.",
            cmd_chown, flags="R", min_args=2),
    Command("chgrp", "[-R] GROUP <path> ...", "Change the group.\n-R  Recurse.", cmd_chgrp, flags="R",
            min_args=2),
]
