"""The cluster's one TOML configuration file, shared by every role.

    cluster_id = "CID-..."
    block_size = 134217728        # defaults for new files; sizes accept "64M"
    replication = 3
    heartbeat_interval = 1.0      # seconds
    dead_interval = 10.0          # a DataNode silent this long is dead
    block_report_interval = 300.0
    safemode_threshold = 0.999    # restarted NameNodes stay read-only until this fraction of blocks is reported
    lease_hard_limit = 3600.0     # a writer silent this long loses its lease; its files are closed
    durable_edits = true          # acknowledge a namespace change only once its edit is fdatasynced
    checkpoint_txns = 100000      # write a namespace image after this many edits ...
    checkpoint_period = 3600.0    # ... or this many seconds, whichever comes first
    scan_period = 1814400.0       # DataNode block scanner: a full verification pass every 3 weeks
    scan_bytes_per_second = "64M" # ... reading at most this fast (0 for either: scanner off)
    keep_images = 2               # images kept (with the edits after the oldest)
    small_file_threshold = "1M"   # smaller files get no block: staged, then packed into containers (0: off)
    pack_count = 1000             # pack once this many small files wait, or pack_bytes of them,
    pack_bytes = "64M"            #   (also the container size) or the oldest waited pack_age seconds
    pack_age = 30.0
    compact_live_fraction = 0.5   # rewrite containers whose live bytes fall below this fraction
    fallback = "ns-a"             # optional: namespace for unmounted paths

    [nameservices.ns-a]
    address = "127.0.0.1:9000"
    meta_dir = "/var/hfed/ns-a"
    max_memory = "256M"           # optional: refuse new files/dirs/blocks once the NameNode's RSS
                                  # reaches this (0: unlimited); it refuses to start below an empty namespace's
    max_objects = 1000000         # optional: ... or once files + directories + blocks reach this (0: unlimited)

    [[mounts]]
    path = "/user"
    nameservice = "ns-a"

    [datanodes.host-1]            # one DataNode per host label
    data_dir = "/var/hfed/host-1"
    address = "127.0.0.1:0"       # port 0: any free port
    sync_on_close = false         # fsync finalized replicas (off by default, as in HDFS)
    cache_writes = true           # false: write replicas with O_DIRECT, past the page cache

    [client]
    host = "host-1"               # this client's host label (or env HFED_HOST)

    [security]                    # protos/security.py; README "Security"
    auth = "token"                # "token": every call proves its user; "simple": callers say who they are
    tls = true                    # encrypt gRPC and DataTransfer with the cluster CA's certificates
    secret_file = ""              # default: private/secret beside this file (0600, created by the first daemon)
    tls_dir = ""                  # default: tls/ beside this file (ca.pem, cert.pem; key.pem under private/)
    supergroup = "supergroup"     # its members are superusers (as is the user running the NameNode)
    user_token_lifetime = 2592000.0        # seconds a user token lasts (30 days)
    delegation_renew_interval = 86400.0    # a delegation token expires unless renewed within this
    delegation_max_lifetime = 604800.0     # ... and never outlives this (7 days)
    block_key_update_interval = 36000.0    # NameNodes roll block-token keys this often (600 min) ...
    block_token_lifetime = 36000.0         # ... and block tokens last this long

    [security.groups]             # groups of users the NameNode host's OS does not know
    alice = ["analysts"]
"""
from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from protos import paths
from protos.small_entry import HEADER_SIZE
from protos.errors import InvalidArgument

ENV_CONF = "HFED_CONF"
ENV_HOST = "HFED_HOST"
DEFAULT_HOME = Path(os.environ.get("HFED_HOME", Path.home() / ".hfed"))
CURRENT_POINTER = "current"  # file in DEFAULT_HOME naming the last cluster's config

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(value) -> int:
    """128, "128", "64M", "1g", "512KiB" -> bytes."""
    if isinstance(value, int):
        return value
    match = _SIZE.match(str(value))
    if not match:
        raise InvalidArgument(f"invalid size {value!r}: expected a number with an optional K/M/G/T suffix")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


