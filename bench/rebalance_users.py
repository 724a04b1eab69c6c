"""Locust users for bench/rebalance.py (run by it in a subprocess; it reads what they count).

    locust -f bench/rebalance_users.py --headless -u 8 -r 8 -t 600s \\
        --hfed-conf DIR/hfed.toml --counts-out counts.jsonl [--batch 10]

Writers create empty files, --batch per call, each in its own tree under
/data/proj-a or /data/proj-b (writers alternate between the two); readers look up
files and list directories the writers made. A create refused with ENOSPC (the
namespace's budget) is counted and tried again after a pause; one refused with
errors.Retry (the subtree is fenced for a cutover) is tried again at once, and its
latency runs until it succeeded: that is what a writer waits. Every 0.5 s one JSON
line goes to --counts-out with what happened since the previous line: per half
(proj-a, proj-b) creates ok / refused for space / retried / other errors and the
longest call, each slow call (>= SLOW_MS) with its start, and the readers' counts.
"""
from __future__ import annotations

import errno
import itertools
import json
import random
import time

import grpc.experimental.gevent as grpc_gevent

grpc_gevent.init_gevent()   # before any channel exists: grpc calls must yield to gevent, not block it

import gevent  # noqa: E402
from locust import User, constant, events, task  # noqa: E402
from locust.runners import WorkerRunner  # noqa: E402

from client.fs import HfedFileSystem  # noqa: E402
from client.session import ClusterSession  # noqa: E402
from protos import config as hconfig  # noqa: E402

HALVES = ("proj-a", "proj-b")
ROOT = "/data"
FILES_PER_DIR = 1000
INTERVAL = 0.5
SLOW_MS = 250.0                 # calls at least this long are listed one by one
REFUSAL_PAUSE = 0.2
RETRY_PAUSE = 0.02
RETRY_FOR = 60.0                # a fenced create gives up (an error) after this long
KNOWN_PER_HALF = 5000           # files readers pick from, per half
RETRIABLE = (errno.EAGAIN,)     # errors.Retry


def empty_counts() -> dict:
    return {"ok": 0, "nospace": 0, "retried": 0, "other": 0, "calls": 0, "max_ms": 0.0}


class Counts:
    """What every user of this process adds to; written out and reset every INTERVAL."""

    def __init__(self):
        self.writes = {half: empty_counts() for half in HALVES}
        self.reads = empty_counts()
        self.slow: list[dict] = []
        self.kinds: dict[str, int] = {}
        self.known: dict[str, list[str]] = {half: [] for half in HALVES}
        self.numbers = itertools.count()
        self.writers = itertools.count()     # writers alternate between the halves
        self.out = None

    def error(self, where: dict, error: BaseException) -> None:
        where["other"] += 1
        kind = f"{type(error).__name__}: {str(error)[:160]}"
        self.kinds[kind] = self.kinds.get(kind, 0) + 1

    def flush(self) -> None:
        if self.out is None:
            return
        line = {"t": time.time(), "writes": self.writes, "reads": self.reads, "slow": self.slow,
                "errors": self.kinds}
        self.out.write(json.dumps(line) + "\n")
        self.out.flush()
        self.writes = {half: empty_counts() for half in HALVES}
        self.reads, self.slow, self.kinds = empty_counts(), [], {}

    def loop(self) -> None:
        while True:
            gevent.sleep(INTERVAL)
            self.flush()


COUNTS = Counts()
CONF: dict = {}


@events.init_command_line_parser.add_listener
def add_options(parser):
    group = parser.add_argument_group("hfed rebalance")
    group.add_argument("--hfed-conf", default="", help="cluster config (default $HFED_CONF)")
    group.add_argument("--counts-out", default="", help="JSON lines, one every 0.5 s")
    group.add_argument("--batch", type=int, default=10, help="files per create call")


@events.test_start.add_listener
def start_counting(environment, **_kwargs):
    if isinstance(environment.runner, WorkerRunner):
        return
    options = environment.parsed_options
    CONF["conf"] = hconfig.load(hconfig.find_config_path(options.hfed_conf or None))
    CONF["batch"] = max(1, options.batch)
    if options.counts_out:
        COUNTS.out = open(options.counts_out, "a")
    gevent.spawn(COUNTS.loop)


@events.quitting.add_listener
def stop_counting(environment, **_kwargs):
    COUNTS.flush()
    if COUNTS.out is not None:
        COUNTS.out.close()
        COUNTS.out = None


class HfedUser(User):
    abstract = True
    wait_time = constant(0)

    def on_start(self) -> None:
        self.number = next(COUNTS.numbers)
        self.session = ClusterSession(CONF["conf"])
        self.fs = HfedFileSystem(session=self.session, skip_instance_cache=True)

    def on_stop(self) -> None:
        self.fs.close()


class Writer(HfedUser):
    weight = 3

    def on_start(self) -> None:
        super().on_start()
        self.half = HALVES[next(COUNTS.writers) % 2]
        self.files = 0

    @task
    def create_batch(self) -> None:
        where = COUNTS.writes[self.half]
        tree = f"{ROOT}/{self.half}/u{self.number}"
        paths = [f"{tree}/d{(self.files + i) // FILES_PER_DIR:05d}/f{self.files + i:09d}"
                 for i in range(CONF["batch"])]
        self.files += len(paths)
        start_wall, start = time.time(), time.perf_counter()
        todo, refused, deadline = paths, 0, time.monotonic() + RETRY_FOR
        while todo:
            results = self.fs.touch_many(todo)
            again = [p for p, r in zip(todo, results) if r is not None and getattr(r, "errno", None) in RETRIABLE]
            for p, r in zip(todo, results):
                if r is None:
                    where["ok"] += 1
                    if len(COUNTS.known[self.half]) < KNOWN_PER_HALF:
                        COUNTS.known[self.half].append(p)
                elif getattr(r, "errno", None) == errno.ENOSPC:
                    refused += 1
                elif p not in again:
                    COUNTS.error(where, r)
            where["retried"] += len(again)
            if again and time.monotonic() > deadline:
                for p in again:
                    COUNTS.error(where, TimeoutError(f"{p}: still refused with Retry after {RETRY_FOR:.0f} s"))
                again = []
            todo = again
            if todo:
                gevent.sleep(RETRY_PAUSE)
        millis = (time.perf_counter() - start) * 1000
        where["calls"] += 1
        where["nospace"] += refused
        where["max_ms"] = max(where["max_ms"], millis)
        if millis >= SLOW_MS:
            COUNTS.slow.append({"half": self.half, "start": start_wall, "ms": round(millis, 1)})
        if refused:
            gevent.sleep(REFUSAL_PAUSE)     # at the wall: do not spin on refusals


class Reader(HfedUser):
    weight = 1

    @task
    def look(self) -> None:
        half = HALVES[self.number % 2]
        known = COUNTS.known[half]
        if not known:
            gevent.sleep(0.1)
            return
        path = random.choice(known)
        start = time.perf_counter()
        try:
            if random.random() < 0.9:
                self.fs.info(path)
            else:
                self.fs.ls(path.rsplit("/", 1)[0], detail=False)
            COUNTS.reads["ok"] += 1
        except Exception as e:  # noqa: BLE001 - every failed read is the benchmark's data
            COUNTS.error(COUNTS.reads, e)
        millis = (time.perf_counter() - start) * 1000
        COUNTS.reads["calls"] += 1
        COUNTS.reads["max_ms"] = max(COUNTS.reads["max_ms"], millis)
        if millis >= SLOW_MS:
            COUNTS.slow.append({"half": "read", "start": time.time() - millis / 1000, "ms": round(millis, 1)})
