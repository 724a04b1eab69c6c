"""A running cluster's runtime state, kept apart from the user's config file.

`hfed cluster up` never rewrites the config (hfed.toml stays as the user wrote it: comments,
"64M" sizes, fixed addresses). What it learns while starting goes into ``run/state.json``
beside the config, written atomically:

    {"cluster_id": "CID-...", "config": "/path/hfed.toml", "started": "2026-12-01T15:00:00Z",
     "nameservices": {"ns-a": "127.0.0.1:40123", ...},   # addresses the NameNodes bound
     "datanodes": {"host-1": "127.0.0.1:40200", ...},     # addresses the DataNodes bound
     "webhdfs": "127.0.0.1:40300"}                        # the WebHDFS gateway (when running)

The one rule readers follow (protos/config.py load): a nameservice whose configured address
has port 0 gets the address in the state file, if the state file belongs to the same
cluster id; a fixed port in the config is used as written. Each daemon's pid is in
``run/<name>.pid`` and its bound address in ``run/<name>.addr`` (the files `cluster down`
and `cluster status` read).
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from protos.files import replace_atomically

STATE_NAME = "state.json"


def state_path(config_path: str | os.PathLike) -> Path:
    """run/state.json in the config's directory."""
    return Path(config_path).resolve().parent / "run" / STATE_NAME


def read(config_path: str | os.PathLike) -> dict:
    """The state beside ``config_path``; {} when there is none or it cannot be read (a
    half-started cluster's state is simply absent: writes are atomic)."""
    try:
        state = json.loads(state_path(config_path).read_text())
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def write(config_path: str | os.PathLike, cluster_id: str, **fields) -> Path:
    """Replace the state beside ``config_path`` with ``fields`` (nameservices, datanodes, webhdfs)."""
    path = state_path(config_path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    state = {"cluster_id": cluster_id, "config": str(Path(config_path).resolve()),
             "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **fields}
    replace_atomically(path, json.dumps(state, indent=2, sort_keys=True) + "\n")
    return path


def clear(config_path: str | os.PathLike) -> None:
    state_path(config_path).unlink(missing_ok=True)


def port_is_free_choice(address: str) -> bool:
    """True for "host:0": the config leaves the port to the daemon (and the state file)."""
    return address.rpartition(":")[2] == "0"


def resolved_address(state: dict, cluster_id: str, kind: str, name: str, configured: str) -> str:
    """``configured`` unless it says port 0 and the state (of this cluster) knows the bound address."""
    if not port_is_free_choice(configured) or state.get("cluster_id") != cluster_id:
        return configured
    bound = (state.get(kind) or {}).get(name)
    return bound if isinstance(bound, str) and bound else configured
