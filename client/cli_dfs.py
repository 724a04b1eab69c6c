"""`hfed dfs`: the filesystem commands (shaped like `hdfs dfs`) and the plumbing
every hfed subcommand shares: argument parsing, the filesystem context, errors.

Relative paths are taken from the user's home directory /user/<name>, as in HDFS.
"""
from __future__ import annotations

import argparse
import os
import posixpath
import shutil
import sys
import time
from pathlib import Path

from fsspec.callbacks import NoOpCallback

from client import cli_format as fmt
from client import trash
from client.fs import HfedFileSystem
from client.session import ClusterSession
from protos import config as hconfig
from protos import rpc


CHUNK = 1 << 20
class UsageError(Exception):
    def __init__(self, message: str, usage: str = ""):
        super().__init__(message)
        self.usage = usage


class Parser(argparse.ArgumentParser):
    """argparse that reports mistakes as UsageError (exit 2) instead of exiting itself."""

    def __init__(self, prog, **kwargs):
        kwargs.setdefault("add_help", False)
        super().__init__(prog=prog, **kwargs)

    def error(self, message):
        raise UsageError(f"{self.prog.removeprefix('hfed ')}: {message}", self.format_usage().strip())


class CommandError(Exception):
    """An operation failed: exit code 1 with `hfed: COMMAND: reason` on stderr."""

    def __init__(self, command: str, error: BaseException):
        super().__init__(f"{command}: {describe(error)}")


# ----------------------------------------------------------------- helpers

describe = fmt.describe


def progress(label: str):
    return fmt.ProgressCallback(label) if sys.stderr.isatty() else NoOpCallback()


def home_dir() -> str:
    return f"/user/{rpc.current_user()}"


def absolute(path: str) -> str:
    """Relative paths are under the user's home, as in HDFS; hfed:// URLs are accepted."""
    if path.startswith("hfed://"):
        path = "/" + path[len("hfed://"):].lstrip("/")
    return path if path.startswith("/") else posixpath.join(home_dir(), path)


def display_name(name: str) -> str:
    return name if name.startswith("/") else "/" + name


def child(parent: str, name: str) -> str:
    return posixpath.join(parent, posixpath.basename(name.rstrip("/")))


class Context:
    """What a command needs: the config path, and a cluster session and filesystem made on first use."""

    def __init__(self, conf: str | None):
        self.conf_flag = conf
        self._session: ClusterSession | None = None
        self._fs: HfedFileSystem | None = None
        self.write_options: dict = {}   # from `hfed dfs -D key=value`: how new files are written

    @property
    def conf_path(self) -> Path:
        return hconfig.find_config_path(self.conf_flag)

    def config(self) -> hconfig.ClusterConfig:
        return hconfig.load(self.conf_path)

    @property
    def session(self) -> ClusterSession:
        if self._session is None:
            self._session = ClusterSession(self.config())  # a missing/invalid config fails here, clearly
        return self._session

    @property
    def fs(self) -> HfedFileSystem:
        if self._fs is None:
            self._fs = HfedFileSystem(session=self.session)
        return self._fs

    def close(self) -> None:
        """Close the session the command used: its staging containers of small files are
        completed, so the next command (or the packer) finds them closed."""
        if self._session is not None:
            self._session.close()
            self._session = self._fs = None


def for_each(command: str, items, action) -> int:
    """Run ``action`` on every item; report each failure on its own line and go on (as hdfs does)."""
    status = 0
    for item in items:
        try:
            action(item)
        except BrokenPipeError:
            raise
        except (OSError, ValueError) as e:
            print(f"hfed: {command}: {describe(e)}", file=sys.stderr)
            status = 1
    return status


# --------------------------------------------------------------- dfs commands

FLAG_HELP = {"R": "recursive", "r": "recursive", "h": "human-readable sizes", "d": "list a directory itself",
             "p": "create parents; no error if it exists", "f": "overwrite the destination", "s": "one total per path",
             "w": "wait until the blocks have that many replicas", "skipTrash": "delete at once, not into the trash",
             "immediate": "delete every checkpoint and Current now"}
