"""The input plan of the TensorFlow adapter: pure logic, no TensorFlow, no cluster."""
import random

import pytest

from client.tf_assign import FileLayout, InputPlan, assign_files, check_worker_index

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
