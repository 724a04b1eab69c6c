"""NameNode process: `python -m namenode.server --conf CONF --nameservice NS`.

One asyncio event loop owns the Namesystem, so handlers never race and no lock
is needed; background tasks (dead-DataNode detection, replication) run on the
same loop between requests.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import time
from pathlib import Path

from protos import config as config_mod, datatransfer as dt, hosts, http_server, paths, rpc, rpc_errors, security
from protos.errors import HfedError
from protos.rpc import aio_server, current_user, write_address_file
from namenode import (auth, budget as budget_mod, decommission, http_app, journal as journal_mod, replication,
                      trash_emptier)
from namenode.delegation import DelegationTokens
from namenode.metrics import NamenodeMetrics
from namenode.block_keys import BlockKeys
from namenode.mounts import ClusterMounts, follow_holder
from namenode.namesystem import Namesystem
from namenode.packer import Packer
from namenode.topology import Topology
from namenode.ops import dirs
from namenode.servicer import ClientProtocolServicer, DatanodeProtocolServicer

log = logging.getLogger("namenode")
STICKY_TMP_MODE = 0o1777


def build_namesystem(cfg: config_mod.ClusterConfig, nameservice: str, recover: bool = False) -> Namesystem:
    """Load (or create) the namespace from its meta_dir and make its mount points exist.
    ``recover`` skips damaged edits instead of refusing to start (they are lost)."""
    if nameservice not in cfg.nameservices:
        raise HfedError(f"{cfg.source}: unknown nameservice {nameservice!r} "
                        f"(known: {', '.join(sorted(cfg.nameservices))})")
    ns_cfg = cfg.nameservices[nameservice]
    script = cfg.topology.script
    if script and not (os.path.isfile(script) and os.access(script, os.X_OK)):
        raise HfedError(f"{cfg.source}: topology.script {script} is not an executable file")
    mount_dirs = tuple(path for path, ns in cfg.mounts if ns == nameservice)
    pool_id = f"BP-{nameservice}"
    empty_rss = budget_mod.process_rss()   # before loading: what the NameNode costs with an empty namespace
    budget_mod.refuse_impossible(nameservice, cfg.source, ns_cfg.max_memory, ns_cfg.max_objects, empty_rss,
                                 _empty_namespace_objects(mount_dirs))   # before meta_dir is touched
    journal = None
    if ns_cfg.meta_dir:
        journal = journal_mod.Journal(Path(ns_cfg.meta_dir), durable=cfg.durable_edits, keep_images=cfg.keep_images)
        journal.lock()                     # before anything in meta_dir is read or written
        version = journal_mod.read_or_create_version(Path(ns_cfg.meta_dir), nameservice, cfg.cluster_id)
        pool_id = version["pool_id"]
    # With tokens, the superuser is the account running the NameNode (what the caller says counts for nothing).
    superuser = auth.process_user() if cfg.security.tokens else current_user()
    fsn = Namesystem(nameservice, cfg.cluster_id, pool_id, superuser, block_size=cfg.block_size,
                     replication=cfg.replication, dead_interval=cfg.dead_interval, mount_dirs=mount_dirs,
                     lease_hard_limit=cfg.lease_hard_limit)
    if journal is not None:
        started = time.monotonic()
        replayed = journal.load(fsn, recover=recover)
        budget_mod.release_free_memory()     # the image's buffers are gone: hand their memory back
        log.info("%s: loaded %d files, %d directories from image txid %d + %d edits in %.2f s%s", nameservice,
                 fsn.ns.table.files, fsn.ns.table.directories, journal.image_txid, replayed,
                 time.monotonic() - started, "" if cfg.durable_edits else " (durable_edits = false: "
                 "changes are acknowledged before they are on disk)")
        fsn.journal = journal
    fsn.ns.supergroup = cfg.security.supergroup
    fsn.topology = Topology(cfg.topology)
    fsn.mount_table = ClusterMounts(nameservice, cfg, ns_cfg.meta_dir)
    fsn.user_token_lifetime = cfg.security.user_token_lifetime
    fsn.config_source, fsn.datanode_exclude = cfg.source, frozenset(cfg.datanode_exclude)   # -refreshNodes
    if cfg.security.tokens:
        fsn.delegation = DelegationTokens(security.ensure_secret(cfg.secret_path()), nameservice,
                                          ns_cfg.meta_dir or None, cfg.security.delegation_renew_interval,
                                          cfg.security.delegation_max_lifetime)
    superuser = fsn.ns.caller(fsn.ns.superuser)
    for path in mount_dirs:
        if fsn.ns.resolve(path)[-1] is None:
            dirs.mkdirs(fsn, superuser, path, STICKY_TMP_MODE if path == "/tmp" else 0o755, True)
    # Set after the mount points exist, so they are never refused.
    fsn.budget = budget_mod.MemoryBudget(ns_cfg.max_memory, ns_cfg.max_objects, baseline_rss=empty_rss)
    _warn_if_over_budget(fsn)
    fsn.safemode.threshold = cfg.safemode_threshold
    if cfg.security.tokens:
        fsn.block_keys = BlockKeys(cfg.security.block_key_update_interval, cfg.security.block_token_lifetime)
    fsn.small_file_threshold = cfg.small_file_threshold
    fsn.container_bytes = cfg.pack_bytes
    fsn.packer = Packer(fsn, pack_count=cfg.pack_count, pack_bytes=cfg.pack_bytes, pack_age=cfg.pack_age,
                        compact_live_fraction=cfg.compact_live_fraction)
    if len(fsn.blocks):
        fsn.safemode.enter(manual=False)   # until block reports bring the locations back
        log.info("%s: in safe mode until %.1f%% of %d blocks are reported", nameservice,
                 100 * cfg.safemode_threshold, len(fsn.blocks))
    return fsn


def _empty_namespace_objects(mount_dirs) -> int:
    """The root plus every mount point directory and its parents."""
    needed = set()
    for path in mount_dirs:
        while path != "/":
            needed.add(path)
            path = paths.parent_of(path)
    return 1 + len(needed)


def _warn_if_over_budget(fsn: Namesystem) -> None:
    """A namespace loaded past its budget still starts (deletes are the way back under it),
    but it says so: creates are refused until then."""
    usage = fsn.budget.usage(fsn)
    if usage["budget_refusal"]:
        log.warning("%s: loaded past its budget, new files and directories are refused: %s", fsn.nameservice,
                    usage["budget_refusal"])
    elif fsn.budget.limited:
        log.info("%s: memory budget %s, %s objects; %d objects, RSS %s", fsn.nameservice,
                 budget_mod.mib(fsn.budget.max_memory) if fsn.budget.max_memory else "unlimited",
                 f"{fsn.budget.max_objects:,}" if fsn.budget.max_objects else "unlimited",
                 usage["objects"], budget_mod.mib(usage["rss_bytes"]))


async def monitor(fsn: Namesystem, interval: float) -> None:
    """Dead-DataNode detection and re-replication, every heartbeat interval."""
    while True:
        await asyncio.sleep(interval)
        try:
            if fsn.block_keys is not None and fsn.block_keys.roll_if_due():
                log.info("%s: new block token key %d", fsn.nameservice, fsn.block_keys.current.key_id)
            for node in fsn.check_datanodes():
                log.warning("DataNode %s (%s) is dead: re-replicating its blocks", node.host_label, node.uuid)
            if fsn.safemode.check_leave(fsn):
                log.info("%s: enough blocks reported, leaving safe mode", fsn.nameservice)
            if not fsn.safemode.on:     # block locations are incomplete until then
                replication.tick(fsn)
                decommission.check(fsn)
                for path in fsn.recover_expired_leases():
                    log.warning("lease on %s expired (writer silent past the hard limit): file closed", path)
        except Exception:  # noqa: BLE001 - a monitor bug must not stop the NameNode
            log.exception("monitor pass failed")


async def checkpointer(fsn: Namesystem, every_txns: int, period: float) -> None:
    """Write an image every ``every_txns`` edits or ``period`` seconds, so restarts replay little."""
    while True:
        await asyncio.sleep(0.5)
        if fsn.journal.due(every_txns, period):
            try:
                await fsn.journal.checkpoint(fsn)
            except HfedError as e:       # the edit log still holds everything: retry later
                log.error("checkpoint failed: %s", e)
            except Exception:  # noqa: BLE001 - a checkpoint bug must not stop the NameNode
                log.exception("checkpoint failed")


def tls_names(cfg: config_mod.ClusterConfig, ns: config_mod.NameserviceConfig) -> list[str]:
    """The names this NameNode's certificate must carry: the one clients dial it by."""
    if not cfg.security.tls:
        return []
    return [hosts.advertised_host(ns.address, ns.advertise_host, f"nameservices.{ns.name}.address")]


