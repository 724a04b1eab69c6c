"""Fuzz target: the DataNode's DataTransfer server (framed TCP, protos/DATATRANSFER.md).

One input is one connection: a damaged frame (cut header, bad magic, version,
op, bytes-per-checksum, a body length over the limit or longer than what
follows), or a well-framed READ, WRITE, SHORT_CIRCUIT or BLOCK_CHECKSUM whose body is built
from real blocks (the oracle's, at their generation stamps: WRITEs to existing
blocks, READs past the end) and bent like the gRPC targets' requests. WRITEs
that get their setup ack go on with packets: valid ones, wrong seqnos, offsets,
CRCs, lengths and flags, or a stream cut before its last packet. Sometimes a
second request follows on the same connection. A DataNode that does not answer
within ``REPLY_TIMEOUT`` after the fuzzer has finished sending (and half-closed
its side) is reported as hung.

As a script: ``python -m tests.fuzz.datatransfer -max_total_time=60``.
"""
from __future__ import annotations

import socket
import struct

from protos import checksum, errors
from protos import datatransfer as dt
from protos import hfed_pb2 as pb

from tests.fuzz import harness
from tests.fuzz.mutate import Hints, Provider, bend, chance, pick

REPLY_TIMEOUT = 5.0
CONNECT_FAILED = "connect-failed"   # the DataNode does not accept connections: the oracle looks at once
DRAIN_LIMIT = 8 << 20     # bytes of a READ stream read back before the fuzzer hangs up
DATA_SIZES = [0, 1, 511, 512, 513, 4096, 65536, 1 << 20]


def hints_for(fc: harness.FuzzCluster) -> Hints:
    blocks = [lb.block for lb in fc.located]
    addresses = [d.transfer_address for d in fc.datanodes]
    return Hints(
        pool_id=[fc.pool_id] * 3 + ["", "BP-other", "../../etc"],
        block_id=[b.block_id for b in blocks] + [(1 << 50) + i for i in range(8)] + [0, 2**64 - 1],
        generation_stamp=[b.generation_stamp for b in blocks] + [0, 1, 2**64 - 1],
        num_bytes=[b.num_bytes for b in blocks] + [0, 1, 2**64 - 1],
        offset=[0, 1, 511, 512, harness.BLOCK_SIZE - 1, harness.BLOCK_SIZE, 2**63, 2**64 - 1],
        length=[0, 1, 512, harness.BLOCK_SIZE, 2**63, 2**64 - 1],
        uuid=[d.uuid for d in fc.datanodes] + ["", "DN-fuzz"],
        host_label=[d.host_label for d in fc.datanodes] + ["", "elsewhere"],
        client_host=[d.host_label for d in fc.datanodes] + ["", "elsewhere"],
        transfer_address=addresses + ["127.0.0.1:1", "", "nohost", "127.0.0.1:notaport", "[::1]:1"],
        client_name=["fuzz-writer", ""], token=[*fc.block_tokens(), fc.user_token, ""],
    )


