"""Multi-worker training that reads its input only through hfed's TensorFlow adapter.

    python -m bench.train                 # local cluster, 3 trainers, digits data set
    python -m bench.train --gate          # also fail when accuracy regressed
    python -m bench.train --conf hfed.toml --hosts host-1,host-2,host-3   # an existing cluster

Steps: write scikit-learn's bundled digits data set (no download) into hfed as
TFRecord shards (one block each; shard i's first replica on trainer i mod N's
host), plan which trainer reads which shard (client/tf_assign.py), run N
trainers through the launcher (client/tf_launch.py: TF_CONFIG for
MultiWorkerMirroredStrategy, each trainer's host label, the plan, the job's
delegation tokens, prefixed logs), train a small Keras model with exact epochs
(every training record once per epoch across trainers: HfedInput(exact_epochs="pad"),
the padding element weighted 0 in the loss), evaluate it on a held-out split
(also read through the adapter), print the accuracy, the locality counters and
the records each trainer read per epoch (checked to add up to the training set),
and append the run to bench/results/train_history.jsonl.
With --gate the run fails (exit 3) when the accuracy is more than --tolerance
below the best earlier run in that history (client/tf_gate.py, as `hfed tf-gate`).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
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
    """One trainer process, started by the launcher (its environment: client/tf_launch.py)."""
    import tensorflow as tf
    from client.fs import HfedFileSystem
    from client.tf_adapter import HfedInput
    from client.tf_launch import finish, job_plan

    plan = job_plan()
    job_dir = Path(os.environ["HFED_JOB_DIR"])
    strategy = tf.distribute.MultiWorkerMirroredStrategy(
        communication_options=tf.distribute.experimental.CommunicationOptions(
            implementation=tf.distribute.experimental.CommunicationImplementation.RING))
    fs = HfedFileSystem(conf=args.conf, skip_instance_cache=True)
    inputs: list[tuple[HfedInput, int]] = []   # this trainer's input and its per-replica batch size

    def dataset_fn(ctx: tf.distribute.InputContext):
        worker = ctx.input_pipeline_id
        # Exact epochs: every record once per epoch across trainers, the same element count on
        # each; elements are (record, weight), weight 0.0 for a trainer's padding element.
        source = HfedInput(plan=plan, input_context=ctx, fs=fs, shuffle_files=True, seed=args.seed + worker,
                           cache_dir=str(job_dir / f"cache-{worker}"), exact_epochs="pad")
        batch = ctx.get_per_replica_batch_size(args.batch_size)
        inputs.append((source, batch))
        # No drop_remainder: the last, smaller batch of an epoch keeps every real record in some
        # batch; it has the same size on every trainer (equal element counts), so steps match.
        # No repeat(): one pass per epoch, so read-ahead never starts (and counts) an extra epoch.
        return (source.dataset().map(lambda record, weight: (*parse_example(record), weight))
                .shuffle(1024, seed=args.seed).batch(batch).prefetch(2))

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
        def step(pixels, labels, weights):
            # A padding element (weight 0) adds nothing to the loss; the divisor is the fixed global
            # batch size, so it changes nothing there either (an epoch's short last batch weighs a
            # little less, as with any fixed divisor; no extra collective per step to count it).
            with tf.GradientTape() as tape:
                loss = tf.nn.compute_average_loss(losses(labels, model(pixels, training=True)),
                                                  sample_weight=weights, global_batch_size=args.batch_size)
            optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables),
                                          model.trainable_variables))
            return loss
        return strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(step, args=next(iterator)), axis=None)

    ((source, batch),) = inputs   # dataset_fn ran when the distributed dataset was made
    steps = source.steps_per_epoch(batch)   # the same on every trainer
    started = time.perf_counter()
    for epoch in range(args.epochs):
        iterator = iter(dist)   # one pass over this epoch's elements
        epoch_loss = sum(float(train_step(iterator)) for _ in range(steps)) / steps
    train_seconds = time.perf_counter() - started
    result = {"worker": source.worker_index, "host": source.host, "plan_digest": plan.digest(),
              "files_planned": len(source.files), "train_seconds": round(train_seconds, 2),
              "steps_per_epoch": steps, "final_loss": round(epoch_loss, 4),
              "credentials": fs.session.credentials.source, "counters": source.counters_now().as_dict(),
              "epochs": source.epoch_counters()}   # settled: the last epoch's worker-<i>.json is written
    if source.worker_index == 0:
        result.update(evaluate(model, fs, job_dir))
    (job_dir / f"result-{source.worker_index}.json").write_text(json.dumps(result))
    finish()   # no TensorFlow shutdown: it can hang a worker that outlives worker 0 (client/tf_launch.py)


def evaluate(model, fs, job_dir: Path) -> dict:
    """Accuracy on the held-out shards, read through the adapter by the chief alone."""
    import numpy as np
    from client.tf_adapter import HfedInput

    # Its own paths and plan: it neither takes the job's plan nor writes the job's counters.
    source = HfedInput(f"{DATA_DIR}/test-*.tfrecord", 0, 1, fs=fs, cache_dir=str(job_dir / "cache-eval"))
    correct = total = 0
    for pixels, labels in source.dataset().map(parse_example).batch(256):
        predicted = np.argmax(model(pixels, training=False).numpy(), axis=1)
        correct += int((predicted == labels.numpy()).sum())
        total += len(predicted)
    return {"accuracy": correct / total, "test_records": total,
            "test_counters": source.counters_now().as_dict()}


# ------------------------------------------------------------------ launcher

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


def start_and_wait(args, hosts: list[str], plan, job_dir: Path) -> tuple[list[dict], dict]:
    """The trainers, through the launcher; a failed trainer ends the run with its exit code.
    Returns each trainer's result and the launcher's job summary (per-epoch counters)."""
    from client.tf_launch import launch

    cmd = [sys.executable, "-m", "bench.train", "--worker", "--epochs", str(args.epochs),
           "--batch-size", str(args.batch_size),
           "--learning-rate", str(args.learning_rate), "--seed", str(args.seed)]
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="-1", TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    result = launch(cmd, len(hosts), hosts=hosts, conf=args.conf, job_dir=job_dir, plan=plan, env=env,
                    timeout=args.timeout)
    if result.exit_code != 0:
        raise SystemExit(f"trainer {result.summary['failed_worker']} failed (exit {result.exit_code}); "
                         f"logs in {job_dir}")
    return [json.loads((job_dir / f"result-{i}.json").read_text()) for i in range(len(hosts))], result.summary


def records_per_epoch(summary: dict, epochs: int, train_records: int) -> list[list[int]]:
    """Records each trainer read in each epoch, from the counters the adapter wrote per epoch
    ($HFED_JOB_DIR/worker-<i>.json, merged by the launcher into summary.json); refuses a run in
    which some epoch did not read every training record exactly once across trainers."""
    if summary.get("counters_missing"):
        raise SystemExit(f"no exact-epoch check: {summary['counters_missing']}")
    per_worker = [[e["records"] for e in w["epochs"]] for w in summary["per_worker"]]
    if any(len(counts) != epochs for counts in per_worker):
        raise SystemExit(f"trainers reported {[len(c) for c in per_worker]} epochs of input, not {epochs} "
                         f"each (job {summary['job']})")
    sums = [sum(column) for column in zip(*per_worker)]
    wrong = [(epoch, total) for epoch, total in enumerate(sums, 1) if total != train_records]
    if wrong:
        raise SystemExit(f"records read per epoch over all trainers should be {train_records} (the training set) "
                         f"but epoch {wrong[0][0]} read {wrong[0][1]} (job {summary['job']})")
    return per_worker


def git_commit() -> str:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                                text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return f"{commit}{'-dirty' if dirty else ''}" if commit else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def run(args) -> int:
    from client.fs import HfedFileSystem
    from client.minicluster import MiniCluster
    from client.tf_adapter import plan_input
    from client.tf_assign import epoch_shares, steps_per_epoch

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
        train_records = sum(s.records for s in train_shards)
        # The writer's record counts go into the plan: neither the launcher nor a trainer reads a
        # file to count it, and the trainers' exact epochs (tf_assign.epoch_shares) come from them.
        plan = plan_input(f"{DATA_DIR}/train-*.tfrecord", hosts, fs,
                          record_counts={s.path: s.records for s in train_shards})
        shares = epoch_shares(plan, "pad")
        per_replica = args.batch_size // len(hosts)
        steps = steps_per_epoch(shares[0].elements, per_replica)
        print(f"plan {plan.digest()}: records per trainer per epoch {[s.records for s in shares]} "
              f"(padding {[s.padding for s in shares]}), {steps} steps per epoch of {args.batch_size} "
              f"(global batch; the last one smaller)", flush=True)
        print(f"starting {len(hosts)} trainers (logs in {work / 'job'}) ...", flush=True)
        results, summary = start_and_wait(args, hosts, plan, work / "job")
        per_epoch = records_per_epoch(summary, args.epochs, train_records)
    except BaseException:
        # The scratch cluster goes; the trainers' logs stay for a look at what failed.
        if (work / "job").exists():
            print(f"run failed: the trainers' logs are kept in {work / 'job'}", flush=True)
        else:
            shutil.rmtree(work, ignore_errors=True)
        raise
    finally:
        if cluster is not None:
            cluster.down()
        shutil.rmtree(work / "cluster", ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)
    return report(args, hosts, results, per_epoch, train_records, time.perf_counter() - started)


def report(args, hosts: list[str], results: list[dict], per_epoch: list[list[int]], train_records: int,
           seconds: float) -> int:
    chief = results[0]
    local = sum(r["counters"]["local_bytes"] for r in results)
    remote = sum(r["counters"]["remote_bytes"] for r in results)
    print(f"\n{'trainer':<8} {'host':<8} {'files':>5} {'records':>8} {'local bytes':>12} {'remote bytes':>12}")
    for r in results:
        c = r["counters"]
        print(f"{r['worker']:<8} {r['host']:<8} {c['files']:>5} {c['records']:>8} {c['local_bytes']:>12} "
              f"{c['remote_bytes']:>12}")
    local_pct = 100.0 * local / (local + remote) if local + remote else 100.0
    print("\nrecords read per epoch (adapter's per-epoch counters, summary.json):")
    for r, counts in zip(results, per_epoch):
        same = len(set(counts)) == 1
        print(f"  trainer {r['worker']} ({r['host']}): {counts[0] if same else counts}"
              f"{f' in each of {len(counts)} epochs' if same else ''}")
    print(f"  sum over trainers: {train_records} in every epoch = the training set ({train_records} records), "
          f"each record once per epoch")
    print(f"\naccuracy on {chief['test_records']} held-out digits: {chief['accuracy']:.4f}")
    print(f"local input bytes: {local} ({local_pct:.1f}%)")
    print(f"remote input bytes: {remote}")
    print(f"run time: {seconds:.1f}s (training {max(r['train_seconds'] for r in results):.1f}s)")
    from client import tf_gate

    history = args.history
    entry = {"time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
             "commit": git_commit(), "workers": len(hosts), "epochs": args.epochs,
             "learning_rate": args.learning_rate, "accuracy": round(chief["accuracy"], 4),
             "local_bytes": local, "remote_bytes": remote, "seconds": round(seconds, 1),
             "train_records": train_records, "records_per_epoch": per_epoch,
             "per_worker": [{"host": r["host"], "credentials": r["credentials"], **r["counters"]} for r in results]}
    if not args.gate:
        tf_gate.append_history(history, {**entry, "gate": "off"})
        print(f"appended this run to {history}")
        return 0
    # A failed run is kept in this history too (marked), as it always was; it never sets the bar.
    verdict = tf_gate.gate(entry, history, "accuracy", args.tolerance, record_failures=True)
    print(f"appended this run to {history}")
    print(verdict.message, file=sys.stdout if verdict.passed else sys.stderr)
    return 0 if verdict.passed else GATE_FAILED


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
    args = p.parse_args(argv)
    if args.worker:
        run_worker(args)
        return 0
    if args.workers < 2:
        p.error("--workers must be at least 2")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
