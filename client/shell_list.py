"""`hfed dfs` commands that look without changing: -ls -count -du -df -stat -test -find."""
from __future__ import annotations

import sys

from client import shell_format as sf
from client.cli_format import printable, walk
from client.shell_core import (Command, ShellError, Target, UsageProblem, expand, expand_braces, for_each,
                               glob_regex, report, to_path)
from protos.errors import InvalidPath


def _targets_or_home(args):
    return args or ["."]


# -------------------------------------------------------------------- -ls

def cmd_ls(ctx, o, args) -> int:
    fs = ctx.fs
    out = sf.LsFormatter(human=o.h, atime=o.u, path_only=o.C, question_marks=o.q)
    incomplete = []

    def listing(target: Target, below=False):
        """One directory's entries in the asked order, with their targets. A subtree below
        the path that cannot be listed (its namespace down, its path too long) is reported
        and skipped, so the rest is still listed."""
        try:
            entries = sf.ls_order(fs.ls(target.path, detail=True), o.t, o.S, o.r, o.u)
        except (ConnectionError, InvalidPath) as e:
            if not below:
                raise
            report("ls", e, target.shown)
            incomplete.append(target)
            return []
        out.widen(entries)
        return [(e, target.child(e["name"])) for e in entries]

    def one(target: Target):
        info = fs.info(target.path)
        if info["type"] != "directory" or o.d:
            out.widen([info])
            print(out.line(info, target.shown))
            return
        if not o.R:
            entries = listing(target)
            if entries and not o.C:
                print(f"Found {len(entries)} items")
            for entry, child in entries:
                print(out.line(entry, child.shown))
            return
        stack = [iter(listing(target))]      # depth first, without recursion: trees may be deep
        while stack:
            item = next(stack[-1], None)
            if item is None:
                stack.pop()
                continue
            entry, child = item
            print(out.line(entry, child.shown))
            if entry["type"] == "directory":
                stack.append(iter(listing(child, below=True)))
    status = for_each("ls", fs, _targets_or_home(args), one)
    return 1 if incomplete else status


# ------------------------------------------------------------ -count, -du

def content_summary(fs, path: str) -> dict:
    summary = dict(fs.content_summary(path))
    summary.setdefault("quota", -1)
    summary.setdefault("space_quota", -1)
    return summary


def cmd_count(ctx, o, args) -> int:
    if o.t or o.e or o.s:
        raise UsageProblem("-t, -e and -s need storage types, erasure coding and snapshots, which hfed has not")
    if o.v:
        print(sf.count_header(o.q, o.u))

    def one(target):
        summary = content_summary(ctx.fs, target.path)
        print(sf.count_line(summary, target.shown, human=o.h, quotas=o.q, quotas_only=o.u))
    return for_each("count", ctx.fs, args, one)


def cmd_du(ctx, o, args) -> int:
    fs = ctx.fs
    if o.v:
        print("SIZE  DISK_SPACE_CONSUMED_WITH_ALL_REPLICAS  FULL_PATH_NAME")

    def usage_of(entry: dict) -> tuple[int, int]:
        if entry["type"] == "directory":
            s = fs.content_summary(entry["name"])
            return s["length"], s["space_consumed"]
        size = int(entry.get("size") or 0)
        return size, size * int(entry.get("replication") or 0)

    def one(target):
        info = fs.info(target.path)
        if o.s or info["type"] != "directory":
            rows = [(target.shown, usage_of(info))]
        else:
            rows = [(target.child(e["name"]).shown, usage_of(e)) for e in fs.ls(target.path, detail=True)]
        cells = [(sf.size_text(n, o.h), sf.size_text(c, o.h), printable(p)) for p, (n, c) in rows]
        w1 = max((len(c[0]) for c in cells), default=0)
        w2 = max((len(c[1]) for c in cells), default=0)
        for size, consumed, shown in cells:
            print(f"{size:<{w1}}  {consumed:<{w2}}  {shown}")
    return for_each("du", fs, _targets_or_home(args), one)


# -------------------------------------------------------------------- -df

def cmd_df(ctx, o, args) -> int:
    """Capacity of the DataNodes each namespace sees (every DataNode serves every namespace);
    the Filesystem column names the namespace (HDFS prints its filesystem's URI)."""
    session = ctx.session
    wanted = sorted({session.resolve(to_path(a)).nameservice for a in args}) if args else None
    rows, status = [], 0
    for ns, stats in session.stats():
        if wanted is not None and ns not in wanted:
            continue
        if isinstance(stats, BaseException):
            report("df", stats, None)
            status = 1
            continue
        live = [d for d in stats.datanodes if d.alive]
        size, used, free = (sum(getattr(d, k) for d in live) for k in ("capacity", "used", "remaining"))
        use = f"{round(100 * used / size) if size else 0}%"
        rows.append((ns, *(sf.size_text(n, o.h) for n in (size, used, free)), use))
    header = ("Filesystem", "Size", "Used", "Available", "Use%")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
    for row in [header, *rows]:
        print(f"{row[0]:<{widths[0]}}  " + "  ".join(f"{cell:>{widths[i]}}" for i, cell in enumerate(row) if i))
    return status


# ------------------------------------------------------------------ -stat

def cmd_stat(ctx, o, args) -> int:
    args = list(args)
    form = args.pop(0) if len(args) > 1 and "%" in args[0] else "%y"

    def one(target):
        info = dict(ctx.fs.info(target.path))
        info["name"] = target.path
        print(sf.stat_line(form, info))
    return for_each("stat", ctx.fs, args, one)


# ------------------------------------------------------------------ -test

