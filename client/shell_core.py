"""What every `hfed dfs` command shares, as `hdfs dfs` does it: turning an argument into a
path (relative to the home directory; hfed:// and hdfs:// URIs), expanding globs, and
reporting a failure in HDFS's shape (``mkdir: `/x': File exists``) before going on.
"""
from __future__ import annotations

import posixpath
import re
import sys
from typing import Callable, Iterable, Iterator, NamedTuple

from client import cli_format as fmt
from protos import errors, rpc

GLOB_CHARS = set("*?[{\\")


class ShellError(Exception):
    """A command failed on one path: printed as ``CMD: `PATH': REASON``."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"`{fmt.printable(path)}': {reason}")
        self.path, self.reason = path, reason


class UsageProblem(Exception):
    """A bad argument (mode, timestamp, replication...): exit 255 with the command's usage, as HDFS."""


# The reason HDFS prints for each kind of failure on a path.
REASONS = [(errors.NotEmpty, "Directory is not empty"), (FileNotFoundError, "No such file or directory"),
           (FileExistsError, "File exists"), (IsADirectoryError, "Is a directory"),
           (NotADirectoryError, "Is not a directory")]


def error_message(error: BaseException, path: str | None) -> str:
    """One line for a failure on ``path``: HDFS's ```path': reason`` for the usual kinds,
    else the library's own message (which names the path and namespace)."""
    if isinstance(error, ShellError):
        return str(error)
    for cls, reason in REASONS:
        if isinstance(error, cls) and path is not None:
            return f"`{fmt.printable(path)}': {reason}"
    return fmt.describe(error)


# ------------------------------------------------------------------ paths

def home_dir() -> str:
    return f"/user/{rpc.current_user()}"


URI = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):(//[^/]*)?(.*)$")


def to_path(arg: str) -> str:
    """A command-line path as an absolute hfed path. Relative paths are under the home
    directory; ``hdfs://host:port/p`` and ``hdfs:/p`` are /p (the mount table routes, so the
    authority is ignored); ``hfed://`` keeps fsspec's reading (hfed://user/x is /user/x)."""
    if arg == "":
        raise UsageProblem("Can not create a Path from an empty string")
    match = URI.match(arg)
    if match and match.group(1) in ("hfed", "hdfs"):
        scheme, authority, rest = match.groups()
        if scheme == "hfed" and authority:
            rest = authority[2:] + "/" + rest.lstrip("/")
        arg = "/" + rest.lstrip("/")
    elif match and match.group(2):                   # another filesystem's URI (file://, s3://...)
        raise ShellError(arg, "Wrong FS: expected hfed:// or hdfs://")
    path = arg if arg.startswith("/") else posixpath.join(home_dir(), arg)
    return posixpath.normpath(path).replace("//", "/")


class Target(NamedTuple):
    """A path to work on: ``shown`` as the user wrote it (relative stays relative, as HDFS prints it)."""
    shown: str
    path: str

    def child(self, name: str) -> "Target":
        base = posixpath.basename(name.rstrip("/"))
        shown = base if self.shown == "." else posixpath.join(self.shown, base)
        return Target(shown, posixpath.join(self.path, base))

    def below(self, path: str) -> "Target":
        """``path`` (under this target's path) as the user would see it."""
        rest = path[len(self.path):].lstrip("/") if path != self.path else ""
        if not rest:
            return self
        return Target(rest if self.shown == "." else posixpath.join(self.shown, rest), path)


# ------------------------------------------------------------------ globs

def has_glob(text: str) -> bool:
    return any(c in GLOB_CHARS for c in text)


def expand_braces(pattern: str) -> list[str]:
    """{a,b} alternatives (nested, and across slashes as HDFS allows) into plain patterns."""
    depth, start = 0, -1
    for i, c in enumerate(pattern):
        if c == "\\":
            continue
        if i and pattern[i - 1] == "\\":
            continue
        if c == "{":
            if depth == 0:
                start = i
            depth += 1
        elif c == "}" and depth:
            depth -= 1
            if depth == 0:
                head, body, tail = pattern[:start], pattern[start + 1:i], pattern[i + 1:]
                return [x for alt in split_alternatives(body) for x in expand_braces(head + alt + tail)]
    if depth:
        raise UsageProblem(f"Illegal file pattern: Unclosed group near index {start} in {pattern!r}")
    return [pattern]


def split_alternatives(body: str) -> list[str]:
    parts, depth, current, i = [], 0, [], 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            current.append(body[i:i + 2])
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        if c == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(c)
        i += 1
    parts.append("".join(current))
    return parts


def glob_regex(component: str, ignore_case: bool = False) -> re.Pattern:
    """One path component's glob (no braces left) as a regex: * ? [abc] [^abc] [!abc] \\x."""
    out, i = [], 0
    while i < len(component):
        c = component[i]
        if c == "\\" and i + 1 < len(component):
            out.append(re.escape(component[i + 1]))
            i += 2
            continue
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[":
            end = component.find("]", i + 2)
            if end < 0:
                raise UsageProblem(f"Illegal file pattern: Unclosed character class in {component!r}")
            body = component[i + 1:end]
            negate = body[:1] in ("^", "!")
            body = body[1:] if negate else body
            out.append("[" + ("^" if negate else "") + body.replace("\\", "\\\\").replace("[", "\\[") + "]")
            i = end + 1
            continue
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out), re.S | (re.I if ignore_case else 0))


