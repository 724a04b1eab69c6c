"""The training-job launcher (hfed tf-run / client.tf_launch.launch) on a real cluster, with
small user scripts of its own (not the project's): what each worker sees, log prefixes, a
failing worker stopping the job, the job summary; one real MultiWorkerMirroredStrategy job."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from client.tf_launch import launch

REPO = Path(__file__).resolve().parents[2]
HOSTS = ["host-1", "host-2", "host-3"]

# A user's script that needs no TensorFlow: reports what it was given, in its job dir.
SEE_SCRIPT = textwrap.dedent("""
    import json, os, sys, time
    from pathlib import Path
    tf_config = json.loads(os.environ["TF_CONFIG"]) if "TF_CONFIG" in os.environ else None
    index = tf_config["task"]["index"] if tf_config else 0
    job = Path(os.environ["HFED_JOB_DIR"])
    plan = os.environ.get("HFED_INPUT_PLAN")
    token_file = os.environ.get("HFED_TOKEN_FILE")
    (job / f"seen-{index}.json").write_text(json.dumps({
        "tf_config": tf_config, "host": os.environ["HFED_HOST"], "conf": os.environ["HFED_CONF"],
        "plan": Path(plan).read_text() if plan else None,
        "token_file": token_file, "token_file_existed": bool(token_file) and os.path.exists(token_file),
        "pid": os.getpid(), "argv": sys.argv[1:]}))
    print(f"hello from {index}", flush=True)
    print(f"warning from {index}", file=sys.stderr, flush=True)
    fail = os.environ.get("FAIL_WORKER")
    if fail is not None:
        if int(fail) == index:
            time.sleep(0.5)
            sys.exit(7)
        time.sleep(600)    # a peer waiting forever for the failed worker's collectives
