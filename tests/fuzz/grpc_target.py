"""What the two gRPC targets share: raw-bytes calls to every method of one service.

The request goes out as bytes (no serializer), so what the fuzzer damaged is
what the server's parser sees; the reply comes back as bytes and, when it
parses, teaches the target new values (paths it created, block ids it was
given) for later inputs.
"""
from __future__ import annotations

import grpc

from protos import hfed_pb2 as pb
from protos import rpc

from tests.fuzz.mutate import Hints, Provider, bend, chance, message_class, pick

CALL_TIMEOUT = 10.0   # longer than any honest call takes here: past it, the call hung


class GrpcTarget:
    name = ""
    service = ""      # hfed.proto service name

    def __init__(self, address: str, hints: Hints):
        self.hints = hints
        service = pb.DESCRIPTOR.services_by_name[self.service]
        self.methods = [(m.name, message_class(m.input_type), message_class(m.output_type)) for m in service.methods]
        self.request_classes = [m[1] for m in self.methods]
        self.channel = grpc.insecure_channel(address, options=rpc.OPTIONS)
        self.calls = {name: self.channel.unary_unary(f"/{service.full_name}/{name}")
                      for name, _, _ in self.methods}
        self.unknown = self.channel.unary_unary(f"/{service.full_name}/NoSuchMethod")

    def close(self) -> None:
        self.channel.close()

    def metadata(self, fdp: Provider, method: str, request: bytes) -> tuple:
        raise NotImplementedError

    def learn(self, method: str, reply) -> None:
        """Remember useful values from a parsed reply (override)."""

    def fuzz_one(self, data: bytes) -> tuple[str, str]:
        """Send one request built from ``data``; (status code name, what was sent and answered)."""
        fdp = Provider(data)
        if chance(fdp, 0.01):
            name, call, reply_class = "NoSuchMethod", self.unknown, None
            raw, how = fdp.ConsumeBytes(64), "unknown method"
        else:
            name, request_class, reply_class = pick(fdp, self.methods)
            call = self.calls[name]
            raw, how = bend(fdp, request_class, self.hints, self.request_classes)
        metadata = self.metadata(fdp, name, raw)
        what = f"{self.service}.{name} {how} request of {len(raw)} bytes"
        try:
            reply = call(raw, timeout=CALL_TIMEOUT, metadata=metadata)
        except grpc.RpcError as e:
            return e.code().name, f"{what} -> {e.code().name}: {(e.details() or '')[:300]}"
        if reply_class is not None:
            try:
                self.learn(name, reply_class.FromString(reply))
            except Exception:  # noqa: BLE001 - a reply that does not parse is the server's bug
                return "bad-reply", f"{what} -> OK with an unparsable reply of {len(reply)} bytes"
        return "OK", f"{what} -> OK"
