"""bench/move.py and bench/rebalance.py in their tiny modes (seconds, real clusters):
each runs to the end and writes its report with the figures it promises."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def run_bench(module: str, results: Path, timeout: float = 300):
    done = subprocess.run([sys.executable, "-m", module, "--tiny", "--results", str(results)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def test_move_bench_writes_its_figures(tmp_path):
    done = run_bench("bench.move", tmp_path)
    figures = json.loads((tmp_path / "move.json").read_text())
    page = (tmp_path / "move.md").read_text()
    assert figures["move"]["files"] == figures["files"]
    assert figures["verify"]["wrong"] == 0 and figures["verify"]["files_listed"] == figures["files"]
    assert figures["copy"]["files"] > 0 and figures["speedup"] > 0
    assert figures["deletes"]["settled"] and figures["deletes"]["remaining"] == 0
    for text in ("seconds per 10,000 files", "move vs copy", "disk growth", "Tiny run"):
        assert text in page
    assert "x (goal >= 20x)" in done.stdout and "disk growth" in done.stdout


def test_rebalance_bench_writes_its_figures(tmp_path):
    done = run_bench("bench.rebalance", tmp_path)
    figures = json.loads((tmp_path / "rebalance.json").read_text())
    page = (tmp_path / "rebalance.md").read_text()
    assert (tmp_path / "rebalance.png").stat().st_size > 10_000
    assert figures["writes"]["nospace"] > 0                 # the users reached the wall
    assert figures["placed"]["proj-b"]["namespace"] == "ns-c"
    assert figures["placed"]["proj-a"]["namespace"] == "ns-b"
    assert {"ns-a", "ns-b", "ns-c"} <= {row["ns"] for row in figures["samples"]}
    assert figures["final"]["ns-c"]["files"] >= figures["moved"]["report"]["files"] > 0
    for text in ("longest create of proj-b's writers while the move ran", "read errors", "creates/s after the move",
                 "rebalance.png", "Tiny run"):
        assert text in page
    assert "longest proj-b create during the move" in done.stdout