def bind(server, cfg: config_mod.ClusterConfig, nameservice: str) -> int:
    """The port ``server`` bound for ``nameservice``; HfedError saying why it could not."""
    ns = cfg.nameservices[nameservice]
    address = ns.address
    hosts.check_bindable(address, f"nameservices.{nameservice}.address")
    try:
        port = rpc.add_port(server, address, cfg, names=tls_names(cfg, ns))
    except RuntimeError:      # grpc's "Failed to bind": the reason is only in its own log line
        port = 0
    if port == 0:
        clash = (" (in use: something already serves there, a running NameNode? see `hfed cluster status`)"
                 if dt.accepts_connections(address, 1.0) else "")
        raise HfedError(f"namespace {nameservice}: cannot bind {address}{clash}")
    return port


async def serve(cfg: config_mod.ClusterConfig, nameservice: str, address_file: str | None = None,
                recover: bool = False) -> None:
    ns = cfg.nameservices[nameservice]
    hosts.check_section(f"nameservices.{nameservice}", ns.advertise_host, address=ns.address,
                        http_address=ns.http_address)
    fsn = build_namesystem(cfg, nameservice, recover)
    authenticator = auth.Authenticator(cfg, nameservice, fsn.ns, fsn.delegation)
    server = aio_server()
    rpc_errors.add_service(server, "ClientProtocol", ClientProtocolServicer(fsn, authenticator, cfg.security.tls))
    rpc_errors.add_service(server, "DatanodeProtocol", DatanodeProtocolServicer(
        fsn, authenticator, cfg.heartbeat_interval, cfg.block_report_interval))
    port = bind(server, cfg, nameservice)
    fsn.metrics = NamenodeMetrics(fsn)      # before the first RPC
    fsn.metrics.rpc_port = port
    if fsn.journal is not None:
        fsn.journal.editlog.on_sync = fsn.metrics.edit_log_sync.observe
    await server.start()
    address = hosts.advertised(ns.address, port, ns.advertise_host, f"nameservices.{nameservice}.address")
    http_runner, fsn.http_address = await http_server.start(
        http_app.build(fsn, cfg), ns.http_address, f"namespace {nameservice}", ns.advertise_host,
        f"nameservices.{nameservice}.http_address")
    log.info("namespace %s: HTTP (status page, /metrics, /jmx) on http://%s", nameservice, fsn.http_address)
    log.info("namespace %s (pool %s, cluster %s) serving on %s; security: %s auth, superuser %s", nameservice,
             fsn.pool_id, cfg.cluster_id, address, authenticator.mode, fsn.ns.superuser)
    fsn.mount_table.advertise(address)
    write_address_file(address_file, address)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    packer = asyncio.create_task(fsn.packer.run())
    tasks = [asyncio.create_task(monitor(fsn, min(cfg.heartbeat_interval, 1.0))),
             asyncio.create_task(follow_holder(fsn.mount_table, cfg, min(cfg.heartbeat_interval, 1.0)))]
    emptier = asyncio.create_task(trash_emptier.run(fsn, fsn.mount_dirs, cfg.trash_interval,
                                                    cfg.trash_checkpoint_interval)) if cfg.trash_interval > 0 else None
    if fsn.journal is not None:
        tasks.append(asyncio.create_task(checkpointer(fsn, cfg.checkpoint_txns, cfg.checkpoint_period)))
    await stop.wait()
    log.info("namespace %s stopping", nameservice)
    tasks[0].cancel()
    tasks[1].cancel()
    packer.cancel()
    if emptier is not None:
        emptier.cancel()
    await http_runner.cleanup()
    await server.stop(grace=1.0)
    if fsn.journal is not None:
        try:
            if not fsn.journal.editlog.broken:
                await fsn.journal.checkpoint(fsn)   # waits for a running one; the next start replays nothing
        finally:
            for task in tasks[2:]:
                task.cancel()
            fsn.journal.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="hfed namenode", description="Run one namespace server.")
    parser.add_argument("--conf", help="cluster config (default: $HFED_CONF or the last `hfed cluster up`)")
    parser.add_argument("--nameservice", required=True)
    parser.add_argument("--address-file", help="write the bound address here once serving")
    parser.add_argument("--recover", action="store_true",
                        help="skip damaged edit log records instead of refusing to start (they are LOST)")
    args = parser.parse_args(argv)
    os.umask(0o077)     # images, edits, VERSION: the NameNode's user's alone (0600 files, 0700 directories)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format=f"%(asctime)s {args.nameservice} %(levelname)s %(name)s: %(message)s")
    try:
        cfg = config_mod.load(config_mod.find_config_path(args.conf))
        meta_dir = getattr(cfg.nameservices.get(args.nameservice), "meta_dir", "")
        if meta_dir and os.path.isdir(meta_dir):
            os.chmod(meta_dir, 0o700)    # one an older hfed created 0755: what is in it becomes private
        asyncio.run(serve(cfg, args.nameservice, args.address_file, args.recover))
    except (HfedError, OSError) as e:
        print(f"hfed namenode: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
