"""How `hfed dfs` prints, in HDFS's shapes: ls rows, -stat formats, -count columns, and
the parsing of what users type for modes (chmod u+x,g-w) and times (touch -t)."""
from __future__ import annotations

import calendar
import re
import time

from client.cli_format import human_size, is_dir, permission_string, printable
from client.shell_core import UsageProblem


def size_text(n: int, human: bool) -> str:
    return human_size(n) if human else str(int(n))


def ls_time(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(seconds))


def quoted_name(name: str, question_marks: bool) -> str:
    """-q: non-printable characters as '?' (as HDFS); otherwise hfed's visible escapes."""
    if question_marks:
        return "".join(c if c.isprintable() else "?" for c in name)
    return printable(name)


class LsFormatter:
    """HDFS's ls rows: ``perm repl owner group size date path``. Column widths only grow
    (replication >= 3, size >= 10 characters), so a recursive listing streams without
    being held and still lines up within each directory."""

    def __init__(self, human=False, atime=False, path_only=False, question_marks=False):
        self.human, self.atime, self.path_only, self.q = human, atime, path_only, question_marks
        self.repl, self.size, self.owner, self.group = 3, 10, 0, 0

    def widen(self, entries: list[dict]) -> None:
        for e in entries:
            self.repl = max(self.repl, len(self._repl(e)))
            self.size = max(self.size, len(size_text(e.get("size") or 0, self.human)))
            self.owner = max(self.owner, len(printable(e.get("owner") or "")))
            self.group = max(self.group, len(printable(e.get("group") or "")))

    @staticmethod
    def _repl(e: dict) -> str:
        return "-" if is_dir(e) else str(e.get("replication") or 0)

    def line(self, e: dict, shown: str) -> str:
        name = quoted_name(shown, self.q)
        if self.path_only:
            return name
        perm = permission_string(int(e.get("permission") or 0), is_dir(e))
        when = ls_time(float(e.get("atime" if self.atime else "mtime") or 0))
        owner, group = printable(e.get("owner") or ""), printable(e.get("group") or "")
        owner = f"{owner:<{self.owner}} " if self.owner else owner
        group = f"{group:<{self.group}} " if self.group else group
        size = size_text(e.get("size") or 0, self.human)
        return f"{perm} {self._repl(e):>{self.repl}} {owner}{group}{size:>{self.size}} {when} {name}"


def ls_order(entries: list[dict], by_time=False, by_size=False, reverse=False, atime=False) -> list[dict]:
    """HDFS's orders: name; -t newest first; -S largest first (ties by name); -r reversed."""
    ordered = sorted(entries, key=lambda e: e["name"])
    if by_time:
        key = "atime" if atime else "mtime"
        ordered.sort(key=lambda e: -float(e.get(key) or 0))
    elif by_size:
        ordered.sort(key=lambda e: -int(e.get("size") or 0))
    return ordered[::-1] if reverse else ordered


# ------------------------------------------------------------------- -stat

STAT_FORMATS = ("%a octal mode, %A symbolic mode, %b length, %F type, %g group, %n name, %o block size, "
                "%r replication, %u owner, %x access time, %X access time in ms, %y modification time, "
                "%Y modification time in ms (times in UTC, yyyy-MM-dd HH:mm:ss)")


def stat_line(form: str, entry: dict) -> str:
    """One -stat line; an unknown %c is printed as it is (as HDFS); \\n and \\t are expanded."""
    mode = int(entry.get("permission") or 0)
    mtime, atime = float(entry.get("mtime") or 0), float(entry.get("atime") or 0)
    name = entry["name"].rstrip("/").rsplit("/", 1)[-1] or "/"
    values = {
        "a": f"{mode & 0o7777:o}",
        "A": permission_string(mode, is_dir(entry))[1:],
        "b": str(int(entry.get("size") or 0)),
        "F": "directory" if is_dir(entry) else "regular file",
        "g": printable(entry.get("group") or ""),
        "n": printable(name),
        "o": str(int(entry.get("block_size") or 0)),
        "r": "0" if is_dir(entry) else str(int(entry.get("replication") or 0)),
        "u": printable(entry.get("owner") or ""),
        "x": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(atime)),
        "X": str(int(atime * 1000)),
        "y": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(mtime)),
        "Y": str(int(mtime * 1000)),
        "%": "%",
    }
    out, i = [], 0
    while i < len(form):
        ch = form[i]
        if ch == "%" and i + 1 < len(form) and form[i + 1] in values:
            out.append(values[form[i + 1]])
            i += 2
        elif ch == "\\" and i + 1 < len(form) and form[i + 1] in "nt":
            out.append("\n" if form[i + 1] == "n" else "\t")
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


