"""Subtree moves interrupted by kill -9, then continued: nothing lost, nothing doubled.

    python -m bench.move_faults [--trials 10] [--files 300] [--seed 1]

One local cluster (ns-a, ns-b, and ns-c added live; 3 DataNodes). Each trial fills
/data/tN in ns-b (small packed files and files of several blocks), starts
`hfed balance /data/tN ns-c` as its own process and, at a random moment, kills
-9 one of: the mover, the source NameNode, the target NameNode, a DataNode
(in turn; a kill that lands after the mover finished interrupts nothing, so that
attempt is reported but not counted and the victim is tried again). Killed daemons are restarted; then `hfed balance -continue` (or, for a
trial the kill left before its journal existed, nothing) must finish the move.
Checked after every trial: every file exists exactly once (by routing, and the
namespace that does not own it holds nothing there), reads back identical, and
fsck of /data (both namespaces) is HEALTHY. Writes bench/results/move_faults.md;
exits non-zero on any failure or when fewer moves were interrupted than asked.
"""
from __future__ import annotations

import argparse
import io
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from client import balance, cli_fsck
from client.fs import HfedFileSystem
from client.minicluster import MiniCluster
from client.namenode_client import NamenodeClient
from protos import errors

VICTIMS = ("mover", "source", "target", "datanode")
STEPS = ("started", "copied", "fenced", "switching", "switched")   # the mover's journal, in order
SMALL = 4096
REPORT = Path(__file__).resolve().parent / "results" / "move_faults.md"


def contents(root: str, count: int, rng: random.Random) -> dict[str, bytes]:
    files = {}
    for i in range(count):
        big = i % 25 == 0
        files[f"{root}/d{i % 7}/f{i}"] = rng.randbytes(rng.randint(70_000, 300_000) if big else rng.randint(1, 3000))
    return files


def start(directory: Path) -> MiniCluster:
    mc = MiniCluster(directory, namespaces=2, datanodes=3, block_size=64 * 1024, replication=3,
                     heartbeat_interval=0.3, dead_interval=4.0, block_report_interval=5.0,
                     settings={"small_file_threshold": SMALL, "pack_age": 3600.0}).up()
    mc.add_namespace("ns-c")
    return mc


def journal_state(mc: MiniCluster, root: str) -> str:
    """The state the mover's journal shows for ``root`` ("-": no journal yet)."""
    journals = balance.journal_dir(mc.config)
    seen = "-"
    for file in journals.glob("*.json") if journals.is_dir() else ():
        try:
            record = json.loads(file.read_text())
        except (OSError, ValueError):
            continue        # being replaced
        if record["path"] == root:
            seen = record["state"]
    return seen


def wait_for_step(mc: MiniCluster, root: str, step: str, mover: subprocess.Popen, timeout: float = 60.0) -> str:
    """Wait until the mover's journal for ``root`` shows ``step`` or a later one (or the mover
    exited); returns the step seen."""
    deadline = time.monotonic() + timeout
    seen = "-"
    while time.monotonic() < deadline and mover.poll() is None:
        seen = journal_state(mc, root)
        if seen in STEPS + ("done",) and (seen == "done" or STEPS.index(seen) >= STEPS.index(step)):
            return seen
        time.sleep(0.01)
    return seen


def check(fs: HfedFileSystem, files: dict[str, bytes], root: str) -> list[str]:
    """What is wrong with the moved subtree (empty: nothing)."""
    problems = []
    fs.session.refresh_mounts()
    owner = fs.session.resolve(root).nameservice
    other = "ns-b" if owner == "ns-c" else "ns-c"
    routed = fs.session.namenode(other)
    plain = NamenodeClient(other, routed.address, metadata=routed.metadata, cfg=fs.session.cfg)
    try:
        for path, data in files.items():
            try:
                if fs.cat_file(path) != data:
                    problems.append(f"{path}: bytes differ")
            except OSError as e:
                problems.append(f"{path}: {e}")
        try:
            plain.get_file_info(root)
            problems.append(f"{root} exists in {other} too")
        except (errors.MountMoved, errors.NotFound):
            pass
    finally:
        plain.close()
    report = io.StringIO()
    if not cli_fsck.fsck(fs, "/data", fs.session.cfg, out=report):
        problems.append("fsck /data is not HEALTHY: " + report.getvalue()[-400:])
    return problems


