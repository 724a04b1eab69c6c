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
    mount_holder = "ns-a"         # the NameNode that orders changes of the cluster's mount table
                                  # (default: the fallback, else the first nameservice by name); the
                                  # mounts below only seed that table (protos/mount_state.py)

    [nameservices.ns-a]
    address = "127.0.0.1:9000"    # bound: an address of the NameNode's machine, or "0.0.0.0:9000" (protos/hosts.py)
    advertise_host = ""           # optional: the name or IP others dial (default: the bound host; for a
                                  #   wildcard bind the machine's FQDN or first non-loopback IP)
    meta_dir = "/var/hfed/ns-a"
    max_memory = "256M"           # optional: refuse new files/dirs/blocks once the NameNode's RSS
                                  # reaches this (0: unlimited); it refuses to start below an empty namespace's
    max_objects = 1000000         # optional: ... or once files + directories + blocks reach this (0: unlimited)

    [[mounts]]
    path = "/user"
    nameservice = "ns-a"

    [datanodes]
    exclude = ["host-3"]          # optional: DataNodes (host labels or uuids) to decommission at the
                                  # next `hfed dfsadmin -refreshNodes` (HDFS's dfs.hosts.exclude)

    [datanodes.host-1]            # one DataNode per section (started as `hfed datanode --host-label host-1`)
    data_dir = "/var/hfed/host-1"
    address = "127.0.0.1:0"       # port 0: any free port; "0.0.0.0:9866" on a machine of its own
    advertise_host = ""           # optional, as for nameservices (DataTransfer and HTTP alike)
    label = ""                    # optional: the host this DataNode is on, for locality. Default: the
                                  #   advertised host ("10.0.0.5", "worker-3.example.com"), except that
                                  #   DataNodes bound to 127.0.0.1 (several on one machine) are their section name
    sync_on_close = false         # fsync finalized replicas (off by default, as in HDFS)
    cache_writes = true           # false: write replicas with O_DIRECT, past the page cache

    [topology]                    # optional: racks (HDFS's topology table / net.topology.script.file.name)
    host-1 = "/rack-1"            # a DataNode's (or client's) host label, or its address's host, -> its rack
    "10.0.0.7" = "/rack-2"
    script = "topology.sh"        # hosts in no entry: called with host names, prints one rack per name
    script_timeout = 5.0          # (relative paths: beside this file); failing, slow or garbage: /default-rack

    [client]
    host = "host-1"               # this client's host (or env HFED_HOST); default: the DataNode of the
                                  #   config whose address is one of this machine's (config.local_datanode_host)

    [fs.trash]                    # HDFS's keys, spelled as in core-site.xml (client/trash.py)
    interval = 0                  # fs.trash.interval: minutes `hfed dfs -rm` keeps deleted paths (0: no trash)
    checkpoint.interval = 0       # fs.trash.checkpoint.interval: minutes between checkpoints (0: the interval)

    [security]                    # protos/security.py; README "Security"
    auth = "token"                # "token": every call proves its user; "simple": callers say who they are
    tls = true                    # encrypt gRPC and DataTransfer with the cluster CA's certificates
    encrypt_data = true           # false: block bytes travel unencrypted (still only against block tokens)
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

import difflib
import math
import os
import re
import tomllib

import tomli_w
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from protos import cluster_state, hosts, paths
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
    http_address: str = "127.0.0.1:0"   # status page, /metrics, /jmx (port 0: any free port)
    max_memory: int = 0   # bytes of NameNode RSS past which objects are no longer added (0: unlimited)
    max_objects: int = 0  # files + directories + blocks allowed (0: unlimited)
    advertise_host: str = ""   # what others dial ("": the bound host; a wildcard: the machine's name)

    @property
    def dial_address(self) -> str:
        """"host:port" clients, DataNodes and other NameNodes dial to reach this NameNode."""
        return hosts.advertised(self.address, hosts.split(self.address)[1], self.advertise_host,
                                f"nameservices.{self.name}.address")


