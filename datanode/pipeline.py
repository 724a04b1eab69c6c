"""One WRITE stream on one DataNode: receive packets, forward them, store them, ack them.

The connection's thread receives each packet into a ring of reused buffers
and sends it on to the next DataNode at once (so the pipeline's DataNodes work
on a packet at the same time); a store thread verifies its CRC32Cs (folded:
one pass over the data) and appends it to the replica while the next packets
arrive. The responder thread pops packets in order, waits for each one's
store, reads the downstream ack for it and sends its own ack upstream with
[own status, downstream statuses...]. A buffer is received into again only
after its packet was stored (``STORE_WINDOW`` slots). Every DataNode verifies
every packet, so finalized replicas are known good and short-circuit readers
need no second pass over them.

A stream that breaks before its last packet discards the replica, or with
``keep_partial`` (staging containers) keeps the bytes already stored; a replica
is finalized only after its last packet was received, verified and stored.
"""
from __future__ import annotations

import concurrent.futures
import logging
import queue
import socket
import threading
from dataclasses import dataclass

from datanode.storage import BPC, ReplicaBeingWritten
from protos import checksum, datatransfer as dt, errors, security
from protos import hfed_pb2 as pb
from protos.errors import HfedError, InvalidArgument
from protos.log_limit import RateLimitedLog

log = logging.getLogger("hfed.datanode.pipeline")
refused = RateLimitedLog(log)   # refused writes: a line per 10 s, whoever sends them

# Generous: a downstream DataNode may be fsyncing and reporting to its NameNode.
DOWNSTREAM_ACK_TIMEOUT = 120.0
# Packets received but not yet stored: receiving runs ahead of the disk by this many buffers.
STORE_WINDOW = 3


@dataclass
class _Received:
    """One packet this DataNode has handled, waiting for its ack to go upstream."""
    seqno: int
    ok: bool = True
    message: str = ""
    last: bool = False
    downstream_error: str = ""  # forwarding failed: no downstream ack will come
    stored: concurrent.futures.Future | None = None  # its verify-and-append, when it carried data


