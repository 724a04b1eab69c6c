"""Launcher overhead: job start to first training step, `launch()` vs a hand-written launcher.

    python -m bench.tf_launch_overhead      # a few minutes; writes bench/results/tf_launch_overhead.md

A local cluster holds small TFRecord shards spread over the workers' hosts. The
same user script (MultiWorkerMirroredStrategy, HfedInput over the plan, one Keras
training step, then it records the wall-clock time of that step's end and leaves)
is started, alternating (and alternating who goes first), by:
- hand:     what bench/train.py did by hand before the launcher: plan_input once, the
            plan written to a file, the job's delegation tokens, free ports, one
            Popen per worker with TF_CONFIG / HFED_HOST / HFED_INPUT_PLAN /
            HFED_TOKEN_FILE, output to files, wait;
- launcher: client.tf_launch.launch() with input= (it plans, fetches tokens, streams
            prefixed output, writes the summary).
Time = from just before planning to the latest worker's first step. Goal (issue 16):
launcher <= 1.2x hand, median of --runs runs each.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REPORT = REPO / "bench" / "results" / "tf_launch_overhead.md"
DATA = "/data/launch-overhead"

SCRIPT = '''
import json, os, time
import tensorflow as tf
from client.fs import HfedFileSystem
from client.tf_adapter import HfedInput
from client.tf_launch import finish, job_plan

strategy = tf.distribute.MultiWorkerMirroredStrategy()
fs = HfedFileSystem(skip_instance_cache=True)

def dataset_fn(ctx):
    ds = HfedInput(plan=job_plan(), input_context=ctx, fs=fs).dataset()
    return ds.map(lambda r: (tf.cast(tf.strings.length(r), tf.float32)[None], 0.0)).batch(8).repeat()

with strategy.scope():
    model = tf.keras.Sequential([tf.keras.Input(shape=(1,)), tf.keras.layers.Dense(1)])
    optimizer = tf.keras.optimizers.SGD(0.0)
iterator = iter(strategy.distribute_datasets_from_function(dataset_fn))

@tf.function
def step(it):
    def one(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((model(x) - y) ** 2)
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return loss
    return strategy.run(one, args=next(it))

step(iterator)
index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
with open(os.path.join(os.environ["HFED_JOB_DIR"], f"first-step-{index}"), "w") as f:
    f.write(repr(time.time()))
finish()
'''


def worker_env(extra: dict) -> dict:
    return dict(os.environ, CUDA_VISIBLE_DEVICES="-1", TF_CPP_MIN_LOG_LEVEL="2",
                PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])), **extra)


def first_step(job: Path, workers: int) -> float:
    return max(float((job / f"first-step-{i}").read_text()) for i in range(workers))


def run_by_hand(conf: str, hosts: list[str], script: Path, job: Path) -> float:
    from client import credentials
    from client.fs import HfedFileSystem
    from client.tf_adapter import plan_input
    from client.tf_launch import free_ports

    job.mkdir(parents=True)
    started = time.time()
    fs = HfedFileSystem(conf=conf, skip_instance_cache=True)
    plan = plan_input(f"{DATA}/*.tfrecord", hosts, fs)
    (job / "plan.json").write_text(plan.to_json())
    tokens = job / "job-tokens.json"
    credentials.fetch_delegation_tokens(fs.session, tokens)
    ports = free_ports(len(hosts))
    procs = []
    for i, host in enumerate(hosts):
        env = worker_env({"HFED_HOST": host, "HFED_CONF": conf, "HFED_JOB_DIR": str(job),
                          "HFED_INPUT_PLAN": str(job / "plan.json"), "HFED_TOKEN_FILE": str(tokens),
                          "TF_CONFIG": json.dumps({"cluster": {"worker": [f"localhost:{p}" for p in ports]},
                                                   "task": {"type": "worker", "index": i}})})
        with open(job / f"worker-{i}.log", "wb") as log:
            procs.append(subprocess.Popen([sys.executable, str(script)], env=env, stdout=log,
                                          stderr=subprocess.STDOUT))
    codes = [p.wait(timeout=600) for p in procs]
    credentials.cancel_delegation_tokens(fs.session, tokens)
    if any(codes):
        raise SystemExit(f"hand-launched workers failed {codes}; logs in {job}")
    return first_step(job, len(hosts)) - started


def run_by_launcher(conf: str, hosts: list[str], script: Path, job: Path) -> float:
    from client.tf_launch import launch

    sink = io.StringIO()   # streamed output is part of the launcher's cost; the terminal is not
    started = time.time()
    result = launch([sys.executable, str(script)], len(hosts), hosts=hosts, conf=conf, job_dir=job,
                    input=f"{DATA}/*.tfrecord", env=worker_env({}), out=sink, err=sink, timeout=600)
    if result.exit_code:
        raise SystemExit(f"launched workers failed ({result.exit_code}); logs in {job}")
    return first_step(job, len(hosts)) - started


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--report", default=str(REPORT))
    args = p.parse_args(argv)
    from client.fs import HfedFileSystem
    from client.minicluster import MiniCluster
    from client.tf_records import write_tfrecord_shards

    scratch = tempfile.TemporaryDirectory(prefix="hfed-launch-overhead-")   # removed in the finally below
    work = Path(scratch.name)
    try:
        cluster = MiniCluster(work / "cluster", namespaces=1, datanodes=args.workers, block_size=64 << 10,
                              replication=1, heartbeat_interval=0.5).up()
    except BaseException:
        scratch.cleanup()
        raise
    try:
        conf = str(cluster.config_path)
        fs = HfedFileSystem(conf=conf, skip_instance_cache=True)
        hosts = list(fs.session.cfg.datanodes)[:args.workers]
        write_tfrecord_shards(fs, [i.to_bytes(4, "little") * 64 for i in range(4000)], DATA, hosts=hosts,
                              replication=1, block_size=64 << 10)
        script = work / "user_train.py"
        script.write_text(SCRIPT)
        import client.tf_adapter  # noqa: F401  TensorFlow imported here once: no run pays for it in-process
        times = {"hand": [], "launcher": []}
        runners = [("hand", run_by_hand), ("launcher", run_by_launcher)]
        for run in range(args.runs):
            for name, runner in runners[::1 if run % 2 == 0 else -1]:   # who goes first alternates
                seconds = runner(conf, hosts, script, work / f"{name}-{run}")
                times[name].append(seconds)
                print(f"run {run} {name:<8} {seconds:6.2f}s to the first step", flush=True)
    finally:
        cluster.down()
        scratch.cleanup()
    hand, launcher = statistics.median(times["hand"]), statistics.median(times["launcher"])
    ratio = launcher / hand
    lines = ["# Launcher overhead: job start to first training step", "",
             f"`python -m bench.tf_launch_overhead --workers {args.workers} --runs {args.runs}` "
             f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, shared machine).",
             "", "| run | hand-written (s) | launcher (s) |", "|---|---|---|"]
    lines += [f"| {i} | {h:.2f} | {lch:.2f} |" for i, (h, lch) in enumerate(zip(times["hand"], times["launcher"]))]
    lines += ["", f"Median: hand-written {hand:.2f}s, launcher {launcher:.2f}s: **{ratio:.2f}x** "
              f"(goal <= 1.2x: {'met' if ratio <= 1.2 else 'NOT met'}).", ""]
    Path(args.report).write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