@dataclass
class DatanodeConfig:
    host_label: str
    data_dir: str
    address: str = "127.0.0.1:0"
    http_address: str = "127.0.0.1:0"   # WebHDFS data endpoint, /metrics, /jmx (port 0: any free port)
    capacity: int = 0  # 0: the disk's free space
    sync_on_close: bool = False  # fsync each finalized replica (HDFS dfs.datanode.synconclose)
    # False: replicas are written with O_DIRECT (as HDFS's drop-behind for writes): no page
    # cache is filled by writes, which is also cheaper where fresh memory is costly; reads of
    # what was just written then come from the disk.
    cache_writes: bool = True
    advertise_host: str = ""   # what others dial ("": the bound host; a wildcard: the machine's name)
    label: str = ""            # the host it is on, for locality ("": see identity())

    @property
    def labelled(self) -> bool:
        """Whether a label names its host: ``label`` set, or the section name when it binds
        the loopback address every DataNode of one machine shares (the emulator's label mode)."""
        return bool(self.label) or (self.address.rpartition(":")[0] in hosts.SHARED_LOOPBACK
                                    and not self.advertise_host)

    def identity(self, advertised_host: str) -> str:
        """The host this DataNode is on, as locality sees it: its label (see ``labelled``),
        else the host it advertises."""
        if self.labelled:
            return self.label or self.host_label
        return advertised_host

    def static_identity(self) -> str | None:
        """identity() where the config alone tells it; None for a wildcard bind (the name of
        the machine it runs on)."""
        bind = self.address.rpartition(":")[0]
        if not self.labelled and not self.advertise_host and hosts.is_wildcard(bind):
            return None
        return self.identity(self.advertise_host or bind.strip("[]"))


DEFAULT_RACK = "/default-rack"     # HDFS's rack for every host the topology does not place
RACK_PATTERN = re.compile(r"^(/[A-Za-z0-9_.-]+)+$")
TOPOLOGY_KEYS = ("script", "script_timeout")    # in [topology]: so no host can be named so


@dataclass
class TopologyConfig:
    racks: dict[str, str] = field(default_factory=dict)   # host label or address host -> rack path
    script: str = ""              # HDFS's net.topology.script.file.name ("" none)
    script_timeout: float = 5.0   # seconds one call may take before its hosts get DEFAULT_RACK


@dataclass
class SecurityConfig:
    auth: str = "token"                  # "token" or "simple"
    tls: bool = True
    encrypt_data: bool = True            # with tls: block bytes too (False: gRPC only, as HDFS's default)
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
    datanode_exclude: list[str] = field(default_factory=list)   # [datanodes] exclude: to decommission
    fallback: str | None = None
    mount_holder: str | None = None     # None: the fallback, else the first nameservice by name
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
    webhdfs_address: str = "127.0.0.1:0"   # the WebHDFS gateway (`hfed webhdfs`, started by `cluster up`)
    webhdfs_advertise_host: str = ""        # what others dial for it (as advertise_host of a daemon)
    trash_interval: float = 0.0             # fs.trash.interval, minutes (0: `dfs -rm` deletes at once, as HDFS)
    trash_checkpoint_interval: float = 0.0  # fs.trash.checkpoint.interval, minutes (0: trash_interval)
    security: SecurityConfig = field(default_factory=SecurityConfig)
    topology: TopologyConfig = field(default_factory=TopologyConfig)
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

    def holder(self) -> str:
        """The nameservice whose NameNode orders changes of the cluster mount table."""
        return self.mount_holder or self.fallback or min(self.nameservices)

    def client_host_label(self) -> str:
        """This client's host, for locality: $HFED_HOST, [client] host, else the host of a
        DataNode of this config that runs on this machine ("" when none does)."""
        return os.environ.get(ENV_HOST) or self.client_host or self.local_datanode_host()

    def local_datanode_host(self) -> str:
        """The identity of the DataNode section whose address is one of this machine's
        interface addresses (a wildcard-bound section: this machine's name); "" if none.
        Sections in label mode (127.0.0.1, or a label) never match: there the host is a label."""
        wildcard = False
        for dn in self.datanodes.values():
            if dn.labelled:
                continue
            known = dn.static_identity()
            if known is None:
                wildcard = True
            elif hosts.is_this_machine(known):
                return known
        return hosts.machine_host() if wildcard else ""

    def datanode_on_this_machine(self) -> str:
        """The section of the DataNode to run here when none is named: the one whose address
        (or advertise_host) is this machine's, else the only wildcard-bound one; InvalidArgument
        saying which to pass otherwise."""
        sections = [n for n, dn in self.datanodes.items()
                    if not hosts.is_wildcard(dn.address.rpartition(":")[0])
                    and dn.address.rpartition(":")[0] not in hosts.SHARED_LOOPBACK
                    and hosts.is_this_machine(dn.advertise_host or dn.address.rpartition(":")[0])]
        if not sections:
            sections = [n for n, dn in self.datanodes.items() if hosts.is_wildcard(dn.address.rpartition(":")[0])]
        if len(sections) == 1:
            return sections[0]
        known = ", ".join(sorted(self.datanodes)) or "none"
        why = f"several sections match this machine ({', '.join(sorted(sections))})" if sections else \
            "no [datanodes.*] address is an address of this machine"
        raise InvalidArgument(f"{self.source}: {why}: pass --host-label NAME (sections: {known})")


