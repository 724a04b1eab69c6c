"""The WebHDFS gateway: one HTTP endpoint for the whole federation, routing each
path by the cluster mount table (as HDFS's router-based federation does).

    python -m client.webhdfs.gateway --conf CONF [--address-file F]      (or: hfed webhdfs)

``/webhdfs/v1/<path>?op=...`` answers as HDFS's WebHDFS (operations.py); OPEN,
CREATE, APPEND and GETFILECHECKSUM redirect to a DataNode's HTTP server
(datanode/webhdfs.py), so file bytes never pass through here. ``GET /`` is an
index linking each NameNode's status page. The client library is synchronous:
each operation runs in a worker thread with the caller's session
(auth.Sessions), so a slow NameNode never blocks the event loop.
"""
from __future__ import annotations

import argparse
import asyncio
import html
import logging
import signal
import sys
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from client.session import ClusterSession
from client.webhdfs import operations
from client.webhdfs.auth import Sessions, identify
from client.webhdfs.params import PREFIX, Params, request_path
from client.webhdfs.shapes import location as location_body
from client.webhdfs.shapes import remote_exception
from protos import config, http_server, rpc

log = logging.getLogger("hfed.webhdfs")
WORKERS = 32


class Gateway:
    def __init__(self, cfg: config.ClusterConfig):
        self.cfg = cfg
        self.sessions = Sessions(cfg)
        self.chooser = operations.DatanodeChooser()
        self.executor = ThreadPoolExecutor(WORKERS, thread_name_prefix="webhdfs")
        self._own: ClusterSession | None = None    # this process's session, for the index page

    def run(self, function, req: operations.Request):
        with self.sessions.using(req.caller) as fs:
            return function(fs, req, self.chooser)

    def namenode_pages(self) -> list[tuple[str, str]]:
        """(nameservice, status page URL or why there is none) of every namespace."""
        if self._own is None:
            self._own = ClusterSession(self.cfg)
        rows = []
        for ns, stats in self._own.stats():
            rows.append((ns, f"http://{stats.http_address}/" if not isinstance(stats, Exception)
                         and stats.http_address else f"unavailable: {stats}"))
        return rows

    def close(self) -> None:
        self.sessions.close()
        if self._own is not None:
            self._own.close()
        self.executor.shutdown(wait=False, cancel_futures=True)


async def handle(request: web.Request) -> web.StreamResponse:
    gateway: Gateway = request.app["gateway"]
    op = ""
    try:
        params = Params(request.query)
        op = params.op()
        function = operations.lookup(op, request.method)
        path = request_path(request.raw_path)
        caller = identify(gateway.cfg, params)
        noredirect = params.boolean("noredirect", False)
        req = operations.Request(request.method, op, path, params, caller, request.remote or "")
        result = await asyncio.get_running_loop().run_in_executor(gateway.executor, gateway.run, function, req)
    except Exception as e:  # noqa: BLE001 - every failure is a RemoteException; the gateway serves on
        status, body = remote_exception(e, op)
        if status >= 500:
            log.exception("%s %s failed", request.method, request.path_qs[:300])
        return web.json_response(body, status=status)
    if isinstance(result, operations.Redirect):
        if noredirect:
            return web.json_response(location_body(result.url))
        return web.Response(status=307, headers={"Location": result.url})
    if result is operations.EMPTY:
        return web.Response(status=200, content_type="application/json")
    return web.json_response(result)


async def index(request: web.Request) -> web.Response:
    gateway: Gateway = request.app["gateway"]
    rows = await asyncio.get_running_loop().run_in_executor(gateway.executor, gateway.namenode_pages)
    items = "\n".join(
        f'<li>{html.escape(ns)}: <a href="{html.escape(url)}">{html.escape(url)}</a></li>' if url.startswith("http")
        else f"<li>{html.escape(ns)}: {html.escape(url)}</li>" for ns, url in rows)
    page = (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>hfed WebHDFS</title></head><body>"
            f"<h1>hfed WebHDFS gateway</h1><p>Cluster {html.escape(gateway.cfg.cluster_id)}. REST API at "
            f"<code>{PREFIX}/PATH?op=...</code>; security: {html.escape(gateway.cfg.security.auth)}.</p>"
            f"<h2>NameNodes</h2><ul>\n{items}\n</ul></body></html>")
    return web.Response(text=page, content_type="text/html")


def build(cfg: config.ClusterConfig) -> web.Application:
    app = web.Application()
    gateway = app["gateway"] = Gateway(cfg)
    app.router.add_get("/", index)
    # No gateway operation reads a body: a client asking "Expect: 100-continue" (curl -T) gets the
    # answer (CREATE's redirect) at once, instead of sending the gateway a file it would throw away.
    app.router.add_route("*", PREFIX + "{tail:.*}", handle, expect_handler=handle)

    async def stop(_app):
        gateway.close()
    app.on_cleanup.append(stop)
    return app


async def serve(cfg: config.ClusterConfig, address_file: str | None = None, stop: asyncio.Event | None = None,
                bind: str | None = None) -> None:
    stop = stop or asyncio.Event()
    runner, address = await http_server.start(build(cfg), bind or cfg.webhdfs_address, "WebHDFS gateway",
                                              cfg.webhdfs_advertise_host, "--bind" if bind else "webhdfs_address")
    log.info("WebHDFS serving on http://%s%s", address, PREFIX)
    rpc.write_address_file(address_file, address)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hfed webhdfs", description="Run the WebHDFS gateway of a cluster.")
    parser.add_argument("--conf", help="cluster TOML file (default: $HFED_CONF or the last local cluster)")
    parser.add_argument("--address-file", help="write the bound host:port here once serving")
    parser.add_argument("--bind", help="host:port to serve on (default: the config's webhdfs_address)")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s webhdfs %(name)s: %(message)s")
    try:
        cfg = config.load(config.find_config_path(args.conf))
    except (OSError, ValueError) as e:
        log.error("%s", e)
        return 2

    async def run():
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(cfg, args.address_file, stop, args.bind)

    try:
        asyncio.run(run())
    except OSError as e:
        log.error("%s", e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
