"""Run a training script on N workers: `hfed tf-run` and ``launch()``.

    hfed tf-run --workers 3 --input '/data/digits/train-*.tfrecord' -- python train.py --epochs 5
    launch(["python", "train.py"], workers=3, input="/data/digits/train-*.tfrecord").exit_code

The launcher plans the input once (which worker reads which file, from the
block locations: client/tf_assign.py), then starts one process per worker,
each declaring the host label of the DataNode whose blocks it reads, streams
every worker's output line by line as ``[worker i] ...``, and when a worker
fails stops the others (SIGTERM to its process group, SIGKILL after
``grace`` seconds): the job exits with the failed worker's exit code. With
token security on, the workers get a job's delegation tokens (cancelled when
the job ends), never the user's own credentials. At the end it merges the
workers' per-epoch counters into ``<job dir>/summary.json``.

Environment of every worker (the contract a script can rely on):
    TF_CONFIG        {"cluster": {"worker": [...]}, "task": {"type": "worker", "index": i}}
                     for MultiWorkerMirroredStrategy (unset with --workers 1: plain one process)
    HFED_HOST        the worker's host label (the client reads local blocks of that DataNode)
    HFED_INPUT_PLAN  path of the input plan (InputPlan JSON) when --input was given; the same
                     file for every worker (``job_plan()`` reads it)
    HFED_JOB_DIR     the job directory: logs, plan, tokens, counters, summary.json
    HFED_CONF        the cluster config the launcher used
    HFED_TOKEN_FILE  the job's delegation tokens (token security on only)

On a cluster with emulated hosts (`hfed cluster up --emulate-hosts N`, client/emulated_hosts.py)
each worker whose host is emulated runs inside that host's network namespace (`ip netns exec`),
and TF_CONFIG names the workers by their hosts' addresses instead of localhost.

Ending a worker: call ``finish()`` after the last step instead of returning. With
MultiWorkerMirroredStrategy, TensorFlow's coordination service runs inside worker 0; at
interpreter exit every worker's coordination agent waits at a shutdown barrier for all
tasks, and a worker that reaches it after worker 0's process is gone waits until the
barrier's timeout (minutes) before exiting. A bare ``os._exit`` right after the last step
is not enough either: a peer may still be receiving that step's collective from the
leaving worker and fail ("Collective ops is aborted by: Socket closed"). ``finish()``
waits until every worker has reached it (marks in the job directory), flushes the output
and leaves without TensorFlow's shutdown; whatever the worker owes (results, checkpoints)
must be written before it.
"""
from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TextIO

from client.tf_assign import InputPlan

ENV_PLAN = "HFED_INPUT_PLAN"
ENV_JOB_DIR = "HFED_JOB_DIR"
PLAN_FILE = "plan.json"
TOKEN_FILE = "job-tokens.json"
SUMMARY_FILE = "summary.json"
COUNTER_NAMES = ("local_bytes", "remote_bytes", "cached_bytes", "files", "records")
DEFAULT_GRACE = 10.0
FINISH_TIMEOUT = 120.0


@dataclasses.dataclass
class LaunchResult:
    exit_code: int              # 0, or the exit code of the first worker that failed
    job_dir: Path
    summary: dict


# ------------------------------------------------------------------ in a worker

def job_plan() -> InputPlan | None:
    """The input plan the launcher handed this worker (None outside a launched job)."""
    path = os.environ.get(ENV_PLAN)
    return InputPlan.from_json(Path(path).read_text()) if path else None


def finish(code: int = 0, timeout: float = FINISH_TIMEOUT) -> None:
    """Leave the worker now, skipping TensorFlow's shutdown (see the module doc).

    First a barrier: every worker of the job marks itself done in the job directory and waits
    for the others' marks (at most ``timeout`` seconds). A worker that left right after its last
    step could break a peer still receiving that step's collective from it ("Socket closed")."""
    job = os.environ.get(ENV_JOB_DIR)
    if job and "TF_CONFIG" in os.environ:
        tf_config = json.loads(os.environ["TF_CONFIG"])
        workers = len(tf_config["cluster"]["worker"])
        Path(job, f"worker-{tf_config['task']['index']}.done").write_text(str(code))
        deadline = time.monotonic() + timeout
        while (time.monotonic() < deadline
               and not all(Path(job, f"worker-{i}.done").exists() for i in range(workers))):
            time.sleep(0.05)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


# ------------------------------------------------------------------ the launcher