@dataclass
class NameserviceConfig:
    name: str
    address: str
    meta_dir: str = ""
    max_memory: int = 0   # bytes of NameNode RSS past which objects are no longer added (0: unlimited)
    max_objects: int = 0  # files + directories + blocks allowed (0: unlimited)


@dataclass
class DatanodeConfig:
    host_label: str
    data_dir: str
    address: str = "127.0.0.1:0"
    capacity: int = 0  # 0: the disk's free space
    sync_on_close: bool = False  # fsync each finalized replica (HDFS dfs.datanode.synconclose)
    # False: replicas are written with O_DIRECT (as HDFS's drop-behind for writes): no page
    # cache is filled by writes, which is also cheaper where fresh memory is costly; reads of
    # what was just written then come from the disk.
    cache_writes: bool = True


@dataclass
class SecurityConfig:
    auth: str = "token"                  # "token" or "simple"
    tls: bool = True
    secret_file: str = ""                # "" = <config dir>/private/secret
    tls_dir: str = ""                    # "" = <config dir>/tls
    supergroup: str = "supergroup"
    user_token_lifetime: float = 30 * 86400.0
    delegation_renew_interval: float = 86400.0
    delegation_max_lifetime: float = 7 * 86400.0
    block_key_update_interval: float = 600 * 60.0
    block_token_lifetime: float = 600 * 60.0
    groups: dict[str, list[str]] = field(default_factory=dict)

    @property
    def tokens(self) -> bool:
        return self.auth == "token"


@dataclass
class ClusterConfig:
    cluster_id: str
    nameservices: dict[str, NameserviceConfig]
    mounts: list[tuple[str, str]]
    datanodes: dict[str, DatanodeConfig] = field(default_factory=dict)
    fallback: str | None = None
    block_size: int = 128 << 20
    replication: int = 3
    heartbeat_interval: float = 1.0
    dead_interval: float = 10.0
    block_report_interval: float = 300.0
    safemode_threshold: float = 0.999   # fraction of blocks reported before a restarted NameNode writes
    lease_hard_limit: float = 3600.0    # seconds without renewal before a writer's files are recovered
    durable_edits: bool = True          # ack namespace changes after their edit is on disk (off: benchmarks only)
    checkpoint_txns: int = 100_000      # image after this many edits ...
    checkpoint_period: float = 3600.0   # ... or this many seconds
    scan_period: float = 1814400.0      # block scanner: seconds between full passes (<= 0: off)
    scan_bytes_per_second: int = 64 << 20   # block scanner read rate (<= 0: off)
    keep_images: int = 2                # images kept, with the edit segments the oldest needs
    small_file_threshold: int = 1 << 20  # files below this are packed into containers (0: never)
    pack_count: int = 1000              # the packer runs once this many small files wait ...
    pack_bytes: int = 64 << 20          # ... or this many bytes (also a container's size limit) ...
    pack_age: float = 30.0              # ... or the oldest has waited this many seconds
    compact_live_fraction: float = 0.5  # containers with less live data than this are rewritten
    client_host: str = ""
    security: SecurityConfig = field(default_factory=SecurityConfig)
    source: str = ""

    def config_dir(self) -> Path:
        if not self.source or self.source.startswith("<"):
            raise InvalidArgument(f"config {self.source or '<unsaved>'} has no directory: set "
                                  f"[security] secret_file and tls_dir explicitly")
        return Path(self.source).resolve().parent

    def secret_path(self) -> Path:
        return Path(self.security.secret_file) if self.security.secret_file else \
            self.config_dir() / "private" / "secret"

    def tls_path(self) -> Path:
        return Path(self.security.tls_dir) if self.security.tls_dir else self.config_dir() / "tls"

    def client_host_label(self) -> str:
        return os.environ.get(ENV_HOST) or self.client_host


