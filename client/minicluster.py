"""A whole hfed cluster on one machine: one NameNode process per namespace and
one DataNode process per host label, all on 127.0.0.1 with free ports.

Directory layout (DIR is the cluster directory)::

    DIR/hfed.toml          the cluster config: written once for a new cluster, then kept as the
                           user edits it (`cluster up` never rewrites it)
    DIR/run/state.json     runtime state: the addresses the daemons bound (protos/cluster_state.py);
                           a NameNode configured on port 0 is found through it
    DIR/meta/<ns>/         each NameNode's edit log and checkpoints
    DIR/data/<host>/       each DataNode's block pools
    DIR/logs/<name>.log    each daemon's stdout/stderr (appended across restarts)
    DIR/run/<name>.pid     pid of each running daemon
    DIR/run/<name>.addr    bound address, written by the daemon once it is ready
                           (<name>: a nameservice, a host label, or webhdfs: the WebHDFS gateway)
    DIR/emulated_hosts.json  with ``emulate_hosts``: the network namespaces, links and addresses
                           of the emulated hosts (client/emulated_hosts.py)

With ``emulate_hosts=N`` each of the N DataNodes runs in its own network namespace on its
own 198.18.x.y address behind a link limited to ``link`` (e.g. "1gbit"); the NameNodes and
the WebHDFS gateway bind the bridge's address in the root namespace, which every emulated
host reaches. ``down()`` removes the namespaces and links again.

Mount layout: one namespace owns /user, /tmp and /data. With two, ns-a owns /user
and /tmp and ns-b owns /data. Each further namespace ns-c, ns-d, ... owns a
directory named after itself (/ns-c, /ns-d, ...). Paths outside the mounts belong
to no namespace (no fallback), as with a ViewFs mount table without linkFallback.

``up()`` on a DIR that already holds hfed.toml restarts that cluster with its data
(same cluster id, meta and data dirs; port-0 addresses may change). The processes outlive
the Python object that started them, so ``hfed cluster down`` in another process
stops them through the pid files.
"""
from __future__ import annotations

import dataclasses
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import grpc
import psutil

from protos import config as hconfig
from protos import hfed_pb2 as pb
from protos import hfed_pb2_grpc as pb_grpc
from protos import cluster_state, hosts, rpc, security, tls
from client import credentials
from client import emulated_hosts
from client.config_edit import ConfigEdit
from protos.files import replace_atomically
from protos.mount_state import MountState

REPO_ROOT = Path(__file__).resolve().parent.parent
NAMENODE_MODULE = "namenode.server"
DATANODE_MODULE = "datanode.server"
GATEWAY_MODULE = "client.webhdfs.gateway"
WEBHDFS = "webhdfs"      # the WebHDFS gateway's name in run/ and logs/
CONFIG_NAME = "hfed.toml"
LOG_TAIL_LINES = 30
_NAMESERVICE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


class ClusterStartError(RuntimeError):
    """A daemon did not become ready; the message carries the tail of its log."""


def nameservice_names(count: int) -> list[str]:
    if not 1 <= count <= 26:
        raise ValueError(f"namespaces must be between 1 and 26, got {count}")
    return [f"ns-{chr(ord('a') + i)}" for i in range(count)]


def default_mounts(names: list[str]) -> list[tuple[str, str]]:
    """The layout documented at the top of this module."""
    if len(names) == 1:
        return [("/user", names[0]), ("/tmp", names[0]), ("/data", names[0])]
    mounts = [("/user", names[0]), ("/tmp", names[0]), ("/data", names[1])]
    mounts += [(f"/{name}", name) for name in names[2:]]
    return mounts


def round_robin_racks(datanodes: int, racks: int) -> dict[str, str]:
    """host-1..host-M on /rack-1../rack-R in turn ({} for no racks)."""
    if not racks:
        return {}
    return {f"host-{i}": f"/rack-{(i - 1) % racks + 1}" for i in range(1, datanodes + 1)}


