"""The block-token keys this DataNode knows, per block pool, and the checks made with them.

Each pool's NameNode sends every key still valid in its register and heartbeat
replies; the set received replaces the pool's old one (a restarted NameNode
has new keys, so tokens it signed before are refused from then on). Requests
arrive on connection threads while the heartbeat actors replace sets on the
event loop: a pool's keys are swapped whole, never changed in place.

A check runs before the replica is looked up, so a caller without a valid token
learns nothing about the block (not whether it exists, nor its generation stamp).
"""
from __future__ import annotations

from protos import errors, security
from protos import hfed_pb2 as pb

MODE_NAMES = {security.READ: "reading", security.WRITE: "writing", security.COPY: "copying"}


class BlockKeyRing:
    def __init__(self, enabled: bool):
        """``enabled`` False ([security] auth = "simple"): every check passes."""
        self.enabled = enabled
        self._pools: dict[str, dict[int, bytes]] = {}

    def update(self, pool_id: str, keys, now_ms: int | None = None) -> None:
        """Replace ``pool_id``'s keys with ``keys`` (pb.BlockKey), leaving out expired ones."""
        now = security.now_ms() if now_ms is None else now_ms
        self._pools[pool_id] = {k.key_id: bytes(k.secret) for k in keys if k.expiry_ms >= now}

    def keys(self, pool_id: str) -> dict[int, bytes]:
        return self._pools.get(pool_id, {})

    def check(self, token: str, block: pb.Block, modes: str, where: str) -> None:
        """Pass when ``token`` grants any of ``modes`` on exactly ``block`` (pool, id, generation
        stamp); else AccessDenied naming ``where``, the block id and pool, nothing stored."""
        if not self.enabled:
            return
        fields = security.check_block_token(token, self.keys(block.pool_id), block.pool_id, block.block_id,
                                            block.generation_stamp, "", where)
        granted = fields.get("m", "")
        if not any(mode in granted for mode in modes):
            wanted = " or ".join(MODE_NAMES.get(m, m) for m in modes)
            raise errors.AccessDenied(f"{where}: the block token for block {block.block_id} of pool "
                                      f"{block.pool_id} does not allow {wanted}")
