"""The input plan of the TensorFlow adapter: pure logic, no TensorFlow, no cluster."""
import random

import pytest

from client.tf_assign import FileLayout, InputPlan, assign_files, check_worker_index, epoch_shares, steps_per_epoch

MB = 1 << 20


def single_block(path, size, *hosts):
    return FileLayout(path, "ns-b", size, ((size, tuple(sorted(hosts))),))


def test_every_file_exactly_once_and_all_local_when_replicas_spread():
    hosts = ["host-1", "host-2", "host-3"]
    files = [single_block(f"/data/s{i:03d}", 10 * MB, hosts[i % 3]) for i in range(30)]
    plan = assign_files(files, hosts)
    shares = [plan.files_of(w) for w in range(3)]
    assert sorted(f.path for share in shares for f in share) == sorted(f.path for f in files)
    for w, share in enumerate(shares):
        assert all(f.local_bytes(hosts[w]) == f.size for f in share)
        assert plan.bytes_of(w) == 100 * MB


def test_balances_bytes_when_every_host_holds_everything():
    hosts = ["host-1", "host-2", "host-3"]
    rng = random.Random(7)
    files = [single_block(f"/data/f{i}", rng.randint(1, 64) * MB, *hosts) for i in range(40)]
    plan = assign_files(files, hosts)
    loads = [plan.bytes_of(w) for w in range(3)]
    assert max(loads) - min(loads) <= 64 * MB
    assert all(plan.local_bytes_of(w) == loads[w] for w in range(3))


def test_worker_without_local_replicas_takes_the_overflow_remotely():
    hosts = ["host-1", "host-2", "elsewhere"]
    files = [single_block(f"/data/s{i}", 10 * MB, hosts[i % 2]) for i in range(30)]
    plan = assign_files(files, hosts, imbalance=0.1)
    assert plan.files_of(2), "the worker with no replicas must still get a share"
    assert plan.local_bytes_of(2) == 0
    assert plan.bytes_of(0) <= 110 * MB + 10 * MB and plan.bytes_of(1) <= 120 * MB
    assert sum(plan.bytes_of(w) for w in range(3)) == 300 * MB


def test_locality_wins_within_the_imbalance_allowance():
    hosts = ["host-1", "host-2"]
    # 3 files local to host-1, 2 to host-2: uneven but within 50% of an even share
    files = [single_block(f"/a{i}", MB, "host-1") for i in range(3)] + \
            [single_block(f"/b{i}", MB, "host-2") for i in range(2)]
    plan = assign_files(files, hosts, imbalance=0.5)
    assert plan.local_bytes_of(0) + plan.local_bytes_of(1) == 5 * MB


def test_multi_block_file_goes_to_the_host_with_most_of_its_bytes():
    f = FileLayout("/data/big", "ns-b", 3 * MB, ((MB, ("host-1",)), (MB, ("host-2",)), (MB, ("host-2",))))
    plan = assign_files([f], ["host-1", "host-2"], imbalance=1.0)
    assert plan.owner == (1,)


def test_deterministic_whatever_the_input_order_and_round_trips_as_json():
    hosts = ["host-1", "host-2", "host-3"]
    files = [single_block(f"/data/s{i}", (i % 5 + 1) * MB, hosts[i % 3], hosts[(i + 1) % 3]) for i in range(25)]
    plan = assign_files(files, hosts)
    shuffled = files[:]
    random.Random(1).shuffle(shuffled)
    again = assign_files(shuffled, hosts)
    assert again == plan and again.digest() == plan.digest()
    assert InputPlan.from_json(plan.to_json()) == plan


def test_more_workers_than_files_and_empty_files():
    plan = assign_files([single_block("/x", 0), single_block("/y", 5, "host-1")], ["host-1", "host-2", "host-3"])
    assert sorted(plan.owner) == sorted(set(plan.owner)) and len(plan.owner) == 2
    assert plan.owner[plan.files.index(single_block("/y", 5, "host-1"))] == 0


def test_bad_worker_index_and_empty_worker_list():
    with pytest.raises(ValueError, match="worker_index 3 is out of range for 3 workers"):
        check_worker_index(3, 3)
    with pytest.raises(ValueError, match="out of range"):
        check_worker_index(-1, 2)
    with pytest.raises(ValueError, match="worker_hosts is empty"):
        assign_files([], [])
    with pytest.raises(ValueError, match="inconsistent"):
        InputPlan.from_json('{"worker_hosts": ["h"], "owner": [1], "files": '
                            '[{"path": "/a", "nameservice": "n", "size": 1, "blocks": []}]}')


# ------------------------------------------------------------------ exact epochs

def plan_with_records(counts_by_worker, hosts=("host-1", "host-2", "host-3")):
    """A plan whose worker w owns files with the given record counts (one file per count)."""
    files, owner = [], []
    for w, counts in enumerate(counts_by_worker):
        for j, records in enumerate(counts):
            files.append(FileLayout(f"/data/w{w}-{j}", "ns-b", records * 100, ((records * 100, (hosts[w],)),),
                                    records))
            owner.append(w)
    return InputPlan(tuple(files), tuple(hosts[:len(counts_by_worker)]), tuple(owner))


def records_read(plan, shares):
    """(file path, record number) of every record the shares read."""
    return [(plan.files[s.file].path, r) for share in shares for s in share.segments for r in range(s.start, s.stop)]


def every_record(plan):
    return [(f.path, r) for f in plan.files for r in range(f.records)]


