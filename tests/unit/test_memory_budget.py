"""The namespace memory budget driven by plain calls: a real Namesystem, a fake RSS and clock."""
import errno
import io
import tomllib

import pytest

from namenode.budget import (HDFS_BYTES_PER_OBJECT, WARMUP_BYTES, WARMUP_CHECKS, MemoryBudget, refuse_impossible,
                             table_bytes)
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


class TablesProcess(FakeProcess):
    """A NameNode process whose RSS is its baseline, a fixed overhead and the namespace's
    tables, as their own byte counts say (plus ``extra``, memory outside the model)."""
    def __init__(self, fsn, baseline=60 * MiB, overhead=2 * MiB):
        super().__init__()
        self.fsn, self.baseline, self.overhead, self.extra, self.trims = fsn, baseline, overhead, 0, 0

    def rss(self):
        self.reads += 1
        return self.baseline + self.overhead + self.extra + table_bytes(self.fsn)

    def trim(self):
        self.trims += 1


def modelled(fsn, proc, room, **kwargs):
    """A memory budget of ``room`` bytes above the process's empty RSS, sampling at every check."""
    return MemoryBudget(max_memory=proc.baseline + room, baseline_rss=proc.baseline, rss=proc.rss,
                        clock=proc.clock, trim=proc.trim, sample_interval=0, **kwargs)


def fill_until_refused(fsn, start=0, limit=100_000, prefix="/user/d"):
    """Create files (1,000 per directory) until the budget refuses; (files created, the refusal)."""
    admin = fsn.ns.caller("admin")
    for i in range(start, start + limit):
        try:
            if i % 1000 == 0:
                dirs.mkdirs(fsn, admin, f"{prefix}{i // 1000:04d}", 0o755, False)
            create(fsn, f"{prefix}{i // 1000:04d}/{i:016x}")
        except NoSpace as refused:
            return i - start, refused
    raise AssertionError(f"{limit} files and no refusal")


def test_the_first_refusal_is_the_wall_and_nothing_is_accepted_until_deletes(fsn):
    proc = TablesProcess(fsn)
    fsn.budget = modelled(fsn, proc, room=6 * MiB)
    made, refused = fill_until_refused(fsn)
    wall = objects(fsn)
    assert fsn.budget.wall_objects == wall and fsn.budget.wall_method == "model"
    # Whatever RSS and the clock do now, the wall stands until objects are deleted.
    for rss_change, seconds in ((-2 * MiB, 0.5), (-2 * MiB, 5.0), (0, 60.0)):
        proc.extra, proc.t = rss_change, proc.t + seconds
        for name in ("late", "later"):
            with pytest.raises(NoSpace):
                create(fsn, f"/user/{name}")
        with pytest.raises(NoSpace):
            dirs.mkdirs(fsn, fsn.ns.caller("admin"), "/user/newdir", 0o755, False)
        assert objects(fsn) == wall
    # Deletes make room for as many objects as they freed, and not one more.
    for i in range(5):
        assert dirs.delete(fsn, fsn.ns.caller("admin"), f"/user/d0000/{i:016x}", False)
    for i in range(5):
        create(fsn, f"/user/again{i}")
    with pytest.raises(NoSpace) as again:
        create(fsn, "/user/again5")
    assert objects(fsn) == wall and str(again.value).endswith(str(refused).split(": ", 1)[1])


def test_the_model_refuses_before_rss_reaches_the_budget_and_says_so(fsn):
    proc = TablesProcess(fsn)
    fsn.budget = budget = modelled(fsn, proc, room=6 * MiB)
    made, refused = fill_until_refused(fsn)
    assert proc.rss() <= budget.max_memory          # refused on the prediction, not on the measurement
    message = str(refused)
    assert message.startswith(f"/user/d{made // 1000:04d}/{made:016x} (namespace ns-a): namespace memory budget "
                              f"reached: {objects(fsn):,} objects; one more would need")
    assert "of 66.0 MiB budget, predicted by the model: empty NameNode 60.0 MiB + overhead 2.0 MiB" in message
    assert "+ empty tables " in message and "B (table bytes per object at their highest while growing)" in message
    assert "(delete files or raise max_memory)" in message
    assert budget.predicted(objects(fsn) + 1) > budget.max_memory >= budget.predicted(objects(fsn))


