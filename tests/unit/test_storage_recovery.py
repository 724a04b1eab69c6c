"""Replicas left in rbw/ by a crash: recovered to their checksum-verified prefix
at start-up, or discarded when nothing in them can be verified. No network."""
import os

import pytest

from datanode.recovery import first_bad_chunk, verified_length
from datanode.storage import BlockStorage, meta_size
from protos import checksum, errors

from test_storage import POOL, write_block

BPC = checksum.BYTES_PER_CHECKSUM


def crashed_write(storage, block_id, data, gs=1, packet=4096):
    """Write packets the way the pipeline does, then stop as a killed process would."""
    rbw = storage.create_rbw(POOL, block_id, gs)
    for pos in range(0, len(data), packet):
        piece = data[pos:pos + packet]
        crcs = checksum.compute(piece)
        rbw.check_packet(pos, piece, crcs)
        rbw.write(piece, crcs)
    rbw.close()
    return rbw


def restart(tmp_path):
    return BlockStorage(str(tmp_path), "host-1")


def test_whole_packets_are_recovered_and_finalized(tmp_path, caplog):
    data = os.urandom(3 * 4096 + 700)   # ends in a short chunk with a good CRC
    crashed_write(BlockStorage(str(tmp_path), "host-1"), 3, data)

    again = restart(tmp_path)
    replica = again.get(POOL, 3, 1)
    assert replica.num_bytes == len(data)
    assert [(b.block_id, b.num_bytes) for b in again.report(POOL)] == [(3, len(data))]
    assert open(replica.block_path, "rb").read() == data
    assert replica.block_path.endswith(os.path.join("finalized", "blk_3"))
    assert not os.listdir(tmp_path / POOL / "rbw")
    assert again.used() == len(data) + meta_size(len(data))
    again.verify_replica(replica)
    assert "recovered replica being written blk_3_1 of pool BP-test-1 on DataNode host-1" in caplog.text


def test_data_past_its_checksums_is_cut_off(tmp_path):
    storage = BlockStorage(str(tmp_path), "host-1")
    data = os.urandom(8192)
    rbw = crashed_write(storage, 4, data)
    # Killed between writing a packet's data and its CRCs: 3000 bytes without checksums.
    with open(rbw.block_path, "ab") as f:
        f.write(os.urandom(3000))

    replica = restart(tmp_path).get(POOL, 4, 1)
    assert replica.num_bytes == 8192
    assert open(replica.block_path, "rb").read() == data
    assert os.path.getsize(replica.meta_path) == meta_size(8192)


def test_torn_last_chunk_is_dropped_and_good_partial_chunk_kept(tmp_path):
    storage = BlockStorage(str(tmp_path), "host-1")
    data = os.urandom(5 * BPC)
    rbw = crashed_write(storage, 5, data)
    with open(rbw.block_path, "r+b") as f:
        f.truncate(4 * BPC + 100)   # the last chunk only partly reached the disk
    replica = restart(tmp_path).get(POOL, 5, 1)
    assert replica.num_bytes == 4 * BPC
    assert open(replica.block_path, "rb").read() == data[:4 * BPC]


def test_corrupt_chunk_in_the_middle_keeps_only_what_precedes_it(tmp_path):
    storage = BlockStorage(str(tmp_path), "host-1")
    data = os.urandom(20 * BPC)
    rbw = crashed_write(storage, 6, data)
    with open(rbw.block_path, "r+b") as f:
        f.seek(7 * BPC + 3)
        f.write(bytes([data[7 * BPC + 3] ^ 1]))
    again = restart(tmp_path)
    replica = again.get(POOL, 6, 1)
    assert replica.num_bytes == 7 * BPC
    again.verify_replica(replica)


