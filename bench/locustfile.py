"""Locust load tests for hfed's NameNodes, speaking gRPC through the client library.

    HFED_CONF=DIR/hfed.toml locust -f bench/locustfile.py --headless -u 16 -r 16 -t 30s \\
        --scenario mixed --csv bench/results/loadtest_mixed

(`make loadtest` starts a throwaway cluster and runs write, read and mixed this way.)

Scenarios (--scenario):
  write  metadata write storm: each user creates empty files (90%) and directories (10%) in its own tree
  read   read storm: getFileInfo (90%) and listings (10%) over a tree made before the users start
         (--read-files per namespace, 100 per directory)
  mixed  95% reads and 5% writes, the ratio production NameNode traces show
  wall   memory wall: create empty files in batches (1,000 per directory) until every namespace refuses
         with ENOSPC (every create for 2 s: files accepted after the first refusal would show), then stop
         the run; prints files created, RSS and bytes/file per namespace. --content 1-16KiB gives each
         file that many random text-like bytes instead (small files, written with pipe_many)

Failures are reported grouped by kind, not one row per path: the exception locust
records is "ENOSPC namespace memory budget ns-b" (errno name, what the message says
before its details, namespace), and every refused entry of a batch counts as one
failed request (batched creates are one request per file, timed as the batch's
time divided by its files).

Users spread round-robin over one mount per namespace (--roots overrides). Every run
samples GetStats of every namespace each --sample-interval seconds into
PREFIX_namespaces.csv (with --csv PREFIX, or --ns-csv PATH): files, objects, RSS,
RSS growth per file since the start, files/s. A cluster that cannot be reached stops
the run before any user starts: one line naming the namespace and address, exit 2.
"""
from __future__ import annotations

import csv
import errno
import itertools
import os
import random
import re
import string
import sys
import time

import grpc.experimental.gevent as grpc_gevent

grpc_gevent.init_gevent()   # before any channel exists: grpc calls must yield to gevent, not block it

import gevent  # noqa: E402
from locust import User, constant, events, task  # noqa: E402
from locust.runners import WorkerRunner  # noqa: E402

from client.fs import HfedFileSystem  # noqa: E402
from client.session import ClusterSession  # noqa: E402
from protos import config as hconfig  # noqa: E402

SCENARIOS = ("write", "read", "mixed", "wall")
# A namespace is at its wall once it has refused every create for this long. Its
# budget latches the wall at the first refusal (namenode/budget.py); trying on for a
# while shows it if a namespace accepted creates again (files at the first refusal,
# first_refusal_files in the samples, would then differ from the files at the end).
WALL_REFUSAL_SECONDS = 2.0
REFUSAL_RETRY_PAUSE = 0.2
READ_SHARE_MIXED = 0.95
FILES_PER_DIR_WALL = 1000
FILES_PER_DIR_TREE = 100
EXIT_UNREACHABLE = 2
NS_CSV_FIELDS = ["elapsed_s", "nameservice", "files", "directories", "blocks", "objects", "rss_bytes",
                 "rss_growth_bytes", "files_added", "bytes_per_file", "files_per_s", "max_memory", "refusing",
                 "first_refusal_files"]
TEXT_POOL_BYTES = 1 << 20     # file contents are windows of one random text, made once


# ------------------------------------------------------- the one switch point
def create_files(fs: HfedFileSystem, paths: list[str]) -> list[Exception | None]:
    """Create empty files; one result per path (None or the exception).
    Uses the batched client call when this client has it."""
    touch_many = getattr(fs, "touch_many", None)
    if touch_many is not None:
        return [r if isinstance(r, Exception) else None for r in touch_many(paths)]
    results: list[Exception | None] = []
    for path in paths:
        try:
            fs.touch(path)
            results.append(None)
        except OSError as e:
            results.append(e)
    return results