# ------------------------------------------------------------------ -count

COUNT_HEADER = f"{'DIR_COUNT':>12} {'FILE_COUNT':>12} {'CONTENT_SIZE':>18} "
QUOTA_HEADER = f"{'QUOTA':>12} {'REM_QUOTA':>15} {'SPACE_QUOTA':>15} {'REM_SPACE_QUOTA':>15} "


def count_header(quotas: bool, quotas_only: bool) -> str:
    if quotas_only:
        return QUOTA_HEADER + "PATHNAME"
    return (QUOTA_HEADER if quotas else "") + COUNT_HEADER + "PATHNAME"


def count_line(summary: dict, path: str, human=False, quotas=False, quotas_only=False) -> str:
    """HDFS's -count row; quota columns say none/inf where no quota is set (a quota <= 0)."""
    counts = (f"{summary['directory_count']:>12} {summary['file_count']:>12} "
              f"{size_text(summary['length'], human):>18} ")
    if not (quotas or quotas_only):
        return counts + printable(path)
    names, space = int(summary.get("quota", -1)), int(summary.get("space_quota", -1))
    used_names = summary["directory_count"] + summary["file_count"]
    q, rq = ((size_text(names, human), size_text(names - used_names, human)) if names > 0 else ("none", "inf"))
    s, rs = ((size_text(space, human), size_text(space - summary["space_consumed"], human))
             if space > 0 else ("none", "inf"))
    prefix = f"{q:>12} {rq:>15} {s:>15} {rs:>15} "
    return prefix + ("" if quotas_only else counts) + printable(path)


# ------------------------------------------------------------------ -chmod

OCTAL = re.compile(r"^[0-7]{1,4}$")
SYMBOLIC = re.compile(r"([ugoa]*)([+=-])([rwxXt]*)")
WHO_BITS = {"u": 0o4700, "g": 0o2070, "o": 0o1007}     # the bits each class may touch (setuid/gid/sticky too)
PERM_BITS = {"r": 0o444, "w": 0o222, "x": 0o111}


def parse_mode(text: str):
    """An octal or symbolic mode (u+x,g-w / a=rw / +t / go=) as a function of (old mode,
    is directory) -> new mode; UsageProblem with HDFS's message if it is neither."""
    if OCTAL.match(text):
        value = int(text, 8)
        return lambda old, is_directory: value
    clauses = []
    for clause in text.split(","):
        match = SYMBOLIC.fullmatch(clause.strip())
        if not match:
            raise UsageProblem(f"chmod : mode '{text}' does not match the expected pattern.")
        clauses.append(match.groups())

    def apply(old: int, is_directory: bool) -> int:
        mode = old & 0o7777
        for who, op, perms in clauses:
            mask = 0
            for w in who.replace("a", "ugo") or "ugo":
                mask |= WHO_BITS[w] & ~0o7000
            bits = 0
            for p in perms:
                if p in PERM_BITS:
                    bits |= PERM_BITS[p]
                elif p == "X" and (is_directory or old & 0o111):
                    bits |= 0o111
            bits &= mask
            if "t" in perms and (not who or "o" in who or "a" in who):
                bits |= 0o1000
            touched = mask | (0o1000 if (not who or "o" in who or "a" in who) else 0)
            if op == "+":
                mode |= bits
            elif op == "-":
                mode &= ~bits
            else:
                mode = (mode & ~touched) | bits
        return mode
    return apply


# ------------------------------------------------------------------ -touch

def parse_touch_time(text: str) -> float:
    """-touch -t yyyyMMdd:HHmmss (UTC) -> seconds since the epoch."""
    try:
        return float(calendar.timegm(time.strptime(text, "%Y%m%d:%H%M%S")))
    except ValueError:
        raise UsageProblem(f"Unable to parse the specified timestamp {text}, expected format yyyyMMdd:HHmmss") \
            from None
