"""datanode.storage on a real directory, no network."""
import asyncio
import os

import pytest

from datanode.storage import BlockStorage, meta_size
from protos import checksum, errors

POOL = "BP-test-1"


def write_block(storage, block_id, data, gs=1, packet=4096):
    rbw = storage.create_rbw(POOL, block_id, gs)
    for pos in range(0, len(data), packet):
        piece = data[pos:pos + packet]
        crcs = checksum.compute(piece)
        rbw.check_packet(pos, piece, crcs)
        rbw.write(piece, crcs)
    return asyncio.run(storage.finalize(rbw))


def test_write_finalize_and_lookup(tmp_path):
    storage = BlockStorage(str(tmp_path), "host-1")
    data = os.urandom(10_000)
    replica = write_block(storage, 7, data)
    assert replica.num_bytes == 10_000
    assert open(replica.block_path, "rb").read() == data
    assert os.path.getsize(replica.meta_path) == meta_size(10_000)
    assert replica.block_path == str(tmp_path / POOL / "finalized" / "blk_7")
    assert replica.meta_path == str(tmp_path / POOL / "finalized" / "blk_7_1.meta")
    assert storage.get(POOL, 7, 1) is replica
    assert [b.block_id for b in storage.report(POOL)] == [7]
    assert storage.used() == 10_000 + meta_size(10_000)
    storage.verify_replica(replica)


def test_missing_and_wrong_generation_name_block_pool_and_host(tmp_path):
    storage = BlockStorage(str(tmp_path), "host-1")
    write_block(storage, 7, b"x" * 100, gs=3)
    with pytest.raises(errors.BlockMissing, match=r"blk_8_3 of pool BP-test-1 is not on DataNode host-1"):
        storage.get(POOL, 8, 3)
    with pytest.raises(errors.BlockMissing, match=r"blk_7_2 of pool BP-test-1 is not on DataNode host-1") as err:
        storage.get(POOL, 7, 2)
    assert "3" not in str(err.value).replace("BP-test-1", "")   # a guess does not learn the stored stamp


def test_packets_must_continue_the_replica(tmp_path):
    storage = BlockStorage(str(tmp_path), "host-1")
    rbw = storage.create_rbw(POOL, 1, 1)
    with pytest.raises(errors.InvalidArgument, match="expected 0"):
        rbw.check_packet(512, b"a" * 512, checksum.compute(b"a" * 512))
    with pytest.raises(errors.InvalidArgument, match="checksum bytes"):
        rbw.check_packet(0, b"a" * 513, checksum.compute(b"a" * 512))
    piece = b"a" * 100
    rbw.check_packet(0, piece, checksum.compute(piece))
    rbw.write(piece, checksum.compute(piece))
    with pytest.raises(errors.InvalidArgument, match="partial chunk"):
        rbw.check_packet(100, piece, checksum.compute(piece))
    with pytest.raises(errors.AlreadyExists, match="already being written"):
        storage.create_rbw(POOL, 1, 1)
    storage.abort(rbw)
    assert not os.listdir(tmp_path / POOL / "rbw")
    assert storage.used() == 0


def test_restart_keeps_finalized_replicas(tmp_path):
    storage = BlockStorage(str(tmp_path), "host-1")
    uuid = storage.uuid
    write_block(storage, 1, b"a" * 5000)
    write_block(storage, 2, b"")

    again = BlockStorage(str(tmp_path), "host-1")
    assert again.uuid == uuid
    assert sorted((b.block_id, b.num_bytes) for b in again.report(POOL)) == [(1, 5000), (2, 0)]
    assert again.used() == 5000 + meta_size(5000) + meta_size(0)
    with pytest.raises(errors.BlockMissing):
        again.get(POOL, 3, 1)


