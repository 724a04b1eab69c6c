"""Each WebHDFS operation the gateway answers, as calls of the hfed client library.

Every function here runs in a worker thread (the client library is synchronous)
with the caller's filesystem (client/fs.py, routing by the cluster mount table)
and returns what the gateway sends: a JSON body, an empty reply, or a Redirect
to a DataNode for the operations whose bytes the DataNode moves (OPEN, CREATE,
APPEND, GETFILECHECKSUM), as HDFS's two-step flow.
"""
from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from typing import Callable, NamedTuple
from urllib.parse import quote, urlencode

from client.fs import HfedFileSystem
from client.webhdfs import shapes
from client.webhdfs.auth import Caller, decode_delegation, encode_delegation
from client.webhdfs.params import PREFIX, Params
from client.webhdfs.shapes import illegal_argument, unsupported
from protos import datatransfer as dt, errors, paths

LISTING_LIMIT = 1000          # entries per LISTSTATUS_BATCH reply (HDFS dfs.ls.limit)
STATS_FRESH = 1.0             # seconds a namespace's DataNode list is reused for picking redirect targets
UNREACHABLE_FOR = 10.0        # seconds a DataNode that refused a connection is not redirected to
PROBE_TIMEOUT = 0.5
MAX_REPLICATION = 512
FILE_PERMISSION, DIR_PERMISSION = 0o644, 0o755


@dataclass
class Request:
    method: str
    op: str
    path: paths.CheckedPath
    params: Params
    caller: Caller
    remote_host: str = ""      # the caller's address, to prefer a DataNode on its host


class Redirect(NamedTuple):
    url: str


class Created(NamedTuple):
    """201 (the DataNode's answer to CREATE)."""
    location: str


EMPTY = {}   # 200 with no JSON body worth the name (SETOWNER, SETTIMES, ...): HDFS sends nothing


class DatanodeChooser:
    """Where a redirect sends a caller: a DataNode holding the block (OPEN) or any live one,
    checked to accept connections, and one that refused lately avoided while others remain."""

    def __init__(self):
        self._lock = threading.Lock()
        self._stats: dict[str, tuple[float, list]] = {}      # nameservice -> (when, live DatanodeIds)
        self._unreachable: dict[str, float] = {}             # http address -> until when

    def live(self, fs: HfedFileSystem, nameservice: str) -> list:
        with self._lock:
            cached = self._stats.get(nameservice)
        if cached is not None and time.monotonic() - cached[0] < STATS_FRESH:
            return cached[1]
        stats = fs.session.namenode(nameservice).get_stats()
        live = [d.id for d in stats.datanodes if d.alive and d.id.http_address]
        with self._lock:
            self._stats[nameservice] = (time.monotonic(), live)
        return live

    def choose(self, candidates: list, remote_host: str, what: str, shuffle: bool) -> str:
        """The http address of the first reachable candidate (those on the caller's host first)."""
        candidates = list(candidates)
        if shuffle:
            random.shuffle(candidates)
        candidates.sort(key=lambda d: d.http_address.rsplit(":", 1)[0] != remote_host)
        now = time.monotonic()
        with self._lock:
            fresh = [d for d in candidates if self._unreachable.get(d.http_address, 0) < now]
        for dn in fresh + [d for d in candidates if d not in fresh]:
            if self._reachable(dn.http_address):
                return dn.http_address
        raise errors.Unavailable(f"{what}: no DataNode accepts connections (tried "
                                 f"{', '.join(d.host_label for d in candidates) or 'none: no live DataNode'})")

    def _reachable(self, address: str) -> bool:
        if dt.accepts_connections(address, PROBE_TIMEOUT):
            return True
        with self._lock:
            self._unreachable[address] = time.monotonic() + UNREACHABLE_FOR
        return False


