"""The trash's names, shared by `hfed dfs -rm/-expunge` (client/trash.py) and the
NameNode's emptier (namenode/trash_emptier.py), as HDFS lays them out:

    <trash root>/Current/<full path of each deleted path>
    <trash root>/<yyMMddHHmmss>[-N]/...      checkpoints (UTC), emptied after fs.trash.interval
"""
from __future__ import annotations

import datetime

TRASH = ".Trash"
CURRENT = "Current"
CHECKPOINT_FORMAT = "%y%m%d%H%M%S"     # HDFS's checkpoint names


def checkpoint_name(now: float) -> str:
    return datetime.datetime.fromtimestamp(now, datetime.timezone.utc).strftime(CHECKPOINT_FORMAT)


def checkpoint_time(name: str) -> float | None:
    """Seconds since the epoch a checkpoint name stands for (a ``-N`` suffix allowed);
    None for a name that is no checkpoint."""
    try:
        stamp = datetime.datetime.strptime(name.split("-", 1)[0], CHECKPOINT_FORMAT)
    except ValueError:
        return None
    return stamp.replace(tzinfo=datetime.timezone.utc).timestamp()


def expired(name: str, now: float, interval_minutes: float) -> bool:
    """A checkpoint older than the trash interval (what -expunge and the emptier delete)."""
    taken = checkpoint_time(name)
    return taken is not None and now - taken > interval_minutes * 60
