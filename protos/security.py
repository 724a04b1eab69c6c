"""Who may do what: signed tokens, the cluster secret, and where a client finds its credentials.

HDFS in secure mode proves identity with Kerberos and hands out delegation and
block access tokens. hfed keeps the tokens and replaces Kerberos with one
cluster secret (32 random bytes, 0600, created by the first daemon or
`hfed cluster up`): whoever can read it is the cluster's owner.

A token is ``hfed1.<identifier>.<mac>``: the identifier is compact JSON
(base64url), the mac its HMAC-SHA256 under a key that depends on the kind:

    kind  who holds it       signed with                         checked by
    user  a user             HMAC(secret, "user")                every NameNode
    dt    a job's workers    HMAC(secret, "delegation:" + ns)    that NameNode (it also keeps
                                                                 renew/cancel state)
    dn    a DataNode         HMAC(secret, "datanode")            every NameNode (DatanodeProtocol)
    blk   a client/DataNode  a block key the NameNode rolls      the DataNodes of that pool

Block tokens name user, block pool, block id, generation stamp, access modes
and expiry, so a token for one block cannot touch another, nor the same block
under a generation stamp the NameNode never issued.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from pathlib import Path

from protos import errors
from protos.files import replace_atomically

PREFIX = "hfed1"
TOKEN_KEY = "hfed-token"          # gRPC metadata key carrying the caller's token
ENV_TOKEN_FILE = "HFED_TOKEN_FILE"  # a credentials file (delegation tokens handed to workers)
MAX_TOKEN = 4096                  # bytes: anything longer is refused unread

# Block access modes (HDFS: READ, WRITE, COPY, REPLACE).
READ, WRITE, COPY = "r", "w", "c"


def now_ms() -> int:
    return int(time.time() * 1000)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def derive(secret: bytes, label: str) -> bytes:
    """A key for one purpose from the cluster secret (a leaked derived key reveals nothing else)."""
    return hmac.new(secret, label.encode(), hashlib.sha256).digest()


def sign(key: bytes, fields: dict) -> str:
    payload = _b64(json.dumps(fields, separators=(",", ":"), sort_keys=True).encode())
    mac = hmac.new(key, payload.encode(), hashlib.sha256).digest()
    return f"{PREFIX}.{payload}.{_b64(mac)}"


def decode(token: str) -> dict:
    """The identifier of ``token``, unverified (to find its key, or to print it)."""
    try:
        if len(token) > MAX_TOKEN:
            raise ValueError(f"{len(token)} bytes long")
        prefix, payload, _mac = token.split(".")
        if prefix != PREFIX:
            raise ValueError(f"unknown format {prefix[:16]!r}")
        fields = json.loads(_unb64(payload))
        if not isinstance(fields, dict) or not isinstance(fields.get("k"), str):
            raise ValueError("no kind")
        return fields
    except (ValueError, TypeError, UnicodeDecodeError) as e:
        raise errors.Unauthenticated(f"malformed token: {e}") from None


def verify(token: str, key: bytes | None, kind: str, at_ms: int | None = None) -> dict:
    """The identifier of ``token`` once its mac, kind and expiry check out; else Unauthenticated."""
    fields = decode(token)
    if fields["k"] != kind:
        raise errors.Unauthenticated(f"a {fields['k']} token is not accepted here (needs a {kind} token)")
    if key is None:
        raise errors.Unauthenticated(f"{kind} token signed with an unknown key (rolled out of use?)")
    _prefix, payload, mac = token.split(".")
    expected = hmac.new(key, payload.encode(), hashlib.sha256).digest()
    try:
        given = _unb64(mac)
    except ValueError:
        given = b""
    if not hmac.compare_digest(expected, given):
        raise errors.Unauthenticated(f"{kind} token has a bad signature (forged, or from another cluster)")
    expiry = fields.get("x", 0)
    if expiry and (at_ms if at_ms is not None else now_ms()) > expiry:
        raise errors.Unauthenticated(f"{kind} token of {fields.get('u') or fields.get('o')!r} expired at "
                                     f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(expiry / 1000))}")
    return fields


# ------------------------------------------------------------------ the cluster secret

def create_private_file(path: Path, content: bytes) -> bool:
    """Write ``path`` (0600, its directory 0700) unless it exists; True if this call created it.
    Linking a finished temporary file makes the first of several racing daemons win whole."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.exists():
        return False
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, content)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)


def ensure_secret(path: Path) -> bytes:
    create_private_file(path, secrets.token_hex(32).encode() + b"\n")
    return read_secret(path)


def read_secret(path: Path) -> bytes:
    raw = Path(path).read_bytes().strip()
    if len(raw) < 32:
        raise errors.InvalidArgument(f"{path}: cluster secret too short ({len(raw)} bytes)")
    return raw


# ------------------------------------------------------------------ issuing

def user_token(secret: bytes, user: str, lifetime_s: float) -> str:
    issued = now_ms()
    return sign(derive(secret, "user"), {"k": "user", "u": user, "i": issued,
                                         "x": issued + int(lifetime_s * 1000), "n": secrets.token_hex(4)})


def datanode_token(secret: bytes, uuid: str) -> str:
    return sign(derive(secret, "datanode"), {"k": "dn", "u": uuid})


def block_token(key_id: int, key: bytes, user: str, pool_id: str, block_id: int, generation_stamp: int,
                modes: str, expiry_ms: int) -> str:
    return sign(key, {"k": "blk", "u": user, "p": pool_id, "b": block_id, "g": generation_stamp, "m": modes,
                      "x": expiry_ms, "id": key_id})


def check_block_token(token: str, keys: dict[int, bytes], pool_id: str, block_id: int, generation_stamp: int,
                      mode: str, where: str) -> dict:
    """The token's fields if it grants ``mode`` on exactly this block; else AccessDenied naming ``where``."""
    if not token:
        raise errors.AccessDenied(f"{where}: no block access token for block {block_id} of pool {pool_id}")
    try:
        fields = decode(token)
        fields = verify(token, keys.get(fields.get("id")) if fields.get("k") == "blk" else None, "blk")
    except errors.Unauthenticated as e:
        raise errors.AccessDenied(f"{where}: block {block_id} of pool {pool_id}: {e}") from None
    if (fields.get("p"), fields.get("b"), fields.get("g")) != (pool_id, block_id, generation_stamp):
        raise errors.AccessDenied(f"{where}: the block token is for block {fields.get('b')} "
                                  f"(generation stamp {fields.get('g')}) of pool {fields.get('p')}, "
                                  f"not block {block_id} (generation stamp {generation_stamp}) of pool {pool_id}")
    if mode not in fields.get("m", ""):
        raise errors.AccessDenied(f"{where}: the block token for block {block_id} does not allow "
                                  f"{ {READ: 'reading', WRITE: 'writing', COPY: 'copying'}.get(mode, mode)}")
    return fields


# ------------------------------------------------------------------ credentials files

def write_credentials(path: Path, user: str, tokens: dict[str, str]) -> None:
    """A credentials file: ``tokens`` maps a nameservice (or "*" for every one) to a token."""
    text = json.dumps({"user": user, "tokens": tokens}, indent=1) + "\n"
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    replace_atomically(path, text, mode=0o600)


def read_credentials(path: Path) -> tuple[str, dict[str, str]]:
    try:
        raw = json.loads(Path(path).read_text())
        return str(raw["user"]), {str(k): str(v) for k, v in raw["tokens"].items()}
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise errors.InvalidArgument(f"{path}: not an hfed credentials file ({e})") from None