# command: (description, flags, positionals); a positional's trailing + or * takes several values.
DFS_SPECS = {
    "ls": ("list directories and files", "R h d", "PATH*"),
    "mkdir": ("create directories", "p", "PATH+"),
    "put": ("copy local files (- for stdin) into hfed", "f", "LOCALSRC+ DST"),
    "appendToFile": ("append local files (- for stdin), in order, to DST (created if missing)", "", "LOCALSRC+ DST"),
    "get": ("copy files to the local filesystem", "f", "SRC+ LOCALDST"),
    "cat": ("print files", "", "PATH+"),
    "head": ("print the first KB of files", "", "PATH+"),
    "tail": ("print the last KB of files", "", "PATH+"),
    "rm": ("delete files (directories with -r); -f: no error if missing", "r f skipTrash", "PATH+"),
    "rmdir": ("delete empty directories", "", "PATH+"),
    "mv": ("rename, within one namespace", "", "SRC+ DST"),
    "cp": ("copy files and directories (across namespaces too)", "f", "SRC+ DST"),
    "du": ("length and space consumed of each entry (the total with -s)", "s h", "PATH*"),
    "count": ("DIR_COUNT FILE_COUNT CONTENT_SIZE PATHNAME", "h", "PATH+"),
    "stat": ("print FORMAT (default %y) for each path: %a octal mode, %A symbolic mode, %b length, %F type, "
             "%g group, %n name, %o block size, %r replication, %u owner, %y mtime (UTC), %Y mtime in ms", "",
             "[FORMAT]_PATH+"),
    "setrep": ("set the replication of every file under the paths", "w R", "N PATH+"),
    "chmod": ("set permission bits (octal MODE)", "R", "MODE PATH+"),
    "chown": ("set OWNER[:GROUP]", "R", "OWNER[:GROUP] PATH+"),
    "chgrp": ("set the group", "R", "GROUP PATH+"),
    "touchz": ("create empty files", "", "PATH+"),
    "checksum": ("print each file's COMPOSITE-CRC32C (the same for the same bytes whatever the block size)", "",
                 "PATH+"),
    "expunge": ("empty the trash: delete checkpoints older than fs.trash.interval, checkpoint Current",
                "immediate", ""),
}
ALIASES = {"copyFromLocal": "put", "copyToLocal": "get"}
DESTS = {"PATH": "paths", "LOCALSRC": "sources", "SRC": "sources", "DST": "dst", "LOCALDST": "dst",
         "N": "replication", "MODE": "mode", "OWNER[:GROUP]": "owner", "GROUP": "group", "[FORMAT]_PATH": "args"}


def _parse_bool(text: str) -> bool:
    if text.lower() in ("true", "yes", "1", "on"):
        return True
    if text.lower() in ("false", "no", "0", "off"):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def _positive(parse):
    def check(text):
        value = parse(text)
        if value < 1:
            raise ValueError(f"must be positive, got {text!r}")
        return value
    return check


# `hfed dfs -D key=value`: options for the files a command writes (-put, -cp, -touchz),
# as `hdfs dfs -D`: key -> (open() keyword, parser, help). hdfs spellings are accepted too.
WRITE_KEYS = {
    "pack": ("pack", _parse_bool, "false: give small files blocks of their own (default true)"),
    "replication": ("replication", _positive(int), "replicas of each new file"),
    "block_size": ("block_size", _positive(hconfig.parse_size), "block size of each new file, e.g. 64M"),
}
WRITE_KEY_ALIASES = {"dfs.replication": "replication", "dfs.blocksize": "block_size"}
D_USAGE = ("usage: hfed dfs [-D KEY=VALUE]... -CMD ARGS...   keys: "
           + "; ".join(f"{k} ({h})" for k, (_, _, h) in WRITE_KEYS.items()))


def parse_generic_options(args: list[str]) -> tuple[dict, list[str]]:
    """Leading `-D key=value` / `-Dkey=value` options -> (open() keywords, the remaining args)."""
    options, rest = {}, list(args)
    while rest and rest[0].startswith("-D"):
        item = rest.pop(0)[2:]
        if not item:
            if not rest:
                raise UsageError("dfs: -D needs KEY=VALUE", D_USAGE)
            item = rest.pop(0)
        key, sep, value = item.partition("=")
        name = WRITE_KEY_ALIASES.get(key.strip(), key.strip())
        if not sep or name not in WRITE_KEYS:
            reason = "needs KEY=VALUE" if not sep else f"unknown key {key.strip()!r}"
            raise UsageError(f"dfs: -D {item}: {reason} (known: {', '.join(WRITE_KEYS)})", D_USAGE)
        keyword, parse, _ = WRITE_KEYS[name]
        try:
            options[keyword] = parse(value.strip())
        except ValueError as e:
            raise UsageError(f"dfs: -D {item}: {e}", D_USAGE) from None
    return options, rest