class WriteReceiver:
    def __init__(self, server, conn: socket.socket, header: pb.WriteHeader, bytes_per_checksum: int, peer: str):
        self.server = server   # transfer.TransferServer: storage, loop bridge, reports
        self.storage = server.storage
        self.conn = conn
        self.header = header
        self.bytes_per_checksum = bytes_per_checksum
        self.peer = peer
        self.rbw: ReplicaBeingWritten | None = None
        self.downstream: socket.socket | None = None
        self.target: pb.DatanodeId | None = None
        self.finalized = False
        self.received: queue.SimpleQueue[_Received | None] = queue.SimpleQueue()
        # One store thread keeps appends in packet order; slots keep a buffer from being
        # received into before its packet is stored.
        self._store = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="blk-store")
        self._slots = threading.Semaphore(STORE_WINDOW)
        self._last_store: concurrent.futures.Future | None = None
        self._store_error: BaseException | None = None
        block = header.block
        self.where = f"block {block.block_id} (gs {block.generation_stamp}) of pool {block.pool_id} " \
                     f"on DataNode {self.storage.host_label}"

    def _own(self, ok=True, message="") -> pb.PipelineStatus:
        return pb.PipelineStatus(uuid=self.storage.uuid, ok=ok, message=message)

    def run(self) -> bool:
        """Serve the stream; True when it ended cleanly (the connection may carry another request)."""
        statuses = self._set_up()
        dt.send_ack(self.conn, pb.WriteAck(seqno=dt.SETUP_SEQNO, statuses=statuses))
        if not all(s.ok for s in statuses):
            self._clean_up()
            return False
        responder = threading.Thread(target=self._respond, name=f"ack-{self.header.block.block_id}", daemon=True)
        responder.start()
        clean = False
        try:
            clean = self._receive()
        finally:
            self.received.put(None)
            responder.join(DOWNSTREAM_ACK_TIMEOUT + 5)
            self._clean_up()
        return clean and self.finalized

    # ------------------------------------------------------------ set-up

    def _set_up(self) -> list[pb.PipelineStatus]:
        block = self.header.block
        try:
            # The token first: a write under a generation stamp the NameNode never issued
            # (a "gs + 1" overwrite) has none, and a refusal tells nothing of what is stored.
            self.server.check_token(self.header.token, block, security.WRITE + security.COPY)
            if self.bytes_per_checksum != BPC:
                raise InvalidArgument(f"{self.where}: {self.bytes_per_checksum} bytes per checksum asked, "
                                      f"this DataNode stores {BPC}")
            self.rbw = self.server.on_loop(self.storage.create_rbw, block.pool_id, block.block_id,
                                           block.generation_stamp)
        except (HfedError, OSError) as e:
            refused.warning("WRITE", f"write refused: {e}")
            return [self._own(False, str(e))]
        log.debug("receiving %s from %s (%s), %d downstream", self.rbw, self.header.client_name, self.peer,
                  len(self.header.targets))
        if not self.header.targets:
            return [self._own()]
        self.target = self.header.targets[0]
        downstream_header = pb.WriteHeader()
        downstream_header.CopyFrom(self.header)
        del downstream_header.targets[0]
        where = self._downstream_where()
        try:
            self.downstream = self.server.peers.connect(self.target.transfer_address, DOWNSTREAM_ACK_TIMEOUT)
            dt.send_request(self.downstream, dt.Op.WRITE, downstream_header, self.bytes_per_checksum)
            setup = dt.recv_ack(self.downstream, where)
        except OSError as e:
            return [self._own(), pb.PipelineStatus(uuid=self.target.uuid, ok=False,
                                                   message=f"{where} is unavailable: {e}")]
        return [self._own(), *setup.statuses]

    def _downstream_where(self) -> str:
        return f"DataNode {self.target.host_label} at {self.target.transfer_address}"

    # ------------------------------------------------------------ receiving

    def _receive(self) -> bool:
        reader = dt.PacketReader(self.conn, f"writer {self.peer} of {self.where}",
                                 bytes_per_checksum=self.bytes_per_checksum, buffers=STORE_WINDOW)
        expected_seqno = 0
        while True:
            self._slots.acquire()
            try:
                seqno, offset, data, crcs, last = reader.next()
            except (HfedError, OSError) as e:
                log.warning("write of %s ended before its last packet: %s", self.where, e)
                return False
            entry = _Received(seqno, last=last)
            try:
                if self._store_error is not None:
                    raise self._store_error
                if seqno != expected_seqno:
                    raise InvalidArgument(f"packet seqno {seqno} for {self.where}, expected {expected_seqno}")
                self.rbw.check_packet(offset, data, crcs)
                if self.downstream is not None:
                    entry.downstream_error = self._forward(seqno, offset, data, crcs, last)
                entry.stored = self._last_store = self._store.submit(self._verify_and_append, offset, data, crcs)
                if last:
                    self._last_store.result()   # every packet is on disk, in order
                    replica = self.server.await_on_loop(self.storage.finalize(self.rbw, verified=True))
                    self.finalized = True
                    self.server.activity.written(replica.num_bytes, self.server.is_local(self.peer))
                    log.info("finalized %s (%d bytes)", replica, replica.num_bytes)
                    self.server.block_received(replica.to_block())
            except (HfedError, OSError) as e:
                log.warning("write of %s failed: %s", self.where, e)
                entry.ok, entry.message = False, str(e)
            if entry.stored is None:
                self._slots.release()
            self.received.put(entry)
            if not entry.ok or entry.downstream_error or last:
                return entry.ok and not entry.downstream_error
            expected_seqno += 1

    def _verify_and_append(self, offset: int, data, crcs) -> None:
        """Store thread: check a packet's CRC32Cs, append it (in packet order)."""
        try:
            if self._store_error is not None:
                raise self._store_error
            checksum.verify(data, crcs, offset, self.where)
            self.rbw.write(data, crcs)
        except BaseException as e:
            self._store_error = e
            raise
        finally:
            self._slots.release()

    def _forward(self, seqno: int, offset: int, data, crcs, last: bool) -> str:
        """Send a packet downstream; the failure message, if it could not be sent."""
        try:
            dt.send_packet(self.downstream, seqno, offset, data, crcs, last)
            return ""
        except OSError as e:
            return f"{self._downstream_where()}: {e}"

    # ------------------------------------------------------------ acknowledging

    def _respond(self) -> None:
        try:
            while True:
                entry = self.received.get()
                if entry is None:
                    return
                if entry.ok and entry.stored is not None:
                    try:
                        entry.stored.result()
                    except (HfedError, OSError) as e:
                        entry.ok, entry.message = False, str(e)
                statuses = [self._own(entry.ok, entry.message)]
                if entry.ok and self.downstream is not None:
                    statuses += self._downstream_statuses(entry)
                dt.send_ack(self.conn, pb.WriteAck(seqno=entry.seqno, statuses=statuses))
                if entry.last or not all(s.ok for s in statuses):
                    return
        except OSError as e:   # the writer went away; the receiver notices on its own
            log.info("acks for %s could not be sent to %s: %s", self.where, self.peer, e)

    def _downstream_statuses(self, entry: _Received) -> list[pb.PipelineStatus]:
        def failed(message: str) -> list[pb.PipelineStatus]:
            log.warning("pipeline for %s: %s", self.where, message)
            return [pb.PipelineStatus(uuid=self.target.uuid, ok=False, message=message)]

        if entry.downstream_error:
            return failed(entry.downstream_error)
        where = self._downstream_where()
        try:
            ack = dt.recv_ack(self.downstream, where)
        except socket.timeout:
            return failed(f"{where} did not acknowledge packet {entry.seqno} within {DOWNSTREAM_ACK_TIMEOUT:.0f}s")
        except OSError as e:
            return failed(str(e) if isinstance(e, HfedError) else f"{where}: {e}")
        if ack.seqno != entry.seqno:
            return failed(f"{where} acknowledged packet {ack.seqno}, expected {entry.seqno}")
        return list(ack.statuses)

    # ------------------------------------------------------------ the end

    def _clean_up(self) -> None:
        self._store.shutdown(wait=True)   # nothing is appended after this: the replica's files can close
        if self.downstream is not None:
            self.downstream.close()
        if self.finalized or self.rbw is None:
            return
        if self.header.keep_partial and self.rbw.num_bytes:
            try:
                replica = self.server.await_on_loop(self.storage.finalize(self.rbw, verified=True, partial=True))
            except (HfedError, OSError) as e:
                log.error("write of %s broke off and its %d written bytes could not be kept: %s",
                          self.where, self.rbw.num_bytes, e)
                return
            self.finalized = True
            self.server.activity.written(replica.num_bytes, self.server.is_local(self.peer))
            log.warning("write of %s ended before its last packet; kept the %d bytes written (keep_partial)",
                        replica, replica.num_bytes)
            self.server.block_received(replica.to_block())
        else:
            log.warning("write of %s ended before its last packet; replica discarded", self.where)
            self.server.on_loop(self.storage.abort, self.rbw)