@pytest.mark.parametrize("damage", ["no-meta", "garbled-meta", "no-verified-bytes", "empty", "no-block-file"])
def test_unrecoverable_replicas_are_discarded_with_a_log_line(tmp_path, caplog, damage):
    storage = BlockStorage(str(tmp_path), "host-1")
    rbw = crashed_write(storage, 7, b"" if damage == "empty" else os.urandom(2000))
    if damage == "no-meta":
        os.unlink(rbw.meta_path)
    elif damage == "garbled-meta":
        with open(rbw.meta_path, "r+b") as f:
            f.write(b"JUNK")
    elif damage == "no-verified-bytes":
        with open(rbw.block_path, "r+b") as f:
            f.write(b"\x00" * 10)
    elif damage == "no-block-file":
        os.unlink(rbw.block_path)

    again = restart(tmp_path)
    assert again.report(POOL) == []
    assert not os.listdir(tmp_path / POOL / "rbw")
    assert not os.listdir(tmp_path / POOL / "finalized")
    assert again.used() == 0
    expected = {"no-meta": "discarding 1 unrecoverable file(s)",
                "garbled-meta": "blk_7_1 of pool BP-test-1 on DataNode host-1 has an unusable meta file",
                "no-verified-bytes": "blk_7_1 of pool BP-test-1 on DataNode host-1 has no checksum-verified bytes",
                "empty": "has no checksum-verified bytes",
                "no-block-file": "has no block file"}[damage]
    assert expected in caplog.text


def test_recovered_newer_generation_replaces_finalized_older_one(tmp_path):
    storage = BlockStorage(str(tmp_path), "host-1")
    write_block(storage, 8, b"a" * 3000, gs=1)
    crashed_write(storage, 8, b"b" * 1500, gs=2)
    again = restart(tmp_path)
    replica = again.get(POOL, 8, 2)
    assert replica.num_bytes == 1500 and open(replica.block_path, "rb").read() == b"b" * 1500
    assert sorted(os.listdir(tmp_path / POOL / "finalized")) == ["blk_8", "blk_8_2.meta"]
    assert again.used() == 1500 + meta_size(1500)


def test_rbw_of_an_older_generation_than_finalized_is_discarded(tmp_path, caplog):
    storage = BlockStorage(str(tmp_path), "host-1")
    write_block(storage, 9, b"a" * 3000, gs=2)
    # A leftover of an earlier attempt at the block (its files under rbw/ by hand).
    rbw_dir = tmp_path / POOL / "rbw"
    (rbw_dir / "blk_9").write_bytes(b"b" * 512)
    (rbw_dir / "blk_9_1.meta").write_bytes(checksum.header() + checksum.compute(b"b" * 512))
    again = restart(tmp_path)
    assert again.get(POOL, 9, 2).num_bytes == 3000
    assert open(again.get(POOL, 9, 2).block_path, "rb").read() == b"a" * 3000
    assert "superseded by finalized replica blk_9_2" in caplog.text
    assert not os.listdir(rbw_dir)


def test_a_second_crash_after_recovery_changes_nothing(tmp_path):
    data = os.urandom(4096 + 10)
    crashed_write(BlockStorage(str(tmp_path), "host-1"), 10, data)
    first = restart(tmp_path).get(POOL, 10, 1)
    second = restart(tmp_path).get(POOL, 10, 1)
    assert first.num_bytes == second.num_bytes == len(data)


def test_verified_length_and_first_bad_chunk(tmp_path):
    data = os.urandom(3 * BPC + 10)
    crcs = checksum.compute(data)
    assert first_bad_chunk(data, crcs) is None
    bad = bytearray(data)
    bad[BPC * 2] ^= 0xFF
    assert first_bad_chunk(bytes(bad), crcs) == 2
    block, meta = tmp_path / "blk", tmp_path / "meta"
    block.write_bytes(data)
    meta.write_bytes(checksum.header() + crcs[:-2])   # a torn last CRC
    assert verified_length(str(block), str(meta), "test") == 3 * BPC
    meta.write_bytes(b"HF")
    with pytest.raises(errors.ChecksumError, match="test: truncated checksum header"):
        verified_length(str(block), str(meta), "test")
