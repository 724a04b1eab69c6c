"""The DataTransfer server: block bytes over framed TCP (protos/datatransfer.py).

One thread per connection, serving its requests one after another: READ sends
a replica's stored CRCs and its bytes (datanode/reading.py), WRITE runs a pipeline
stream (datanode/pipeline.py), SHORT_CIRCUIT hands a verified replica's path
to a client on this host, BLOCK_CHECKSUM folds a replica's stored CRCs into
the CRC32C of its bytes (no data read). Blocking threads keep the byte path out of the event
loop (socket and disk I/O and CRCs release the GIL); the replica maps
still change only on the event loop, reached through ``on_loop``.
"""
from __future__ import annotations

import asyncio
import logging
import socket
import threading

from datanode.block_keys import BlockKeyRing
from datanode.metrics import DataNodeActivity, is_local_peer
from datanode.pipeline import WriteReceiver
from datanode.reading import check_files, open_readable, read_end, replica_chunks, replica_crc, send_range
from datanode.storage import BPC, BlockStorage, Replica, block_name
from protos import datatransfer as dt, security, tls
from protos import hfed_pb2 as pb
from protos.errors import AccessDenied, BlockMissing, ChecksumError, HfedError
from protos.log_limit import RateLimitedLog
from protos.pipeline import PipelineStream

log = logging.getLogger("hfed.datanode.transfer")
refused = RateLimitedLog(log)   # what strangers can trigger at will is logged a line per kind every 10 s

LOOP_CALL_TIMEOUT = 300.0   # a finalize may fsync a large replica


