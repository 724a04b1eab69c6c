"""WebHDFS under bad input and faults: every refusal is a RemoteException with HDFS's status
code, nothing half-written stays visible, and the gateway keeps serving; a DataNode that
dies between the redirect and the follow-up, or a namespace that is down, fails only what
it must. Also the exact JSON shapes (keys and types) clients parse."""
from __future__ import annotations

import getpass
import http.client
import socket
import time

import pytest
import requests
from hdfs import InsecureClient

from client.fs import HfedFileSystem
from protos import config
from tests.integration.conftest import start_cluster

ME = getpass.getuser()
SIMPLE = {"security": config.SecurityConfig(auth="simple", tls=False)}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    mc = start_cluster(tmp_path_factory.mktemp("webhdfs-faults"), settings=SIMPLE)
    try:
        yield mc
    finally:
        mc.down()


@pytest.fixture(scope="module")
def url(cluster):
    return f"http://{cluster.webhdfs_address()}"


def call(url, method, path, op=None, **params):
    query = {"user.name": ME, **params}
    if op:
        query["op"] = op
    return requests.request(method, f"{url}/webhdfs/v1{path}", params=query, allow_redirects=False)


def raw_request(address: str, method: str, target: str, body: bytes = b"", headers: dict | None = None):
    """A request sent as written (no client normalising '..' or re-encoding the path)."""
    host, port = address.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    connection.putrequest(method, target, skip_accept_encoding=True)
    for key, value in (headers or {}).items():
        connection.putheader(key, value)
    connection.endheaders(body or None)
    reply = connection.getresponse()
    return reply.status, reply.read()


def remote_exception(reply) -> tuple[int, str]:
    body = reply.json()["RemoteException"]
    assert set(body) == {"exception", "javaClassName", "message"}
    assert body["javaClassName"].endswith("." + body["exception"]) and body["message"]
    return reply.status_code, body["exception"]


def still_serving(url) -> None:
    assert call(url, "GET", "/user", "GETFILESTATUS").status_code == 200


@pytest.mark.parametrize("method, path, op, params, expected", [
    ("GET", "/user", "NOSUCHOP", {}, (400, "IllegalArgumentException")),
    ("GET", "/user", None, {}, (400, "IllegalArgumentException")),
    ("PUT", "/user", "OPEN", {}, (400, "IllegalArgumentException")),
    ("GET", "/user", "MKDIRS", {}, (400, "IllegalArgumentException")),
    ("PUT", "/user", "SETACL", {}, (400, "UnsupportedOperationException")),
    ("POST", "/user", "CONCAT", {}, (400, "UnsupportedOperationException")),
    ("GET", "/user/x", "OPEN", {"offset": "abc"}, (400, "IllegalArgumentException")),
    ("GET", "/user/x", "OPEN", {"length": "-5"}, (400, "IllegalArgumentException")),
    ("PUT", "/user/x", "MKDIRS", {"permission": "999"}, (400, "IllegalArgumentException")),
    ("PUT", "/user/x", "CREATE", {"overwrite": "maybe"}, (400, "IllegalArgumentException")),
    ("PUT", "/user/x", "CREATE", {"replication": "0"}, (400, "IllegalArgumentException")),
    ("PUT", "/user/x", "SETREPLICATION", {}, (400, "IllegalArgumentException")),
    ("PUT", "/user", "RENAME", {}, (400, "IllegalArgumentException")),
    ("PUT", "/user", "RENAME", {"destination": "relative/path"}, (400, "InvalidPathException")),
    ("PUT", "/user", "SETOWNER", {}, (400, "IllegalArgumentException")),
    ("DELETE", "/user", "DELETE", {"recursive": "yes"}, (400, "IllegalArgumentException")),
    ("GET", "/user", "LISTSTATUS", {"user.name": "not a user"}, (400, "IllegalArgumentException")),
    ("GET", "/user", "LISTSTATUS", {"doas": "someone-else"}, (403, "AuthorizationException")),
    ("GET", "/user", "LISTSTATUS", {"delegation": "x"}, (401, "SecurityException")),
    ("GET", "/user/no/such", "GETFILESTATUS", {}, (404, "FileNotFoundException")),
    ("GET", "/nomount/x", "LISTSTATUS", {}, (404, "FileNotFoundException")),
    ("DELETE", "/user", "DELETE", {"recursive": "true"}, (403, "AccessControlException")),   # a mount point
    ("PUT", "/user", "CREATE", {}, (403, "FileAlreadyExistsException")),
])
def test_bad_requests_get_a_remote_exception(url, method, path, op, params, expected):
    assert remote_exception(call(url, method, path, op, **params)) == expected
    still_serving(url)


