"""Size limits on every request a server accepts, checked in one place.

gRPC bounds a whole message (protos/rpc.py MAX_MESSAGE); inside it, one string
or one repeated field could still be tens of megabytes that a server would
keep in memory and write to its edit log (a 60 MB client name in every
Create). ``check_request`` walks a request by its descriptor -- strings,
repeated fields, submessages and repeated submessages -- and refuses the first
field over its limit with InvalidArgument naming it:
"CreateRequest.client_name: at most 256 bytes, the request has 62914560".

The walk is planned once per message type: a plan lists only the fields that
have a limit (or lead to one), so a request with none costs a dict lookup.
"""
from __future__ import annotations

from typing import NamedTuple

from google.protobuf.descriptor import FieldDescriptor

from protos import paths
from protos.errors import InvalidArgument
from protos.hfed_pb2 import MAX_BATCH
from protos.security import MAX_TOKEN

MAX_PATH = paths.MAX_PATH_BYTES      # 4096: as POSIX PATH_MAX; paths.validate says the same
MAX_NAME = paths.MAX_NAME_BYTES      # 255: one path component
MAX_IDENT = 256                      # client names, users, groups, host labels, uuids, pool and cluster ids
MAX_USER = MAX_CLIENT_NAME = MAX_IDENT
MAX_STRING = 4096                    # any other string
MAX_REPEATED = 10_000                # entries of a repeated field, unless named below
UNLIMITED = None                     # bounded only by the message size gRPC accepts

# string fields by name (in any message)
STRING_LIMITS = {
    "path": MAX_PATH, "src": MAX_PATH, "dst": MAX_PATH, "start_after": MAX_NAME,
    "client_name": MAX_IDENT, "client_host": MAX_IDENT, "host_label": MAX_IDENT, "owner": MAX_IDENT,
    "group": MAX_IDENT, "user": MAX_IDENT, "renewer": MAX_IDENT, "uuid": MAX_IDENT, "datanode_uuid": MAX_IDENT,
    "excluded_uuids": MAX_IDENT, "pool_id": MAX_IDENT, "cluster_id": MAX_IDENT, "nameservice": MAX_IDENT,
    "token": MAX_TOKEN,
}
# repeated fields that legitimately hold more than MAX_REPEATED entries, as "Message.field"
REPEATED_LIMITS = {
    "BatchRequest.entries": MAX_BATCH,
    # A DataNode reports every replica it holds (millions) and, after a restart, every
    # corrupt one; a container lists every small file packed into it.
    "BlockReportRequest.blocks": UNLIMITED,
    "IncrementalBlockReportRequest.received": UNLIMITED,
    "IncrementalBlockReportRequest.deleted": UNLIMITED,
    "ReportBadBlocksRequest.replicas": UNLIMITED,
    "ContainerPackedRequest.offsets": UNLIMITED,
}
# repeated messages not looked into: a full block report is millions of Blocks that the
# NameNode only looks up by id; walking them would cost ~0.3 s per report.
UNWALKED = {"BlockReportRequest.blocks", "IncrementalBlockReportRequest.received",
            "IncrementalBlockReportRequest.deleted"}
# bytes fields: no request carries file bytes over gRPC (they go over DataTransfer), so
# a bytes field is bounded by the message size alone unless named here.
BYTES_LIMITS: dict[str, int] = {}


class _Plan(NamedTuple):
    """What to check in one message type (only fields with a limit somewhere below them)."""
    strings: tuple        # (name, limit) of singular string/bytes fields
    repeated: tuple       # (name, count limit or None, element limit or None) of repeated scalars
    messages: tuple       # (name, plan) of singular message fields
    repeated_messages: tuple  # (name, count limit or None, plan or None)
    floor: int            # the smallest limit in it: a message serialized in fewer bytes is within all


_PLANS: dict = {}         # message full name -> _Plan, or None when nothing in it has a limit
_BUILDING = object()      # a plan being made (a message type that contains itself)
_MISSING = object()


