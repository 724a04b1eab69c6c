"""The sending end of a block write pipeline (client -> DN1 -> DN2 -> ...).

``PipelineStream`` opens a WRITE on the first DataNode, waits for the setup ack
(every DataNode of the pipeline created its replica and reached the next), then
sends packets on the caller's thread without waiting for their acks: a thread
reads acks, and at most ``window`` packets are unacknowledged at once. Any
not-ok status or broken connection fails the stream with PipelineFailed naming
the DataNode to leave out next time. The client's BlockWriter and a DataNode
copying a replica (replication, packing) both write through it.
"""
from __future__ import annotations

import socket
import threading

from protos import datatransfer as dt
from protos import errors
from protos import hfed_pb2 as pb

DEFAULT_WINDOW = 16
ACK_TIMEOUT = 120.0        # no ack progress for this long: the pipeline is stuck


class PipelineFailed(errors.Unavailable):
    """A write pipeline broke; ``failed_uuid`` is the DataNode to exclude next time."""

    def __init__(self, message: str, failed_uuid: str = "", path: str | None = None):
        super().__init__(message, path)
        self.failed_uuid = failed_uuid


def describe(dn: pb.DatanodeId) -> str:
    return f"{dn.host_label or '?'} ({dn.transfer_address}, uuid {dn.uuid})"


def block_name(block: pb.Block) -> str:
    return f"block {block.block_id} (pool {block.pool_id}, gs {block.generation_stamp})"


class PipelineStream:
    def __init__(self, pool: dt.Connections, block: pb.Block, targets: list[pb.DatanodeId], client_name: str,
                 what: str, keep_partial: bool = False, window: int = DEFAULT_WINDOW, token: str = ""):
        """``what`` names the write in errors (the file's path, or the replica copied);
        ``token`` is the block access token (WRITE, or COPY for replication) every
        DataNode of the pipeline checks."""
        if not targets:
            raise errors.NoSpace(f"{what}: no DataNode to write {block_name(block)} to")
        self.pool = pool
        self.block = block
        self.what = what
        self.first = targets[0]
        self._by_uuid = {dn.uuid: dn for dn in targets}
        self._window = threading.Semaphore(window)
        self._acked = threading.Condition()
        self._last_acked = dt.SETUP_SEQNO
        self._final_seqno: int | None = None
        self._error: PipelineFailed | None = None
        self._seqno = 0
        self._clean = False
        header = pb.WriteHeader(block=pb.Block(pool_id=block.pool_id, block_id=block.block_id,
                                               generation_stamp=block.generation_stamp),
                                targets=list(targets[1:]), client_name=client_name, keep_partial=keep_partial,
                                token=token)
        self._where = f"DataNode {describe(self.first)}"
        try:
            self.sock, setup = dt.request(pool, self.first.transfer_address, dt.Op.WRITE, header, self._where,
                                          dt.recv_ack)
        except OSError as e:   # hfed errors included: the first DataNode is the one to leave out
            raise self._failure(self.first.uuid, f"DataNode {describe(self.first)} failed: {e}") from None
        if not self._check_ack(setup):
            self.sock.close()
            raise self._error
        self._acks = threading.Thread(target=self._consume_acks, name=f"acks-blk_{block.block_id}", daemon=True)
        self._acks.start()

    def _failure(self, uuid: str, message: str) -> PipelineFailed:
        return PipelineFailed(f"writing {self.what}: {message}", uuid, self.what)

    def _check_ack(self, ack: pb.WriteAck) -> bool:
        """Record an ack; False (and the stream failed) when it reports a failure."""
        bad = next((s for s in ack.statuses if not s.ok), None)
        if bad is not None:
            dn = self._by_uuid.get(bad.uuid)
            who = describe(dn) if dn else f"uuid {bad.uuid}"
            self._fail(self._failure(bad.uuid, f"DataNode {who} failed {block_name(self.block)}: {bad.message}"))
            return False
        with self._acked:
            self._last_acked = ack.seqno
            self._acked.notify_all()
        return True

    def _consume_acks(self) -> None:
        try:
            while self._final_seqno is None or self._last_acked < self._final_seqno:
                ack = dt.recv_ack(self.sock, self._where)
                if not self._check_ack(ack):
                    return
                self._window.release()
            self._clean = True
        except OSError as e:
            self._fail(self._failure(self.first.uuid, f"pipeline from {self._where} broke before the last "
                                                      f"ack of {block_name(self.block)}: {e}"))

    def _fail(self, error: PipelineFailed) -> None:
        with self._acked:
            if self._error is None:
                self._error = error
            self._acked.notify_all()
        self._window.release()  # wake a sender blocked on the window

    def check(self) -> None:
        if self._error is not None:
            raise self._error

    @property
    def next_seqno(self) -> int:
        return self._seqno

    def send(self, offset: int, data, crcs, last: bool) -> int:
        """Send one packet (blocks while ``window`` packets are unacknowledged); its seqno."""
        if not self._window.acquire(timeout=ACK_TIMEOUT):
            self.abort()
            raise self._failure(self.first.uuid, f"no ack from {self._where} for {ACK_TIMEOUT:.0f}s")
        self.check()
        seqno = self._seqno
        if last:
            self._final_seqno = seqno
        try:
            dt.send_packet(self.sock, seqno, offset, data, crcs, last)
        except OSError as e:
            self._fail(self._failure(self.first.uuid, f"sending to {self._where} failed: {e}"))
            self.check()
        self._seqno += 1
        return seqno

    def wait_acked(self, seqno: int) -> None:
        """Block until packet ``seqno`` and all before it are acknowledged by every DataNode."""
        with self._acked:
            if not self._acked.wait_for(lambda: self._last_acked >= seqno or self._error is not None,
                                        ACK_TIMEOUT):
                self._error = self._error or self._failure(
                    self.first.uuid, f"no ack from {self._where} for {ACK_TIMEOUT:.0f}s")
        self.check()

    def finish(self) -> None:
        """After the last packet: wait for its ack (every replica then finalized and reported)."""
        self.wait_acked(self._seqno - 1)
        self._acks.join(ACK_TIMEOUT)
        if self._clean:
            self.pool.release(self.first.transfer_address, self.sock)
        else:
            self.sock.close()

    def abort(self) -> None:
        """Tear the pipeline down; the DataNodes discard (or, keep_partial, keep) the replica."""
        if self._error is None:
            self._fail(self._failure("", "pipeline aborted"))
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
