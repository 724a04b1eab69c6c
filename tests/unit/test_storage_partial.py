"""datanode.storage for flushed writes: a replica being written seen by readers,
and finalized at what was written when its write breaks off (keep_partial)."""
import asyncio
import os

import pytest

from datanode.storage import BlockStorage, meta_size
from protos import checksum, errors

POOL = "BP-test-1"


def accept(rbw, offset, data):
    crcs = checksum.compute(data)
    rbw.check_packet(offset, data, crcs)
    return crcs


def test_a_replica_being_written_reads_as_its_bytes_on_disk(tmp_path):
    storage = BlockStorage(str(tmp_path), "host-1")
    rbw = storage.create_rbw(POOL, 5, 2)
    data = os.urandom(2048)
    rbw.write(data, accept(rbw, 0, data))
    view, writing = storage.readable(POOL, 5, 2)
    assert writing and view.num_bytes == 2048 and view.block_path == rbw.block_path
    storage.verify_replica(view)          # its meta file covers exactly the bytes written
    with pytest.raises(errors.BlockMissing, match="host-1"):
        storage.readable(POOL, 5, 1)      # another generation is not this replica
    replica = asyncio.run(storage.finalize(rbw))
    assert storage.readable(POOL, 5, 2) == (replica, False)


def test_partial_finalize_cuts_a_torn_tail_and_gives_back_its_space(tmp_path):
    storage = BlockStorage(str(tmp_path), "host-1", capacity=1 << 20)
    rbw = storage.create_rbw(POOL, 6, 1)
    written, lost = os.urandom(4096), os.urandom(4096)
    rbw.write(written, accept(rbw, 0, written))
    accept(rbw, 4096, lost)                # received and reserved, never stored ...
    rbw._data.write(lost[:1000])           # ... but part of it reached the data file
    replica = asyncio.run(storage.finalize(rbw, verified=True, partial=True))
    assert replica.num_bytes == 4096
    assert os.path.getsize(replica.block_path) == 4096
    assert os.path.getsize(replica.meta_path) == meta_size(4096)
    storage.verify_replica(replica)
    assert storage.used() == 4096 + meta_size(4096)
    assert storage.get(POOL, 6, 1) is replica and not storage.is_being_written(POOL, 6)
    # After a restart it loads like any finalized replica.
    assert BlockStorage(str(tmp_path), "host-1").get(POOL, 6, 1).num_bytes == 4096
