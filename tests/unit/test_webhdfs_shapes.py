"""WebHDFS shapes and parameters without a cluster: every hfed error kind has its Java
exception and status; parameters are checked as HDFS checks them; delegation strings."""
from __future__ import annotations

import pytest
from multidict import MultiDict, MultiDictProxy

from client.webhdfs import auth, shapes
from client.webhdfs.params import Params, request_path
from client.webhdfs.shapes import WebHdfsError
from protos import errors, security


@pytest.mark.parametrize("kind", sorted(errors.KINDS))
def test_every_error_kind_maps_to_a_java_exception(kind):
    status, body = shapes.remote_exception(errors.from_kind(kind, f"something about /x ({kind})"))
    exception = body["RemoteException"]
    assert exception["exception"] == shapes._JAVA[kind][0]
    assert exception["javaClassName"].endswith("." + exception["exception"])
    assert status in (400, 401, 403, 404)


@pytest.mark.parametrize("error, expected", [
    (errors.NotFound("/a: no such file"), (404, "FileNotFoundException")),
    (errors.AccessDenied("/a: permission denied"), (403, "AccessControlException")),
    (errors.Unauthenticated("no token"), (401, "SecurityException")),
    (errors.InvalidPath("bad"), (400, "InvalidPathException")),
    (errors.InvalidArgument("bad"), (400, "IllegalArgumentException")),
    (errors.AlreadyExists("/a exists"), (403, "FileAlreadyExistsException")),
    (errors.HfedError("odd"), (403, "IOException")),
    (RuntimeError("bug"), (500, "RuntimeException")),
    (FileNotFoundError(2, "plain"), (404, "FileNotFoundException")),
])
def test_status_codes_follow_hdfs(error, expected):
    status, body = shapes.remote_exception(error)
    assert (status, body["RemoteException"]["exception"]) == expected


def test_a_directory_where_a_file_is_created_is_a_file_that_exists():
    _, body = shapes.remote_exception(errors.IsADirectory("/d is a directory"), "CREATE")
    assert body["RemoteException"]["exception"] == "FileAlreadyExistsException"
    _, body = shapes.remote_exception(errors.IsADirectory("/d is a directory"), "OPEN")
    assert body["RemoteException"]["exception"] == "FileNotFoundException"


def test_not_found_messages_say_does_not_exist():
    _, body = shapes.remote_exception(errors.NotFound("/a (namespace ns-a): no such file or directory"))
    assert "does not exist" in body["RemoteException"]["message"] and "ns-a" in body["RemoteException"]["message"]


def params(**query) -> Params:
    return Params(MultiDictProxy(MultiDict(query)))


def test_parameters():
    p = params(offset="10", overwrite="TRUE", permission="1777", recursive="false")
    assert p.integer("offset", 0) == 10 and p.boolean("overwrite", False) is True
    assert p.permission(0o644) == 0o1777 and p.boolean("recursive", True) is False
    assert params().permission(0o644) == 0o644 and params().integer("length", None) is None
    for bad in (dict(offset="1e3"), dict(offset="-1"), dict(offset=str(1 << 63))):
        with pytest.raises(WebHdfsError) as refused:
            params(**bad).integer("offset", 0)
        assert refused.value.status == 400 and "offset" in refused.value.message
    for bad in ("8", "0o755", "12345", "rwx"):
        with pytest.raises(WebHdfsError):
            params(permission=bad).permission(0o644)
    with pytest.raises(WebHdfsError):
        params(**{"user.name": "a/b"}).user_name("user.name")


def test_a_repeated_parameter_must_agree_with_itself():
    repeated = Params(MultiDictProxy(MultiDict([("user.name", "bob"), ("user.name", "bob")])))
    assert repeated.user_name("user.name") == "bob"
    conflicting = Params(MultiDictProxy(MultiDict([("delegation", "a"), ("delegation", "b")])))
    with pytest.raises(WebHdfsError):
        conflicting.raw("delegation")


@pytest.mark.parametrize("raw, path", [
    ("/webhdfs/v1?op=X", "/"), ("/webhdfs/v1/?op=X", "/"), ("/webhdfs/v1/a%20b/c?op=X", "/a b/c"),
    ("/webhdfs/v1/%E2%82%AC", "/\u20ac"),
])
def test_request_paths(raw, path):
    assert request_path(raw) == path


@pytest.mark.parametrize("raw", ["/webhdfs/v1/a/../b", "/webhdfs/v1/a/%2E%2E/b", "/webhdfs/v1/%ff",
                                 "/webhdfs/v1/a//b", "/webhdfs/v1/a/%zz", "/webhdfs/v1/a%00"])
def test_bad_request_paths(raw):
    with pytest.raises(errors.InvalidPath):
        request_path(raw)


def test_delegation_strings_join_one_token_per_namespace():
    key = security.derive(b"s" * 32, "delegation:ns-a")
    a = security.sign(key, {"k": "dt", "o": "alice", "ns": "ns-a", "n": 1})
    b = security.sign(key, {"k": "dt", "o": "alice", "ns": "ns-b", "n": 1})
    joined = auth.encode_delegation({"ns-b": b, "ns-a": a})
    assert auth.decode_delegation(joined) == ("alice", {"ns-a": a, "ns-b": b})
    user = security.user_token(b"s" * 32, "alice", 60)
    assert auth.decode_delegation(user) == ("alice", {"*": user})
    other = security.sign(key, {"k": "dt", "o": "mallory", "ns": "ns-b", "n": 2})
    for bad in (f"{a}~{other}", "garbage", security.datanode_token(b"s" * 32, "uuid")):
        with pytest.raises(WebHdfsError) as refused:
            auth.decode_delegation(bad)
        assert refused.value.status == 401
