"""The shared contract: generated code is current, path rules, checksums, config."""
import subprocess
import sys
from pathlib import Path

import pytest

from protos import checksum, config, paths
from protos.errors import ChecksumError, InvalidArgument

ROOT = Path(__file__).resolve().parents[2]


def test_generated_code_is_not_stale(tmp_path):
    (tmp_path / "protos").mkdir()
    (tmp_path / "protos" / "hfed.proto").write_text((ROOT / "protos" / "hfed.proto").read_text())
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I.", "--python_out=.", "--grpc_python_out=.",
                    "--pyi_out=.", "protos/hfed.proto"], cwd=tmp_path, check=True)
    for name in ("hfed_pb2.py", "hfed_pb2_grpc.py", "hfed_pb2.pyi"):
        assert (tmp_path / "protos" / name).read_text() == (ROOT / "protos" / name).read_text(), \
            f"protos/{name} is stale: run `make protos`"


def test_path_rules():
    assert paths.validate("/") == "/"
    assert paths.validate("/a/b/") == "/a/b"
    for bad in ["", "a", "/a//b", "/./a", "/a/..", "/a\x00", "/" + "n" * 256]:
        with pytest.raises(ValueError):
            paths.validate(bad)
    assert paths.is_within("/a/b", "/a") and not paths.is_within("/ab", "/a")


def test_checksums_detect_a_flipped_byte():
    data = bytearray(b"x" * 1300)
    sums = checksum.compute(data)
    assert len(sums) == 3 * 4
    checksum.verify(data, sums, 0, "blk_1")
    data[700] ^= 1
    with pytest.raises(ChecksumError, match="blk_1 at offset 512"):
        checksum.verify(data, sums, 0, "blk_1")


def test_config_rejects_duplicate_and_unknown_mounts():
    base = {"nameservices": {"ns-a": {"address": "127.0.0.1:1"}}}
    with pytest.raises(InvalidArgument, match="unknown nameservice 'ns-z'"):
        config.from_dict({**base, "mounts": [{"path": "/x", "nameservice": "ns-z"}]})
    with pytest.raises(InvalidArgument, match="same path /x"):
        config.from_dict({**base, "mounts": [{"path": "/x", "nameservice": "ns-a"},
                                             {"path": "/x/", "nameservice": "ns-a"}]})


@pytest.mark.parametrize("settings, message", [
    ({"pack_bytes": "8G"}, "pack_bytes = 8589934592 is out of range"),
    ({"pack_bytes": "512K"}, "cannot hold one small file of small_file_threshold = 1048576"),
])
def test_config_refuses_container_sizes_small_files_cannot_use(settings, message):
    base = {"nameservices": {"ns-a": {"address": "127.0.0.1:1"}}}
    with pytest.raises(InvalidArgument, match=message):
        config.from_dict({**base, **settings}, "hfed.toml")
    assert config.from_dict({**base, "pack_bytes": "512K", "small_file_threshold": "64K"}).pack_bytes == 512 << 10


def test_config_round_trip(tmp_path):
    cfg = config.from_dict({"cluster_id": "C", "block_size": "64M", "fallback": "ns-a",
                            "nameservices": {"ns-a": {"address": "127.0.0.1:1", "meta_dir": "/m"}},
                            "mounts": [{"path": "/user", "nameservice": "ns-a"}],
                            "datanodes": {"host-1": {"data_dir": "/d"}}})
    assert cfg.block_size == 64 << 20
    (tmp_path / "c.toml").write_text(config.dump(cfg))
    again = config.load(tmp_path / "c.toml")
    assert again.mounts == cfg.mounts and again.datanodes == cfg.datanodes and again.fallback == "ns-a"


@pytest.mark.parametrize("text,value", [("128", 128), ("64M", 64 << 20), ("1g", 1 << 30), ("512KiB", 512 << 10)])
def test_parse_size(text, value):
    assert config.parse_size(text) == value


@pytest.mark.parametrize("length", [0, 1, 511, 512, 513, 4096, 5000, 1 << 20])
def test_fast_verify_agrees_with_chunk_by_chunk(length):
    import os
    data = os.urandom(length)
    sums = checksum.compute(data)
    checksum.verify(data, sums, 0, "blk")
    if length:
        flipped = bytearray(data)
        flipped[length // 2] ^= 0x10
        with pytest.raises(ChecksumError, match=f"at offset {(length // 2) // 512 * 512}"):
            checksum.verify(flipped, sums, 0, "blk")


def test_same_flip_in_two_chunks_is_still_caught():
    data = bytearray(b"\x00" * 4096)
    sums = checksum.compute(bytes(data))
    data[10] ^= 1
    data[512 + 10] ^= 1        # the same error in two chunks must not cancel out
    with pytest.raises(ChecksumError, match="offset 0"):
        checksum.verify(data, sums, 0, "blk")