def write_files(fs: HfedFileSystem, contents: dict[str, bytes]) -> list[Exception | None]:
    """Create small files with content; one result per path, in order (None or the exception).
    Uses the batched client call when this client has it, else one pipe_file per file."""
    pipe_many = getattr(fs, "pipe_many", None)
    if pipe_many is not None:
        return [r if isinstance(r, Exception) else None for r in pipe_many(contents)]
    results: list[Exception | None] = []
    for path, data in contents.items():
        try:
            fs.pipe_file(path, data)
            results.append(None)
        except OSError as e:
            results.append(e)
    return results


def is_refusal(error: BaseException | None) -> bool:
    return isinstance(error, OSError) and error.errno == errno.ENOSPC


# ------------------------------------------------------ failures, by kind
class GroupedFailure(Exception):
    """What locust records for a failed request. Locust groups failures by repr(exception),
    so a message naming the path would make one row per file: this one names only the
    kind, e.g. "ENOSPC namespace memory budget ns-b"."""

    def __init__(self, kind: str):
        super().__init__(kind)
        self.kind = kind

    def __repr__(self) -> str:
        return self.kind

    __str__ = __repr__


_NAMESPACE = re.compile(r"\(namespace ([^)]+)\)")
_DETAILS = re.compile(r"/\S*|\d[\d,.]*\s*\w*")     # paths, and numbers with their unit


def failure_kind(error: BaseException, nameservice: str = "") -> str:
    """'ENOSPC namespace memory budget ns-b': errno name (or exception class), the message's
    reason without paths, numbers or the details after its first ':' or ';', and the namespace."""
    code = errno.errorcode.get(getattr(error, "errno", None) or -1, type(error).__name__)
    message = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
    found = _NAMESPACE.search(message)
    ns = found.group(1) if found else nameservice
    reason = message.split("): ", 1)[1] if "): " in message else message
    reason = re.split(r"[:;]", reason, 1)[0]
    reason = re.sub(r"\s+", " ", _DETAILS.sub("", reason)).strip().removesuffix(" reached")
    return " ".join(part for part in (code, reason[:80], ns) if part)


def random_text(sizes: tuple[int, int], pool: bytes) -> bytes:
    """Random text-like bytes, a size drawn from ``sizes`` (inclusive): a window of ``pool``."""
    size = random.randint(*sizes)
    start = random.randrange(max(1, len(pool) - size))
    return pool[start:start + size]


def text_pool(nbytes: int = TEXT_POOL_BYTES) -> bytes:
    """Words of random letters and punctuation, like text: compressible as text is."""
    letters = string.ascii_lowercase
    words = ["".join(random.choices(letters, k=random.randint(1, 10))) for _ in range(4096)]
    out, size = [], 0
    while size < nbytes:
        word = random.choice(words) + random.choice("     ,.\n")
        out.append(word)
        size += len(word)
    return "".join(out).encode()[:nbytes]


def parse_content(text: str) -> tuple[int, int] | None:
    """'1-16KiB' -> (1024, 16384); '4KiB' -> (4096, 4096); '' or '0' -> None (empty files)."""
    parse_size = hconfig.parse_size
    text = text.strip()
    if text in ("", "0"):
        return None
    low, _, high = text.partition("-")
    unit = re.sub(r"^[\d.]+", "", high or low)
    low_bytes = parse_size(low if re.search(r"[A-Za-z]", low) else low + unit)
    high_bytes = parse_size(high) if high else low_bytes
    if not 0 < low_bytes <= high_bytes:
        raise ValueError(f"--content {text}: want sizes like 1-16KiB, low <= high, both above 0")
    return low_bytes, high_bytes


# ------------------------------------------------------------ run-wide state
class RunState:
    """What every user of this locust process shares."""

    def __init__(self):
        self.conf: hconfig.ClusterConfig | None = None
        self.roots: list[tuple[str, str]] = []   # (mount path, nameservice), one per namespace
        self.run_id = f"{time.strftime('%H%M%S')}-{os.getpid()}"
        self.user_numbers = itertools.count()
        self.refusing: dict[str, int] = {}        # namespace -> files this process had created when it refused
        self.refused_since: dict[str, float] = {}  # namespace -> start of its current run of refusals
        self.first_refusal: dict[str, int] = {}    # namespace -> its files when it first refused
        self.created: dict[str, int] = {}
        self.other_errors = 0
        self.sampler: "StatsSampler | None" = None
        self.finished = False


