"""README.md's examples run, in order, against a real local cluster in a fresh directory.

The shell blocks share one bash session and the Python blocks one interpreter, as a user
pasting the README top to bottom would have them (see readme_runner.py). Everything lives
in a temporary directory: HOME, HFED_HOME (so the cluster `hfed cluster up` makes, its
config, tokens and logs) and the working directory; the user's ~/.hfed is never read.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import psutil
import pytest

from readme_runner import ReadmeRunner, parse_blocks

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
# Variables a user's own shell might carry that would point the examples elsewhere.
FOREIGN = ("HFED_CONF", "HFED_HOST", "HFED_USER", "HFED_GROUPS", "HFED_TOKEN_FILE",
           "HFED_JOB_DIR", "HFED_INPUT_PLAN", "HFED_WORKER_HOSTS", "TF_CONFIG", "VIRTUAL_ENV")


def test_every_block_has_a_decision():
    blocks = parse_blocks(README.read_text())
    undecided = [f"line {b.line} ({b.lang or 'no language'})" for b in blocks if b.kind == "unknown"]
    assert not undecided, ("README.md blocks with no runnable language and no "
                           "`<!-- illustrative: REASON -->` marker: " + ", ".join(undecided))


def _readme_env(root: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in FOREIGN}
    home = root / "home"
    home.mkdir()
    venv_bin = str(Path(sys.executable).parent)
    env.update(HOME=str(home), HFED_HOME=str(home / ".hfed"), PYTHONPATH=str(REPO),
               PATH=venv_bin + os.pathsep + env.get("PATH", ""), PYTHONUNBUFFERED="1",
               TF_CPP_MIN_LOG_LEVEL="2")
    return env


def _stop_leftovers(root: Path) -> None:
    """Stop any daemon of this run still alive (started with paths under root)."""
    mine = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if any(str(root) in arg for arg in proc.info["cmdline"] or ()):
                mine.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    for proc in mine:
        proc.kill()
    psutil.wait_procs(mine, timeout=10)


@pytest.mark.timeout(900)
def test_readme_runs_as_written(tmp_path):
    blocks = parse_blocks(README.read_text())
    work, scratch = tmp_path / "work", tmp_path / "blocks"
    work.mkdir(), scratch.mkdir()
    # A clone has .venv after `make install`; here the running interpreter's venv stands in.
    venv = Path(sys.prefix)
    if (venv / "bin" / "activate").exists():
        (work / ".venv").symlink_to(venv)
    env = _readme_env(tmp_path)
    runner = ReadmeRunner(work, scratch, env)
    try:
        for block in blocks:
            if block.kind in ("shell", "python"):
                runner.run(block)
    finally:
        print("seconds per block: " + ", ".join(f"line {line}: {sec:.1f}" for line, sec in runner.seconds.items()))
        runner.close()
        if os.environ.get("HFED_README_TRANSCRIPT"):      # keep the blocks' output to read
            import shutil
            shutil.copy(runner.transcript, os.environ["HFED_README_TRANSCRIPT"])
        cluster = Path(env["HFED_HOME"]) / "cluster"
        if (cluster / "hfed.toml").exists():
            import subprocess
            subprocess.run([sys.executable, "-m", "client.cli", "cluster", "down", "--dir", str(cluster)],
                           env=env, cwd=REPO, capture_output=True, timeout=120)
        _stop_leftovers(tmp_path)
    illustrative = [b for b in blocks if b.kind == "illustrative"]
    print(f"README.md: {len(runner.executed)} blocks executed, {len(illustrative)} illustrative: "
          + "; ".join(f"line {b.line}: {b.illustrative}" for b in illustrative))
    assert runner.executed, "no README block was run"