def dfs_parser(name: str) -> Parser:
    if name == "test":
        parser = Parser("hfed dfs -test", description="exit 0 if: -e exists, -d is a directory, -f is a file, "
                                                      "-s is not empty, -z is empty")
        which = parser.add_mutually_exclusive_group(required=True)
        for flag in "edfsz":
            which.add_argument(f"-{flag}", dest="check", action="store_const", const=flag)
        parser.add_argument("path", metavar="PATH")
        return parser
    description, flags, positionals = DFS_SPECS[ALIASES.get(name, name)]
    usage = "hfed dfs -stat [FORMAT] PATH..." if name == "stat" else None
    parser = Parser(f"hfed dfs -{name}", description=description, usage=usage)
    for flag in flags.split():
        names = ["-r", "-R"] if flag == "r" else [f"-{flag}"]
        parser.add_argument(*names, dest=flag, action="store_true", help=FLAG_HELP[flag])
    for spec in positionals.split():
        metavar, nargs = spec.rstrip("+*"), spec[-1] if spec[-1] in "+*" else None
        parser.add_argument(DESTS[metavar], metavar=metavar.replace("_", " "), nargs=nargs)
    return parser


walk = fmt.walk


def cmd_ls(ctx, a):
    problems = []     # -R: subtrees that could not be listed (a namespace down, a path too long)

    def one(path):
        info = ctx.fs.info(path)
        if info["type"] != "directory" or a.d:
            entries = [info]
        elif a.R:
            entries = list(walk(ctx.fs, path, include_self=False, unreachable=problems))
        else:
            entries = sorted(ctx.fs.ls(path, detail=True), key=lambda e: e["name"])
            print(f"Found {len(entries)} items")
        for entry in entries:
            entry["name"] = display_name(entry["name"])
        for line in fmt.ls_lines(entries, human=a.h):
            print(line)
        for problem in problems:
            print(f"hfed: ls: {fmt.printable(problem)}", file=sys.stderr)
        incomplete.append(bool(problems))
        problems.clear()
    incomplete: list[bool] = []
    status = for_each("ls", [absolute(p) for p in a.paths] or [home_dir()], one)
    return 1 if any(incomplete) else status


def cmd_mkdir(ctx, a):
    def one(path):
        if a.p:
            ctx.fs.makedirs(path, exist_ok=True)
        else:
            try:
                ctx.fs.mkdir(path, create_parents=False)
            except FileExistsError:
                raise FileExistsError(f"{path}: File exists") from None
    return for_each("mkdir", [absolute(p) for p in a.paths], one)


def cmd_put(ctx, a):
    fs, dst = ctx.fs, absolute(a.dst)
    dst_is_dir = fs.isdir(dst)
    if len(a.sources) > 1 and not dst_is_dir:
        raise NotADirectoryError(f"{dst}: Is not a directory (needed for several sources)")

    def claim(target):
        if fs.exists(target):
            if not a.f:
                raise FileExistsError(f"{target}: File exists")
            fs.rm(target, recursive=fs.isdir(target))

    def one(source):
        if source == "-":
            if dst_is_dir:
                raise IsADirectoryError(f"{dst}: Is a directory (stdin needs a file name)")
            claim(dst)
            with fs.open(dst, "wb", **ctx.write_options) as out:
                shutil.copyfileobj(sys.stdin.buffer, out, CHUNK)
            return
        if not os.path.exists(source):
            raise FileNotFoundError(f"{source}: No such file or directory (local)")
        target = child(dst, source) if dst_is_dir else dst
        if os.path.isdir(source):
            claim(target)
            fs.makedirs(target, exist_ok=True)
            for root, dirs, files in os.walk(source):
                base = posixpath.join(target, os.path.relpath(root, source)).removesuffix("/.")
                for d in sorted(dirs):
                    fs.makedirs(posixpath.join(base, d), exist_ok=True)
                for f in sorted(files):
                    upload(os.path.join(root, f), posixpath.join(base, f))
            return
        claim(target)
        upload(source, target)

    def upload(local, remote):
        callback = progress(f"put {remote}")
        fs.put_file(local, remote, callback=callback, **ctx.write_options)
        if hasattr(callback, "close"):
            callback.close()
    return for_each("put", a.sources, one)