def test_exact_epochs_pad_reads_every_record_once_with_equal_element_counts():
    plan = plan_with_records([[100, 79], [138], [70, 68]])          # 179 / 138 / 138 = 455 = 3 * 151 + 2
    shares = epoch_shares(plan, "pad")
    assert sorted(records_read(plan, shares)) == sorted(every_record(plan))
    assert [s.elements for s in shares] == [152, 152, 152]
    assert sorted(s.records for s in shares) == [151, 152, 152] and sum(s.padding for s in shares) == 1
    # locality: a worker keeps its own files up to its share; only the surplus moves
    own = [sum(s.records for s in share.segments if plan.owner[s.file] == w) for w, share in enumerate(shares)]
    assert own == [152, 138, 138]


def test_exact_epochs_move_records_to_a_worker_holding_a_replica():
    # Worker 0 (host-1) holds 28 records above an even share (151); worker 2 (host-3) is 28 short.
    # Of worker 0's files only /data/a-both also has a replica on host-3: its tail is what moves.
    def layout(path, records, *hosts):
        return FileLayout(path, "ns-b", records * 100, ((records * 100, hosts),), records)
    files = (layout("/data/a-both", 79, "host-1", "host-3"), layout("/data/b-only-1", 100, "host-1"),
             layout("/data/c", 151, "host-2"), layout("/data/d", 123, "host-3"))
    plan = InputPlan(files, ("host-1", "host-2", "host-3"), (0, 0, 1, 2))
    shares = epoch_shares(plan, "pad")
    assert sorted(records_read(plan, shares)) == sorted(every_record(plan))
    assert [s.elements for s in shares] == [151, 151, 151]
    for worker, share in enumerate(shares):
        assert all(plan.files[s.file].local_bytes(plan.worker_hosts[worker]) > 0 for s in share.segments)
    assert (0, 51, 79) in [(s.file, s.start, s.stop) for s in shares[2].segments]


def test_exact_epochs_move_records_through_a_third_worker_to_stay_local():
    # 350 records: shares 117/117/116. Worker 0 (host-1) is 83 over, worker 1 17 short, worker 2
    # (host-3) 66 short, and no file of worker 0 has a replica on host-3: worker 1 hands worker 2
    # 66 records of its file that does and takes 17 + 66 of worker 0's. Every read stays local.
    def layout(path, records, *hosts):
        return FileLayout(path, "ns-b", records * 100, ((records * 100, hosts),), records)
    files = (layout("/data/a", 200, "host-1", "host-2"), layout("/data/b", 100, "host-2", "host-3"),
             layout("/data/c", 50, "host-3"))
    plan = InputPlan(files, ("host-1", "host-2", "host-3"), (0, 1, 2))
    shares = epoch_shares(plan, "pad")
    assert sorted(records_read(plan, shares)) == sorted(every_record(plan))
    assert [s.records for s in shares] == [117, 117, 116] and [s.elements for s in shares] == [117] * 3
    for worker, share in enumerate(shares):
        assert all(plan.files[s.file].local_bytes(plan.worker_hosts[worker]) > 0 for s in share.segments)


def test_exact_epochs_drop_leaves_out_only_the_last_records():
    plan = plan_with_records([[179], [138], [138]])
    shares = epoch_shares(plan, "drop")
    assert [s.elements for s in shares] == [151, 151, 151] and all(s.padding == 0 for s in shares)
    read = records_read(plan, shares)
    assert len(read) == len(set(read)) == 453
    assert set(every_record(plan)) - set(read) == {("/data/w2-0", 136), ("/data/w2-0", 137)}


def test_exact_epochs_property_over_random_plans():
    rng = random.Random(11)
    for _ in range(200):
        workers = rng.randint(1, 3)
        counts = [[rng.randint(0, 40) for _ in range(rng.randint(0, 4))] for _ in range(workers)]
        plan = plan_with_records(counts)
        total = sum(map(sum, counts))
        for remainder in ("pad", "drop"):
            if total == 0:
                continue
            shares = epoch_shares(plan, remainder)
            read = records_read(plan, shares)
            assert len(read) == len(set(read)), "no record twice"
            assert len({s.elements for s in shares}) == 1, "every worker the same element count"
            missing = len(every_record(plan)) - len(read)
            assert missing == (0 if remainder == "pad" else total % workers)
            assert all(0 <= s.padding <= (1 if remainder == "pad" else 0) for s in shares)
            assert all(seg.records > 0 for share in shares for seg in share.segments)


def test_exact_epochs_need_record_counts_and_a_known_policy():
    plan = assign_files([single_block("/data/a", MB, "host-1")], ["host-1"])
    with pytest.raises(ValueError, match="record count.*/data/a"):
        epoch_shares(plan, "pad")
    with pytest.raises(ValueError, match="remainder must be one of pad, drop"):
        epoch_shares(plan_with_records([[3]]), "spread")


def test_record_counts_travel_with_the_plan_and_steps_are_computed_like_batch():
    plan = plan_with_records([[5, 7], [3]])
    assert InputPlan.from_json(plan.to_json()) == plan
    old = '{"worker_hosts": ["h"], "owner": [0], "files": [{"path": "/a", "nameservice": "n", "size": 1, "blocks": []}]}'
    assert InputPlan.from_json(old).files[0].records is None            # plans written before counts still load
    assert steps_per_epoch(152, 32) == 5 and steps_per_epoch(152, 32, drop_remainder=True) == 4
    assert steps_per_epoch(0, 8) == 0
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        steps_per_epoch(10, 0)