@pytest.mark.parametrize("target, exception", [
    ("/webhdfs/v1/user/../data?op=LISTSTATUS", "InvalidPathException"),
    ("/webhdfs/v1/user/%2e%2e/data?op=LISTSTATUS", "InvalidPathException"),
    ("/webhdfs/v1/user/./x?op=GETFILESTATUS", "InvalidPathException"),
    ("/webhdfs/v1/user//x?op=GETFILESTATUS", "InvalidPathException"),
    ("/webhdfs/v1/user/%ff%fe?op=GETFILESTATUS", "InvalidPathException"),
    ("/webhdfs/v1/user/%zz?op=GETFILESTATUS", "InvalidPathException"),
    ("/webhdfs/v1/user/a%00b?op=GETFILESTATUS", "InvalidPathException"),
])
def test_bad_paths_are_refused_at_the_edge(cluster, url, target, exception):
    status, body = raw_request(cluster.webhdfs_address(), "GET", f"{target}&user.name={ME}")
    assert status == 400 and f'"exception": "{exception}"' in body.decode()
    still_serving(url)


def test_open_past_the_end_is_refused(url):
    client = InsecureClient(url, user=ME)
    client.write("/user/short.txt", data=b"12345", overwrite=True)
    past = call(url, "GET", "/user/short.txt", "OPEN", offset=6)
    assert remote_exception(past) == (400, "IllegalArgumentException")
    assert "/user/short.txt" in past.json()["RemoteException"]["message"]
    assert remote_exception(call(url, "GET", "/user", "OPEN")) == (404, "FileNotFoundException")   # a directory
    still_serving(url)


def datanode_create_url(url, path) -> str:
    first = call(url, "PUT", path, "CREATE", overwrite="true", noredirect="true")
    assert first.status_code == 200
    return first.json()["Location"]


def test_huge_content_length_is_refused_before_anything_is_written(cluster, url):
    target = datanode_create_url(url, "/user/huge.bin").split("//", 1)[1]
    address, rest = target.split("/", 1)
    status, body = raw_request(address, "PUT", "/" + rest, headers={"Content-Length": str(1 << 60)})
    assert status == 403 and b"bytes free" in body
    assert call(url, "GET", "/user/huge.bin", "GETFILESTATUS").status_code == 404
    still_serving(url)


def test_a_client_that_disconnects_mid_upload_leaves_no_file(cluster, url):
    target = datanode_create_url(url, "/data/broken.bin").split("//", 1)[1]
    address, rest = target.split("/", 1)
    host, port = address.split(":")
    deadline = time.monotonic() + 30
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(f"PUT /{rest} HTTP/1.1\r\nHost: {address}\r\nContent-Length: {8 << 20}\r\n\r\n".encode())
        sock.sendall(b"x" * (3 << 20))           # three blocks' worth of the promised eight, then gone
        while call(url, "GET", "/data/broken.bin", "GETFILESTATUS").status_code != 200:
            assert time.monotonic() < deadline, "the upload never started"
            time.sleep(0.05)
    while call(url, "GET", "/data/broken.bin", "GETFILESTATUS").status_code != 404:
        assert time.monotonic() < deadline, "the partial upload is still there"
        time.sleep(0.2)
    still_serving(url)
    # the same DataNode takes the next upload
    done = requests.put(f"http://{target}", data=b"y" * 1000)
    assert done.status_code == 201, done.text
    assert call(url, "GET", "/data/broken.bin", "GETFILESTATUS").json()["FileStatus"]["length"] == 1000


