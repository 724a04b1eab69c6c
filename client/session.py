"""ClusterSession: one client's connection to a federated cluster.

Everything below the fsspec facade (client/fs.py) that is shared per client
lives here, once: the config and mount table, who the client is (user,
groups, host label, client name for leases), one NameNode client per
namespace, the DataNode connection pool, each namespace's server defaults,
the DataNodes where write pipelines failed lately, and the small-file writers
(one staging container per namespace). Readers, writers, the archiver, the TF
adapter, the CLI and the load tests take a session; none of them reaches into
the filesystem object.
"""
from __future__ import annotations

import logging
import os
import threading
import time
import uuid

from client import credentials
from client.datanode_client import DatanodePool
from client.failed_datanodes import FailedDatanodes
from client.mount_table import MountTable, Resolved
from client.namenode_client import NamenodeClient, mount_table_of
from client.small_writer import SmallFileWriter
from protos import checksum, config, errors
from protos import hfed_pb2 as pb
from protos.mount_state import MountState

log = logging.getLogger(__name__)
MOUNT_REFRESH_GAP = 0.2   # seconds: a table that just failed to refresh is not asked for again sooner


class ClusterSession:
    def __init__(self, conf: str | os.PathLike | config.ClusterConfig | None = None, user: str | None = None,
                 host: str | None = None, groups: list[str] | None = None,
                 acting_for: credentials.Credentials | None = None):
        """``conf``: a config or its path (default: --conf / $HFED_CONF / the last `hfed cluster up`);
        ``host``: this client's host, for locality (default: config.client_host_label: $HFED_HOST,
        [client] host, else the DataNode of the config on this machine); ``acting_for``:
        the credentials a caller presented (the WebHDFS gateway), instead of this process's own."""
        if isinstance(conf, config.ClusterConfig):
            self.cfg = conf
        else:
            self.cfg = config.load(config.find_config_path(str(conf) if conf else None))
        self.mounts = MountTable(self.cfg)     # the config's table until the cluster's arrives
        self.credentials = acting_for or credentials.find(self.cfg, user, groups)
        self.user = self.credentials.user
        self.groups = self.credentials.groups or [self.user]   # what the client shows; NameNodes decide
        self.host = host or self.cfg.client_host_label()
        self.client_name = f"hfed-client-{self.host or 'nohost'}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.datanodes = DatanodePool(cfg=self.cfg)
        self.failed_datanodes = FailedDatanodes()
        self._lock = threading.Lock()
        self._namenodes: dict[str, NamenodeClient] = {}
        self._defaults: dict[str, pb.GetServerDefaultsResponse] = {}
        self._small_writers: dict[str, SmallFileWriter] = {}   # nameservice -> its open staging container
        self._mount_lock = threading.Lock()
        self._last_refresh_failed = 0.0
        self.refresh_mounts()

    def __repr__(self) -> str:
        return f"<ClusterSession user={self.user!r} host={self.host!r} {sorted(self.cfg.nameservices)}>"

    def resolve(self, path: str) -> Resolved:
        """The namespace of ``path`` (checked here unless it is a paths.CheckedPath already)."""
        try:
            return self.mounts.resolve(path)
        except errors.NotFound:
            if not self.refresh_mounts():     # a mount added since we last looked may cover it
                raise
            return self.mounts.resolve(path)

    def namenode(self, nameservice: str) -> NamenodeClient:
        with self._lock:
            client = self._namenodes.get(nameservice)
            if client is None:
                address = self._address_of(nameservice)
                if address is None:
                    raise errors.InvalidArgument(f"unknown nameservice {nameservice!r} "
                                                 f"(known: {', '.join(sorted(self.mounts.state.nameservices))})")
                client = self._namenodes[nameservice] = NamenodeClient(
                    nameservice, address, metadata=self.credentials.metadata(nameservice, self.cfg), cfg=self.cfg,
                    router=self)
            return client

    def _address_of(self, nameservice: str) -> str | None:
        """The config's address when it names the namespace (where this client was told to go;
        a restarted local cluster rewrites it), else the table's (a namespace added since)."""
        address = getattr(self.cfg.nameservices.get(nameservice), "dial_address", None) or \
            self.mounts.state.nameservices.get(nameservice)
        return None if address is None or address.endswith(":0") else address

    def nameservices(self) -> list[str]:
        """Every namespace of the cluster, by the current mount table."""
        return sorted(self.mounts.state.nameservices)

    # ---------------------------------------------------------- mount table

    @property
    def mount_version(self) -> int:
        return self.mounts.version

    def refresh_mounts(self) -> bool:
        """Fetch the cluster mount table (from its holder, else any NameNode that answers) if
        it is newer than ours. False when no NameNode answered: we keep routing by the cached table."""
        with self._mount_lock:
            if time.monotonic() - self._last_refresh_failed < MOUNT_REFRESH_GAP:
                return False
            known = self.mounts.version
            holder = self.mounts.state.holder or self.cfg.holder()
            for ns in [holder] + [n for n in self.nameservices() if n != holder]:
                try:
                    state = mount_table_of(self.namenode(ns), known)
                except (errors.HfedError, OSError):
                    continue
                if state is not None and state.version > self.mounts.version:
                    self._install(state)
                return True
            self._last_refresh_failed = time.monotonic()
            return False

    def _install(self, state: MountState) -> None:
        self.mounts = MountTable(state)
        with self._lock:
            for ns, client in list(self._namenodes.items()):
                address = self._address_of(ns)
                if address is not None and address != client.address:
                    # Served elsewhere now: new calls go there. Not closed: a stream still
                    # open holds the old client and finishes with it (or fails over).
                    del self._namenodes[ns]

    def namenode_for(self, path: str) -> NamenodeClient:
        return self.namenode(self.resolve(path).nameservice)

    def rebatch(self, entries: list[pb.BatchEntry], moved: errors.MountMoved) -> list:
        """A batch refused because a path moved: each entry sent where its path lives now.
        Small-file commits stay bound to their namespace's container: they get ``moved``."""
        self.refresh_mounts()
        results: list = [None] * len(entries)
        by_ns: dict[str, list[int]] = {}
        for i, entry in enumerate(entries):
            inner = getattr(entry, entry.WhichOneof("op"))
            if entry.WhichOneof("op") == "commit_small":
                results[i] = errors.MountMoved(moved.message, inner.path)
                continue
            try:
                by_ns.setdefault(self.resolve(inner.path).nameservice, []).append(i)
            except errors.HfedError as e:
                results[i] = e
        for ns, todo in by_ns.items():
            for i, result in zip(todo, self.namenode(ns).batch([entries[i] for i in todo])):
                results[i] = result
        return results

    # ------------------------------------------------------- server defaults

    def server_defaults(self, nameservice: str) -> pb.GetServerDefaultsResponse:
        if nameservice not in self._defaults:
            self._defaults[nameservice] = self.namenode(nameservice).get_server_defaults()
        return self._defaults[nameservice]

    def default_block_size(self, nameservice: str) -> int:
        return self.server_defaults(nameservice).block_size or self.cfg.block_size

    def bytes_per_checksum(self, nameservice: str) -> int:
        return self.server_defaults(nameservice).bytes_per_checksum or checksum.BYTES_PER_CHECKSUM

    def small_file_threshold(self, nameservice: str) -> int:
        """Files of 0 < size < this many bytes get no block in that namespace (0: packing is off)."""
        return self.server_defaults(nameservice).small_file_threshold

    # ---------------------------------------------------------------- blocks

    def block_locations(self, target: Resolved) -> pb.LocatedBlocks:
        """Where every byte of a file is (and its status), nearest replicas first: one NameNode call."""
        return self.namenode(target.nameservice).get_block_locations(target.path, 0, 1 << 62, self.host)

    def report_bad_replica(self, nameservice: str, block: pb.Block, datanode_uuid: str, token: str = "") -> None:
        """Tell the NameNode a replica looks corrupt; ``token`` is the read token the block was
        read with (with block tokens on, the NameNode acts only on claims that carry one)."""
        self.namenode(nameservice).report_bad_blocks([(block, datanode_uuid, token)])

    def stats(self) -> list[tuple[str, pb.GetStatsResponse | Exception]]:
        """Each namespace's statistics, or the error when it is down (the others still answer)."""
        result = []
        for ns in self.nameservices():
            try:
                result.append((ns, self.namenode(ns).get_stats()))
            except (errors.HfedError, OSError) as e:
                result.append((ns, e))
        return result

    # ----------------------------------------------------------- small files

    def small_writer(self, nameservice: str) -> SmallFileWriter:
        """This client's writer of small files into ``nameservice`` (client/small_writer.py)."""
        with self._lock:
            writer = self._small_writers.get(nameservice)
        if writer is None:
            created = SmallFileWriter(self.namenode(nameservice), self.datanodes, self.client_name, self.host,
                                      self.failed_datanodes)
            with self._lock:
                writer = self._small_writers.setdefault(nameservice, created)
            if writer is not created:
                created.close()
        return writer

    def flush_small_files(self) -> None:
        """Close the open staging containers, so the NameNodes' packers may pack them."""
        with self._lock:
            writers, self._small_writers = list(self._small_writers.values()), {}
        for writer in writers:
            writer.close()

    def close(self) -> None:
        self.flush_small_files()
        with self._lock:
            namenodes, self._namenodes = list(self._namenodes.values()), {}
        for client in namenodes:
            client.close()
        self.datanodes.close()
