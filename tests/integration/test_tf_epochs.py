"""Exact epochs, per-epoch counters, the job file, the launcher's plan file and the
shard writer's targets, on a real cluster (issue 16, items 2-4)."""
import json
import logging

import pytest

tf = pytest.importorskip("tensorflow", reason="the tf extra is not installed (pip install -e '.[tf]')")

from client.fs import HfedFileSystem  # noqa: E402
from client.tf_adapter import HfedInput, plan_input  # noqa: E402
from client.tf_records import write_tfrecord_shards  # noqa: E402

HOSTS = ["host-1", "host-2", "host-3"]
SPLIT = {"host-1": (100, 79), "host-2": (138,), "host-3": (70, 68)}   # 179 / 138 / 138 records
TOTAL = 455


def client(cluster, host):
    return HfedFileSystem(conf=str(cluster.config_path), host=host, skip_instance_cache=True)


def record(i):
    return b"rec" + i.to_bytes(4, "little") + bytes([i % 251]) * 300


@pytest.fixture
def uneven(cluster, fs):
    """Files whose only replica is on the host of the worker meant to read them, 179/138/138 records."""
    next_id, counts = 0, {}
    for host, sizes in SPLIT.items():
        for j, size in enumerate(sizes):
            shards = write_tfrecord_shards(fs, [record(i) for i in range(next_id, next_id + size)], "/data/tf-ep",
                                           prefix=f"{host}-{j}", replication=1, hosts=[host], overwrite=True)
            counts.update({s.path: s.records for s in shards})
            next_id += size
    yield counts
    fs.rm("/data/tf-ep", recursive=True)


def epoch(ds):
    return [(r.numpy(), float(w.numpy())) for r, w in ds]


def test_exact_epochs_every_record_once_per_epoch_and_equal_steps(cluster, uneven, tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.WARNING, logger="client.tf_adapter")
    monkeypatch.setenv("HFED_JOB_DIR", str(tmp_path / "job"))
    workers = [HfedInput("/data/tf-ep", i, 3, fs=client(cluster, host), worker_hosts=HOSTS, imbalance=0.5,
                         exact_epochs="pad", cache_dir=str(tmp_path / f"cache-{i}"))
               for i, host in enumerate(HOSTS)]
    assert [w.planned_bytes for w in workers][0] > [w.planned_bytes for w in workers][1], "uneven as planned"
    datasets = [w.dataset() for w in workers]
    for _ in range(2):
        elements = [epoch(ds) for ds in datasets]
        assert [len(e) for e in elements] == [152, 152, 152]
        real = [r for e in elements for r, weight in e if weight == 1.0]
        assert sorted(real) == sorted(record(i) for i in range(TOTAL))         # each record exactly once
        padding = [r for e in elements for r, weight in e if weight == 0.0]
        assert len(padding) == 1 and padding[0] in real                         # a real record, weight 0
        assert len({sum(1 for _ in ds.batch(32)) for ds in datasets}) == 1   # the same steps everywhere
    assert all(w.steps_per_epoch(32) == 5 for w in workers)
    for w in workers:
        assert [e["epoch"] for e in w.epoch_counters()] == [1, 2, 3, 4]     # 2 epochs + 2 batched passes
    per_epoch = [[e["records"] for e in w.epoch_counters()] for w in workers]
    assert [sum(col) for col in zip(*per_epoch)] == [TOTAL] * 4
    # Worker 0 keeps 152 of its 179 records, all local; workers 1 and 2 read the other 27 (the
    # tail of its second file) by fetching that file once, then from their caches.
    first, second = workers[1].epoch_counters()[:2]
    assert workers[0].epoch_counters()[0]["remote_bytes"] == 0
    assert first["remote_bytes"] > 0 and first["local_bytes"] > 0 and first["cached_bytes"] == 0
    assert second["remote_bytes"] == 0 and second["cached_bytes"] == first["remote_bytes"]
    remote_logs = [r.getMessage() for r in caplog.records if "remotely" in r.getMessage()]
    assert len(remote_logs) == 2, remote_logs                                # once per worker and file
    assert "worker 1 reads /data/tf-ep/host-1-1-00000.tfrecord [namespace ns-b] remotely: no replica on this " \
           "worker's host 'host-2'" in remote_logs[0] and "replicas on: host-1" in remote_logs[0]
    written = json.loads((tmp_path / "job" / "worker-1.json").read_text())
    assert written["worker"] == 1 and written["epochs"] == workers[1].epoch_counters()
    assert workers[1].current_epoch_counters() == {"epoch": 5, "local_bytes": 0, "remote_bytes": 0,
                                                   "cached_bytes": 0, "files": 0, "records": 0}