def from_dict(raw: dict, source: str = "<dict>") -> ClusterConfig:
    """Validate a parsed config; InvalidArgument naming ``source`` on any mistake."""
    def fail(msg):
        raise InvalidArgument(f"{source}: {msg}")

    nameservices = {}
    for name, ns in (raw.get("nameservices") or {}).items():
        if "address" not in ns:
            fail(f"nameservice {name!r} has no address")
        limits = {}
        for key, parse, kind in (("max_memory", parse_size, "size such as 256M"),
                                 ("max_objects", int, "whole number")):
            value = ns.get(key, 0)
            if str(value).strip().startswith("-"):
                fail(f"nameservice {name!r}: {key} = {value!r} is negative (0 means unlimited)")
            try:
                if isinstance(value, (bool, float)):
                    raise TypeError(value)
                limits[key] = parse(value)
            except (ValueError, TypeError):
                fail(f"nameservice {name!r}: {key} = {value!r} is not a {kind} (0 means unlimited)")
        nameservices[name] = NameserviceConfig(name, ns["address"], ns.get("meta_dir", ""), **limits)
    if not nameservices:
        fail("no [nameservices] defined")
    mounts, seen = [], {}
    for entry in raw.get("mounts") or []:
        try:
            path = paths.validate(entry.get("path", ""))
        except ValueError as e:
            fail(f"mount: {e}")
        ns = entry.get("nameservice")
        if ns not in nameservices:
            fail(f"mount {path} names unknown nameservice {ns!r} (known: {', '.join(sorted(nameservices))})")
        if path in seen:
            fail(f"two mounts with the same path {path} ({seen[path]} and {ns})")
        seen[path] = ns
        mounts.append((path, ns))
    fallback = raw.get("fallback")
    if fallback is not None and fallback not in nameservices:
        fail(f"fallback names unknown nameservice {fallback!r}")
    datanodes = {}
    for label, dn in (raw.get("datanodes") or {}).items():
        if "data_dir" not in dn:
            fail(f"datanode {label!r} has no data_dir")
        datanodes[label] = DatanodeConfig(label, dn["data_dir"], dn.get("address", "127.0.0.1:0"),
                                          parse_size(dn.get("capacity", 0)), bool(dn.get("sync_on_close", False)),
                                          bool(dn.get("cache_writes", True)))
    small_file_threshold = parse_size(raw.get("small_file_threshold", 1 << 20))
    pack_bytes = parse_size(raw.get("pack_bytes", 64 << 20))
    if not 0 < pack_bytes < 1 << 32:
        fail(f"pack_bytes = {pack_bytes} is out of range: a container holds 1 byte to 4 GiB "
             f"(small files' offsets in it are 32-bit)")
    if small_file_threshold and pack_bytes < HEADER_SIZE + small_file_threshold:
        fail(f"pack_bytes = {pack_bytes} cannot hold one small file of small_file_threshold = "
             f"{small_file_threshold} bytes; raise pack_bytes or lower small_file_threshold")
    return ClusterConfig(
        cluster_id=raw.get("cluster_id", "CID-hfed"),
        nameservices=nameservices, mounts=mounts, datanodes=datanodes, fallback=fallback,
        block_size=parse_size(raw.get("block_size", 128 << 20)),
        replication=int(raw.get("replication", 3)),
        heartbeat_interval=float(raw.get("heartbeat_interval", 1.0)),
        dead_interval=float(raw.get("dead_interval", 10.0)),
        block_report_interval=float(raw.get("block_report_interval", 300.0)),
        safemode_threshold=float(raw.get("safemode_threshold", 0.999)),
        lease_hard_limit=float(raw.get("lease_hard_limit", 3600.0)),
        durable_edits=bool(raw.get("durable_edits", True)),
        checkpoint_txns=int(raw.get("checkpoint_txns", 100_000)),
        checkpoint_period=float(raw.get("checkpoint_period", 3600.0)),
        scan_period=float(raw.get("scan_period", 1814400.0)),
        scan_bytes_per_second=parse_size(raw.get("scan_bytes_per_second", 64 << 20)),
        keep_images=int(raw.get("keep_images", 2)),
        small_file_threshold=small_file_threshold,
        pack_count=int(raw.get("pack_count", 1000)),
        pack_bytes=pack_bytes,
        pack_age=float(raw.get("pack_age", 30.0)),
        compact_live_fraction=float(raw.get("compact_live_fraction", 0.5)),
        client_host=(raw.get("client") or {}).get("host", ""),
        security=_security(raw.get("security") or {}, fail),
        source=source,
    )


