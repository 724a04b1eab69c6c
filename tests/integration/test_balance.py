"""`hfed balance`: a subtree moved to a namespace added live, by metadata only, while a
client keeps reading and writing; bad moves refused with nothing changed; abort."""
import hashlib
import io
import os
import subprocess
import sys
import threading

import pytest

from client import balance, cli_fsck, mount_admin
from client.fs import HfedFileSystem
from client.namenode_client import NamenodeClient
from protos import errors, security

SMALL = 4096          # files below this are packed into containers; above, blocks


def disk_bytes(mc) -> int:
    """Bytes the DataNodes' files take, each inode once (hard links share theirs)."""
    seen, total = set(), 0
    for dn in mc.config.datanodes.values():
        for root, _dirs, names in os.walk(dn.data_dir):
            for name in names:
                try:
                    st = os.lstat(os.path.join(root, name))
                except FileNotFoundError:    # a source replica name the DataNode deleted meanwhile
                    continue
                if (st.st_dev, st.st_ino) not in seen:
                    seen.add((st.st_dev, st.st_ino))
                    total += st.st_size
    return total


def fill(fs, root: str) -> dict[str, bytes]:
    files = {}
    for i in range(40):
        files[f"{root}/small/s{i:02d}"] = os.urandom(100 + i * 30)           # packed into containers
    for i in range(3):
        files[f"{root}/big/b{i}"] = os.urandom(300_000 + i)                  # several blocks each
    fs.pipe_many(list(files.items()))
    for path, data in files.items():
        if len(data) >= SMALL:
            fs.pipe_file(path, data)
    fs.makedirs(f"{root}/empty/deeper", exist_ok=True)
    fs.chmod(f"{root}/big/b0", 0o600)
    fs.session.flush_small_files()
    fs.session.namenode(fs.session.resolve(root).nameservice).pack_now()
    return files


def fsck_healthy(fs, path) -> bool:
    return cli_fsck.fsck(fs, path, fs.session.cfg, out=io.StringIO())


@pytest.fixture
def moving_cluster(fresh_cluster):
    mc = fresh_cluster(namespaces=2, settings={"small_file_threshold": SMALL, "pack_age": 3600.0})
    mc.add_namespace("ns-c")
    return mc


def test_a_subtree_moves_live_without_copying_bytes(moving_cluster):
    mc = moving_cluster
    fs = HfedFileSystem(conf=str(mc.config_path), skip_instance_cache=True)
    worker_fs = HfedFileSystem(conf=str(mc.config_path), skip_instance_cache=True)
    try:
        files = fill(fs, "/data/proj")
        fs.pipe_file("/data/other/keep", b"stays in ns-b")
        before_info = {p: fs.info(p) for p in ("/data/proj/big/b0", "/data/proj/small/s01", "/data/proj/empty")}
        disk_before = disk_bytes(mc)

        # A client reads and writes under the moved path and elsewhere the whole time.
        stop, failures, written = threading.Event(), [], []

        def client_loop():
            i = 0
            while not stop.is_set():
                try:
                    path = f"/data/proj/live/f{i}"
                    worker_fs.pipe_file(path, b"live %d" % i)
                    written.append(path)
                    assert worker_fs.cat_file("/data/proj/small/s03") == files["/data/proj/small/s03"]
                    assert worker_fs.cat_file("/data/other/keep") == b"stays in ns-b"
                except Exception as e:   # noqa: BLE001 - every failure is the test's finding
                    failures.append(repr(e))
                i += 1
        thread = threading.Thread(target=client_loop)
        thread.start()
        try:
            report = balance.move(fs.session, "/data/proj", "ns-c")
        finally:
            stop.set()
            thread.join(60)
        assert failures == []
        assert report.state == "done" and report.source == "ns-b" and report.target == "ns-c"
        assert len(written) > 0

        # Routed to ns-c now, for this client and for a new one; ns-b holds nothing there.
        assert fs.session.resolve("/data/proj/x").nameservice == "ns-c"
        assert mount_admin.current_table(fs.session).mount_at("/data/proj").nameservice == "ns-c"
        fresh = HfedFileSystem(conf=str(mc.config_path), skip_instance_cache=True)
        try:
            for path, data in files.items():
                assert fresh.cat_file(path) == data, path
            for path in written:
                assert fresh.cat_file(path) == path.encode().replace(b"/data/proj/live/f", b"live "), path
            for path, info in before_info.items():
                now = fresh.info(path)
                for key in ("type", "size", "permission", "owner", "group", "mtime"):
                    assert now[key] == info[key], (path, key)
                assert now["nameservice"] == "ns-c"
            assert fresh.cat_file("/data/other/keep") == b"stays in ns-b"
            assert fsck_healthy(fresh, "/data/proj") and fsck_healthy(fresh, "/data/other")
        finally:
            fresh.close()
        ns_b = fs.session.namenode("ns-b")
        plain = NamenodeClient("ns-b", ns_b.address, metadata=ns_b.metadata, cfg=fs.session.cfg)
        try:
            with pytest.raises(errors.MountMoved):
                plain.get_file_info("/data/proj")
        finally:
            plain.close()
        # No bytes were copied: only directory entries and the small files written during the move.
        live_bytes = sum(len(p) for p in written) * 3
        assert disk_bytes(mc) <= disk_before * 1.01 + live_bytes + 3 * SMALL
    finally:
        worker_fs.close()
        fs.close()