RUN = RunState()


@events.init_command_line_parser.add_listener
def add_options(parser):
    group = parser.add_argument_group("hfed")
    group.add_argument("--scenario", choices=SCENARIOS, default="mixed", help="which load to run")
    group.add_argument("--hfed-conf", default="", help="cluster config (default $HFED_CONF, else the last "
                                                       "`hfed cluster up`)")
    group.add_argument("--roots", default="", help="comma-separated directories users spread over "
                                                   "(default: one mount per namespace)")
    group.add_argument("--read-files", type=int, default=2000, help="files per namespace in the read tree")
    group.add_argument("--batch", type=int, default=100, help="files per create request in the wall scenario")
    group.add_argument("--content", default="", help="wall scenario: each file gets this many random "
                                                     "text-like bytes, a size or a range (1-16KiB; default: empty)")
    group.add_argument("--wall-max-files", type=int, default=0,
                       help="safety cap: treat a namespace as full after this many files (0: none)")
    group.add_argument("--ns-csv", default="", help="per-namespace GetStats samples (default PREFIX_namespaces.csv)")
    group.add_argument("--sample-interval", type=float, default=1.0, help="seconds between GetStats samples")


def one_root_per_namespace(cfg: hconfig.ClusterConfig) -> list[tuple[str, str]]:
    roots: dict[str, str] = {}
    for mount, ns in cfg.mounts:
        roots.setdefault(ns, mount)
    return [(mount, ns) for ns, mount in roots.items()]


@events.init.add_listener
def check_cluster(environment, **_kwargs):
    """Load the config and reach every namespace once; otherwise one clear line and exit 2."""
    options = environment.parsed_options
    if options is None:          # used as a library (tests of this module), nothing to check
        return
    try:
        RUN.conf = hconfig.load(hconfig.find_config_path(options.hfed_conf or None))
    except (OSError, ValueError) as e:
        sys.stderr.write(f"hfed load test: no usable cluster config: {e}\n")
        sys.exit(EXIT_UNREACHABLE)
    session = ClusterSession(RUN.conf)
    try:
        for ns, service in sorted(RUN.conf.nameservices.items()):
            try:
                session.namenode(ns).get_stats()
            except (OSError, ConnectionError) as e:
                sys.stderr.write(f"hfed load test: cannot reach namespace {ns} at {service.address} "
                                 f"(config {RUN.conf.source}): is the cluster up? ({e})\n")
                sys.exit(EXIT_UNREACHABLE)
        if options.roots:
            try:
                RUN.roots = [(root, session.resolve(root).nameservice) for root in options.roots.split(",") if root]
            except (OSError, ValueError) as e:
                sys.stderr.write(f"hfed load test: --roots {options.roots}: {e}\n")
                sys.exit(EXIT_UNREACHABLE)
        else:
            RUN.roots = one_root_per_namespace(RUN.conf)
    finally:
        session.close()
    # Here, not at test_start: the run timer (-t) and the users start only after init, so no
    # user reads a tree still being made and a short run never stops one half made.
    if options.scenario in ("read", "mixed") and not isinstance(_kwargs.get("runner"), WorkerRunner):
        make_read_tree(options.read_files)


@events.test_start.add_listener
def prepare(environment, **_kwargs):
    if isinstance(environment.runner, WorkerRunner):
        return
    options = environment.parsed_options
    path = options.ns_csv or (f"{options.csv_prefix}_namespaces.csv" if options.csv_prefix else "")
    RUN.sampler = StatsSampler(path, options.sample_interval)
    RUN.sampler.sample()                      # the baseline, before any user runs
    RUN.sampler.greenlet = gevent.spawn(RUN.sampler.loop)


