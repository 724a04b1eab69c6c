"""Delegation token bookkeeping without a network: the per-owner cap and the state file."""
import pytest

from namenode.delegation import MAX_LIVE_PER_OWNER, DelegationTokens
from protos import errors


def test_an_owner_cannot_pile_up_tokens_and_state_survives_a_restart(tmp_path):
    tokens = DelegationTokens(b"s" * 64, "ns-a", str(tmp_path), 60.0, 600.0)
    issued = [tokens.issue("mallory", "mallory")[0] for _ in range(MAX_LIVE_PER_OWNER)]
    with pytest.raises(errors.NoSpace, match="cancel some"):
        tokens.issue("mallory", "mallory")
    tokens.issue("alice", "alice")                       # others are not held back by mallory
    tokens.cancel(issued[0], "mallory", superuser=False)
    tokens.issue("mallory", "mallory")                   # room again once one is cancelled
    again = DelegationTokens(b"s" * 64, "ns-a", str(tmp_path), 60.0, 600.0)
    assert again.check(issued[1])["o"] == "mallory"
    with pytest.raises(errors.Unauthenticated, match="cancelled"):
        again.check(issued[0])
    assert (tmp_path / "delegation_tokens.json").stat().st_mode & 0o777 == 0o600
