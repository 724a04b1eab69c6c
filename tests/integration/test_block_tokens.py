"""Block access tokens on a real cluster: DataNodes serve, take and hand out replicas
only to callers holding a token the NameNode signed for exactly that block, and a
client's bad-block claim is verified by the DataNode, never believed."""
import os
import signal
import time
from pathlib import Path

import pytest

from client.datanode_client import DatanodePool
from client.fs import HfedFileSystem
from client.minicluster import wait_for
from protos import checksum, config, errors, security
from protos import datatransfer as dt
from protos import hfed_pb2 as pb
from protos.pipeline import PipelineFailed, PipelineStream

MiB = 1 << 20


def located_of(fs, path) -> list[pb.LocatedBlock]:
    return list(fs.block_locations(path).blocks)


def raw_read(located: pb.LocatedBlock, token: str, block: pb.Block | None = None, *, cfg) -> bytes:
    """Read a whole block from its first DataNode as a raw DataTransfer client would
    (over the cluster's TLS: what is tested here is the token)."""
    block = block or located.block
    dn = located.locations[0]
    pool = DatanodePool(cfg=cfg)
    try:
        return b"".join(dt.read_block(pool, dn.transfer_address, block, 0, located.block.num_bytes,
                                      f"raw reader of {dn.host_label}", token))
    finally:
        pool.close()


def replica_files(cluster, located: pb.LocatedBlock) -> list[Path]:
    cfg = config.load(cluster.config_path)
    block = located.block
    return [Path(cfg.datanodes[dn.host_label].data_dir) / block.pool_id / "finalized" / f"blk_{block.block_id}"
            for dn in located.locations]


