"""Fixtures that start real hfed clusters (one process per NameNode and DataNode).

``cluster``       one shared 2-namespace, 3-DataNode cluster for the whole session;
                  tests that only read and write use it (and clean up their own paths).
``fs``            an HfedFileSystem for ``cluster``.
``fresh_cluster`` a factory for tests that kill daemons: each call starts a new
                  cluster in its own tmp dir; every one is stopped after the test.
"""
from __future__ import annotations

import os

import pytest

from client.minicluster import MiniCluster

SMALL_BLOCK = 1 << 20  # 1 MiB: a few MB of data already spans several blocks
FAST_TIMING = dict(heartbeat_interval=0.2, dead_interval=2.0)
# Tests of blocks, replicas and locality write files of a few KB: keep those files
# on blocks (packing off) unless a test's settings ask for small files.
NO_PACKING = {"small_file_threshold": 0}


def start_cluster(directory, **overrides) -> MiniCluster:
    options = dict(namespaces=2, datanodes=3, block_size=SMALL_BLOCK, replication=3, **FAST_TIMING)
    options.update(overrides)
    options["settings"] = {**NO_PACKING, **(overrides.get("settings") or {})}
    return MiniCluster(directory, **options).up()


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    mc = start_cluster(tmp_path_factory.mktemp("cluster"))
    try:
        yield mc
    finally:
        mc.down()


@pytest.fixture(scope="session")
def conf_path(cluster) -> str:
    return str(cluster.config_path)


@pytest.fixture
def fs(cluster):
    from client.fs import HfedFileSystem
    filesystem = HfedFileSystem(conf=str(cluster.config_path), skip_instance_cache=True)
    yield filesystem
    close = getattr(filesystem, "close", None)
    if close:
        close()


@pytest.fixture
def fresh_cluster(tmp_path):
    started: list[MiniCluster] = []

    def make(**overrides) -> MiniCluster:
        mc = start_cluster(tmp_path / f"cluster-{len(started)}", **overrides)
        started.append(mc)
        return mc
    try:
        yield make
    finally:
        for mc in started:
            mc.down()


@pytest.fixture
def hfed_env(tmp_path):
    """Environment for `hfed` subprocesses that never touches the real ~/.hfed."""
    env = dict(os.environ)
    env.pop("HFED_CONF", None)
    env["HFED_HOME"] = str(tmp_path / "hfed-home")
    return env
