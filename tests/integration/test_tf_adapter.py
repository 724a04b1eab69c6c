"""The TensorFlow input adapter on real clusters: locality, exact records, remote
fallback, a DataNode killed mid-epoch, bad input, tf.distribute, bench/train.py."""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

tf = pytest.importorskip("tensorflow", reason="the tf extra is not installed (pip install -e '.[tf]')")

from client.fs import HfedFileSystem  # noqa: E402
from client.tf_adapter import BlockCache, HfedInput, hfed_dataset, plan_input  # noqa: E402
from client.tf_records import frame, write_tfrecord_shards  # noqa: E402

HOSTS = ["host-1", "host-2", "host-3"]
REPO = Path(__file__).resolve().parents[2]


def client(cluster, host):
    return HfedFileSystem(conf=str(cluster.config_path), host=host, skip_instance_cache=True)


def make_records(count, size=900, tag=b""):
    return [tag + i.to_bytes(4, "little") + bytes([i % 251]) * size for i in range(count)]


@pytest.fixture
def shards(cluster, fs):
    """~3 MB of records in 1-block shards, replication 1, shard i's replica on HOSTS[i % 3]."""
    records = make_records(3300)
    written = write_tfrecord_shards(fs, records, "/data/tf-test", replication=1, hosts=HOSTS, overwrite=True)
    yield records, written
    fs.rm("/data/tf-test", recursive=True)


def read_all(ds):
    return [r.numpy() for r in ds]


def test_writer_makes_one_block_shards_on_the_chosen_hosts(fs, shards):
    records, written = shards
    assert len(written) >= 3 and sum(s.records for s in written) == len(records)
    for shard in written:
        located = fs.block_locations(shard.path)
        assert len(located.blocks) == 1
        assert [dn.host_label for dn in located.blocks[0].locations] == [shard.first_replica_host]


def test_each_worker_reads_its_local_shards_and_together_every_record_once(cluster, shards):
    records, written = shards
    got, planned = [], []
    for index, host in enumerate(HOSTS):
        ds = hfed_dataset("/data/tf-test/*.tfrecord", index, 3, fs=client(cluster, host), worker_hosts=HOSTS)
        source = ds.hfed_input
        mine = read_all(ds)
        counters = source.counters_now()
        assert counters.remote_bytes == 0 and counters.cached_bytes == 0
        assert counters.local_bytes == source.planned_bytes > 0
        assert counters.records == len(mine) and counters.files == len(source.files)
        got += mine
        planned += [f.path for f in source.files]
    assert sorted(planned) == sorted(s.path for s in written)
    assert sorted(got) == sorted(records)


def test_worker_without_local_replicas_reads_remotely_through_the_cache(cluster, shards, tmp_path):
    records, written = shards
    hosts = ["host-1", "host-2", "elsewhere"]
    plan = plan_input("/data/tf-test", hosts, client(cluster, "host-1"), imbalance=0.0)
    remote = HfedInput(plan=plan, worker_index=2, num_workers=3, fs=client(cluster, "elsewhere"),
                       cache_dir=str(tmp_path / "cache"))
    assert remote.files, "with no slack the third worker must take a share"
    ds = remote.dataset()
    first_epoch = read_all(ds)
    by_shard = {s.path: s for s in written}
    assert len(first_epoch) == sum(by_shard[f.path].records for f in remote.files)
    assert set(first_epoch) <= set(records)
    counters = remote.counters_now()
    assert counters.local_bytes == 0 and counters.remote_bytes == remote.planned_bytes
    assert read_all(ds) == first_epoch                     # second epoch: from the cache
    assert remote.counters_now().cached_bytes == remote.planned_bytes
    assert remote.counters_now().remote_bytes == remote.planned_bytes
    # the other two workers read the rest, locally: nothing lost, nothing twice
    rest = []
    for index in (0, 1):
        source = HfedInput(plan=plan, worker_index=index, num_workers=3, fs=client(cluster, hosts[index]))
        rest += read_all(source.dataset())
        assert source.counters_now().remote_bytes == 0
    assert sorted(rest + first_epoch) == sorted(records)