def cmd_append_to_file(ctx, a):
    """As `hdfs dfs -appendToFile`: DST is opened for appending once and every source goes on
    at its end in order; a missing source fails before anything is appended."""
    dst = absolute(a.dst)
    for source in a.sources:
        if source != "-" and not os.path.isfile(source):
            what = "Is a directory" if os.path.isdir(source) else "No such file or directory"
            raise FileNotFoundError(f"{source}: {what} (local)")
    callback = progress(f"appendToFile {dst}")
    callback.set_size(sum(os.path.getsize(s) for s in a.sources if s != "-"))
    with ctx.fs.open(dst, "ab", **ctx.write_options) as out:
        for source in a.sources:
            with (open(source, "rb") if source != "-" else open(sys.stdin.fileno(), "rb", closefd=False)) as src:
                while chunk := src.read(CHUNK):
                    out.write(chunk)
                    callback.relative_update(len(chunk))
    if hasattr(callback, "close"):
        callback.close()
    return 0


def cmd_get(ctx, a):
    fs = ctx.fs
    dst_is_dir = os.path.isdir(a.dst)
    if len(a.sources) > 1 and not dst_is_dir:
        raise NotADirectoryError(f"{a.dst}: Is not a local directory (needed for several sources)")

    def download(remote, local):
        if os.path.exists(local) and not a.f:
            raise FileExistsError(f"{local}: File exists (local)")
        partial = f"{local}._COPYING_"  # as hdfs: a failed get leaves no half file under the real name
        callback = progress(f"get {remote}")
        try:
            fs.get_file(remote, partial, callback=callback)
            os.replace(partial, local)
        finally:
            if os.path.exists(partial):
                os.unlink(partial)
            if hasattr(callback, "close"):
                callback.close()

    def one(source):
        remote = absolute(source)
        local = os.path.join(a.dst, posixpath.basename(remote.rstrip("/"))) if dst_is_dir else a.dst
        if fs.isdir(remote):
            for entry in walk(fs, remote):
                rel = posixpath.relpath(display_name(entry["name"]), remote)
                target = os.path.normpath(os.path.join(local, rel))
                if entry["type"] == "directory":
                    os.makedirs(target, exist_ok=True)
                else:
                    download(display_name(entry["name"]), target)
        else:
            download(remote, local)
    return for_each("get", a.sources, one)


def _require_file(fs, path):
    info = fs.info(path)
    if info["type"] == "directory":
        raise IsADirectoryError(f"{path}: Is a directory")
    return info


def cmd_cat(ctx, a):
    out = sys.stdout.buffer

    def one(path):
        _require_file(ctx.fs, path)
        with ctx.fs.open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                out.write(chunk)
        out.flush()
    return for_each("cat", [absolute(p) for p in a.paths], one)


def cmd_head_tail(ctx, a, tail: bool):
    def one(path):
        size = int(_require_file(ctx.fs, path)["size"])
        start, end = (max(0, size - 1024), size) if tail else (0, min(size, 1024))
        sys.stdout.buffer.write(ctx.fs.cat_file(path, start=start, end=end) if end > start else b"")
        sys.stdout.buffer.flush()
    return for_each("tail" if tail else "head", [absolute(p) for p in a.paths], one)


def cmd_rm(ctx, a):
    def one(path):
        if not ctx.fs.exists(path):
            if a.f:
                return
            raise FileNotFoundError(f"{path}: No such file or directory")
        if ctx.fs.isdir(path) and not a.r:
            raise IsADirectoryError(f"{path}: Is a directory (use -r)")
        if trash.to_trash(ctx.fs, path, a.skipTrash):
            return
        ctx.fs.rm(path, recursive=a.r)
        print(f"Deleted {fmt.printable(path)}")
    return for_each("rm", [absolute(p) for p in a.paths], one)


def cmd_rmdir(ctx, a):
    def one(path):
        if not ctx.fs.isdir(path):
            raise NotADirectoryError(f"{path}: Not a directory")
        ctx.fs.rm(path, recursive=False)
    return for_each("rmdir", [absolute(p) for p in a.paths], one)


