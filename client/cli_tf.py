"""Training-job commands of the `hfed` CLI:

    hfed [--conf PATH] tf-run --workers N [--hosts h1,...] [--input GLOB]... [--job-dir DIR] -- CMD ARGS...
    hfed [--conf PATH] tf-gate --history FILE|hfed:///PATH [--metric M] [--tolerance T] RESULT.json
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from client.cli_dfs import CommandError, Parser, UsageError


def run_tf_run(ctx, args) -> int:
    from client import tf_launch

    if "--" in args:
        split = args.index("--")
        args, command = args[:split], args[split + 1:]
    else:
        command = []
    parser = Parser("hfed tf-run", description="run a training script on N workers, each on the host of the "
                                               "blocks it reads (see client/tf_launch.py for the workers' env)")
    parser.add_argument("--workers", type=int, required=True, help="worker processes (1: one plain process)")
    parser.add_argument("--hosts", help="comma-separated host label per worker (default: the first DataNodes)")
    parser.add_argument("--input", action="append", metavar="PATH|GLOB",
                        help="input to plan once for all workers (HFED_INPUT_PLAN); repeatable")
    parser.add_argument("--conf", help="cluster config (as hfed --conf)")
    parser.add_argument("--job-dir", help="logs, plan, counters and summary.json (default: a new temp dir)")
    parser.add_argument("--grace", type=float, default=tf_launch.DEFAULT_GRACE,
                        help="seconds between SIGTERM and SIGKILL when stopping workers")
    parser.add_argument("--timeout", type=float, help="seconds for the whole job (then exit 124)")
    a = parser.parse_args(args)
    if not command:
        raise UsageError("tf-run: give the command after --, e.g. hfed tf-run --workers 3 -- python train.py",
                         parser.format_usage().strip())
    try:
        result = tf_launch.launch(command, a.workers, hosts=a.hosts.split(",") if a.hosts else None,
                                  conf=a.conf or ctx.conf_flag, job_dir=a.job_dir, input=a.input,
                                  grace=a.grace, timeout=a.timeout)
    except (OSError, ValueError) as e:
        raise CommandError("tf-run", e) from e
    s = result.summary
    verdict = "succeeded" if result.exit_code == 0 else \
        f"failed: worker {s['failed_worker']} exited {result.exit_code}"
    print(f"hfed tf-run: job {verdict} in {s['seconds']:.1f}s; summary in {result.job_dir / tf_launch.SUMMARY_FILE}",
          file=sys.stderr)
    return result.exit_code


def run_tf_gate(ctx, args) -> int:
    from client import tf_gate

    parser = Parser("hfed tf-gate", description="fail (exit 1) when a training result is worse than the "
                                                "history's best (or last) minus the tolerance; append it on a pass")
    parser.add_argument("result", metavar="RESULT.json", help="a JSON object holding the metric")
    parser.add_argument("--history", required=True, help="JSON lines history: a local file or hfed:///PATH")
    parser.add_argument("--metric", default="accuracy")
    parser.add_argument("--tolerance", type=float, default=0.02)
    parser.add_argument("--against", choices=["best", "last"], default="best")
    parser.add_argument("--lower-is-better", action="store_true", help="e.g. for a loss")
    a = parser.parse_args(args)
    try:
        result = json.loads(Path(a.result).read_text())
        if not isinstance(result, dict):
            raise ValueError(f"{a.result}: expected a JSON object, got {type(result).__name__}")
        fs = ctx.fs if a.history.startswith(tf_gate.HFED_SCHEME) else None
        verdict = tf_gate.gate(result, a.history, a.metric, a.tolerance, against=a.against,
                               lower_is_better=a.lower_is_better, fs=fs)
    except (OSError, ValueError) as e:
        raise CommandError("tf-gate", e) from e
    print(verdict.message, file=sys.stdout if verdict.passed else sys.stderr)
    return 0 if verdict.passed else 1
