"""Serving an aiohttp application on a daemon's own event loop (NameNode, DataNode,
WebHDFS gateway): bound from the config's "host:port" (port 0: any free port), advertised
as protos/hosts.py says."""
from __future__ import annotations

from aiohttp import web

from protos import hosts


async def start(app: web.Application, bind: str, what: str, advertise_host: str = "",
                key: str = "http_address") -> tuple[web.AppRunner, str]:
    """Serve ``app`` at ``bind``; returns the runner (``await runner.cleanup()`` stops it)
    and the address others should use. ``what`` names the server and ``key`` the config
    key of ``bind`` in errors."""
    hosts.check_bindable(bind, key)
    advertised_host = hosts.advertised_host(bind, advertise_host, key)    # refused before binding
    host, _, port = bind.rpartition(":")
    host = host.strip("[]")
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host or "0.0.0.0", int(port), reuse_address=True)
    try:
        await site.start()
    except OSError as e:
        await runner.cleanup()
        raise OSError(f"{what}: cannot bind HTTP {bind} ({key}): {e}") from None
    return runner, hosts.join(advertised_host, site.port)
