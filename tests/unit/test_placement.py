"""HDFS's default placement policy (namenode/placement.py) over real DatanodeInfo objects."""
from collections import Counter

from hypothesis import given, settings, strategies as st

from namenode.datanodes import DatanodeInfo
from namenode.placement import choose_targets, max_per_rack


def cluster(racks: list[int], remaining=1 << 30) -> list[DatanodeInfo]:
    """DataNodes host-1..host-N, racks[i] of them on /rack-(i+1)."""
    nodes, n = [], 0
    for r, count in enumerate(racks, 1):
        for _ in range(count):
            n += 1
            nodes.append(DatanodeInfo(f"uuid-{n}", f"host-{n}", f"127.0.0.1:{9000 + n}", 0.0,
                                      remaining=remaining, rack=f"/rack-{r}"))
    return nodes


def test_ten_thousand_blocks_on_two_racks_span_both_with_one_replica_per_node_and_a_local_first():
    nodes = cluster([3, 3])
    writers = [dn.host_label for dn in nodes] + ["client-elsewhere"]
    spanning, per_node_max, local_first, placed = 0, 0, 0, Counter()
    for i in range(10_000):
        writer = writers[i % len(writers)]
        targets = choose_targets(3, nodes, writer)
        assert len(targets) == 3
        per_node_max = max(per_node_max, max(Counter(t.host_label for t in targets).values()))
        spanning += len({t.rack for t in targets}) == 2
        local_first += targets[0].host_label == writer
        # HDFS's pattern: the second on another rack than the first, the third beside the second.
        assert targets[1].rack != targets[0].rack and targets[2].rack == targets[1].rack
        placed.update(t.host_label for t in targets)
    assert spanning == 10_000
    assert per_node_max == 1
    assert local_first == sum(1 for i in range(10_000) if writers[i % len(writers)] != "client-elsewhere")
    assert min(placed.values()) > 0.5 * max(placed.values())      # ties are shared, not piled on one node


def test_one_rack_places_as_before_writer_first_then_the_emptiest():
    nodes = cluster([4])
    nodes[2].remaining = 10 << 30
    targets = choose_targets(3, nodes, "host-4")
    assert [t.host_label for t in targets[:2]] == ["host-4", "host-3"]
    assert len({t.host_label for t in targets}) == 3


def test_existing_replicas_on_one_rack_get_the_next_on_another():
    nodes = cluster([3, 2])
    existing = nodes[:2]                                # both on /rack-1
    targets = choose_targets(1, nodes, existing=existing, exclude_hosts={n.host_label for n in existing})
    assert targets[0].rack == "/rack-2"


def test_a_rebuilt_pipeline_without_the_failed_node_still_spans_racks():
    nodes = cluster([2, 2])
    failed = nodes[2]                                   # one of the two on /rack-2
    targets = choose_targets(3, [n for n in nodes if n is not failed], "host-1")
    assert {t.rack for t in targets} == {"/rack-1", "/rack-2"} and failed not in targets


def test_too_few_nodes_on_other_racks_still_places_every_replica():
    nodes = cluster([4, 1])
    targets = choose_targets(4, nodes, "host-1")
    assert len({t.host_label for t in targets}) == 4 and {t.rack for t in targets} == {"/rack-1", "/rack-2"}


def test_never_more_targets_than_hosts():
    assert len(choose_targets(5, cluster([1, 1]))) == 2


@settings(max_examples=200, deadline=None)
@given(racks=st.lists(st.integers(1, 5), min_size=1, max_size=5), replication=st.integers(1, 6),
       writer=st.integers(0, 30))
def test_any_cluster_shape(racks, replication, writer):
    nodes = cluster(racks)
    writer_host = f"host-{writer}"
    targets = choose_targets(replication, nodes, writer_host)
    hosts = [t.host_label for t in targets]
    assert len(hosts) == len(set(hosts)) == min(replication, len(nodes))       # never two on one node
    if any(n.host_label == writer_host for n in nodes):
        assert hosts[0] == writer_host
    if len(racks) > 1 and len(targets) > 1:
        assert len({t.rack for t in targets}) >= 2
    # The per-rack limit holds wherever the racks have room for it.
    limit = max_per_rack(len(targets), len(racks))
    if all(count >= limit for count in racks):
        assert max(Counter(t.rack for t in targets).values()) <= limit
