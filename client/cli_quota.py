"""hfed dfsadmin -setQuota / -clrQuota / -setSpaceQuota / -clrSpaceQuota, as HDFS's DFSAdmin:

    -setQuota N DIR...          name quota: files + directories under DIR, DIR included
    -clrQuota DIR...
    -setSpaceQuota SIZE DIR...  space quota: bytes x replication (SIZE like 10g, 1t: binary units)
    -clrSpaceQuota DIR...

Superuser only. Each directory on its own: a failure prints `hfed: dfsadmin: -setQuota: reason`
and the others go on; exit code 1 if any failed, 2 on a usage error.
"""
from __future__ import annotations

import re
import sys

from client import cli_format as fmt
from client.cli_dfs import UsageError, absolute

COMMANDS = ("-setQuota", "-clrQuota", "-setSpaceQuota", "-clrSpaceQuota")
USAGE = {"-setQuota": "-setQuota <quota> <dirname>...<dirname>",
         "-clrQuota": "-clrQuota <dirname>...<dirname>",
         "-setSpaceQuota": "-setSpaceQuota <quota> <dirname>...<dirname>",
         "-clrSpaceQuota": "-clrSpaceQuota <dirname>...<dirname>"}
# HDFS's TraditionalBinaryPrefix: k, m, g, t, p, e (either case) are powers of 1024
_PREFIX = {"": 0, "k": 10, "m": 20, "g": 30, "t": 40, "p": 50, "e": 60}
_SIZE = re.compile(r"(\d+)([kmgtpe]?)", re.IGNORECASE)
MAX_QUOTA = (1 << 63) - 1


def parse_size(text: str, what: str) -> int:
    """A positive quota: digits, for a space quota with an optional binary suffix (10g, 1t)."""
    match = _SIZE.fullmatch(text.strip()) if what == "space" else re.fullmatch(r"\d+", text.strip())
    value = int(match.group(1)) << _PREFIX[match.group(2).lower()] if match and what == "space" else \
        int(text) if match else None
    if value is None or not 0 < value <= MAX_QUOTA:
        raise ValueError(f"{text!r} is not a valid {what} quota: a positive integer"
                         + (" with an optional k, m, g, t, p or e (binary) suffix" if what == "space" else ""))
    return value


def run(ctx, args: list[str]) -> int:
    command, rest = args[0], args[1:]
    setting = command.startswith("-set")
    if len(rest) < (2 if setting else 1):
        raise UsageError(f"dfsadmin: {command}: needs {'a quota and ' if setting else ''}at least one directory",
                         f"usage: hfed dfsadmin {USAGE[command]}")
    what = "space" if "Space" in command else "name"
    if setting:
        try:
            value = parse_size(rest[0], what)
        except ValueError as e:
            raise UsageError(f"dfsadmin: {command}: {e}", f"usage: hfed dfsadmin {USAGE[command]}") from e
        rest = rest[1:]
    else:
        value = -1
    failed = 0
    for directory in rest:
        try:
            if what == "space":
                ctx.fs.set_quota(absolute(directory), space_quota=value)
            else:
                ctx.fs.set_quota(absolute(directory), namespace_quota=value)
        except (OSError, ValueError) as e:
            print(f"hfed: dfsadmin: {command}: {fmt.describe(e)}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0
