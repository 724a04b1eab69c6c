"""A DataNode process killed with SIGKILL in the middle of a write: after a
restart the replica is served at its checksum-verified length, never torn."""
from __future__ import annotations

import os

from protos import checksum, rpc
from protos import hfed_pb2 as pb

from test_datanode import MiB, POOL, OpenWrite, block, cluster, read, verified_bytes  # noqa: F401 - cluster is a fixture


def kill_and_restart(node):
    node.kill()   # SIGKILL: no chance to clean up rbw/
    node.start()


def test_replica_being_written_is_recovered_after_sigkill(cluster):
    dn1 = cluster.nodes["host-1"]
    data = os.urandom(3 * MiB)
    packet_size = MiB // 2 + 300   # packets may end mid-chunk only at the block's end: keep whole chunks
    packet_size -= packet_size % checksum.BYTES_PER_CHECKSUM
    acked = 3 * packet_size
    stream = OpenWrite(dn1, block(21))
    for seqno in range(3):
        stream.send(seqno, seqno * packet_size, data[seqno * packet_size:(seqno + 1) * packet_size])
        stream.wait_ack(seqno)   # acked only once it is written to the replica file
    rbw = dn1.data_dir / POOL / "rbw"
    assert os.path.getsize(rbw / "blk_21") == acked

    kill_and_restart(dn1)
    stream.close()
    assert not os.listdir(rbw)
    offset, got = verified_bytes(read(dn1, block(21)))
    assert offset == 0 and got == data[:acked]
    log = dn1.log()
    assert f"recovered replica being written blk_21_1 of pool {POOL} on DataNode host-1: {acked}" in log
    assert "1 recovered from an interrupted write" in log


def test_torn_tail_is_cut_to_the_last_verified_chunk_after_sigkill(cluster):
    """The files as a crash mid-packet leaves them: data past its CRCs and a torn
    chunk. The restarted DataNode serves only the verified prefix."""
    dn1 = cluster.nodes["host-1"]
    data = os.urandom(MiB)
    stream = OpenWrite(dn1, block(22))
    stream.send(0, 0, data[:64 * 1024])
    stream.wait_ack(0)
    rbw = dn1.data_dir / POOL / "rbw"
    with open(rbw / "blk_22", "ab") as f:   # a packet's data reached the file, its CRCs did not
        f.write(data[64 * 1024:100_000])
    with open(rbw / "blk_22_1.meta", "ab") as f:   # and one CRC of a chunk that is torn
        f.write(checksum.compute(data[64 * 1024:64 * 1024 + 512])[:4])
        f.write(b"\x01\x02")   # half a CRC

    kill_and_restart(dn1)
    stream.close()
    assert verified_bytes(read(dn1, block(22))) == (0, data[:64 * 1024 + 512])
    # A replica with nothing verifiable is gone, not served.
    stream = OpenWrite(dn1, block(23))
    stream.send(0, 0, data[:4096])
    stream.wait_ack(0)
    with open(rbw / "blk_23", "r+b") as f:
        f.write(b"\x00" * 16)
    kill_and_restart(dn1)
    stream.close()
    assert not (dn1.data_dir / POOL / "finalized" / "blk_23").exists()
    assert "blk_23_1 of pool" in dn1.log() and "has no checksum-verified bytes" in dn1.log()


def test_recovered_replica_is_in_the_full_report_to_a_real_namenode(tmp_path):
    """Killed mid-block with a NameNode up: after the restart the recovered replica is
    reported with its verified length, and the NameNode lists it for the open file."""
    from client.minicluster import wait_for
    from test_datanode_with_namenode import Setup

    setup = Setup(tmp_path)
    setup.namenode.start()
    setup.datanode.start()
    try:
        setup.wait_registered()
        md = setup.md
        nn = setup.client()
        nn.Create(pb.CreateRequest(path="/data/open", permission=0o644, client_name="writer", create_parent=True),
                  metadata=md)
        located = nn.AddBlock(pb.AddBlockRequest(path="/data/open", client_name="writer", client_host="host-1"),
                              metadata=md).block
        blk = pb.Block(pool_id=located.block.pool_id, block_id=located.block.block_id,
                       generation_stamp=located.block.generation_stamp)
        data = os.urandom(MiB)
        stream = OpenWrite(setup.datanode, blk, token=located.token)
        stream.send(0, 0, data[:256 * 1024])
        stream.wait_ack(0)
        stream.send(1, 256 * 1024, data[256 * 1024:512 * 1024])
        stream.wait_ack(1)
        (setup.root / "host-1.addr").unlink()
        kill_and_restart(setup.datanode)
        stream.close()
        setup.wait_registered()

        def reported():
            got = nn.GetBlockLocations(pb.GetBlockLocationsRequest(path="/data/open", length=1 << 40),
                                       metadata=md).blocks.blocks
            return [(b.block.block_id, b.block.num_bytes, [d.host_label for d in b.locations]) for b in got]
        wait_for(lambda: reported() == [(blk.block_id, 512 * 1024, ["host-1"])], 20,
                 "the recovered replica in the full report")
        assert verified_bytes(read(setup.datanode, blk, token=located.token)) == (0, data[:512 * 1024])
    finally:
        setup.close()
