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
from operator import attrgetter


def max_per_rack(total_replicas: int, racks: int) -> int:
    """HDFS's limit on the replicas of one block in one rack."""
    if racks <= 1 or total_replicas <= 1:
        return total_replicas
    return (total_replicas - 1) // racks + 2


def _load(dn):
    return dn.active_transfers, -dn.remaining


_rack = attrgetter("rack")


def choose_targets(count: int, candidates: list, writer_host: str = "", exclude_hosts=(), existing=()) -> list:
    """Pick up to ``count`` of ``candidates`` (live DataNodeInfo objects that take new
    replicas) on distinct hosts, none in ``exclude_hosts``. ``existing``: DataNodes that
    already hold (or are receiving) the block."""
    placed = list(existing)
    hosts = set(exclude_hosts)
    per_rack: dict[str, int] = {}
    for n in placed:
        hosts.add(n.host_label)
        per_rack[n.rack] = per_rack.get(n.rack, 0) + 1
    pool = [dn for dn in candidates if dn.host_label not in hosts] if hosts else list(candidates)
    random.shuffle(pool)   # break ties so equal nodes share the load
    pool.sort(key=_load)
    racks = set(map(_rack, pool))
    racks.update(per_rack)
    limit = max_per_rack(len(placed) + min(count, len(pool)), len(racks))
    chosen, local = [], None
    if writer_host and not placed:
        for dn in pool:
            if dn.host_label == writer_host:
                local = dn
                break
    while len(chosen) < count:
        if local is not None:                 # the writer's own node first
            dn, local = local, None
        else:
            dn = _pick(pool, hosts, per_rack, limit, *(_wanted(placed) if len(racks) > 1 else (None, None)))
            if dn is None:
                break
        chosen.append(dn)
        placed.append(dn)
        hosts.add(dn.host_label)
        per_rack[dn.rack] = per_rack.get(dn.rack, 0) + 1
    return chosen


def _wanted(placed: list) -> tuple:
    """What HDFS's policy asks of the next replica, given those placed so far."""
    first = placed[0].rack if placed else None
    if first is not None and all(n.rack == first for n in placed):
        return _OFF_RACK, first    # all on one rack: the next on another
    if len(placed) == 2:
        return _ON_RACK, placed[1].rack     # the third beside the second
    return None, None


_OFF_RACK, _ON_RACK = 1, 2


def _pick(pool: list, hosts: set, per_rack: dict, limit: int, kind, value):
    """The first node of ``pool`` on a host not yet used: one ``kind``/``value`` asks for
    within the rack limit, else any within the limit, else any at all."""
    within = anyone = None
    for dn in pool:
        if dn.host_label in hosts:
            continue
        if anyone is None:
            anyone = dn
        if per_rack.get(dn.rack, 0) >= limit:
            continue
        if kind is None or (kind == _OFF_RACK and dn.rack != value) or (kind == _ON_RACK and dn.rack == value):
            return dn
        if within is None:
            within = dn
    return within or anyone
