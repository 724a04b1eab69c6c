"""Block-token keys: the NameNode's rolling keys and the DataNode's per-pool key ring."""
import pytest

from datanode.block_keys import BlockKeyRing
from namenode.block_keys import BlockKeys
from protos import errors, security
from protos import hfed_pb2 as pb

POOL = "BP-ns-a"


class Clock:
    """A NameNode clock set by the test (DataNodes check token expiry against real time)."""

    def __init__(self, now: int):
        self.now = now

    def __call__(self):
        return self.now


def ring_with(keys: BlockKeys, now_ms: int) -> BlockKeyRing:
    ring = BlockKeyRing(enabled=True)
    ring.update(POOL, keys.keys_proto(), now_ms)
    return ring


def test_token_grants_its_modes_on_exactly_its_block():
    clock = Clock(security.now_ms())
    keys = BlockKeys(update_interval=10, token_lifetime=5, now_ms=clock)
    token = keys.token("alice", POOL, 7, 1001, security.READ)
    assert keys.verify(token, POOL, 7, 1001, security.READ, "nn")["u"] == "alice"
    with pytest.raises(errors.AccessDenied, match="does not allow writing"):
        keys.verify(token, POOL, 7, 1001, security.WRITE, "nn")
    for pool, block, gs in ((POOL, 8, 1001), (POOL, 7, 1002), ("BP-other", 7, 1001)):
        with pytest.raises(errors.AccessDenied, match="the block token is for block 7"):
            keys.verify(token, pool, block, gs, security.READ, "nn")


def test_keys_roll_and_are_kept_until_their_last_token_expired():
    clock = Clock(security.now_ms() - 20_000)     # tokens signed then are expired now
    keys = BlockKeys(update_interval=10, token_lifetime=5, now_ms=clock)
    first = keys.current
    old = keys.token("u", POOL, 1, 1, security.READ)
    clock.now += 9_000
    assert not keys.roll_if_due(clock.now)
    clock.now += 1_000
    assert keys.roll_if_due(clock.now) and keys.current is not first
    assert {k.key_id for k in keys.keys.values()} == {first.key_id, keys.current.key_id}
    ring = ring_with(keys, clock.now)
    with pytest.raises(errors.AccessDenied, match="expired"):     # 10 s old, lifetime 5 s
        ring.check(old, pb.Block(pool_id=POOL, block_id=1, generation_stamp=1), security.READ, "DataNode h")
    clock.now = first.expiry_ms + 1
    keys.roll_if_due(clock.now)
    assert first.key_id not in keys.keys                          # no valid token can use it any more


def test_ring_refuses_missing_forged_foreign_and_unknown_key_tokens():
    clock = Clock(security.now_ms())
    keys = BlockKeys(update_interval=600, token_lifetime=600, now_ms=clock)
    ring = ring_with(keys, clock.now)
    block = pb.Block(pool_id=POOL, block_id=5, generation_stamp=1001)
    good = keys.token("u", POOL, 5, 1001, security.READ + security.WRITE)
    ring.check(good, block, security.READ, "DataNode h")
    ring.check(good, block, security.WRITE + security.COPY, "DataNode h")
    with pytest.raises(errors.AccessDenied, match="DataNode h: no block access token for block 5 of pool BP-ns-a"):
        ring.check("", block, security.READ, "DataNode h")
    forged = security.block_token(keys.current.key_id, b"x" * 32, "u", POOL, 5, 1001, "rwc", clock.now + 10_000)
    with pytest.raises(errors.AccessDenied, match="bad signature"):
        ring.check(forged, block, security.READ, "DataNode h")
    copy_only = keys.token("dn", POOL, 5, 1001, security.COPY)
    with pytest.raises(errors.AccessDenied, match="does not allow reading"):
        ring.check(copy_only, block, security.READ, "DataNode h")
    restarted = BlockKeys(update_interval=600, token_lifetime=600, now_ms=clock)   # a NameNode restart
    ring.update(POOL, restarted.keys_proto(), clock.now)
    with pytest.raises(errors.AccessDenied, match="unknown key|bad signature"):
        ring.check(good, block, security.READ, "DataNode h")
    with pytest.raises(errors.AccessDenied, match="no block access token"):
        BlockKeyRing(enabled=True).check("", block, security.READ, "DataNode h")
    BlockKeyRing(enabled=False).check("", block, security.READ, "DataNode h")   # simple mode
