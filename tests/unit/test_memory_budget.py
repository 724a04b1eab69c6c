"""The namespace memory budget driven by plain calls: a real Namesystem, a fake RSS and clock."""
import errno
import tomllib

import pytest

from namenode.budget import HDFS_BYTES_PER_OBJECT, MemoryBudget, refuse_impossible
from namenode.namesystem import Namesystem
from namenode.ops import dirs, files, reads
from protos import config as hconfig
from protos.errors import NoSpace

MiB = 1 << 20


class FakeProcess:
    """RSS and monotonic clock the test sets; counts how often RSS is read."""
    def __init__(self, rss=100 * MiB):
        self.value, self.t, self.reads = rss, 0.0, 0

    def rss(self):
        self.reads += 1
        return self.value

    def clock(self):
        return self.t


@pytest.fixture
def proc():
    return FakeProcess()


@pytest.fixture
def fsn():
    fsn = Namesystem("ns-a", "CID", "BP-1", "admin", block_size=1024, replication=1, mount_dirs=("/user",))
    dirs.mkdirs(fsn, fsn.ns.caller("admin"), "/user", 0o755, True)
    return fsn


def budget(proc, **limits):
    # sample_interval 0: every check sees the RSS the test set
    return MemoryBudget(**limits, rss=proc.rss, clock=proc.clock, sample_interval=0)


def objects(fsn):
    return fsn.ns.table.files + fsn.ns.table.directories + len(fsn.blocks)


def create(fsn, path):
    files.create(fsn, fsn.ns.caller("admin"), path, 0o644, False, False, 1, 1024, "c1")


def test_object_budget_refuses_new_objects_with_a_clear_error_and_changes_nothing(fsn, proc):
    fsn.budget = budget(proc, max_objects=objects(fsn) + 2)
    create(fsn, "/user/a")
    dirs.mkdirs(fsn, fsn.ns.caller("admin"), "/user/d", 0o755, False)
    with pytest.raises(NoSpace) as refused:
        create(fsn, "/user/b")
    error = refused.value
    assert isinstance(error, OSError) and error.errno == errno.ENOSPC
    message = str(error)
    assert message.startswith("/user/b (namespace ns-a): namespace object budget reached")
    assert f"{objects(fsn):,} objects" in message and f"of {objects(fsn):,} allowed" in message
    assert "RSS 100.0 MiB" in message and "max_objects" in message
    with pytest.raises(FileNotFoundError):
        reads.get_file_info(fsn, fsn.ns.caller("admin"), "/user/b")
    with pytest.raises(NoSpace, match="/user/d/e"):
        dirs.mkdirs(fsn, fsn.ns.caller("admin"), "/user/d/e", 0o755, False)


def test_reads_renames_and_deletes_keep_working_and_deletes_make_room(fsn, proc):
    admin = fsn.ns.caller("admin")
    create(fsn, "/user/a")
    fsn.budget = budget(proc, max_objects=objects(fsn))
    with pytest.raises(NoSpace):
        create(fsn, "/user/b")
    assert reads.get_file_info(fsn, admin, "/user/a") is not None
    assert [e.path for e in reads.get_listing(fsn, admin, "/user", "", 10)[0]] == ["/user/a"]
    dirs.rename(fsn, admin, "/user/a", "/user/renamed")
    assert dirs.delete(fsn, admin, "/user/renamed", False)
    create(fsn, "/user/b")                       # the delete made room for exactly one object
    with pytest.raises(NoSpace):
        create(fsn, "/user/c")


def test_memory_budget_message_names_rss_and_budget(fsn, proc):
    fsn.budget = budget(proc, max_memory=256 * MiB)
    create(fsn, "/user/a")
    proc.value = 300 * MiB
    with pytest.raises(NoSpace) as refused:
        create(fsn, "/user/b")
    assert str(refused.value) == (f"/user/b (namespace ns-a): namespace memory budget reached: {objects(fsn):,} "
                                  "objects, RSS 300.0 MiB of 256.0 MiB budget (delete files or raise max_memory)")


def test_after_the_memory_wall_deletes_allow_creates_up_to_the_wall_even_if_rss_stays_high(fsn, proc):
    """RSS rarely shrinks after deletes (Python reuses the freed memory): the object count at
    which RSS reached the budget is the limit while RSS stays over it."""
    admin = fsn.ns.caller("admin")
    fsn.budget = budget(proc, max_memory=256 * MiB)
    for name in "abc":
        create(fsn, f"/user/{name}")
    proc.value = 256 * MiB                       # the wall: reached at this object count
    wall = objects(fsn)
    with pytest.raises(NoSpace):
        create(fsn, "/user/d")
    dirs.delete(fsn, admin, "/user/a", False)
    dirs.delete(fsn, admin, "/user/b", False)
    create(fsn, "/user/d")                       # RSS unchanged, but two objects were freed
    create(fsn, "/user/e")
    assert objects(fsn) == wall
    with pytest.raises(NoSpace, match="RSS 256.0 MiB of 256.0 MiB"):
        create(fsn, "/user/f")
    proc.value = 200 * MiB                       # memory really went back: the wall is forgotten
    create(fsn, "/user/f")
    assert fsn.budget.wall_objects is None


