"""TLS for every channel: the cluster CA, its certificate, and the wrappers gRPC and DataTransfer use.

The first daemon (or ``hfed cluster up``) creates, in ``cfg.tls_path()``::

    ca.pem               the cluster CA's certificate (0644): all a client needs to check a server
    cert.pem             the server certificate every daemon of the cluster presents (0644)
    private/             0700
      key.pem            the server certificate's key (0600)
      ca-key.pem         the CA's key (0600), kept to sign certificates later

Keys are EC P-256 (what gRPC and OpenSSL both accept everywhere). Daemons share
one server certificate whose names are 127.0.0.1, ::1, localhost, this machine's host
name and every host the config names (addresses and advertise_host keys). A daemon
whose advertised name that certificate lacks (a wildcard bind advertising the name
of a machine the config does not spell out, a machine added later) issues itself a
certificate for its names with the CA's key, kept in ``private/hosts/<names>/``
(the same layout: ca.pem, cert.pem, private/key.pem). So for several machines the
whole TLS directory, private/ca-key.pem included, is copied to every machine that
runs a daemon; a machine that only runs clients needs ca.pem alone.

Several daemons starting at once must end up with the same material: each
generates a complete set in a temporary directory and renames the directory into
place; a rename onto a directory that is already filled fails, so the loser
discards its set and reads the winner's.

DataTransfer streams are full duplex across threads (a pipeline sends packets on
one thread and reads acks on another), which an OpenSSL connection does not
support on its own; ``TlsStream`` makes every TLS call non-blocking and short,
under one lock, and waits for the socket outside it.
"""
from __future__ import annotations

import datetime
import ipaddress
import os
import select
import shutil
import socket
import ssl
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from protos import errors
from protos.security import create_private_file

CA_FILE, CERT_FILE = "ca.pem", "cert.pem"
KEY_FILE, CA_KEY_FILE = "private/key.pem", "private/ca-key.pem"
HOSTS_DIR = "private/hosts"                # certificates a daemon issued itself for its own names
VALIDITY = datetime.timedelta(days=3650)   # the emulator's cluster lives as long as its directory
HANDSHAKE_TIMEOUT = 10.0                   # a peer that does not finish its handshake is dropped
LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class TlsMaterial:
    """PEM bytes of the cluster's CA certificate and server certificate, and where the key is."""
    directory: Path
    ca_pem: bytes
    cert_pem: bytes

    @property
    def key_path(self) -> Path:
        return self.directory / KEY_FILE

    def key_pem(self) -> bytes:
        return self.key_path.read_bytes()


# ------------------------------------------------------------------ creating the material

def _san_names(hosts) -> list[x509.GeneralName]:
    names, seen = [], set()
    for host in hosts:
        host = host.strip("[]")
        if not host or host in seen or host in ("0.0.0.0", "::"):
            continue
        seen.add(host)
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _config_hosts(cfg) -> list[str]:
    hosts = [ns.address.rpartition(":")[0] for ns in cfg.nameservices.values()]
    hosts += [dn.address.rpartition(":")[0] for dn in cfg.datanodes.values()]
    hosts += [section.advertise_host for section in (*cfg.nameservices.values(), *cfg.datanodes.values())
              if section.advertise_host]
    return hosts


