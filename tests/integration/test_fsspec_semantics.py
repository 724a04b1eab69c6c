"""HfedFileSystem keeps fsspec.AbstractFileSystem's documented meaning: fsspec's own
abstract test classes (copy, get, put, pipe, open) run against a real 3-namespace
cluster, within one namespace and with the copies landing in another; then what they
do not cover: du, rm with globs and maxdepth, get_file's local parents, on_error, and
mv between namespaces (copy, verify, then delete)."""
from __future__ import annotations

import errno
import os
import posixpath
import re

import pytest
from fsspec.tests.abstract import AbstractCopyTests, AbstractFixtures, AbstractGetTests, AbstractPutTests
from fsspec.tests.abstract.open import AbstractOpenTests
from fsspec.tests.abstract.pipe import AbstractPipeTests

from client import fs_tree
from client.fs import HfedFileSystem
from client.minicluster import MiniCluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """ns-a owns /user and /tmp, ns-b /data, ns-c /ns-c; small files packed (the default)."""
    mc = MiniCluster(tmp_path_factory.mktemp("fsspec"), namespaces=3, datanodes=2, replication=2,
                     block_size=1 << 20, heartbeat_interval=0.2, dead_interval=2.0, webhdfs=False).up()
    try:
        yield mc
    finally:
        mc.down()


@pytest.fixture(scope="module")
def hfs(cluster):
    filesystem = HfedFileSystem(conf=str(cluster.config_path), skip_instance_cache=True)
    yield filesystem
    filesystem.close()


def _area(hfs, request, root: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_-]", "_", request.node.name)[:80]
    path = f"{root}/{name}"
    hfs.makedirs(path, exist_ok=True)
    return path


class HfedFixtures(AbstractFixtures):
    @pytest.fixture
    def fs(self, hfs):
        return hfs

    @pytest.fixture
    def fs_join(self):
        return posixpath.join

    @pytest.fixture
    def fs_path(self, hfs, request):
        path = _area(hfs, request, "/user/fsspec")
        yield path
        hfs.rm(path, recursive=True)


class TestHfedCopy(HfedFixtures, AbstractCopyTests):
    pass


class TestHfedCopyToAnotherNamespace(HfedFixtures, AbstractCopyTests):
    """The same scenarios with the target in ns-b (the source stays in ns-a)."""

    @pytest.fixture
    def fs_target(self, hfs, request):
        area = _area(hfs, request, "/data/fsspec")
        yield posixpath.join(area, "target")
        hfs.rm(area, recursive=True)


class TestHfedGet(HfedFixtures, AbstractGetTests):
    pass


class TestHfedPut(HfedFixtures, AbstractPutTests):
    pass


class TestHfedPipeAndOpen(HfedFixtures, AbstractPipeTests, AbstractOpenTests):
    pass


# ------------------------------------------------------------ beyond the suite

@pytest.fixture
def area(hfs, request):
    """A fresh directory in each of the three namespaces."""
    dirs = [_area(hfs, request, root) for root in ("/user/sem", "/data/sem", "/ns-c/sem")]
    yield dirs
    for d in dirs:
        if hfs.exists(d):
            hfs.rm(d, recursive=True)


def _tree(hfs, top):
    """{relative path: bytes or 'dir'} of everything under ``top``."""
    out = {}
    for name, info in hfs.find(top, withdirs=True, detail=True).items():
        rel = posixpath.relpath(name, top)
        if rel != ".":
            out[rel] = "dir" if info["type"] == "directory" else hfs.cat_file(name)
    return out


def _make_tree(hfs, top):
    hfs.pipe({f"{top}/a.txt": b"a" * 10, f"{top}/sub/b.bin": os.urandom(3000),
              f"{top}/sub/deep/c.bin": os.urandom(2_500_000)})   # c.bin: on blocks, 3 of them
    hfs.makedirs(f"{top}/empty", exist_ok=True)