def from_dict(raw: dict, source: str = "<dict>") -> ClusterConfig:
    """Validate a parsed config; InvalidArgument naming ``source`` and the key on any mistake
    (unknown keys, wrong types, out-of-range values: nothing is guessed or coerced)."""
    check = _Checker(source)
    fail = check.fail
    check.known(raw, _TOP_KEYS, "")
    top = {key: check.value(raw, key, spec, "") for key, spec in _TOP.items()}
    nameservices = {}
    for name, ns in check.table(raw, "nameservices").items():
        where = f"nameservices.{name}."
        check.is_table(ns, where[:-1])
        check.known(ns, _NAMESERVICE, where)
        if "address" not in ns:
            fail(f"nameservice {name!r} has no address")
        fields = {key: check.value(ns, key, _NAMESERVICE[key], where)
                  for key in ("address", "meta_dir", "http_address", "advertise_host")}
        for key, parse, kind in (("max_memory", parse_size, "size such as 256M"),
                                 ("max_objects", int, "whole number")):
            value = ns.get(key, 0)
            if str(value).strip().startswith("-"):
                fail(f"nameservice {name!r}: {key} = {value!r} is negative (0 means unlimited)")
            try:
                if isinstance(value, (bool, float)) or (key == "max_objects" and not isinstance(value, int)):
                    raise TypeError(value)
                fields[key] = parse(value)
            except (ValueError, TypeError, InvalidArgument):
                fail(f"nameservice {name!r}: {key} = {value!r} is not a {kind} (0 means unlimited)")
        nameservices[name] = NameserviceConfig(name, **fields)
    if not nameservices:
        fail("no [nameservices] defined")
    mounts, seen = [], {}
    entries = raw.get("mounts") or []
    if not isinstance(entries, list):
        fail(f"mounts = {_show(entries)}: expected [[mounts]] tables")
    for i, entry in enumerate(entries):
        where = f"mounts[{i}]."
        check.is_table(entry, where[:-1])
        check.known(entry, _MOUNT, where)
        try:
            path = paths.validate(check.value(entry, "path", _MOUNT["path"], where))
        except ValueError as e:
            fail(f"mount: {e}")
        ns = check.value(entry, "nameservice", _MOUNT["nameservice"], where)
        if ns not in nameservices:
            fail(f"mount {path} names unknown nameservice {ns!r} (known: {', '.join(sorted(nameservices))})")
        if path in seen:
            fail(f"two mounts with the same path {path} ({seen[path]} and {ns})")
        seen[path] = ns
        mounts.append((path, ns))
    fallback = top.pop("fallback")
    if fallback is not None and fallback not in nameservices:
        fail(f"fallback names unknown nameservice {fallback!r}")
    if top["mount_holder"] is not None and top["mount_holder"] not in nameservices:
        fail(f"mount_holder names unknown nameservice {top['mount_holder']!r} "
             f"(known: {', '.join(sorted(nameservices))})")
    datanodes = {}
    exclude = _exclude_list(check.table(raw, "datanodes").get("exclude", []), fail)
    for label, dn in check.table(raw, "datanodes").items():
        if label == EXCLUDE_KEY:
            continue
        where = f"datanodes.{label}."
        check.is_table(dn, where[:-1])
        check.known(dn, _DATANODE, where)
        if "data_dir" not in dn:
            fail(f"datanode {label!r} has no data_dir")
        datanodes[label] = DatanodeConfig(label, **{key: check.value(dn, key, spec, where)
                                                    for key, spec in _DATANODE.items()})
    client = check.table(raw, "client")
    check.known(client, _CLIENT, "client.")
    pack_bytes, small_file_threshold = top["pack_bytes"], top["small_file_threshold"]
    if not 0 < pack_bytes < 1 << 32:
        fail(f"pack_bytes = {pack_bytes} is out of range: a container holds 1 byte to 4 GiB "
             f"(small files' offsets in it are 32-bit)")
    if small_file_threshold and pack_bytes < HEADER_SIZE + small_file_threshold:
        fail(f"pack_bytes = {pack_bytes} cannot hold one small file of small_file_threshold = "
             f"{small_file_threshold} bytes; raise pack_bytes or lower small_file_threshold")
    return ClusterConfig(nameservices=nameservices, mounts=mounts, datanodes=datanodes, datanode_exclude=exclude,
                         fallback=fallback,
                         client_host=check.value(client, "host", _CLIENT["host"], "client."),
                         security=_security(check.table(raw, "security"), fail, check),
                         topology=_topology(check.table(raw, "topology"), check),
                         source=source, **_trash(check.table(raw, "fs"), check), **top)


