"""Path rules every role applies at its edge.

A valid path is absolute and normalised: '/' or '/a/b' with no empty, '.' or
'..' components, no NUL, each name at most 255 bytes and the whole at most
4096 bytes (as in HDFS and POSIX).
"""
from __future__ import annotations

from protos.errors import InvalidPath

MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 4096


def validate(path: str) -> str:
    """Return ``path`` (a trailing '/' dropped) or raise InvalidPath naming it."""
    if not isinstance(path, str) or not path:
        raise InvalidPath(f"invalid path {path!r}: empty", path)
    if not path.startswith("/"):
        raise InvalidPath(f"invalid path {path!r}: not absolute", path)
    if "\x00" in path:
        raise InvalidPath(f"invalid path {path!r}: contains NUL", path)
    size = len(path.encode())
    if size > MAX_PATH_BYTES:
        raise InvalidPath(f"invalid path {path[:64]!r}...: longer than {MAX_PATH_BYTES} bytes", path)
    if path == "/":
        return path
    trimmed = path[:-1] if path.endswith("/") else path
    if size <= MAX_NAME_BYTES and "//" not in trimmed and "/." not in trimmed:
        return trimmed        # the common case: no name can be empty, '.', '..' or too long
    for name in trimmed[1:].split("/"):
        if name in ("", ".", ".."):
            raise InvalidPath(f"invalid path {path!r}: empty, '.' or '..' component", path)
        if len(name.encode()) > MAX_NAME_BYTES:
            raise InvalidPath(f"invalid path {path!r}: name longer than {MAX_NAME_BYTES} bytes", path)
    return trimmed


class CheckedPath(str):
    """A path that passed validate(): code handed one need not check it again."""
    __slots__ = ()


def check(path) -> CheckedPath:
    """validate() once, at the edge; a CheckedPath passes through as it is."""
    return path if isinstance(path, CheckedPath) else CheckedPath(validate(path))


def components(path: str) -> list[str]:
    """Names of a validated path: '/' -> [], '/a/b' -> ['a', 'b']."""
    return [] if path == "/" else path[1:].split("/")


def join(parent: str, name: str) -> str:
    return "/" + name if parent == "/" else parent + "/" + name


def parent_of(path: str) -> str:
    head = path.rsplit("/", 1)[0]
    return head or "/"


def is_within(path: str, ancestor: str) -> bool:
    """True when ``path`` is ``ancestor`` or below it."""
    return ancestor == "/" or path == ancestor or path.startswith(ancestor + "/")
