"""client/checksums.py without a cluster: how blocks are spread over DataNodes, and
the FileChecksum's HDFS-shaped fields."""
from client import checksums
from protos import hfed_pb2 as pb


def located(*uuids: str) -> pb.LocatedBlock:
    return pb.LocatedBlock(locations=[pb.DatanodeId(uuid=u) for u in uuids])


def test_blocks_spread_over_their_replicas_nearest_first_on_a_tie():
    jobs = [(located("a", "b", "c"), 10)] * 6
    assert checksums._spread(jobs) == {"a": [0, 3], "b": [1, 4], "c": [2, 5]}
    assert checksums._spread([(located("c", "a"), 1), (located("c"), 1), (located("a", "c"), 1)]) == {
        "c": [0, 1], "a": [2]}
    assert checksums._spread([(located("x"), 5)] * 3) == {"x": [0, 1, 2]}   # replication 1 on one node
    assert checksums._spread([(located(), 5)]) == {"": [0]}                 # no replica: BlockMissing later


def test_file_checksum_fields_are_hdfs_shaped():
    found = checksums.of_crc(0x0102ABCD, 12345)
    assert (found.algorithm, found.bytes, found.length, found.hex, found.value, found.file_length) == (
        "COMPOSITE-CRC32C", b"\x01\x02\xab\xcd", 4, "0102abcd", 0x0102ABCD, 12345)
