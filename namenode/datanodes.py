"""DataNode registry: registration, heartbeats, dead-node detection, command queues.

Time is passed in (seconds, monotonic), so the logic is tested without sleeping.

One uuid, one live DataNode. A registration under the uuid of a DataNode that
is alive at another transfer address (a copied data directory, a second DataNode
started on the same one) is refused until that DataNode is dead: silent for
dead_interval, as for every other purpose, or no longer accepting connections
at its address (the servicer probes it), so one killed and restarted at a new
port re-registers at once. HDFS itself lets the newcomer replace the old
registration and relies on the storage lock alone; a copied directory has no lock.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from protos.config import DEFAULT_RACK
from protos.errors import AlreadyExists

# Admin states, in HDFS's words (DatanodeReport.admin_state; namenode/decommission.py moves them).
NORMAL = "Normal"
DECOMMISSIONING = "Decommission in progress"
DECOMMISSIONED = "Decommissioned"


@dataclass
class DatanodeInfo:
    uuid: str
    host_label: str
    transfer_address: str
    last_heartbeat: float
    alive: bool = True
    capacity: int = 0
    used: int = 0
    remaining: int = 0
    active_transfers: int = 0
    reported: bool = False            # sent a full block report since registering
    http_address: str = ""            # its HTTP server (WebHDFS data endpoint, /metrics); "" none
    admin_state: str = NORMAL         # decommissioning: no new replicas here, its replicas copied elsewhere
    decommission_wait: str = ""       # why decommissioning cannot finish yet ("" while it progresses)
    rack: str = DEFAULT_RACK          # from the NameNode's topology, at registration (namenode/topology.py)
    commands: deque = field(default_factory=deque)


class DatanodeRegistry:
    def __init__(self, dead_interval: float):
        self.dead_interval = dead_interval
        self.nodes: dict[str, DatanodeInfo] = {}

    def register(self, uuid: str, host_label: str, address: str, now: float, http_address: str = "") -> DatanodeInfo:
        """(Re-)register: a restarted DataNode keeps its uuid, may change address."""
        node = self.nodes.get(uuid)
        if node is None:
            node = self.nodes[uuid] = DatanodeInfo(uuid, host_label, address, now)
        node.host_label, node.transfer_address, node.http_address = host_label, address, http_address
        node.last_heartbeat, node.alive, node.reported = now, True, False
        node.commands.clear()
        return node

    def live_elsewhere(self, uuid: str, address: str, now: float) -> DatanodeInfo | None:
        """The DataNode registered under ``uuid`` at another address, if it is still alive
        (heartbeated within dead_interval): a registration from ``address`` must not replace it
        unless it no longer answers there."""
        node = self.nodes.get(uuid)
        if node is None or not node.alive or node.transfer_address == address \
                or now - node.last_heartbeat > self.dead_interval:
            return None
        return node

    def refusal(self, holder: DatanodeInfo, host_label: str, address: str, nameservice: str) -> AlreadyExists:
        """Why a registration under ``holder``'s uuid from ``address`` is refused."""
        return AlreadyExists(
            f"namespace {nameservice}: DataNode uuid {holder.uuid} is registered by a live DataNode "
            f"({holder.host_label}) at {holder.transfer_address}; refusing {host_label} at {address} "
            f"(a copy of its data directory? each DataNode needs its own; the uuid is free once that one "
            f"is stopped, or after {self.dead_interval:g}s without its heartbeat)")

    def heartbeat(self, uuid: str, now: float, capacity: int, used: int, remaining: int,
                  active_transfers: int) -> DatanodeInfo | None:
        """Record a heartbeat; None means 'unknown or declared dead: register again'."""
        node = self.nodes.get(uuid)
        if node is None or not node.alive:
            return None
        node.last_heartbeat = now
        node.capacity, node.used, node.remaining = capacity, used, remaining
        node.active_transfers = active_transfers
        return node

    def find_dead(self, now: float) -> list[DatanodeInfo]:
        """Mark and return DataNodes whose last heartbeat is older than dead_interval."""
        dead = [n for n in self.nodes.values() if n.alive and now - n.last_heartbeat > self.dead_interval]
        for node in dead:
            node.alive = False
            node.commands.clear()
        return dead

    def live(self) -> list[DatanodeInfo]:
        return [n for n in self.nodes.values() if n.alive]

    def in_service(self) -> list[DatanodeInfo]:
        """Live DataNodes that take new replicas (not being or done being decommissioned)."""
        return [n for n in self.nodes.values() if n.alive and n.admin_state == NORMAL]

    def is_live(self, uuid: str) -> bool:
        node = self.nodes.get(uuid)
        return node is not None and node.alive

    def take_commands(self, uuid: str, limit: int = 64) -> list:
        node = self.nodes[uuid]
        out = []
        while node.commands and len(out) < limit:
            out.append(node.commands.popleft())
        return out