def may(ctx, info: dict, action: str) -> bool:
    """Whether the caller may read or write the path by its mode bits (superusers may all);
    the NameNode decides in the end, this answers -test -r/-w as HDFS's access check."""
    session = ctx.session
    if session.cfg.security.supergroup in session.groups:
        return True
    shift = 6 if info.get("owner") == session.user else 3 if info.get("group") in session.groups else 0
    bit = {"r": 0o4, "w": 0o2}[action]
    return bool((int(info.get("permission") or 0) >> shift) & bit)


def cmd_test(ctx, o, args) -> int:
    checks = [f for f in "defswrz" if o.get(f)]
    if not checks:
        raise UsageProblem("No test flag given")
    if len(checks) > 1:
        raise UsageProblem("Only one test flag is allowed")
    try:
        info = ctx.fs.info(to_path(args[0]))
    except FileNotFoundError:
        return 1
    is_dir = info["type"] == "directory"
    size = int(info.get("size") or 0)
    check = checks[0]
    if check in "rw":
        return 0 if may(ctx, info, check) else 1
    result = {"e": True, "d": is_dir, "f": not is_dir, "s": size > 0, "z": size == 0}[check]
    return 0 if result else 1


# ------------------------------------------------------------------ -find

def parse_find(args: list[str]):
    """PATH... then an expression of -name/-iname PATTERN, -print, -print0 (all must hold)."""
    paths = []
    while args and not args[0].startswith("-"):
        paths.append(args.pop(0))
    tests, ending = [], None
    while args:
        word = args.pop(0)
        if word in ("-name", "-iname"):
            if not args:
                raise UsageProblem(f"Expected argument to {word}")
            tests.append(name_test(args.pop(0), word == "-iname"))
        elif word in ("-print", "-print0"):
            ending = "\0" if word == "-print0" else "\n"
        elif word in ("-a", "-and"):
            continue
        else:
            raise UsageProblem(f"Unexpected argument: {word}")
    return paths or ["."], tests, ending or "\n"


def name_test(pattern: str, ignore_case: bool):
    regexes = [glob_regex(p, ignore_case) for p in expand_braces(pattern)]
    return lambda name: any(r.fullmatch(name) for r in regexes)


def cmd_find(ctx, o, args) -> int:
    paths, tests, ending = parse_find(list(args))
    fs, status = ctx.fs, 0
    for arg in paths:
        try:
            for target in expand(fs, arg):
                problems: list[str] = []
                for info in walk(fs, target.path, unreachable=problems):
                    path = info["name"] if info["name"].startswith("/") else "/" + info["name"]
                    name = path.rstrip("/").rsplit("/", 1)[-1] or "/"
                    if all(test(name) for test in tests):
                        sys.stdout.write(printable(target.below(path).shown) + ending)
                for problem in problems:
                    print(f"find: {printable(problem)}", file=sys.stderr)
                    status = 1
        except (OSError, ValueError, ShellError) as e:
            report("find", e, arg)
            status = 1
    return status


COMMANDS = [
    Command("ls", "[-C] [-d] [-h] [-q] [-R] [-t] [-S] [-r] [-u] [<path> ...]",
            "List the contents of each directory, or the entry itself for a file (the home directory "
            "when no path is given). Globs are expanded.\n"
            "-C  Display the paths only.\n-d  List directories as plain files.\n"
            "-h  Sizes in human-readable units (64 M rather than 67108864).\n"
            "-q  Print ? for non-printable characters in names.\n-R  Recurse into subdirectories.\n"
            "-t  Sort by modification time, most recent first.\n-S  Sort by size, largest first.\n"
            "-r  Reverse the order.\n-u  Show and sort by access time rather than modification time.",
            cmd_ls, flags="C d h q R t S r u"),
    Command("count", "[-q] [-h] [-v] [-u] <path> ...",
            "Count the directories, files and bytes under each path. Columns: DIR_COUNT FILE_COUNT "
            "CONTENT_SIZE PATHNAME; with -q first QUOTA REM_QUOTA SPACE_QUOTA REM_SPACE_QUOTA "
            "(none/inf: no quota); -u the quota columns only.\n-h  Human-readable sizes.\n"
            "-v  Print a header line.", cmd_count, flags="q h v u t e s x", min_args=1),
    Command("du", "[-s] [-h] [-v] [-x] <path> ...",
            "Show the length and the space consumed with all replicas of each entry of a directory, "
            "or of the path itself.\n-s  One total per path.\n-h  Human-readable sizes.\n"
            "-v  Print a header line.\n-x  Accepted (hfed has no snapshots to exclude).",
            cmd_du, flags="s h v x"),
    Command("df", "[-h] [<path> ...]",
            "Capacity, used and available space of the DataNodes, per namespace (of the paths given, "
            "else every namespace).\n-h  Human-readable sizes.", cmd_df, flags="h"),
    Command("stat", "[format] <path> ...",
            "Print information about each path in format (default %y): " + sf.STAT_FORMATS + ".",
            cmd_stat, min_args=1),
    Command("test", "-[defswrz] <path>",
            "Answer a question about path with the exit code (0: yes, 1: no).\n-d  a directory?\n"
            "-e  exists?\n-f  a file?\n-s  not empty?\n-w  writable by you?\n-r  readable by you?\n"
            "-z  zero length?", cmd_test, flags="d e f s w r z", min_args=1, max_args=1),
    Command("find", "<path> ... <expression> ...",
            "Print the paths under each path (itself included) whose name matches every -name "
            "pattern (-iname: ignoring case). Expressions: -name PATTERN, -iname PATTERN, -print, "
            "-print0 (NUL after each path).", cmd_find, raw=True),
]