def test_calibration_tables_per_object_at_their_highest_and_overhead_from_trimmed_rss(fsn):
    proc = TablesProcess(fsn, overhead=5 * MiB)
    fsn.budget = budget = modelled(fsn, proc, room=16 * MiB)
    admin = fsn.ns.caller("admin")
    ratios = []
    for i in range(30_000):
        if i % 1000 == 0:
            dirs.mkdirs(fsn, admin, f"/user/d{i // 1000:04d}", 0o755, False)
        create(fsn, f"/user/d{i // 1000:04d}/{i:016x}")
        if i % 500 == 0 and table_bytes(fsn) >= 1 * MiB:    # the calibration threshold: 1/16 of the room
            ratios.append((table_bytes(fsn) - budget.fixed) / objects(fsn))
    budget.sample(fsn, objects(fsn), trim=True)
    assert proc.trims >= 1
    assert budget.overhead == 5 * MiB                 # RSS - baseline - tables, from a trimmed sample
    assert budget.calibrated_at == objects(fsn)
    # The tables grow in steps: their bytes per object is highest just after one, and
    # the model keeps that highest figure (the room the next step takes), not today's.
    assert budget.peak_ratio >= max(ratios) > (table_bytes(fsn) - budget.fixed) / objects(fsn)
    assert budget.bytes_per_object == budget.peak_ratio
    assert budget.fixed > 0                             # the empty tables: not charged per object
    assert budget.warmup() == 0                         # more creates than WARMUP_CHECKS were served
    assert budget.predicted(objects(fsn)) == 60 * MiB + 5 * MiB + budget.fixed + objects(fsn) * budget.peak_ratio
    assert fsn.budget.usage(fsn)["bytes_per_object"] == round(budget.peak_ratio)


def test_until_serving_creates_grew_the_overhead_its_growth_is_reserved(fsn):
    """A NameNode restarted at its wall is idle: serving creates will add to its overhead.
    The budget reserves that growth until it has seen it, or served WARMUP_CHECKS creates."""
    proc = TablesProcess(fsn)
    fsn.budget = budget = modelled(fsn, proc, room=16 * MiB)
    create(fsn, "/user/first")
    assert budget.warmup() == WARMUP_BYTES
    proc.overhead += WARMUP_BYTES // 2                 # serving has grown it by half the reserve
    proc.t += 2.0                                      # (a trimmed sample is due)
    create(fsn, "/user/second")
    assert budget.warmup() == WARMUP_BYTES - WARMUP_BYTES // 2
    proc.overhead += WARMUP_BYTES                      # all of it and more: nothing left to reserve
    proc.t += 2.0
    create(fsn, "/user/third")
    assert budget.warmup() == 0
    quiet = MemoryBudget(max_memory=proc.baseline + 16 * MiB, baseline_rss=proc.baseline, rss=proc.rss,
                         clock=proc.clock, trim=proc.trim)
    fsn.budget = quiet
    for i in range(WARMUP_CHECKS):                     # overhead never grows: the reserve ends anyway
        quiet.check(fsn, f"/user/q{i}")
    assert quiet.warmup() == 0


def test_trimmed_rss_past_the_budget_refuses_even_where_the_model_saw_room(fsn):
    proc = TablesProcess(fsn)
    fsn.budget = budget = modelled(fsn, proc, room=8 * MiB)
    for i in range(10):
        create(fsn, f"/user/f{i}")
    proc.extra = 9 * MiB                               # memory the model does not know about
    with pytest.raises(NoSpace) as refused:
        create(fsn, "/user/f10")
    assert "measured RSS 71.0 MiB (trimmed) of 68.0 MiB budget although the model predicted" in str(refused.value)
    assert budget.wall_method == "measured RSS" and budget.wall_objects == objects(fsn)
    proc.extra = 0
    with pytest.raises(NoSpace):                        # latched like any other wall
        create(fsn, "/user/f10")


def test_a_restart_lands_on_the_same_wall(fsn, tmp_path):
    """The wall follows from what the namespace holds: the same files loaded from an
    image (tables sized differently than when they grew) meet it within 2%."""
    from namenode import image
    from namenode.journal import Journal

    proc = TablesProcess(fsn)
    fsn.budget = modelled(fsn, proc, room=6 * MiB)
    fill_until_refused(fsn, limit=200_000)
    wall = objects(fsn)
    image.write(tmp_path, image.snapshot(fsn, 1))
    restarted = Namesystem("ns-a", "CID", "BP-1", "admin", block_size=1024, replication=1, mount_dirs=("/user",))
    Journal(tmp_path, durable=False).load(restarted)
    assert objects(restarted) == wall
    again = TablesProcess(restarted)
    restarted.budget = modelled(restarted, again, room=6 * MiB)
    fill_until_refused(restarted, start=200_000, prefix="/user/r")
    new_wall = objects(restarted)
    assert abs(new_wall - wall) <= 0.02 * wall, (wall, new_wall)


