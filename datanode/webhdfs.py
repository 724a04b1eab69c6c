"""The DataNode's WebHDFS data endpoint: where the gateway (client/webhdfs/)
redirects OPEN, CREATE, APPEND and GETFILECHECKSUM, so file bytes go between
the caller and a DataNode, never through the gateway.

As HDFS's DataNode runs a DFSClient for WebHDFS, this one module of datanode/
uses the hfed client library: it acts for the caller with the caller's own
credentials (user.name, or the token in ``delegation=``: the NameNodes check
it, never the DataNode's identity), with this DataNode's host label as the
client host, so a local replica is read straight from disk. Bytes stream in
chunks both ways (the client library's calls run in threads): memory stays
bounded (a write keeps at most one block of the file until it is acked)
whatever the file size.

A CREATE whose upload breaks (the caller disconnects, the pipeline fails)
deletes the file that request created: nothing half-written stays visible.
"""
from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

from aiohttp import web

from client.checksums import path_checksum
from client.webhdfs import shapes
from client.webhdfs.auth import Sessions, identify
from client.webhdfs.operations import FILE_PERMISSION, MAX_REPLICATION
from client.webhdfs.params import PREFIX, Params, request_path
from client.webhdfs.shapes import illegal_argument, remote_exception
from protos import errors

log = logging.getLogger("hfed.datanode.webhdfs")
CHUNK = 1 << 20          # bytes handed to or taken from the client library per thread hop
WORKERS = 16


class Endpoint:
    def __init__(self, context):
        self.context = context
        self.sessions = Sessions(context.cfg, host=context.host_label)
        self.executor = ThreadPoolExecutor(WORKERS, thread_name_prefix="webhdfs-dn")

    async def call(self, function, *args):
        return await asyncio.get_running_loop().run_in_executor(self.executor, function, *args)

    def close(self) -> None:
        self.sessions.close()
        self.executor.shutdown(wait=False, cancel_futures=True)


async def handle(request: web.Request) -> web.StreamResponse:
    endpoint: Endpoint = request.app["webhdfs"]
    op = ""
    try:
        params = Params(request.query)
        op = params.op()
        path = request_path(request.raw_path)
        handler = {("GET", "OPEN"): read_file, ("PUT", "CREATE"): create_file, ("POST", "APPEND"): append_file,
                   ("GET", "GETFILECHECKSUM"): checksum_file}.get((request.method, op))
        if handler is None:
            raise illegal_argument(f"a DataNode answers only the redirected OPEN, CREATE, APPEND and GETFILECHECKSUM "
                                   f"(got {request.method} op={op[:64]}): send other requests to the WebHDFS gateway")
        caller = identify(endpoint.context.cfg, params)
        return await handler(endpoint, request, path, params, caller)
    except Exception as e:  # noqa: BLE001 - a RemoteException (if nothing was sent yet); the server serves on
        status, body = remote_exception(e, op)
        if status >= 500:
            log.exception("%s %s failed", request.method, request.path_qs[:300])
        return web.json_response(body, status=status)


# ------------------------------------------------------------------ reading

async def read_file(endpoint: Endpoint, request, path, params, caller) -> web.StreamResponse:
    offset = params.integer("offset", 0)
    length = params.integer("length", None)
    params.integer("buffersize", None, low=1, high=1 << 31)
    stack = ExitStack()

    def open_reader():
        with ExitStack() as opening:
            fs = opening.enter_context(endpoint.sessions.using(caller))
            reader = opening.enter_context(fs.open(path, "rb"))
            if offset > reader.size:
                raise errors.HfedError(f"{path}: offset {offset} is beyond the end of the file ({reader.size} bytes)",
                                       path)
            reader.seek(offset)
            stack.push(opening.pop_all())
            return reader
    reader = await endpoint.call(open_reader)
    try:
        remaining = reader.size - offset if length is None else min(length, reader.size - offset)
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        response.content_length = remaining
        await response.prepare(request)
        # The next chunk is read (in a thread) while this one goes out: disk and socket overlap.
        ahead = asyncio.ensure_future(endpoint.call(reader.read, min(CHUNK, remaining))) if remaining else None
        while remaining > 0:
            chunk = await ahead
            if not chunk:
                raise errors.HfedError(f"{path}: the file ended {remaining} bytes early (truncated meanwhile?)", path)
            remaining -= len(chunk)
            ahead = asyncio.ensure_future(endpoint.call(reader.read, min(CHUNK, remaining))) if remaining else None
            try:
                await response.write(chunk)
            except BaseException:
                if ahead is not None:
                    await asyncio.wait([ahead])     # the reader is closed below: not while a thread reads
                raise
        await response.write_eof()
        return response
    finally:
        await endpoint.call(stack.close)


