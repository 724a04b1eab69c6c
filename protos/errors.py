"""One error hierarchy for every role.

Each hfed error is also the Python built-in a caller expects (a missing path is
a FileNotFoundError, a refused cross-namespace rename an OSError with EXDEV), so
the namespace core raises it, a server sends its ``kind`` over whatever carries
the call, and the client raises the same class again (``from_kind``). Only the
RPC layer (protos/rpc_errors.py) knows how a kind travels as a gRPC status.
"""
from __future__ import annotations

import errno


class HfedError(OSError):
    """Base of every hfed error. ``kind`` is its name on the wire."""

    kind = "error"
    errno_value = errno.EIO

    def __init__(self, message: str, path: str | None = None):
        super().__init__(self.errno_value, message)
        self.message = message
        self.path = path

    def __str__(self) -> str:
        return self.message


def _error(name, bases, kind, err):
    return type(name, (HfedError, *bases), {"kind": kind, "errno_value": err})


NotFound = _error("NotFound", (FileNotFoundError,), "not-found", errno.ENOENT)
AlreadyExists = _error("AlreadyExists", (FileExistsError,), "exists", errno.EEXIST)
NotADirectory = _error("NotADirectory", (NotADirectoryError,), "not-a-directory", errno.ENOTDIR)
IsADirectory = _error("IsADirectory", (IsADirectoryError,), "is-a-directory", errno.EISDIR)
AccessDenied = _error("AccessDenied", (PermissionError,), "permission", errno.EACCES)
NotEmpty = _error("NotEmpty", (), "not-empty", errno.ENOTEMPTY)
CrossNamespace = _error("CrossNamespace", (), "cross-namespace", errno.EXDEV)
InvalidPath = _error("InvalidPath", (ValueError,), "invalid-path", errno.EINVAL)
InvalidArgument = _error("InvalidArgument", (ValueError,), "invalid-argument", errno.EINVAL)
LeaseConflict = _error("LeaseConflict", (), "lease", errno.EBUSY)
NoSpace = _error("NoSpace", (), "no-space", errno.ENOSPC)
BlockMissing = _error("BlockMissing", (), "block-missing", errno.EIO)
ChecksumError = _error("ChecksumError", (), "checksum", errno.EIO)
SafeMode = _error("SafeMode", (), "safe-mode", errno.EROFS)
Unavailable = _error("Unavailable", (ConnectionError,), "unavailable", errno.EHOSTDOWN)
# No valid credentials (no token, a forged, expired or cancelled one): who is calling is unknown.
Unauthenticated = _error("Unauthenticated", (PermissionError,), "unauthenticated", errno.EACCES)

# The path belongs to another namespace by this NameNode's mount table (a newer one than the
# caller's): the client fetches the cluster's table and sends the call where the path lives now.
MountMoved = _error("MountMoved", (), "mount-moved", errno.EXDEV)
# Try again shortly, the same call at the same place (a subtree being cut over to another namespace).
Retry = _error("Retry", (), "retry", errno.EAGAIN)
# The path is under a read-only mount point.
ReadOnlyMount = _error("ReadOnlyMount", (), "read-only", errno.EROFS)

# A directory's name or space quota would be exceeded (HDFS's NSQuotaExceededException /
# DSQuotaExceededException): the message names the directory, its quota and usage.
QuotaExceeded = _error("QuotaExceeded", (), "quota", errno.EDQUOT)

# kind -> class of every specific error (a plain HfedError is "error")
KINDS = {cls.kind: cls for cls in (NotFound, AlreadyExists, NotADirectory, IsADirectory, AccessDenied,
                                   NotEmpty, CrossNamespace, InvalidPath, InvalidArgument, LeaseConflict,
                                   NoSpace, BlockMissing, ChecksumError, SafeMode, Unavailable,
                                   Unauthenticated, MountMoved, Retry, ReadOnlyMount, QuotaExceeded)}


def from_kind(kind: str, message: str, path: str | None = None) -> HfedError:
    """The error a peer sent as ``kind``; a kind this version does not know is a plain HfedError."""
    return KINDS.get(kind, HfedError)(message, path)