def test_meta_file_not_matching_data_is_ignored_at_start(tmp_path, caplog):
    storage = BlockStorage(str(tmp_path), "host-1")
    replica = write_block(storage, 1, b"a" * 5000)
    with open(replica.block_path, "ab") as f:
        f.write(b"extra" * 200)  # more chunks than the meta file covers
    again = BlockStorage(str(tmp_path), "host-1")
    assert again.report(POOL) == []
    assert "ignoring the replica" in caplog.text


def test_corruption_detected_once_per_file_version(tmp_path):
    storage = BlockStorage(str(tmp_path), "host-1")
    replica = write_block(storage, 1, os.urandom(3000))
    asyncio.run(storage.verify_once(replica))
    with open(replica.block_path, "r+b") as f:
        f.seek(1500)
        byte = f.read(1)
        f.seek(1500)
        f.write(bytes([byte[0] ^ 0xFF]))
    os.utime(replica.block_path, ns=(1, 1))  # a new mtime: the cached verification no longer applies
    with pytest.raises(errors.ChecksumError, match=r"blk_1_1 of pool BP-test-1 on DataNode host-1 at offset 1024"):
        asyncio.run(storage.verify_once(replica))


def test_delete_keeps_newer_generation(tmp_path):
    storage = BlockStorage(str(tmp_path), "host-1")
    replica = write_block(storage, 1, b"a" * 600, gs=5)
    assert storage.delete(POOL, 1, 4) is None
    assert storage.delete(POOL, 1, 5) is replica
    assert not os.path.exists(replica.block_path) and not os.path.exists(replica.meta_path)
    assert storage.used() == 0
    assert storage.delete(POOL, 1, 5) is None


def test_newer_generation_replaces_older(tmp_path):
    storage = BlockStorage(str(tmp_path), "host-1")
    write_block(storage, 1, b"a" * 600, gs=1)
    with pytest.raises(errors.AlreadyExists):
        storage.create_rbw(POOL, 1, 1)
    newer = write_block(storage, 1, b"b" * 700, gs=2)
    assert storage.get(POOL, 1, 2) is newer
    assert sorted(os.listdir(tmp_path / POOL / "finalized")) == ["blk_1", "blk_1_2.meta"]
    assert storage.used() == 700 + meta_size(700)


def test_configured_capacity_limits_writes(tmp_path):
    storage = BlockStorage(str(tmp_path), "host-1", capacity=4096)
    assert storage.capacity() == 4096
    rbw = storage.create_rbw(POOL, 1, 1)
    with pytest.raises(errors.NoSpace, match="DataNode host-1 is full"):
        rbw.check_packet(0, b"a" * 8192, checksum.compute(b"a" * 8192))
    assert storage.remaining() == 4096


def test_invalid_pool_id(tmp_path):
    storage = BlockStorage(str(tmp_path), "host-1")
    with pytest.raises(errors.InvalidArgument, match="invalid block pool id"):
        storage.create_rbw("../etc", 1, 1)



def test_uncached_writes_store_the_same_bytes_from_aligned_and_unaligned_packets(tmp_path):
    """cache_writes = false: whole-page packets in page-aligned buffers go past the page
    cache (O_DIRECT); a bytes packet the kernel refuses that way, or a block's short tail,
    is written through the cache instead. Either way the replica holds exactly what came."""
    import mmap
    storage = BlockStorage(str(tmp_path), "host-1", cache_writes=False)
    data = os.urandom(3 * 65536 + 1000)
    aligned = mmap.mmap(-1, 65536)
    rbw = storage.create_rbw(POOL, 9, 1)
    for pos in range(0, len(data), 65536):
        piece = data[pos:pos + 65536]
        if pos == 0:   # a page-aligned buffer, as the DataNode receives into
            aligned[:] = piece
            piece = memoryview(aligned)
        crcs = checksum.compute(piece)
        rbw.check_packet(pos, piece, crcs)
        rbw.write(piece, crcs)
    replica = asyncio.run(storage.finalize(rbw, verified=True))
    assert replica.num_bytes == len(data)
    assert open(replica.block_path, "rb").read() == data
    storage.verify_replica(replica)
