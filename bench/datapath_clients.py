"""Many clients at once, and whether the DataNodes give back what they took.

``mixed_clients`` runs N threads, each with its own HfedFileSystem (so its own
NameNode and DataNode connections), that write a file at the cluster's
replication and read it back, all started together, so writes and reads overlap.
``census`` counts each DataNode process's threads, open TCP sockets and open file
descriptors; ``settle`` polls it after the clients closed until every count is
back to its idle value (or the time is up), so a leak is the difference that stays.

"Idle" is taken after a warm-up round of the same clients, not on a cold cluster:
a DataNode keeps bounded pools that the first burst of concurrency fills (a
worker-thread pool, one link to each peer DataNode for each pipeline order it was
asked to forward to). Those grow once; a leak grows with every round.
"""
from __future__ import annotations

import dataclasses
import threading
import time

import psutil

IO_CHUNK = 1 << 20
# What a DataNode may hold above idle without it counting as a leak. Threads: a
# worker pool (asyncio's default executor is 6 threads on 2 cores) may still be
# growing to its bound after one warm-up round; a thread per client or per block
# would show as one per client or more. Sockets and other descriptors: one either way.
TOLERANCE = {"threads": 4, "sockets": 1, "files": 1}


@dataclasses.dataclass(frozen=True)
class Counts:
    threads: int
    sockets: int      # TCP sockets the process holds open, any state (listening, established, close-wait)
    peer_links: int   # those of them connected to another DataNode of the cluster
    fds: int

    @property
    def other_sockets(self) -> int:
        """Listening sockets and connections with clients and NameNodes."""
        return self.sockets - self.peer_links

    @property
    def files(self) -> int:
        """Open descriptors that are not TCP sockets (block files, pipes, logs)."""
        return self.fds - self.sockets


def census(cluster) -> dict[str, Counts]:
    """Counts per DataNode host label, from the pids the MiniCluster started."""
    conns = {}
    for label in cluster.host_labels:
        pid = cluster.datanode_pid(label)
        if pid is None:
            raise RuntimeError(f"DataNode {label} is not running")
        proc = psutil.Process(pid)
        with proc.oneshot():
            conns[label] = (proc.num_threads(), proc.net_connections(kind="tcp"), proc.num_fds())
    # A peer link: a connection to a port another DataNode listens on (one it opened),
    # or from an endpoint another DataNode holds (one it accepted).
    listening = {label: {c.laddr.port for c in cs if c.status == psutil.CONN_LISTEN}
                 for label, (_, cs, _) in conns.items()}
    endpoints = {label: {(c.laddr.ip, c.laddr.port) for c in cs if c.raddr}
                 for label, (_, cs, _) in conns.items()}
    counts = {}
    for label, (threads, cs, fds) in conns.items():
        others = [o for o in conns if o != label]
        links = sum(1 for c in cs if c.raddr and any(
            c.raddr.port in listening[o] or (c.raddr.ip, c.raddr.port) in endpoints[o] for o in others))
        counts[label] = Counts(threads, len(cs), links, fds)
    return counts


def max_peer_links(datanodes: int) -> int:
    """A DataNode's links to its peers at most: one each way with each of the others."""
    return 2 * (datanodes - 1)


def leaked(idle: Counts, after: Counts, datanodes: int, tolerance: dict[str, int] | None = None) -> dict[str, int]:
    """What ``after`` holds above ``idle`` beyond ``tolerance`` (per kind, default 0):
    threads, sockets other than peer links, other open files, and peer links beyond
    one each way per peer (a link opened for a pipeline order the warm-up did not
    happen to use is no leak)."""
    diff = {"threads": after.threads - idle.threads,
            "sockets": after.other_sockets - idle.other_sockets,
            "files": after.files - idle.files,
            "peer links": after.peer_links - max(idle.peer_links, max_peer_links(datanodes))}
    tolerance = tolerance or {}
    return {what: n for what, n in diff.items() if n > tolerance.get(what, 0)}


