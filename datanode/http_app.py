"""The DataNode's HTTP server: its routes (WebHDFS data endpoint, /metrics, /jmx)
on the DataNode's own event loop."""
from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from datanode import metrics, webhdfs
from datanode.storage import BlockStorage
from protos import config


@dataclass
class DatanodeContext:
    """What the DataNode's HTTP routes may read."""
    cfg: config.ClusterConfig
    host_label: str
    storage: BlockStorage
    links: object = None        # datanode.heartbeat.NamenodeLinks, once started
    transfer: object = None     # datanode.transfer.TransferServer
    scanner: object = None      # datanode.scanner.BlockScanner


def build(context: DatanodeContext) -> web.Application:
    app = web.Application()
    app["datanode"] = context
    metrics.add_routes(app)
    webhdfs.add_routes(app, context)
    return app
