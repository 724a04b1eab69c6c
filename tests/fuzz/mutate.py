"""Structure-aware inputs: protobuf requests built from what the cluster really holds, then bent.

Every decision is read from one ``atheris.FuzzedDataProvider`` over the input
bytes, so an input replays exactly: the same bytes against a cluster seeded the
same way send the same request. ``build`` fills any hfed.proto message from its
descriptor; values come from ``Hints`` (field name -> values learned from the
cluster: real paths, block ids, uuids, tokens) most of the time, else from
edge values (0, 2^32-1, 2^64-1, -1, empty, 255/4096-byte names, NUL, a few MB).
``mutate_bytes`` then damages the serialized form the way a broken or hostile
peer would.
"""
from __future__ import annotations

import random

import atheris
from google.protobuf import descriptor as _d
from google.protobuf import message_factory

Provider = atheris.FuzzedDataProvider
F = _d.FieldDescriptor

UINT32 = [0, 1, 2, 3, 7, 0o644, 0o755, 0o777, 0o1777, 0o7777, 511, 512, 513, 1000, 1001, 4096, 65535,
          2**31 - 1, 2**31, 2**32 - 1]
UINT64 = UINT32 + [2**32, 2**40, 1 << 20, 128 << 20, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 2, 2**64 - 1]
INT64 = [0, 1, -1, -2, 2**31 - 1, -2**31, 2**62, 2**63 - 1, -2**63, 1_700_000_000_000]
FLOATS = [0.0, -0.0, 1.0, -1.0, 1e308, float("inf"), float("-inf"), float("nan")]
WEIRD_TEXT = ["", "/", "//", "/.", "/..", "/a/../b", "a", "relative/path", "/a\x00b", "/" + "n" * 256,
              "/" + "/".join(["d"] * 2100), "/é/日本/🙂", " ", "\n", "%s%n", "../../etc/passwd",
              "/user/fuzzer/" + "x" * 255, "hfed1.e30.AAAA", "127.0.0.1:0", "127.0.0.1:1", "[::1]:1",
              "localhost", ":", "host:notaport", "127.0.0.1:99999"]

# How big an "oversized" string or repeated field may get.
MAX_OVERSIZE = 4 << 20
MAX_REPEATED = 100_000


def chance(fdp: Provider, p: float) -> bool:
    return fdp.ConsumeProbability() < p


def pick(fdp: Provider, values):
    return values[fdp.ConsumeIntInRange(0, len(values) - 1)] if values else None


def oversize(fdp: Provider) -> int:
    """A size from a few KB to a few MB, log-uniform (most stay small enough to be fast)."""
    return min(MAX_OVERSIZE, 1 << fdp.ConsumeIntInRange(12, 22)) + fdp.ConsumeIntInRange(0, 4095)


def text(fdp: Provider) -> str:
    roll = fdp.ConsumeIntInRange(0, 99)
    if roll < 45:
        return pick(fdp, WEIRD_TEXT)
    if roll < 95:
        return fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 64))
    return pick(fdp, ["x", "/", "é", "/a"]) * (oversize(fdp) // 2)


class Hints:
    """Values worth sending, by field name (what the cluster holds; each list bounded)."""

    LIMIT = 256

    def __init__(self, **values):
        self.values: dict[str, list] = {k: list(v) for k, v in values.items()}

    def add(self, name: str, value) -> None:
        values = self.values.setdefault(name, [])
        if value in values:
            return
        if len(values) >= self.LIMIT:
            values[random.randrange(len(values))] = value
        else:
            values.append(value)

    def get(self, name: str) -> list:
        return self.values.get(name, [])


def scalar(fdp: Provider, field: _d.FieldDescriptor, hints: Hints):
    known = hints.get(field.name)
    if known and chance(fdp, 0.8):
        return pick(fdp, known)
    t = field.type
    if t == F.TYPE_STRING:
        return text(fdp)
    if t == F.TYPE_BYTES:
        if chance(fdp, 0.05):
            return b"\x00" * oversize(fdp)
        return fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 256))
    if t == F.TYPE_BOOL:
        return fdp.ConsumeBool()
    if t == F.TYPE_ENUM:
        if chance(fdp, 0.8):
            return pick(fdp, [v.number for v in field.enum_type.values])
        return pick(fdp, [-1, 3, 99, 2**31 - 1, -2**31])
    if t in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
        return pick(fdp, FLOATS)
    if t in (F.TYPE_INT64, F.TYPE_SINT64, F.TYPE_SFIXED64):
        return pick(fdp, INT64) if chance(fdp, 0.7) else fdp.ConsumeIntInRange(-2**63, 2**63 - 1)
    if t in (F.TYPE_INT32, F.TYPE_SINT32, F.TYPE_SFIXED32):
        return fdp.ConsumeIntInRange(-2**31, 2**31 - 1)
    if t in (F.TYPE_UINT64, F.TYPE_FIXED64):
        return pick(fdp, UINT64) if chance(fdp, 0.7) else fdp.ConsumeIntInRange(0, 2**64 - 1)
    return pick(fdp, UINT32) if chance(fdp, 0.7) else fdp.ConsumeIntInRange(0, 2**32 - 1)