def _trash(raw: dict, check: "_Checker") -> dict:
    """[fs.trash] interval and checkpoint.interval (HDFS's fs.trash.* keys), in minutes."""
    check.known(raw, {"trash"}, "fs.")
    trash = check.table(raw, "trash", "fs.")
    check.known(trash, {"interval", "checkpoint"}, "fs.trash.")
    checkpoint = check.table(trash, "checkpoint", "fs.trash.")
    check.known(checkpoint, {"interval"}, "fs.trash.checkpoint.")
    interval = check.value(trash, "interval", _TRASH_MINUTES, "fs.trash.")
    every = check.value(checkpoint, "interval", _TRASH_MINUTES, "fs.trash.checkpoint.")
    if every > interval:
        check.fail(f"fs.trash.checkpoint.interval = {every} exceeds fs.trash.interval = {interval} "
                   f"(a checkpoint cannot be taken less often than trash is emptied)")
    return {"trash_interval": interval, "trash_checkpoint_interval": every}


def _topology(raw: dict, check: "_Checker") -> TopologyConfig:
    """[topology]: host = "/rack" entries, and optionally script and script_timeout."""
    racks = {}
    for host, rack in raw.items():
        if host in TOPOLOGY_KEYS:
            continue
        close = difflib.get_close_matches(host, TOPOLOGY_KEYS, n=1, cutoff=0.8)
        if close:
            check.fail(f"topology.{host}: unknown key (did you mean {close[0]}?)")
        if not isinstance(rack, str) or not RACK_PATTERN.match(rack):
            check.fail(f"topology.{host} = {_show(rack)}: expected a rack path such as \"/rack-1\" "
                       f"(\"/\"-separated names of letters, digits, '.', '_', '-')")
        racks[host] = rack
    script = check.value(raw, "script", _Key("str", ""), "topology.")
    if script and not os.path.isabs(script) and check.source and not check.source.startswith("<"):
        script = str(Path(check.source).resolve().parent / script)
    timeout = check.value(raw, "script_timeout", _Key(default=5.0, **_POSITIVE_SECONDS), "topology.")
    return TopologyConfig(racks, script, timeout)


EXCLUDE_KEY = "exclude"    # in [datanodes]: a list, so no DataNode can be labelled so


def _exclude_list(value, fail) -> list[str]:
    """[datanodes] exclude: host labels or uuids of DataNodes to decommission."""
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        fail(f"datanodes.exclude = {_show(value)}: expected a list of DataNode host labels or uuids "
             f"(strings), e.g. exclude = [\"host-3\"]")
    return list(value)


def _security(raw: dict, fail, check: "_Checker | None" = None) -> SecurityConfig:
    check = check or _Checker("<dict>")
    check.known(raw, _SECURITY_KEYS, "security.")
    groups = {}
    for user, names in check.table(raw, "groups", "security.").items():
        if not isinstance(names, list) or not all(isinstance(g, str) and g for g in names):
            fail(f"security.groups.{user} = {_show(names)}: expected a list of group names "
                 f"(strings), e.g. {user} = [\"analysts\"]")
        groups[user] = list(names)
    sec = SecurityConfig(groups=groups, **{key: check.value(raw, key, spec, "security.")
                                           for key, spec in _SECURITY.items()})
    if sec.auth not in ("token", "simple"):
        fail(f"security.auth = {sec.auth!r}: expected \"token\" or \"simple\"")
    return sec


# ------------------------------------------------------------ the key schema
_REQUIRED = object()