def _plan(descriptor) -> _Plan | None:
    key = descriptor.full_name
    if key in _PLANS:
        found = _PLANS[key]
        return None if found is _BUILDING else found    # a recursive type: checked one level in
    _PLANS[key] = _BUILDING
    strings, repeated, messages, repeated_messages = [], [], [], []
    for field in descriptor.fields:
        name = field.name
        is_text = field.type in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES)
        if field.type == FieldDescriptor.TYPE_STRING:
            element = STRING_LIMITS.get(name, MAX_STRING)
        else:
            element = BYTES_LIMITS.get(f"{descriptor.name}.{name}") if is_text else None
        if field.is_repeated:
            count = REPEATED_LIMITS.get(f"{descriptor.name}.{name}", MAX_REPEATED)
            if field.type == FieldDescriptor.TYPE_MESSAGE:
                sub = None if f"{descriptor.name}.{name}" in UNWALKED else _plan(field.message_type)
                if count is not None or sub is not None:
                    repeated_messages.append((name, count, sub))
            elif count is not None or element is not None:
                repeated.append((name, count, element))
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            sub = _plan(field.message_type)
            if sub is not None:
                messages.append((name, sub))
        elif element is not None:
            strings.append((name, element))
    # A string of n bytes or n repeated entries take at least n bytes on the wire.
    limits = [limit for _, limit in strings] + [sub.floor for _, sub in messages]
    limits += [x for _, count, element in repeated for x in (count, element) if x is not None]
    limits += [x for _, count, sub in repeated_messages for x in (count, sub and sub.floor) if x is not None]
    plan = _Plan(tuple(strings), tuple(repeated), tuple(messages), tuple(repeated_messages), min(limits, default=0))
    _PLANS[key] = plan if limits else None
    return _PLANS[key]


def _size(value) -> int:
    return len(value) if isinstance(value, bytes) else len(value.encode())


def _check_text(value, limit: int, where: str) -> None:
    # Characters never outnumber bytes: encode only a string that might be over in bytes.
    if len(value) > limit or (len(value) * 4 > limit and _size(value) > limit):
        raise InvalidArgument(f"{where}: at most {limit} bytes, the request has {_size(value)}")


def _walk(message, plan: _Plan, where: str) -> None:
    for name, limit in plan.strings:
        value = getattr(message, name)
        if len(value) > limit // 4:
            _check_text(value, limit, f"{where}.{name}")
    for name, count, element in plan.repeated:
        values = getattr(message, name)
        if count is not None and len(values) > count:
            raise InvalidArgument(f"{where}.{name}: at most {count} entries, the request has {len(values)}")
        if element is not None:
            for i, value in enumerate(values):
                if len(value) > element // 4:
                    _check_text(value, element, f"{where}.{name}[{i}]")
    for name, sub in plan.messages:
        if message.HasField(name):
            _walk(getattr(message, name), sub, f"{where}.{name}")
    for name, count, sub in plan.repeated_messages:
        values = getattr(message, name)
        if count is not None and len(values) > count:
            raise InvalidArgument(f"{where}.{name}: at most {count} entries, the request has {len(values)}")
        if sub is not None:
            for i, value in enumerate(values):
                if value.ByteSize() > sub.floor:    # a cheap C call; most entries end here
                    _walk(value, sub, f"{where}.{name}[{i}]")


def check_request(message, where: str = "") -> None:
    """Raise InvalidArgument naming the first field of ``message`` over its limit
    (``where`` prefixes the message, e.g. the server's name). Anything that is not
    a protobuf message passes."""
    descriptor = getattr(message, "DESCRIPTOR", None)
    if descriptor is None:
        return
    plan = _PLANS.get(descriptor.full_name, _MISSING)
    if plan is _MISSING:
        plan = _plan(descriptor)
    if plan is None or message.ByteSize() <= plan.floor:
        return
    try:
        _walk(message, plan, descriptor.name)
    except InvalidArgument as e:
        if where:
            raise InvalidArgument(f"{where}: {e}") from None
        raise
