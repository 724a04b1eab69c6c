"""The keys a NameNode signs block access tokens with (HDFS's BlockTokenSecretManager).

A new random key becomes current every ``update_interval`` seconds; tokens are
signed with the current key and last ``token_lifetime`` seconds, so a key is kept
(and pushed to DataNodes in register and heartbeat replies) until the last token
it can have signed has expired: made + update_interval + token_lifetime.

Keys live in memory only. After a NameNode restart it has new keys and
DataNodes refuse tokens signed before (their old keys are replaced when they
register again); readers then ask the NameNode for fresh locations, whose
tokens are signed with the new keys, and retry.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass

from protos import security
from protos import hfed_pb2 as pb


@dataclass(frozen=True)
class Key:
    key_id: int
    secret: bytes
    made_ms: int
    expiry_ms: int    # no token signed with it is valid after this


class BlockKeys:
    def __init__(self, update_interval: float, token_lifetime: float, now_ms=security.now_ms):
        self.update_ms = int(update_interval * 1000)
        self.lifetime_ms = int(token_lifetime * 1000)
        self.now_ms = now_ms
        # Random ids: a token from before a restart names a key id the new keys do not have.
        self._next_id = secrets.randbits(30) + 1
        self.keys: dict[int, Key] = {}
        self.current: Key = self._roll(self.now_ms())

    def _roll(self, now: int) -> Key:
        key = Key(self._next_id, secrets.token_bytes(32), now, now + self.update_ms + self.lifetime_ms)
        self._next_id = self._next_id % (1 << 31) + 1
        self.keys[key.key_id] = key
        self.current = key
        return key

    def roll_if_due(self, now_ms: int | None = None) -> bool:
        """Make a new current key once the current one is update_interval old, and forget
        keys no valid token can use; True when a new key was made."""
        now = self.now_ms() if now_ms is None else now_ms
        for key_id in [k.key_id for k in self.keys.values() if k.expiry_ms < now]:
            del self.keys[key_id]
        if now - self.current.made_ms < self.update_ms:
            return False
        self._roll(now)
        return True

    def token(self, user: str, pool_id: str, block_id: int, generation_stamp: int, modes: str) -> str:
        key = self.current
        expiry = min(self.now_ms() + self.lifetime_ms, key.expiry_ms)
        return security.block_token(key.key_id, key.secret, user, pool_id, block_id, generation_stamp, modes,
                                    expiry)

    def verify(self, token: str, pool_id: str, block_id: int, generation_stamp: int, mode: str,
               where: str) -> dict:
        """The token's fields if it grants ``mode`` on this block; else AccessDenied naming ``where``."""
        return security.check_block_token(token, {k.key_id: k.secret for k in self.keys.values()}, pool_id,
                                          block_id, generation_stamp, mode, where)

    def keys_proto(self) -> list[pb.BlockKey]:
        return [pb.BlockKey(key_id=k.key_id, secret=k.secret, expiry_ms=k.expiry_ms) for k in self.keys.values()]


def check(keys: BlockKeys | None, token: str, pool_id: str, block_id: int, generation_stamp: int, mode: str,
          where: str) -> None:
    """``keys.verify`` when tokens are on (``keys`` is None in simple mode: nothing is checked)."""
    if keys is not None:
        keys.verify(token, pool_id, block_id, generation_stamp, mode, where)