def test_plan_file_from_the_launcher_and_the_drop_policy(cluster, uneven, tmp_path, monkeypatch):
    plan = plan_input("/data/tf-ep", HOSTS, client(cluster, "host-1"), imbalance=0.5, record_counts=uneven)
    assert sorted(f.records for f in plan.files) == sorted(uneven.values())   # given counts, nothing read
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(plan.to_json())
    monkeypatch.setenv("HFED_INPUT_PLAN", str(plan_file))
    got = []
    for i, host in enumerate(HOSTS):
        source = HfedInput(worker_index=i, fs=client(cluster, host), exact_epochs="drop",
                           cache_dir=str(tmp_path / f"c{i}"))
        assert source.plan == plan and source.plan.num_workers == 3
        mine = [r.numpy() for r in source.dataset()]
        assert len(mine) == 151 and source.elements_per_epoch == 151
        got += mine
    assert len(set(got)) == len(got) == 453
    assert set(record(i) for i in range(TOTAL)) - set(got) == {record(453), record(454)}   # the plan's last two
    with pytest.raises(ValueError, match="exact_epochs must be None or one of pad, drop, got 'even'"):
        HfedInput(worker_index=0, fs=client(cluster, "host-1"), exact_epochs="even")
    plan_file.write_text("{not json")
    with pytest.raises(ValueError, match=f"input plan {plan_file} \\(from HFED_INPUT_PLAN\\) is unreadable"):
        HfedInput(worker_index=0, fs=client(cluster, "host-1"))


def test_per_epoch_counters_without_exact_epochs(cluster, uneven, tmp_path, monkeypatch):
    monkeypatch.setenv("HFED_JOB_DIR", str(tmp_path / "job"))
    source = HfedInput("/data/tf-ep", 0, 3, fs=client(cluster, "host-1"), worker_hosts=HOSTS, imbalance=0.5,
                       shuffle_files=True, seed=3)
    ds = source.dataset()
    assert source.current_epoch_counters()["epoch"] == 1
    for _ in range(3):
        assert len(list(ds)) == 179
    epochs = source.epoch_counters()
    assert [e["epoch"] for e in epochs] == [1, 2, 3]
    assert all(e["records"] == 179 and e["files"] == 2 and e["local_bytes"] == source.planned_bytes
               and e["remote_bytes"] == 0 for e in epochs)
    assert source.counters_now().records == 3 * 179                         # the running totals go on
    assert json.loads((tmp_path / "job" / "worker-0.json").read_text())["epochs"] == epochs
    assert not any(p.name.endswith(".part") for p in (tmp_path / "job").iterdir())