def location(http_address: str, req: Request, nameservice: str, extra: dict) -> str:
    query = {"op": req.op, "namenoderpcaddress": nameservice, req.caller.auth_param[0]: req.caller.auth_param[1]}
    query.update({k: v for k, v in extra.items() if v is not None})
    return f"http://{http_address}{PREFIX}{quote(req.path, safe='/')}?{urlencode(query)}"


def redirect_to_block(fs, req: Request, chooser: DatanodeChooser, offset: int, extra: dict) -> Redirect:
    """OPEN and GETFILECHECKSUM: a DataNode with the replica of the block at ``offset``."""
    target = fs.session.resolve(req.path)
    located = fs.session.namenode(target.nameservice).get_block_locations(target.path, offset, 1)
    holders = [lb for lb in located.blocks if lb.offset <= offset] or list(located.blocks)
    candidates = [d for d in holders[-1].locations if d.http_address] if holders else []
    if not candidates:     # empty, or bytes kept by the NameNode: any DataNode reads it through the client
        candidates = chooser.live(fs, target.nameservice)
    address = chooser.choose(candidates, req.remote_host, f"{req.op} {req.path}", shuffle=False)
    return Redirect(location(address, req, target.nameservice, extra))


def redirect_to_any(fs, req: Request, chooser: DatanodeChooser, extra: dict) -> Redirect:
    """CREATE and APPEND: a live DataNode of the path's namespace (the caller's host first, else random)."""
    target = fs.session.resolve(req.path)
    if fs.mounts.is_protected(target.path):
        raise errors.IsADirectory(f"cannot write {target.path}: it is a mount point or holds one", target.path)
    live = chooser.live(fs, target.nameservice)
    address = chooser.choose(live, req.remote_host, f"{req.op} {req.path}", shuffle=True)
    return Redirect(location(address, req, target.nameservice, extra))


# --------------------------------------------------------------------- GET

def op_open(fs, req, chooser):
    p = req.params
    offset = p.integer("offset", 0)
    length = p.integer("length", None)
    buffersize = p.integer("buffersize", None, low=1, high=1 << 31)
    return redirect_to_block(fs, req, chooser, offset, {"offset": offset, "length": length,
                                                        "buffersize": buffersize})


def op_getfilechecksum(fs, req, chooser):
    return redirect_to_block(fs, req, chooser, 0, {})


def op_getfilestatus(fs, req, chooser):
    return {"FileStatus": shapes.file_status(fs.info(req.path))}


def _listing(fs, req) -> list[dict]:
    info = fs.info(req.path)
    if info["type"] != "directory":      # HDFS lists a file as itself, with an empty suffix
        return [dict(info, name="")]
    return fs.ls(req.path, detail=True)


def op_liststatus(fs, req, chooser):
    listing = _listing(fs, req)
    if len(listing) == 1 and listing[0]["name"] == "":
        return {"FileStatuses": {"FileStatus": [shapes.file_status(listing[0])]}}
    return shapes.file_statuses(listing)


def op_liststatus_batch(fs, req, chooser):
    start_after = req.params.text("startAfter")
    listing = _listing(fs, req)
    if len(listing) == 1 and listing[0]["name"] == "":
        return {"DirectoryListing": {"partialListing": {"FileStatuses": {"FileStatus": [
            shapes.file_status(listing[0])]}}, "remainingEntries": 0}}
    names = [shapes.name_of(i) for i in listing]
    first = next((i for i, name in enumerate(names) if name > start_after), len(names)) if start_after else 0
    page = listing[first:first + LISTING_LIMIT]
    return shapes.directory_listing(page, len(listing) - first - len(page))


def op_getcontentsummary(fs, req, chooser):
    return shapes.content_summary(fs.content_summary(req.path))


def op_gethomedirectory(fs, req, chooser):
    return shapes.path(f"/user/{req.caller.user}")


def op_gettrashroot(fs, req, chooser):
    return shapes.path(f"/user/{req.caller.user}/.Trash")


