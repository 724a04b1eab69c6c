"""One error hierarchy for every role.

Each hfed error is also the Python built-in a caller expects (a missing path is
a FileNotFoundError, a refused cross-namespace rename an OSError with EXDEV), so
the namespace core raises it, the servicer sends it as a gRPC status plus the
``hfed-error`` trailing-metadata key, and the client raises the same class again.
"""
from __future__ import annotations

import errno

import grpc

ERROR_KEY = "hfed-error"


class HfedError(OSError):
    """Base of every hfed error. ``kind`` is its name on the wire."""

    kind = "error"
    errno_value = errno.EIO
    status = grpc.StatusCode.INTERNAL

    def __init__(self, message: str, path: str | None = None):
        super().__init__(self.errno_value, message)
        self.message = message
        self.path = path

    def __str__(self) -> str:
        return self.message


def _error(name, bases, kind, err, status):
    return type(name, (HfedError, *bases), {"kind": kind, "errno_value": err, "status": status})


NotFound = _error("NotFound", (FileNotFoundError,), "not-found", errno.ENOENT, grpc.StatusCode.NOT_FOUND)
AlreadyExists = _error("AlreadyExists", (FileExistsError,), "exists", errno.EEXIST, grpc.StatusCode.ALREADY_EXISTS)
NotADirectory = _error("NotADirectory", (NotADirectoryError,), "not-a-directory", errno.ENOTDIR,
                       grpc.StatusCode.FAILED_PRECONDITION)
IsADirectory = _error("IsADirectory", (IsADirectoryError,), "is-a-directory", errno.EISDIR,
                      grpc.StatusCode.FAILED_PRECONDITION)
AccessDenied = _error("AccessDenied", (PermissionError,), "permission", errno.EACCES,
                      grpc.StatusCode.PERMISSION_DENIED)
NotEmpty = _error("NotEmpty", (), "not-empty", errno.ENOTEMPTY, grpc.StatusCode.FAILED_PRECONDITION)
CrossNamespace = _error("CrossNamespace", (), "cross-namespace", errno.EXDEV, grpc.StatusCode.FAILED_PRECONDITION)
InvalidPath = _error("InvalidPath", (ValueError,), "invalid-path", errno.EINVAL, grpc.StatusCode.INVALID_ARGUMENT)
InvalidArgument = _error("InvalidArgument", (ValueError,), "invalid-argument", errno.EINVAL,
                         grpc.StatusCode.INVALID_ARGUMENT)
LeaseConflict = _error("LeaseConflict", (), "lease", errno.EBUSY, grpc.StatusCode.FAILED_PRECONDITION)
NoSpace = _error("NoSpace", (), "no-space", errno.ENOSPC, grpc.StatusCode.RESOURCE_EXHAUSTED)
BlockMissing = _error("BlockMissing", (), "block-missing", errno.EIO, grpc.StatusCode.NOT_FOUND)
ChecksumError = _error("ChecksumError", (), "checksum", errno.EIO, grpc.StatusCode.DATA_LOSS)
SafeMode = _error("SafeMode", (), "safe-mode", errno.EROFS, grpc.StatusCode.FAILED_PRECONDITION)
Unavailable = _error("Unavailable", (ConnectionError,), "unavailable", errno.EHOSTDOWN,
                     grpc.StatusCode.UNAVAILABLE)

_BY_KIND = {cls.kind: cls for cls in (NotFound, AlreadyExists, NotADirectory, IsADirectory, AccessDenied,
                                      NotEmpty, CrossNamespace, InvalidPath, InvalidArgument, LeaseConflict,
                                      NoSpace, BlockMissing, ChecksumError, SafeMode, Unavailable)}


async def abort_with(context, error: HfedError):
    """Server side: send ``error`` to the caller (grpc.aio context)."""
    context.set_trailing_metadata(((ERROR_KEY, error.kind),))
    await context.abort(error.status, error.message)


def from_rpc_error(err: grpc.RpcError, where: str) -> HfedError:
    """Client side: the hfed error an RpcError carries. ``where`` names the server
    (e.g. "namespace ns-a at 127.0.0.1:9000") for errors that did not come from it."""
    kind = None
    for key, value in (err.trailing_metadata() or ()):
        if key == ERROR_KEY:
            kind = value
    code = err.code()
    if kind in _BY_KIND:
        return _BY_KIND[kind](err.details())
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return Unavailable(f"{where} is unavailable: {err.details()}")
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return InvalidArgument(f"{where} rejected the request: {err.details()}")
    return HfedError(f"{where} failed: {code.name} {err.details()}")
