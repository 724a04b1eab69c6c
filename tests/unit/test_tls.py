"""The cluster's TLS material (protos/tls.py): created once, private, and only its CA is trusted."""
from __future__ import annotations

import hashlib
import multiprocessing
import socket
import ssl
import stat
import threading

import pytest
from cryptography import x509

from protos import errors, tls
from protos.config import from_dict

PROCESSES = 6


def make_cfg(directory, tls_on: bool = True):
    return from_dict({"cluster_id": "c-test", "nameservices": {"ns-a": {"address": "127.0.0.1:0"}},
                      "mounts": [{"path": "/", "nameservice": "ns-a"}],
                      "security": {"tls": tls_on, "tls_dir": str(directory), "secret_file": str(directory / "s")}})


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_material_is_created_once_with_private_keys_private(tmp_path):
    cfg = make_cfg(tmp_path / "tls")
    first = tls.ensure_tls(cfg)
    directory = tmp_path / "tls"
    assert mode(directory) == 0o755 and mode(directory / "private") == 0o700
    assert mode(directory / "ca.pem") == 0o644 and mode(directory / "cert.pem") == 0o644
    assert mode(directory / "private" / "key.pem") == 0o600 and mode(directory / "private" / "ca-key.pem") == 0o600
    again = tls.ensure_tls(cfg)
    assert again.ca_pem == first.ca_pem and again.cert_pem == first.cert_pem
    assert [p.name for p in tmp_path.iterdir()] == ["tls"]   # no staging directory left behind


def test_server_certificate_names_this_machine_and_is_signed_by_the_ca(tmp_path):
    material = tls.ensure_tls(make_cfg(tmp_path / "tls"))
    ca = x509.load_pem_x509_certificate(material.ca_pem)
    cert = x509.load_pem_x509_certificate(material.cert_pem)
    cert.verify_directly_issued_by(ca)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    hosts = {str(ip) for ip in names.get_values_for_type(x509.IPAddress)} | set(names.get_values_for_type(x509.DNSName))
    assert {"127.0.0.1", "::1", "localhost", socket.gethostname()} <= hosts


def _ensure_in_child(directory: str, results) -> None:
    from pathlib import Path
    results.put(hashlib.sha256(tls.ensure_tls(make_cfg(Path(directory))).ca_pem).hexdigest())


def test_racing_daemons_end_with_one_ca(tmp_path):
    directory = tmp_path / "tls"
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    procs = [ctx.Process(target=_ensure_in_child, args=(str(directory), results)) for _ in range(PROCESSES)]
    for proc in procs:
        proc.start()
    digests = [results.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(30)
        assert proc.exitcode == 0
    on_disk = hashlib.sha256((directory / "ca.pem").read_bytes()).hexdigest()
    assert set(digests) == {on_disk}
    assert [p.name for p in tmp_path.iterdir()] == ["tls"]


def test_incomplete_directory_is_refused_naming_it(tmp_path):
    directory = tmp_path / "tls"
    tls.ensure_tls(make_cfg(directory))
    (directory / "private" / "key.pem").unlink()
    with pytest.raises(errors.InvalidArgument, match=f"{directory}.*key.pem"):
        tls.ensure_tls(make_cfg(directory))


def test_client_without_the_ca_is_told_where_it_looked(tmp_path):
    with pytest.raises(errors.Unavailable, match=str(tmp_path / "tls" / "ca.pem")):
        tls.client_context(make_cfg(tmp_path / "tls"))


def test_tls_off_means_no_context(tmp_path):
    assert tls.context_for(make_cfg(tmp_path / "tls", tls_on=False)) is None
    assert tls.context_for(None) is None
    assert not (tmp_path / "tls").exists()


# ------------------------------------------------------------------ streams

def _stream_pair(server_cfg, client_cfg):
    """(client TlsStream, server TlsStream) over loopback, or the client side's error."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        outcome = {}

        def serve():
            conn, _ = listener.accept()
            try:
                outcome["server"] = tls.TlsStream.server(conn, tls.server_context(server_cfg))
            except OSError as e:
                outcome["server_error"] = e
                conn.close()
        thread = threading.Thread(target=serve)
        thread.start()
        sock = socket.create_connection(listener.getsockname())
        try:
            client = tls.TlsStream.client(sock, tls.client_context(client_cfg), "127.0.0.1")
        finally:
            thread.join(10)
        return client, outcome.get("server")


def test_stream_is_full_duplex_across_threads(tmp_path):
    """A pipeline sends packets on one thread and reads acks on another, on one connection."""
    cfg = make_cfg(tmp_path / "tls")
    tls.ensure_tls(cfg)
    client, server = _stream_pair(cfg, cfg)
    client.settimeout(30)
    server.settimeout(30)
    size, piece = 32 << 20, memoryview(bytes(range(256)) * 4096)   # 1 MiB pieces

    def pump(sock, received):
        buffer = memoryview(bytearray(1 << 20))
        got = 0
        while got < size:
            n = sock.recv_into(buffer)
            assert n
            got += n
        received.append(got)
    received = []
    readers = [threading.Thread(target=pump, args=(server, received)),
               threading.Thread(target=pump, args=(client, received))]
    for t in readers:
        t.start()
    writers = [threading.Thread(target=lambda s=s: [s.sendall(piece) for _ in range(size >> 20)])
               for s in (client, server)]
    for t in writers:
        t.start()
    for t in writers + readers:
        t.join(60)
    assert received == [size, size]
    client.close()
    assert server.recv_into(memoryview(bytearray(16))) == 0   # the peer closed: a clean end of stream
    server.close()


def test_client_trusting_another_ca_is_refused(tmp_path):
    cluster, other = make_cfg(tmp_path / "cluster"), make_cfg(tmp_path / "other")
    tls.ensure_tls(cluster)
    tls.ensure_tls(other)
    with pytest.raises(ssl.SSLCertVerificationError):
        _stream_pair(cluster, other)


def test_shutdown_from_another_thread_wakes_a_blocked_reader(tmp_path):
    cfg = make_cfg(tmp_path / "tls")
    tls.ensure_tls(cfg)
    client, server = _stream_pair(cfg, cfg)
    server.settimeout(30)
    outcome = []

    def read():
        try:
            outcome.append(server.recv_into(memoryview(bytearray(16))))
        except OSError as e:
            outcome.append(e)
    reader = threading.Thread(target=read)
    reader.start()
    server.shutdown(socket.SHUT_RDWR)
    reader.join(10)
    assert not reader.is_alive()
    assert outcome[0] == 0 or isinstance(outcome[0], OSError)   # end of stream, or the reset
    client.close()
    server.close()


def test_directory_holding_something_else_is_refused_naming_it(tmp_path):
    directory = tmp_path / "tls"
    directory.mkdir()
    (directory / "notes.txt").write_text("not a CA")
    with pytest.raises(errors.InvalidArgument, match=str(directory)):
        tls.ensure_tls(make_cfg(directory))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tls"]