def trial(mc: MiniCluster, index: int, victim: str, files_per_trial: int, rng: random.Random, log) -> dict:
    root = f"/data/t{index}"
    fs = HfedFileSystem(conf=str(mc.config_path), skip_instance_cache=True)
    try:
        files = contents(root, files_per_trial, rng)
        fs.pipe_many(list(files.items()))
        fs.session.flush_small_files()
        fs.session.namenode("ns-b").pack_now()
        # A random moment of the move: a random step of its journal, then a random delay.
        step = rng.choice(STEPS)
        delay = rng.uniform(0.0, 0.1)
        mover = subprocess.Popen([sys.executable, "-m", "client.cli", "--conf", str(mc.config_path), "balance",
                                  root, "ns-c"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        reached = wait_for_step(mc, root, step, mover)
        time.sleep(delay)
        # Only a kill that lands while the mover still works interrupts the move.
        at_kill = journal_state(mc, root)
        interrupted = mover.poll() is None and at_kill != "done"
        if victim == "mover":
            mover.kill()
        elif victim == "source":
            mc.kill_namenode("ns-b")
        elif victim == "target":
            mc.kill_namenode("ns-c")
        else:
            mc.kill_datanode(mc.host_labels[index % len(mc.host_labels)])
        _, err = mover.communicate(timeout=300)
        mover_exit = mover.returncode
        for row in mc.status():
            if not row["alive"]:
                if row["role"] == "namenode":
                    mc.start_namenode(row["name"])
                else:
                    mc.start_datanode(row["name"])
        mc.wait_for_block_reports(timeout=60)
        continued = []
        deadline = time.monotonic() + 180
        while balance.unfinished(fs.session) and time.monotonic() < deadline:
            try:
                continued += [r.state for r in balance.continue_move(fs.session)]
            except OSError as e:       # e.g. a restarted NameNode still in safe mode: try again
                log(f"  continue: {e}; retrying")
                time.sleep(1)
        problems = check(fs, files, root)
        if balance.unfinished(fs.session):
            problems.append("the move is still unfinished after -continue")
        owner = fs.session.resolve(root).nameservice
        result = dict(trial=index, victim=victim, step=reached, delay=round(delay, 2), at_kill=at_kill,
                      interrupted=interrupted, mover_exit=mover_exit,
                      continued=",".join(continued) or "-", owner=owner, files=len(files), problems=problems)
        log(f"trial {index}: kill {victim} {delay:.2f}s after step {reached} (journal: {at_kill}"
            f"{'' if interrupted else ', the move had finished: not counted'}), mover exit {mover_exit}, continued "
            f"{result['continued']}, now in {owner}: {'OK' if not problems else problems[:3]}")
        if problems and err:
            log("  mover stderr: " + err[-500:])
        return result
    finally:
        fs.close()


def run(trials: int, files_per_trial: int, seed: int, directory: Path, log=print) -> list[dict]:
    """``trials`` moves interrupted by a kill (victims in turn); an attempt whose kill came after
    the move had finished is reported but not counted, and the same victim is tried again."""
    rng = random.Random(seed)
    mc = start(directory)
    results: list[dict] = []
    try:
        for attempt in range(3 * trials):
            counted = sum(r["interrupted"] for r in results)
            if counted == trials:
                break
            results.append(trial(mc, attempt, VICTIMS[counted % len(VICTIMS)], files_per_trial, rng, log))
        return results
    finally:
        mc.down()


def write_report(results: list[dict], seed: int, seconds: float) -> None:
    lines = ["# Subtree moves interrupted by kill -9 (bench/move_faults.py)", "",
             f"{len(results)} trials, seed {seed}, {seconds:.0f} s. Each trial moves /data/tN (ns-b -> ns-c, "
             f"added live), kills one process at a random moment (a random step of the mover's journal, "
             f"then 0-0.1 s), restarts it, runs `hfed balance -continue`, "
             f"then checks every file exactly once with identical bytes and fsck HEALTHY. A kill that came after "
             f"the mover had finished interrupted nothing: that attempt is listed, not counted, and the victim "
             f"is tried again. A mover that exited 0 rode out the kill (it waits for a restarted NameNode); "
             f"one that died left its journal for `-continue`.", "",
             "| attempt | killed | at step (+ s) | journal at the kill | interrupted | mover exit | continued | owner "
             "| files | result |",
             "|---:|---|---|---|---|---:|---|---|---:|---|"]
    for r in results:
        lines.append(f"| {r['trial']} | {r['victim']} | {r['step']} (+{r['delay']}) | {r['at_kill']} | "
                     f"{'yes' if r['interrupted'] else 'no'} | {r['mover_exit']} | {r['continued']} | "
                     f"{r['owner']} | {r['files']} | {'OK' if not r['problems'] else '; '.join(r['problems'][:2])} |")
    failed = sum(bool(r["problems"]) for r in results)
    counted = [r for r in results if r["interrupted"]]
    lines += ["", f"**{sum(not r['problems'] for r in counted)} of {len(counted)} interrupted moves OK** "
                  f"({len(results) - failed} of {len(results)} attempts OK).", ""]
    REPORT.write_text("\n".join(lines))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    a = parser.parse_args(argv)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hfed-move-faults-") as tmp:
        results = run(a.trials, a.files, a.seed, Path(tmp))
    write_report(results, a.seed, time.monotonic() - started)
    failed = [r for r in results if r["problems"]]
    counted = sum(r["interrupted"] for r in results)
    print(f"{counted} moves interrupted ({a.trials} asked), {len(results) - len(failed)} of {len(results)} "
          f"attempts OK; report {REPORT}")
    return 1 if failed or counted < a.trials else 0


if __name__ == "__main__":
    sys.exit(main())
