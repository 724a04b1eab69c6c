"""The JSON WebHDFS speaks: FileStatus, FileStatuses, ContentSummary, the small
wrappers, and RemoteException with the HTTP status each exception goes with.

Errors follow HDFS's WebHDFS ExceptionHandler: SecurityException 401,
FileNotFoundException 404, IllegalArgument and UnsupportedOperation 400, any
other IOException (access refused, file exists, directory not empty, a
namespace down...) 403, anything else 500. hfed's errors (protos/errors.py)
map by kind to the Java exception HDFS would throw for the same case.
"""
from __future__ import annotations

# kind -> (exception, its Java package); status by the rules above
_JAVA = {
    "not-found": ("FileNotFoundException", "java.io"),
    "exists": ("FileAlreadyExistsException", "org.apache.hadoop.fs"),
    "not-a-directory": ("ParentNotDirectoryException", "org.apache.hadoop.fs"),
    "is-a-directory": ("FileNotFoundException", "java.io"),          # HDFS: "Path is not a file"
    "permission": ("AccessControlException", "org.apache.hadoop.security"),
    "unauthenticated": ("SecurityException", "java.lang"),
    "not-empty": ("PathIsNotEmptyDirectoryException", "org.apache.hadoop.fs"),
    "cross-namespace": ("IOException", "java.io"),                   # ViewFs: renames across mount points
    "invalid-path": ("InvalidPathException", "org.apache.hadoop.fs"),
    "invalid-argument": ("IllegalArgumentException", "java.lang"),
    "lease": ("AlreadyBeingCreatedException", "org.apache.hadoop.hdfs.protocol"),
    "no-space": ("IOException", "java.io"),
    "block-missing": ("BlockMissingException", "org.apache.hadoop.hdfs"),
    "checksum": ("ChecksumException", "org.apache.hadoop.fs"),
    "safe-mode": ("SafeModeException", "org.apache.hadoop.hdfs.server.namenode"),
    "unavailable": ("NoNamenodesAvailableException", "org.apache.hadoop.hdfs.server.federation.router"),
    "mount-moved": ("RetriableException", "org.apache.hadoop.ipc"),
    "retry": ("RetriableException", "org.apache.hadoop.ipc"),
    "read-only": ("AccessControlException", "org.apache.hadoop.security"),
    "quota": ("QuotaExceededException", "org.apache.hadoop.hdfs.protocol"),   # NS/DS quota: its base class
}
_STATUS = {"SecurityException": 401, "FileNotFoundException": 404, "IllegalArgumentException": 400,
           "InvalidPathException": 400, "UnsupportedOperationException": 400, "AuthorizationException": 403,
           "RuntimeException": 500}
_PACKAGE = {"IllegalArgumentException": "java.lang", "UnsupportedOperationException": "java.lang",
            "SecurityException": "java.lang", "RuntimeException": "java.lang", "IOException": "java.io",
            "AuthorizationException": "org.apache.hadoop.security.authorize"}


class WebHdfsError(Exception):
    """A refusal of the gateway itself (a bad parameter, an unknown op, no credentials)."""

    def __init__(self, exception: str, message: str, status: int | None = None):
        super().__init__(message)
        self.exception = exception
        self.message = message
        self.status = status or _STATUS.get(exception, 403)


def illegal_argument(message: str) -> WebHdfsError:
    return WebHdfsError("IllegalArgumentException", message)


def unsupported(message: str) -> WebHdfsError:
    return WebHdfsError("UnsupportedOperationException", message)


def security(message: str) -> WebHdfsError:
    return WebHdfsError("SecurityException", message)


def remote_exception(error: BaseException, op: str = "") -> tuple[int, dict]:
    """(HTTP status, {"RemoteException": ...}) for ``error``."""
    if isinstance(error, WebHdfsError):
        name, package, message = error.exception, _PACKAGE.get(error.exception, "java.lang"), error.message
        status = error.status
    else:
        name, package = _java_name(error, op)
        message = str(error) or type(error).__name__
        if name == "FileNotFoundException" and "does not exist" not in message:
            message = f"File does not exist: {message}"    # HDFS's wording, which clients look for
        status = _STATUS.get(name, 403 if isinstance(error, OSError) else 500)
    return status, {"RemoteException": {"exception": name, "javaClassName": f"{package}.{name}",
                                        "message": message}}


def _java_name(error: BaseException, op: str) -> tuple[str, str]:
    kind = getattr(error, "kind", None)
    if kind == "is-a-directory" and op == "CREATE":
        return "FileAlreadyExistsException", "org.apache.hadoop.fs"   # HDFS: "already exists as a directory"
    if kind in _JAVA:
        return _JAVA[kind]
    for builtin, java in ((FileNotFoundError, _JAVA["not-found"]), (FileExistsError, _JAVA["exists"]),
                          (PermissionError, _JAVA["permission"]), (NotADirectoryError, _JAVA["not-a-directory"]),
                          (IsADirectoryError, _JAVA["is-a-directory"]), (ConnectionError, _JAVA["unavailable"]),
                          (ValueError, _JAVA["invalid-argument"])):
        if isinstance(error, builtin):
            return java
    if isinstance(error, OSError):       # errors.HfedError too
        return "IOException", "java.io"
    return "RuntimeException", "java.lang"


# ------------------------------------------------------------------ file shapes

def file_status(info: dict, suffix: str = "") -> dict:
    """A FileStatus of an info dict of client/fs.py (client/file_info.py)."""
    is_dir = info["type"] == "directory"
    return {
        "accessTime": round(info.get("atime", 0.0) * 1000),
        "blockSize": 0 if is_dir else int(info.get("block_size", 0)),
        "childrenNum": int(info.get("children_count", 0)) if is_dir else 0,
        "fileId": int(info.get("file_id", 0)),
        "group": info.get("group", ""),
        "length": 0 if is_dir else int(info.get("size", 0)),
        "modificationTime": round(info.get("mtime", 0.0) * 1000),
        "owner": info.get("owner", ""),
        "pathSuffix": suffix,
        "permission": format(int(info.get("permission", 0)) & 0o7777, "o"),
        "replication": 0 if is_dir else int(info.get("replication", 0)),
        "storagePolicy": 0,
        "type": "DIRECTORY" if is_dir else "FILE",
    }


def name_of(info: dict) -> str:
    return info["name"].rstrip("/").rsplit("/", 1)[-1]


def file_statuses(infos: list[dict]) -> dict:
    return {"FileStatuses": {"FileStatus": [file_status(i, name_of(i)) for i in infos]}}


def directory_listing(infos: list[dict], remaining: int) -> dict:
    return {"DirectoryListing": {"partialListing": file_statuses(infos), "remainingEntries": remaining}}


def content_summary(summary: dict) -> dict:
    """Quotas of the directory itself; -1 (none), as HDFS shows an unset quota."""
    return {"ContentSummary": {"directoryCount": summary["directory_count"], "fileCount": summary["file_count"],
                               "length": summary["length"], "quota": summary.get("quota", -1),
                               "spaceConsumed": summary["space_consumed"],
                               "spaceQuota": summary.get("space_quota", -1), "typeQuota": {}}}


def boolean(value: bool) -> dict:
    return {"boolean": bool(value)}


def path(value: str) -> dict:
    return {"Path": value}


def file_checksum(algorithm: str, digest: bytes) -> dict:
    return {"FileChecksum": {"algorithm": algorithm, "bytes": digest.hex(), "length": len(digest)}}


def location(url: str) -> dict:
    return {"Location": url}

