"""The DataNode writes ReadBlockChunk's protobuf encoding itself (one copy less):
it must decode to exactly the message the contract describes."""
import os

import pytest

from datanode.transfer import Chunk, encode_read_chunk
from protos import hfed_pb2 as pb


@pytest.mark.parametrize("offset,size", [(0, 0), (0, 1), (512, 4096), (1 << 40, 3000), (127, 128)])
def test_encoded_chunk_decodes_to_the_contract_message(offset, size):
    data, crcs = os.urandom(size), os.urandom(-(-size // 512) * 4)
    decoded = pb.ReadBlockChunk.FromString(encode_read_chunk(Chunk(offset, data, crcs)))
    assert decoded == pb.ReadBlockChunk(offset=offset, data=data, checksums=crcs, bytes_per_checksum=512)
