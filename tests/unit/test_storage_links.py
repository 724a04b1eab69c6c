"""datanode.linking on real directories: replicas hard-linked from one block pool into
another (LinkCommand), and space counted once per file whichever name goes first."""
import asyncio
import os

import pytest

from datanode.linking import link_replicas
from datanode.storage import BlockStorage, meta_size
from protos import checksum
from protos import hfed_pb2 as pb

SOURCE, TARGET = "BP-source-1", "BP-target-2"


def write_block(storage, pool, block_id, data, gs=1):
    rbw = storage.create_rbw(pool, block_id, gs)
    crcs = checksum.compute(data)
    rbw.check_packet(0, data, crcs)
    rbw.write(data, crcs)
    return asyncio.run(storage.finalize(rbw))


def command(*pairs, gs=1, source_pool=SOURCE):
    """LinkCommand for (source block id, target block id) pairs."""
    return pb.LinkCommand(source_pool=source_pool, blocks=[
        pb.LinkedBlock(source=pb.Block(block_id=s, generation_stamp=gs), target_block_id=t) for s, t in pairs])


def link(storage, cmd):
    return asyncio.run(link_replicas(storage, TARGET, cmd))


def read_verified(storage, pool, block_id, gs=1) -> bytes:
    replica = storage.get(pool, block_id, gs)
    storage.verify_replica(replica)
    with open(replica.block_path, "rb") as f:
        return f.read()


@pytest.fixture
def storage(tmp_path):
    return BlockStorage(str(tmp_path), "host-1")


def test_linked_replica_reads_back_identical_and_shares_the_bytes(storage):
    data = os.urandom(300_000)
    source = write_block(storage, SOURCE, 7, data)
    used = storage.used()

    outcome = link(storage, command((7, 1007)))

    assert [(r.pool_id, r.block_id) for r in outcome.linked] == [(TARGET, 1007)] and not outcome.skipped
    assert [(b.pool_id, b.block_id, b.generation_stamp, b.num_bytes) for b in outcome.received()] == \
        [(TARGET, 1007, 1, 300_000)]
    assert read_verified(storage, TARGET, 1007) == data
    target = storage.get(TARGET, 1007, 1)
    assert os.stat(target.block_path).st_nlink == 2 and os.stat(target.meta_path).st_nlink == 2
    assert os.path.samefile(target.block_path, source.block_path)
    assert target.meta_path.endswith(f"{TARGET}/finalized/blk_1007_1.meta")
    assert storage.used() == used                       # hard links: no new bytes
    assert [b.block_id for b in storage.report(TARGET)] == [1007]
    assert [b.block_id for b in storage.report(SOURCE)] == [7]


@pytest.mark.parametrize("first", [SOURCE, TARGET])
def test_deleting_either_name_keeps_the_other_and_space_is_counted_until_the_last(storage, first):
    data = os.urandom(70_000)
    write_block(storage, SOURCE, 7, data)
    one_copy = storage.used()
    link(storage, command((7, 1007)))
    first_id, (second, second_id) = (7, (TARGET, 1007)) if first == SOURCE else (1007, (SOURCE, 7))

    assert storage.delete(first, first_id, 1) is not None
    assert storage.used() == one_copy                   # the other name still holds the bytes
    assert read_verified(storage, second, second_id) == data
    assert os.stat(storage.get(second, second_id, 1).block_path).st_nlink == 1

    storage.delete(second, second_id, 1)
    assert storage.used() == 0


def test_a_repeated_command_reports_what_is_there_and_links_nothing_new(storage):
    write_block(storage, SOURCE, 7, b"a" * 5000)
    used = storage.used()
    first = link(storage, command((7, 1007)))
    again = link(storage, command((7, 1007)))
    assert not again.linked and [r.block_id for r in again.present] == [1007]
    assert again.present[0] is first.linked[0]
    assert storage.used() == used
    assert os.stat(first.linked[0].block_path).st_nlink == 2