def test_rss_is_sampled_by_time_or_check_count_not_read_per_operation(fsn, proc):
    fsn.budget = MemoryBudget(max_memory=256 * MiB, rss=proc.rss, clock=proc.clock, sample_interval=0.05,
                              sample_checks=30)
    for i in range(20):
        create(fsn, f"/user/f{i}")
    assert proc.reads == 1
    proc.value, proc.t = 300 * MiB, 0.06          # time's up: the next check sees the growth
    with pytest.raises(NoSpace):
        create(fsn, "/user/late")
    assert proc.reads == 3                        # the sample, and one more after freeing unused memory
    proc.value = 100 * MiB                        # the clock stands still (one event-loop turn) ...
    with pytest.raises(NoSpace):
        create(fsn, "/user/late")
    refused = []
    for i in range(30):                           # ... but the 30th check since the sample reads it again
        try:
            create(fsn, f"/user/g{i}")
        except NoSpace:
            refused.append(i)
    assert refused == list(range(28)) and proc.reads == 4


def test_no_limits_never_refuse(fsn, proc):
    fsn.budget = budget(proc)
    proc.value = 1 << 40
    for i in range(5):
        create(fsn, f"/user/f{i}")
    assert proc.reads == 0


def test_usage_reports_objects_memory_budget_and_hdfs_heap_estimate(fsn, proc):
    fsn.budget = budget(proc, max_memory=256 * MiB, max_objects=1000, baseline_rss=60 * MiB)
    fsn.register_datanode("uuid-1", "host-1", "127.0.0.1:9001")
    create(fsn, "/user/a")
    files.add_block(fsn, fsn.ns.caller("admin"), "/user/a", "c1", None, set(), "")
    usage = fsn.budget.usage(fsn)
    total = objects(fsn)
    assert (usage["files"], usage["directories"], usage["blocks"]) == (1, 2, 1) and usage["objects"] == total == 4
    assert usage["rss_bytes"] == 100 * MiB and usage["baseline_rss_bytes"] == 60 * MiB
    assert usage["bytes_per_object"] == 40 * MiB // total
    assert usage["max_memory"] == 256 * MiB and usage["max_objects"] == 1000
    assert usage["hdfs_heap_estimate"] == HDFS_BYTES_PER_OBJECT * total
    assert usage["budget_refusal"] == ""
    proc.value = 512 * MiB
    assert "memory budget reached" in fsn.budget.usage(fsn)["budget_refusal"]


def test_config_reads_validates_and_dumps_the_budget():
    raw = {"nameservices": {"ns-a": {"address": "127.0.0.1:0", "max_memory": "256M", "max_objects": 5000},
                            "ns-b": {"address": "127.0.0.1:0"}}}
    cfg = hconfig.from_dict(raw, "test.toml")
    assert (cfg.nameservices["ns-a"].max_memory, cfg.nameservices["ns-a"].max_objects) == (256 * MiB, 5000)
    assert (cfg.nameservices["ns-b"].max_memory, cfg.nameservices["ns-b"].max_objects) == (0, 0)
    assert hconfig.from_dict(tomllib.loads(hconfig.dump(cfg))).nameservices == cfg.nameservices
    for key, value, complaint in (("max_memory", "-1G", "is negative"), ("max_objects", -3, "is negative"),
                                  ("max_memory", "lots", "is not a size"), ("max_objects", "1k", "is not a whole")):
        bad = {"nameservices": {"ns-a": {"address": "127.0.0.1:0", key: value}}}
        with pytest.raises(ValueError, match=f"test.toml: nameservice 'ns-a': {key} = .* {complaint}"):
            hconfig.from_dict(bad, "test.toml")


def test_a_budget_with_no_room_for_an_empty_namespace_is_refused():
    with pytest.raises(ValueError, match="nameservice ns-a: max_memory = 1048576 .1.0 MiB. is below what an "
                                         "empty namespace needs: the NameNode's RSS is already 48.0 MiB"):
        refuse_impossible("ns-a", "c.toml", 1 * MiB, 0, empty_rss=48 * MiB, empty_objects=3)
    with pytest.raises(ValueError, match="max_objects = 3 leaves no room: an empty namespace already has 3"):
        refuse_impossible("ns-a", "c.toml", 0, 3, empty_rss=48 * MiB, empty_objects=3)
    refuse_impossible("ns-a", "c.toml", 64 * MiB, 4, empty_rss=48 * MiB, empty_objects=3)   # room: no error
