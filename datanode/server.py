"""Run one DataNode.

    python -m datanode.server --conf CONF [--host-label NAME] [--address-file F] [--transfer-address-file F2]

NAME is the [datanodes.NAME] section to run; without it, the section whose address
is one of this machine's (else the only one bound to a wildcard). The DataNode binds
that address and registers the one others should dial, and the host it is on
(DatanodeConfig.identity: its address or hostname, or a label), as protos/hosts.py says.

The DataTransfer service serves as soon as it is bound (F2 is written then);
F is written once the DataNode is registered with every nameservice of the
config. SIGTERM or SIGINT stops it gracefully.

The DataNode holds data_dir/in_use.lock while it runs (protos/dir_lock.py): a
second one on the same directory exits at once naming the holder. A NameNode
that refuses its registration (its uuid belongs to a live DataNode elsewhere: a
copied data directory) makes it exit too, naming that DataNode's address.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys

from datanode import http_app, scanner
from datanode.heartbeat import NamenodeLinks
from datanode.storage import BlockStorage
from datanode.transfer import TransferServer
from protos import config, hosts, http_server, rpc, tls
from protos.dir_lock import DirLock
from protos import hfed_pb2 as pb

log = logging.getLogger("hfed.datanode.server")


async def serve(cfg: config.ClusterConfig, host_label: str, address_file: str | None = None,
                transfer_address_file: str | None = None, stop: asyncio.Event | None = None) -> None:
    dn = cfg.datanodes[host_label]
    stop = stop or asyncio.Event()
    hosts.check_section(f"datanodes.{host_label}", dn.advertise_host, address=dn.address,
                        http_address=dn.http_address)
    # Before anything reads or repairs the directory: a second DataNode on it refuses here.
    lock = DirLock(dn.data_dir, f"DataNode {host_label}").acquire()
    try:
        await _serve_locked(cfg, host_label, address_file, transfer_address_file, stop)
    finally:
        lock.release()


async def _serve_locked(cfg: config.ClusterConfig, host_label: str, address_file: str | None,
                        transfer_address_file: str | None, stop: asyncio.Event) -> None:
    dn = cfg.datanodes[host_label]
    key = f"datanodes.{host_label}.address"
    advertised_host = hosts.advertised_host(dn.address, dn.advertise_host, key)
    identity = dn.identity(advertised_host)     # the host locality knows it by
    storage = BlockStorage(dn.data_dir, identity, dn.capacity, dn.sync_on_close, dn.cache_writes)
    log.info("data dir %s, uuid %s, %d replicas, host %s", storage.data_dir, storage.uuid, storage.num_replicas(),
             identity)
    if cfg.security.tls:
        tls.ensure_tls(cfg, [advertised_host])   # before binding: a bad TLS directory is reported as such
    try:
        transfer = TransferServer(storage, dn.address, asyncio.get_running_loop(), cfg=cfg, names=[advertised_host])
    except OSError as e:
        raise OSError(f"DataNode {host_label} cannot bind {dn.address} ({key}): {e}") from None
    transfer.start()
    address = hosts.join(advertised_host, transfer.port)
    log.info("DataTransfer serving on %s (bound %s)", address, dn.address)

    context = http_app.DatanodeContext(cfg, identity, storage, transfer=transfer)
    try:
        http_runner, http_address = await http_server.start(http_app.build(context), dn.http_address,
                                                            f"DataNode {host_label}", dn.advertise_host,
                                                            f"datanodes.{host_label}.http_address")
    except OSError:
        transfer.stop()
        raise
    log.info("HTTP serving on http://%s", http_address)

    datanode_id = pb.DatanodeId(uuid=storage.uuid, host_label=identity, transfer_address=address,
                                http_address=http_address)
    links = NamenodeLinks(cfg, storage, datanode_id, transfer.peers, lambda: transfer.active_transfers)
    transfer.links = links
    context.links = links
    # Announced only now: before ``links`` the server refuses every block (no token keys),
    # even where the config turns tokens off.
    rpc.write_address_file(transfer_address_file, address)
    links.start()
    period, rate = scanner.settings(cfg)
    block_scanner = scanner.BlockScanner(storage, links.report_bad_block, period, rate)
    context.scanner = block_scanner
    block_scanner.start()
    registered = asyncio.ensure_future(links.wait_registered())
    stopping = asyncio.ensure_future(stop.wait())
    refused = asyncio.ensure_future(links.refused.wait())
    try:
        await asyncio.wait([registered, stopping, refused], return_when=asyncio.FIRST_COMPLETED)
        if registered.done():
            rpc.write_address_file(address_file, address)
            log.info("registered with all %d nameservices; DataNode ready at %s", len(links.actors), address)
            await asyncio.wait([stopping, refused], return_when=asyncio.FIRST_COMPLETED)
        if refused.done():
            raise links.refusal
    finally:
        log.info("stopping")
        for waiter in (registered, stopping, refused):
            waiter.cancel()
        await block_scanner.stop()
        await links.stop()
        await http_runner.cleanup()
        transfer.stop()
        log.info("stopped")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m datanode.server", description="Run one hfed DataNode.")
    parser.add_argument("--conf", help="cluster TOML file (default: $HFED_CONF or the last local cluster)")
    parser.add_argument("--host-label", help="which [datanodes.NAME] of the config to run (default: the one "
                                               "whose address is this machine's)")
    parser.add_argument("--address-file", help="write the bound address here once registered everywhere")
    parser.add_argument("--transfer-address-file", help="write the bound address here as soon as it serves")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    os.umask(0o077)     # block and meta files, VERSION: the DataNode's user's alone (0600 files, 0700 directories)

    try:
        cfg = config.load(config.find_config_path(args.conf))
        args.host_label = args.host_label or cfg.datanode_on_this_machine()
    except (OSError, ValueError) as e:
        logging.basicConfig(stream=sys.stderr)
        log.error("%s", e)
        return 2
    logging.basicConfig(stream=sys.stderr, level=args.log_level.upper(),
                        format=f"%(asctime)s %(levelname)s datanode[{args.host_label}] %(name)s: %(message)s")
    if args.host_label not in cfg.datanodes:
        log.error("%s has no [datanodes.%s] (known: %s)", cfg.source, args.host_label,
                  ", ".join(sorted(cfg.datanodes)) or "none")
        return 2
    data_dir = cfg.datanodes[args.host_label].data_dir
    if os.path.isdir(data_dir):
        os.chmod(data_dir, 0o700)    # one an older hfed created 0755: what is in it becomes private

    async def run():
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(cfg, args.host_label, args.address_file, args.transfer_address_file, stop)

    try:
        asyncio.run(run())
    except (OSError, RuntimeError) as e:
        log.error("DataNode %s failed: %s", args.host_label, e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
