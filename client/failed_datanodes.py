"""The DataNodes where this client's write pipelines failed lately.

Until a NameNode notices a dead DataNode (heartbeats), it may keep placing new
blocks there; every writer of one client steers new pipelines away from the
DataNodes any of them saw fail in the last MEMORY seconds.
"""
from __future__ import annotations

import threading
import time

MEMORY = 30.0


class FailedDatanodes:
    def __init__(self, memory: float = MEMORY):
        self.memory = memory
        self._lock = threading.Lock()
        self._failed_at: dict[str, float] = {}   # DataNode uuid -> when a pipeline last failed there

    def note(self, datanode_uuid: str) -> None:
        if datanode_uuid:
            with self._lock:
                self._failed_at[datanode_uuid] = time.monotonic()

    def recent(self) -> set[str]:
        cutoff = time.monotonic() - self.memory
        with self._lock:
            return {uuid for uuid, when in self._failed_at.items() if when > cutoff}
