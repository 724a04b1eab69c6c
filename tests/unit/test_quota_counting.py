"""Directory quotas in the NameNode core, driven by plain calls: counting, checks, persistence."""
import errno
import random

import pytest

from protos.errors import QuotaExceeded
from namenode import quotas as quotas_mod
from namenode.journal import Journal
from namenode.namesystem import Namesystem
from namenode.ops import attrs, dirs, files, quota, reads

BLOCK = 1024


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        self.t += 0.001
        return self.t


def new_fsn(clock=None):
    clock = clock or Clock()
    fsn = Namesystem("ns-a", "CID", "BP-1", "admin", block_size=BLOCK, replication=3, clock=clock,
                     monotonic=clock)
    for i in range(3):
        fsn.register_datanode(f"uuid-{i}", f"host-{i}", f"127.0.0.1:{9000 + i}")
    return fsn


@pytest.fixture
def fsn():
    fsn = new_fsn()
    dirs.mkdirs(fsn, su(fsn), "/q", 0o777, True)
    return fsn


def su(fsn):
    return fsn.ns.caller("admin")


def usage(fsn, path):
    u = fsn.quotas.quota_of(fsn.ns.get(path).id)
    return (u.names, u.space)


def walked(fsn, path):
    c = quotas_mod.walk(fsn, fsn.ns.get(path), {})
    return (c.dirs + c.files, c.space)


def create(fsn, path, client="c1", **kw):
    files.create(fsn, su(fsn), path, 0o644, kw.get("overwrite", False), True, kw.get("replication", 0), 0,
                 client)


def add_block(fsn, path, previous=None, client="c1"):
    block, targets = files.add_block(fsn, su(fsn), path, client, previous, set(), "")
    return block


def write(fsn, path, sizes, client="c1", replication=0, overwrite=False):
    create(fsn, path, client, replication=replication, overwrite=overwrite)
    previous = None
    for size in sizes:
        block = add_block(fsn, path, previous, client)
        for i in range(3):
            fsn.incremental_report(f"uuid-{i}", [(block.block_id, block.generation_stamp, size)], [])
        previous = (block.block_id, size)
    assert files.complete(fsn, su(fsn), path, client, previous)


def snapshot(fsn):
    return sorted(fsn.ns.path_of(i) for i in fsn.ns.table.all_inodes()), fsn.blocks.next_block_id


def test_name_quota_counts_the_directory_itself_and_refuses_with_hdfs_message(fsn):
    quota.set_quota(fsn, su(fsn), "/q", 3, None)
    dirs.mkdirs(fsn, su(fsn), "/q/a", 0o755, False)
    create(fsn, "/q/a/f")
    assert usage(fsn, "/q") == (3, 0)
    before = snapshot(fsn)
    with pytest.raises(QuotaExceeded) as e:
        create(fsn, "/q/g")
    assert e.value.errno == errno.EDQUOT and isinstance(e.value, OSError)
    assert str(e.value).startswith("The NameSpace quota (directories and files) of directory /q (namespace ns-a) "
                                   "is exceeded: quota=3 file count=4")
    with pytest.raises(QuotaExceeded):
        dirs.mkdirs(fsn, su(fsn), "/q/x/y", 0o755, True)      # two new directories: nothing made
    assert snapshot(fsn) == before and usage(fsn, "/q") == (3, 0)
    create(fsn, "/q/a/f", overwrite=True)                      # overwrite adds no name
    dirs.delete(fsn, su(fsn), "/q/a", True)
    assert usage(fsn, "/q") == (1, 0)
    create(fsn, "/q/g")


