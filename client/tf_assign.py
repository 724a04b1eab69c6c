"""Which worker reads which file: the locality-aware, byte-balanced input plan.

Pure logic, no TensorFlow and no I/O, so every worker of a training job can
compute the same plan from the same block locations (and tests need no
cluster). A file goes to exactly one worker; a worker whose host holds the
file's replicas is preferred, as long as that keeps the worker's bytes within
``(1 + imbalance)`` of an even share, otherwise the least-loaded worker takes
it and reads it over the network: a straggler costs a synchronous training
step more than a remote read does.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json


@dataclasses.dataclass(frozen=True)
class FileLayout:
    """One input file: its hfed path, namespace, size and where each block's replicas are."""
    path: str
    nameservice: str
    size: int
    blocks: tuple[tuple[int, tuple[str, ...]], ...] = ()   # (block length, sorted replica host labels)

    def local_bytes(self, host: str) -> int:
        """Bytes of this file with a replica on ``host``."""
        return sum(length for length, hosts in self.blocks if host in hosts) if host else 0

    def to_dict(self) -> dict:
        return {"path": self.path, "nameservice": self.nameservice, "size": self.size,
                "blocks": [[length, list(hosts)] for length, hosts in self.blocks]}

    @classmethod
    def from_dict(cls, raw: dict) -> "FileLayout":
        return cls(raw["path"], raw["nameservice"], int(raw["size"]),
                   tuple((int(length), tuple(hosts)) for length, hosts in raw["blocks"]))


@dataclasses.dataclass(frozen=True)
class InputPlan:
    """The assignment of files to workers; ``owner[i]`` is the worker index reading ``files[i]``."""
    files: tuple[FileLayout, ...]
    worker_hosts: tuple[str, ...]
    owner: tuple[int, ...]

    @property
    def num_workers(self) -> int:
        return len(self.worker_hosts)

    def files_of(self, worker_index: int) -> list[FileLayout]:
        check_worker_index(worker_index, self.num_workers)
        return [f for f, w in zip(self.files, self.owner) if w == worker_index]

    def bytes_of(self, worker_index: int) -> int:
        return sum(f.size for f in self.files_of(worker_index))

    def local_bytes_of(self, worker_index: int) -> int:
        host = self.worker_hosts[worker_index]
        return sum(f.local_bytes(host) for f in self.files_of(worker_index))

    def digest(self) -> str:
        """Short fingerprint: workers that print the same digest read disjoint, complete shares."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:12]

    def to_json(self) -> str:
        return json.dumps({"worker_hosts": list(self.worker_hosts), "owner": list(self.owner),
                           "files": [f.to_dict() for f in self.files]}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "InputPlan":
        raw = json.loads(text)
        files = tuple(FileLayout.from_dict(f) for f in raw["files"])
        owner = tuple(int(w) for w in raw["owner"])
        hosts = tuple(raw["worker_hosts"])
        if len(owner) != len(files) or any(not 0 <= w < len(hosts) for w in owner):
            raise ValueError("input plan is inconsistent: every file needs one owner among the workers")
        return cls(files, hosts, owner)


def check_worker_index(worker_index: int, num_workers: int) -> None:
    if num_workers < 1:
        raise ValueError(f"num_workers must be at least 1, got {num_workers}")
    if not 0 <= worker_index < num_workers:
        raise ValueError(f"worker_index {worker_index} is out of range for {num_workers} workers "
                         f"(valid: 0..{num_workers - 1})")


def assign_files(files: list[FileLayout], worker_hosts: list[str], imbalance: float = 0.1) -> InputPlan:
    """Give each file to one worker, preferring local replicas, balancing bytes.

    Deterministic: the result depends only on the arguments (files are taken
    in path order whatever order they come in). Files with the fewest local
    candidates go first (they have the least choice), larger before smaller;
    files local to no worker go last and fill the gaps.
    """
    if not worker_hosts:
        raise ValueError("worker_hosts is empty: need at least one worker")
    if imbalance < 0:
        raise ValueError(f"imbalance must be >= 0, got {imbalance}")
    files = sorted(files, key=lambda f: (f.path, f.nameservice))
    n = len(worker_hosts)
    total = sum(f.size for f in files)
    cap = total / n * (1 + imbalance)
    load = [0] * n
    owner = [0] * len(files)
    local = [[f.local_bytes(h) for h in worker_hosts] for f in files]

    def candidates(i: int) -> int:
        count = sum(1 for b in local[i] if b > 0)
        return count if count else n + 1   # no local worker: place last

    order = sorted(range(len(files)), key=lambda i: (candidates(i), -files[i].size, files[i].path))
    for i in order:
        size = files[i].size
        fitting = [w for w in range(n) if local[i][w] > 0 and load[w] + size <= cap]
        if fitting:
            chosen = min(fitting, key=lambda w: (-local[i][w], load[w], w))
        else:
            chosen = min(range(n), key=lambda w: (load[w], -local[i][w], w))
        owner[i] = chosen
        load[chosen] += size
    return InputPlan(tuple(files), tuple(worker_hosts), tuple(owner))