def _security(raw: dict, fail) -> SecurityConfig:
    sec = SecurityConfig(**{k: v for k, v in raw.items() if k != "groups"},
                         groups={str(u): list(g) for u, g in (raw.get("groups") or {}).items()})
    if sec.auth not in ("token", "simple"):
        fail(f"[security] auth = {sec.auth!r}: expected \"token\" or \"simple\"")
    return sec


def load(path: str | os.PathLike) -> ClusterConfig:
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"hfed config {path} does not exist (start a cluster with `hfed cluster up`)")
    except tomllib.TOMLDecodeError as e:
        raise InvalidArgument(f"{path}: not valid TOML: {e}")
    return from_dict(raw, str(path))


def find_config_path(explicit: str | None = None) -> Path:
    """--conf, then $HFED_CONF, then the config of the last `hfed cluster up`."""
    if explicit:
        return Path(explicit)
    if os.environ.get(ENV_CONF):
        return Path(os.environ[ENV_CONF])
    pointer = DEFAULT_HOME / CURRENT_POINTER
    if pointer.exists():
        return Path(pointer.read_text().strip())
    return DEFAULT_HOME / "cluster" / "hfed.toml"


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def dump(cfg: ClusterConfig) -> str:
    """TOML text of ``cfg`` (the standard library reads TOML but does not write it)."""
    lines = [f"cluster_id = {_toml_value(cfg.cluster_id)}"]
    for key in ("block_size", "replication", "heartbeat_interval", "dead_interval", "block_report_interval",
                "safemode_threshold", "lease_hard_limit", "durable_edits", "checkpoint_txns", "checkpoint_period",
                "keep_images", "scan_period", "scan_bytes_per_second", "small_file_threshold", "pack_count",
                "pack_bytes", "pack_age", "compact_live_fraction"):
        lines.append(f"{key} = {_toml_value(getattr(cfg, key))}")
    if cfg.fallback:
        lines.append(f"fallback = {_toml_value(cfg.fallback)}")
    for ns in cfg.nameservices.values():
        lines += ["", f'[nameservices."{ns.name}"]', f"address = {_toml_value(ns.address)}",
                  f"meta_dir = {_toml_value(ns.meta_dir)}"]
        lines += [f"{key} = {getattr(ns, key)}" for key in ("max_memory", "max_objects") if getattr(ns, key)]
    for path, ns in cfg.mounts:
        lines += ["", "[[mounts]]", f"path = {_toml_value(path)}", f"nameservice = {_toml_value(ns)}"]
    for dn in cfg.datanodes.values():
        lines += ["", f'[datanodes."{dn.host_label}"]', f"data_dir = {_toml_value(dn.data_dir)}",
                  f"address = {_toml_value(dn.address)}", f"capacity = {dn.capacity}",
                  f"sync_on_close = {_toml_value(dn.sync_on_close)}", f"cache_writes = {_toml_value(dn.cache_writes)}"]
    if cfg.client_host:
        lines += ["", "[client]", f"host = {_toml_value(cfg.client_host)}"]
    sec = cfg.security
    lines += ["", "[security]"] + [f"{key} = {_toml_value(getattr(sec, key))}" for key in (
        "auth", "tls", "secret_file", "tls_dir", "supergroup", "user_token_lifetime", "delegation_renew_interval",
        "delegation_max_lifetime", "block_key_update_interval", "block_token_lifetime")]
    if sec.groups:
        lines += ["", "[security.groups]"] + [f"{_toml_value(user)} = [{', '.join(map(_toml_value, groups))}]"
                                              for user, groups in sec.groups.items()]
    return "\n".join(lines) + "\n"
