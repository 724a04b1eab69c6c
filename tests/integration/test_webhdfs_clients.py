"""WebHDFS through the gateway with the real clients: HdfsCLI (the `hdfs` package) and
fsspec's "webhdfs" filesystem, against a simple-auth cluster with two namespaces
(/user on ns-a, /data on ns-b) and 1 MiB blocks; bytes compared both ways."""
from __future__ import annotations

import getpass
import os

import fsspec
import pytest
import requests
from hdfs import HdfsError, InsecureClient

from protos import config
from tests.integration.conftest import start_cluster

ME = getpass.getuser()     # the process user: the NameNodes' superuser
BOTH = ["/user/webhdfs", "/data/webhdfs"]     # one directory in each namespace


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    mc = start_cluster(tmp_path_factory.mktemp("webhdfs-simple"),
                       settings={"security": config.SecurityConfig(auth="simple", tls=False)})
    try:
        yield mc
    finally:
        mc.down()


@pytest.fixture(scope="module")
def url(cluster):
    return f"http://{cluster.webhdfs_address()}"


@pytest.fixture
def client(url):
    return InsecureClient(url, user=ME)


@pytest.fixture(params=BOTH)
def top(request, client):
    client.makedirs(request.param)
    yield request.param
    client.delete(request.param, recursive=True)


def test_hdfscli_upload_download_status_list(client, top, tmp_path):
    data = os.urandom(3 * (1 << 20) + 12345)           # four blocks
    local = tmp_path / "in.bin"
    local.write_bytes(data)
    assert client.upload(f"{top}/big.bin", str(local)) == f"{top}/big.bin"
    status = client.status(f"{top}/big.bin")
    assert status["type"] == "FILE" and status["length"] == len(data) and status["owner"] == ME
    assert status["permission"] == "644" and status["pathSuffix"] == ""
    assert client.list(top) == ["big.bin"]
    out = tmp_path / "out.bin"
    client.download(f"{top}/big.bin", str(out))
    assert out.read_bytes() == data
    with client.read(f"{top}/big.bin", offset=(1 << 20) - 10, length=100) as reader:   # across a block boundary
        assert reader.read() == data[(1 << 20) - 10:(1 << 20) + 90]


def test_hdfscli_write_options_and_metadata_ops(client, top):
    client.write(f"{top}/a.txt", data=b"hello", permission="600", replication=2)
    status = client.status(f"{top}/a.txt")
    assert (status["permission"], status["replication"]) == ("600", 2)
    with pytest.raises(HdfsError) as refused:
        client.write(f"{top}/a.txt", data=b"again")                     # overwrite defaults to false
    assert refused.value.exception == "FileAlreadyExistsException"
    client.write(f"{top}/a.txt", data=b"replaced", overwrite=True)
    with client.read(f"{top}/a.txt") as reader:
        assert reader.read() == b"replaced"
    client.set_permission(f"{top}/a.txt", "640")
    client.set_owner(f"{top}/a.txt", owner="alice", group="staff")
    client.set_replication(f"{top}/a.txt", 1)
    client.set_times(f"{top}/a.txt", access_time=1_600_000_000_000, modification_time=1_600_000_001_000)
    status = client.status(f"{top}/a.txt")
    assert (status["permission"], status["owner"], status["group"], status["replication"]) == \
        ("640", "alice", "staff", 1)
    assert status["modificationTime"] == 1_600_000_001_000
    client.makedirs(f"{top}/sub/deeper", permission="700")
    assert client.status(f"{top}/sub/deeper")["permission"] == "700"
    client.rename(f"{top}/a.txt", f"{top}/sub/b.txt")
    assert client.list(f"{top}/sub") == ["b.txt", "deeper"]
    summary = client.content(top)
    assert (summary["fileCount"], summary["length"], summary["quota"]) == (1, len(b"replaced"), -1)
    assert summary["directoryCount"] >= 3
    assert client.delete(f"{top}/sub/b.txt") is True
    assert client.delete(f"{top}/sub/b.txt") is False
    with pytest.raises(HdfsError) as not_empty:
        client.delete(f"{top}/sub")
    assert not_empty.value.exception == "PathIsNotEmptyDirectoryException"
    assert client.delete(f"{top}/sub", recursive=True) is True


def test_hdfscli_relative_paths_use_the_home_directory(url):
    alice = InsecureClient(url, user="alice")
    assert alice.resolve("x") == "/user/alice/x"


def test_rename_across_namespaces_is_refused(client):
    client.write("/user/webhdfs-x.txt", data=b"x", overwrite=True)
    try:
        with pytest.raises(HdfsError) as refused:
            client.rename("/user/webhdfs-x.txt", "/data/webhdfs-x.txt")
        assert "cross-namespace" in str(refused.value)
    finally:
        client.delete("/user/webhdfs-x.txt")


