"""WebHDFS on a cluster with tokens (the default security): requests carry delegation=,
the NameNodes check it, and nobody acts as another user through the gateway."""
from __future__ import annotations

import os

import fsspec
import pytest
import requests
from hdfs import HdfsError, TokenClient

from client import credentials
from protos import security
from tests.integration.conftest import start_cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    mc = start_cluster(tmp_path_factory.mktemp("webhdfs-tokens"))
    try:
        yield mc
    finally:
        mc.down()


@pytest.fixture(scope="module")
def url(cluster):
    return f"http://{cluster.webhdfs_address()}"


@pytest.fixture(scope="module")
def owner(cluster):
    """(user, user token) of the cluster's owner (this process can read the cluster secret)."""
    found = credentials.find(cluster.config)
    return found.user, found.tokens["*"]


def user_token(cluster, user: str) -> str:
    return security.user_token(security.read_secret(cluster.config.secret_path()), user, 3600)


def op(url, method, path, op_name, **params):
    return requests.request(method, f"{url}/webhdfs/v1{path}", params={"op": op_name, **params})


def test_user_name_alone_is_refused_with_how_to_get_a_token(url, owner):
    reply = op(url, "GET", "/user", "LISTSTATUS", **{"user.name": owner[0]})
    assert reply.status_code == 401
    error = reply.json()["RemoteException"]
    assert error["exception"] == "SecurityException" and error["javaClassName"] == "java.lang.SecurityException"
    assert "delegation=" in error["message"] and "fetchToken" in error["message"]


def test_tokenclient_with_a_user_token_across_both_namespaces(url, owner, tmp_path):
    client = TokenClient(url, owner[1])
    for top in ("/user/tok", "/data/tok"):
        data = os.urandom(2 * (1 << 20) + 99)
        local = tmp_path / "in.bin"
        local.write_bytes(data)
        client.upload(f"{top}/f.bin", str(local))
        assert client.status(f"{top}/f.bin")["owner"] == owner[0]
        assert client.list(top) == ["f.bin"]
        assert client.content(top)["length"] == len(data)
        client.download(f"{top}/f.bin", str(tmp_path / "out.bin"), overwrite=True)
        assert (tmp_path / "out.bin").read_bytes() == data
        client.set_permission(f"{top}/f.bin", "600")
        client.set_owner(f"{top}/f.bin", group="staff")
        client.set_replication(f"{top}/f.bin", 2)
        status = client.status(f"{top}/f.bin")
        assert (status["permission"], status["group"], status["replication"]) == ("600", "staff", 2)
        client.rename(f"{top}/f.bin", f"{top}/g.bin")
        assert client.delete(f"{top}/g.bin") is True
        client.delete(top, recursive=True)


def test_delegation_tokens_get_renew_cancel(url, owner):
    got = op(url, "GET", "/", "GETDELEGATIONTOKEN", delegation=owner[1], renewer=owner[0])
    assert got.status_code == 200
    token = got.json()["Token"]["urlString"]
    client = TokenClient(url, token)
    client.write("/user/dt.txt", data=b"via a delegation token", overwrite=True)
    client.write("/data/dt.txt", data=b"both namespaces", overwrite=True)
    host, port = url.rsplit("//", 1)[1].split(":")
    fs = fsspec.filesystem("webhdfs", host=host, port=int(port), token=token, skip_instance_cache=True)
    assert fs.cat("/user/dt.txt") == b"via a delegation token" and fs.cat("/data/dt.txt") == b"both namespaces"
    assert fs.info("/data/dt.txt")["owner"] == owner[0]
    # A delegation token does not get more tokens (HDFS: only a real login does).
    refused = op(url, "GET", "/", "GETDELEGATIONTOKEN", delegation=token)
    assert refused.status_code == 403 and refused.json()["RemoteException"]["exception"] == "AccessControlException"
    renewed = op(url, "PUT", "/", "RENEWDELEGATIONTOKEN", delegation=owner[1], token=token)
    assert renewed.status_code == 200 and isinstance(renewed.json()["long"], int)
    assert op(url, "PUT", "/", "CANCELDELEGATIONTOKEN", delegation=owner[1], token=token).status_code == 200
    after = op(url, "GET", "/user/dt.txt", "GETFILESTATUS", delegation=token)
    assert after.status_code == 401 and "cancelled" in after.json()["RemoteException"]["message"]
    with pytest.raises(HdfsError):
        client.status("/data/dt.txt")
    TokenClient(url, owner[1]).delete("/user/dt.txt")
    TokenClient(url, owner[1]).delete("/data/dt.txt")


def test_nobody_acts_as_another_user(cluster, url, owner):
    alice = user_token(cluster, "alice")
    TokenClient(url, owner[1]).makedirs("/user/owned", permission="755")
    # alice's token is alice, whatever user.name says
    claimed = op(url, "PUT", "/user/owned/x", "MKDIRS", delegation=alice, **{"user.name": owner[0]})
    assert claimed.status_code == 401
    as_alice = op(url, "PUT", "/user/owned/x", "MKDIRS", delegation=alice)
    assert as_alice.status_code == 403
    assert as_alice.json()["RemoteException"]["exception"] == "AccessControlException"
    assert "alice" in as_alice.json()["RemoteException"]["message"]
    # nor at a DataNode: alice's CREATE redirect target still acts as alice
    first = op(url, "PUT", "/user/owned/y", "CREATE", delegation=alice, noredirect="true")
    assert first.status_code == 200
    done = requests.put(first.json()["Location"], data=b"x")
    assert done.status_code == 403
    # a token with another user's name but a forged signature gets nowhere
    prefix, payload, mac = alice.split(".")
    forged_payload = security._b64(security._unb64(payload).replace(b'"alice"', f'"{owner[0]}"'.encode()))
    forged = op(url, "PUT", "/user/owned/z", "MKDIRS", delegation=f"{prefix}.{forged_payload}.{mac}")
    assert forged.status_code == 401 and "signature" in forged.json()["RemoteException"]["message"]
    garbage = op(url, "GET", "/user", "LISTSTATUS", delegation="not-a-token")
    assert garbage.status_code == 401
    assert op(url, "GET", "/user/owned/z", "GETFILESTATUS", delegation=owner[1]).status_code == 404
    TokenClient(url, owner[1]).delete("/user/owned", recursive=True)
