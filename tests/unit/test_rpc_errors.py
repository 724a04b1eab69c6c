"""Errors carry kinds and errnos; the RPC layer alone turns them into gRPC statuses and back."""
import asyncio
import errno
import subprocess
import sys

import grpc
import pytest

from protos import errors, hfed_pb2 as pb, rpc_errors


class FakeRpcError(grpc.RpcError):
    def __init__(self, code, details, kind=None):
        self._code, self._details, self._kind = code, details, kind

    def code(self):
        return self._code

    def details(self):
        return self._details

    def trailing_metadata(self):
        return ((rpc_errors.ERROR_KEY, self._kind),) if self._kind else ()


class FakeContext:
    def __init__(self):
        self.metadata, self.aborted = (), None

    def set_trailing_metadata(self, metadata):
        self.metadata = metadata

    async def abort(self, code, details):
        self.aborted = (code, details)
        raise grpc.aio.AbortError()


def sent(context) -> errors.HfedError:
    """What a client makes of the status a handler sent."""
    code, details = context.aborted
    return rpc_errors.from_rpc_error(FakeRpcError(code, details, dict(context.metadata)[rpc_errors.ERROR_KEY]),
                                     "the server")


def test_errors_module_imports_no_grpc():
    subprocess.run([sys.executable, "-c", "import sys, protos.errors; assert 'grpc' not in sys.modules"],
                   check=True)


def test_every_kind_has_a_status_and_comes_back_as_its_own_class():
    assert set(rpc_errors.STATUS) == set(errors.KINDS) | {errors.HfedError.kind}
    for kind, cls in errors.KINDS.items():
        status = rpc_errors.STATUS[kind]
        assert status not in (grpc.StatusCode.OK, grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL), kind
        back = rpc_errors.from_rpc_error(FakeRpcError(status, "/a/b: it happened", kind), "the server")
        assert type(back) is cls and back.message == "/a/b: it happened" and back.errno == cls.errno_value


def test_from_kind_rebuilds_the_python_exception_and_tolerates_new_kinds():
    err = errors.from_kind("not-found", "/user/x: no such file", "/user/x")
    assert isinstance(err, FileNotFoundError) and err.errno == errno.ENOENT and err.path == "/user/x"
    assert isinstance(errors.from_kind("cross-namespace", "m"), errors.CrossNamespace)
    assert type(errors.from_kind("a-kind-from-a-newer-hfed", "m")) is errors.HfedError


def test_statuses_without_a_kind_name_the_server():
    down = rpc_errors.from_rpc_error(FakeRpcError(grpc.StatusCode.UNAVAILABLE, "connect failed"), "ns-a at :1")
    assert isinstance(down, errors.Unavailable) and "ns-a at :1 is unavailable" in down.message
    odd = rpc_errors.from_rpc_error(FakeRpcError(grpc.StatusCode.UNIMPLEMENTED, "no such method"), "ns-a at :1")
    assert type(odd) is errors.HfedError and "ns-a at :1 failed: UNIMPLEMENTED" in odd.message


class Servicer:
    where = "namespace ns-t"

    @rpc_errors.serves
    def Unary(self, request, context):
        raise errors.NotEmpty(f"{request.path}: directory is not empty", request.path)

    @rpc_errors.serves
    async def Broken(self, request, context):
        return {}["missing"]

    @rpc_errors.serves
    async def Stream(self, request, context):
        yield 1
        raise errors.ChecksumError(f"{request.path}: checksum mismatch")


def test_one_decorator_serves_unary_and_streaming_handlers():
    async def run():
        servicer, request = Servicer(), pb.GetFileInfoRequest(path="/d")
        context = FakeContext()
        with pytest.raises(grpc.aio.AbortError):
            await servicer.Unary(request, context)
        assert context.aborted[0] == grpc.StatusCode.FAILED_PRECONDITION and isinstance(sent(context), errors.NotEmpty)

        context, items = FakeContext(), []
        with pytest.raises(grpc.aio.AbortError):
            async for item in servicer.Stream(request, context):
                items.append(item)
        assert items == [1] and isinstance(sent(context), errors.ChecksumError)

        context = FakeContext()
        with pytest.raises(grpc.aio.AbortError):
            await servicer.Broken(request, context)
        assert context.aborted[0] == grpc.StatusCode.INTERNAL
        assert "internal error in Broken (namespace ns-t): KeyError" in context.aborted[1]

        context = FakeContext()
        garbled = rpc_errors.lenient_parser(pb.GetFileInfoRequest)(b"\x0a\x7fshort")
        with pytest.raises(grpc.aio.AbortError):
            await servicer.Unary(garbled, context)
        assert context.aborted[0] == grpc.StatusCode.INVALID_ARGUMENT
        assert "namespace ns-t received a malformed hfed.GetFileInfoRequest" in context.aborted[1]
    asyncio.run(run())