""")


@pytest.fixture
def see_script(tmp_path):
    path = tmp_path / "see.py"
    path.write_text(SEE_SCRIPT)
    return path


def seen(job_dir, workers):
    return [json.loads((Path(job_dir) / f"seen-{i}.json").read_text()) for i in range(workers)]


def test_three_workers_get_tf_config_hosts_and_a_job_token(cluster, see_script, tmp_path, capfd):
    job = tmp_path / "job"
    result = launch([sys.executable, str(see_script), "--lr", "0.1"], 3, conf=str(cluster.config_path),
                    job_dir=job, timeout=120)
    assert result.exit_code == 0
    views = seen(job, 3)
    ports = views[0]["tf_config"]["cluster"]["worker"]
    assert len(set(ports)) == 3
    for i, view in enumerate(views):
        assert view["tf_config"] == {"cluster": {"worker": ports}, "task": {"type": "worker", "index": i}}
        assert view["host"] == HOSTS[i]
        assert view["argv"] == ["--lr", "0.1"]
        assert view["conf"] == str(Path(cluster.config_path).resolve())
        # Security is on: the job's delegation tokens, removed (and cancelled) when the job ends.
        assert view["token_file"] == str(job / "job-tokens.json") and view["token_file_existed"]
    assert not (job / "job-tokens.json").exists()
    out, err = capfd.readouterr()
    for i in range(3):
        assert f"[worker {i}] hello from {i}\n" in out
        assert f"[worker {i}] warning from {i}\n" in err
        log = (job / f"worker-{i}.log").read_text()
        assert f"[worker {i}] hello from {i}" in log and f"[worker {i}] warning from {i}" in log
    summary = json.loads((job / "summary.json").read_text())
    assert summary["exit_code"] == 0 and summary["exit_codes"] == [0, 0, 0] and summary["workers"] == 3
    assert summary["totals"] is None and "worker-<i>.json" in summary["counters_missing"]


def test_one_worker_failing_stops_the_others_and_sets_the_exit_code(cluster, see_script, tmp_path, capfd):
    job = tmp_path / "job"
    result = launch([sys.executable, str(see_script)], 3, conf=str(cluster.config_path), job_dir=job,
                    grace=2.0, timeout=120, env=dict(os.environ, FAIL_WORKER="1"))
    assert result.exit_code == 7
    summary = result.summary
    assert summary["failed_worker"] == 1 and summary["exit_codes"][1] == 7
    assert summary["exit_codes"][0] == summary["exit_codes"][2] == 128 + 15    # SIGTERM
    for view in seen(job, 3):
        with pytest.raises(ProcessLookupError):
            os.kill(view["pid"], 0)
    assert "worker 1 failed (exit 7); stopping the others" in capfd.readouterr().err


def test_one_worker_runs_plain_without_tf_config(cluster, see_script, tmp_path):
    result = launch([sys.executable, str(see_script)], 1, conf=str(cluster.config_path), job_dir=tmp_path / "j",
                    hosts=["host-2"], timeout=60)
    assert result.exit_code == 0
    (view,) = seen(tmp_path / "j", 1)
    assert view["tf_config"] is None and view["host"] == "host-2" and view["plan"] is None


def test_counters_of_workers_are_merged_into_the_summary(cluster, tmp_path):
    script = tmp_path / "counts.py"
    script.write_text(textwrap.dedent("""
        import json, os
        i = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
        epochs = [{"epoch": e, "local_bytes": 100 * (i + 1), "remote_bytes": 0, "cached_bytes": 0,
                   "files": 2, "records": 10 + i} for e in range(2)]
        with open(os.path.join(os.environ["HFED_JOB_DIR"], f"worker-{i}.json"), "w") as f:
            json.dump({"worker": i, "epochs": epochs}, f)
    """))
    result = launch([sys.executable, str(script)], 2, conf=str(cluster.config_path), job_dir=tmp_path / "j",
                    timeout=60)
    s = result.summary
    assert result.exit_code == 0 and "counters_missing" not in s
    assert [w["counters"]["local_bytes"] for w in s["per_worker"]] == [200, 400]
    assert s["totals"] == {"local_bytes": 600, "remote_bytes": 0, "cached_bytes": 0, "files": 8, "records": 42}
    assert len(s["per_worker"][1]["epochs"]) == 2


def test_bad_launches_name_what_is_wrong(cluster, see_script, tmp_path):
    conf = str(cluster.config_path)
    with pytest.raises(ValueError, match="--hosts names 2 hosts for 3 workers"):
        launch([sys.executable, str(see_script)], 3, hosts=["host-1", "host-2"], conf=conf, job_dir=tmp_path)
    with pytest.raises(ValueError, match="4 workers but the cluster .* has 3 DataNodes"):
        launch([sys.executable, str(see_script)], 4, conf=conf, job_dir=tmp_path)
    with pytest.raises(ValueError, match="no command"):
        launch([], 2, conf=conf)


def test_cli_exit_code_and_usage(cluster, see_script, tmp_path):
    env = dict(os.environ, FAIL_WORKER="0")
    cmd = [sys.executable, "-m", "client.cli", "--conf", str(cluster.config_path), "tf-run", "--workers", "2",
           "--grace", "2", "--job-dir", str(tmp_path / "j"), "--", sys.executable, str(see_script)]
    run = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 7, run.stderr
    assert "[worker 0] hello from 0" in run.stdout
    assert "job failed: worker 0 exited 7" in run.stderr and "summary.json" in run.stderr
    usage = subprocess.run([sys.executable, "-m", "client.cli", "tf-run", "--workers", "2"], cwd=REPO,
                           capture_output=True, text=True, timeout=60)
    assert usage.returncode == 2 and "give the command after --" in usage.stderr


# ------------------------------------------------------------------ with TensorFlow

MWMS_SCRIPT = textwrap.dedent("""
    import json, os
    import tensorflow as tf
    from client.fs import HfedFileSystem
    from client.tf_adapter import HfedInput
    from client.tf_launch import finish, job_plan

    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    fs = HfedFileSystem(skip_instance_cache=True)
    made = []

    def dataset_fn(ctx):
        source = HfedInput(plan=job_plan(), input_context=ctx, fs=fs)
        made.append(source)
        return source.dataset().batch(16)

    dist = strategy.distribute_datasets_from_function(dataset_fn)
    records = []
    for batch in dist:
        for part in strategy.experimental_local_results(batch):
            records += [r.hex() for r in part.numpy()]
    source, = made
    job = os.environ["HFED_JOB_DIR"]
    with open(os.path.join(job, f"read-{source.worker_index}.json"), "w") as f:
        json.dump({"records": records, "plan_digest": source.plan.digest(), "host": source.host,
                   "counters": source.counters_now().as_dict(),
                   "credentials": fs.session.credentials.source}, f)
    print("done", flush=True)
    finish()