def test_the_report_names_the_method_that_decided():
    from client import cli_format
    from protos import hfed_pb2 as pb

    def report(**fields):
        out = io.StringIO()
        cli_format._namespace_memory(pb.GetStatsResponse(**fields), out)
        return out.getvalue()

    room = report(objects=50_000, rss_bytes=80 * MiB, baseline_rss_bytes=60 * MiB, bytes_per_object=76,
                  max_memory=100 * MiB)
    assert "Budget method: model (predicted RSS = empty NameNode + overhead + objects x 76 B/object" in room
    full = report(objects=50_000, rss_bytes=80 * MiB, baseline_rss_bytes=60 * MiB, bytes_per_object=76,
                  max_memory=100 * MiB, budget_refusal="namespace memory budget reached: 50,000 objects; one "
                  "more would need 100.1 MiB of 100.0 MiB budget, predicted by the model: ...")
    assert "Budget method: model" in full and "BUDGET REACHED" in full
    measured = report(objects=50_000, rss_bytes=101 * MiB, max_memory=100 * MiB,
                      budget_refusal="namespace memory budget reached: 50,000 objects, measured RSS 101.0 MiB "
                                     "(trimmed) of 100.0 MiB budget although the model predicted 90.0 MiB")
    assert "Budget method: measured RSS (the model predicted room" in measured
    counted = report(objects=10, max_objects=10, budget_refusal="namespace object budget reached: ...")
    assert "Budget method: object count (refused at 10 objects)" in counted
    assert "Budget method" not in report(objects=10)


def test_rss_and_table_sizes_are_sampled_by_time_or_check_count_not_per_operation(fsn):
    proc = TablesProcess(fsn)
    fsn.budget = MemoryBudget(max_memory=256 * MiB, baseline_rss=proc.baseline, rss=proc.rss, clock=proc.clock,
                              trim=proc.trim, sample_interval=0.05, sample_checks=30)
    for i in range(20):
        create(fsn, f"/user/f{i}")
    assert proc.reads == 1 and proc.trims == 1           # the first check samples (and calibrates)
    proc.t = 0.06                                          # time's up: the next check samples again
    create(fsn, "/user/late")
    assert proc.reads == 2 and proc.trims == 1            # trimming only once a second
    for i in range(30):                                    # the clock stands still (one event-loop turn) ...
        create(fsn, f"/user/g{i}")
    assert proc.reads == 3                                 # ... but the 30th check since the sample reads it
    proc.t = 1.5
    create(fsn, "/user/trimmed")
    assert proc.reads == 4 and proc.trims == 2


def test_no_limits_never_refuse(fsn, proc):
    fsn.budget = budget(proc)
    proc.value = 1 << 40
    for i in range(5):
        create(fsn, f"/user/f{i}")
    assert proc.reads == 0


def test_usage_reports_objects_memory_budget_and_hdfs_heap_estimate(fsn, proc):
    fsn.budget = budget(proc, max_objects=1000, baseline_rss=60 * MiB)
    fsn.register_datanode("uuid-1", "host-1", "127.0.0.1:9001")
    create(fsn, "/user/a")
    files.add_block(fsn, fsn.ns.caller("admin"), "/user/a", "c1", None, set(), "")
    usage = fsn.budget.usage(fsn)
    total = objects(fsn)
    assert (usage["files"], usage["directories"], usage["blocks"]) == (1, 2, 1) and usage["objects"] == total == 4
    assert usage["rss_bytes"] == 100 * MiB and usage["baseline_rss_bytes"] == 60 * MiB
    assert usage["bytes_per_object"] == 40 * MiB // total        # no memory model: measured RSS per object
    assert usage["max_memory"] == 0 and usage["max_objects"] == 1000
    assert usage["hdfs_heap_estimate"] == HDFS_BYTES_PER_OBJECT * total
    assert usage["budget_refusal"] == ""
    modelled_proc = TablesProcess(fsn)
    fsn.budget = modelled(fsn, modelled_proc, room=64 * MiB)
    usage = fsn.budget.usage(fsn)
    assert usage["bytes_per_object"] == round((table_bytes(fsn) - fsn.budget.fixed) / total)   # the model's figure
    assert usage["max_memory"] == 124 * MiB and usage["budget_refusal"] == ""
    modelled_proc.extra = 100 * MiB
    assert "measured RSS" in fsn.budget.usage(fsn)["budget_refusal"]


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