def test_multi_block_file_is_assembled_in_the_cache_from_local_blocks(cluster, tmp_path):
    writer = client(cluster, "host-2")
    records = make_records(2500, size=1000, tag=b"mb")
    payload = b"".join(frame(r) for r in records)                      # ~2.5 MB: 3 blocks of 1 MiB
    writer.pipe_file("/data/tf-multi.tfrecord", payload, replication=1)
    try:
        assert len(writer.block_locations("/data/tf-multi.tfrecord").blocks) == 3
        source = HfedInput("/data/tf-multi.tfrecord", fs=writer, cache_dir=str(tmp_path / "c"))
        assert read_all(source.dataset()) == records
        counters = source.counters_now()
        assert counters.local_bytes == len(payload) and counters.remote_bytes == 0
        lines = HfedInput("/data/tf-multi.tfrecord", fs=client(cluster, "elsewhere"), kind="bytes",
                          cache_dir=str(tmp_path / "c2"))
        assert read_all(lines.dataset()) == [payload]
        assert lines.counters_now().remote_bytes == len(payload)
    finally:
        writer.rm("/data/tf-multi.tfrecord")


def test_cache_stays_bounded_and_touches_only_its_own_files(tmp_path):
    (tmp_path / "notes.txt").write_text("not the cache's")
    cache = BlockCache(str(tmp_path), max_bytes=250, keep_recent=2)
    keys = [f"{i:016x}-f{i}" for i in range(3)]
    for key in keys:
        Path(cache.partial_path(key)).write_bytes(b"x" * 100)
        cache.commit(key)
    assert cache.lookup(keys[0]) is None and cache.lookup(keys[2]) is not None
    assert sorted(os.listdir(tmp_path)) == keys[1:] + ["notes.txt"]
    Path(cache.partial_path("0" * 16 + "-dead")).write_bytes(b"half")      # a fetch that died
    again = BlockCache(str(tmp_path), max_bytes=250)
    assert again.lookup(keys[1]) and sorted(os.listdir(tmp_path)) == keys[1:] + ["notes.txt"]


def test_text_lines(cluster, fs):
    fs.pipe_file("/user/tf-lines.txt", b"alpha\nbeta\ngamma\n")
    try:
        ds = hfed_dataset("/user/tf-lines.txt", kind="lines", fs=client(cluster, "host-1"))
        assert read_all(ds) == [b"alpha", b"beta", b"gamma"]
        assert ds.hfed_input.counters_now().records == 3
    finally:
        fs.rm("/user/tf-lines.txt")


def test_missing_paths_and_bad_arguments_name_what_is_wrong(cluster, fs):
    with pytest.raises(FileNotFoundError, match=r"/data/no-such-\*\.tfrecord.*no hfed file matches.*ns-b"):
        hfed_dataset("/data/no-such-*.tfrecord", fs=fs)
    with pytest.raises(FileNotFoundError, match="/data/absent.tfrecord"):
        hfed_dataset("/data/absent.tfrecord", fs=fs)
    with pytest.raises(ValueError, match="worker_index 3 is out of range for 3 workers"):
        hfed_dataset("/data", 3, 3, fs=fs, worker_hosts=HOSTS)
    with pytest.raises(ValueError, match="kind must be one of"):
        hfed_dataset("/data", kind="parquet", fs=fs)


def test_corrupt_tfrecord_error_names_the_hfed_file(cluster, fs):
    good = frame(b"x" * 100)
    fs.pipe_file("/data/tf-corrupt.tfrecord", good + good[:40] + b"\0" * 60)
    try:
        source = HfedInput("/data/tf-corrupt.tfrecord", fs=client(cluster, "host-1"))
        with pytest.raises(tf.errors.DataLossError, match=r"at 116.* in hfed file /data/tf-corrupt.tfrecord "
                                                            r"\[namespace ns-b\]"):
            with source.errors_named():
                read_all(source.dataset())
    finally:
        fs.rm("/data/tf-corrupt.tfrecord")


def test_a_replica_corrupted_on_disk_after_its_first_epoch_is_named_when_a_later_epoch_reads_it(cluster, fs):
    """A later epoch reuses the DataNode's answer without asking again; a bad record still names its hfed file."""
    writer = client(cluster, "host-1")
    write_tfrecord_shards(writer, make_records(900), "/data/tf-rot", replication=1, hosts=["host-1"],
                          records_per_shard=300)
    try:
        source = HfedInput("/data/tf-rot", fs=writer)
        ds = source.dataset()
        assert len(read_all(ds)) == 900
        middle = source.files[1]
        block_file = source.local_path(middle)
        with open(block_file, "r+b") as f:    # the length stays: the reused answer still looks valid
            f.seek(5000)
            f.write(b"\xff" * 64)
        with pytest.raises(tf.errors.DataLossError, match=rf"in hfed file {middle.path} \[namespace ns-b\]"):
            with source.errors_named():
                read_all(ds)
    finally:
        fs.rm("/data/tf-rot", recursive=True)