def test_space_counts_preferred_block_size_while_written_then_real_length(fsn):
    quota.set_quota(fsn, su(fsn), "/q", None, 4 * BLOCK * 3)
    create(fsn, "/q/f")
    b1 = add_block(fsn, "/q/f")
    assert usage(fsn, "/q")[1] == BLOCK * 3
    for i in range(3):
        fsn.incremental_report(f"uuid-{i}", [(b1.block_id, b1.generation_stamp, 100)], [])
    assert usage(fsn, "/q")[1] == BLOCK * 3                    # reports change nothing while written
    assert files.complete(fsn, su(fsn), "/q/f", "c1", (b1.block_id, 100))
    assert usage(fsn, "/q")[1] == 300 == walked(fsn, "/q")[1]
    write(fsn, "/q/g", [BLOCK, BLOCK])
    create(fsn, "/q/h")
    b = add_block(fsn, "/q/h")                                 # 300 + 6 KiB + 3 KiB of 12 KiB
    with pytest.raises(QuotaExceeded, match=r"The DiskSpace quota of /q \(namespace ns-a\) is exceeded: "
                                            r"quota = 12288 B = 12 KB but diskspace consumed = 12588 B"):
        add_block(fsn, "/q/h", (b.block_id, BLOCK))
    assert len(fsn.ns.get("/q/h").blocks) == 1 and usage(fsn, "/q") == walked(fsn, "/q")


def test_setrep_rename_and_quota_below_usage(fsn):
    dirs.mkdirs(fsn, su(fsn), "/out", 0o777, True)
    write(fsn, "/out/f", [BLOCK], replication=1)
    quota.set_quota(fsn, su(fsn), "/q", 2, 2 * BLOCK)
    with pytest.raises(QuotaExceeded, match=r"NameSpace .* of directory /q .*quota=2 file count=3"):
        dirs.rename(fsn, su(fsn), "/out", "/q/in")            # its directory and file: 2 names more
    dirs.rename(fsn, su(fsn), "/out/f", "/q/f")
    assert usage(fsn, "/q") == (2, BLOCK)
    with pytest.raises(QuotaExceeded, match="quota = 2048 B = 2 KB but diskspace consumed = 3072 B"):
        attrs.set_replication(fsn, su(fsn), "/q/f", 3)
    attrs.set_replication(fsn, su(fsn), "/q/f", 2)
    assert usage(fsn, "/q") == (2, 2 * BLOCK)
    quota.set_quota(fsn, su(fsn), "/q", 1, None)              # below usage: allowed, nothing new fits
    with pytest.raises(QuotaExceeded, match="quota=1 file count=3"):
        dirs.mkdirs(fsn, su(fsn), "/q/d", 0o755, False)
    dirs.rename(fsn, su(fsn), "/q/f", "/out/f")               # moving out is always allowed
    assert usage(fsn, "/q") == (1, 0)


def test_nested_quotas_renames_of_a_quotad_dir_and_delete_forgets_it(fsn):
    dirs.mkdirs(fsn, su(fsn), "/q/inner/x", 0o755, True)
    write(fsn, "/q/inner/x/f", [10])
    quota.set_quota(fsn, su(fsn), "/q/inner", 100, None)
    quota.set_quota(fsn, su(fsn), "/q", 100, 10 ** 6)
    assert usage(fsn, "/q/inner") == (3, 30) and usage(fsn, "/q") == (4, 30)
    dirs.mkdirs(fsn, su(fsn), "/other", 0o755, True)
    dirs.rename(fsn, su(fsn), "/q/inner", "/other/inner")     # counts come from inner's own usage
    assert usage(fsn, "/q") == (1, 0) and usage(fsn, "/other/inner") == (3, 30)
    slot = fsn.ns.get("/other/inner").id
    dirs.delete(fsn, su(fsn), "/other", True)
    assert fsn.quotas.quota_of(slot) is None
    dirs.mkdirs(fsn, su(fsn), "/other/reuses/the/slot", 0o755, True)
    assert len(fsn.quotas.dirs) == 1


@pytest.mark.parametrize("ns,space,why", [(0, None, "invalid name quota 0"), (-2, None, "invalid name quota -2"),
                                          (None, 0, "invalid space quota 0"), (None, -5, "invalid space quota")])
def test_bad_quotas_are_refused_naming_the_path(fsn, ns, space, why):
    with pytest.raises(ValueError, match=rf"/q \(namespace ns-a\): {why}"):
        quota.set_quota(fsn, su(fsn), "/q", ns, space)
    assert not fsn.quotas.dirs


def test_quota_on_a_file_or_by_a_user_is_refused(fsn):
    create(fsn, "/q/f")
    with pytest.raises(FileNotFoundError, match="/q/f .*Cannot set quota on a file"):
        quota.set_quota(fsn, su(fsn), "/q/f", 5, None)
    with pytest.raises(PermissionError, match="only the superuser"):
        quota.set_quota(fsn, fsn.ns.caller("alice", ["alice"]), "/q", 5, None)