def test_a_broken_append_keeps_what_was_there(cluster, url):
    original = b"o" * 5000
    InsecureClient(url, user=ME).write("/user/appended.bin", data=original, overwrite=True)
    first = call(url, "POST", "/user/appended.bin", "APPEND", noredirect="true")
    address, rest = first.json()["Location"].split("//", 1)[1].split("/", 1)
    host, port = address.split(":")
    deadline = time.monotonic() + 30
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(f"POST /{rest} HTTP/1.1\r\nHost: {address}\r\nContent-Length: {8 << 20}\r\n\r\n".encode())
        sock.sendall(b"n" * (3 << 20))
        fs = HfedFileSystem(conf=str(cluster.config_path), user=ME, skip_instance_cache=True)
        try:
            while not fs.info("/user/appended.bin")["under_construction"]:     # the append is under way
                assert time.monotonic() < deadline, "the append never started"
                time.sleep(0.05)
        finally:
            fs.close()
    while True:      # closed with a prefix of the new bytes: the file takes appends again
        again = call(url, "POST", "/user/appended.bin", "APPEND", noredirect="true")
        if again.status_code == 200 and requests.post(again.json()["Location"], data=b"!").status_code == 200:
            break
        assert time.monotonic() < deadline, again.text
        time.sleep(0.2)
    with InsecureClient(url, user=ME).read("/user/appended.bin") as reader:
        content = reader.read()
    assert content.startswith(original) and content.endswith(b"!")
    assert set(content[len(original):-1]) <= {ord("n")}
    still_serving(url)