def element_size(value) -> int:
    """Bytes one element of a repeated field takes: protobuf copies every element, so 100,000
    copies of a 4 MB string would be 400 GB (the fuzzer once ran the machine out of memory)."""
    if hasattr(value, "ByteSize"):
        return value.ByteSize()
    if isinstance(value, (str, bytes)):
        return len(value.encode() if isinstance(value, str) else value) + 2
    return 8


def message_class(descriptor: _d.Descriptor):
    return message_factory.GetMessageClass(descriptor)


def build(fdp: Provider, cls, hints: Hints, depth: int = 0, fill: float = 0.8):
    """A ``cls`` message: each field set with probability ``fill``, one member of each oneof."""
    msg = cls()
    fields = cls.DESCRIPTOR.fields
    chosen_oneof = {o.name: pick(fdp, o.fields) for o in cls.DESCRIPTOR.oneofs}
    for field in fields:
        if field.containing_oneof is not None and chosen_oneof[field.containing_oneof.name] is not field:
            continue
        if field.message_type is not None and depth >= 4:
            continue
        if not chance(fdp, fill):
            continue
        if field.is_repeated:
            huge = depth == 0 and chance(fdp, 0.03)   # one huge repeated field per request at most
            count = fdp.ConsumeIntInRange(0, 3)
            target = getattr(msg, field.name)
            if field.message_type is not None:
                for _ in range(count):
                    target.append(build(fdp, message_class(field.message_type), hints, depth + 1, fill))
            else:
                target.extend(scalar(fdp, field, hints) for _ in range(count))
            if huge and len(target):
                # Copies of one element, up to MAX_REPEATED or about MAX_OVERSIZE bytes in all.
                each = element_size(target[0])
                target.extend([target[0]] * min(MAX_REPEATED, MAX_OVERSIZE // max(each, 2)))
        elif field.message_type is not None:
            getattr(msg, field.name).CopyFrom(build(fdp, message_class(field.message_type), hints, depth + 1, fill))
        else:
            try:
                setattr(msg, field.name, scalar(fdp, field, hints))
            except (ValueError, TypeError):
                pass   # a hint of the wrong type for this field: leave it unset
    return msg


def mutate_bytes(fdp: Provider, raw: bytes) -> bytes:
    """1-4 damages: bit flips, inserted or overwritten bytes, cut ranges, duplication, truncation."""
    data = bytearray(raw)
    for _ in range(fdp.ConsumeIntInRange(1, 4)):
        op = fdp.ConsumeIntInRange(0, 6)
        at = fdp.ConsumeIntInRange(0, len(data)) if data else 0
        if op == 0 and data:
            i = min(at, len(data) - 1)
            data[i] ^= 1 << fdp.ConsumeIntInRange(0, 7)
        elif op == 1:
            data[at:at] = fdp.ConsumeBytes(fdp.ConsumeIntInRange(1, 16))
        elif op == 2:
            data[at:at + fdp.ConsumeIntInRange(1, 16)] = b""
        elif op == 3:
            data = data[:at]
        elif op == 4 and data:
            end = fdp.ConsumeIntInRange(at, len(data))
            data[end:end] = data[at:end]
        elif op == 5:   # a varint that never ends, or the largest length prefix
            data[at:at] = pick(fdp, [b"\xff" * 10, b"\x0a\xff\xff\xff\xff\x0f", b"\x12\x80\x80\x80\x80\x10",
                                     b"\x08", b"\x0a"])
        else:
            data[at:at + 1] = bytes([pick(fdp, [0, 0xff, 0x7f, 0x80])])
    return bytes(data)


def bend(fdp: Provider, cls, hints: Hints, others: list) -> tuple[bytes, str]:
    """Serialized request bytes for a method taking ``cls`` and what was done to them:
    mostly valid requests, else damaged, another method's message, empty or random bytes."""
    roll = fdp.ConsumeIntInRange(0, 99)
    if roll < 55:
        return build(fdp, cls, hints).SerializeToString(), "valid"
    if roll < 80:
        return mutate_bytes(fdp, build(fdp, cls, hints).SerializeToString()), "mutated"
    if roll < 88:
        other = pick(fdp, others)
        return build(fdp, other, hints).SerializeToString(), f"wrong type {other.DESCRIPTOR.name}"
    if roll < 92:
        return b"", "empty"
    if roll < 97:
        return fdp.ConsumeBytes(fdp.ConsumeIntInRange(1, 512)), "random"
    return bytes([fdp.ConsumeIntInRange(0, 255)]) * oversize(fdp), "oversize random"
