"""A quality gate for training jobs: refuse a model worse than the history's best (or last).

    hfed tf-gate --history hfed:///ci/train-history.jsonl --metric accuracy --tolerance 0.02 result.json

The history is JSON lines, one run each (a local file, or an hfed file given as
``hfed:///path``). A result passes unless its metric is more than ``tolerance``
below the best earlier value of that metric (``against="last"``: the most recent
one; ``lower_is_better``: above the best/last plus tolerance, e.g. for a loss).
An empty or missing history passes. On a pass the result is appended, with the
time and the verdict, so it becomes part of the next run's baseline; a failed
result is not (unless ``record_failures``), so a regression never lowers the bar.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
from pathlib import Path

HFED_SCHEME = "hfed://"


@dataclasses.dataclass
class GateResult:
    passed: bool
    value: float
    baseline: float | None     # the best (or last) earlier value, None with no history
    message: str


def _is_hfed(history: str) -> bool:
    return str(history).startswith(HFED_SCHEME)


def _hfed_path(history: str) -> str:
    path = str(history)[len(HFED_SCHEME):]
    if not path.startswith("/"):
        raise ValueError(f"{history}: an hfed history is hfed:///absolute/path")
    return path


def read_history(history: str, fs=None) -> list[dict]:
    if _is_hfed(history):
        fs = fs or _default_fs()
        path = _hfed_path(history)
        text = fs.cat_file(path).decode() if fs.exists(path) else ""
    else:
        local = Path(history)
        text = local.read_text() if local.exists() else ""
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                entries.append(json.loads(line))
            except ValueError as e:
                raise ValueError(f"{history}: line {number} is not JSON ({e})") from e
    return entries


def append_history(history: str, entry: dict, fs=None) -> None:
    line = json.dumps(entry, sort_keys=True) + "\n"
    if _is_hfed(history):
        fs = fs or _default_fs()
        path = _hfed_path(history)
        old = fs.cat_file(path) if fs.exists(path) else b""
        fs.pipe_file(path, old + line.encode())   # a whole new file: readers never see half a line
        return
    local = Path(history)
    local.parent.mkdir(parents=True, exist_ok=True)
    with local.open("a") as f:
        f.write(line)


def _default_fs():
    from client.fs import HfedFileSystem
    return HfedFileSystem()


def check(value: float, earlier: list[float], tolerance: float, against: str = "best",
          lower_is_better: bool = False) -> tuple[bool, float | None]:
    """Pure: does ``value`` pass against the earlier values? Returns (passed, baseline)."""
    if against not in ("best", "last"):
        raise ValueError(f"against must be 'best' or 'last', got {against!r}")
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    if not earlier:
        return True, None
    if against == "last":
        baseline = earlier[-1]
    else:
        baseline = min(earlier) if lower_is_better else max(earlier)
    passed = value <= baseline + tolerance if lower_is_better else value >= baseline - tolerance
    return passed, baseline


def gate(result: dict, history: str, metric: str = "accuracy", tolerance: float = 0.02, *,
         against: str = "best", lower_is_better: bool = False, record_failures: bool = False,
         fs=None) -> GateResult:
    """Judge ``result[metric]`` against the history and append the result on a pass."""
    if metric not in result:
        raise ValueError(f"the result has no {metric!r} (it has: {', '.join(sorted(result)) or 'nothing'})")
    value = float(result[metric])
    earlier = [float(e[metric]) for e in read_history(history, fs) if isinstance(e.get(metric), (int, float))]
    passed, baseline = check(value, earlier, tolerance, against, lower_is_better)
    which = f"{'lowest' if lower_is_better else 'best'} earlier" if against == "best" else "last"
    if baseline is None:
        message = f"gate passed: {metric} {value:.4f}, no earlier run in {history}"
    elif passed:
        message = (f"gate passed: {metric} {value:.4f}, {which} {baseline:.4f}, tolerance {tolerance}")
    else:
        direction = "above" if lower_is_better else "below"
        message = (f"GATE FAILED: {metric} {value:.4f} is more than {tolerance} {direction} the {which} run "
                   f"({baseline:.4f}) in {history}")
    if passed or record_failures:
        entry = {"time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                 **result, "gate": "passed" if passed else "failed"}
        append_history(history, entry, fs)
    return GateResult(passed, value, baseline, message)
