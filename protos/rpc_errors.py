"""hfed errors over gRPC: the one place that knows status codes.

A server sends an hfed error as the status its kind maps to, with the kind in
the ``hfed-error`` trailing metadata, so the client raises the very same class
again (several kinds share a status; the kind is what tells them apart).
``serves`` wraps every grpc.aio handler, unary or server-streaming, and
``add_service`` registers a servicer whose requests are parsed leniently, so
a request that is not valid protobuf is answered INVALID_ARGUMENT (gRPC itself
would answer UNKNOWN with the name of a Python exception). ``serves`` also
refuses a request with a field over its limit (protos/limits.py) before the
handler sees it. Refused requests are logged as one line, at most one per method
every few seconds (protos/log_limit.py): a fuzzer must not be able to fill the disk with logs.
"""
from __future__ import annotations

import contextlib
import functools
import inspect
import logging

import grpc
from google.protobuf import message_factory
from google.protobuf.message import DecodeError

from protos import errors, limits
from protos.log_limit import RateLimitedLog
from protos import hfed_pb2 as pb

log = logging.getLogger(__name__)

ERROR_KEY = "hfed-error"
Code = grpc.StatusCode

STATUS = {
    errors.HfedError.kind: Code.INTERNAL,
    errors.NotFound.kind: Code.NOT_FOUND,
    errors.AlreadyExists.kind: Code.ALREADY_EXISTS,
    errors.NotADirectory.kind: Code.FAILED_PRECONDITION,
    errors.IsADirectory.kind: Code.FAILED_PRECONDITION,
    errors.AccessDenied.kind: Code.PERMISSION_DENIED,
    errors.NotEmpty.kind: Code.FAILED_PRECONDITION,
    errors.CrossNamespace.kind: Code.FAILED_PRECONDITION,
    errors.InvalidPath.kind: Code.INVALID_ARGUMENT,
    errors.InvalidArgument.kind: Code.INVALID_ARGUMENT,
    errors.LeaseConflict.kind: Code.FAILED_PRECONDITION,
    errors.NoSpace.kind: Code.RESOURCE_EXHAUSTED,
    errors.BlockMissing.kind: Code.NOT_FOUND,
    errors.ChecksumError.kind: Code.DATA_LOSS,
    errors.SafeMode.kind: Code.FAILED_PRECONDITION,
    errors.Unavailable.kind: Code.UNAVAILABLE,
    errors.Unauthenticated.kind: Code.UNAUTHENTICATED,
    errors.MountMoved.kind: Code.FAILED_PRECONDITION,
    errors.Retry.kind: Code.UNAVAILABLE,
    errors.ReadOnlyMount.kind: Code.FAILED_PRECONDITION,
    errors.QuotaExceeded.kind: Code.RESOURCE_EXHAUSTED,
}


def status_of(error: errors.HfedError) -> grpc.StatusCode:
    return STATUS.get(error.kind, Code.INTERNAL)


# ------------------------------------------------------------------ server
async def abort_with(context, error: errors.HfedError):
    """Send ``error`` to the caller (grpc.aio context)."""
    context.set_trailing_metadata(((ERROR_KEY, error.kind),))
    await context.abort(status_of(error), error.message)


def as_hfed_error(error: Exception, where: str) -> errors.HfedError:
    """hfed errors as they are; anything else is a bug: logged in full, an HfedError naming ``where``."""
    if isinstance(error, errors.HfedError):
        return error
    log.exception("%s failed", where)
    return errors.HfedError(f"internal error in {where}: {error!r}")


class GarbledMessage:
    """What a request that is not valid protobuf parses to: ``serves`` answers it InvalidArgument."""

    def __init__(self, type_name: str, error: Exception):
        self.type_name = type_name
        self.error = error

    def reject(self, where: str) -> errors.InvalidArgument:
        return errors.InvalidArgument(f"{where} received a malformed {self.type_name}: {self.error}")


refused_log = RateLimitedLog(log)