def test_datanode_killed_mid_epoch_the_worker_finishes_from_other_replicas(fresh_cluster, tmp_path):
    cluster = fresh_cluster(namespaces=1, replication=2)
    writer = client(cluster, "host-1")
    records = make_records(4000, size=700)
    write_tfrecord_shards(writer, records, "/data/epoch", replication=2, hosts=["host-1"])
    source = HfedInput("/data/epoch", fs=writer, cache_dir=str(tmp_path / "cache"))
    assert len(source.files) >= 3
    iterator = iter(source.dataset())
    got = [next(iterator).numpy()]                     # the first shard is open from host-1's block file
    cluster.kill_datanode("host-1", signal.SIGKILL)
    got += [r.numpy() for r in iterator]
    assert got == records
    counters = source.counters_now()
    assert counters.local_bytes > 0 and counters.remote_bytes > 0
    assert counters.local_bytes + counters.remote_bytes == source.planned_bytes


def test_later_epochs_reuse_what_they_can_but_never_serve_stale_bytes(cluster, fs):
    """From the second epoch on a worker reuses its DataNode's short-circuit answers and
    the record counts of files it already walked; files rewritten between epochs (new
    blocks, other record counts) are still read anew, and counted anew."""
    writer = client(cluster, "host-1")
    old, new = make_records(900, tag=b"old"), make_records(1500, size=400, tag=b"new")
    write_tfrecord_shards(writer, old, "/data/tf-epochs", replication=1, hosts=["host-1"], records_per_shard=300)
    try:
        source = HfedInput("/data/tf-epochs", fs=writer)
        assert len(source.files) == 3
        ds = source.dataset()
        assert read_all(ds) == old and read_all(ds) == old
        write_tfrecord_shards(writer, new, "/data/tf-epochs", replication=1, hosts=["host-1"],
                              records_per_shard=500, overwrite=True)   # the same three names
        assert read_all(ds) == new
        epochs = source.epoch_counters()
        assert [e["records"] for e in epochs] == [len(old), len(old), len(new)]
        assert [e["files"] for e in epochs] == [3, 3, 3]
        assert all(e["remote_bytes"] == 0 and e["local_bytes"] > 0 for e in epochs)
    finally:
        fs.rm("/data/tf-epochs", recursive=True)


def test_distribute_datasets_from_function_under_multi_worker_mirrored_strategy(cluster, shards):
    records, _ = shards
    strategy = tf.distribute.MultiWorkerMirroredStrategy()       # no TF_CONFIG: one local worker
    made = []

    def dataset_fn(ctx):
        source = HfedInput("/data/tf-test", input_context=ctx, fs=client(cluster, "host-2"))
        made.append(source)
        return source.dataset().batch(ctx.get_per_replica_batch_size(64))
    dist = strategy.distribute_datasets_from_function(dataset_fn)
    got = []
    for batch in dist:
        for part in strategy.experimental_local_results(batch):
            got += list(part.numpy())
    assert sorted(got) == sorted(records)
    (source,) = made
    options = source.dataset().options()
    assert options.experimental_distribute.auto_shard_policy == tf.data.experimental.AutoShardPolicy.OFF
    assert source.counters_now().records == len(records)


@pytest.mark.slow
def test_bench_train_two_workers_and_the_gate(tmp_path):
    history = tmp_path / "history.jsonl"
    history.write_text(json.dumps({"accuracy": 1.0}) + "\n")   # an earlier run no 3-epoch run can match
    cmd = [sys.executable, "-m", "bench.train", "--workers", "2", "--epochs", "3", "--gate",
           "--tolerance", "0.001", "--history", str(history)]
    run = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=280)
    assert run.returncode == 3, run.stdout + run.stderr
    assert "remote input bytes: 0" in run.stdout
    assert "GATE FAILED" in run.stderr and "(1.0000)" in run.stderr
    entry = json.loads(history.read_text().splitlines()[-1])
    assert entry["workers"] == 2 and entry["remote_bytes"] == 0 and entry["gate"] == "failed"
    assert all(w["records"] > 0 for w in entry["per_worker"])
    # Exact epochs: in every epoch the trainers' records (the adapter's per-epoch counters, merged by
    # the launcher) add up to the training set (digits: 1797 records, 360 held out), each read once.
    assert entry["train_records"] == 1797 - 360
    per_epoch = entry["records_per_epoch"]
    assert len(per_epoch) == 2 and all(len(counts) == 3 for counts in per_epoch)
    assert [sum(column) for column in zip(*per_epoch)] == [1437, 1437, 1437]
    assert "sum over trainers: 1437 in every epoch = the training set (1437 records)" in run.stdout
    # Trainers act as the user through the job's delegation tokens, not the user's own credentials.
    assert all(w["credentials"].endswith("job-tokens.json") for w in entry["per_worker"]), entry["per_worker"]