def op_getdelegationtoken(fs, req, chooser):
    """One delegation token of each namespace, joined (auth.py); {"Token": null} with security
    off, as HDFS. The NameNodes hand them only to a caller holding a user token."""
    if not fs.session.cfg.security.tokens:
        return {"Token": None}
    renewer = req.params.user_name("renewer") or ""
    by_ns = {ns: fs.session.namenode(ns).get_delegation_token(renewer).token for ns in fs.session.nameservices()}
    return {"Token": {"urlString": encode_delegation(by_ns)}}


# --------------------------------------------------------------------- PUT

def op_create(fs, req, chooser):
    p = req.params
    extra = {"overwrite": str(p.boolean("overwrite", False)).lower(),
             "replication": p.integer("replication", None, 1, MAX_REPLICATION),
             "blocksize": p.integer("blocksize", None, 1),
             "permission": format(p.permission(FILE_PERMISSION), "o"),
             "buffersize": p.integer("buffersize", None, 1, 1 << 31)}
    return redirect_to_any(fs, req, chooser, extra)


def op_mkdirs(fs, req, chooser):
    fs.mkdir(req.path, create_parents=True, permission=req.params.permission(DIR_PERMISSION))
    return shapes.boolean(True)


def op_rename(fs, req, chooser):
    """HDFS's (old) rename: false, not an error, when the source is missing or the target exists."""
    try:
        fs.mv(req.path, req.params.destination())
    except (errors.NotFound, errors.AlreadyExists):
        return shapes.boolean(False)
    return shapes.boolean(True)


def op_setpermission(fs, req, chooser):
    fs.chmod(req.path, req.params.permission(DIR_PERMISSION))
    return EMPTY


def op_setowner(fs, req, chooser):
    owner, group = req.params.text("owner"), req.params.text("group")
    if not owner and not group:
        raise illegal_argument("SETOWNER: give owner, group or both")
    fs.chown(req.path, owner or None, group or None)
    return EMPTY


def op_setreplication(fs, req, chooser):
    replication = req.params.integer("replication", None, 1, MAX_REPLICATION, required=True)
    if fs.info(req.path)["type"] == "directory":
        return shapes.boolean(False)      # HDFS: a directory has no replication to set
    fs.setrep(req.path, replication)
    return shapes.boolean(True)


def op_settimes(fs, req, chooser):
    mtime = req.params.integer("modificationtime", -1, low=-1)
    atime = req.params.integer("accesstime", -1, low=-1)
    fs.set_times(req.path, None if mtime == -1 else mtime / 1000, None if atime == -1 else atime / 1000)
    return EMPTY


def _token_param(req) -> dict[str, str]:
    _owner, by_ns = decode_delegation(req.params.text("token", required=True))
    return by_ns


def op_renewdelegationtoken(fs, req, chooser):
    expiries = [fs.session.namenode(ns).renew_delegation_token(token)
                for ns, token in sorted(_token_param(req).items()) if ns != "*"]
    if not expiries:
        raise illegal_argument("RENEWDELEGATIONTOKEN: token= holds no delegation token (a user token is not renewed)")
    return {"long": min(expiries)}


def op_canceldelegationtoken(fs, req, chooser):
    for ns, token in sorted(_token_param(req).items()):
        if ns != "*":
            fs.session.namenode(ns).cancel_delegation_token(token)
    return EMPTY


# -------------------------------------------------------------- POST, DELETE

def op_append(fs, req, chooser):
    if fs.info(req.path)["type"] == "directory":      # FileNotFoundException for a missing file, as HDFS
        raise errors.IsADirectory(f"cannot append to {req.path}: it is a directory", req.path)
    buffersize = req.params.integer("buffersize", None, 1, 1 << 31)
    return redirect_to_any(fs, req, chooser, {"buffersize": buffersize})


