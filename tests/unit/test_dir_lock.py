"""protos/dir_lock.py: one daemon per directory, the holder named, a dead holder's lock taken over."""
from __future__ import annotations

import os
import socket

import pytest

from protos.dir_lock import LOCK, DirLock
from protos.errors import HfedError


def test_a_second_holder_is_refused_naming_the_directory_and_the_holder(tmp_path):
    first = DirLock(tmp_path / "data", "DataNode host-1").acquire()
    assert (tmp_path / "data" / LOCK).read_text() == f"{os.getpid()}@{socket.gethostname()}\n"
    with pytest.raises(HfedError) as refused:
        DirLock(tmp_path / "data", "DataNode host-2").acquire()
    assert str(refused.value.args[1]).startswith(
        f"{tmp_path / 'data'} is in use by another DataNode (pid {os.getpid()} on host {socket.gethostname()}, "
        f"lock {tmp_path / 'data' / LOCK}); refusing to start DataNode host-2")
    first.release()
    assert (tmp_path / "data" / LOCK).read_text() == ""        # a clean stop leaves no name behind
    DirLock(tmp_path / "data", "DataNode host-2").acquire().release()


def test_a_lock_file_whose_holder_is_gone_is_taken_over(tmp_path, caplog):
    (tmp_path / LOCK).write_text("4242@crashed-host\n")        # as a kill -9 leaves it: no flock held
    with caplog.at_level("INFO"):
        lock = DirLock(tmp_path, "NameNode").acquire()
    assert lock.held
    assert f"taking over the lock {tmp_path / LOCK} left by pid 4242 on host crashed-host" in caplog.text
    assert (tmp_path / LOCK).read_text() == f"{os.getpid()}@{socket.gethostname()}\n"
    lock.release()