def leak_text(idle: Counts, after: Counts, datanodes: int, tolerance: dict[str, int] | None = None) -> str:
    """"none", "none (+1 threads, within tolerance)" or the differences that are leaks."""
    extra = leaked(idle, after, datanodes, tolerance)
    if extra:
        return ", ".join(f"{n:+d} {what}" for what, n in extra.items())
    exact = leaked(idle, after, datanodes)
    if exact:
        return f"none ({', '.join(f'{n:+d} {what}' for what, n in exact.items())}, within tolerance)"
    return "none"


def settle(cluster, idle: dict[str, Counts], timeout: float = 10.0, tolerance: dict[str, int] | None = None,
           interval: float = 0.25) -> tuple[dict[str, Counts], float]:
    """Poll the census until no DataNode holds more than ``idle`` (see ``leaked``) or
    ``timeout`` passed; the last counts and the seconds it took."""
    start = time.monotonic()
    while True:
        now = census(cluster)
        waited = time.monotonic() - start
        if waited >= timeout or not any(leaked(idle[label], now[label], len(idle), tolerance) for label in idle):
            return now, waited
        time.sleep(interval)


def steady(cluster, timeout: float = 10.0, interval: float = 1.0) -> dict[str, Counts]:
    """The census once two readings ``interval`` apart agree (or at ``timeout``): the
    idle counts a warm cluster settles to."""
    deadline = time.monotonic() + timeout
    last = census(cluster)
    while time.monotonic() < deadline:
        time.sleep(interval)
        now = census(cluster)
        if now == last:
            break
        last = now
    return last


@dataclasses.dataclass
class MixedResult:
    clients: int
    file_size: int
    seconds: float
    bytes_written: int
    bytes_read: int
    errors: list[str]

    @property
    def rate(self) -> float:
        """Aggregate bytes/s of the phase: every byte written and read, over its wall time."""
        return (self.bytes_written + self.bytes_read) / self.seconds if self.seconds else 0.0


def mixed_clients(cfg, clients: int, file_size: int, directory: str, host: str = "no-datanode-here",
                  replication: int | None = None, payload: bytes | None = None) -> MixedResult:
    """``clients`` threads, each with its own filesystem: write ``directory``/c<i>.bin,
    then read it back and check its length and bytes; close the filesystem; remove
    the files. Threads start together (a barrier), so most writes and reads overlap."""
    from client.fs import HfedFileSystem

    payload = payload if payload is not None else bytes(range(256)) * (file_size // 256 + 1)
    payload = payload[:file_size]
    filesystems = [HfedFileSystem(cfg, host=host, skip_instance_cache=True) for _ in range(clients)]
    filesystems[0].makedirs(directory, exist_ok=True)
    barrier = threading.Barrier(clients + 1)
    lock = threading.Lock()
    totals = {"written": 0, "read": 0}
    errors: list[str] = []

    def one(i: int) -> None:
        fs, path = filesystems[i], f"{directory}/c{i}.bin"
        barrier.wait()
        try:
            view = memoryview(payload)
            with fs.open(path, "wb", replication=replication) as f:
                for pos in range(0, len(view), IO_CHUNK):
                    f.write(view[pos:pos + IO_CHUNK])
            with lock:
                totals["written"] += len(payload)
            got = bytearray()
            with fs.open(path, "rb") as f:
                while chunk := f.read(IO_CHUNK):
                    got += chunk
            if got != payload:
                raise AssertionError(f"{path}: read {len(got)} bytes, not the {len(payload)} written")
            with lock:
                totals["read"] += len(got)
        except Exception as exc:   # reported with the figures; one failed client must not hide the rest
            with lock:
                errors.append(f"client {i}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=one, args=(i,), name=f"bench-client-{i}") for i in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    try:
        filesystems[0].rm(directory, recursive=True)
    finally:
        for fs in filesystems:
            fs.close()
    return MixedResult(clients, file_size, seconds, totals["written"], totals["read"], errors)