def _certificate(subject: str, public_key, issuer: x509.Name, signing_key, ca: bool, hosts=()) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(issuer).public_key(public_key).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + VALIDITY)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False),
            critical=True)
    else:
        builder = (builder.add_extension(x509.SubjectAlternativeName(_san_names(hosts)), critical=False)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                         ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False))
    return builder.sign(signing_key, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _generate(directory: Path, cluster_id: str, hosts, ca: tuple | None = None) -> None:
    """A complete set of material in ``directory`` (which exists, empty): a new CA, or
    ``ca`` = (its certificate, its key) to issue a server certificate with."""
    if ca is None:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = _certificate(f"hfed cluster CA {cluster_id}", ca_key.public_key(),
                               x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"hfed cluster CA {cluster_id}")]),
                               ca_key, ca=True)
        create_private_file(directory / CA_KEY_FILE, _key_pem(ca_key))
    else:
        ca_cert, ca_key = ca
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _certificate(f"hfed daemon {cluster_id}", key.public_key(), ca_cert.subject, ca_key, ca=False,
                        hosts=[*LOCAL_NAMES, socket.gethostname(), *hosts])
    create_private_file(directory / KEY_FILE, _key_pem(key))
    for name, pem in ((CA_FILE, _pem(ca_cert)), (CERT_FILE, _pem(cert) + _pem(ca_cert))):
        fd = os.open(directory / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
    os.chmod(directory, 0o755)   # the certificates are public; private/ is 0700


def _missing(directory: Path) -> list[str]:
    return [name for name in (CA_FILE, CERT_FILE, KEY_FILE) if not (directory / name).is_file()]


def _create(directory: Path, generate) -> None:
    """``generate(staging)`` fills a fresh directory renamed to ``directory`` unless another
    process got there first (then its set is kept and ours discarded)."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        generate(staging)
        try:
            os.rename(staging, directory)   # fails if another process filled ``directory`` first
        except OSError as e:
            if not (directory / CA_FILE).is_file():
                raise errors.InvalidArgument(f"cannot create the TLS directory {directory}: "
                                             f"{e.strerror or e}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def ensure_tls(cfg, names=()) -> TlsMaterial:
    """The cluster's TLS material, created first if ``cfg.tls_path()`` does not hold it yet;
    with ``names`` (those a daemon advertises), material whose certificate carries them all.
    Safe when several processes call it at once: all of them end with the same CA."""
    directory = cfg.tls_path()
    if not (directory / CA_FILE).is_file():
        _create(directory, lambda staging: _generate(staging, cfg.cluster_id, _config_hosts(cfg)))
    missing = _missing(directory)
    if missing:
        raise errors.InvalidArgument(f"TLS directory {directory} lacks {', '.join(missing)}: "
                                     f"remove the directory to have the cluster create a new CA")
    shared = _load(directory)
    uncovered = sorted({n.strip("[]") for n in names} - cert_names(shared.cert_pem))
    if not uncovered:
        return shared
    return _host_material(cfg, directory, uncovered)


def cert_names(cert_pem: bytes) -> frozenset[str]:
    """The DNS names and IP addresses a PEM certificate (the first of a chain) is valid for."""
    def parse() -> frozenset[str]:
        cert = x509.load_pem_x509_certificate(cert_pem)
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            return frozenset()
        return frozenset([*san.get_values_for_type(x509.DNSName),
                          *(str(ip) for ip in san.get_values_for_type(x509.IPAddress))])
    with _cache_lock:
        key = ("names", cert_pem)
        if key not in _cache:
            _cache[key] = parse()
        return _cache[key]


def _host_material(cfg, directory: Path, names: list[str]) -> TlsMaterial:
    """Material for a daemon advertising ``names`` the shared certificate lacks: issued once
    with the CA's key into private/hosts/<names>/ and reused by every later start."""
    own = directory / HOSTS_DIR / "+".join(n.replace(":", "_").replace("/", "_") for n in names)
    if not (own / CA_FILE).is_file():
        ca_key_path = directory / CA_KEY_FILE
        if not ca_key_path.is_file():
            raise errors.InvalidArgument(
                f"the cluster certificate {directory / CERT_FILE} does not name {', '.join(names)} (the address "
                f"this daemon advertises), and the CA key {ca_key_path} is not on this machine to issue one: "
                f"copy the cluster's whole TLS directory (with private/) from the machine that created it")
        ca = (x509.load_pem_x509_certificate((directory / CA_FILE).read_bytes()),
              serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None))
        (directory / HOSTS_DIR).mkdir(mode=0o700, parents=True, exist_ok=True)
        _create(own, lambda staging: _generate(staging, cfg.cluster_id, names, ca=ca))
    return _load(own)


# ------------------------------------------------------------------ loading (cached)

_cache: dict[tuple, object] = {}
_cache_lock = threading.RLock()   # a maker may load what it builds on


def _cached(kind: str, path: Path, make):
    """``make()`` once per kind and version of ``path`` (PEMs are parsed once, not per connection)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise errors.Unavailable(f"no cluster CA certificate at {path}: the cluster's TLS material is created "
                                 f"when it starts (hfed cluster up), or set [security] tls = false") from None
    key = (kind, str(path), st.st_ino, st.st_mtime_ns)
    with _cache_lock:
        if key not in _cache:
            _cache[key] = make()
        return _cache[key]


def _load(directory: Path) -> TlsMaterial:
    return _cached("material", directory / CA_FILE, lambda: TlsMaterial(
        directory, (directory / CA_FILE).read_bytes(), (directory / CERT_FILE).read_bytes()))


def ca_pem(cfg) -> bytes:
    """The cluster CA's certificate: all a client needs (it never sees a private key)."""
    path = cfg.tls_path() / CA_FILE
    return _cached("ca", path, path.read_bytes)


# ------------------------------------------------------------------ gRPC