@events.test_stop.add_listener
def stop_sampling(environment, **_kwargs):
    if RUN.sampler is not None and RUN.sampler.greenlet is not None:
        RUN.sampler.greenlet.kill(block=False)


@events.quitting.add_listener
def report(environment, **_kwargs):
    """The last sample is taken here, in the main greenlet: quit() may have been
    started by a user greenlet that shutdown does not wait for."""
    if RUN.sampler is None or RUN.finished:
        return
    RUN.finished = True
    stop_sampling(environment)
    RUN.sampler.sample()
    RUN.sampler.close()
    if environment.parsed_options.scenario != "wall" or RUN.sampler is None:
        return
    for line in RUN.sampler.summary_lines():
        print(line)
    missing = [ns for _, ns in RUN.roots if ns not in RUN.refusing]
    if missing:
        print(f"memory wall NOT reached for {', '.join(missing)} (run time over or stopped)")
        environment.process_exit_code = 1
    else:
        # Refused creates are the expected end of this scenario, not a failure of the run.
        environment.process_exit_code = 1 if RUN.other_errors else 0


def tree_dir(root: str, i: int) -> str:
    return f"{root}/load/tree/d{i // FILES_PER_DIR_TREE:04d}"


def tree_file(root: str, i: int) -> str:
    return f"{tree_dir(root, i)}/f{i % FILES_PER_DIR_TREE:015d}"


def make_read_tree(count: int) -> None:
    """The files the read scenarios look at, made once per cluster (kept between runs)."""
    fs = HfedFileSystem(conf=RUN.conf, skip_instance_cache=True)
    try:
        for root, ns in RUN.roots:
            if fs.exists(tree_file(root, count - 1)):
                continue
            print(f"making the read tree: {count} files under {root}/load/tree [namespace {ns}]", flush=True)
            for start in range(0, count, FILES_PER_DIR_TREE):
                fs.makedirs(tree_dir(root, start), exist_ok=True)   # a tree left half made is finished
                batch = [tree_file(root, i) for i in range(start, min(count, start + FILES_PER_DIR_TREE))]
                errors = [e for e in create_files(fs, batch) if e is not None and not isinstance(e, FileExistsError)]
                if errors:
                    raise errors[0]
    finally:
        fs.close()


# -------------------------------------------------------------- GetStats CSV
class StatsSampler:
    """Samples GetStats of every namespace into a CSV (and remembers the rows)."""

    def __init__(self, path: str, interval: float):
        self.interval = interval
        self.session = ClusterSession(RUN.conf)
        self.start = time.monotonic()
        self.first: dict[str, tuple[int, int]] = {}    # ns -> (files, rss) at the start
        self.last: dict[str, tuple[float, int]] = {}   # ns -> (elapsed, files) of the previous sample
        self.latest: dict[str, dict] = {}
        self.greenlet = None
        self.file = open(path, "w", newline="") if path else None
        self.writer = csv.DictWriter(self.file, NS_CSV_FIELDS) if self.file else None
        if self.writer:
            self.writer.writeheader()

    def loop(self) -> None:
        while True:
            gevent.sleep(self.interval)
            self.sample()

    def sample(self) -> None:
        elapsed = time.monotonic() - self.start
        for _, ns in RUN.roots:
            try:
                stats = self.session.namenode(ns).get_stats()
            except (OSError, ConnectionError):
                continue          # a namespace that went down shows as a gap in the CSV
            row = self.row(ns, stats, elapsed)
            self.latest[ns] = row
            if self.writer:
                self.writer.writerow(row)
        if self.file:
            self.file.flush()

    def row(self, ns: str, stats, elapsed: float) -> dict:
        fields = stats.DESCRIPTOR.fields_by_name
        objects = stats.objects if "objects" in fields else stats.files + stats.directories + stats.blocks
        files0, rss0 = self.first.setdefault(ns, (stats.files, stats.rss_bytes))
        then, files_then = self.last.get(ns, (0.0, stats.files))
        self.last[ns] = (elapsed, stats.files)
        added, growth = stats.files - files0, stats.rss_bytes - rss0
        return {"elapsed_s": round(elapsed, 2), "nameservice": ns, "files": stats.files,
                "directories": stats.directories, "blocks": stats.blocks, "objects": objects,
                "rss_bytes": stats.rss_bytes, "rss_growth_bytes": growth, "files_added": added,
                "bytes_per_file": round(growth / added, 1) if added > 0 else "",
                "files_per_s": round((stats.files - files_then) / (elapsed - then), 1) if elapsed > then else "",
                "max_memory": stats.max_memory if "max_memory" in fields else "",
                "refusing": int(ns in RUN.refusing), "first_refusal_files": RUN.first_refusal.get(ns, "")}

    def summary_lines(self) -> list[str]:
        lines = []
        for ns, row in sorted(self.latest.items()):
            state = "refused" if ns in RUN.refusing else "still accepting"
            per_file = f", {row['bytes_per_file']} B/file" if row["bytes_per_file"] != "" else ""
            lines.append(f"memory wall: {ns} {state} at {row['files']:,} files ({row['files_added']:,} created "
                         f"in this run), RSS {row['rss_bytes'] / 2**20:.1f} MiB "
                         f"(+{row['rss_growth_bytes'] / 2**20:.1f} MiB){per_file}")
        return lines

    def close(self) -> None:
        if self.file:
            self.file.close()
        self.session.close()


