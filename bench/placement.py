"""Rack-aware placement (namenode/placement.py) against the rack-blind choose_targets it
replaced: where 10,000 blocks of replication 3 land, and what choosing costs per block.

    python -m bench.placement [--blocks 10000] [--rounds 5] [--baseline REV]

The baseline is choose_targets as it was in namenode/blocks.py at ``REV`` (default: the
commit before namenode/placement.py was added), read with ``git show``. Both policies get
the same live DataNodes (real DatanodeInfo objects, racks set as the NameNode sets them at
registration) and the same writers: each DataNode's host in turn, then a client on no
DataNode. Each round times both over all blocks, which one first alternating; the cost is
the median round's. Figures: blocks whose replicas span 2+ racks, the most replicas of one
block on one host, blocks whose first replica is on the writer's host when a DataNode runs
there. Writes bench/results/placement.md.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import time
import types
from collections import Counter
from pathlib import Path

from namenode.datanodes import DatanodeInfo
from namenode.placement import choose_targets

REPO = Path(__file__).resolve().parents[1]
SHAPES = ((6, 1), (6, 2), (60, 6))        # (DataNodes, racks)


def baseline_revision() -> str:
    added = subprocess.run(["git", "-C", str(REPO), "log", "--diff-filter=A", "--format=%H", "-1", "--",
                            "namenode/placement.py"], check=True, capture_output=True, text=True).stdout.strip()
    return f"{added}~1"


def baseline_policy(rev: str):
    """choose_targets from namenode/blocks.py at ``rev``."""
    source = subprocess.run(["git", "-C", str(REPO), "show", f"{rev}:namenode/blocks.py"], check=True,
                            capture_output=True, text=True).stdout
    module = types.ModuleType("baseline_blocks")
    exec(compile(source, f"{rev}:namenode/blocks.py", "exec"), module.__dict__)
    return module.choose_targets


def datanodes(count: int, racks: int) -> list[DatanodeInfo]:
    return [DatanodeInfo(f"uuid-{i}", f"host-{i}", f"127.0.0.1:{9000 + i}", 0.0, remaining=1 << 40,
                         rack=f"/rack-{(i - 1) % racks + 1}") for i in range(1, count + 1)]


def place(policy, nodes, blocks: int, writers: list[str]) -> tuple[float, dict]:
    """Seconds to place ``blocks`` blocks, and where they went."""
    started = time.perf_counter()
    placements = [policy(3, nodes, writers[i % len(writers)]) for i in range(blocks)]
    elapsed = time.perf_counter() - started
    local = [i for i in range(blocks) if writers[i % len(writers)].startswith("host-")]
    figures = {
        "spanning": sum(len({dn.rack for dn in p}) >= 2 for p in placements),
        "max_per_node": max(max(Counter(dn.host_label for dn in p).values()) for p in placements),
        "local_first": sum(placements[i][0].host_label == writers[i % len(writers)] for i in local),
        "local_writers": len(local),
        "placed": sum(len(p) == 3 for p in placements),
    }
    return elapsed, figures


def run(blocks: int, rounds: int, rev: str) -> list[str]:
    baseline = baseline_policy(rev)
    lines = ["# Replica placement: rack-aware vs. the rack-blind policy before it", "",
             f"`python -m bench.placement --blocks {blocks} --rounds {rounds}`; baseline: choose_targets of "
             f"`{rev}` (namenode/blocks.py). Replication 3; writers: each DataNode's host in turn, then a client "
             f"on no DataNode. Cost: median of {rounds} rounds, per block.", "",
             "| DataNodes / racks | policy | blocks spanning 2+ racks | max replicas on one node "
             "| first replica on the writer's node | µs per block |",
             "|---|---|---|---|---|---|"]
    for count, racks in SHAPES:
        nodes = datanodes(count, racks)
        writers = [dn.host_label for dn in nodes] + ["client-off-cluster"]
        times = {"rack-aware": [], "rack-blind (before)": []}
        figures = {}
        for r in range(rounds):
            order = [("rack-aware", choose_targets), ("rack-blind (before)", baseline)]
            for name, policy in order if r % 2 == 0 else order[::-1]:
                elapsed, figures[name] = place(policy, nodes, blocks, writers)
                times[name].append(elapsed)
        cost = {name: statistics.median(t) / blocks * 1e6 for name, t in times.items()}
        for name, f in figures.items():
            lines.append(f"| {count} / {racks} | {name} | {f['spanning']} of {blocks} "
                         f"({100 * f['spanning'] / blocks:.1f} %) | {f['max_per_node']} "
                         f"| {f['local_first']} of {f['local_writers']} | {cost[name]:.1f} |")
        ratio = cost["rack-aware"] / cost["rack-blind (before)"]
        lines.append(f"| {count} / {racks} | **cost ratio** (rack-aware / before) | | | | **{ratio:.2f}x** |")
        print(f"{count} DataNodes, {racks} racks: rack-aware {cost['rack-aware']:.1f} µs/block, "
              f"before {cost['rack-blind (before)']:.1f} µs/block, ratio {ratio:.2f}x; spanning "
              f"{figures['rack-aware']['spanning']}/{blocks} vs {figures['rack-blind (before)']['spanning']}/{blocks}, "
              f"max per node {figures['rack-aware']['max_per_node']}", flush=True)
    lines += ["", "An AddBlock is an RPC of its own (about 1 ms on this machine: bench/results/nnbench.md, "
              "create); the placement cost above is per call of choose_targets, in the NameNode's lock."]
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blocks", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline", help="git revision whose namenode/blocks.py choose_targets is the baseline")
    a = parser.parse_args(argv)
    lines = run(a.blocks, a.rounds, a.baseline or baseline_revision())
    out = REPO / "bench" / "results" / "placement.md"
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
