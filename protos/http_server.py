"""Serving an aiohttp application on a daemon's own event loop (NameNode, DataNode,
WebHDFS gateway): bound from the config's "host:port" (port 0: any free port)."""
from __future__ import annotations

from aiohttp import web


def advertised(bind_host: str, port: int) -> str:
    """The "host:port" others should use for a server bound to ``bind_host``."""
    if bind_host in ("", "0.0.0.0", "[::]", "::"):
        bind_host = "127.0.0.1"
    return f"{bind_host}:{port}"


async def start(app: web.Application, bind: str, what: str) -> tuple[web.AppRunner, str]:
    """Serve ``app`` at ``bind``; returns the runner (``await runner.cleanup()`` stops it)
    and the address it serves on. ``what`` names the server in errors."""
    host, _, port = bind.rpartition(":")
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host or "127.0.0.1", int(port), reuse_address=True)
    try:
        await site.start()
    except OSError as e:
        await runner.cleanup()
        raise OSError(f"{what}: cannot bind HTTP {bind}: {e}") from None
    return runner, advertised(host, site.port)
