"""Multi-worker training that reads its input only through hfed's TensorFlow adapter.

    python -m bench.train                 # local cluster, 3 trainers, digits data set
    python -m bench.train --gate          # also fail when accuracy regressed
    python -m bench.train --conf hfed.toml --hosts host-1,host-2,host-3   # an existing cluster

Steps: write scikit-learn's bundled digits data set (no download) into hfed as
TFRecord shards (one block each; shard i's first replica on trainer i mod N's
host), plan which trainer reads which shard (client/tf_assign.py), start N
trainer processes on localhost with TF_CONFIG for MultiWorkerMirroredStrategy,
each declaring the host label of one DataNode (HFED_HOST), train a small Keras
model, evaluate it on a held-out split (also read through the adapter), print
the accuracy and the locality counters, and append the run to
bench/results/train_history.jsonl. With --gate the run fails (exit 3) when the
accuracy is more than --tolerance below the best earlier run in that history.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")   # TensorFlow's start-up chatter hides the report
REPO = Path(__file__).resolve().parent.parent
HISTORY = REPO / "bench" / "results" / "train_history.jsonl"
DATA_DIR = "/data/digits"
BLOCK_SIZE = 64 << 10      # digits are ~600 KB: small blocks give each trainer several shards
GATE_FAILED = 3


# ------------------------------------------------------------------ data

def digits_examples(seed: int, test_fraction: float) -> tuple[list[bytes], list[bytes]]:
    """Serialized tf.train.Example records (pixels: 64 floats in [0, 1], label: int), train and test."""
    import numpy as np
    import tensorflow as tf
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.data / 16.0, digits.target, test_size=test_fraction, random_state=seed, stratify=digits.target)

    def encode(x, y):
        return [tf.train.Example(features=tf.train.Features(feature={
            "pixels": tf.train.Feature(float_list=tf.train.FloatList(value=row.astype(np.float32))),
            "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)])),
        })).SerializeToString() for row, label in zip(x, y)]
    return encode(x_train, y_train), encode(x_test, y_test)


def parse_example(record):
    import tensorflow as tf
    parsed = tf.io.parse_single_example(record, {
        "pixels": tf.io.FixedLenFeature([64], tf.float32),
        "label": tf.io.FixedLenFeature([], tf.int64),
    })
    return parsed["pixels"], parsed["label"]


# ------------------------------------------------------------------ one trainer

def run_worker(args) -> None:
    """One trainer process: TF_CONFIG names its peers, HFED_HOST its host label."""
    import tensorflow as tf
    from client.fs import HfedFileSystem
    from client.tf_adapter import HfedInput
    from client.tf_assign import InputPlan

    plan = InputPlan.from_json(Path(args.plan).read_text())
    strategy = tf.distribute.MultiWorkerMirroredStrategy(
        communication_options=tf.distribute.experimental.CommunicationOptions(
            implementation=tf.distribute.experimental.CommunicationImplementation.RING))
    fs = HfedFileSystem(conf=args.conf, skip_instance_cache=True)
    inputs: list[HfedInput] = []

    def dataset_fn(ctx: tf.distribute.InputContext):
        worker = ctx.input_pipeline_id
        source = HfedInput(plan=plan, input_context=ctx, fs=fs, shuffle_files=True, seed=args.seed + worker,
                           cache_dir=str(Path(args.result).parent / f"cache-{worker}"))
        inputs.append(source)
        batch = ctx.get_per_replica_batch_size(args.batch_size)
        return (source.dataset().map(parse_example).shuffle(1024, seed=args.seed).batch(batch, drop_remainder=True)
                .repeat().prefetch(2))

    tf.keras.utils.set_random_seed(args.seed)
    with strategy.scope():
        model = tf.keras.Sequential([
            tf.keras.Input(shape=(64,)),
            tf.keras.layers.Dense(64, activation="relu"),
            tf.keras.layers.Dense(10),
        ])
        optimizer = tf.keras.optimizers.Adam(args.learning_rate)
    # Keras 3's fit() does not take a DistributedDataset: a plain custom loop over strategy.run does.
    losses = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="none")
    dist = strategy.distribute_datasets_from_function(dataset_fn)

    @tf.function
    def train_step(iterator):
        def step(pixels, labels):
            with tf.GradientTape() as tape:
                loss = tf.nn.compute_average_loss(losses(labels, model(pixels, training=True)),
                                                  global_batch_size=args.batch_size)
            optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables),
                                          model.trainable_variables))
            return loss
        return strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(step, args=next(iterator)), axis=None)

    started = time.perf_counter()
    iterator = iter(dist)
    for epoch in range(args.epochs):
        epoch_loss = sum(float(train_step(iterator)) for _ in range(args.steps_per_epoch)) / args.steps_per_epoch
    train_seconds = time.perf_counter() - started
    (source,) = inputs
    result = {"worker": source.worker_index, "host": source.host, "plan_digest": plan.digest(),
              "files_planned": len(source.files), "train_seconds": round(train_seconds, 2),
              "final_loss": round(epoch_loss, 4), "credentials": fs.session.credentials.source,
              "counters": source.counters_now().as_dict()}
    if source.worker_index == 0:
        result.update(evaluate(model, fs, args))
    Path(args.result).write_text(json.dumps(result))
    # Leave without TensorFlow's shutdown: a worker that outlives the coordination leader (the
    # chief) can hang there for minutes; everything this process owes is in its result file.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def evaluate(model, fs, args) -> dict:
    """Accuracy on the held-out shards, read through the adapter by the chief alone."""
    import numpy as np
    from client.tf_adapter import HfedInput

    source = HfedInput(f"{DATA_DIR}/test-*.tfrecord", 0, 1, fs=fs,
                       cache_dir=str(Path(args.result).parent / "cache-eval"))
    correct = total = 0
    for pixels, labels in source.dataset().map(parse_example).batch(256):
        predicted = np.argmax(model(pixels, training=False).numpy(), axis=1)
        correct += int((predicted == labels.numpy()).sum())
        total += len(predicted)
    return {"accuracy": correct / total, "test_records": total,
            "test_counters": source.counters_now().as_dict()}


# ------------------------------------------------------------------ launcher

def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def write_data(fs, hosts: list[str], args) -> tuple[list, list]:
    from client.tf_records import write_tfrecord_shards

    train, test = digits_examples(args.seed, args.test_fraction)
    if fs.exists(DATA_DIR):
        fs.rm(DATA_DIR, recursive=True)
    train_shards = write_tfrecord_shards(fs, train, DATA_DIR, prefix="train", hosts=hosts,
                                         replication=args.replication, block_size=args.block_size)
    test_shards = write_tfrecord_shards(fs, test, DATA_DIR, prefix="test", hosts=hosts[:1],
                                        replication=args.replication, block_size=args.block_size)
    print(f"wrote {len(train)} training records in {len(train_shards)} shards and {len(test)} test records in "
          f"{len(test_shards)} shards to {DATA_DIR} (replication {args.replication}, first replicas on "
          f"{', '.join(hosts)})", flush=True)
    return train_shards, test_shards


def start_workers(args, hosts: list[str], plan_path: Path, steps: int, out: Path,
                  token_file: Path) -> list[subprocess.Popen]:
    ports = free_ports(len(hosts))
    cluster = {"worker": [f"localhost:{p}" for p in ports]}
    procs = []
    for index, host in enumerate(hosts):
        env = dict(os.environ, HFED_HOST=host, CUDA_VISIBLE_DEVICES="-1", TF_CPP_MIN_LOG_LEVEL="2",
                   **({"HFED_TOKEN_FILE": str(token_file)} if token_file.exists() else {}),
                   TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}))
        cmd = [sys.executable, "-m", "bench.train", "--worker", "--conf", args.conf, "--plan", str(plan_path),
               "--result", str(out / f"worker-{index}.json"), "--epochs", str(args.epochs),
               "--steps-per-epoch", str(steps), "--batch-size", str(args.batch_size),
               "--learning-rate", str(args.learning_rate), "--seed", str(args.seed)]
        log = open(out / f"worker-{index}.log", "wb")
        procs.append(subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT))
    return procs


def wait_workers(procs: list[subprocess.Popen], out: Path, timeout: float) -> list[dict]:
    """Wait for every trainer; a trainer that failed ends the run with the tail of its log."""
    deadline = time.monotonic() + timeout
    try:
        while any(proc.poll() is None for proc in procs):
            for index, proc in enumerate(procs):
                if proc.poll() not in (None, 0):
                    tail = (out / f"worker-{index}.log").read_text(errors="replace").splitlines()[-25:]
                    raise SystemExit(f"trainer {index} failed (exit {proc.returncode}); last lines of its log:\n"
                                     + "\n".join(tail))
            if time.monotonic() > deadline:
                raise SystemExit(f"trainers did not finish within {timeout:.0f}s (logs in {out})")
            time.sleep(0.2)
    finally:
        for proc in procs:   # the others would wait forever for a failed peer's collectives
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    missing = [i for i, proc in enumerate(procs) if proc.returncode != 0 or not (out / f"worker-{i}.json").exists()]
    if missing:
        raise SystemExit(f"trainers {missing} ended without a result (logs in {out})")
    return [json.loads((out / f"worker-{i}.json").read_text()) for i in range(len(procs))]


def git_commit() -> str:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                                text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return f"{commit}{'-dirty' if dirty else ''}" if commit else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def best_previous(history: Path) -> float | None:
    if not history.exists():
        return None
    scores = []
    for line in history.read_text().splitlines():
        if line.strip():
            scores.append(json.loads(line).get("accuracy", 0.0))
    return max(scores) if scores else None


def run(args) -> int:
    from client import credentials
    from client.fs import HfedFileSystem
    from client.minicluster import MiniCluster
    from client.tf_adapter import plan_input

    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="hfed-train-"))
    cluster = None
    if args.conf is None:
        cluster = MiniCluster(work / "cluster", namespaces=2, datanodes=args.workers, block_size=args.block_size,
                              replication=args.replication, heartbeat_interval=0.5).up()
        args.conf = str(cluster.config_path)
        print(f"started a local cluster in {cluster.dir} ({args.workers} DataNodes)", flush=True)
    try:
        fs = HfedFileSystem(conf=args.conf, skip_instance_cache=True)
        hosts = args.hosts.split(",") if args.hosts else list(fs.session.cfg.datanodes)[:args.workers]
        if len(hosts) < 2:
            raise SystemExit("need at least 2 trainer hosts (DataNode host labels) for multi-worker training")
        train_shards, _ = write_data(fs, hosts, args)
        plan = plan_input(f"{DATA_DIR}/train-*.tfrecord", hosts, fs)
        records = {s.path: s.records for s in train_shards}
        per_worker = [sum(records[f.path] for f in plan.files_of(w)) for w in range(len(hosts))]
        # Every trainer must take the same number of steps: the smallest share sets the epoch.
        steps = max(1, min(per_worker) // (args.batch_size // len(hosts)))
        plan_path = work / "plan.json"
        plan_path.write_text(plan.to_json())
        print(f"plan {plan.digest()}: records per trainer {per_worker}, {steps} steps per epoch of "
              f"{args.batch_size} (global batch)", flush=True)
        print(f"starting {len(hosts)} trainers (logs in {work}) ...", flush=True)
        # The trainers act as this user through delegation tokens, never with the user's own credentials.
        token_file = work / "job-tokens.json"
        if fs.session.cfg.security.tokens:
            credentials.fetch_delegation_tokens(fs.session, token_file)
        try:
            results = wait_workers(start_workers(args, hosts, plan_path, steps, work, token_file), work,
                                   args.timeout)
        finally:
            if token_file.exists():
                credentials.cancel_delegation_tokens(fs.session, token_file)
    finally:
        if cluster is not None:
            cluster.down()
    shutil.rmtree(work, ignore_errors=True)   # kept (with the trainers' logs) only when a run fails
    return report(args, hosts, results, time.perf_counter() - started)


def report(args, hosts: list[str], results: list[dict], seconds: float) -> int:
    chief = results[0]
    local = sum(r["counters"]["local_bytes"] for r in results)
    remote = sum(r["counters"]["remote_bytes"] for r in results)
    print(f"\n{'trainer':<8} {'host':<8} {'files':>5} {'records':>8} {'local bytes':>12} {'remote bytes':>12}")
    for r in results:
        c = r["counters"]
        print(f"{r['worker']:<8} {r['host']:<8} {c['files']:>5} {c['records']:>8} {c['local_bytes']:>12} "
              f"{c['remote_bytes']:>12}")
    local_pct = 100.0 * local / (local + remote) if local + remote else 100.0
    print(f"\naccuracy on {chief['test_records']} held-out digits: {chief['accuracy']:.4f}")
    print(f"local input bytes: {local} ({local_pct:.1f}%)")
    print(f"remote input bytes: {remote}")
    print(f"run time: {seconds:.1f}s (training {max(r['train_seconds'] for r in results):.1f}s)")
    history = Path(args.history)
    best = best_previous(history)
    gate_failed = args.gate and best is not None and chief["accuracy"] < best - args.tolerance
    entry = {"time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
             "commit": git_commit(), "workers": len(hosts), "epochs": args.epochs,
             "learning_rate": args.learning_rate, "accuracy": round(chief["accuracy"], 4),
             "local_bytes": local, "remote_bytes": remote, "seconds": round(seconds, 1),
             "per_worker": [{"host": r["host"], "credentials": r["credentials"], **r["counters"]} for r in results],
             "gate": ("failed" if gate_failed else "passed") if args.gate else "off"}
    history.parent.mkdir(parents=True, exist_ok=True)
    with history.open("a") as f:
        f.write(json.dumps(entry) + "\n")
    print(f"appended this run to {history}")
    if gate_failed:
        print(f"GATE FAILED: accuracy {chief['accuracy']:.4f} is more than {args.tolerance} below the best "
              f"previous run ({best:.4f}) in {history}", file=sys.stderr)
        return GATE_FAILED
    if args.gate:
        print(f"gate passed: accuracy {chief['accuracy']:.4f}, best previous "
              f"{'none' if best is None else f'{best:.4f}'}, tolerance {args.tolerance}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workers", type=int, default=3, help="trainer processes (default 3)")
    p.add_argument("--conf", help="an existing cluster's hfed.toml (default: start a local cluster)")
    p.add_argument("--hosts", help="comma-separated trainer host labels (default: the first DataNodes')")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=48, help="global batch size")
    p.add_argument("--learning-rate", type=float, default=0.01)
    p.add_argument("--replication", type=int, default=2)
    p.add_argument("--block-size", type=int, default=BLOCK_SIZE)
    p.add_argument("--test-fraction", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--history", default=str(HISTORY))
    p.add_argument("--gate", action="store_true", help="fail when accuracy regressed past --tolerance")
    p.add_argument("--tolerance", type=float, default=0.02)
    p.add_argument("--timeout", type=float, default=600.0, help="seconds for the trainers to finish")
    # internal: one trainer process
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--plan", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    p.add_argument("--steps-per-epoch", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        run_worker(args)
        return 0
    if args.workers < 2:
        p.error("--workers must be at least 2")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