def wait_for(predicate, timeout: float, what: str, interval: float = 0.05):
    """Poll ``predicate`` until it returns something truthy; TimeoutError naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


class MiniCluster:
    def __init__(self, dir, namespaces: int = 2, datanodes: int = 3, block_size: int = 128 << 20,
                 replication: int = 3, heartbeat_interval: float = 1.0, dead_interval: float = 10.0,
                 block_report_interval: float = 300.0, client_host: str = "",
                 write_pointer: bool = False, start_timeout: float = 30.0, settings: dict | None = None,
                 nameservice_settings: dict[str, dict] | None = None, datanode_settings: dict | None = None,
                 webhdfs: bool = True, racks: int = 0, emulate_hosts: int = 0, link: str = "1gbit",
                 datanode_overrides: dict[str, dict] | None = None):
        """``write_pointer``: make this the cluster the hfed CLI finds by default
        (writes DEFAULT_HOME/current); only the CLI asks for it, tests must not. ``webhdfs``:
        start the WebHDFS gateway too (client/webhdfs/). ``racks``: put host-1..host-M
        round-robin on racks /rack-1../rack-R ([topology]; 0: no topology, every host on /default-rack).
        ``emulate_hosts``: that many DataNodes, each in its own network namespace behind a
        ``link``-limited link (new cluster; a cluster created so keeps its emulated hosts on restart)."""
        self.dir = Path(dir).resolve()
        self.namespaces = namespaces
        self.datanodes = emulate_hosts or datanodes
        self.emulate_hosts = emulate_hosts
        self.link = link
        self.block_size = hconfig.parse_size(block_size)
        self.replication = replication
        self.heartbeat_interval = heartbeat_interval
        self.dead_interval = dead_interval
        self.block_report_interval = block_report_interval
        self.client_host = client_host
        self.write_pointer = write_pointer
        self.start_timeout = start_timeout
        self.settings = settings or {}   # other ClusterConfig fields, e.g. {"lease_hard_limit": 2.0}
        self.nameservice_settings = nameservice_settings or {}   # e.g. {"ns-a": {"max_objects": 50}}
        self.datanode_settings = datanode_settings or {}   # every DataNode's, e.g. {"cache_writes": False}
        self.datanode_overrides = datanode_overrides or {}   # one DataNode's, e.g. {"host-2": {"address": ...}}
        self.webhdfs = webhdfs
        self.racks = racks
        self.config: hconfig.ClusterConfig | None = None
        self.restarted = False  # True when up() found an existing cluster in dir
        self._procs: dict[str, subprocess.Popen] = {}
        if self.config_path.exists():
            self.config = hconfig.load(self.config_path)
        self.emulation = emulated_hosts.load(self.dir)
        if emulate_hosts and self.config is not None and self.emulation is None:
            raise ValueError(f"the cluster in {self.dir} was made without emulated hosts and keeps its DataNodes' "
                             f"addresses: start it without --emulate-hosts, or use a new --dir")
        if emulate_hosts and self.config is None:
            problem = emulated_hosts.support_problem()
            if problem:
                raise emulated_hosts.EmulationError(problem)
            emulated_hosts.link_bits(link)   # a bad rate is refused before anything is made

    # ------------------------------------------------------------- paths

    @property
    def config_path(self) -> Path:
        return self.dir / CONFIG_NAME

    @property
    def run_dir(self) -> Path:
        return self.dir / "run"

    @property
    def log_dir(self) -> Path:
        return self.dir / "logs"

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def _pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def _addr_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.addr"

    @property
    def nameservices(self) -> list[str]:
        return list(self._require_config().nameservices)

    @property
    def host_labels(self) -> list[str]:
        return list(self._require_config().datanodes)

    def _require_config(self) -> hconfig.ClusterConfig:
        if self.config is None:
            raise RuntimeError(f"no cluster in {self.dir}: {self.config_path} does not exist (call up() first)")
        return self.config

    # ------------------------------------------------------------ config

    @property
    def _server_host(self) -> str:
        """The address NameNodes and the gateway bind: the bridge's with emulated hosts."""
        return self.emulation.bridge_ip if self.emulation else "127.0.0.1"

    def _new_config(self) -> hconfig.ClusterConfig:
        names = nameservice_names(self.namespaces)
        cluster_id = f"CID-{uuid.uuid4()}"
        labels = [f"host-{i}" for i in range(1, self.datanodes + 1)]
        extra = {}
        if self.emulate_hosts:
            self.emulation = emulated_hosts.plan(cluster_id, labels, self.link)
            extra["webhdfs_address"] = f"{self._server_host}:0"

        def datanode(label: str) -> hconfig.DatanodeConfig:
            host = self.emulation.host(label) if self.emulation else None
            # An emulated host keeps its label (host-N) as its host: racks and tf-run name it so.
            bind = {"address": f"{host.ip}:0", "http_address": f"{host.ip}:0", "label": label} if host else {}
            return hconfig.DatanodeConfig(label, str(self.dir / "data" / label),
                                          **{**bind, **self.datanode_settings, **self.datanode_overrides.get(label, {})})
        return hconfig.ClusterConfig(
            cluster_id=cluster_id,
            nameservices={ns: hconfig.NameserviceConfig(ns, **{"address": f"{self._server_host}:0",
                                                               "meta_dir": str(self.dir / "meta" / ns),
                                                               "http_address": f"{self._server_host}:0",
                                                               **self.nameservice_settings.get(ns, {})})
                          for ns in names},
            mounts=default_mounts(names),
            mount_holder=names[0],       # fixed, so namespaces added later never move the table
            datanodes={label: datanode(label) for label in labels},
            block_size=self.block_size, replication=self.replication,
            heartbeat_interval=self.heartbeat_interval, dead_interval=self.dead_interval,
            block_report_interval=self.block_report_interval, client_host=self.client_host,
            source=str(self.config_path),
            **{"topology": hconfig.TopologyConfig(racks=round_robin_racks(self.datanodes, self.racks)),
               **extra, **self.settings},       # settings may give a topology of their own
        )

    def _write_config(self, cfg: hconfig.ClusterConfig, path: Path) -> None:
        replace_atomically(path, hconfig.dump(cfg))

    # ------------------------------------------------------- start / stop

    def running_daemons(self) -> list[str]:
        """Names of this cluster's daemons that are running (WebHDFS included)."""
        if self.config is None:
            return []
        return [s["name"] for s in self.status() if s["alive"]] + ([WEBHDFS] if self._live_process(WEBHDFS) else [])

    def refuse_if_running(self) -> None:
        running = self.running_daemons()
        if running:
            raise ClusterStartError(f"cluster in {self.dir} is already running ({', '.join(running)}); "
                                    f"stop it first (hfed cluster down --dir {self.dir})")

    def up(self) -> "MiniCluster":
        """Start every daemon and wait until each DataNode registered with every NameNode.
        An existing config is used as written and never rewritten: the addresses the daemons
        bind go into the state file (protos/cluster_state.py)."""
        self.refuse_if_running()
        for sub in ("run", "logs", "meta", "data"):
            (self.dir / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
        self.restarted = self.config_path.exists()
        if not self.restarted:
            # A new cluster's config is written once, before anything starts, so a failed first
            # start keeps its cluster id; NameNodes on port 0 (addresses go to the state file).
            replace_atomically(self.config_path, hconfig.dump(self._new_config()))
        # The previous run's addresses must not be taken for this run's: port-0 NameNodes bind anew.
        cluster_state.clear(self.config_path)
        cfg = self.config = hconfig.load_as_written(self.config_path)
        for ns in cfg.nameservices.values():
            Path(ns.meta_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
        for dn in cfg.datanodes.values():
            Path(dn.data_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
        if cfg.security.tokens:   # the daemons would make it; made here, the owner is known to be us
            security.ensure_secret(cfg.secret_path())
        if cfg.security.tls:
            tls.ensure_tls(cfg)   # here, so a bad TLS directory is reported once, not by every daemon
        try:
            if self.emulation:
                emulated_hosts.build(self.dir, self.emulation)
            for ns in cfg.nameservices:
                self._launch_namenode(ns, self.config_path)
            self._save_state(nameservices={ns: self._await_ready(ns) for ns in cfg.nameservices})
            for label in self.config.datanodes:
                self._launch_datanode(label)
            if self.webhdfs:
                self._launch_webhdfs()
            for label in self.config.datanodes:
                self._await_ready(label)
            if self.webhdfs:
                self._await_ready(WEBHDFS)
            self._save_state()
        except BaseException:
            self.down()
            raise
        if self.write_pointer:
            hconfig.DEFAULT_HOME.mkdir(parents=True, exist_ok=True)
            (hconfig.DEFAULT_HOME / hconfig.CURRENT_POINTER).write_text(str(self.config_path) + "\n")
        if self.restarted:
            self.wait_for_block_reports()
        return self

    @property
    def state_path(self) -> Path:
        return cluster_state.state_path(self.config_path)

    def _save_state(self, nameservices: dict[str, str] | None = None) -> None:
        """Write the state file from what the daemons bound (their run/<name>.addr files), then
        reload the config through it, so self.config holds the real NameNode addresses."""
        known = cluster_state.read(self.config_path)
        nameservices = {**(known.get("nameservices") or {}), **(nameservices or {})}
        bound = {name: self._addr_file(name).read_text().strip()
                 for name in self._daemon_names() if self._addr_file(name).exists()}
        # A NameNode's address keeps its configured host (a wildcard stays one: the NameNode
        # advertises its own name) with the port it bound.
        nameservices.update((ns.name, _with_port(ns.address, hosts.split(bound[ns.name])[1]))
                            for ns in self._require_config().nameservices.values() if bound.get(ns.name))
        cluster_state.write(self.config_path, self._require_config().cluster_id, nameservices=nameservices,
                            datanodes={dn: bound[dn] for dn in self.config.datanodes if bound.get(dn)},
                            webhdfs=bound.get(WEBHDFS, ""))
        self.config = hconfig.load(self.config_path)

    def add_namespace(self, name: str, timeout: float = 30.0) -> str:
        """Start one more NameNode in the running cluster (`hfed cluster add-namespace`); returns
        its address once the cluster mount table lists it and every running DataNode registered
        with it (they learn of it from their heartbeats: no daemon restarts). The config gets
        one table more ([nameservices.NAME], port 0), the rest of it unchanged."""
        cfg = self._require_config()
        if not _NAMESERVICE_NAME.match(name):
            raise ValueError(f"invalid namespace name {name!r}: letters, digits, '-' and '_', at most 64")
        if name in cfg.nameservices:
            raise ValueError(f"namespace {name} already exists in {self.config_path}")
        running = [s["name"] for s in self.status() if s["alive"] and s["role"] == "datanode"]
        meta_dir = self.dir / "meta" / name
        meta_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        new = hconfig.NameserviceConfig(name, f"{self._server_host}:0", str(meta_dir),
                                        **{"http_address": f"{self._server_host}:0",
                                           **self.nameservice_settings.get(name, {})})
        # The new NameNode binds port 0 from a config beside the real one (same directory: same
        # secret and TLS files); the real one names it only once its address is known.
        bootstrap_path = self.dir / f"bootstrap-{name}.toml"
        self._write_config(dataclasses.replace(cfg, nameservices={**cfg.nameservices, name: new}), bootstrap_path)
        try:
            self._launch_namenode(name, bootstrap_path)
            address = self._await_ready(name)
        finally:
            bootstrap_path.unlink(missing_ok=True)
        # State first: a reader that sees the new table also finds its address.
        self._save_state(nameservices={name: address})
        edit = ConfigEdit(self.config_path)
        edit.add_nameservice(name, new.address, new.meta_dir, **self.nameservice_settings.get(name, {}))
        edit.save()
        self.config = hconfig.load(self.config_path)
        holder = self.config.holder()

        def joined() -> bool:
            try:
                if name not in self._mount_table(holder).nameservices:
                    return False
                return sum(d.alive for d in self.stats(name).datanodes) >= len(running)
            except (grpc.RpcError, OSError):
                return False
        if not _wait(joined, timeout):
            raise ClusterStartError(f"namespace {name} at {address} started, but after {timeout:.0f}s the mount "
                                    f"table holder {holder} does not list it or not all of {', '.join(running)} "
                                    f"registered with it\n{self.log_tail(name)}")
        return address

    def _mount_table(self, ns: str):
        cfg = self._require_config()
        with rpc.channel(self.namenode_address(ns), cfg) as channel:
            reply = pb_grpc.ClientProtocolStub(channel).GetMountTable(
                pb.GetMountTableRequest(), timeout=5.0, metadata=self._credentials(cfg).metadata(ns, cfg))
        return MountState.from_pb(reply.table)

    def down(self, timeout: float = 10.0) -> None:
        """SIGTERM every daemon, wait, SIGKILL the stragglers, clear pid/addr files."""
        procs = []
        for name in self._daemon_names():
            proc = self._live_process(name)
            if proc is not None:
                try:
                    proc.send_signal(signal.SIGTERM)
                    proc.send_signal(signal.SIGCONT)  # a daemon a test froze with SIGSTOP must see it too
                    procs.append(proc)
                except psutil.NoSuchProcess:
                    pass
        _, stragglers = psutil.wait_procs(procs, timeout=timeout)
        for proc in stragglers:
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(stragglers, timeout=5)
        for popen in self._procs.values():
            try:
                popen.wait(timeout=1)
            except (subprocess.TimeoutExpired, ChildProcessError):
                pass
        self._procs.clear()
        for name in self._daemon_names():
            self._clear_run_files(name)
        # After the daemons: a DataNode must not lose its link while it still runs.
        emulated_hosts.teardown(self.dir, self.config.cluster_id if self.config else None)

    def __enter__(self) -> "MiniCluster":
        return self.up()

    def __exit__(self, *exc) -> None:
        self.down()

    def status(self) -> list[dict]:
        """One dict per daemon: role, name, address, pid, alive."""
        cfg = self._require_config()
        rows = []
        for role, names in (("namenode", cfg.nameservices), ("datanode", cfg.datanodes)):
            for name in names:
                proc = self._live_process(name)
                addr_file = self._addr_file(name)
                address = addr_file.read_text().strip() if addr_file.exists() else ""
                if not address and role == "namenode":
                    address = cfg.nameservices[name].dial_address
                rows.append({"role": role, "name": name, "address": address,
                             "pid": proc.pid if proc else self._read_pid(name), "alive": proc is not None})
        return rows

    def webhdfs_address(self) -> str | None:
        """host:port of the running WebHDFS gateway (None when it is not running)."""
        addr_file = self._addr_file(WEBHDFS)
        if self._live_process(WEBHDFS) is None or not addr_file.exists():
            return None
        return addr_file.read_text().strip() or None

    def start_webhdfs(self) -> str:
        """(Re)start the WebHDFS gateway; its address once it serves."""
        self._require_config()
        self._ensure_stopped(WEBHDFS)
        self._launch_webhdfs()
        address = self._await_ready(WEBHDFS)
        self._save_state()
        return address

    # ------------------------------------------------------- fault helpers

    def kill_namenode(self, ns: str, sig: int = signal.SIGKILL) -> None:
        self._signal(self._check_ns(ns), sig)

    def kill_datanode(self, label: str, sig: int = signal.SIGKILL) -> None:
        self._signal(self._check_label(label), sig)

    def start_namenode(self, ns: str, wait: bool = True) -> str:
        """Restart one NameNode on the address clients and DataNodes already know."""
        self._check_ns(ns)
        self._ensure_stopped(ns)
        self._launch_namenode(ns, self.config_path)
        return self._await_ready(ns) if wait else ""

    def start_datanode(self, label: str, wait: bool = True) -> str:
        """Restart one DataNode; with ``wait``, until it registered with every NameNode."""
        self._check_label(label)
        self._ensure_stopped(label)
        self._launch_datanode(label)
        return self._await_ready(label) if wait else ""

    def namenode_pid(self, ns: str) -> int | None:
        proc = self._live_process(self._check_ns(ns))
        return proc.pid if proc else None

    def datanode_pid(self, label: str) -> int | None:
        proc = self._live_process(self._check_label(label))
        return proc.pid if proc else None

    def namenode_address(self, ns: str) -> str:
        return self._require_config().nameservices[self._check_ns(ns)].dial_address

    def _credentials(self, cfg: hconfig.ClusterConfig) -> credentials.Credentials:
        """The owner's credentials, found once per cluster: stats() is polled in wait loops."""
        found = getattr(self, "_found_credentials", None)
        if found is None or found[0] != cfg.cluster_id:
            found = self._found_credentials = (cfg.cluster_id, credentials.find(cfg))
        return found[1]

    def stats(self, ns: str, timeout: float = 5.0) -> pb.GetStatsResponse:
        """GetStats straight from one NameNode (no client library involved)."""
        cfg = self._require_config()
        with rpc.channel(self.namenode_address(ns), cfg) as channel:
            return pb_grpc.ClientProtocolStub(channel).GetStats(
                pb.GetStatsRequest(), timeout=timeout, metadata=self._credentials(cfg).metadata(ns, cfg))

    def wait_for_block_reports(self, timeout: float = 15.0) -> bool:
        """After a restart: wait until every NameNode sees all DataNodes alive and
        no missing blocks (block locations come back only through block reports).
        Returns False instead of failing, since a block may really be missing."""
        expected = len(self._require_config().datanodes)

        def settled():
            try:
                for ns in self.nameservices:
                    stats = self.stats(ns)
                    if stats.missing or sum(d.alive for d in stats.datanodes) < expected:
                        return False
                return True
            except grpc.RpcError:
                return False
        try:
            return wait_for(settled, timeout, "block reports", interval=0.1)
        except TimeoutError:
            return False

    # ------------------------------------------------------------ internals

    def _check_ns(self, ns: str) -> str:
        if ns not in self._require_config().nameservices:
            raise ValueError(f"unknown nameservice {ns!r} (cluster has {', '.join(self.nameservices)})")
        return ns

    def _check_label(self, label: str) -> str:
        if label not in self._require_config().datanodes:
            raise ValueError(f"unknown DataNode {label!r} (cluster has {', '.join(self.host_labels)})")
        return label

    def _daemon_names(self) -> list[str]:
        if self.config is None:
            return []
        return [*self.config.nameservices, *self.config.datanodes, WEBHDFS]

    def _launch_namenode(self, ns: str, conf: Path) -> None:
        self._launch(ns, [NAMENODE_MODULE, "--conf", str(conf), "--nameservice", ns])

    def _launch_datanode(self, label: str) -> None:
        # With emulated hosts, inside the host's network namespace (`ip netns exec` execs the daemon:
        # the pid stays the daemon's).
        prefix = self.emulation.exec_prefix(label) if self.emulation else []
        self._launch(label, [DATANODE_MODULE, "--conf", str(self.config_path), "--host-label", label], prefix)

    def _launch_webhdfs(self) -> None:
        self._launch(WEBHDFS, [GATEWAY_MODULE, "--conf", str(self.config_path)])

    def _launch(self, name: str, module_args: list[str], prefix: list[str] = ()) -> None:
        self._clear_run_files(name)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
        env["PYTHONUNBUFFERED"] = "1"
        cmd = [*prefix, sys.executable, "-m", *module_args, "--address-file", str(self._addr_file(name))]
        with open(self.log_path(name), "ab") as log:
            log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(cmd)}\n".encode())
            log.flush()
            # Own session: a Ctrl-C in the shell that ran `hfed cluster up` must not stop the cluster.
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    cwd=str(REPO_ROOT), env=env, start_new_session=True)
        self._procs[name] = proc
        self._pid_file(name).write_text(f"{proc.pid}\n")

    def _await_ready(self, name: str) -> str:
        """Wait for ``name``'s address file; fail fast if the process dies."""
        addr_file = self._addr_file(name)
        proc = self._procs.get(name)
        deadline = time.monotonic() + self.start_timeout
        while True:
            if addr_file.exists():
                address = addr_file.read_text().strip()
                if address:
                    return address
            if proc is not None and proc.poll() is not None:
                raise ClusterStartError(
                    f"{name} exited with code {proc.returncode} before it was ready\n{self.log_tail(name)}")
            if time.monotonic() > deadline:
                raise ClusterStartError(
                    f"{name} was not ready after {self.start_timeout:.0f}s (no {addr_file})\n{self.log_tail(name)}")
            time.sleep(0.05)

    def log_tail(self, name: str, lines: int = LOG_TAIL_LINES) -> str:
        """The last lines of ``name``'s log since its latest start."""
        try:
            text = self.log_path(name).read_text(errors="replace")
        except FileNotFoundError:
            return f"(no log at {self.log_path(name)})"
        text = text[text.rfind("\n=== "):] if "\n=== " in text else text
        tail = text.strip().splitlines()[-lines:]
        return f"--- last lines of {self.log_path(name)} ---\n" + "\n".join(tail)

    def _read_pid(self, name: str) -> int | None:
        try:
            return int(self._pid_file(name).read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def _live_process(self, name: str) -> psutil.Process | None:
        """The running daemon ``name`` (checked by command line, so a reused pid is not mistaken)."""
        popen = self._procs.get(name)
        if popen is not None:
            popen.poll()  # reap our own child if it exited
        pid = self._read_pid(name)
        if pid is None:
            return None
        try:
            proc = psutil.Process(pid)
            if proc.status() == psutil.STATUS_ZOMBIE:
                return None
            cmdline = proc.cmdline()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return None
        if name in cmdline and any(m in cmdline for m in (NAMENODE_MODULE, DATANODE_MODULE)):
            return proc
        if name == WEBHDFS and GATEWAY_MODULE in cmdline:
            return proc
        return None

    def _signal(self, name: str, sig: int) -> None:
        proc = self._live_process(name)
        if proc is None:
            raise ProcessLookupError(f"{name} is not running in cluster {self.dir}")
        proc.send_signal(sig)
        if sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT):
            try:
                proc.wait(timeout=10)
            except psutil.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
            popen = self._procs.pop(name, None)
            if popen is not None:
                popen.poll()
            self._clear_run_files(name)

    def _ensure_stopped(self, name: str) -> None:
        if self._live_process(name) is not None:
            raise RuntimeError(f"{name} is already running in cluster {self.dir}")

    def _clear_run_files(self, name: str) -> None:
        self._pid_file(name).unlink(missing_ok=True)
        self._addr_file(name).unlink(missing_ok=True)
        Path(f"{self._addr_file(name)}.tmp").unlink(missing_ok=True)


def _with_port(address: str, port: int) -> str:
    """``address``'s host (a wildcard stays one: the NameNode advertises its own name) with ``port``."""
    return hosts.join(address.rpartition(":")[0], port)


def _wait(condition, timeout: float, interval: float = 0.1) -> bool:
    """Poll ``condition`` until it holds (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True
