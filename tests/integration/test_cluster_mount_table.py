"""The cluster-held mount table: changed by `hfed mount`, followed by running clients, kept
by every NameNode, enforced by each (paths another namespace owns, read-only mounts)."""
import subprocess
import sys

import pytest

from client.fs import HfedFileSystem
from client.namenode_client import NamenodeClient
from client import mount_admin
from protos import errors, security


def hfed(env, conf, *args):
    return subprocess.run([sys.executable, "-m", "client.cli", "--conf", conf, *args], env=env,
                          capture_output=True, text=True, timeout=60)


def plain_client(fs, ns) -> NamenodeClient:
    """A client of one NameNode that does not follow the mount table (what a stale client does)."""
    routed = fs.session.namenode(ns)
    return NamenodeClient(ns, routed.address, metadata=routed.metadata, cfg=fs.session.cfg)


def test_a_running_client_follows_mount_changes_and_namenodes_enforce_them(fresh_cluster, hfed_env):
    mc = fresh_cluster(namespaces=3)
    conf = str(mc.config_path)
    stale = HfedFileSystem(conf=conf, skip_instance_cache=True)    # started before the change
    try:
        stale.pipe_file("/user/before.txt", b"x")
        out = hfed(hfed_env, conf, "mount", "-ls")
        assert out.returncode == 0, out.stderr
        assert "/data" in out.stdout and "ns-b" in out.stdout and "held by ns-a" in out.stdout
        version = stale.session.mount_version

        out = hfed(hfed_env, conf, "mount", "-add", "/projects", "ns-c")
        assert out.returncode == 0, out.stderr
        assert "Mounted /projects on ns-c" in out.stdout
        # The running client writes there without a restart: the reply showed the new version.
        stale.pipe_file("/projects/p1", b"payload")
        assert stale.session.mount_version > version
        assert stale.session.resolve("/projects/p1").nameservice == "ns-c"
        assert stale.info("/projects/p1")["nameservice"] == "ns-c"
        # The fallback namespace refuses the path, naming its owner; nothing was written there.
        old_owner = plain_client(stale, "ns-a")
        try:
            with pytest.raises(errors.MountMoved, match="belongs to namespace ns-c"):
                old_owner.create("/projects/sneaky", "test-client")
        finally:
            old_owner.close()
        assert stale.cat_file("/projects/p1") == b"payload"

        # Read-only mounts: reads work, every write is refused naming the mount point.
        assert mount_admin.add_mount(stale.session, "/user", "ns-a", readonly=True).version > version
        assert stale.cat_file("/user/before.txt") == b"x"
        with pytest.raises(errors.ReadOnlyMount, match="read-only mount point /user"):
            stale.pipe_file("/user/after.txt", b"y")
        mount_admin.add_mount(stale.session, "/user", "ns-a")
        stale.pipe_file("/user/after.txt", b"y")

        out = hfed(hfed_env, conf, "mount", "-rm", "/projects")
        assert out.returncode == 0, out.stderr
        assert "/projects" not in hfed(hfed_env, conf, "mount", "-ls").stdout
        bad = hfed(hfed_env, conf, "mount", "-add", "/x", "ns-nope")
        assert bad.returncode == 1 and "unknown nameservice 'ns-nope'" in bad.stderr
        bad = hfed(hfed_env, conf, "mount", "-rm", "/not-a-mount")
        assert bad.returncode == 1 and "/not-a-mount is not a mount point" in bad.stderr
    finally:
        stale.close()


def test_mount_changes_need_the_superuser(cluster, tmp_path, hfed_env):
    secret = security.read_secret(cluster.config.secret_path())
    token_file = tmp_path / "alice.json"
    security.write_credentials(token_file, "alice", {"*": security.user_token(secret, "alice", 600)})
    env = dict(hfed_env, HFED_TOKEN_FILE=str(token_file))
    conf = str(cluster.config_path)
    before = hfed(env, conf, "mount", "-ls")
    assert before.returncode == 0, before.stderr          # anyone may read the table
    out = hfed(env, conf, "mount", "-add", "/alice", "ns-b")
    assert out.returncode == 1 and "only the superuser may change the mount table" in out.stderr
    assert hfed(env, conf, "mount", "-ls").stdout == before.stdout


def test_clients_keep_routing_while_the_holder_is_down(fresh_cluster):
    mc = fresh_cluster(namespaces=2)
    fs = HfedFileSystem(conf=str(mc.config_path), skip_instance_cache=True)
    try:
        mount_admin.add_mount(fs.session, "/data/shared", "ns-b")
        mc.kill_namenode("ns-a")            # the holder
        fs.pipe_file("/data/shared/f", b"still routed")
        assert fs.cat_file("/data/shared/f") == b"still routed"
        late = HfedFileSystem(conf=str(mc.config_path), skip_instance_cache=True)  # a new client: ns-b's copy
        try:
            assert late.session.mount_version == fs.session.mount_version
            assert late.cat_file("/data/shared/f") == b"still routed"
        finally:
            late.close()
    finally:
        fs.close()