class DataTransferTarget:
    name = "datatransfer"

    def __init__(self, fc: harness.FuzzCluster):
        self.fc = fc
        self.hints = hints_for(fc)
        self.addresses = [dt.split_address(d.transfer_address) for d in fc.datanodes]
        self.bodies = list(dt.BODIES.values())
        self.next_block = 1 << 52   # block ids the NameNode never handed out (it deletes them when reported)

    def close(self) -> None:
        pass

    def fuzz_one(self, data: bytes) -> tuple[str, str]:
        fdp = Provider(data)
        address = pick(fdp, self.addresses)
        try:
            sock = socket.create_connection(address, timeout=REPLY_TIMEOUT)
        except OSError as e:
            return CONNECT_FAILED, f"connect to DataNode {address}: {e}"
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        steps: list[str] = []
        try:
            code = self._requests(fdp, sock, steps)
        except socket.timeout:
            code = "timeout"
            steps.append(f"no answer within {REPLY_TIMEOUT:.0f} s")
        except errors.HfedError as e:
            code = e.kind
            steps.append(f"-> {e.kind}: {e.message[:200]}")
        except OSError as e:
            code = "closed"
            steps.append(f"-> connection ended: {e}")
        finally:
            sock.close()
        return code, "DataTransfer " + "; ".join(steps)

    # ------------------------------------------------------------ one connection

    def _requests(self, fdp: Provider, sock: socket.socket, steps: list[str]) -> str:
        code = self._one_request(fdp, sock, steps)
        while code == "OK" and chance(fdp, 0.3):
            code = self._one_request(fdp, sock, steps)
        return code

    def _one_request(self, fdp: Provider, sock: socket.socket, steps: list[str]) -> str:
        op = pick(fdp, list(dt.Op))
        if chance(fdp, 0.4):
            body, how = self._real_request(fdp, op).SerializeToString(), "real"
        else:
            body, how = bend(fdp, dt.BODIES[op], self.hints, self.bodies)
        header = dt.REQUEST.pack(dt.MAGIC, dt.VERSION, op, checksum.BYTES_PER_CHECKSUM, len(body))
        roll = fdp.ConsumeIntInRange(0, 99)
        if roll < 20:
            return self._bad_frame(fdp, sock, header, body, steps)
        sock.sendall(header + body)
        steps.append(f"{op.name} {how} body of {len(body)} bytes")
        parsed = _parse(dt.BODIES[op], body)
        if op == dt.Op.WRITE:
            return self._write(fdp, sock, parsed, steps)
        dt.recv_reply(sock, "fuzzed DataNode")
        if op == dt.Op.READ and not self._drain(fdp, sock, steps):
            return "hung-up"   # the rest of the stream is still coming: the connection is done
        steps.append("-> OK")
        return "OK"

    def _real_request(self, fdp: Provider, op: dt.Op):
        """A request an honest client could send: READs of the oracle's blocks (any range,
        some past the end), WRITEs of new blocks (no targets, or the other DataNodes),
        SHORT_CIRCUIT from this host, BLOCK_CHECKSUMs of any prefix (some past the end)."""
        lb = pick(fdp, self.fc.located)
        if op == dt.Op.READ:
            offset = pick(fdp, [0, 0, 1, 511, 512, lb.block.num_bytes - 1, lb.block.num_bytes,
                                lb.block.num_bytes + 512])
            length = pick(fdp, [0, 1, 512, 4096, lb.block.num_bytes, 2**40])
            return pb.ReadBlockRequest(block=lb.block, offset=offset, length=length, token=lb.token)
        if op == dt.Op.SHORT_CIRCUIT:
            return pb.ShortCircuitRequest(block=lb.block, client_host=pick(fdp, lb.locations).host_label,
                                          token=lb.token)
        if op == dt.Op.BLOCK_CHECKSUM:
            length = pick(fdp, [0, 1, 511, 512, 513, lb.block.num_bytes, lb.block.num_bytes + 1, 2**40])
            return pb.BlockChecksumRequest(block=lb.block, length=length, token=lb.token)
        self.next_block += 1
        block = pb.Block(block_id=self.next_block, generation_stamp=1, pool_id=self.fc.pool_id)
        targets = [] if chance(fdp, 0.7) else list(self.fc.datanodes[1:])
        return pb.WriteHeader(block=block, targets=targets, client_name="fuzz-writer",
                              keep_partial=chance(fdp, 0.2), token=lb.token)

    def _bad_frame(self, fdp: Provider, sock: socket.socket, header: bytes, body: bytes, steps: list[str]) -> str:
        kind = fdp.ConsumeIntInRange(0, 6)
        if kind == 0:
            cut = fdp.ConsumeIntInRange(1, len(header) - 1)
            frame, what = header[:cut], f"header cut at {cut} bytes"
        elif kind == 1:
            frame, what = fdp.ConsumeBytes(4).ljust(4, b"\0") + header[4:] + body, "bad magic"
        elif kind == 2:
            frame, what = header[:4] + bytes([pick(fdp, [0, 2, 255])]) + header[5:] + body, "wrong version"
        elif kind == 3:
            frame, what = header[:5] + bytes([pick(fdp, [0, 4, 127, 255])]) + header[6:] + body, "unknown op"
        elif kind == 4:
            bpc = pick(fdp, [0, 1, 4, 511, 513, 4096, 65535])
            frame, what = header[:6] + struct.pack(">H", bpc) + header[8:] + body, f"bytes per checksum {bpc}"
        elif kind == 5:
            length = pick(fdp, [dt.MAX_BODY + 1, 2**31, 2**32 - 1])
            frame, what = header[:8] + struct.pack(">I", length) + body, f"body length {length}"
        else:
            length = len(body) + fdp.ConsumeIntInRange(1, 4096)
            frame, what = header[:8] + struct.pack(">I", length) + body, "body shorter than its length"
        sock.sendall(frame)
        sock.shutdown(socket.SHUT_WR)
        steps.append(f"{what} ({len(frame)} bytes sent, then end of stream)")
        return self._answer_after_eof(sock, steps)

    def _answer_after_eof(self, sock: socket.socket, steps: list[str]) -> str:
        """Whatever the DataNode says once the fuzzer stopped sending: an error reply or a close."""
        raw = b""
        while len(raw) < 65536:
            piece = sock.recv(65536)
            if not piece:
                break
            raw += piece
        if len(raw) >= dt.REPLY.size and raw[0] == dt.ERROR:
            kind = raw[dt.REPLY.size:].split(b"\n", 1)[0].decode(errors="replace")
            if kind in errors.KINDS:
                steps.append(f"-> error reply {kind}")
                return kind
        steps.append(f"-> closed after {len(raw)} bytes")
        return "closed"

    def _drain(self, fdp: Provider, sock: socket.socket, steps: list[str]) -> bool:
        """Read a READ's packets: True once the last one came, False when hanging up part-way."""
        reader = dt.PacketReader(sock, "fuzzed DataNode")
        cut_after = pick(fdp, [None, None, None, 0, 1])
        got = packets = 0
        while got < DRAIN_LIMIT:
            if cut_after is not None and packets >= cut_after:
                steps.append(f"hung up after {packets} packets")
                return False
            _, _, data, _, last = reader.next()
            got += len(data)
            packets += 1
            if last:
                return True
        steps.append(f"hung up after {got} bytes")
        return False

    # ------------------------------------------------------------ writes

    def _write(self, fdp: Provider, sock: socket.socket, header: pb.WriteHeader | None, steps: list[str]) -> str:
        if header is not None:
            steps.append(f"(block {header.block.block_id} gs {header.block.generation_stamp}, "
                         f"targets {[t.transfer_address[:40] for t in header.targets][:4]})")
        setup = dt.recv_ack(sock, "fuzzed DataNode")
        if not all(s.ok for s in setup.statuses):
            steps.append(f"-> setup refused: {[s.message[:120] for s in setup.statuses if not s.ok]}")
            return "write-refused"
        count = fdp.ConsumeIntInRange(0, 4)
        offset, broken = 0, False
        for seqno in range(count):
            size = pick(fdp, DATA_SIZES)
            payload = fdp.ConsumeBytes(64) * (size // 64 + 1)
            payload = payload[:size] if len(payload) >= size else payload.ljust(size, b"z")
            crcs = checksum.compute(payload)
            last = seqno == count - 1
            flags, seq, off, length, what = (dt.LAST if last else 0), seqno, offset, size, "valid"
            damage = fdp.ConsumeIntInRange(0, 99)
            if damage < 8:
                seq, what = seq + pick(fdp, [1, -1, 2**40]), "wrong seqno"
            elif damage < 16:
                off, what = off + pick(fdp, [1, 512, -offset - 1 if offset else 2**63]), "wrong offset"
            elif damage < 24 and crcs:
                crcs, what = bytes([crcs[0] ^ 1]) + crcs[1:], "bad CRC"
            elif damage < 30:
                length, what = size + pick(fdp, [1, 512, dt.PACKET_SIZE]), "length longer than data"
            elif damage < 34:
                flags, what = pick(fdp, [dt.FAILED, 0xff, dt.FAILED | dt.LAST]), "odd flags"
            if what != "valid":
                broken = True
            off = off % 2**64
            seq = max(-2**63, min(seq, 2**63 - 1))
            sock.sendall(dt.PACKET.pack(flags, seq, off, length) + crcs + payload)
            steps.append(f"packet {seqno} {what} ({size} bytes)")
            offset += size
            if broken and chance(fdp, 0.5):
                break
        if count == 0 or broken or chance(fdp, 0.05):
            sock.shutdown(socket.SHUT_WR)
            steps.append("stream cut")
            return self._answer_after_eof(sock, steps)
        while True:
            ack = dt.recv_ack(sock, "fuzzed DataNode")
            if not all(s.ok for s in ack.statuses):
                steps.append(f"-> packet {ack.seqno} refused")
                return "packet-refused"
            if ack.seqno == count - 1:
                steps.append("-> every packet acknowledged")
                return "OK"


def _parse(cls, body: bytes):
    try:
        return cls.FromString(body)
    except Exception:  # noqa: BLE001 - a damaged body: the fuzzer only needs to know it did not parse
        return None


_target: DataTransferTarget | None = None


def fuzz_one(data: bytes) -> tuple[str, str]:
    return _target.fuzz_one(data)


def attach(fc: harness.FuzzCluster) -> DataTransferTarget:
    global _target
    _target = DataTransferTarget(fc)
    return _target


if __name__ == "__main__":
    from tests.fuzz import script
    script.main("tests.fuzz.datatransfer", attach, fuzz_one)