async def checksum_file(endpoint: Endpoint, request, path, params, caller) -> web.Response:
    """HDFS's COMPOSITE-CRC32C: the CRC32C of the whole file, whatever the block size, folded by
    the DataNodes from their stored CRCs (client/checksums.py): no file data is read."""
    def compute():
        with endpoint.sessions.using(caller) as fs:
            return path_checksum(fs.session, path)
    found = await endpoint.call(compute)
    return web.json_response(shapes.file_checksum(found.algorithm, found.bytes))


# ------------------------------------------------------------------ writing

async def create_file(endpoint: Endpoint, request, path, params, caller) -> web.Response:
    overwrite = params.boolean("overwrite", False)
    permission = params.permission(FILE_PERMISSION)
    replication = params.integer("replication", None, 1, MAX_REPLICATION)
    block_size = params.integer("blocksize", None, 1)
    params.integer("buffersize", None, low=1, high=1 << 31)
    stack = ExitStack()

    def open_writer():
        with ExitStack() as opening:
            fs = opening.enter_context(endpoint.sessions.using(caller))
            check_room(fs, path, request.content_length)
            writer = fs.open(path, "wb" if overwrite else "xb", permission=permission, replication=replication,
                             block_size=block_size)
            created = fs.session.namenode(writer.nameservice).get_file_info(writer.path).file_id
            stack.push(opening.pop_all())
            return fs, writer, created
    fs, writer, created = await endpoint.call(open_writer)
    try:
        await upload(endpoint, request, writer)
    except BaseException:
        await asyncio.shield(endpoint.call(discard, fs, writer, created))
        raise
    finally:
        await asyncio.shield(endpoint.call(stack.close))
    return web.Response(status=201, headers={"Location": f"hfed://{path}"}, content_type="application/octet-stream")


async def append_file(endpoint: Endpoint, request, path, params, caller) -> web.Response:
    """The body goes at the end of the file. If the upload breaks off, the file is closed with
    the bytes that arrived (handed to the writer, up to CHUNK fewer than received): what the
    file held before is never touched, and it is not left open until its lease expires."""
    params.integer("buffersize", None, low=1, high=1 << 31)
    stack = ExitStack()

    def open_writer():
        with ExitStack() as opening:
            fs = opening.enter_context(endpoint.sessions.using(caller))
            if fs.info(path)["type"] == "directory":      # NotFound for a missing file, as HDFS
                raise errors.IsADirectory(f"cannot append to {path}: it is a directory", path)
            check_room(fs, path, request.content_length)
            writer = fs.open(path, "ab")
            stack.push(opening.pop_all())
            return writer
    writer = await endpoint.call(open_writer)
    try:
        await upload(endpoint, request, writer)
    except BaseException:
        await asyncio.shield(endpoint.call(keep_what_arrived, writer))
        raise
    finally:
        await asyncio.shield(endpoint.call(stack.close))
    return web.Response(status=200)


def keep_what_arrived(writer) -> None:
    try:
        writer.close()
    except Exception as e:  # noqa: BLE001 - a broken pipeline: the NameNode recovers the file
        log.warning("closing the interrupted append to %s failed: %s", writer.path, e)
        writer.abort()


async def upload(endpoint: Endpoint, request: web.Request, writer) -> None:
    """Request body -> writer, CHUNK bytes at a time; the writer closed (the file complete) at the end."""
    pending = bytearray()
    while True:
        data = await request.content.read(CHUNK - len(pending))
        if data:
            pending += data
        if len(pending) >= CHUNK or (not data and pending):
            await endpoint.call(writer.write, bytes(pending))
            pending.clear()
        if not data:
            break
    await endpoint.call(writer.close)


def discard(fs, writer, created: int) -> None:
    """A broken upload: abandon the writer and delete the file this request created (unless
    something else replaced it meanwhile)."""
    try:
        writer.abort()
        writer.close()
    except Exception as e:  # noqa: BLE001 - the delete below is what matters
        log.warning("abandoning the upload of %s: %s", writer.path, e)
    try:
        namenode = fs.session.namenode(writer.nameservice)
        if namenode.get_file_info(writer.path).file_id == created:
            namenode.delete(writer.path, False)
            log.info("upload of %s broke off: the partial file was deleted", writer.path)
    except (OSError, ValueError) as e:
        log.warning("upload of %s broke off and its partial file could not be deleted: %s", writer.path, e)


def check_room(fs, path, content_length: int | None) -> None:
    """Refuse a body larger than the live DataNodes' free space before writing any of it."""
    if not content_length:
        return
    target = fs.session.resolve(path)
    stats = fs.session.namenode(target.nameservice).get_stats()
    free = sum(d.remaining for d in stats.datanodes if d.alive)
    if content_length > free:
        raise errors.NoSpace(f"cannot create {path}: the request body is {content_length} bytes and the "
                             f"DataNodes have {free} bytes free [namespace {target.nameservice}]", path)


def add_routes(app: web.Application, context) -> None:
    endpoint = app["webhdfs"] = Endpoint(context)
    app.router.add_route("*", PREFIX + "{tail:.*}", handle)

    async def stop(_app):
        endpoint.close()
    app.on_cleanup.append(stop)
