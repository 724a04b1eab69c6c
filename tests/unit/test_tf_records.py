"""TFRecord framing and record counting, without TensorFlow."""
import os

import pytest

from client.tf_records import count_lines, count_records, frame, iter_records


def counted(tmp_path, data, counter):
    path = tmp_path / "f"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        return counter(fd)
    finally:
        os.close(fd)


def test_frames_round_trip_and_are_counted(tmp_path):
    records = [b"", b"a", os.urandom(5000), b"z" * 70000]
    raw = b"".join(frame(r) for r in records)
    assert list(iter_records(raw)) == records
    assert counted(tmp_path, raw, count_records) == 4
    assert counted(tmp_path, raw[:-3], count_records) == 3      # a truncated last record is not counted
    assert counted(tmp_path, b"", count_records) == 0


def test_known_tensorflow_framing():
    # b"hello" as tf.io.TFRecordWriter writes it
    assert frame(b"hello").hex() == "0500000000000000eab2043e68656c6c6fbb1f1c19"


def test_corruption_is_named_with_its_offset():
    raw = bytearray(frame(b"x" * 10) + frame(b"y" * 10))
    raw[26 + 14] ^= 1
    with pytest.raises(ValueError, match=r"shard-7: corrupt TFRecord data at offset 26"):
        list(iter_records(bytes(raw), "shard-7"))


def test_lines_count_like_text_line_dataset(tmp_path):
    assert counted(tmp_path, b"a\nb\nc\n", count_lines) == 3
    assert counted(tmp_path, b"a\nb\nc", count_lines) == 3
    assert counted(tmp_path, b"", count_lines) == 0


def test_adapter_without_tensorflow_says_how_to_install_it():
    import subprocess
    import sys
    code = "import sys; sys.modules['tensorflow'] = None; import client.tf_adapter"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    assert "client.tf_adapter needs TensorFlow" in run.stderr and ".[tf]" in run.stderr


def test_records_and_lines_are_counted_alike_from_any_chunking(tmp_path):
    import random
    from client.tf_records import count_lines_in_stream, count_records_in_stream
    rng = random.Random(5)
    for _ in range(100):
        raw = b"".join(frame(os.urandom(rng.randint(0, 60))) for _ in range(rng.randint(0, 20)))
        raw = raw[:rng.randint(0, len(raw))] if rng.random() < 0.3 else raw     # sometimes a truncated tail
        cuts = sorted(rng.sample(range(1, len(raw)), min(5, max(0, len(raw) - 1)))) if len(raw) > 1 else []
        chunks = [raw[a:b] for a, b in zip([0] + cuts, cuts + [len(raw)])]
        assert count_records_in_stream(chunks, len(raw)) == counted(tmp_path, raw, count_records)
        text = bytes(rng.choice(b"ab\n") for _ in range(rng.randint(0, 50)))
        assert count_lines_in_stream([text[:7], text[7:]]) == counted(tmp_path, text, count_lines)