class _Key(NamedTuple):
    """One key: its kind, default, and the smallest/largest value allowed
    (``above``: the value must be greater than ``low``, not equal to it)."""
    kind: str                       # str, bool, int, seconds, fraction, size, address
    default: object = _REQUIRED
    low: float | None = None
    high: float | None = None
    above: bool = False


_POSITIVE_SECONDS = dict(kind="seconds", low=0, above=True)
_TOP = {
    "cluster_id": _Key("str", "CID-hfed"),
    "fallback": _Key("str", None),
    "mount_holder": _Key("str", None),
    "block_size": _Key("size", 128 << 20, 1),
    "replication": _Key("int", 3, 1, 512),
    "heartbeat_interval": _Key(default=1.0, **_POSITIVE_SECONDS),
    "dead_interval": _Key(default=10.0, **_POSITIVE_SECONDS),
    "block_report_interval": _Key(default=300.0, **_POSITIVE_SECONDS),
    "safemode_threshold": _Key("fraction", 0.999, 0, 1),
    "lease_hard_limit": _Key(default=3600.0, **_POSITIVE_SECONDS),
    "durable_edits": _Key("bool", True),
    "checkpoint_txns": _Key("int", 100_000, 1),
    "checkpoint_period": _Key(default=3600.0, **_POSITIVE_SECONDS),
    "scan_period": _Key("seconds", 1814400.0, 0),
    "scan_bytes_per_second": _Key("size", 64 << 20, 0),
    "keep_images": _Key("int", 2, 1),
    "small_file_threshold": _Key("size", 1 << 20, 0),
    "pack_count": _Key("int", 1000, 1),
    "pack_bytes": _Key("size", 64 << 20, 1),
    "pack_age": _Key("seconds", 30.0, 0),
    "compact_live_fraction": _Key("fraction", 0.5, 0, 1),
    "webhdfs_address": _Key("address", "127.0.0.1:0"),
    "webhdfs_advertise_host": _Key("host", ""),
}
_TOP_KEYS = {*_TOP, "nameservices", "mounts", "datanodes", "client", "security", "fs", "topology"}
_TRASH_MINUTES = _Key("minutes", 0.0, 0)
_NAMESERVICE = {"address": _Key("address"), "meta_dir": _Key("str", ""), "http_address": _Key("address", "127.0.0.1:0"),
                "max_memory": _Key("size", 0, 0), "max_objects": _Key("int", 0, 0),
                "advertise_host": _Key("host", "")}
_MOUNT = {"path": _Key("str"), "nameservice": _Key("str")}
_DATANODE = {"data_dir": _Key("str"), "address": _Key("address", "127.0.0.1:0"),
             "http_address": _Key("address", "127.0.0.1:0"), "capacity": _Key("size", 0, 0),
             "sync_on_close": _Key("bool", False), "cache_writes": _Key("bool", True),
             "advertise_host": _Key("host", ""), "label": _Key("str", "")}
