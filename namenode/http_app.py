"""The NameNode's HTTP server: its routes (status page, /metrics, /jmx) on the
NameNode's own event loop, so a page reads the Namesystem between RPCs, never
during one."""
from __future__ import annotations

from aiohttp import web

from namenode import status_page
from namenode.metrics import NamenodeMetrics
from namenode.namesystem import Namesystem
from protos import config as config_mod, metrics_http


def build(fsn: Namesystem, cfg: config_mod.ClusterConfig) -> web.Application:
    app = web.Application()
    app["fsn"] = fsn
    app["cfg"] = cfg
    if fsn.metrics is None:
        fsn.metrics = NamenodeMetrics(fsn)
    metrics_http.add_routes(app, fsn.metrics.registry, fsn.metrics.beans)
    status_page.add_routes(app)
    return app