def iter_names(fs, directory: str) -> Iterator[dict]:
    """The entries of ``directory`` in name order, a page at a time when no mount point is
    below it (a glob over a million entries is never held), else fs.ls's merged listing."""
    if fs.mounts.mount_points_under(directory) or fs.mounts.mount_of(directory) is None:
        yield from fs.ls(directory, detail=True)
        return
    yield from fs._list_namespace(fs._path(directory))


def iter_glob(fs, pattern: str) -> Iterator[str]:
    """Absolute paths matching ``pattern`` (absolute, braces expanded), streamed in name order."""
    parts = [p for p in pattern.split("/") if p]
    return _match(fs, "/", parts)


def _match(fs, base: str, parts: list[str]) -> Iterator[str]:
    i = 0
    while i < len(parts) and not has_glob(parts[i]):
        i += 1
    if i == len(parts):
        path = posixpath.join(base, *parts) if parts else base
        if fs.exists(path):
            yield path
        return
    directory = posixpath.join(base, *parts[:i]) if i else base
    regex, rest = glob_regex(parts[i]), parts[i + 1:]
    try:
        entries = iter_names(fs, directory)
        for entry in entries:
            name = posixpath.basename(entry["name"].rstrip("/"))
            if not regex.fullmatch(name):
                continue
            path = posixpath.join(directory, name)
            if not rest:
                yield path
            elif entry["type"] == "directory":
                yield from _match(fs, path, rest)
    except (FileNotFoundError, NotADirectoryError):
        return


def expand(fs, arg: str, missing_ok: bool = False) -> Iterator[Target]:
    """The targets of one argument: itself, or what its glob matches (HDFS: a pattern
    matching nothing is ```PATTERN': No such file or directory``; an existing file named
    like a pattern matching nothing else is taken as it is, which HDFS cannot do)."""
    path = to_path(arg)
    if not has_glob(arg):
        yield Target(arg, path)
        return
    relative = not (arg.startswith("/") or URI.match(arg))
    found, problem = False, None
    try:
        for pattern in expand_braces(path):
            for match in iter_glob(fs, pattern):
                found = True
                shown = posixpath.relpath(match, home_dir()) if relative else match
                yield Target(shown, match)
    except UsageProblem as e:         # "x[1" is no pattern, but may well be a name
        problem = str(e)
    if found:
        return
    if fs.exists(path):       # a name that merely looks like a pattern ("x[1]"): itself
        yield Target(arg, path)
    elif not missing_ok or problem:
        raise ShellError(arg, problem or "No such file or directory")


def for_each(command: str, fs, args: Iterable[str], action: Callable[[Target], None],
             missing_ok: bool = False) -> int:
    """Run ``action`` on every target of every argument (globs expanded as they stream);
    report each failure as HDFS does and go on. 0 when all went well, else 1."""
    status = 0
    for arg in args:
        target = None
        try:
            for target in expand(fs, arg, missing_ok):
                try:
                    action(target)
                except (OSError, ValueError, ShellError) as e:
                    report(command, e, target.shown)
                    status = 1
        except BrokenPipeError:
            raise
        except (OSError, ValueError, ShellError) as e:
            report(command, e, arg)
            status = 1
    return status


def expand_all(command: str, fs, args: Iterable[str]) -> tuple[list[Target], int]:
    """Every target of ``args`` held in a list (for commands that must count their sources
    first: -cp, -mv, -get into a directory); failures reported, status 1 if any."""
    targets, status = [], 0
    for arg in args:
        try:
            targets.extend(expand(fs, arg))
        except (OSError, ValueError, ShellError) as e:
            report(command, e, arg)
            status = 1
    return targets, status


def run_each(command: str, targets: Iterable, action: Callable, shown=lambda t: t.shown) -> int:
    status = 0
    for target in targets:
        try:
            action(target)
        except (OSError, ValueError, ShellError) as e:
            report(command, e, shown(target))
            status = 1
    return status


def report(command: str, error: BaseException, path: str | None) -> None:
    if isinstance(error, BrokenPipeError):
        raise error
    print(f"{command}: {error_message(error, path)}", file=sys.stderr)


# --------------------------------------------------------------- commands

class Command(NamedTuple):
    """One dfs command as HDFS's CommandFormat sees it: flags and options taking a value
    come first, then between ``min_args`` and ``max_args`` arguments."""
    name: str
    usage: str            # "[-R] <path> ...", as `-usage` prints it
    help: str             # what `-help` prints under the usage line
    run: Callable         # run(ctx, opts, args) -> exit code
    flags: str = ""       # names after "-": "R h skipTrash"
    values: str = ""      # options with a value: "t"
    min_args: int = 0
    max_args: int | None = None
    raw: bool = False     # parses its own arguments (-find's expression)


class Options(dict):
    """Parsed flags: opts.R is True when -R was given; an option with a value maps to it."""

    def __getattr__(self, name):
        return self.get(name, False)