def test_shard_writer_targets_shards_per_worker_and_warns_when_too_few(fs, caplog):
    caplog.set_level(logging.WARNING, logger="client.tf_records")
    records = [record(i) for i in range(100)]
    try:
        shards = write_tfrecord_shards(fs, records, "/data/tf-shards", hosts=HOSTS, shards_per_worker=2,
                                       replication=1)
        assert len(shards) == 6 and [s.records for s in shards] == [17] * 5 + [15]
        assert [s.first_replica_host for s in shards] == HOSTS * 2
        capped = write_tfrecord_shards(fs, records, "/data/tf-shards", prefix="capped", records_per_shard=40,
                                       overwrite=True)
        assert [s.records for s in capped] == [40, 40, 20]
        assert not caplog.records
        few = write_tfrecord_shards(fs, records[:10], "/data/tf-shards", prefix="few", workers=3)
        assert len(few) == 1
        (warning,) = [r.getMessage() for r in caplog.records]
        assert "/data/tf-shards [namespace ns-b]: 1 shard(s) for 3 workers: 2 worker(s) will read nothing" \
            in warning
        with pytest.raises(ValueError, match="shards_per_worker needs workers"):
            write_tfrecord_shards(fs, records, "/data/tf-shards", shards_per_worker=2)
        with pytest.raises(ValueError, match="records_per_shard must be at least 1.*/data/tf-shards"):
            write_tfrecord_shards(fs, records, "/data/tf-shards", records_per_shard=0)
    finally:
        fs.rm("/data/tf-shards", recursive=True)


def test_exact_epochs_under_a_strategy_and_keras_fit(cluster, uneven, tmp_path):
    strategy = tf.distribute.MultiWorkerMirroredStrategy()       # no TF_CONFIG: one local worker
    made = []

    def dataset_fn(ctx):
        source = HfedInput("/data/tf-ep", input_context=ctx, fs=client(cluster, "host-2"), exact_epochs="pad",
                           cache_dir=str(tmp_path / "cache"))
        made.append(source)
        return source.dataset().batch(ctx.get_per_replica_batch_size(64))
    dist = strategy.distribute_datasets_from_function(dataset_fn)
    got = []
    for records, weights in dist:
        got += list(strategy.experimental_local_results(records)[0].numpy())
        assert set(strategy.experimental_local_results(weights)[0].numpy()) == {1.0}
    assert sorted(got) == sorted(record(i) for i in range(TOTAL))
    (source,) = made
    assert source.epoch_counters()[0]["records"] == TOTAL

    # Keras fit() on the worker's own dataset: (features, label, weight); each epoch reads to the end.
    def example(r, weight):
        x = tf.cast(tf.io.decode_raw(tf.strings.substr(r, 3, 4), tf.uint8), tf.float32) / 255.0
        return x, tf.cast(x[0] > 0.5, tf.float32), weight
    with strategy.scope():
        model = tf.keras.Sequential([tf.keras.Input((4,)), tf.keras.layers.Dense(1, activation="sigmoid")])
        model.compile("sgd", "binary_crossentropy")
    before = len(source.epoch_counters())
    model.fit(source.dataset().map(example).batch(64), epochs=2, verbose=0)
    fitted = source.epoch_counters()[before:]
    assert [e["records"] for e in fitted] == [TOTAL, TOTAL]


STRATEGY_WORKER = r'''
import json, os, sys
import tensorflow as tf
from client.fs import HfedFileSystem
from client.tf_adapter import HfedInput

conf, out = sys.argv[1], sys.argv[2]
strategy = tf.distribute.MultiWorkerMirroredStrategy()
made = []

def dataset_fn(ctx):   # the plan comes from HFED_INPUT_PLAN, the worker index from the context
    source = HfedInput(input_context=ctx, fs=HfedFileSystem(conf=conf, skip_instance_cache=True),
                       exact_epochs="pad", cache_dir=f"{out}-cache-{ctx.input_pipeline_id}")
    made.append(source)
    return source.dataset().batch(ctx.get_per_replica_batch_size(32))

dist = strategy.distribute_datasets_from_function(dataset_fn)

@tf.function
def weight_sum(weights):   # a collective: every worker must take the same number of steps
    return strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(tf.reduce_sum, args=(weights,)), axis=None)

epochs = []
for _ in range(2):
    ids, steps, global_weight = [], 0, 0.0
    for records, weights in dist:
        r = strategy.experimental_local_results(records)[0].numpy()
        w = strategy.experimental_local_results(weights)[0].numpy()
        ids += [int.from_bytes(x[3:7], "little") for x, wx in zip(r, w) if wx == 1.0]
        global_weight += float(weight_sum(weights))
        steps += 1
    epochs.append({"ids": ids, "steps": steps, "global_weight": global_weight})
(source,) = made
with open(f"{out}-{source.worker_index}.json", "w") as f:
    json.dump({"epochs": epochs, "counters": source.epoch_counters()}, f)
sys.stdout.flush()
os._exit(0)   # not TensorFlow's shutdown, which can wait for a peer that has already left
'''


