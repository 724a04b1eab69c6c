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
    records: int | None = None   # records in the file, when known (needed for exact epochs)

    def local_bytes(self, host: str) -> int:
        """Bytes of this file with a replica on ``host``."""
        return sum(length for length, hosts in self.blocks if host in hosts) if host else 0

    def to_dict(self) -> dict:
        raw = {"path": self.path, "nameservice": self.nameservice, "size": self.size,
               "blocks": [[length, list(hosts)] for length, hosts in self.blocks]}
        if self.records is not None:
            raw["records"] = self.records
        return raw

    @classmethod
    def from_dict(cls, raw: dict) -> "FileLayout":
        records = raw.get("records")
        return cls(raw["path"], raw["nameservice"], int(raw["size"]),
                   tuple((int(length), tuple(hosts)) for length, hosts in raw["blocks"]),
                   None if records is None else int(records))


@dataclasses.dataclass(frozen=True)
class InputPlan:
    """The assignment of files to workers; ``owner[i]`` is the worker index reading ``files[i]``."""
    files: tuple[FileLayout, ...]
    worker_hosts: tuple[str, ...]
    owner: tuple[int, ...]

    @property
    def num_workers(self) -> int:
        return len(self.worker_hosts)

    def indices_of(self, worker_index: int) -> list[int]:
        """Indices into ``files`` of the files ``worker_index`` reads, in plan order."""
        check_worker_index(worker_index, self.num_workers)
        return [i for i, w in enumerate(self.owner) if w == worker_index]

    def files_of(self, worker_index: int) -> list[FileLayout]:
        return [self.files[i] for i in self.indices_of(worker_index)]

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


# ------------------------------------------------------------------ exact epochs

REMAINDERS = ("pad", "drop")


@dataclasses.dataclass(frozen=True)
class Segment:
    """Records ``[start, stop)`` of ``plan.files[file]``, in the file's record order."""
    file: int
    start: int
    stop: int

    @property
    def records(self) -> int:
        return self.stop - self.start


@dataclasses.dataclass(frozen=True)
class EpochShare:
    """What one worker reads per epoch: its segments, and how many padding elements follow them."""
    segments: tuple[Segment, ...]
    padding: int

    @property
    def records(self) -> int:
        return sum(s.records for s in self.segments)

    @property
    def elements(self) -> int:
        return self.records + self.padding


def epoch_shares(plan: InputPlan, remainder: str = "pad") -> list[EpochShare]:
    """Every worker's share for exact epochs: the same number of elements on every worker.

    Workers keep their planned files as far as their even share allows (locality);
    the tails of the files of workers above it go, split at record boundaries, to
    workers below it: first to one with a replica of the file on its host (moved
    records stay local where the replicas allow), then to any. With
    ``total = q * N + r`` records the r fullest workers read q + 1 records and the
    others q; then
      "pad":  those others get one padding element each (the adapter marks it with
              weight 0), so every worker has q + 1 elements (q when r == 0) and
              every record is read exactly once per epoch;
      "drop": the plan's last r records (in file order) are not read, so every
              worker has q records; the rest are read exactly once per epoch.
    Pure arithmetic on the plan's record counts, so every worker computes the same.
    """
    if remainder not in REMAINDERS:
        raise ValueError(f"remainder must be one of {', '.join(REMAINDERS)}, got {remainder!r}")
    unknown = [f.path for f in plan.files if f.records is None]
    if unknown:
        raise ValueError(f"exact epochs need every file's record count; the plan has none for "
                         f"{unknown[0]}" + (f" and {len(unknown) - 1} more" if len(unknown) > 1 else ""))
    n = plan.num_workers
    counts = [f.records for f in plan.files]
    total = sum(counts)
    if remainder == "drop":
        counts = _drop_last(counts, total % n)
        total = sum(counts)
    q, r = divmod(total, n)
    owned = [sum(counts[i] for i, w in enumerate(plan.owner) if w == worker) for worker in range(n)]
    fullest = sorted(range(n), key=lambda w: (-owned[w], w))[:r]
    target = [q + (w in fullest) for w in range(n)]
    hosts = plan.worker_hosts
    excess = [max(0, owned[w] - target[w]) for w in range(n)]
    need = [max(0, target[w] - owned[w]) for w in range(n)]
    cut = [0] * len(counts)     # records given away from the end of file i
    moved: list[list[Segment]] = [[] for _ in range(n)]
    last_first = list(reversed(range(len(counts))))   # a worker keeps its first files, gives its last

    def local(i: int, worker: int) -> bool:
        return plan.files[i].local_bytes(hosts[worker]) > 0

    def move(i: int, worker: int, take: int) -> None:
        stop = counts[i] - cut[i]
        moved[worker].append(Segment(i, stop - take, stop))
        cut[i] += take

    # Records move first to a worker with a replica of their file; failing that, through a third
    # worker (it gives the short one the tail of a file of its own with a replica there, and takes
    # as many records from the full one's file with a replica on its host); then to any worker.
    for stage in ("local", "via", "any"):
        for worker in range(n):
            for i in last_first:
                owner = plan.owner[i]
                if need[worker] == 0:
                    break
                if excess[owner] == 0 or counts[i] == cut[i]:
                    continue
                if stage == "any" or (stage == "local" and local(i, worker)):
                    take = min(need[worker], excess[owner], counts[i] - cut[i])
                    move(i, worker, take)
                    need[worker] -= take
                    excess[owner] -= take
                    continue
                if stage != "via":
                    continue
                for j in last_first:
                    via = plan.owner[j]
                    if via in (worker, owner) or excess[via] or need[via] or not local(j, worker) \
                            or not local(i, via) or counts[j] == cut[j] or need[worker] == 0:
                        continue
                    take = min(need[worker], excess[owner], counts[i] - cut[i], counts[j] - cut[j])
                    move(j, worker, take)
                    move(i, via, take)
                    need[worker] -= take
                    excess[owner] -= take
                    if excess[owner] == 0 or counts[i] == cut[i]:
                        break
    assert not any(need) and not any(excess), "every record has a reader"
    kept = [[Segment(i, 0, counts[i] - cut[i]) for i, w in enumerate(plan.owner)
             if w == worker and counts[i] > cut[i]] + moved[worker] for worker in range(n)]
    elements = q + (r > 0) if remainder == "pad" else q
    return [EpochShare(tuple(sorted(kept[w], key=lambda s: (s.file, s.start))), elements - target[w])
            for w in range(n)]


def _drop_last(counts: list[int], drop: int) -> list[int]:
    counts = list(counts)
    for i in reversed(range(len(counts))):
        if drop == 0:
            break
        cut = min(drop, counts[i])
        counts[i] -= cut
        drop -= cut
    return counts


def steps_per_epoch(elements: int, batch_size: int, drop_remainder: bool = False) -> int:
    """Batches of ``batch_size`` in ``elements`` (as ``Dataset.batch`` makes them)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    return elements // batch_size if drop_remainder else -(-elements // batch_size)
