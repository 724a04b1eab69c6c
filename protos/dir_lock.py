"""The in_use.lock that keeps a second daemon off a directory (a NameNode's meta_dir,
a DataNode's data_dir), as HDFS's Storage.tryLock: an exclusive flock held for the
life of the process, the file naming its holder as "pid@host".

The kernel drops a flock when its holder dies, however it died (kill -9 too), so a
lock file left behind by a dead daemon is simply taken over: only a live holder refuses.
"""
from __future__ import annotations

import fcntl
import logging
import os
import socket
from pathlib import Path

from protos.errors import HfedError

log = logging.getLogger(__name__)
LOCK = "in_use.lock"


def holder_text(content: str) -> str:
    """"pid 123 on host h" from "123@h" (a lock written before hosts were recorded holds just the pid)."""
    content = content.strip()
    if not content:
        return "unknown pid"
    pid, at, host = content.partition("@")
    return f"pid {pid} on host {host}" if at else f"pid {pid}"


class DirLock:
    """Held from ``acquire`` until ``release`` (or the process ends)."""

    def __init__(self, directory, role: str):
        self.directory = Path(directory)
        self.path = self.directory / LOCK
        self.role = role              # "NameNode", "DataNode host-1": named in the refusal
        self._file = None

    @property
    def held(self) -> bool:
        return self._file is not None

    def acquire(self) -> "DirLock":
        """Take the lock; HfedError naming the directory and the live holder if another process has it."""
        if self._file is not None:
            return self
        self.directory.mkdir(parents=True, exist_ok=True)
        f = open(self.path, "a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = holder_text(f.read())
            f.close()
            raise HfedError(f"{self.directory} is in use by another {self.role.split()[0]} ({holder}, lock "
                            f"{self.path}); refusing to start {self.role} (stop that one first)") from None
        f.seek(0)
        previous = f.read().strip()
        if previous:      # its holder is gone (the kernel released the flock): a stale lock
            log.info("%s: taking over the lock %s left by %s, no longer running", self.role, self.path,
                     holder_text(previous))
        f.truncate(0)
        f.write(f"{os.getpid()}@{socket.gethostname()}\n")
        f.flush()
        self._file = f
        return self

    def release(self) -> None:
        """Unlock and empty the file: the next holder finds no stale name in it."""
        if self._file is None:
            return
        try:
            self._file.truncate(0)
            self._file.flush()
        except OSError:
            pass           # the lock goes with the close all the same
        self._file.close()
        self._file = None