def test_bad_moves_are_refused_and_change_nothing(moving_cluster, tmp_path):
    mc = moving_cluster
    fs = HfedFileSystem(conf=str(mc.config_path), skip_instance_cache=True)
    try:
        fs.pipe_file("/data/p/f", b"x", pack=False)
        fs.pipe_file("/tmp/a/f", b"y", pack=False)
        mount_admin.add_mount(fs.session, "/tmp/a/b", "ns-c")
        mount_admin.add_mount(fs.session, "/data/ro", "ns-b", readonly=True)
        version = mount_admin.current_table(fs.session).version
        cases = [("/data", "ns-c", "it is a mount point"),
                 ("/tmp/a", "ns-c", "mount point /tmp/a/b (ns-c) lies below it"),
                 ("/data/ro/x", "ns-c", "read-only mount point"),
                 ("/data/p", "ns-b", "it is in namespace ns-b already"),
                 ("/data/p", "ns-zz", "unknown namespace 'ns-zz'"),
                 ("/data/p/f", "ns-c", "not a directory"),
                 ("/data/nope", "ns-c", "")]
        for path, target, message in cases:
            with pytest.raises(OSError) as refused:
                balance.move(fs.session, path, target)
            assert message in str(refused.value) and path in str(refused.value), (path, str(refused.value))
        assert mount_admin.current_table(fs.session).version == version
        assert balance.unfinished(fs.session) == []
        assert fs.cat_file("/data/p/f") == b"x"
    finally:
        fs.close()
    # A user who is not the superuser may not move anything.
    secret = security.read_secret(mc.config.secret_path())
    token_file = tmp_path / "bob.json"
    security.write_credentials(token_file, "bob", {"*": security.user_token(secret, "bob", 600)})
    env = dict(os.environ, HFED_TOKEN_FILE=str(token_file), HFED_HOME=str(tmp_path / "home"))
    out = subprocess.run([sys.executable, "-m", "client.cli", "--conf", str(mc.config_path), "balance", "/data/p",
                          "ns-c"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "only the superuser may move subtrees" in out.stderr


def test_an_aborted_move_leaves_the_source_untouched(moving_cluster):
    mc = moving_cluster
    fs = HfedFileSystem(conf=str(mc.config_path), skip_instance_cache=True)
    try:
        files = fill(fs, "/data/half")
        source, summary = balance.check_move(fs.session, "/data/half", "ns-c")
        report = balance.MoveReport("half-test", "/data/half", source, "ns-c", files=summary.file_count)
        mover = balance.Mover(fs.session, report)
        mover._save()
        mover._copy_phase()                 # the mover "crashes" before the cutover
        assert [r.move_id for r in balance.unfinished(fs.session)] == ["half-test"]
        assert [r.state for r in balance.abort_move(fs.session)] == ["aborted"]
        assert balance.unfinished(fs.session) == []
        assert fs.session.resolve("/data/half").nameservice == "ns-b"
        for path, data in files.items():
            assert fs.cat_file(path) == data
        fs.pipe_file("/data/half/after-abort", b"writable")
        assert fsck_healthy(fs, "/data/half")
        # The target kept nothing of it: moving again starts clean and works.
        assert balance.move(fs.session, "/data/half", "ns-c").state == "done"
        assert fs.cat_file("/data/half/after-abort") == b"writable"
        assert hashlib.sha256(fs.cat_file("/data/half/big/b1")).digest() == \
            hashlib.sha256(files["/data/half/big/b1"]).digest()
    finally:
        fs.close()


def test_a_change_between_a_rounds_list_and_its_export_is_carried_over(moving_cluster):
    """A round lists the paths changed since the last one, then exports them: a file written
    in between, elsewhere in the subtree, must reach the target in a later round."""
    mc = moving_cluster
    fs = HfedFileSystem(conf=str(mc.config_path), skip_instance_cache=True)
    writer = HfedFileSystem(conf=str(mc.config_path), skip_instance_cache=True)
    try:
        fs.pipe_file("/data/race/first", b"before the move")
        source, summary = balance.check_move(fs.session, "/data/race", "ns-c")
        report = balance.MoveReport("race-test", "/data/race", source, "ns-c", files=summary.file_count)
        mover = balance.Mover(fs.session, report)
        listed = mover._changes

        def changes_then_a_write():
            if report.rounds == 0:
                writer.pipe_file("/data/race/listed", b"in the round's list")
            reply = listed()
            if report.rounds == 0:
                writer.pipe_file("/data/race/sub/after-list", b"written after the list")
            return reply
        mover._changes = changes_then_a_write
        mover._save()
        assert mover.run().state == "done"
        assert fs.session.resolve("/data/race").nameservice == "ns-c"
        assert fs.cat_file("/data/race/listed") == b"in the round's list"
        assert fs.cat_file("/data/race/sub/after-list") == b"written after the list"
        assert fs.info("/data/race/sub/after-list")["nameservice"] == "ns-c"
    finally:
        writer.close()
        fs.close()