def test_fsspec_reads_and_lists_both_namespaces(client, url, top):
    data = os.urandom((1 << 20) * 2 + 777)
    client.write(f"{top}/f.bin", data=data)
    host, port = url.rsplit("//", 1)[1].split(":")
    fs = fsspec.filesystem("webhdfs", host=host, port=int(port), user=ME, skip_instance_cache=True)
    assert fs.cat(f"{top}/f.bin") == data
    with fs.open(f"{top}/f.bin", "rb") as f:
        f.seek(1 << 20)
        assert f.read(1000) == data[1 << 20:(1 << 20) + 1000]
    listing = fs.ls(top, detail=True)
    assert [(e["name"], e["type"], e["size"]) for e in listing] == [(f"{top}/f.bin", "file", len(data))]
    assert fs.info(top)["type"] == "directory"
    assert fs.ukey(f"{top}/f.bin")["algorithm"] == "COMPOSITE-CRC32C"
    fs.mkdir(f"{top}/made")
    fs.mv(f"{top}/f.bin", f"{top}/made/g.bin")
    assert fs.cat(f"{top}/made/g.bin") == data
    fs.rm(f"{top}/made", recursive=True)
    assert not fs.exists(f"{top}/made")
    with pytest.raises(FileNotFoundError):
        fs.info(f"{top}/made")


def test_root_lists_the_mount_points(client):
    assert {"user", "data", "tmp"} <= set(client.list("/"))


def test_open_with_offset_length_and_noredirect(client, url, top):
    data = bytes(range(256)) * 20
    client.write(f"{top}/r.bin", data=data)
    base = f"{url}/webhdfs/v1{top}/r.bin"
    reply = requests.get(base, params={"op": "OPEN", "user.name": ME, "offset": 100, "length": 50})
    assert reply.status_code == 200 and reply.content == data[100:150]
    first = requests.get(base, params={"op": "OPEN", "user.name": ME, "offset": 5000}, allow_redirects=False)
    assert first.status_code == 307
    assert requests.get(first.headers["Location"]).content == data[5000:]
    located = requests.get(base, params={"op": "OPEN", "user.name": ME, "noredirect": "true"})
    assert located.status_code == 200 and set(located.json()) == {"Location"}
    assert requests.get(located.json()["Location"]).content == data
    at_end = requests.get(base, params={"op": "OPEN", "user.name": ME, "offset": len(data)})
    assert at_end.status_code == 200 and at_end.content == b""


def test_create_redirects_with_its_parameters_and_answers_201(url, client, top):
    base = f"{url}/webhdfs/v1{top}/c.bin"
    first = requests.put(base, params={"op": "CREATE", "user.name": ME, "replication": 2, "blocksize": 1 << 20,
                                       "permission": "640", "noredirect": "true"})
    target = first.json()["Location"]
    assert "namenoderpcaddress=ns-" in target and "replication=2" in target and f"user.name={ME}" in target
    done = requests.put(target, data=b"x" * 3000)
    assert done.status_code == 201
    status = client.status(f"{top}/c.bin")
    assert (status["length"], status["replication"], status["permission"]) == (3000, 2, "640")


def test_gateway_index_links_each_namenode(url):
    page = requests.get(url + "/")
    assert page.status_code == 200 and "ns-a" in page.text and "ns-b" in page.text and "http://" in page.text


def test_fsspec_put_get_pipe_across_namespaces(url, top, tmp_path):
    """fsspec writes by CREATE of an empty file, then one APPEND per 5 MiB chunk."""
    host, port = url.rsplit("//", 1)[1].split(":")
    fs = fsspec.filesystem("webhdfs", host=host, port=int(port), user=ME, skip_instance_cache=True)
    data = os.urandom(7 * (1 << 20) + 3)
    local = tmp_path / "put.bin"
    local.write_bytes(data)
    fs.put(str(local), f"{top}/put.bin")
    assert fs.info(f"{top}/put.bin")["size"] == len(data)
    fs.get(f"{top}/put.bin", str(tmp_path / "got.bin"))
    assert (tmp_path / "got.bin").read_bytes() == data
    fs.pipe(f"{top}/small.txt", b"piped")
    assert fs.cat(f"{top}/small.txt") == b"piped"
    fs.rm(f"{top}/put.bin")
    assert sorted(fs.ls(top)) == [f"{top}/small.txt"]


def test_hdfscli_append(client, top):
    client.write(f"{top}/log.txt", data=b"first\n")
    client.write(f"{top}/log.txt", data=b"second\n", append=True)
    with client.read(f"{top}/log.txt") as reader:
        assert reader.read() == b"first\nsecond\n"
    with pytest.raises(HdfsError) as missing:
        client.write(f"{top}/nope.txt", data=b"x", append=True)
    assert missing.value.exception == "FileNotFoundException"
