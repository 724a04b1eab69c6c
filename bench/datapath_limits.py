"""This machine's byte-moving limits, measured in the same run as hfed's data path.

  * raw socket stream - a second process ``sendall``s from one 1 MiB buffer over
                        loopback TCP; this process ``recv_into``s one reused 1 MiB buffer
  * TLS socket stream - the same over TLS 1.3 (Python's ssl, the cluster's certificate):
                        the ceiling of a DataTransfer stream when TLS is on. This
                        machine's kernel has no TLS offload (kTLS), so OpenSSL encrypts
                        and decrypts in user space, one 16 KiB record per call
  * sendfile          - the second process ``os.sendfile``s a page-cached file to the
                        socket; this process receives the same way
  * plain file read   - ``readinto`` one reused buffer from a page-cached local file
  * new-data write x3 - three processes at once each write the same amount of new
                        file data from one reused buffer (what replication 3 on one
                        machine asks of the page cache: every byte lands in three
                        new files); on a VM that backs guest memory lazily, fresh
                        page-cache pages cost far more than the copy itself; and
                        the same with O_DIRECT (what the disk takes, no page cache)

Each is the fastest simple way Python moves those bytes, so a ratio against it is
conservative. The sender runs as ``python -m bench.datapath_limits send|sendfile``
(a separate process, as a DataNode is, so the two sides do not share a GIL).
"""
from __future__ import annotations

import argparse
import mmap
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

SOCKET_BUFFER = 1 << 20       # 1 MiB send and receive buffers
PLAIN_READ_BUFFER = 4 << 20   # as earlier runs of this benchmark, so the local-read ratio stays comparable
ACCEPT_TIMEOUT = 30.0


# ------------------------------------------------------------- sender side

def _connect(port: int, tls_conf: str = "") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    if tls_conf:
        from protos import config, tls
        sock = tls.client_context(config.load(tls_conf)).wrap_socket(sock, server_hostname="127.0.0.1")
    return sock


def send_stream(port: int, size: int, tls_conf: str = "") -> None:
    payload = memoryview(os.urandom(SOCKET_BUFFER))
    with _connect(port, tls_conf) as sock:
        sent = 0
        while sent < size:
            n = min(SOCKET_BUFFER, size - sent)
            sock.sendall(payload[:n])
            sent += n


def send_file(port: int, path: str) -> None:
    with _connect(port) as sock, open(path, "rb") as f:
        size, offset = os.fstat(f.fileno()).st_size, 0
        while offset < size:
            n = os.sendfile(sock.fileno(), f.fileno(), offset, size - offset)
            if n == 0:
                raise EOFError(f"sendfile returned 0 at offset {offset} of {size} ({path})")
            offset += n


def write_new_file(path: str, size: int, direct: bool = False) -> None:
    """Write ``size`` bytes of new data to ``path`` (``direct``: with O_DIRECT from a
    page-aligned buffer, past the page cache); print start and end wall times."""
    payload = mmap.mmap(-1, PLAIN_READ_BUFFER)
    payload.write(os.urandom(PLAIN_READ_BUFFER))
    view = memoryview(payload)
    start = time.time()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | (os.O_DIRECT if direct else 0), 0o644)
    try:
        written = 0
        while written < size:
            written += os.write(fd, view[:min(len(view), size - written)])
    finally:
        os.close(fd)
    print(start, time.time())


# ----------------------------------------------------------- receiver side