_CLIENT = {"host": _Key("str", "")}
_SECURITY = {
    "auth": _Key("str", "token"),
    "tls": _Key("bool", True),
    "encrypt_data": _Key("bool", True),
    "secret_file": _Key("str", ""),
    "tls_dir": _Key("str", ""),
    "supergroup": _Key("str", "supergroup"),
    "user_token_lifetime": _Key(default=30 * 86400.0, **_POSITIVE_SECONDS),
    "delegation_renew_interval": _Key(default=86400.0, **_POSITIVE_SECONDS),
    "delegation_max_lifetime": _Key(default=7 * 86400.0, **_POSITIVE_SECONDS),
    "block_key_update_interval": _Key(default=600 * 60.0, **_POSITIVE_SECONDS),
    "block_token_lifetime": _Key(default=600 * 60.0, **_POSITIVE_SECONDS),
}
_SECURITY_KEYS = {*_SECURITY, "groups"}
_EXPECTED = {"minutes": "a number of minutes", "str": "a string (in quotes)", "bool": "true or false (a TOML boolean, unquoted)",
             "int": "a whole number", "seconds": "a number of seconds", "fraction": "a number from 0 to 1",
             "size": "a size in bytes such as 1048576 or \"64M\"", "address": "\"host:port\" (port 0 to 65535)",
             "host": "a host name or IP address others reach it at, such as \"10.0.0.5\" (no port)"}


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Checker:
    """Checks one config's keys against the schema; every complaint names the file and key."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, msg: str):
        raise InvalidArgument(f"{self.source}: {msg}")

    def known(self, table: dict, keys, where: str) -> None:
        for key in table:
            if key not in keys:
                close = difflib.get_close_matches(key, sorted(keys), n=1)
                hint = f" (did you mean {close[0]}?)" if close else f" (known: {', '.join(sorted(keys))})"
                self.fail(f"{where}{key}: unknown key{hint}")

    def table(self, raw: dict, key: str, where: str = "") -> dict:
        """The table ``raw[key]`` ({} when absent)."""
        value = raw.get(key)
        if value is None:
            return {}
        self.is_table(value, where + key)
        return value

    def is_table(self, value, name: str) -> None:
        if not isinstance(value, dict):
            self.fail(f"{name} = {_show(value)}: expected a table ([{name}])")

    def value(self, table: dict, key: str, spec: _Key, where: str):
        if key not in table:
            if spec.default is _REQUIRED:
                self.fail(f"{where}{key}: missing (expected {_EXPECTED[spec.kind]})")
            return spec.default
        raw = table[key]
        value = self._typed(raw, spec.kind)
        if value is None:
            self.fail(f"{where}{key} = {_show(raw)}: expected {_EXPECTED[spec.kind]}")
        if spec.kind in ("int", "seconds", "minutes", "fraction", "size"):
            too_low = spec.low is not None and (value <= spec.low if spec.above else value < spec.low)
            if not math.isfinite(value) or too_low or (spec.high is not None and value > spec.high):
                bounds = (f"above {spec.low}" if spec.above else f"at least {spec.low}") if spec.high is None \
                    else f"{spec.low} to {spec.high}"
                shown = _show(raw) if raw == value else f"{_show(raw)} ({value})"
                self.fail(f"{where}{key} = {shown}: out of range (expected {bounds})")
        return value

    @staticmethod
    def _typed(raw, kind: str):
        """``raw`` as ``kind``, or None when it is not one (bool is never a number here)."""
        if kind == "bool":
            return raw if isinstance(raw, bool) else None
        if isinstance(raw, bool):
            return None
        if kind == "str":
            return raw if isinstance(raw, str) else None
        if kind == "host":
            return raw if isinstance(raw, str) and (raw == "" or hosts.valid_host(raw)) else None
        if kind == "address":
            host, sep, port = raw.rpartition(":") if isinstance(raw, str) else ("", "", "")
            return raw if sep and host and port.isdigit() and int(port) <= 65535 else None
        if kind == "int":
            return raw if isinstance(raw, int) else None
        if kind in ("seconds", "minutes", "fraction"):
            return float(raw) if isinstance(raw, (int, float)) else None
        if kind == "size":
            if isinstance(raw, int):
                return raw
            if isinstance(raw, str) and _SIZE.match(raw):
                return parse_size(raw)
        return None


def load(path: str | os.PathLike) -> ClusterConfig:
    """The config at ``path``, with the addresses a running cluster bound (protos/cluster_state.py):
    a nameservice configured on port 0 gets its NameNode's address from run/state.json."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"hfed config {path} does not exist (start a cluster with `hfed cluster up`)")
    except tomllib.TOMLDecodeError as e:
        raise InvalidArgument(f"{path}: not valid TOML: {e}")
    cfg = from_dict(raw, str(path))
    state = cluster_state.read(path)
    if state:
        for ns in cfg.nameservices.values():
            ns.address = cluster_state.resolved_address(state, cfg.cluster_id, "nameservices", ns.name, ns.address)
    return cfg


def load_as_written(path: str | os.PathLike) -> ClusterConfig:
    """The config at ``path`` without the runtime state: what daemons bind on a fresh start."""
    path = Path(path)
    try:
        return from_dict(tomllib.loads(path.read_text()), str(path))
    except tomllib.TOMLDecodeError as e:
        raise InvalidArgument(f"{path}: not valid TOML: {e}")


class ConfigChoice(NamedTuple):
    path: Path
    reason: str     # why this config: --conf, $HFED_CONF, the pointer, or the default


