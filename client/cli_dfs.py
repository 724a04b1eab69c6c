"""`hfed dfs`: the filesystem commands, shaped like `hdfs dfs` (HDFS's FileSystemShell), and
the plumbing every hfed subcommand shares: argument parsing, the filesystem context, errors.

The commands themselves live in client/shell_list.py (looking), shell_read.py (reading out)
and shell_write.py (changing); client/shell_core.py has paths, globs and error shapes.
As HDFS: options come before the arguments; an operation that fails prints
``CMD: `PATH': REASON`` on stderr and exits 1; a usage mistake prints ``-CMD: PROBLEM`` and
the command's usage, and exits 255 (HDFS's -1). Other hfed commands exit 2 on usage errors.
"""
from __future__ import annotations

import argparse
import re
import sys
import textwrap
from pathlib import Path

from client import cli_format as fmt
from client import cli_checksum, shell_list, shell_read, shell_write, trash
from client.fs import HfedFileSystem
from client.session import ClusterSession
from client.shell_core import Command, Options, ShellError, UsageProblem, error_message, to_path
from client.shell_read import progress  # noqa: F401 - other hfed commands import it from here
from protos import config as hconfig

DFS_USAGE_EXIT = 255


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


describe = fmt.describe


def absolute(path: str) -> str:
    """Relative paths are under the user's home, as in HDFS; hfed:// and hdfs:// URIs are accepted."""
    try:
        return to_path(path)
    except (UsageProblem, ShellError) as e:
        raise UsageError(str(e)) from None


class Context:
    """What a command needs: the config path, and a cluster session and filesystem made on first use."""

    def __init__(self, conf: str | None, verbose: bool = False):
        self.conf_flag = conf
        self.verbose = verbose     # -v: say which config is used
        self._session: ClusterSession | None = None
        self._fs: HfedFileSystem | None = None
        self.write_options: dict = {}   # from `hfed dfs -D key=value`: how new files are written

    @property
    def conf_path(self) -> Path:
        return self.choice().path

    def choice(self) -> hconfig.ConfigChoice:
        """The config this command uses and why (--conf, $HFED_CONF, the pointer, the default)."""
        return hconfig.choose_config(self.conf_flag)

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


# ------------------------------------------------------- generic options (-D)

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


# ---------------------------------------------------------------- commands

COMMANDS = {c.name: c for c in [
    *shell_list.COMMANDS, *shell_read.COMMANDS, *shell_write.COMMANDS,
    Command("checksum", "<src> ...", "Print each file's COMPOSITE-CRC32C: PATH, algorithm, hex (the same "
            "for the same bytes whatever the block size; computed from the stored checksums, no data read).",
            cli_checksum.cmd_checksum, min_args=1),
    Command("expunge", "[-immediate]", "Empty the trash: delete checkpoints older than fs.trash.interval, "
            "then checkpoint Current.\n-immediate  Delete every checkpoint and Current now.",
            lambda ctx, opts, args: trash.cmd_expunge(ctx, opts), flags="immediate", max_args=0),
]}
PRESERVE = re.compile(r"-p[topax]+")   # cp -ptopax: hfed keeps times, owner, group and mode for any


def usage_line(name: str) -> str:
    return f"Usage: hfed dfs [generic options] -{name} {COMMANDS[name].usage}"


def all_usage() -> str:
    lines = ["Usage: hfed dfs [generic options]"]
    lines += [f"\t[-{name} {COMMANDS[name].usage}]" for name in sorted(COMMANDS, key=str.lower)]
    lines += [f"\t[-help [cmd ...]]", f"\t[-usage [cmd ...]]", "",
              "Generic options:", f"  -D KEY=VALUE  how new files are written: "
              + "; ".join(f"{k}: {h}" for k, (_, _, h) in WRITE_KEYS.items())]
    return "\n".join(lines)


def help_text(name: str) -> str:
    """HDFS's -help shape: the usage line, the description, then each flag further indented."""
    command, body = COMMANDS[name], []
    for i, line in enumerate(command.help.splitlines()):
        flag = i and line.startswith("-")
        body += textwrap.wrap(line, 78, initial_indent="  ", subsequent_indent="      " if flag else "  ")
    return f"-{name} {command.usage} :\n" + "\n".join(body) + "\n"


def parse_options(command, args: list[str]) -> tuple[Options, list[str]]:
    """HDFS's CommandFormat: leading -FLAG and -OPTION VALUE, up to a non-option, "-" or "--"."""
    opts, rest = Options(), list(args)
    flags, values = set(command.flags.split()), set(command.values.split())
    while rest and rest[0].startswith("-") and rest[0] != "-":
        arg = rest.pop(0)
        if arg == "--":
            break
        name = arg[1:]
        if name in flags:
            opts[name] = True
        elif name in values and rest:
            opts[name] = rest.pop(0)
        elif command.name == "cp" and PRESERVE.fullmatch(arg):
            opts["p"] = True
        else:
            raise UsageProblem(f"Illegal option {arg}")
    if len(rest) < command.min_args:
        raise UsageProblem(f"Not enough arguments: expected {command.min_args} but got {len(rest)}")
    if command.max_args is not None and len(rest) > command.max_args:
        raise UsageProblem(f"Too many arguments: expected {command.max_args} but got {len(rest)}")
    return opts, rest


def run_help(args: list[str], usage_only: bool) -> int:
    if not args:
        print(all_usage())
        if not usage_only:
            print()
            for name in sorted(COMMANDS, key=str.lower):
                print(help_text(name))
        return 0
    status = 0
    for word in args:
        name = word.lstrip("-")
        if name not in COMMANDS:
            print(f"{'-usage' if usage_only else '-help'}: Unknown command: {word}", file=sys.stderr)
            status = DFS_USAGE_EXIT
            continue
        print(usage_line(name) if usage_only else help_text(name))
    return status


def run_dfs(ctx, args: list[str]) -> int:
    try:
        options, args = parse_generic_options(args)
    except UsageError as e:
        print(f"{e}\n{e.usage}", file=sys.stderr)
        return DFS_USAGE_EXIT
    ctx.write_options.update(options)
    if not args:
        print(all_usage(), file=sys.stderr)
        return DFS_USAGE_EXIT
    if args[0] in ("-help", "--help", "-usage"):
        return run_help(args[1:], usage_only=args[0] == "-usage")
    name = args[0][1:]
    if not args[0].startswith("-") or name not in COMMANDS:
        print(f"{args[0]}: Unknown command\n{all_usage()}", file=sys.stderr)
        return DFS_USAGE_EXIT
    command = COMMANDS[name]
    try:
        if command.raw:
            opts, rest = Options(), args[1:]
        else:
            opts, rest = parse_options(command, args[1:])
        opts["command"] = name           # aliases report under their own name (copyFromLocal: ...)
        return command.run(ctx, opts, rest)
    except UsageProblem as e:
        print(f"-{name}: {e}\n{usage_line(name)}", file=sys.stderr)
        return DFS_USAGE_EXIT
    except BrokenPipeError:
        raise
    except ShellError as e:
        print(f"{name}: {e}", file=sys.stderr)
    except (OSError, ValueError) as e:
        print(f"{name}: {error_message(e, None)}", file=sys.stderr)
    return 1