def test_missing_corrupt_and_mismatched_sources_are_skipped_the_rest_linked(storage, caplog):
    write_block(storage, SOURCE, 1, b"one" * 1000)
    write_block(storage, SOURCE, 2, b"two" * 1000, gs=5)
    bad = write_block(storage, SOURCE, 3, b"bad" * 1000)
    storage.mark_corrupt(bad)
    cmd = command((1, 101), (2, 102), (3, 103), (4, 104))     # 2 is at gs 5, 4 does not exist
    # A replica longer than the NameNode's length is linked and reported with its own length (the
    # NameNode judges: a staging container's may be longer); a shorter one cannot be the block.
    cmd.blocks.add(source=pb.Block(block_id=1, generation_stamp=1, num_bytes=999), target_block_id=105)
    cmd.blocks.add(source=pb.Block(block_id=1, generation_stamp=1, num_bytes=3001), target_block_id=108)
    cmd.blocks.add(source=pb.Block(pool_id=TARGET, block_id=1, generation_stamp=1), target_block_id=106)
    cmd.blocks.add(source=pb.Block(pool_id="../etc", block_id=1, generation_stamp=1), target_block_id=107)

    outcome = link(storage, cmd)

    assert [(r.block_id, r.num_bytes) for r in outcome.linked] == [(101, 3000), (105, 3000)]
    assert len(outcome.skipped) == 6
    text = "\n".join(outcome.skipped)
    assert f"blk_2_1 of pool {SOURCE} as blk_102_1 of pool {TARGET} on DataNode host-1: no such replica" in text
    assert "blk_3_1" in text and "corrupt" in text
    assert "blk_1_1" in text and "has 3000 bytes, the block 3001" in text
    assert "invalid block pool id '../etc'" in text
    assert "different pools" in text
    assert "no such replica" in caplog.text
    assert [b.block_id for b in storage.report(TARGET)] == [101, 105]
    assert sorted(os.listdir(os.path.join(storage.data_dir, TARGET, "finalized"))) == \
        ["blk_101", "blk_101_1.meta", "blk_105", "blk_105_1.meta"]


def test_a_target_already_holding_another_generation_is_left_alone(storage):
    write_block(storage, SOURCE, 7, b"new" * 100, gs=2)
    write_block(storage, TARGET, 1007, b"old" * 100, gs=1)
    outcome = link(storage, command((7, 1007), gs=2))
    assert not outcome.linked and not outcome.present
    assert "the target pool holds blk_1007_1" in outcome.skipped[0]
    assert read_verified(storage, TARGET, 1007) == b"old" * 100


def test_restart_counts_a_linked_file_once(storage, tmp_path):
    data = os.urandom(50_000)
    write_block(storage, SOURCE, 7, data)
    write_block(storage, SOURCE, 8, b"x" * 100)
    link(storage, command((7, 1007), (8, 1008)))
    used = storage.used()

    again = BlockStorage(str(tmp_path), "host-1")
    assert again.used() == used == 50_000 + meta_size(50_000) + 100 + meta_size(100)
    assert sorted(b.block_id for b in again.report(TARGET)) == [1007, 1008]
    again.delete(SOURCE, 7, 1)
    assert again.used() == used
    assert read_verified(again, TARGET, 1007) == data


def test_a_newer_generation_replacing_a_linked_source_keeps_the_target_counted(storage):
    write_block(storage, SOURCE, 7, b"a" * 4096)
    link(storage, command((7, 1007)))
    write_block(storage, SOURCE, 7, b"b" * 1024, gs=2)   # the source pool rewrites its block
    assert read_verified(storage, TARGET, 1007) == b"a" * 4096
    assert read_verified(storage, SOURCE, 7, gs=2) == b"b" * 1024
    assert storage.used() == 4096 + meta_size(4096) + 1024 + meta_size(1024)


def test_an_interrupted_link_is_completed_by_the_repeated_command(storage, tmp_path):
    source = write_block(storage, SOURCE, 7, b"c" * 2000)
    target_dir = os.path.join(storage.data_dir, TARGET, "finalized")
    os.makedirs(target_dir)
    os.link(source.meta_path, os.path.join(target_dir, "blk_1007_1.meta"))   # crashed before the data link
    restarted = BlockStorage(str(tmp_path), "host-1")
    assert restarted.report(TARGET) == []
    outcome = link(restarted, command((7, 1007)))
    assert [r.block_id for r in outcome.linked] == [1007]
    assert read_verified(restarted, TARGET, 1007) == b"c" * 2000
    assert restarted.used() == 2000 + meta_size(2000)


def test_a_big_batch_links_every_replica(storage):
    for block_id in range(1, 2001):
        write_block(storage, SOURCE, block_id, block_id.to_bytes(4, "big") * 16)
    used = storage.used()
    outcome = link(storage, command(*[(b, 10_000 + b) for b in range(1, 2001)]))
    assert len(outcome.linked) == 2000 and not outcome.skipped
    assert storage.used() == used
    assert read_verified(storage, TARGET, 10_777) == (777).to_bytes(4, "big") * 16
