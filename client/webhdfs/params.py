"""WebHDFS request parameters, checked as HDFS checks them: a bad value is an
IllegalArgumentException (400) naming the parameter; parameters an operation
does not use are ignored (as HDFS's Jersey resources do).

The path comes from the raw request line, decoded here once: bad percent-encoding
or UTF-8 and any '.', '..' or empty component are refused before anyone sees it.
"""
from __future__ import annotations

import re
from urllib.parse import unquote

from multidict import MultiDictProxy

from client.webhdfs.shapes import illegal_argument
from protos import errors, paths

PREFIX = "/webhdfs/v1"
USER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9._-]*[$]?$")   # HDFS's dfs.webhdfs.user.provider.user.pattern
MAX_LONG = (1 << 63) - 1


def request_path(raw_path: str) -> paths.CheckedPath:
    """The file system path of a request line's ``/webhdfs/v1/...?...``."""
    raw = raw_path.split("?", 1)[0]
    if not raw.startswith(PREFIX):
        raise illegal_argument(f"{raw[:200]!r} is not a WebHDFS path: expected {PREFIX}/...")
    raw = raw[len(PREFIX):] or "/"
    try:
        decoded = unquote(raw, errors="strict")
    except UnicodeDecodeError:
        raise errors.InvalidPath(f"invalid path {raw[:200]!r}: its percent-encoding is not UTF-8", raw) from None
    if "%" in raw and re.search(r"%(?![0-9A-Fa-f]{2})", raw):
        raise errors.InvalidPath(f"invalid path {raw[:200]!r}: bad percent-encoding", raw)
    return paths.check(decoded)


class Params:
    """The query of one request."""

    def __init__(self, query: MultiDictProxy):
        self.query = query

    def raw(self, name: str) -> str | None:
        """The value of ``name`` (case-insensitive, as HDFS); a parameter given twice must agree
        with itself (an HTTP client may repeat its session's parameters on a redirect)."""
        values = {v for k, v in self.query.items() if k.lower() == name.lower()}
        if len(values) > 1:
            raise illegal_argument(f"parameter {name} given with different values: {', '.join(sorted(values))}")
        return next(iter(values)) if values else None

    def op(self) -> str:
        value = self.raw("op")
        if not value:
            raise illegal_argument("the op parameter is missing, e.g. ?op=LISTSTATUS")
        return value.upper()

    def boolean(self, name: str, default: bool) -> bool:
        value = self.raw(name)
        if value is None or value == "":
            return default
        if value.lower() not in ("true", "false"):
            raise illegal_argument(f"Invalid value for webhdfs parameter \"{name}\": {value!r} is not true or false")
        return value.lower() == "true"

    def integer(self, name: str, default: int | None = None, low: int = 0, high: int = MAX_LONG,
                required: bool = False) -> int | None:
        value = self.raw(name)
        if value is None or value == "" or value.lower() == "null":
            if required:
                raise illegal_argument(f"the {name} parameter is missing")
            return default
        try:
            number = int(value, 10)
        except ValueError:
            raise illegal_argument(f"Invalid value for webhdfs parameter \"{name}\": {value[:64]!r} is not "
                                   f"an integer") from None
        if not low <= number <= high:
            raise illegal_argument(f"Invalid value for webhdfs parameter \"{name}\": {number} is outside "
                                   f"[{low}, {high}]")
        return number

    def permission(self, default: int | None) -> int | None:
        """An octal string such as 755 or 1777 (HDFS's PermissionParam)."""
        value = self.raw("permission")
        if value is None or value == "":
            return default
        if not re.fullmatch(r"[0-1]?[0-7]{1,3}", value):
            raise illegal_argument(f"Invalid value for webhdfs parameter \"permission\": {value[:64]!r} is not "
                                   f"an octal permission such as 755")
        return int(value, 8)

    def text(self, name: str, required: bool = False, default: str = "") -> str:
        value = self.raw(name)
        if not value:
            if required:
                raise illegal_argument(f"the {name} parameter is missing")
            return default
        return value

    def user_name(self, name: str) -> str | None:
        value = self.raw(name)
        if value is None:
            return None
        if not USER_NAME.match(value) or len(value) > 256:
            raise illegal_argument(f"Invalid value for webhdfs parameter \"{name}\": {value[:64]!r} is not a "
                                   f"user name")
        return value

    def destination(self) -> paths.CheckedPath:
        value = self.text("destination", required=True)
        return paths.check(value)