def free_ports(count: int) -> list[int]:
    """Ports free now on loopback (held together, so they are distinct)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def worker_env(index: int, hosts: list[str], ports: list[int], job_dir: Path, conf: str,
               plan_path: Path | None, token_file: Path | None, base: dict | None = None,
               addresses: list[str] | None = None) -> dict:
    """``addresses``: each worker's IP for TF_CONFIG (default: all on localhost)."""
    env = dict(os.environ if base is None else base)
    env.pop("TF_CONFIG", None)
    # Not HFED_WORKER_HOSTS: the adapter would apply it to every HfedInput of the script, a
    # one-worker evaluation input too (and refuse it); the plan carries the hosts instead.
    env.pop("HFED_WORKER_HOSTS", None)
    env.update({"HFED_HOST": hosts[index], ENV_JOB_DIR: str(job_dir),
                "HFED_CONF": conf, "PYTHONUNBUFFERED": "1"})
    if len(hosts) > 1:
        addresses = addresses or ["localhost"] * len(hosts)
        env["TF_CONFIG"] = json.dumps({"cluster": {"worker": [f"{a}:{p}" for a, p in zip(addresses, ports)]},
                                       "task": {"type": "worker", "index": index}})
    for name, value in ((ENV_PLAN, plan_path), ("HFED_TOKEN_FILE", token_file)):
        if value is None:
            env.pop(name, None)
        else:
            env[name] = str(value)
    return env


def launch(command: list[str], workers: int, *, hosts: list[str] | None = None, conf: str | None = None,
           job_dir: str | os.PathLike | None = None, input=None, plan: InputPlan | None = None,
           grace: float = DEFAULT_GRACE, timeout: float | None = None, out: TextIO | None = None,
           err: TextIO | None = None, env: dict | None = None) -> LaunchResult:
    """Run ``command`` as ``workers`` processes; returns when all ended (or one failed and the rest
    were stopped). ``input``: paths or globs to plan (or ``plan``, precomputed); ``hosts``: one host
    label per worker (default: the config's first DataNodes); ``timeout``: seconds for the whole
    job, after which every worker is stopped (exit code 124)."""
    from client import credentials, emulated_hosts
    from client.session import ClusterSession
    from protos import config as hconfig

    if not command:
        raise ValueError("no command to run: give it after --, e.g. hfed tf-run --workers 2 -- python train.py")
    if workers < 1:
        raise ValueError(f"--workers must be at least 1, got {workers}")
    out, err = out or sys.stdout, err or sys.stderr
    conf_path = str(hconfig.find_config_path(conf).resolve())
    session = ClusterSession(conf_path)
    try:
        hosts = _hosts(session, hosts or (list(plan.worker_hosts) if plan else None), workers, conf_path)
        job = Path(job_dir) if job_dir else Path(tempfile.mkdtemp(prefix="hfed-job-"))
        job.mkdir(parents=True, exist_ok=True)
        for stale in [*job.glob("worker-*.done"), *job.glob("worker-*.json")]:   # a job dir used before
            stale.unlink()
        started = time.monotonic()
        if plan is None and input is not None:
            from client.fs import HfedFileSystem
            from client.tf_adapter import plan_input   # imports TensorFlow: only when there is input to plan
            plan = plan_input(input, hosts, HfedFileSystem(session=session))
        plan_path = None
        if plan is not None:
            if list(plan.worker_hosts) != hosts:
                raise ValueError(f"the input plan is for workers on {list(plan.worker_hosts)}, not on {hosts}: "
                                 f"plan for these hosts (plan_input) or launch on the plan's")
            plan_path = job / PLAN_FILE
            plan_path.write_text(plan.to_json())
        token_file = None
        if session.cfg.security.tokens:
            token_file = job / TOKEN_FILE
            credentials.fetch_delegation_tokens(session, token_file)
        emulation = emulated_hosts.load(Path(conf_path).parent)
        prefixes = [emulation.exec_prefix(h) if emulation else [] for h in hosts]
        # A worker on no emulated host runs in the root namespace: the others reach it at the bridge's address.
        addresses = [(emulation.host(h).ip if emulation.host(h) else emulation.bridge_ip) if emulation
                     else "localhost" for h in hosts]
        try:
            ports = free_ports(workers) if workers > 1 else []
            envs = [worker_env(i, hosts, ports, job, conf_path, plan_path, token_file, env, addresses)
                    for i in range(workers)]
            codes, seconds, failed = _run_workers(command, envs, job, grace, timeout, out, err, prefixes)
        finally:
            if token_file is not None and token_file.exists():
                credentials.cancel_delegation_tokens(session, token_file)
                token_file.unlink()
    finally:
        session.close()
    exit_code = codes[failed] if failed is not None else 0
    summary = job_summary(job, command, hosts, codes, seconds, time.monotonic() - started, failed,
                          plan.digest() if plan else None)
    (job / SUMMARY_FILE).write_text(json.dumps(summary, indent=1) + "\n")
    return LaunchResult(exit_code, job, summary)


def _hosts(session, hosts: list[str] | None, workers: int, conf: str) -> list[str]:
    if hosts:
        if len(hosts) != workers:
            raise ValueError(f"--hosts names {len(hosts)} hosts for {workers} workers")
        return list(hosts)
    known = list(session.cfg.datanodes)
    if len(known) < workers:
        raise ValueError(f"{workers} workers but the cluster of {conf} has {len(known)} DataNodes "
                         f"({', '.join(known) or 'none'}): name the workers' hosts with --hosts")
    return known[:workers]