def op_delete(fs, req, chooser):
    try:
        fs.rm(req.path, recursive=req.params.boolean("recursive", False))
    except errors.NotFound:
        return shapes.boolean(False)
    return shapes.boolean(True)


Operation = Callable[[HfedFileSystem, Request, DatanodeChooser], object]
OPERATIONS: dict[str, tuple[str, Operation]] = {
    "OPEN": ("GET", op_open), "GETFILESTATUS": ("GET", op_getfilestatus), "LISTSTATUS": ("GET", op_liststatus),
    "LISTSTATUS_BATCH": ("GET", op_liststatus_batch), "GETCONTENTSUMMARY": ("GET", op_getcontentsummary),
    "GETFILECHECKSUM": ("GET", op_getfilechecksum), "GETHOMEDIRECTORY": ("GET", op_gethomedirectory),
    "GETTRASHROOT": ("GET", op_gettrashroot), "GETDELEGATIONTOKEN": ("GET", op_getdelegationtoken),
    "CREATE": ("PUT", op_create), "MKDIRS": ("PUT", op_mkdirs), "RENAME": ("PUT", op_rename),
    "SETPERMISSION": ("PUT", op_setpermission), "SETOWNER": ("PUT", op_setowner),
    "SETREPLICATION": ("PUT", op_setreplication), "SETTIMES": ("PUT", op_settimes),
    "RENEWDELEGATIONTOKEN": ("PUT", op_renewdelegationtoken),
    "CANCELDELEGATIONTOKEN": ("PUT", op_canceldelegationtoken),
    "APPEND": ("POST", op_append), "DELETE": ("DELETE", op_delete),
}
# Operations of HDFS's WebHDFS that hfed does not have (no ACLs, xattrs, snapshots, quotas by
# WebHDFS, storage policies, symlinks, concat or truncate): UnsupportedOperationException.
NOT_SUPPORTED = {
    "GETQUOTAUSAGE", "GETXATTRS", "LISTXATTRS", "CHECKACCESS", "GETFILEBLOCKLOCATIONS", "GETSERVERDEFAULTS",
    "GETACLSTATUS", "GETALLSTORAGEPOLICY", "GETSTORAGEPOLICY", "GETSNAPSHOTDIFF", "GETSNAPSHOTTABLEDIRECTORYLIST",
    "GETSNAPSHOTLIST", "GETECPOLICY", "GETSTATUS", "GETLINKTARGET", "GETFILELINKSTATUS", "GET_BLOCK_LOCATIONS",
    "SETQUOTA", "SETQUOTABYSTORAGETYPE", "MODIFYACLENTRIES", "REMOVEACLENTRIES", "REMOVEDEFAULTACL", "REMOVEACL",
    "SETACL", "SETXATTR", "REMOVEXATTR", "CREATESYMLINK", "CREATESNAPSHOT", "RENAMESNAPSHOT", "ALLOWSNAPSHOT",
    "DISALLOWSNAPSHOT", "SETSTORAGEPOLICY", "SATISFYSTORAGEPOLICY", "ENABLEECPOLICY", "DISABLEECPOLICY",
    "SETECPOLICY", "CONCAT", "TRUNCATE", "UNSETSTORAGEPOLICY", "UNSETECPOLICY", "DELETESNAPSHOT",
}


def lookup(op: str, method: str) -> Operation:
    """The function of ``op`` sent with ``method``; 400 for an unknown op, a wrong method, or an op
    hfed does not have."""
    if op in OPERATIONS:
        wanted, function = OPERATIONS[op]
        if method != wanted and not (method == "HEAD" and wanted == "GET"):
            raise illegal_argument(f"op={op} is a {wanted} operation, not {method}")
        return function
    if op in NOT_SUPPORTED:
        raise unsupported(f"op={op} is not supported by hfed's WebHDFS")
    raise illegal_argument(f"Invalid value for webhdfs parameter \"op\": unknown operation {op[:64]!r}")