def test_cp_recursive_copies_directories_within_and_across_namespaces(hfs, area):
    user, data, _ = area
    _make_tree(hfs, f"{user}/src")
    expected = _tree(hfs, f"{user}/src")
    hfs.cp(f"{user}/src", f"{user}/same", recursive=True)
    hfs.cp(f"{user}/src", f"{data}/other", recursive=True)
    assert _tree(hfs, f"{user}/same") == expected == _tree(hfs, f"{data}/other")
    assert expected["empty"] == "dir"


def test_cp_maxdepth_and_glob(hfs, area):
    user, data, _ = area
    _make_tree(hfs, f"{user}/src")
    hfs.pipe_file(f"{user}/src/z.txt", b"z")
    hfs.cp(f"{user}/src", f"{data}/one", recursive=True, maxdepth=1)
    assert sorted(_tree(hfs, f"{data}/one")) == ["a.txt", "z.txt"]   # as fsspec: with maxdepth, files only
    hfs.cp(f"{user}/src/*/b.*", f"{data}/globbed/")
    assert hfs.cat_file(f"{data}/globbed/b.bin") == hfs.cat_file(f"{user}/src/sub/b.bin")


def test_copy_on_error(hfs, area):
    user, data, _ = area
    hfs.pipe_file(f"{user}/there", b"x")
    with pytest.raises(FileNotFoundError):
        hfs.copy([f"{user}/missing", f"{user}/there"], [f"{data}/m", f"{data}/t"])
    hfs.copy([f"{user}/missing", f"{user}/there"], [f"{data}/m", f"{data}/t"], on_error="ignore")
    assert hfs.cat_file(f"{data}/t") == b"x" and not hfs.exists(f"{data}/m")


def test_get_file_creates_local_parents_and_accepts_a_file_object(hfs, area, tmp_path):
    user, _, _ = area
    hfs.pipe_file(f"{user}/f", b"payload")
    target = tmp_path / "not" / "yet" / "f"
    hfs.get_file(f"{user}/f", str(target))
    assert target.read_bytes() == b"payload"
    with open(tmp_path / "g", "wb") as out:
        hfs.get_file(f"{user}/f", out)
    assert (tmp_path / "g").read_bytes() == b"payload"


def test_get_and_put_recursive_round_trip(hfs, area, tmp_path):
    user, data, _ = area
    _make_tree(hfs, f"{user}/src")
    hfs.get(f"{user}/src", str(tmp_path / "local"), recursive=True)
    assert (tmp_path / "local" / "sub" / "deep" / "c.bin").stat().st_size == 2_500_000
    assert (tmp_path / "local" / "empty").is_dir()
    hfs.put(str(tmp_path / "local"), f"{data}/back", recursive=True)
    assert _tree(hfs, f"{data}/back") == _tree(hfs, f"{user}/src")


@pytest.mark.parametrize("size", [5, 2_000_000])    # a packed small file and a file on blocks
def test_pipe_file_modes(hfs, area, size):
    user, _, _ = area
    path = f"{user}/p"
    hfs.pipe_file(path, b"1" * size, mode="create")
    with pytest.raises(FileExistsError):
        hfs.pipe_file(path, b"2" * size, mode="create")
    assert hfs.cat_file(path) == b"1" * size
    hfs.pipe_file(path, b"3" * size, mode="overwrite")
    assert hfs.cat_file(path) == b"3" * size
    with pytest.raises(ValueError, match="mode"):
        hfs.pipe_file(path, b"4", mode="append")
    with pytest.raises(FileExistsError):
        hfs.put_file(__file__, path, mode="create")
    assert hfs.cat_file(path) == b"3" * size