def lenient_parser(message_class):
    def parse(raw: bytes):
        try:
            return message_class.FromString(raw)
        except DecodeError as e:
            return GarbledMessage(message_class.DESCRIPTOR.full_name, e)
    return parse


def serves(handler):
    """Wrap a servicer method for grpc.aio: a plain function, a coroutine function, or
    an async generator (server streaming). hfed errors reach the caller as their
    status, a GarbledMessage as InvalidArgument, anything else as INTERNAL (logged
    in full). The servicer's ``where`` names the server in those messages."""
    def screen(self, request, context):
        """Refuse a garbled request or one over its limits, in one rate-limited log line."""
        try:
            if isinstance(request, GarbledMessage):
                raise request.reject(self.where)
            limits.check_request(request, self.where)
        except errors.InvalidArgument as e:
            peer = context.peer() if hasattr(context, "peer") else "?"
            refused_log.warning(handler.__name__, f"{handler.__name__}: refused a request from {peer}: {e}")
            raise

    async def fail(self, context, e: Exception):
        if isinstance(e, errors.HfedError):
            log.debug("%s: %s", handler.__name__, e)
        await abort_with(context, as_hfed_error(e, f"{handler.__name__} ({self.where})"))

    if inspect.isasyncgenfunction(handler):
        @functools.wraps(handler)
        async def stream(self, request, context):
            try:
                screen(self, request, context)
                async with contextlib.aclosing(handler(self, request, context)) as items:
                    async for item in items:
                        yield item
            except grpc.aio.AbortError:
                raise
            except Exception as e:  # noqa: BLE001 - the caller must get a status, not a hang
                await fail(self, context, e)
        return stream

    @functools.wraps(handler)
    async def unary(self, request, context):
        try:
            screen(self, request, context)
            reply = handler(self, request, context)
            return await reply if inspect.isawaitable(reply) else reply
        except grpc.aio.AbortError:
            raise
        except Exception as e:  # noqa: BLE001 - the caller must get a status, not a hang
            await fail(self, context, e)
    return unary


_HANDLER = {(False, False): grpc.unary_unary_rpc_method_handler,
            (False, True): grpc.unary_stream_rpc_method_handler,
            (True, False): grpc.stream_unary_rpc_method_handler,
            (True, True): grpc.stream_stream_rpc_method_handler}


def add_service(server, service_name: str, servicer) -> None:
    """Register ``servicer`` for the hfed.proto service ``service_name``, its requests
    parsed with ``lenient_parser`` (the generated add_*_to_server would fail them
    before the handler runs)."""
    service = pb.DESCRIPTOR.services_by_name[service_name]
    handlers = {}
    for method in service.methods:
        request = message_factory.GetMessageClass(method.input_type)
        reply = message_factory.GetMessageClass(method.output_type)
        handlers[method.name] = _HANDLER[method.client_streaming, method.server_streaming](
            getattr(servicer, method.name), request_deserializer=lenient_parser(request),
            response_serializer=reply.SerializeToString)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service.full_name, handlers),))
    server.add_registered_method_handlers(service.full_name, handlers)


# ------------------------------------------------------------------ client
def from_rpc_error(err: grpc.RpcError, where: str) -> errors.HfedError:
    """The hfed error an RpcError carries. ``where`` names the server (e.g.
    "namespace ns-a at 127.0.0.1:9000") for errors that did not come from it."""
    kind = None
    for key, value in (err.trailing_metadata() or ()):
        if key == ERROR_KEY:
            kind = value
    code = err.code()
    if kind in errors.KINDS:
        return errors.from_kind(kind, err.details())
    if code in (Code.UNAVAILABLE, Code.DEADLINE_EXCEEDED):
        return errors.Unavailable(f"{where} is unavailable: {err.details()}")
    if code == Code.INVALID_ARGUMENT:
        return errors.InvalidArgument(f"{where} rejected the request: {err.details()}")
    return errors.HfedError(f"{where} failed: {code.name} {err.details()}")
