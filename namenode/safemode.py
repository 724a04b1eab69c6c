"""Safe mode: the namespace is read-only until DataNodes have reported enough blocks.

Block locations are not persisted, so right after a restart every block looks
missing; replicating or refusing writes on that picture would be wrong. The
NameNode starts in safe mode when it holds blocks and leaves by itself once
``threshold`` of them have a reported replica. An administrator may enter it
by hand; then only an explicit leave ends it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from protos.errors import SafeMode as SafeModeError

DEFAULT_THRESHOLD = 0.999


@dataclass
class SafeMode:
    threshold: float = DEFAULT_THRESHOLD
    on: bool = False
    manual: bool = False

    def status(self, fsn) -> dict:
        total, reported = block_counts(fsn)
        if not self.on:
            reason = "safe mode is OFF"
        elif self.manual:
            reason = "safe mode is ON (entered by an administrator; leave with `hfed dfsadmin -safemode leave`)"
        else:
            reason = (f"safe mode is ON: {reported} of {total} blocks reported, waiting for "
                      f"{self.threshold:.1%} (it leaves by itself)")
        return {"on": self.on, "manual": self.manual, "reported_blocks": reported, "total_blocks": total,
                "threshold": self.threshold, "reason": reason}

    def enter(self, manual: bool) -> None:
        self.on, self.manual = True, manual

    def leave(self) -> None:
        self.on, self.manual = False, False

    def check_leave(self, fsn) -> bool:
        """Leave automatic safe mode once enough blocks are reported; True if it left."""
        if not self.on or self.manual:
            return False
        total, reported = block_counts(fsn)
        if total == 0 or reported >= self.threshold * total:
            self.leave()
            return True
        return False

    def check_writable(self, fsn, path: str) -> None:
        if self.on:
            raise SafeModeError(f"{fsn.ns.where(path)}: cannot change the namespace: {self.status(fsn)['reason']}",
                                path)


def block_counts(fsn) -> tuple[int, int]:
    """(complete blocks, of those with at least one live reported replica)."""
    blocks = fsn.blocks
    complete = (blocks.column("committed") != 0) & (blocks.column("ids") != 0)
    live = blocks.live_replica_counts(node.uuid for node in fsn.datanodes.live())
    return int(np.count_nonzero(complete)), int(np.count_nonzero(complete & (live > 0)))