def _targets(fs, sources, dst):
    dst = absolute(dst)
    dst_is_dir = fs.isdir(dst)
    if len(sources) > 1 and not dst_is_dir:
        raise NotADirectoryError(f"{dst}: Is not a directory (needed for several sources)")
    return [(absolute(s), child(dst, absolute(s)) if dst_is_dir else dst) for s in sources]


def cmd_mv(ctx, a):
    return for_each("mv", _targets(ctx.fs, a.sources, a.dst), lambda pair: ctx.fs.mv(*pair))


def cmd_cp(ctx, a):
    fs = ctx.fs

    def copy_file(src, dst):
        if fs.exists(dst):
            if not a.f:
                raise FileExistsError(f"{dst}: File exists")
            fs.rm(dst)
        fs.cp_file(src, dst, **ctx.write_options)

    def one(pair):
        src, dst = pair
        if not fs.isdir(src):
            copy_file(src, dst)
            return
        if dst == src or dst.startswith(src + "/"):
            raise ValueError(f"{dst}: cannot copy {src} into itself")
        for entry in list(walk(fs, src)):
            name = display_name(entry["name"])
            target = dst if name == src else posixpath.join(dst, posixpath.relpath(name, src))
            if entry["type"] == "directory":
                fs.makedirs(target, exist_ok=True)
            else:
                copy_file(name, target)
    return for_each("cp", _targets(fs, a.sources, a.dst), one)


def _size(n, human):
    return fmt.human_size(n) if human else str(n)


def cmd_du(ctx, a):
    fs = ctx.fs

    def one(path):
        if a.s or not fs.isdir(path):
            rows = [(path, fs.content_summary(path))]
        else:
            rows = [(display_name(e["name"]), fs.content_summary(display_name(e["name"])))
                    for e in sorted(fs.ls(path, detail=True), key=lambda e: e["name"])]
        cells = [(_size(s["length"], a.h), _size(s["space_consumed"], a.h), p) for p, s in rows]
        w1 = max((len(c[0]) for c in cells), default=0)
        w2 = max((len(c[1]) for c in cells), default=0)
        for size, consumed, p in cells:
            print(f"{size:<{w1}}  {consumed:<{w2}}  {fmt.printable(p)}")
    return for_each("du", [absolute(p) for p in a.paths] or [home_dir()], one)


def cmd_count(ctx, a):
    def one(path):
        summary = dict(ctx.fs.content_summary(path))
        if a.h:
            summary["length"] = fmt.human_size(summary["length"])
        print(fmt.count_line(summary, path))
    return for_each("count", [absolute(p) for p in a.paths], one)


def cmd_stat(ctx, a):
    args = list(a.args)
    form = args.pop(0) if len(args) > 1 and "%" in args[0] else "%y"
    if not args:
        raise UsageError("dfs -stat: no path given", "usage: hfed dfs -stat [FORMAT] PATH...")

    def one(path):
        info = dict(ctx.fs.info(path))
        info["name"] = path
        print(fmt.stat_line(form, info))
    return for_each("stat", [absolute(p) for p in args], one)


def _files_below(fs, path):
    return [display_name(e["name"]) for e in walk(fs, path) if e["type"] != "directory"]


def cmd_setrep(ctx, a):
    if not a.replication.isdigit() or int(a.replication) < 1:
        raise UsageError(f"dfs -setrep: replication must be a positive integer, got {a.replication!r}",
                         "usage: hfed dfs -setrep [-w] N PATH...")
    n, fs = int(a.replication), ctx.fs
    changed = []

    def one(path):
        for f in _files_below(fs, path):
            fs.setrep(f, n)
            changed.append(f)
            print(f"Replication {n} set: {fmt.printable(f)}")
    status = for_each("setrep", [absolute(p) for p in a.paths], one)
    if a.w:
        for f in changed:
            print(f"Waiting for {fmt.printable(f)} ...", end="", flush=True)
            deadline = time.monotonic() + 120
            while any(len(b.locations) != n for b in fs.block_locations(f).blocks):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{f}: blocks did not reach replication {n} within 120s")
                time.sleep(0.5)
            print(" done")
    return status


def _apply(ctx, a, command, action):
    def one(path):
        for target in ([display_name(e["name"]) for e in walk(ctx.fs, path)] if a.R else [path]):
            action(target)
    return for_each(command, [absolute(p) for p in a.paths], one)