def test_du_arguments_as_fsspec(hfs, area):
    user, _, _ = area
    top = f"{user}/du"
    hfs.pipe({f"{top}/a": b"x" * 10, f"{top}/d/b": b"y" * 20, f"{top}/d/e/c": b"z" * 30})
    assert hfs.du(top) == 60
    assert hfs.du(top, total=False) == {f"{top}/a": 10, f"{top}/d/b": 20, f"{top}/d/e/c": 30}
    assert hfs.du(top, maxdepth=1) == 10
    assert hfs.du(top, total=False, maxdepth=2) == {f"{top}/a": 10, f"{top}/d/b": 20}
    with_dirs = hfs.du(top, total=False, withdirs=True)
    assert set(with_dirs) == {top, f"{top}/a", f"{top}/d", f"{top}/d/b", f"{top}/d/e", f"{top}/d/e/c"}
    assert hfs.du(f"{top}/a", total=False) == {f"{top}/a": 10}
    assert hfs.du(f"{top}/*/b") == 20


def test_rm_globs_lists_and_maxdepth(hfs, area):
    user, _, _ = area
    hfs.pipe({f"{user}/g/x1": b"1", f"{user}/g/x2": b"2", f"{user}/g/y": b"3"})
    hfs.rm(f"{user}/g/x*")
    assert hfs.ls(f"{user}/g", detail=False) == [f"{user}/g/y"]
    with pytest.raises(FileNotFoundError, match="nomatch"):
        hfs.rm(f"{user}/g/nomatch*")
    hfs.pipe({f"{user}/g/lit*": b"4", f"{user}/g/lit-other": b"5"})
    hfs.rm(f"{user}/g/lit*")             # a name that exists as written is not a pattern
    assert hfs.ls(f"{user}/g", detail=False) == [f"{user}/g/lit-other", f"{user}/g/y"]
    hfs.rm(f"{user}/g/lit-other")
    hfs.pipe({f"{user}/m/f": b"1", f"{user}/m/d/f": b"2", f"{user}/m/d/deep/f": b"3"})
    with pytest.raises(OSError) as full:
        hfs.rm(f"{user}/m", recursive=True, maxdepth=2)   # m/d/deep stays, so m/d and m do too
    assert full.value.errno == errno.ENOTEMPTY
    assert sorted(hfs.find(f"{user}/m")) == [f"{user}/m/d/deep/f"]
    hfs.rm([f"{user}/g", f"{user}/m"], recursive=True)
    assert not hfs.exists(f"{user}/g") and not hfs.exists(f"{user}/m")


def test_mv_within_a_namespace_is_a_rename_and_across_needs_recursive(hfs, area):
    user, data, _ = area
    hfs.pipe_file(f"{user}/f", b"data")
    hfs.mv(f"{user}/f", f"{user}/g")
    assert hfs.cat_file(f"{user}/g") == b"data" and not hfs.exists(f"{user}/f")
    with pytest.raises(OSError) as refused:
        hfs.mv(f"{user}/g", f"{data}/g")
    assert refused.value.errno == errno.EXDEV and hfs.exists(f"{user}/g") and not hfs.exists(f"{data}/g")
    hfs.mv(f"{user}/g", f"{data}/g", recursive=True)      # a file, copied then deleted
    assert hfs.cat_file(f"{data}/g") == b"data" and not hfs.exists(f"{user}/g")
    hfs.pipe({f"{user}/l1": b"1", f"{user}/l2": b"2"})
    hfs.mv(f"{user}/l*", f"{user}/into")                  # several sources: into a directory
    assert hfs.cat_file(f"{user}/into/l1") == b"1" and hfs.cat_file(f"{user}/into/l2") == b"2"
    hfs.mv([f"{user}/into/l1", f"{user}/into/l2"], f"{data}/list", recursive=True)
    assert sorted(hfs.ls(f"{data}/list", detail=False)) == [f"{data}/list/l1", f"{data}/list/l2"]
    assert hfs.ls(f"{user}/into", detail=False) == []


