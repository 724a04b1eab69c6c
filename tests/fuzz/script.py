"""Run one target under atheris (libFuzzer): ``python -m tests.fuzz.<target> [libFuzzer flags]``.

libFuzzer mutates the input bytes and writes any input whose call raised to a
crash-* file. The callback raises when a daemon logged a traceback, died or
stopped answering, or a call hung, so those inputs are kept. libFuzzer ends its
process with exit() and skips clean-up, so this process owns the cluster and
runs the fuzzing in a child that adopts it. atheris measures coverage of the
fuzzing process only (the daemons are other processes), so its guidance is
weak here: ``python -m bench.fuzz`` runs the same targets on random inputs for
a set time and reports figures.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import atheris

from tests.fuzz import harness

ENV_CLUSTER = "HFED_FUZZ_CLUSTER"
# Without coverage feedback libFuzzer would grow inputs from a few bytes only slowly.
DEFAULT_FLAGS = ["-max_len=4096", "-len_control=0"]


class FuzzFailure(AssertionError):
    pass


def main(module: str, attach, fuzz_one, tolerate_missing: bool = False) -> None:
    adopted = os.environ.get(ENV_CLUSTER)
    if adopted is None:
        base = tempfile.mkdtemp(prefix="hfed-fuzz-")
        directory = harness.cluster_dir(base, "cluster")
        with harness.FuzzCluster(directory):
            flags = [f for f in DEFAULT_FLAGS if f.split("=")[0] not in " ".join(sys.argv[1:])]
            code = subprocess.call([sys.executable, "-m", module, *flags, *sys.argv[1:]],
                                   env={**os.environ, ENV_CLUSTER: str(directory)})
        print(f"daemon logs: {directory / 'logs'}", file=sys.stderr)
        sys.exit(code)

    fc = harness.FuzzCluster(adopted).adopt()
    attach(fc)
    oracle = harness.Oracle(fc, tolerate_missing)
    watch = harness.LogWatch(fc.log_paths())
    count = 0

    def one(data: bytes) -> None:
        nonlocal count
        count += 1
        code, what = fuzz_one(data)
        problems = [f"{name}: {line}" for name, text in watch.new_text().items()
                    for _, line, _ in harness.tracebacks(text)]
        if code in harness.INTERNAL_CODES | harness.HANG_CODES:
            problems.append(what)
        if not problems and (code in harness.DOWN_CODES or count % 200 == 0):
            problems = oracle.check()
        if problems:
            print(f"input sent: {what}", file=sys.stderr)
            raise FuzzFailure("; ".join(problems))

    atheris.Setup(sys.argv, one)
    atheris.Fuzz()
