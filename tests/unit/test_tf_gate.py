"""The training quality gate (client/tf_gate.py) on local history files."""
import json

import pytest

from client.tf_gate import check, gate, read_history


def history_of(path, *values):
    path.write_text("".join(json.dumps({"accuracy": v}) + "\n" for v in values))
    return str(path)


def test_check_against_best_and_last_with_tolerance():
    assert check(0.95, [], 0.02) == (True, None)
    assert check(0.94, [0.90, 0.96, 0.93], 0.02) == (True, 0.96)       # exactly at best - tolerance
    assert check(0.9399, [0.90, 0.96, 0.93], 0.02) == (False, 0.96)
    assert check(0.92, [0.96, 0.93], 0.02, against="last") == (True, 0.93)
    assert check(0.30, [0.25, 0.40], 0.02, lower_is_better=True) == (False, 0.25)
    assert check(0.26, [0.25, 0.40], 0.02, lower_is_better=True) == (True, 0.25)
    with pytest.raises(ValueError, match="against"):
        check(1.0, [1.0], 0.0, against="median")
    with pytest.raises(ValueError, match="tolerance"):
        check(1.0, [1.0], -0.1)


def test_a_worse_result_fails_and_is_not_appended(tmp_path):
    history = history_of(tmp_path / "h.jsonl", 0.97, 0.95)
    verdict = gate({"accuracy": 0.94}, history, "accuracy", 0.02)
    assert not verdict.passed and verdict.baseline == 0.97
    assert "GATE FAILED: accuracy 0.9400 is more than 0.02 below the best earlier run (0.9700)" in verdict.message
    assert [e["accuracy"] for e in read_history(history)] == [0.97, 0.95]


def test_a_good_result_passes_and_is_appended(tmp_path):
    history = history_of(tmp_path / "h.jsonl", 0.95)
    verdict = gate({"accuracy": 0.96, "epochs": 5}, history)
    assert verdict.passed and verdict.baseline == 0.95
    last = read_history(history)[-1]
    assert last["accuracy"] == 0.96 and last["epochs"] == 5 and last["gate"] == "passed" and "time" in last


def test_no_history_passes_and_starts_one(tmp_path):
    history = str(tmp_path / "new" / "h.jsonl")
    assert gate({"accuracy": 0.5}, history).baseline is None
    assert len(read_history(history)) == 1


def test_record_failures_keeps_the_failed_run_marked(tmp_path):
    history = history_of(tmp_path / "h.jsonl", 0.99)
    assert not gate({"accuracy": 0.5}, history, record_failures=True).passed
    assert read_history(history)[-1]["gate"] == "failed"
    # A recorded failure never becomes the bar: the best is still 0.99.
    assert gate({"accuracy": 0.98}, history).baseline == 0.99


def test_bad_input_is_named_and_changes_nothing(tmp_path):
    history = history_of(tmp_path / "h.jsonl", 0.9)
    with pytest.raises(ValueError, match="the result has no 'accuracy' \\(it has: loss\\)"):
        gate({"loss": 0.1}, history)
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"accuracy": 0.9}\nnot json\n')
    with pytest.raises(ValueError, match="broken.jsonl: line 2 is not JSON"):
        gate({"accuracy": 0.95}, str(broken))
    assert broken.read_text() == '{"accuracy": 0.9}\nnot json\n'
    assert len(read_history(history)) == 1