def test_raw_reads_need_a_valid_read_token_for_exactly_that_block(cluster, fs):
    secret = os.urandom(MiB // 2)
    fs.pipe_file("/user/tokens-private.bin", secret)
    fs.chmod("/user/tokens-private.bin", 0o600)
    fs.pipe_file("/user/tokens-other.bin", b"other")
    located = located_of(fs, "/user/tokens-private.bin")[0]
    other = located_of(fs, "/user/tokens-other.bin")[0]
    assert located.token, "the NameNode hands out a token with every block location"
    assert raw_read(located, located.token, cfg=cluster.config) == secret

    fields = security.decode(located.token)
    forged = security.block_token(fields["id"], os.urandom(32), "mallory", located.block.pool_id,
                                  located.block.block_id, located.block.generation_stamp, "rwc",
                                  security.now_ms() + 60_000)
    cases = {"no token": ("", "no block access token for block"),
             "forged": (forged, "bad signature"),
             "another block's": (other.token, f"not block {located.block.block_id}"),
             "not a token": ("hfed1.garbage", "malformed token")}
    for name, (token, why) in cases.items():
        with pytest.raises(errors.AccessDenied, match=why):
            raw_read(located, token, cfg=cluster.config)
    # A guessed generation stamp learns nothing: the refusal names neither the stored stamp nor
    # whether the block is there.
    wrong_gs = pb.Block(pool_id=located.block.pool_id, block_id=located.block.block_id,
                        generation_stamp=located.block.generation_stamp + 5)
    with pytest.raises(errors.AccessDenied) as refused:
        raw_read(located, "", wrong_gs, cfg=cluster.config)
    assert str(located.block.generation_stamp) not in str(refused.value)
    with pytest.raises(errors.AccessDenied) as refused:       # a block id nobody wrote yet
        raw_read(located, "", pb.Block(pool_id=located.block.pool_id, block_id=located.block.block_id + 10_000,
                                       generation_stamp=1), cfg=cluster.config)
    assert "not on DataNode" not in str(refused.value)
    fs.rm("/user/tokens-private.bin")
    fs.rm("/user/tokens-other.bin")


def test_short_circuit_without_a_token_gets_no_path(cluster, fs):
    fs.pipe_file("/user/tokens-sc.bin", b"local bytes" * 100)
    located = located_of(fs, "/user/tokens-sc.bin")[0]
    dn = located.locations[0]
    pool = DatanodePool(cfg=cluster.config)
    try:
        with pytest.raises(errors.AccessDenied, match="no block access token"):
            dt.short_circuit(pool, dn.transfer_address, located.block, dn.host_label, "raw short-circuit")
        granted = dt.short_circuit(pool, dn.transfer_address, located.block, dn.host_label, "short-circuit",
                                   token=located.token)
        assert Path(granted.block_path).read_bytes() == b"local bytes" * 100
        with pytest.raises(errors.AccessDenied, match="is not DataNode host"):   # the host check stays
            dt.short_circuit(pool, dn.transfer_address, located.block, "elsewhere", "short-circuit",
                             token=located.token)
    finally:
        pool.close()
    fs.rm("/user/tokens-sc.bin")


def overwrite(located: pb.LocatedBlock, token: str, data: bytes, *, cfg) -> None:
    """Write ``data`` as the same block id under generation stamp + 1 to every replica's DataNode."""
    block = pb.Block(pool_id=located.block.pool_id, block_id=located.block.block_id,
                     generation_stamp=located.block.generation_stamp + 1)
    pool = DatanodePool(cfg=cfg)
    try:
        stream = PipelineStream(pool, block, list(located.locations), "mallory", "overwrite", token=token)
        try:
            stream.send(0, data, checksum.compute(data), last=True)
            stream.finish()
        except BaseException:
            stream.abort()
            raise
    finally:
        pool.close()


def test_generation_stamp_bump_overwrite_is_refused(cluster, fs):
    data = os.urandom(300_000)
    fs.pipe_file("/user/tokens-victim.bin", data)
    located = located_of(fs, "/user/tokens-victim.bin")[0]
    files = replica_files(cluster, located)
    before = [f.read_bytes() for f in files]
    evil = os.urandom(len(data))
    assert security.decode(located.token)["m"] == security.READ     # a reader's token does not write
    for token in ("", located.token):
        with pytest.raises(PipelineFailed, match="block access token|not block|does not allow"):
            overwrite(located, token, evil, cfg=cluster.config)
    assert [f.read_bytes() for f in files] == before
    assert fs.cat_file("/user/tokens-victim.bin") == data
    assert located_of(fs, "/user/tokens-victim.bin")[0].block.generation_stamp == located.block.generation_stamp
    fs.rm("/user/tokens-victim.bin")


def test_read_token_cannot_write_and_write_token_is_per_block(cluster, fs):
    """A token's modes and block are enforced on writes too: the READ token a reader holds
    cannot write a new block, and a writer's token for one block cannot write another."""
    fs.pipe_file("/user/tokens-r.bin", b"r" * 1000)
    located = located_of(fs, "/user/tokens-r.bin")[0]
    fresh = pb.Block(pool_id=located.block.pool_id, block_id=located.block.block_id + 50_000,
                     generation_stamp=located.block.generation_stamp)
    pool = DatanodePool(cfg=cluster.config)
    try:
        for token, why in ((located.token, "not block"), ("", "no block access token")):
            with pytest.raises(PipelineFailed, match=why):
                PipelineStream(pool, fresh, list(located.locations[:1]), "mallory", "new block", token=token)
        read_only = pb.Block(pool_id=located.block.pool_id, block_id=located.block.block_id,
                             generation_stamp=located.block.generation_stamp)
        with pytest.raises(PipelineFailed, match="does not allow writing or copying"):
            PipelineStream(pool, read_only, list(located.locations[:1]), "mallory", "rewrite", token=located.token)
    finally:
        pool.close()
    fs.rm("/user/tokens-r.bin")


def test_client_bad_block_claims_are_verified_not_believed(cluster, fs):
    data = os.urandom(200_000)
    fs.pipe_file("/user/tokens-claims.bin", data)
    located = located_of(fs, "/user/tokens-claims.bin")[0]
    nn = fs.session.namenode("ns-a")
    claims = [(located.block, dn.uuid) for dn in located.locations]
    with pytest.raises(errors.AccessDenied, match=f"block {located.block.block_id}"):
        nn.report_bad_blocks(claims)                                  # no tokens: refused outright
    nn.report_bad_blocks([(block, uuid, located.token) for block, uuid in claims])

    def verified_everywhere():
        return all(any(f"blk_{located.block.block_id}_" in line and "the claim was wrong" in line
                       for line in cluster.log_path(dn.host_label).read_text().splitlines())
                   for dn in located.locations)
    wait_for(verified_everywhere, 20, "every DataNode to verify its claimed replica")
    assert cluster.stats("ns-a").corrupt_replicas == 0
    assert sorted(d.host_label for d in located_of(fs, "/user/tokens-claims.bin")[0].locations) \
        == sorted(d.host_label for d in located.locations)
    assert fs.cat_file("/user/tokens-claims.bin") == data
    fs.rm("/user/tokens-claims.bin")


def test_expired_token_refused_and_reader_fetches_new_ones(fresh_cluster):
    short = config.SecurityConfig(block_token_lifetime=1.0, block_key_update_interval=10.0)
    cluster = fresh_cluster(namespaces=1, settings={"security": short})
    fs = HfedFileSystem(conf=str(cluster.config_path), host="reader-host", skip_instance_cache=True)
    data = os.urandom(2 * MiB + 77)
    fs.pipe_file("/data/expiring.bin", data)
    located = located_of(fs, "/data/expiring.bin")[0]
    with fs.open("/data/expiring.bin", "rb") as f:      # locations and tokens fetched now
        time.sleep(1.5)
        with pytest.raises(errors.AccessDenied, match="expired"):
            raw_read(located, located.token, cfg=cluster.config)
        assert f.read() == data                         # refused, then new tokens, then read
    # A NameNode restart: new keys, so tokens from before fail and readers fetch new ones.
    long = config.SecurityConfig()
    cluster2 = fresh_cluster(namespaces=1, settings={"security": long})
    fs2 = HfedFileSystem(conf=str(cluster2.config_path), host="reader-host", skip_instance_cache=True)
    fs2.pipe_file("/data/restart.bin", data)
    before = located_of(fs2, "/data/restart.bin")[0]
    with fs2.open("/data/restart.bin", "rb") as f:
        cluster2.kill_namenode("ns-a", signal.SIGKILL)
        cluster2.start_namenode("ns-a")
        assert cluster2.wait_for_block_reports(20)
        with pytest.raises(errors.AccessDenied, match="unknown key|bad signature"):
            raw_read(before, before.token, cfg=cluster2.config)
        assert f.read() == data
    fs.close()
    fs2.close()


def test_simple_mode_checks_no_tokens(fresh_cluster):
    cluster = fresh_cluster(namespaces=1, settings={"security": config.SecurityConfig(auth="simple")})
    fs = HfedFileSystem(conf=str(cluster.config_path), skip_instance_cache=True)
    data = os.urandom(MiB + 3)
    fs.pipe_file("/data/simple.bin", data)
    located = located_of(fs, "/data/simple.bin")
    assert [lb.token for lb in located] == ["", ""]
    assert raw_read(located[0], "", cfg=cluster.config) == data[:MiB]
    assert fs.cat_file("/data/simple.bin") == data
    fs.close()
