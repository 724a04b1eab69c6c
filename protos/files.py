"""Small file-system helpers every role shares: atomic replacement and directory fsync."""
from __future__ import annotations

import os


def fsync_dir(path) -> None:
    """Make a create/rename/unlink in directory ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_atomically(path, data: str | bytes, durable: bool = False, mode: int = 0o666) -> None:
    """Write ``data`` to ``path`` through a temp file and a rename, so readers see the
    old content or the new, never a part. ``durable``: fsync the file and its directory;
    ``mode``: its permissions (before the umask), e.g. 0o600 for credentials."""
    path = os.fspath(path)
    tmp = f"{path}.tmp"
    if os.path.exists(tmp):
        os.unlink(tmp)     # a crashed writer's leftover must not keep its permissions
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with open(fd, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
        if durable:
            f.flush()
            os.fsync(f.fileno())
    os.replace(tmp, path)
    if durable:
        fsync_dir(os.path.dirname(path) or ".")