def test_streaming_holds_no_file_in_memory(cluster, url):
    """A 256 MiB upload and download through one DataNode grow its memory by far less than the file."""
    import psutil
    size, piece = 256 << 20, b"z" * (1 << 20)
    target = datanode_create_url(url, "/data/stream.bin") + "&replication=1"
    address = target.split("//", 1)[1].split("/", 1)[0]
    label = next(d.id.host_label for d in cluster.stats("ns-b").datanodes if d.id.http_address == address)
    process = psutil.Process(cluster.datanode_pid(label))
    before = process.memory_info().rss
    done = requests.put(target, data=(piece for _ in range(size // len(piece))))
    assert done.status_code == 201
    after_upload = process.memory_info().rss
    got = 0
    with requests.get(f"http://{address}/webhdfs/v1/data/stream.bin", params={"op": "OPEN", "user.name": ME},
                      stream=True) as reply:
        for chunk in reply.iter_content(1 << 20):
            got += len(chunk)
    assert got == size
    after_download = process.memory_info().rss
    assert after_upload - before < size // 4 and after_download - before < size // 4
    call(url, "DELETE", "/data/stream.bin", "DELETE")


def test_json_shapes(url):
    client = InsecureClient(url, user=ME)
    client.write("/data/shapes/f.txt", data=b"abc", overwrite=True)
    client.makedirs("/data/shapes/d")
    status = call(url, "GET", "/data/shapes/f.txt", "GETFILESTATUS").json()
    assert list(status) == ["FileStatus"]
    fields = {"accessTime": int, "blockSize": int, "childrenNum": int, "fileId": int, "group": str, "length": int,
              "modificationTime": int, "owner": str, "pathSuffix": str, "permission": str, "replication": int,
              "storagePolicy": int, "type": str}
    assert {k: type(v) for k, v in status["FileStatus"].items()} == fields
    assert status["FileStatus"]["type"] == "FILE" and status["FileStatus"]["pathSuffix"] == ""
    listing = call(url, "GET", "/data/shapes", "LISTSTATUS").json()
    entries = listing["FileStatuses"]["FileStatus"]
    assert [(e["pathSuffix"], e["type"]) for e in entries] == [("d", "DIRECTORY"), ("f.txt", "FILE")]
    assert all({k: type(v) for k, v in e.items()} == fields for e in entries)
    batch = call(url, "GET", "/data/shapes", "LISTSTATUS_BATCH", startAfter="d").json()
    assert batch == {"DirectoryListing": {"partialListing": {"FileStatuses": {"FileStatus": entries[1:]}},
                                          "remainingEntries": 0}}
    summary = call(url, "GET", "/data/shapes", "GETCONTENTSUMMARY").json()["ContentSummary"]
    assert {k: type(v) for k, v in summary.items()} == {
        "directoryCount": int, "fileCount": int, "length": int, "quota": int, "spaceConsumed": int,
        "spaceQuota": int, "typeQuota": dict}
    assert (summary["fileCount"], summary["length"], summary["spaceQuota"]) == (1, 3, -1)
    assert call(url, "PUT", "/data/shapes/e", "MKDIRS").json() == {"boolean": True}
    assert call(url, "GET", "/", "GETHOMEDIRECTORY").json() == {"Path": f"/user/{ME}"}
    assert call(url, "GET", "/", "GETTRASHROOT").json() == {"Path": f"/user/{ME}/.Trash"}
    assert call(url, "GET", "/", "GETDELEGATIONTOKEN").json() == {"Token": None}     # security is off
    checksum = requests.get(f"{url}/webhdfs/v1/data/shapes/f.txt",
                            params={"op": "GETFILECHECKSUM", "user.name": ME}).json()
    assert checksum == {"FileChecksum": {"algorithm": "COMPOSITE-CRC32C", "bytes": "364b3fb7", "length": 4}}
    assert call(url, "PUT", "/data/shapes/f.txt", "SETPERMISSION", permission="600").content == b""
    assert call(url, "DELETE", "/data/shapes", "DELETE", recursive="true").json() == {"boolean": True}


def test_a_datanode_dying_between_redirect_and_read(fresh_cluster):
    cluster = fresh_cluster(settings=SIMPLE)
    url = f"http://{cluster.webhdfs_address()}"
    data = bytes(range(256)) * 4096
    InsecureClient(url, user=ME).write("/data/r3.bin", data=data, replication=3)
    location = call(url, "GET", "/data/r3.bin", "OPEN", noredirect="true").json()["Location"]
    victim = location.split("//", 1)[1].split("/", 1)[0]
    label = next(row["name"] for row in cluster.status()
                 if row["role"] == "datanode" and row["pid"] and victim in http_addresses(cluster, row["name"]))
    cluster.kill_datanode(label)
    with pytest.raises(requests.ConnectionError):
        requests.get(location)                       # the failing one fails cleanly, at the client
    again = call(url, "GET", "/data/r3.bin", "OPEN", noredirect="true").json()["Location"]
    assert victim not in again                        # the next request goes elsewhere
    assert requests.get(again).content == data
    assert InsecureClient(url, user=ME).status("/data/r3.bin")["length"] == len(data)


def http_addresses(cluster, label: str) -> set[str]:
    return {d.id.http_address for d in cluster.stats("ns-b").datanodes if d.id.host_label == label}


def test_a_namespace_down_fails_only_its_paths(fresh_cluster):
    cluster = fresh_cluster(settings=SIMPLE)
    url = f"http://{cluster.webhdfs_address()}"
    client = InsecureClient(url, user=ME)
    client.write("/user/up.txt", data=b"ns-a is up")
    client.write("/data/down.txt", data=b"ns-b goes down")
    cluster.kill_namenode("ns-b")
    for method, op in (("GET", "GETFILESTATUS"), ("GET", "OPEN"), ("PUT", "CREATE"), ("GET", "LISTSTATUS")):
        reply = call(url, method, "/data/down.txt", op)
        assert remote_exception(reply) == (403, "NoNamenodesAvailableException")
        assert "ns-b" in reply.json()["RemoteException"]["message"]
    with client.read("/user/up.txt") as reader:
        assert reader.read() == b"ns-a is up"
    client.write("/user/more.txt", data=b"still writable")
    assert {"user", "data", "tmp"} <= set(client.list("/"))      # the root still lists every mount point
    cluster.start_namenode("ns-b")
    deadline = time.monotonic() + 30
    while call(url, "GET", "/data/down.txt", "GETFILESTATUS").status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.2)