@pytest.mark.slow
def test_two_worker_processes_under_multi_worker_mirrored_strategy(cluster, uneven, tmp_path):
    import os
    import socket
    import subprocess
    import sys
    from pathlib import Path
    hosts = ["host-1", "host-2"]
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(plan_input("/data/tf-ep", hosts, client(cluster, "host-1"), record_counts=uneven).to_json())
    sockets = [socket.socket() for _ in hosts]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    tf_cluster = {"worker": [f"localhost:{s.getsockname()[1]}" for s in sockets]}
    for s in sockets:
        s.close()
    procs = []
    for index, host in enumerate(hosts):
        env = dict(os.environ, HFED_HOST=host, HFED_INPUT_PLAN=str(plan_file), CUDA_VISIBLE_DEVICES="-1",
                   TF_CONFIG=json.dumps({"cluster": tf_cluster, "task": {"type": "worker", "index": index}}))
        procs.append(subprocess.Popen([sys.executable, "-c", STRATEGY_WORKER, str(cluster.config_path),
                                       str(tmp_path / "result")], cwd=Path(__file__).resolve().parents[2],
                                      env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    try:
        logs = [p.communicate(timeout=240)[0].decode(errors="replace") for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert all(p.returncode == 0 for p in procs), "\n".join(log[-3000:] for log in logs)
    results = [json.loads((tmp_path / f"result-{i}.json").read_text()) for i in range(2)]
    for epoch in range(2):
        mine = [r["epochs"][epoch] for r in results]
        assert mine[0]["steps"] == mine[1]["steps"] == 15                 # 228 elements each, 16 per step
        assert sorted(mine[0]["ids"] + mine[1]["ids"]) == list(range(TOTAL))   # every record once
        assert mine[0]["global_weight"] == mine[1]["global_weight"] == TOTAL   # padding weighs nothing
    assert [[e["records"] for e in r["counters"]] for r in results] in ([[228, 228], [227, 227]],
                                                                         [[227, 227], [228, 228]])


def test_a_second_input_in_a_launched_job_keeps_its_own_paths_and_counters(cluster, uneven, monkeypatch, tmp_path):
    """In a job (HFED_INPUT_PLAN, HFED_JOB_DIR set by the launcher), an evaluation input given
    its own paths reads those, and writes nothing over the job's counter file."""
    plan = HfedInput("/data/tf-ep", 0, 3, fs=client(cluster, "host-1"), worker_hosts=HOSTS, imbalance=0.5).plan
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(plan.to_json())
    monkeypatch.setenv("HFED_INPUT_PLAN", str(plan_file))
    monkeypatch.setenv("HFED_JOB_DIR", str(tmp_path))
    job_input = HfedInput(worker_index=0, fs=client(cluster, "host-1"))
    assert job_input.plan.digest() == plan.digest() and job_input.job_file == str(tmp_path / "worker-0.json")
    other = HfedInput("/data/tf-ep/host-1-*", 0, 1, fs=client(cluster, "host-1"))
    assert other.plan.digest() != plan.digest() and other.job_file is None
    assert {f.path for f in other.files} == {p for p in uneven if p.startswith("/data/tf-ep/host-1-")}
