"""NamenodeClient against a namespace that is down: fails fast, names the namespace."""
import socket
import time

import pytest

from client.namenode_client import NamenodeClient
from protos import errors


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(20)
def test_dead_namenode_fails_fast_naming_the_namespace():
    address = f"127.0.0.1:{closed_port()}"
    client = NamenodeClient("ns-down", address)
    try:
        for call in (lambda: client.get_file_info("/user/x"), lambda: client.mkdirs("/user/y")):
            started = time.monotonic()
            with pytest.raises(ConnectionError) as info:
                call()
            assert time.monotonic() - started < 4.0
            assert isinstance(info.value, errors.Unavailable)
            assert "ns-down" in str(info.value) and address in str(info.value)
        with pytest.raises(ConnectionError, match="/user/x"):
            client.get_file_info("/user/x")
    finally:
        client.close()
