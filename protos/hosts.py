"""Which address a daemon binds, which address it advertises, and which host it is.

Every daemon binds the address its config section gives ("10.0.0.5:9866",
"0.0.0.0:9866", "[::]:9866") and tells others the address they should dial
(HDFS: dfs.datanode.hostname, dfs.namenode.rpc-bind-host):

- ``advertise_host`` in the section, when set;
- else the bound host, unless it is a wildcard;
- for a wildcard bind, this machine's name: its fully qualified host name when
  that resolves to one of its own non-loopback addresses, else its first
  non-loopback address. A machine with neither cannot be reached by others: the
  daemon refuses to start, naming the key to set.

The port advertised is always the port bound (port 0 binds any free one).

A config address that is not one of this machine's is refused when the daemon
binds it, naming the address and the key: the same file serves every machine,
and each daemon must be started on the machine its section names.
"""
from __future__ import annotations

import errno
import functools
import ipaddress
import re
import socket

import psutil

from protos.errors import InvalidArgument

WILDCARDS = frozenset({"", "0.0.0.0", "::", "[::]"})
SHARED_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})   # every DataNode of one machine


def split(address: str) -> tuple[str, int]:
    """("host", port) of "host:port"; an IPv6 host loses its brackets."""
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def join(host: str, port: int) -> str:
    """"host:port", an IPv6 host bracketed."""
    host = host.strip("[]")
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                       r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$")


def valid_host(host: str) -> bool:
    """Whether ``host`` is an IP address or a DNS host name (what can be advertised)."""
    try:
        ipaddress.ip_address(host.strip("[]"))
        return not is_wildcard(host)
    except ValueError:
        return bool(_HOSTNAME.match(host))


def is_wildcard(host: str) -> bool:
    return host in WILDCARDS


@functools.cache
def local_addresses() -> frozenset[str]:
    """The IP addresses of this machine's interfaces (loopback ones included)."""
    found = set()
    for addrs in psutil.net_if_addrs().values():
        for addr in addrs:
            if addr.family in (socket.AF_INET, socket.AF_INET6):
                found.add(addr.address.split("%", 1)[0])
    return frozenset(found)


def _routable(ip: str) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return not (address.is_loopback or address.is_link_local or address.is_unspecified)


def resolve(host: str) -> set[str]:
    """The IP addresses ``host`` names (empty when it resolves to nothing)."""
    try:
        return {info[4][0].split("%", 1)[0] for info in socket.getaddrinfo(host.strip("[]"), None,
                                                                         type=socket.SOCK_STREAM)}
    except (socket.gaierror, UnicodeError):
        return set()


@functools.cache
def machine_host() -> str:
    """The name other machines should use for this one: its FQDN when that resolves to one
    of its own non-loopback addresses, else its first non-loopback address ("" if none)."""
    own = {ip for ip in local_addresses() if _routable(ip)}
    fqdn = socket.getfqdn()
    if fqdn and resolve(fqdn) & own:
        return fqdn
    ordered = sorted(own, key=lambda ip: (ipaddress.ip_address(ip).version, ipaddress.ip_address(ip)))
    return ordered[0] if ordered else ""


def advertised_host(bind_address: str, advertise_host: str, key: str) -> str:
    """The host others should dial for a daemon bound to ``bind_address`` (``key`` names
    the config key of that address in errors)."""
    if advertise_host:
        return advertise_host.strip("[]")
    host = bind_address.rpartition(":")[0]
    if not is_wildcard(host):
        return host.strip("[]")
    found = machine_host()
    if not found:
        advertise_key = key.rpartition(".")[0] + ".advertise_host" if "." in key else "webhdfs_advertise_host"
        raise InvalidArgument(f"{key} = {bind_address!r} binds every address of this machine, but it has no "
                              f"non-loopback address to advertise to others: set {advertise_key} to the "
                              f"name or address other machines reach it at")
    return found


def advertised(bind_address: str, port: int, advertise_host: str = "", key: str = "address") -> str:
    """"host:port" others should dial for a daemon bound to ``bind_address`` on ``port``."""
    return join(advertised_host(bind_address, advertise_host, key), port)


def is_this_machine(host: str) -> bool:
    """Whether ``host`` (a name or an address) is one of this machine's interface addresses."""
    host = host.strip("[]")
    return bool(host) and bool(({host} | resolve(host)) & local_addresses())


def check_bindable(address: str, key: str) -> None:
    """InvalidArgument naming ``key`` when ``address``'s host is not an address of this
    machine (nothing can bind it here), before a server tries and fails obscurely."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    if is_wildcard(host):
        return
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        raise InvalidArgument(f"{key} = {address!r}: cannot resolve host {host!r} ({e}); "
                              f"give a name or address of this machine") from None
    reasons = []
    for family, _, _, _, sockaddr in infos:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((sockaddr[0], 0))
                return
            except OSError as e:
                if e.errno != errno.EADDRNOTAVAIL:
                    return       # let the server's own bind report it (a permission, say)
                reasons.append(sockaddr[0])
    own = ", ".join(sorted(ip for ip in local_addresses() if _routable(ip))) or "only loopback"
    named = host if reasons == [host] else f"{host} ({', '.join(reasons)})"
    raise InvalidArgument(f"{key} = {address!r}: {named} is not an address of this "
                          f"machine (its addresses: {own}); start this daemon on the machine that has it, "
                          f"or bind 0.0.0.0 and set advertise_host")


def check_section(where: str, advertise_host: str, **addresses: str) -> None:
    """Before a daemon loads anything: each of its addresses (key -> "host:port") can be
    bound here and has a host to advertise; InvalidArgument naming ``where``.key otherwise."""
    for key, address in addresses.items():
        check_bindable(address, f"{where}.{key}")
        advertised_host(address, advertise_host, f"{where}.{key}")