def _run_workers(command, envs, job: Path, grace, timeout, out, err, prefixes=None):
    """Start every worker, pump their output, stop the rest when one fails. ``prefixes``: per
    worker, a command that runs it elsewhere (`ip netns exec NS`, which execs: same pid)."""
    procs, pumps, logs = [], [], []
    starts = []
    for index, env in enumerate(envs):
        log = open(job / f"worker-{index}.log", "w")
        # Own process group: stopping a worker stops whatever it started too.
        proc = subprocess.Popen([*(prefixes[index] if prefixes else []), *command], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        starts.append(time.monotonic())
        procs.append(proc)
        # One thread per stream: a partial line on one never holds up the other.
        for stream, sink in ((proc.stdout, out), (proc.stderr, err)):
            thread = threading.Thread(target=_pump, args=(f"[worker {index}] ", stream, sink, log), daemon=True)
            thread.start()
            pumps.append(thread)
        logs.append(log)
    codes: list[int | None] = [None] * len(procs)
    ended = [0.0] * len(procs)
    failed = None
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while any(c is None for c in codes):
            for i, proc in enumerate(procs):
                if codes[i] is None and proc.poll() is not None:
                    codes[i] = _exit_code(proc.returncode)
                    ended[i] = time.monotonic()
                    if codes[i] != 0 and failed is None:
                        failed = i
                        print(f"hfed tf-run: worker {i} failed (exit {codes[i]}); stopping the others",
                              file=err, flush=True)
                        _stop([p for p in procs if p.poll() is None], grace)
            if deadline is not None and time.monotonic() > deadline and failed is None:
                print(f"hfed tf-run: the job did not finish within {timeout:.0f}s; stopping every worker",
                      file=err, flush=True)
                running = [i for i, p in enumerate(procs) if p.poll() is None]
                _stop([procs[i] for i in running], grace)
                failed = running[0] if running else None
                for i in running:
                    codes[i], ended[i] = 124, time.monotonic()
                    procs[i].wait()
            time.sleep(0.05)
    except BaseException:   # interrupted: no worker outlives the launcher
        _stop([p for p in procs if p.poll() is None], grace)
        raise
    finally:
        for thread in pumps:
            thread.join(timeout=5)
        for log in logs:
            log.close()
    return codes, [round(e - s, 3) for s, e in zip(starts, ended)], failed


_write_lock = threading.Lock()


def _pump(prefix: str, stream, sink, log) -> None:
    """Copy one output stream of a worker, line by line, prefixed, to ours and to its log file."""
    with stream:
        for raw in stream:
            text = prefix + raw.decode(errors="replace").rstrip("\n") + "\n"
            with _write_lock:   # whole lines, never two workers' halves
                sink.write(text)
                sink.flush()
                log.write(text)


def _stop(procs: list[subprocess.Popen], grace: float) -> None:
    for proc in procs:
        _signal(proc, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in procs:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal(proc, signal.SIGKILL)
            proc.wait()


def _signal(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def _exit_code(returncode: int) -> int:
    """A shell's convention: killed by signal N is 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


# ------------------------------------------------------------------ the summary

def job_summary(job: Path, command, hosts, codes, seconds, total_seconds, failed, plan_digest) -> dict:
    """The job's outcome and the per-epoch input counters each worker wrote (worker-<i>.json)."""
    per_worker, missing = [], []
    totals = dict.fromkeys(COUNTER_NAMES, 0)
    for i, host in enumerate(hosts):
        entry = {"worker": i, "host": host, "exit_code": codes[i], "seconds": seconds[i],
                 "log": str(job / f"worker-{i}.log")}
        counters = job / f"worker-{i}.json"
        if counters.exists():
            epochs = json.loads(counters.read_text()).get("epochs", [])
            entry["epochs"] = epochs
            entry["counters"] = {name: sum(int(e.get(name, 0)) for e in epochs) for name in COUNTER_NAMES}
            for name in COUNTER_NAMES:
                totals[name] += entry["counters"][name]
        else:
            missing.append(i)
        per_worker.append(entry)
    summary = {"job": str(job), "command": list(command), "workers": len(hosts), "hosts": list(hosts),
               "exit_code": codes[failed] if failed is not None else 0, "failed_worker": failed,
               "exit_codes": list(codes), "seconds": round(total_seconds, 3), "plan_digest": plan_digest,
               "per_worker": per_worker, "totals": totals if len(missing) < len(hosts) else None}
    if missing:
        summary["counters_missing"] = (f"workers {missing} wrote no {job}/worker-<i>.json: their input "
                                       f"counters are not in the totals (an HfedInput reading through the "
                                       f"adapter writes it at each epoch's end when {ENV_JOB_DIR} is set)")
    return summary