def _receive_from(sender_args: list[str], size: int, ssl_context=None) -> float:
    """Start a sender process that connects back to us; recv_into until ``size`` bytes
    arrived. Timed from the accepted connection (and, with ``ssl_context``, its TLS
    handshake) to the last byte (the sender's interpreter start-up is not part of the figure)."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(ACCEPT_TIMEOUT)
        port = server.getsockname()[1]
        proc = subprocess.Popen([sys.executable, "-m", "bench.datapath_limits", *sender_args,
                                 "--port", str(port)], cwd=str(Path(__file__).resolve().parent.parent))
        try:
            conn, _ = server.accept()
            if ssl_context is not None:
                conn = ssl_context.wrap_socket(conn, server_side=True)
            buffer = bytearray(SOCKET_BUFFER)
            with conn:
                start, got = time.perf_counter(), 0
                while got < size:
                    n = conn.recv_into(buffer)
                    if n == 0:
                        break
                    got += n
                elapsed = time.perf_counter() - start
            if proc.wait(60) != 0:
                raise RuntimeError(f"sender {' '.join(sender_args)} exited with {proc.returncode}")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    if got != size:
        raise RuntimeError(f"received {got} of {size} bytes from sender {' '.join(sender_args)}")
    return size / elapsed


def socket_stream_rate(size: int) -> float:
    """Bytes/s of a sendall -> recv_into stream between two processes over loopback."""
    return _receive_from(["send", "--size", str(size)], size)


def tls_stream_rate(size: int, cfg) -> float:
    """Bytes/s of the same stream over TLS with ``cfg``'s cluster certificate."""
    from protos import tls
    return _receive_from(["send", "--size", str(size), "--tls-conf", cfg.source], size, tls.server_context(cfg))


def sendfile_rate(path: Path) -> float:
    """Bytes/s of os.sendfile from a page-cached file to a loopback socket."""
    with open(path, "rb") as f:   # make sure it is in the page cache
        while f.read(PLAIN_READ_BUFFER):
            pass
    return _receive_from(["sendfile", "--file", str(path)], path.stat().st_size)


def new_data_write_rate(directory: Path, size: int, writers: int = 3, direct: bool = False) -> float:
    """Bytes/s per writer when ``writers`` processes each write ``size`` bytes of new
    file data at once (timed from the first start to the last end); ``direct``: with
    O_DIRECT, what the disk takes when no page cache is filled."""
    os.sync()   # start from no dirty pages, as the hfed write does
    paths = [directory / f"new-data-{i}.bin" for i in range(writers)]
    procs = [subprocess.Popen([sys.executable, "-m", "bench.datapath_limits", "write", "--file", str(p),
                               "--size", str(size), *(["--direct"] if direct else [])],
                              stdout=subprocess.PIPE, text=True,
                              cwd=str(Path(__file__).resolve().parent.parent)) for p in paths]
    try:
        times = [tuple(map(float, proc.communicate(timeout=600)[0].split())) for proc in procs]
        if any(proc.returncode for proc in procs):
            raise RuntimeError(f"a new-data writer failed: {[proc.returncode for proc in procs]}")
    finally:
        for path in paths:
            path.unlink(missing_ok=True)
    return size / (max(end for _, end in times) - min(start for start, _ in times))


def plain_read_rate(path: Path) -> float:
    """Bytes/s of readinto one reused buffer (no allocation per read)."""
    buffer = bytearray(PLAIN_READ_BUFFER)
    # Two passes, the second timed: the first brings the file into the page
    # cache, where the hfed reads find their replicas too.
    for _pass in range(2):
        start, got = time.perf_counter(), 0
        with open(path, "rb", buffering=0) as f:
            while n := f.readinto(buffer):
                got += n
    return got / (time.perf_counter() - start)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="sender side of the socket limits (started by bench.datapath)")
    parser.add_argument("mode", choices=["send", "sendfile", "write"])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--size", type=int, default=0)
    parser.add_argument("--file", default="")
    parser.add_argument("--direct", action="store_true", help="write with O_DIRECT")
    parser.add_argument("--tls-conf", default="", help="send over TLS with this cluster config's CA")
    args = parser.parse_args(argv)
    if args.mode == "send":
        send_stream(args.port, args.size, args.tls_conf)
    elif args.mode == "write":
        write_new_file(args.file, args.size, args.direct)
    else:
        send_file(args.port, args.file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