def test_mv_recursive_between_namespaces_copies_verifies_then_deletes(hfs, area):
    user, data, nsc = area
    _make_tree(hfs, f"{user}/src")
    expected = _tree(hfs, f"{user}/src")
    hfs.makedirs(f"{data}/into", exist_ok=True)
    hfs.mv(f"{user}/src", f"{data}/into", recursive=True)   # into an existing directory, as a rename
    assert _tree(hfs, f"{data}/into/src") == expected and not hfs.exists(f"{user}/src")
    hfs.mv(f"{data}/into/src", f"{nsc}/moved", recursive=True)
    assert _tree(hfs, f"{nsc}/moved") == expected and not hfs.exists(f"{data}/into/src")
    with pytest.raises(FileExistsError, match=f"{nsc}/moved"):
        hfs.pipe_file(f"{user}/again", b"x") or hfs.mv(f"{user}/again", f"{nsc}/moved/a.txt", recursive=True)
    assert hfs.exists(f"{user}/again")


def test_mv_recursive_maxdepth_deletes_only_what_it_copied(hfs, area):
    user, data, _ = area
    _make_tree(hfs, f"{user}/src")
    hfs.mv(f"{user}/src", f"{data}/shallow", recursive=True, maxdepth=1)
    assert sorted(_tree(hfs, f"{data}/shallow")) == ["a.txt", "empty", "sub"]
    left = sorted(posixpath.relpath(p, f"{user}/src") for p in hfs.find(f"{user}/src"))
    assert left == ["sub/b.bin", "sub/deep/c.bin"]       # not copied, so not deleted


def test_a_copy_that_does_not_verify_deletes_nothing(hfs, area):
    """verify_copy is the gate before any delete: a copy whose bytes differ from what
    was read (here: changed after the copy) refuses, and the source stays whole."""
    user, data, _ = area
    hfs.pipe_file(f"{user}/v", b"original bytes")
    length, crc = fs_tree.copy_bytes(hfs, f"{user}/v", f"{data}/v")
    fs_tree.verify_copy(hfs, f"{user}/v", f"{data}/v", length, crc)
    hfs.pipe_file(f"{data}/v", b"original bytez")
    with pytest.raises(OSError, match="does not match") as bad:
        fs_tree.verify_copy(hfs, f"{user}/v", f"{data}/v", length, crc)
    assert bad.value.errno == errno.EIO
    hfs.pipe_file(f"{data}/v", b"original bytes")
    hfs.pipe_file(f"{user}/v", b"grown: original bytes")   # the source changed since the copy
    with pytest.raises(OSError, match="does not match"):
        fs_tree.verify_copy(hfs, f"{user}/v", f"{data}/v", length, crc)
    assert hfs.cat_file(f"{user}/v") == b"grown: original bytes"


def test_mv_refuses_mount_points(hfs, area):
    user, data, _ = area
    for target in (f"{data}/x", f"{user}/x"):       # a rename, and a copy between namespaces
        with pytest.raises(PermissionError, match="/data"):
            hfs.mv("/data", target, recursive=True)
    assert not hfs.exists(f"{user}/x")


def test_a_move_that_fails_midway_deletes_nothing(cluster, hfs, area):
    """alice moves her tree to another namespace; one file in it is not readable by her,
    so the copy fails partway: every source file is still there."""
    user, data, _ = area
    for d in (user, data):
        hfs.chown(d, "alice", "alice")
    alice = HfedFileSystem(conf=str(cluster.config_path), user="alice", skip_instance_cache=True)
    try:
        alice.pipe({f"{user}/src/a": b"a", f"{user}/src/z": b"z"})
        hfs.pipe_file(f"{user}/src/m-secret", b"not hers")       # copied between a and z
        hfs.chmod(f"{user}/src/m-secret", 0o600)
        with pytest.raises(PermissionError, match="m-secret"):
            alice.mv(f"{user}/src", f"{data}/dst", recursive=True)
        assert sorted(hfs.ls(f"{user}/src", detail=False)) == [f"{user}/src/{n}" for n in ("a", "m-secret", "z")]
        assert hfs.cat_file(f"{user}/src/a") == b"a"
    finally:
        alice.close()