class TransferServer:
    def __init__(self, storage: BlockStorage, address: str, loop: asyncio.AbstractEventLoop,
                 io_timeout: float = dt.IO_TIMEOUT, idle_timeout: float = 2 * dt.IDLE_SECONDS, cfg=None,
                 names=()):
        """``cfg``: the cluster's config; with its ``[security] tls`` on, every connection,
        served or made to peers, is TLS with the cluster's certificate (one carrying
        ``names``, those this DataNode advertises)."""
        self.storage = storage
        self.loop = loop
        self.links = None  # heartbeat.NamenodeLinks, once started: incremental and bad-block reports, block keys
        # Block-token keys until ``links`` (which holds the keys NameNodes send) is set: none,
        # so every request is refused. A server run without NameNodes may set its own.
        self.block_keys = BlockKeyRing(enabled=True)
        self.io_timeout = io_timeout
        self.idle_timeout = idle_timeout   # longer than a client keeps an idle pooled connection
        self.ssl_context = tls.context_for(cfg, server_side=True, names=names)
        self.peers = dt.Connections(ssl_context=tls.context_for(cfg))   # to other DataNodes: replication, packing
        host, port = dt.split_address(address)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET    # "[::]:9866" binds IPv6 (and v4)
        self.listener = socket.create_server((host or "0.0.0.0", port), family=family, backlog=128,
                                             dualstack_ipv6=host == "::" and socket.has_dualstack_ipv6())
        self.port = self.listener.getsockname()[1]
        self.bound_host = host
        self.activity = DataNodeActivity()   # bytes and blocks moved (/metrics, /jmx)
        self._connections: set[socket.socket] = set()
        self._per_connection = threading.local()   # each connection has its own thread
        self._lock = threading.Lock()
        self._serving = 0
        self._stopping = False
        self._accepting = threading.Thread(target=self._accept, name="transfer-accept", daemon=True)

    @property
    def active_transfers(self) -> int:
        """Requests being served now (heartbeats report it; NameNodes place and order
        replicas by it): idle pooled connections do not count."""
        return self._serving

    def start(self) -> None:
        self._accepting.start()

    def stop(self) -> None:
        """Stop accepting and cut every open connection (their streams end as a crash would)."""
        self._stopping = True
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        with self._lock:
            for conn in self._connections:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self._accepting.join(5)
        self.peers.close()

    # ------------------------------------------------------------ the event loop, from threads

    def on_loop(self, function, *args):
        """Run a plain function on the event loop (replica map changes) and return its result."""
        async def call():
            return function(*args)
        return self.await_on_loop(call())

    def await_on_loop(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(LOOP_CALL_TIMEOUT)

    def block_received(self, block: pb.Block) -> None:
        if self.links is not None:
            self.await_on_loop(self.links.block_received(block))

    def report_bad_block(self, block: pb.Block) -> None:
        if self.links is not None:
            self.await_on_loop(self.links.report_bad_block(block))

    # ------------------------------------------------------------ block access tokens

    def check_token(self, token: str, block: pb.Block, modes: str) -> None:
        """AccessDenied unless ``token`` grants one of ``modes`` on exactly ``block``. Runs
        before the replica is looked up: a refusal reveals nothing about what is stored."""
        keys = self.links.block_keys if self.links is not None else self.block_keys
        keys.check(token, block, modes, f"DataNode {self.storage.host_label}")

    # ------------------------------------------------------------ connections

    def _accept(self) -> None:
        while not self._stopping:
            try:
                conn, peer = self.listener.accept()
            except OSError:
                return   # the listener closed: stopping
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._connections.add(conn)
            threading.Thread(target=self._serve, args=(conn, f"{peer[0]}:{peer[1]}"),
                             name=f"xfer-{peer[1]}", daemon=True).start()

    def _secure(self, conn: socket.socket, peer: str):
        """``conn`` after its TLS handshake (here, on the connection's own thread), as a
        TlsStream; None when the handshake failed (a plain client, another cluster's CA)."""
        try:
            stream = tls.TlsStream.server(conn, self.ssl_context)
        except OSError as e:
            refused.warning("tls", f"TLS handshake with {peer} failed: {e}", logging.INFO)
            with self._lock:
                self._connections.discard(conn)
            conn.close()
            return None
        with self._lock:
            self._connections.discard(conn)
            self._connections.add(stream)
        return stream

    def _serve(self, conn: socket.socket, peer: str) -> None:
        where = f"client {peer} of DataNode {self.storage.host_label}"
        if self.ssl_context is not None:
            conn = self._secure(conn, peer)
            if conn is None:
                return
        try:
            while not self._stopping:
                conn.settimeout(self.idle_timeout)
                try:
                    request = dt.recv_request(conn, where)
                except HfedError as e:   # not a request we understand: say why, then hang up
                    refused.warning("malformed", str(e), logging.INFO)
                    dt.send_reply(conn, error=e)
                    return
                if request is None:
                    return
                conn.settimeout(self.io_timeout)
                op, bpc, body = request
                with self._lock:
                    self._serving += 1
                try:
                    if not self._serve_one(conn, op, bpc, body, peer):
                        return
                finally:
                    with self._lock:
                        self._serving -= 1
        except OSError as e:   # timeouts and resets: this connection only
            refused.warning("ended", f"connection from {peer} ended: {e}", logging.INFO)
        except Exception:  # noqa: BLE001 - one broken stream must not take the server down
            log.exception("serving %s failed", peer)
        finally:
            with self._lock:
                self._connections.discard(conn)
            conn.close()

    def _serve_one(self, conn: socket.socket, op: dt.Op, bpc: int, body, peer: str) -> bool:
        """Serve one request; True when the connection can carry another."""
        if op == dt.Op.WRITE:
            return WriteReceiver(self, conn, body, bpc, peer).run()
        try:
            if op == dt.Op.READ:
                return self._read(conn, body, peer)
            if op == dt.Op.BLOCK_CHECKSUM:
                dt.send_reply(conn, self._block_checksum(body))
                return True
            dt.send_reply(conn, self._short_circuit(body))
            return True
        except HfedError as e:
            refused.warning(op.name, f"{op.name} from {peer}: {e}", logging.INFO)
            dt.send_reply(conn, error=e)
            return True

    # ------------------------------------------------------------ read

    def _read_buffer(self, size: int) -> memoryview:
        """This connection's (thread's) read buffer, grown to ``size``: fresh memory is
        costly, so one buffer serves every READ of a connection."""
        buffer = getattr(self._per_connection, "buffer", None)
        if buffer is None or len(buffer) < size:
            buffer = self._per_connection.buffer = memoryview(bytearray(size))
        return buffer

    def is_local(self, peer: str) -> bool:
        return is_local_peer(peer, self.bound_host)

    def _read(self, conn: socket.socket, request: pb.ReadBlockRequest, peer: str) -> bool:
        self.check_token(request.token, request.block, security.READ)
        replica, writing, files = open_readable(self.storage, request.block)
        try:
            end = read_end(replica, writing, request.offset, request.length, self.storage.host_label)
            check_files(replica, files, end, self.storage.host_label)
            dt.send_reply(conn)
            try:
                start = request.offset - request.offset % BPC
                send_range(conn, replica, files, start, end, self.storage.host_label,
                           self._read_buffer(min(dt.PACKET_SIZE, end - start)))
                self.activity.read(end - start, self.is_local(peer))
            except HfedError as e:   # after the reply: the reader learns it from a FAILED packet
                log.warning("READ of %s: %s", replica, e)
                dt.send_failed_packet(conn, e)
            return True
        finally:
            for f in files:
                f.close()

    # ------------------------------------------------------------ block checksum

    def _block_checksum(self, request: pb.BlockChecksumRequest) -> pb.BlockChecksumResponse:
        """CRC32C of the replica's first ``length`` bytes (0: all) from its stored chunk CRCs,
        under the same READ token as a read. A replica shorter than asked (a write not that
        far yet, a bad length) is BlockMissing, a truncated one ChecksumError: the client
        asks another replica (and reports a corrupt one, as a reader does)."""
        self.check_token(request.token, request.block, security.READ)
        replica, writing, files = open_readable(self.storage, request.block)
        try:
            length = request.length or replica.num_bytes
            if length > replica.num_bytes:
                raise BlockMissing(f"block {replica} has {replica.num_bytes} bytes on DataNode "
                                   f"{self.storage.host_label}, not the {length} asked for")
            try:
                check_files(replica, files, length, self.storage.host_label)
                crc = replica_crc(replica, files, length, self.storage.host_label, writing)
            except ChecksumError as e:
                if writing:    # its files are still growing: not corrupt, just not there yet
                    raise BlockMissing(str(e)) from None
                raise          # the client reports it, as a reader does
            return pb.BlockChecksumResponse(crc32c=crc, length=length, bytes_per_checksum=BPC)
        finally:
            for f in files:
                f.close()

    # ------------------------------------------------------------ short-circuit

    def _short_circuit(self, request: pb.ShortCircuitRequest) -> pb.ShortCircuitResponse:
        block = request.block
        name = block_name(block.block_id, block.generation_stamp)
        self.check_token(request.token, block, security.READ)
        if request.client_host != self.storage.host_label:
            raise AccessDenied(f"short-circuit read of block {name} of pool {block.pool_id} refused: client host"
                               f" {request.client_host!r} is not DataNode host {self.storage.host_label!r}")
        replica, writing = self.storage.readable(block.pool_id, block.block_id, block.generation_stamp)
        if writing:
            # Its file still grows and is renamed at finalize: the client streams it instead.
            raise AccessDenied(f"short-circuit read of block {name} of pool {block.pool_id} refused: it is"
                               f" still being written on DataNode {self.storage.host_label}; read it with READ")
        try:
            self.await_on_loop(self.storage.verify_once(replica))
        except ChecksumError as e:
            log.error("corrupt replica %s: %s", replica, e)
            self.report_bad_block(replica.to_block())
            raise
        self.activity.short_circuit(replica.num_bytes)
        return pb.ShortCircuitResponse(block_path=replica.block_path, meta_path=replica.meta_path,
                                       length=replica.num_bytes)


# ------------------------------------------------------------------ sending replicas

def send_replica(peers: dt.Connections, host_label: str, replica: Replica, targets: list[pb.DatanodeId],
                 client_name: str, token: str = "") -> None:
    """Copy a finalized replica to targets[0] (and on down the pipeline). Blocking.
    The stored checksums travel along, so the targets detect a corrupt source.
    ``token``: the TransferCommand's (COPY) block token, which the targets check."""
    send_block(peers, replica.to_block(), replica_chunks(replica, 0, replica.num_bytes, host_label), targets,
               client_name, token)


def send_block(peers: dt.Connections, block: pb.Block, chunks, targets: list[pb.DatanodeId],
               client_name: str, token: str = "") -> None:
    """Write ``block`` (the whole-packet Chunks ``chunks`` yields from offset 0) as a new
    replica on ``targets``; return once every target acknowledged the last packet (each
    then finalized and reported its replica). Blocking; PipelineFailed (an HfedError)
    names the failing DataNode. ``token`` grants WRITE or COPY on ``block``."""
    what = f"{block_name(block.block_id, block.generation_stamp)} of pool {block.pool_id}"
    stream = PipelineStream(peers, block, targets, client_name, what, token=token)
    try:
        pending = next(chunks, None)
        if pending is None:
            stream.send(0, b"", b"", last=True)
        while pending is not None:
            following = next(chunks, None)
            stream.send(pending.offset, pending.data, pending.crcs, last=following is None)
            pending = following
        stream.finish()
    except BaseException:
        stream.abort()
        raise
