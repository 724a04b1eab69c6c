"""The NameNode's HTTP server: its routes (status page, /metrics, /jmx) on the
NameNode's own event loop, so a page reads the Namesystem between RPCs, never
during one."""
from __future__ import annotations

from aiohttp import web

from namenode.namesystem import Namesystem
from protos import config as config_mod


def build(fsn: Namesystem, cfg: config_mod.ClusterConfig) -> web.Application:
    app = web.Application()
    app["fsn"] = fsn
    app["cfg"] = cfg
    return app
