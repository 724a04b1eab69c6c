"""Pure client pieces: packet slicing, range-to-blocks math, path stripping."""
from client.datanode_client import PACKET_SIZE, packet_slices
from client.fs import HfedFileSystem
from client.streams import block_spans, blocks_for_range
from protos import hfed_pb2 as pb


def located(offsets):
    return [pb.LocatedBlock(offset=o) for o in offsets]


def test_packet_slices_cover_the_block_in_whole_packets():
    assert packet_slices(0) == []
    assert packet_slices(10) == [(0, 10)]
    slices = packet_slices(2 * PACKET_SIZE + 700)
    assert slices == [(0, PACKET_SIZE), (PACKET_SIZE, 2 * PACKET_SIZE), (2 * PACKET_SIZE, 2 * PACKET_SIZE + 700)]
    assert all((end - start) % 512 == 0 for start, end in slices[:-1])


def test_block_spans_end_at_next_block_or_file_length():
    assert block_spans(located([0, 100, 200]), 250) == [(0, 100), (100, 200), (200, 250)]
    assert block_spans([], 0) == []


def test_blocks_for_range_fetches_only_needed_blocks():
    spans = block_spans(located([0, 100, 200, 300]), 350)
    assert blocks_for_range(spans, 0, 1) == [0]
    assert blocks_for_range(spans, 99, 101) == [0, 1]
    assert blocks_for_range(spans, 100, 200) == [1]
    assert blocks_for_range(spans, 150, 350) == [1, 2, 3]
    assert blocks_for_range(spans, 349, 350) == [3]
    assert blocks_for_range(spans, 10, 10) == []


def test_strip_protocol():
    strip = HfedFileSystem._strip_protocol
    assert strip("hfed:///user/x") == "/user/x"
    assert strip("hfed://user/x/") == "/user/x"
    assert strip("/data") == "/data"
    assert strip("hfed://") == "/"
    assert strip("/") == "/"
    assert strip("relative/path") == "relative/path"  # left for validation to refuse