# --------------------------------------------------------------------- users
class HfedUser(User):
    """One client; what it does is chosen by --scenario."""

    wait_time = constant(0)

    def on_start(self) -> None:
        options = self.environment.parsed_options
        self.scenario = options.scenario
        self.number = next(RUN.user_numbers)
        self.session = ClusterSession(RUN.conf)
        self.fs = HfedFileSystem(session=self.session, skip_instance_cache=True)
        self.root, self.ns = RUN.roots[self.number % len(RUN.roots)]
        self.read_files = options.read_files
        self.own_files = 0
        self.own_dirs = 0
        self.batch = max(1, options.batch)
        self.wall_cap = options.wall_max_files
        self.content = parse_content(options.content) if self.scenario == "wall" else None
        self.pool = text_pool() if self.content else b""

    def on_stop(self) -> None:
        self.fs.close()

    @task
    def step(self) -> None:
        if self.scenario == "write":
            self.write_one()
        elif self.scenario == "read":
            self.read_one()
        elif self.scenario == "mixed":
            self.read_one() if random.random() < READ_SHARE_MIXED else self.write_one()
        else:
            self.wall_batch()

    # -- measured calls
    def timed(self, name: str, call, *args, length: int = 0):
        """Run one client call and report it to locust; returns (result, exception)."""
        start = time.perf_counter()
        result, error = None, None
        try:
            result = call(*args)
        except Exception as e:  # any failure is the load test's data, not its end
            error = e
        self.fire(name, (time.perf_counter() - start) * 1000, length, error)
        return result, error

    def fire(self, name: str, millis: float, length: int, error: BaseException | None) -> None:
        """One request for locust; a failure is recorded by its kind (see GroupedFailure)."""
        self.environment.events.request.fire(
            request_type="hfed", name=name, response_time=millis, response_length=length,
            exception=GroupedFailure(failure_kind(error, self.ns)) if error is not None else None,
            context={"nameservice": self.ns})

    def batched(self, name: str, call, paths: list[str], payload) -> list[BaseException | None]:
        """Run one batched client call (one result per path) and report one request per
        path, each timed as the batch's time / its paths: every refused entry is one
        failure. A call that failed as a whole fails every path with its error."""
        start = time.perf_counter()
        try:
            results = list(call(self.fs, payload))
        except Exception as e:  # the whole batch failed: each file did
            results = [e] * len(paths)
        millis = (time.perf_counter() - start) * 1000 / max(len(paths), 1)
        for result in results:
            self.fire(name, millis, 0, result)
        return results

    def own_dir(self) -> str:
        return f"{self.root}/load/{self.scenario}-{RUN.run_id}-u{self.number}/d{self.own_dirs:05d}"

    # -- storms
    def write_one(self) -> None:
        if self.own_dirs == 0 or random.random() < 0.1:
            self.own_dirs += 1
            self.timed("mkdirs", self.fs.mkdir, self.own_dir())
            return
        self.own_files += 1
        self.timed("create", self.fs.touch, f"{self.own_dir()}/{self.own_files:016d}")

    def read_one(self) -> None:
        i = random.randrange(self.read_files)
        if random.random() < 0.9:
            self.timed("getFileInfo", self.fs.info, tree_file(self.root, i))
        else:
            self.timed("listing", self.fs.ls, tree_dir(self.root, i), False)

    # -- memory wall
    def wall_batch(self) -> None:
        if self.ns in RUN.refusing and not self.move_to_open_namespace():
            return
        if self.own_files % FILES_PER_DIR_WALL == 0:
            _, error = self.timed("mkdirs", self.fs.mkdir, self.wall_dir())
            if error is not None:
                self.note_error(error)
                return
        count = min(self.batch, FILES_PER_DIR_WALL - self.own_files % FILES_PER_DIR_WALL)
        first = self.own_files
        paths = [f"{self.wall_dir()}/{i:016x}" for i in range(first, first + count)]
        if self.content:
            contents = {path: random_text(self.content, self.pool) for path in paths}
            results = self.batched("write small file (batched)", write_files, paths, contents)
        else:
            results = self.batched("create (batched)", create_files, paths, paths)
        done = sum(r is None for r in results)
        self.own_files += count
        RUN.created[self.ns] = RUN.created.get(self.ns, 0) + done
        failures = [r for r in results if r is not None]
        if done:
            RUN.refused_since.pop(self.ns, None)
        if failures:
            self.note_error(failures[0])
        elif self.wall_cap and RUN.created[self.ns] >= self.wall_cap:
            self.note_refusal(at_once=True)

    def wall_dir(self) -> str:
        return f"{self.root}/wall/{RUN.run_id}-u{self.number}/d{self.own_files // FILES_PER_DIR_WALL:05d}"

    def note_error(self, error: BaseException) -> None:
        if is_refusal(error):
            self.note_refusal()
        else:
            RUN.other_errors += 1

    def note_refusal(self, at_once: bool = False) -> None:
        if self.ns not in RUN.first_refusal and not at_once:
            RUN.first_refusal[self.ns] = -1      # claimed before the call: other users see it is taken
            try:      # the namespace's own count: other users' files included
                RUN.first_refusal[self.ns] = self.session.namenode(self.ns).get_stats().files
            except (OSError, ConnectionError):
                RUN.first_refusal[self.ns] = -1
            print(f"memory wall: {self.ns} first refused a create at {RUN.first_refusal[self.ns]:,} files",
                  flush=True)
        since = RUN.refused_since.setdefault(self.ns, time.monotonic())
        if not at_once and time.monotonic() - since < WALL_REFUSAL_SECONDS:
            gevent.sleep(REFUSAL_RETRY_PAUSE)    # maybe a passing peak: try this namespace again
            return
        if self.ns not in RUN.refusing:
            RUN.refusing[self.ns] = RUN.created.get(self.ns, 0)
            print(f"memory wall: {self.ns} refuses new files after {RUN.created.get(self.ns, 0):,} "
                  f"created in this run", flush=True)
        if len(RUN.refusing) >= len(RUN.roots):
            # Stop from outside this greenlet: quit() kills every user, this one included.
            gevent.spawn(self.environment.runner.quit)

    def move_to_open_namespace(self) -> bool:
        open_roots = [(root, ns) for root, ns in RUN.roots if ns not in RUN.refusing]
        if not open_roots:
            self.note_refusal(at_once=True)
            gevent.sleep(0.1)
            return False
        self.root, self.ns = open_roots[self.number % len(open_roots)]
        self.own_files = 0     # wall_dir() is under the new namespace's root: a fresh tree
        return True