def test_content_summary_shows_quotas_and_clearing_both_drops_the_entry(fsn):
    write(fsn, "/q/f", [7])
    summary = reads.content_summary(fsn, su(fsn), "/q")
    assert (summary["quota"], summary["space_quota"]) == (-1, -1)
    quota.set_quota(fsn, su(fsn), "/q", 10, None)
    quota.set_quota(fsn, su(fsn), "/q", None, 5000)
    summary = reads.content_summary(fsn, su(fsn), "/q")
    assert (summary["quota"], summary["space_quota"], summary["file_count"], summary["directory_count"],
            summary["space_consumed"], summary["length"]) == (10, 5000, 1, 1, 21, 7)
    quota.set_quota(fsn, su(fsn), "/q", -1, None)
    assert reads.content_summary(fsn, su(fsn), "/q")["quota"] == -1
    quota.set_quota(fsn, su(fsn), "/q", None, -1)
    assert not fsn.quotas.dirs


# ------------------------------------------------------------------ exactness
DIRS = ["/q", "/q/a", "/q/a/b", "/r", "/r/c"]


def random_ops(fsn, rng, n):
    refused = 0
    for i in range(n):
        d = rng.choice(DIRS)
        target = f"{d}/{rng.choice('xyz')}{rng.randrange(4)}"
        op = rng.random()
        try:
            if op < 0.3:
                write(fsn, target, [rng.randrange(1, BLOCK + 1) for _ in range(rng.randrange(3))],
                      replication=rng.randrange(1, 4), overwrite=rng.random() < 0.5)
            elif op < 0.45:
                dirs.mkdirs(fsn, su(fsn), f"{target}/{rng.choice('mn')}", 0o755, True)
            elif op < 0.6:
                dirs.delete(fsn, su(fsn), target, True)
            elif op < 0.8:
                dirs.rename(fsn, su(fsn), target, f"{rng.choice(DIRS)}/{rng.choice('xyz')}{rng.randrange(4)}")
            elif op < 0.9:
                attrs.set_replication(fsn, su(fsn), target, rng.randrange(1, 4))
            else:
                create(fsn, target, client=f"open{i}")             # left open: a block being written
                add_block(fsn, target, client=f"open{i}")
        except QuotaExceeded:
            refused += 1
        except OSError:
            pass
    return refused


def check_exact(fsn):
    assert fsn.quotas.dirs
    for slot, u in fsn.quotas.dirs.items():
        path = fsn.ns.path_of(fsn.ns.table.get(slot))
        assert (u.names, u.space) == walked(fsn, path), path


@pytest.mark.parametrize("seed", range(4))
def test_random_workload_counts_equal_a_walk_live_after_replay_and_after_image(tmp_path, seed):
    rng, clock = random.Random(seed), Clock()
    fsn, journal = new_fsn(clock), Journal(tmp_path)
    journal.load(fsn)
    fsn.journal = journal
    for d in DIRS:
        dirs.mkdirs(fsn, su(fsn), d, 0o777, True)
    quota.set_quota(fsn, su(fsn), "/q", 40, 40 * BLOCK)
    quota.set_quota(fsn, su(fsn), "/q/a", 15, None)
    quota.set_quota(fsn, su(fsn), "/r/c", None, 8 * BLOCK)
    refused = random_ops(fsn, rng, 300)
    assert refused > 0
    check_exact(fsn)
    live = {s: (u.ns_quota, u.space_quota, u.names, u.space) for s, u in fsn.quotas.dirs.items()}

    def reloaded():
        again = new_fsn(clock)
        j = Journal(tmp_path)
        j.load(again)
        j.close()
        return again

    journal.close()
    replayed = reloaded()                                  # edits only
    assert {s: (u.ns_quota, u.space_quota, u.names, u.space)
            for s, u in replayed.quotas.dirs.items()} == live
    journal = Journal(tmp_path)
    fsn2 = new_fsn(clock)
    journal.load(fsn2)
    journal.checkpoint_now(fsn2)
    journal.close()
    from_image = reloaded()                                # image (+ nothing after it)
    assert {s: (u.ns_quota, u.space_quota, u.names, u.space)
            for s, u in from_image.quotas.dirs.items()} == live
    check_exact(from_image)
