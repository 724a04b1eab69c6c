"""namenode/datanodes.py: one uuid, one live DataNode."""
from __future__ import annotations

from namenode.datanodes import DatanodeRegistry


def test_registry_names_a_live_holder_of_the_uuid_at_another_address_until_it_is_dead():
    registry = DatanodeRegistry(dead_interval=10.0)
    registry.register("DN-1", "host-1", "127.0.0.1:9001", now=0.0)
    assert registry.live_elsewhere("DN-1", "127.0.0.1:9001", now=5.0) is None     # itself, re-registering
    assert registry.live_elsewhere("DN-1", "127.0.0.1:9002", now=5.0).transfer_address == "127.0.0.1:9001"
    assert registry.live_elsewhere("DN-2", "127.0.0.1:9002", now=5.0) is None     # another uuid
    assert registry.live_elsewhere("DN-1", "127.0.0.1:9002", now=10.5) is None    # silent past dead_interval
    registry.find_dead(now=10.5)
    assert registry.live_elsewhere("DN-1", "127.0.0.1:9002", now=10.5) is None
