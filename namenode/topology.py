"""Which rack a host is on, and how far a reader is from a DataNode (HDFS's NetworkTopology).

Racks come from the config's [topology] table (host label, then the host of an address),
else from its script, HDFS's net.topology.script.file.name contract: called with host names
as arguments, it prints one rack per argument. Results are cached for the NameNode's life, as
HDFS caches them. A script that fails, times out or prints something that is not one rack
path per host puts those hosts on DEFAULT_RACK; the first such failure is logged as a warning,
later ones only at debug level, so a broken script does not flood the log.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading

from protos.config import DEFAULT_RACK, RACK_PATTERN, TopologyConfig

log = logging.getLogger(__name__)

# HDFS's distances (NetworkTopology.getDistance for a two-level tree).
SAME_HOST, SAME_RACK, OFF_RACK = 0, 2, 4


class Topology:
    def __init__(self, config: TopologyConfig | None = None):
        config = config or TopologyConfig()
        self.racks = dict(config.racks)
        self.script, self.timeout = config.script, config.script_timeout
        self._cache: dict[str, str] = {}
        self._lock = threading.Lock()     # one script call at a time; the cache is filled under it
        self.failures = 0                 # script calls that failed (the first one was logged as a warning)

    def rack_of(self, label: str, address_host: str = "") -> str:
        """The rack of a host known by ``label`` (and the host part of its address)."""
        for name in (label, address_host):
            if name and name in self.racks:
                return self.racks[name]
        name = label or address_host
        if not self.script or not name:
            return DEFAULT_RACK
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        with self._lock:
            if name not in self._cache:
                self._cache[name] = self._run_script([name])[0]
            return self._cache[name]

    def _run_script(self, hosts: list[str]) -> list[str]:
        try:
            proc = subprocess.Popen([self.script, *hosts], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    stdin=subprocess.DEVNULL, text=True, start_new_session=True)
        except OSError as e:
            return self._failed(hosts, f"cannot run it: {e.strerror or e}")
        try:
            out, err = proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)     # its whole group: a child holding the pipe too
            proc.communicate()
            return self._failed(hosts, f"no answer within script_timeout = {self.timeout:g}s")
        if proc.returncode != 0:
            return self._failed(hosts, f"exit status {proc.returncode}: {err.strip()[:200]!r}")
        racks = out.split()
        if len(racks) != len(hosts):
            return self._failed(hosts, f"printed {len(racks)} words for {len(hosts)} hosts: {out.strip()[:200]!r}")
        bad = [rack for rack in racks if not RACK_PATTERN.match(rack)]
        if bad:
            return self._failed(hosts, f"printed {bad[0][:100]!r}, not a rack path such as /rack-1")
        return racks

    def _failed(self, hosts: list[str], why: str) -> list[str]:
        self.failures += 1
        message = "topology script %s for %s: %s; using %s for them"
        if self.failures == 1:
            log.warning(message + " (further script failures are logged at debug level only)",
                        self.script, " ".join(hosts), why, DEFAULT_RACK)
        else:
            log.debug(message, self.script, " ".join(hosts), why, DEFAULT_RACK)
        return [DEFAULT_RACK] * len(hosts)

    def distance(self, client_host: str, client_rack: str | None, node) -> int:
        """Network distance from a reader on ``client_host`` (on ``client_rack``, None: unknown)
        to DataNode ``node``."""
        if client_host and node.host_label == client_host:
            return SAME_HOST
        return SAME_RACK if client_rack is not None and node.rack == client_rack else OFF_RACK

    def client_rack(self, client_host: str) -> str | None:
        return self.rack_of(client_host) if client_host else None


def address_host(address: str) -> str:
    """"10.0.0.7:9866" -> "10.0.0.7" ("[::1]:9866" -> "::1")."""
    host = address.rpartition(":")[0]
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host