def cmd_chmod(ctx, a):
    mode = a.mode
    if not (1 <= len(mode) <= 4 and all(c in "01234567" for c in mode)):
        raise UsageError(f"dfs -chmod: mode must be octal like 755 or 1777, got {mode!r}",
                         "usage: hfed dfs -chmod [-R] MODE PATH...")
    return _apply(ctx, a, "chmod", lambda p: ctx.fs.chmod(p, int(mode, 8)))


def cmd_chown(ctx, a):
    owner, _, group = a.owner.partition(":")
    if not owner and not group:
        raise UsageError("dfs -chown: OWNER[:GROUP] is empty", "usage: hfed dfs -chown [-R] OWNER[:GROUP] PATH...")
    return _apply(ctx, a, "chown", lambda p: ctx.fs.chown(p, owner, group))


def cmd_chgrp(ctx, a):
    return _apply(ctx, a, "chgrp", lambda p: ctx.fs.chown(p, "", a.group))


def cmd_test(ctx, a):
    path, fs = absolute(a.path), ctx.fs
    try:
        info = fs.info(path)
    except FileNotFoundError:
        return 1
    except (OSError, ValueError) as e:
        print(f"hfed: test: {describe(e)}", file=sys.stderr)
        return 1
    is_dir = info["type"] == "directory"
    size = int(info.get("size") or 0)
    result = {"e": True, "d": is_dir, "f": not is_dir, "s": size > 0, "z": size == 0}[a.check]
    return 0 if result else 1


def cmd_touchz(ctx, a):
    def one(path):
        if ctx.fs.exists(path):
            info = ctx.fs.info(path)
            if info["type"] == "directory" or int(info.get("size") or 0) != 0:
                raise FileExistsError(f"{path}: Not a zero length file")
            return
        ctx.fs.touch(path, **ctx.write_options)
    return for_each("touchz", [absolute(p) for p in a.paths], one)


def cmd_checksum(ctx, a):
    from client.cli_checksum import cmd_checksum as checksum   # imported on use: it imports this module
    return checksum(ctx, a)


DFS_COMMANDS = {
    "ls": cmd_ls, "mkdir": cmd_mkdir, "put": cmd_put, "copyFromLocal": cmd_put, "appendToFile": cmd_append_to_file,
    "get": cmd_get,
    "copyToLocal": cmd_get, "cat": cmd_cat, "head": lambda c, a: cmd_head_tail(c, a, tail=False),
    "tail": lambda c, a: cmd_head_tail(c, a, tail=True), "rm": cmd_rm, "rmdir": cmd_rmdir, "mv": cmd_mv,
    "cp": cmd_cp, "du": cmd_du, "count": cmd_count, "stat": cmd_stat, "setrep": cmd_setrep, "chmod": cmd_chmod,
    "chown": cmd_chown, "chgrp": cmd_chgrp, "test": cmd_test, "touchz": cmd_touchz,
    "checksum": cmd_checksum,
    "expunge": trash.cmd_expunge,
}


def run_dfs(ctx, args: list[str]) -> int:
    options, args = parse_generic_options(args)
    ctx.write_options.update(options)
    if not args or args[0] in ("-help", "-h", "--help", "help"):
        stream = sys.stdout if args else sys.stderr
        print("usage: hfed dfs [-D KEY=VALUE]... -CMD ARGS...  (hfed dfs -CMD -help describes one)", file=stream)
        print(f"  -D KEY=VALUE  how new files are written: "
              f"{'; '.join(f'{k}: {h}' for k, (_, _, h) in WRITE_KEYS.items())}\n", file=stream)
        for name in [*DFS_SPECS, "test"]:
            print(f"  {dfs_parser(name).format_usage().strip().removeprefix('usage: ')}", file=stream)
        return 0 if args else 2
    name = args[0].lstrip("-")
    if not args[0].startswith("-") or name not in DFS_COMMANDS:
        raise UsageError(f"dfs: unknown command {args[0]!r} (hfed dfs -help lists them)")
    parser = dfs_parser(name)
    if args[1:2] in (["-help"], ["--help"]):
        parser.print_help()
        return 0
    try:
        return DFS_COMMANDS[name](ctx, parser.parse_args(args[1:]))
    except BrokenPipeError:
        raise
    except (OSError, ValueError) as e:
        raise CommandError(name, e) from e
