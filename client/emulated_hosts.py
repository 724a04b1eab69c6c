"""Emulated hosts: each DataNode of a local cluster in its own network namespace, with its own
IP address and a rate-limited link (`hfed cluster up --emulate-hosts N --link 1gbit`).

    root namespace                      hfed-<tag>-host-1         hfed-<tag>-host-2  ...
    bridge hf<tag>-br 198.18.K.1/24     eth0 198.18.K.2/24        eth0 198.18.K.3/24
      NameNodes, WebHDFS gateway,         DataNode host-1,          DataNode host-2,
      clients without a host              its trainers              its trainers
      hf<tag>-v1 ---- veth ---- eth0      hf<tag>-v2 ---- veth ---- eth0

Addresses come only from 198.18.0.0/15 (RFC 2544, reserved for network benchmarks): one /24
per cluster, the first one no interface of this machine uses. Every host's link is limited
in both directions by an htb class at ``link`` (tc's rate syntax, e.g. 1gbit): on the
bridge-side veth end (traffic into the host) and on the host's eth0 (traffic out of it), so a
block read from another host crosses two shaped links, as between two machines on a switch.
Traffic inside one namespace (a trainer reading its own host's DataNode) stays on that
namespace's loopback and is not shaped. netem is not used (this machine's kernel lacks it).

The commands are iproute2's `ip` and `tc` through subprocess (pyroute2 is not a dependency,
and the commands are the ones an operator would type to inspect or undo what we did).

The spec (DIR/emulated_hosts.json) is written before anything is created and names every
namespace and link, so whatever a killed launcher left behind is removed by the next
``teardown`` (run by `cluster up` before it builds and by `cluster down`), as are namespaces
and links carrying this cluster's tag that the spec does not name.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from protos.files import replace_atomically

SPEC_NAME = "emulated_hosts.json"
BENCHMARK_RANGE = ipaddress.ip_network("198.18.0.0/15")
NETNS_PREFIX = "hfed-"
LINK_PREFIX = "hf"
HOST_IFACE = "eth0"
_RATE = re.compile(r"^(\d+(?:\.\d+)?)(bit|kbit|mbit|gbit|tbit)$", re.IGNORECASE)
_UNITS = {"bit": 1, "kbit": 10**3, "mbit": 10**6, "gbit": 10**9, "tbit": 10**12}
HTB_QUANTUM = 200000   # bytes per round; the kernel's largest without a warning (GSO packets are 64 KB)


class EmulationError(RuntimeError):
    """Emulated hosts cannot be set up here (no root, no netns support) or a command failed."""


def link_bits(link: str) -> int:
    """Bits per second of a tc rate such as "1gbit"; ValueError naming the accepted form."""
    m = _RATE.match(link.strip())
    if not m:
        raise ValueError(f"--link {link!r}: expected a rate such as 100mbit, 1gbit or 10gbit")
    bits = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    if bits < 10**5:
        raise ValueError(f"--link {link!r}: at least 100kbit")
    return bits


def support_problem() -> str | None:
    """Why this process cannot create emulated hosts, or None."""
    if os.geteuid() != 0:
        return ("emulated hosts need root (network namespaces, veth links and tc qdiscs); run as root "
                "or start the cluster without --emulate-hosts (DataNodes then share 127.0.0.1 with host labels)")
    missing = [tool for tool in ("ip", "tc") if shutil.which(tool) is None]
    if missing:
        return (f"emulated hosts need iproute2's {' and '.join(missing)} (Debian/Ubuntu: apt-get install iproute2); "
                f"without it start the cluster without --emulate-hosts")
    if not Path("/proc/self/ns/net").exists() or not Path("/sys/class/net").is_dir():
        return "this kernel has no network namespaces (/proc/self/ns/net); start the cluster without --emulate-hosts"
    return None


@dataclasses.dataclass(frozen=True)
class EmulatedHost:
    label: str
    netns: str
    veth: str      # the bridge-side end in the root namespace; the host-side end is eth0 in netns
    ip: str


@dataclasses.dataclass(frozen=True)
class Emulation:
    tag: str
    subnet: str                  # e.g. 198.18.0.0/24
    link: str                    # tc rate of every host's link, e.g. 1gbit
    hosts: tuple[EmulatedHost, ...]

    @property
    def bridge(self) -> str:
        return f"{LINK_PREFIX}{self.tag}-br"

    @property
    def bridge_ip(self) -> str:
        return str(ipaddress.ip_network(self.subnet)[1])

    @property
    def link_bits(self) -> int:
        return link_bits(self.link)

    def host(self, label: str) -> EmulatedHost | None:
        return next((h for h in self.hosts if h.label == label), None)

    def exec_prefix(self, label: str) -> list[str]:
        """Command prefix that runs a program inside ``label``'s namespace ([] for a host not emulated)."""
        host = self.host(label)
        return ["ip", "netns", "exec", host.netns] if host else []

    def to_json(self) -> str:
        return json.dumps({"tag": self.tag, "subnet": self.subnet, "link": self.link,
                           "hosts": [dataclasses.asdict(h) for h in self.hosts]}, indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "Emulation":
        raw = json.loads(text)
        return cls(raw["tag"], raw["subnet"], raw["link"], tuple(EmulatedHost(**h) for h in raw["hosts"]))


def tag_of(cluster_id: str) -> str:
    """Six hex digits of the cluster id: unique enough per machine, short enough for a 15-byte link name."""
    digits = re.sub(r"[^0-9a-f]", "", cluster_id.lower().removeprefix("cid-"))
    return (digits or "000000")[:6]


def spec_path(cluster_dir) -> Path:
    return Path(cluster_dir) / SPEC_NAME


def load(cluster_dir) -> Emulation | None:
    """The cluster's emulated hosts (None for a cluster whose hosts are labels on 127.0.0.1)."""
    path = spec_path(cluster_dir)
    return Emulation.from_json(path.read_text()) if path.exists() else None


def plan(cluster_id: str, labels: list[str], link: str) -> Emulation:
    """Names and addresses for a new cluster: the first /24 of 198.18.0.0/15 no interface uses."""
    link_bits(link)
    if len(labels) > 250:
        raise ValueError(f"--emulate-hosts {len(labels)}: at most 250 hosts (one /24 of {BENCHMARK_RANGE})")
    used = _used_subnets()
    subnet = next((s for s in BENCHMARK_RANGE.subnets(new_prefix=24) if s not in used), None)
    if subnet is None:
        raise EmulationError(f"every /24 of {BENCHMARK_RANGE} is in use on this machine: "
                             f"stop another emulated cluster first")
    tag = tag_of(cluster_id)
    hosts = tuple(EmulatedHost(label, f"{NETNS_PREFIX}{tag}-{label}", f"{LINK_PREFIX}{tag}-v{i}", str(subnet[i + 1]))
                  for i, label in enumerate(labels, start=1))
    return Emulation(tag, str(subnet), link.lower(), hosts)


def _used_subnets() -> set[ipaddress.IPv4Network]:
    out = _run(["ip", "-4", "-o", "addr", "show"]).stdout
    used = set()
    for m in re.finditer(r"inet (\d+\.\d+\.\d+\.\d+)/\d+", out):
        address = ipaddress.ip_address(m.group(1))
        if address in BENCHMARK_RANGE:
            used.add(ipaddress.ip_network(f"{address}/24", strict=False))
    return used


# ------------------------------------------------------------------ build and remove

def build(cluster_dir, emulation: Emulation) -> None:
    """Write the spec, remove leftovers of this cluster, then create bridge, namespaces, veths, qdiscs.
    On any failure everything is removed again and EmulationError says which command failed."""
    problem = support_problem()
    if problem:
        raise EmulationError(problem)
    replace_atomically(spec_path(cluster_dir), emulation.to_json())
    teardown(cluster_dir)
    subnet = ipaddress.ip_network(emulation.subnet)
    if subnet in _used_subnets():
        raise EmulationError(f"{subnet} (this cluster's emulated hosts) is in use by another interface on this "
                             f"machine (ip -4 addr): stop what uses it, or start a new cluster directory")
    br = emulation.bridge
    try:
        _run(["ip", "link", "add", br, "type", "bridge"])
        _run(["ip", "addr", "add", f"{emulation.bridge_ip}/{subnet.prefixlen}", "dev", br])
        _run(["ip", "link", "set", br, "up"])
        for host in emulation.hosts:
            ns = host.netns
            _run(["ip", "netns", "add", ns])
            _run(["ip", "link", "add", host.veth, "type", "veth", "peer", "name", HOST_IFACE, "netns", ns])
            _run(["ip", "link", "set", host.veth, "master", br, "up"])
            _run(["ip", "-n", ns, "addr", "add", f"{host.ip}/{subnet.prefixlen}", "dev", HOST_IFACE])
            _run(["ip", "-n", ns, "link", "set", HOST_IFACE, "up"])
            _run(["ip", "-n", ns, "link", "set", "lo", "up"])
            shape(emulation, host.label, emulation.link)
    except EmulationError:
        teardown(cluster_dir)
        raise


def shape(emulation: Emulation, label: str, rate: str | None) -> None:
    """Limit ``label``'s link to ``rate`` both ways (None: unlimited; a benchmark compares the two)."""
    host = emulation.host(label)
    for netns_args, dev in (([], host.veth), (["-n", host.netns], HOST_IFACE)):   # into / out of the host
        _run(["tc", *netns_args, "qdisc", "del", "dev", dev, "root"], check=False)   # none yet: fine
        if rate is None:
            continue
        link_bits(rate)
        _run(["tc", *netns_args, "qdisc", "add", "dev", dev, "root", "handle", "1:", "htb", "default", "1"])
        _run(["tc", *netns_args, "class", "add", "dev", dev, "parent", "1:", "classid", "1:1", "htb",
              "rate", rate, "ceil", rate, "quantum", str(HTB_QUANTUM)])


def teardown(cluster_dir, cluster_id: str | None = None) -> list[str]:
    """Remove every namespace and link the spec names, and any carrying the cluster's tag; returns
    what was removed. Deleting a namespace deletes its veth pair and qdiscs; the bridge goes last."""
    emulation = load(cluster_dir)
    tags = {emulation.tag} if emulation else set()
    if cluster_id:
        tags.add(tag_of(cluster_id))
    if not tags or support_problem():
        return []
    netns = {h.netns for h in emulation.hosts} if emulation else set()
    links = ({h.veth for h in emulation.hosts} | {emulation.bridge}) if emulation else set()
    netns |= {ns for ns in list_netns() if any(ns.startswith(f"{NETNS_PREFIX}{t}-") for t in tags)}
    removed = []
    for ns in sorted(netns):
        if _run(["ip", "netns", "del", ns], check=False).returncode == 0:
            removed.append(f"netns {ns}")
    present = list_links()
    links |= {name for name in present if any(name.startswith(f"{LINK_PREFIX}{t}-") for t in tags)}
    for name in sorted(links, key=lambda n: n.endswith("-br")):   # veths before the bridge
        if name in present and _run(["ip", "link", "del", name], check=False).returncode == 0:
            removed.append(f"link {name}")
    return removed


def list_netns() -> list[str]:
    out = _run(["ip", "netns", "list"], check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def list_links() -> list[str]:
    out = _run(["ip", "-o", "link", "show"], check=False).stdout
    return [m.group(1) for m in re.finditer(r"^\d+: ([^:@\s]+)", out, re.MULTILINE)]


def _run(cmd: list[str], check: bool = True) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise EmulationError(f"emulated hosts: `{' '.join(cmd)}` failed: {e}") from None
    if check and proc.returncode != 0:
        raise EmulationError(f"emulated hosts: `{' '.join(cmd)}` failed (exit {proc.returncode}): "
                             f"{proc.stderr.strip() or proc.stdout.strip()}")
    return proc
