"""Many clients at once, then none: every DataNode gives back the threads, sockets
and open files the burst took. A smaller run of bench/datapath.py's last phase
(16 clients, 1 MiB files, 3 DataNodes), counted the same way
(bench/datapath_clients.py): idle is taken after a warm-up round of the same
clients, since a DataNode's bounded pools fill on the first burst; what the
measured round leaves above idle, once settled (at most 10 s), is a leak."""
from __future__ import annotations

from bench.datapath_clients import TOLERANCE, leaked, mixed_clients, settle, steady
from protos import config

CLIENTS = 16
FILE_SIZE = 1 << 20
SETTLE_SECONDS = 10.0


def test_datanodes_return_to_idle_threads_and_sockets(fresh_cluster):
    cluster = fresh_cluster(namespaces=1)
    cfg = config.load(cluster.config_path)
    warmup = mixed_clients(cfg, CLIENTS, FILE_SIZE, "/data/warmup")
    assert not warmup.errors, warmup.errors
    idle = steady(cluster, timeout=5.0, interval=0.5)

    measured = mixed_clients(cfg, CLIENTS, FILE_SIZE, "/data/burst")
    assert not measured.errors, measured.errors
    assert measured.bytes_written == measured.bytes_read == CLIENTS * FILE_SIZE

    after, waited = settle(cluster, idle, timeout=SETTLE_SECONDS, tolerance=TOLERANCE)
    leaks = {label: leaked(idle[label], after[label], len(idle), TOLERANCE) for label in idle}
    assert not any(leaks.values()), (
        f"DataNodes kept more than idle {waited:.1f} s after {CLIENTS} clients closed: {leaks}\n"
        f"idle:  {idle}\nafter: {after}")