""")


@pytest.mark.slow
def test_multi_worker_mirrored_strategy_job_reads_its_plan_locally(cluster, fs, tmp_path):
    pytest.importorskip("tensorflow", reason="the tf extra is not installed")
    from client.tf_records import write_tfrecord_shards

    records = [i.to_bytes(4, "little") * 50 for i in range(600)]
    write_tfrecord_shards(fs, records, "/data/launch-test", replication=1, hosts=HOSTS[:2], overwrite=True,
                          block_size=32 << 10)
    try:
        script = tmp_path / "train.py"
        script.write_text(MWMS_SCRIPT)
        env = dict(os.environ, PYTHONPATH=str(REPO), CUDA_VISIBLE_DEVICES="-1", TF_CPP_MIN_LOG_LEVEL="2")
        job = tmp_path / "job"
        result = launch([sys.executable, str(script)], 2, conf=str(cluster.config_path), job_dir=job,
                        input="/data/launch-test/*.tfrecord", env=env, timeout=240)
        assert result.exit_code == 0
        reads = [json.loads((job / f"read-{i}.json").read_text()) for i in range(2)]
        # One plan, computed by the launcher, handed identically to every worker.
        assert reads[0]["plan_digest"] == reads[1]["plan_digest"] == result.summary["plan_digest"]
        assert [r["host"] for r in reads] == HOSTS[:2]
        assert sorted(bytes.fromhex(x) for r in reads for x in r["records"]) == sorted(records)
        assert all(r["counters"]["remote_bytes"] == 0 and r["counters"]["local_bytes"] > 0 for r in reads)
        assert all(r["credentials"].endswith("job-tokens.json") for r in reads)
    finally:
        fs.rm("/data/launch-test", recursive=True)


def test_gate_cli_with_the_history_in_hfed(cluster, fs, tmp_path):
    history = "hfed:///tmp/gate-test/history.jsonl"
    base = [sys.executable, "-m", "client.cli", "--conf", str(cluster.config_path), "tf-gate", "--history", history,
            "--metric", "accuracy", "--tolerance", "0.02"]
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps({"accuracy": 0.96}))
    bad.write_text(json.dumps({"accuracy": 0.93}))
    try:
        first = subprocess.run(base + [str(good)], cwd=REPO, capture_output=True, text=True, timeout=60)
        assert first.returncode == 0 and "no earlier run" in first.stdout, first.stderr
        worse = subprocess.run(base + [str(bad)], cwd=REPO, capture_output=True, text=True, timeout=60)
        assert worse.returncode == 1
        assert "GATE FAILED: accuracy 0.9300 is more than 0.02 below the best earlier run (0.9600)" in worse.stderr
        lines = fs.cat_file("/tmp/gate-test/history.jsonl").decode().splitlines()
        assert [json.loads(line)["accuracy"] for line in lines] == [0.96]
        missing = subprocess.run(base + [str(tmp_path / "nope.json")], cwd=REPO, capture_output=True, text=True,
                                 timeout=60)
        assert missing.returncode == 1 and "nope.json" in missing.stderr
    finally:
        if fs.exists("/tmp/gate-test"):
            fs.rm("/tmp/gate-test", recursive=True)


def test_a_plan_for_other_hosts_is_refused_before_any_worker_starts(cluster, see_script, tmp_path):
    from client.tf_assign import InputPlan

    plan = InputPlan((), ("host-3", "host-1"), ())
    with pytest.raises(ValueError, match=r"plan is for workers on \['host-3', 'host-1'\], not on \['host-1', 'host-2'\]"):
        launch([sys.executable, str(see_script)], 2, hosts=["host-1", "host-2"], plan=plan,
               conf=str(cluster.config_path), job_dir=tmp_path / "j")
    assert not list((tmp_path / "j").glob("seen-*"))


@pytest.mark.slow
def test_input_matching_nothing_fails_the_job_before_it_starts(cluster, see_script, tmp_path):
    pytest.importorskip("tensorflow", reason="the tf extra is not installed")
    cmd = [sys.executable, "-m", "client.cli", "--conf", str(cluster.config_path), "tf-run", "--workers", "2",
           "--input", "/data/no-such-*.tfrecord", "--job-dir", str(tmp_path / "j"), "--", sys.executable,
           str(see_script)]
    run = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    assert "/data/no-such-*.tfrecord: no hfed file matches this pattern [namespace" in run.stderr
    assert not list((tmp_path / "j").glob("seen-*"))


def test_finish_waits_for_every_worker_before_leaving(cluster, tmp_path):
    script = tmp_path / "barrier.py"
    script.write_text(textwrap.dedent("""
        import json, os, time
        from pathlib import Path
        from client.tf_launch import finish
        index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
        job = Path(os.environ["HFED_JOB_DIR"])
        if index == 1:
            (job / "pid-1").write_text(str(os.getpid()))
            finish()
        while not (job / "worker-1.done").exists():
            time.sleep(0.05)
        try:
            os.kill(int((job / "pid-1").read_text()), 0)
            (job / "peer-alive").write_text("worker 1 still waits at the barrier")
        except ProcessLookupError:
            pass
        finish()
    """))
    env = dict(os.environ, PYTHONPATH=str(REPO))
    result = launch([sys.executable, str(script)], 2, conf=str(cluster.config_path), job_dir=tmp_path / "j",
                    env=env, timeout=60)
    assert result.exit_code == 0
    assert (tmp_path / "j" / "peer-alive").exists()
