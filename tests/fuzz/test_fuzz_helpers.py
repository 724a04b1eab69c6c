"""The fuzzers' own parts, without a cluster: inputs replay, requests stay buildable, logs parse."""
from __future__ import annotations

import random

from protos import datatransfer as dt
from protos import hfed_pb2 as pb

from tests.fuzz import harness
from tests.fuzz.mutate import Hints, Provider, bend, build, message_class

REQUESTS = [message_class(m.input_type) for s in pb.DESCRIPTOR.services_by_name.values() for m in s.methods]
REQUESTS += list(dt.BODIES.values())
HINTS = Hints(path=["/user/fuzzer/a"], block_id=[1073741824], token=["hfed1.x.y"])


def test_the_same_input_builds_the_same_request():
    rng = random.Random(3)
    for _ in range(200):
        data = rng.randbytes(rng.choice([0, 8, 256, 4096]))
        cls = REQUESTS[rng.randrange(len(REQUESTS))]
        first = bend(Provider(data), cls, HINTS, REQUESTS)
        assert bend(Provider(data), cls, HINTS, REQUESTS) == first


def test_every_request_type_builds_and_mostly_parses_back():
    rng = random.Random(4)
    for cls in REQUESTS:
        for _ in range(20):
            message = build(Provider(rng.randbytes(512)), cls, HINTS)
            raw = message.SerializeToString()
            assert len(raw) < 8 << 20
            assert cls.FromString(raw) == message


def test_hints_are_used_and_bounded():
    hints = Hints()
    for i in range(1000):
        hints.add("path", f"/p{i}")
    assert len(hints.get("path")) == Hints.LIMIT
    paths = {build(Provider(random.Random(i).randbytes(64)), pb.GetFileInfoRequest, HINTS).path for i in range(50)}
    assert "/user/fuzzer/a" in paths


def test_a_logged_traceback_is_found_with_where_it_was_raised():
    log = ("2026-01-01 00:00:00,000 ns-a ERROR x: boom\n"
           "Traceback (most recent call last):\n"
           '  File "/repo/namenode/servicer.py", line 10, in Mkdirs\n'
           "    do()\n"
           '  File "/repo/protos/paths.py", line 42, in validate\n'
           "    raise ValueError('bad')\n"
           "ValueError: bad\n"
           "2026-01-01 00:00:01,000 ns-a INFO x: next\n")
    [(signature, line, whole)] = harness.tracebacks(log)
    assert signature == "ValueError at paths.py:42"
    assert line == "ValueError: bad"
    assert "servicer.py" in whole


def test_log_lines_are_grouped_by_kind():
    a = harness.line_template("2026-01-01 00:00:00,000 ns-a WARNING namenode.servicer: bad replica of block 7 on x")
    b = harness.line_template("2026-01-01 00:00:09,999 ns-a WARNING namenode.servicer: bad replica of block 8 on y")
    assert a == b
    assert harness.line_template('  File "x.py", line 1') == "traceback or continuation"


def test_a_traceback_still_being_written_is_read_whole_later(tmp_path):
    log = tmp_path / "ns-a.log"
    log.write_text("")
    watch = harness.LogWatch({"ns-a": log})
    log.write_text("2026-01-01 00:00:00,000 ns-a INFO x: up\nTraceback (most recent call last):\n"
                   '  File "/repo/a.py", line 3, in f\n')
    assert harness.tracebacks(watch.new_text()["ns-a"]) == []
    with open(log, "a") as f:
        f.write("KeyError: 'k'\n")
    [(signature, _, _)] = harness.tracebacks(watch.new_text()["ns-a"])
    assert signature == "KeyError at a.py:3"