def choose_config(explicit: str | None = None) -> ConfigChoice:
    """The config a command uses, and why: --conf, else $HFED_CONF, else the pointer
    $HFED_HOME/current that the last `hfed cluster up` wrote, else $HFED_HOME/cluster/hfed.toml.
    A pointer naming a config that no longer exists is an error naming both."""
    if explicit:
        return ConfigChoice(Path(explicit), "given with --conf")
    if os.environ.get(ENV_CONF):
        return ConfigChoice(Path(os.environ[ENV_CONF]), f"from ${ENV_CONF}")
    home = f"$HFED_HOME={DEFAULT_HOME}" if os.environ.get("HFED_HOME") else f"{DEFAULT_HOME}: $HFED_HOME is not set"
    pointer = DEFAULT_HOME / CURRENT_POINTER
    if pointer.exists():
        target = Path(pointer.read_text().strip())
        if not target.exists():
            raise FileNotFoundError(
                f"the current-cluster pointer {pointer} names {target}, which does not exist (was the cluster "
                f"directory deleted?): start a cluster with `hfed cluster up`, or choose one with --conf PATH "
                f"or ${ENV_CONF}")
        return ConfigChoice(target, f"from the pointer {pointer}, written by the last `hfed cluster up` "
                                    f"(no --conf, no ${ENV_CONF}; home {home})")
    return ConfigChoice(DEFAULT_HOME / "cluster" / "hfed.toml",
                        f"the default (no --conf, no ${ENV_CONF}, no pointer {pointer}; home {home})")


def find_config_path(explicit: str | None = None) -> Path:
    """--conf, then $HFED_CONF, then the config of the last `hfed cluster up` (choose_config)."""
    return choose_config(explicit).path


def dump(cfg: ClusterConfig) -> str:
    """TOML text of ``cfg``, every key written (so a reader sees every setting in force)."""
    top = {"cluster_id": cfg.cluster_id}
    top.update((key, getattr(cfg, key)) for key in (
        "block_size", "replication", "heartbeat_interval", "dead_interval", "block_report_interval",
        "safemode_threshold", "lease_hard_limit", "durable_edits", "checkpoint_txns", "checkpoint_period",
        "keep_images", "scan_period", "scan_bytes_per_second", "small_file_threshold", "pack_count",
        "pack_bytes", "pack_age", "compact_live_fraction", "webhdfs_address"))
    if cfg.webhdfs_advertise_host:
        top["webhdfs_advertise_host"] = cfg.webhdfs_advertise_host
    if cfg.fallback:
        top["fallback"] = cfg.fallback
    if cfg.mount_holder:
        top["mount_holder"] = cfg.mount_holder
    top["nameservices"] = {ns.name: {"address": ns.address, "meta_dir": ns.meta_dir, "http_address": ns.http_address,
                                     **{k: getattr(ns, k) for k in ("max_memory", "max_objects", "advertise_host") if getattr(ns, k)}}
                           for ns in cfg.nameservices.values()}
    top["mounts"] = [{"path": path, "nameservice": ns} for path, ns in cfg.mounts]
    top["datanodes"] = {dn.host_label: {"data_dir": dn.data_dir, "address": dn.address, "http_address": dn.http_address,
                                        "capacity": dn.capacity,
                                        "sync_on_close": dn.sync_on_close, "cache_writes": dn.cache_writes,
                                        **{k: getattr(dn, k) for k in ("advertise_host", "label") if getattr(dn, k)}}
                        for dn in cfg.datanodes.values()}
    if cfg.datanode_exclude:
        top["datanodes"] = {EXCLUDE_KEY: list(cfg.datanode_exclude), **top["datanodes"]}
    if cfg.client_host:
        top["client"] = {"host": cfg.client_host}
    topo = cfg.topology
    if topo.racks or topo.script:
        top["topology"] = {**topo.racks, **({"script": topo.script, "script_timeout": topo.script_timeout}
                                            if topo.script else {})}
    top["fs"] = {"trash": {"interval": cfg.trash_interval, "checkpoint": {"interval": cfg.trash_checkpoint_interval}}}
    sec = cfg.security
    top["security"] = {key: getattr(sec, key) for key in (
        "auth", "tls", "encrypt_data", "secret_file", "tls_dir", "supergroup", "user_token_lifetime", "delegation_renew_interval",
        "delegation_max_lifetime", "block_key_update_interval", "block_token_lifetime")}
    if sec.groups:
        top["security"]["groups"] = dict(sec.groups)
    if not top["mounts"]:
        del top["mounts"]      # TOML has no empty array of tables
    return tomli_w.dumps(top)
