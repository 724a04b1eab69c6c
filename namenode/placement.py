"""Where a block's replicas go: HDFS's default placement policy (BlockPlacementPolicyDefault).

First replica on the writer's host when a DataNode runs there, else on the best-placed one;
second on another rack; third on the second's rack, another host; any more wherever the
per-rack limit allows, (replicas - 1) // racks + 2. Never two replicas on one host. When
replicas already exist (re-replication, a pipeline rebuilt after a failure) they count as
the first ones, so a block that sits on one rack gets its next replica on another. With one
rack the rack rules change nothing. Among the nodes a rule allows, the least busy and then
the emptiest comes first (ties broken at random so equal nodes share the load).

When no node satisfies the rack rules, the replica goes to any other host rather than not
at all: fewer copies would be worse than copies on fewer racks.
"""
from __future__ import annotations

import random
from collections import Counter


def max_per_rack(total_replicas: int, racks: int) -> int:
    """HDFS's limit on the replicas of one block in one rack."""
    if racks <= 1 or total_replicas <= 1:
        return total_replicas
    return (total_replicas - 1) // racks + 2


def choose_targets(count: int, candidates: list, writer_host: str = "", exclude_hosts=(), existing=()) -> list:
    """Pick up to ``count`` of ``candidates`` (live DataNodeInfo objects that take new
    replicas) on distinct hosts, none in ``exclude_hosts``. ``existing``: DataNodes that
    already hold (or are receiving) the block."""
    existing = list(existing)
    hosts = set(exclude_hosts) | {n.host_label for n in existing}
    pool = [dn for dn in candidates if dn.host_label not in hosts]
    random.shuffle(pool)   # break ties so equal nodes share the load
    pool.sort(key=lambda dn: (dn.active_transfers, -dn.remaining))
    racks = {dn.rack for dn in pool} | {n.rack for n in existing}
    limit = max_per_rack(min(len(existing) + count, len(existing) + len({dn.host_label for dn in pool})),
                         len(racks))
    per_rack = Counter(n.rack for n in existing)
    placed, chosen = existing, []

    def take(allowed) -> bool:
        for dn in pool:
            if dn.host_label not in hosts and allowed(dn):
                chosen.append(dn)
                placed.append(dn)
                hosts.add(dn.host_label)
                per_rack[dn.rack] += 1
                return True
        return False

    def fits(dn) -> bool:
        return per_rack[dn.rack] < limit

    while len(chosen) < count:
        if not placed:
            wanted = lambda dn: dn.host_label == writer_host
        elif len({n.rack for n in placed}) == 1:
            rack = placed[0].rack
            wanted = lambda dn: dn.rack != rack
        elif len(placed) == 2:
            rack = placed[1].rack
            wanted = lambda dn: dn.rack == rack
        else:
            wanted = None
        if not ((wanted is not None and take(lambda dn: wanted(dn) and fits(dn)))
                or take(fits) or take(lambda dn: True)):
            break
    return chosen