def server_credentials(cfg, names=()) -> grpc.ServerCredentials:
    """A server's credentials: a certificate carrying ``names`` (those it advertises)."""
    material = ensure_tls(cfg, names)
    return _cached("server-creds", material.directory / CA_FILE,
                   lambda: grpc.ssl_server_credentials([(material.key_pem(), material.cert_pem)]))


def channel_credentials(cfg) -> grpc.ChannelCredentials:
    return _cached("channel-creds", cfg.tls_path() / CA_FILE,
                   lambda: grpc.ssl_channel_credentials(root_certificates=ca_pem(cfg)))


# ------------------------------------------------------------------ DataTransfer

def server_context(cfg, names=()) -> ssl.SSLContext:
    material = ensure_tls(cfg, names)

    def make() -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.load_cert_chain(material.directory / CERT_FILE, material.key_path)
        ctx.num_tickets = 0   # no resumption: no post-handshake messages on a full-duplex stream
        return ctx
    return _cached("server-context", material.directory / CA_FILE, make)


def client_context(cfg) -> ssl.SSLContext:
    """Checks the DataNode's certificate against the cluster CA and the address dialled."""
    def make() -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.load_verify_locations(cadata=ca_pem(cfg).decode())
        return ctx
    return _cached("client-context", cfg.tls_path() / CA_FILE, make)


def context_for(cfg, server_side: bool = False, names=()) -> ssl.SSLContext | None:
    """The DataTransfer context of ``cfg``'s cluster, None when its TLS is off or its block
    bytes are not encrypted (``encrypt_data = false``: HDFS's dfs.encrypt.data.transfer).
    ``names``: those a server advertises (its certificate must carry them)."""
    if cfg is None or not cfg.security.tls or not cfg.security.encrypt_data:
        return None
    return server_context(cfg, names) if server_side else client_context(cfg)


def _wait(sock: socket.socket, events: int, timeout: float | None) -> None:
    poller = select.poll()
    poller.register(sock, events)
    if not poller.poll(None if timeout is None else max(0, int(timeout * 1000))):
        raise socket.timeout("timed out")


class TlsStream:
    """The socket calls DataTransfer makes (recv_into, sendall, settimeout, shutdown, close),
    over TLS. Each TLS call runs non-blocking under ``_lock`` (so a reading and a writing
    thread never run OpenSSL on one connection at once); waiting for the socket happens
    outside it. ``timeout`` bounds each wait, as a socket's timeout does."""

    def __init__(self, tls: ssl.SSLSocket, timeout: float | None):
        self._tls = tls
        self._timeout = timeout
        self._lock = threading.Lock()
        tls.settimeout(0)

    @classmethod
    def client(cls, sock: socket.socket, ctx: ssl.SSLContext, host: str) -> "TlsStream":
        timeout = sock.gettimeout()
        sock.settimeout(HANDSHAKE_TIMEOUT)
        return cls(ctx.wrap_socket(sock, server_hostname=host), timeout)

    @classmethod
    def server(cls, sock: socket.socket, ctx: ssl.SSLContext) -> "TlsStream":
        """Handshake with an accepted connection (on its own thread: a slow client stalls only itself)."""
        timeout = sock.gettimeout()
        sock.settimeout(HANDSHAKE_TIMEOUT)
        return cls(ctx.wrap_socket(sock, server_side=True), timeout)

    def _call(self, function, *args):
        while True:
            with self._lock:
                try:
                    return function(*args)
                except ssl.SSLWantReadError:
                    events = select.POLLIN
                except ssl.SSLWantWriteError:
                    events = select.POLLOUT
            _wait(self._tls, events, self._timeout)

    def recv_into(self, view, nbytes: int | None = None) -> int:
        return self._call(self._tls.recv_into, view, nbytes)

    def recv(self, size: int) -> bytes:
        return self._call(self._tls.recv, size)

    def sendall(self, data) -> None:
        view = memoryview(data).cast("B")
        sent = 0
        while sent < len(view):
            sent += self._call(self._tls.send, view[sent:])

    def settimeout(self, timeout: float | None) -> None:
        self._timeout = timeout

    def gettimeout(self) -> float | None:
        return self._timeout

    def setsockopt(self, *args) -> None:
        self._tls.setsockopt(*args)

    def fileno(self) -> int:
        return self._tls.fileno()

    def getpeername(self):
        return self._tls.getpeername()

    def shutdown(self, how: int) -> None:
        """Shut the TCP connection down (waking a thread waiting on it; its next TLS call
        fails). The plain socket's own shutdown: SSLSocket.shutdown would drop the TLS
        state under a thread still using it."""
        socket.socket.shutdown(self._tls, how)

    def close(self) -> None:
        self._tls.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
