"""A cluster to fuzz, the oracle that judges it, and the loop that drives a target.

``FuzzCluster`` starts a real MiniCluster (one NameNode, one or more DataNodes),
seeds what the oracle checks (``/data/oracle/known.bin``, owned by the cluster
owner, readable but not writable by the fuzzing user ``fuzzer``) and a sandbox
the fuzzing user owns (``/user/fuzzer``), and mints tokens: the process that
started the cluster can read its secret. ``Oracle.check`` says what is wrong:
a daemon gone, a NameNode that stops answering, the known file's bytes no
longer byte-exact, the NameNode log over budget. ``run`` feeds a target random
inputs for a while, scans the daemons' logs after every input (a traceback is
an internal error: a finding, with the input that preceded it) and runs the
oracle every ``check_every`` seconds and at the end.
"""
from __future__ import annotations

import collections
import dataclasses
import os
import random
import re
import string
import time
from pathlib import Path


from client.fs import HfedFileSystem
from client.minicluster import MiniCluster
from protos.config import SecurityConfig
from protos import checksum
from protos import datatransfer as dt
from protos import errors, security
from protos import hfed_pb2 as pb

from tests.fuzz.mutate import Provider, pick

FUZZ_USER = "fuzzer"
ORACLE_DIR = "/data/oracle"
ORACLE_FILE = f"{ORACLE_DIR}/known.bin"
SANDBOX = f"/user/{FUZZ_USER}"
BLOCK_SIZE = 1 << 20
ORACLE_BYTES = BLOCK_SIZE + (BLOCK_SIZE // 2) + 123   # two blocks, the last one partial
LOG_BUDGET_PER_10_MIN = 1 << 20                       # the goal: NameNode log growth while fuzzing
LOG_BUDGET_FLOOR = 16 << 10                           # short runs: room for a few fixed lines
FRAME = re.compile(r'^  File "(?:.*/)?([^/"]+)", line (\d+)', re.M)
TRACEBACK = re.compile(r"^Traceback \(most recent call last\):\n(?:[ \t].*\n|\n)*?(\S.*)$", re.M)


class FuzzCluster:
    """A seeded MiniCluster and what fuzz targets need to know about it."""

    def __init__(self, directory, datanodes: int = 1, seed: int = 0):
        # Tokens on, TLS off: what is fuzzed is what a caller can send once connected (a TLS
        # handshake in front of every input would only slow the fuzzer down tenfold).
        self.mc = MiniCluster(directory, namespaces=1, datanodes=datanodes, replication=min(datanodes, 3),
                              block_size=BLOCK_SIZE, heartbeat_interval=0.5, dead_interval=5.0,
                              settings={"security": SecurityConfig(tls=False)})
        self.seed = seed
        self.expected = random.Random(seed).randbytes(ORACLE_BYTES)

    def __enter__(self) -> "FuzzCluster":
        return self.up()

    def __exit__(self, *exc) -> None:
        self.down()

    def up(self) -> "FuzzCluster":
        self.mc.up()
        try:
            self._seed()
        except BaseException:
            self.mc.down()
            raise
        return self

    def adopt(self) -> "FuzzCluster":
        """Fuzz a cluster another process started (and will stop) in this directory."""
        self._seed()
        return self

    def down(self) -> None:
        for closable in (getattr(self, "fs", None),):
            if closable is not None:
                closable.close()
        self.mc.down()

    def _seed(self) -> None:
        cfg = self.mc.config
        self.nameservice = self.mc.nameservices[0]
        self.namenode_address = self.mc.namenode_address(self.nameservice)
        self.secret = security.ensure_secret(cfg.secret_path())
        self.fs = HfedFileSystem(conf=str(self.mc.config_path), skip_instance_cache=True)
        self.owner = self.fs.session.namenode(self.nameservice)    # with the owner's token, over TLS
        self.owner.mkdirs(ORACLE_DIR, 0o755)
        self.fs.pipe_file(ORACLE_FILE, self.expected)
        self.owner.mkdirs(SANDBOX, 0o755)
        self.owner.set_owner(SANDBOX, FUZZ_USER, FUZZ_USER)
        stats = self.owner.get_stats()
        self.pool_id = stats.pool_id
        self.cluster_id = stats.cluster_id
        self.datanodes = [d.id for d in stats.datanodes]
        self.located = list(self.owner.get_block_locations(ORACLE_FILE).blocks)
        self.user_token = security.user_token(self.secret, FUZZ_USER, 24 * 3600)
        self.expired_token = security.user_token(self.secret, FUZZ_USER, -60)
        self.datanode_tokens = {d.uuid: security.datanode_token(self.secret, d.uuid) for d in self.datanodes}

    def log_paths(self) -> dict[str, Path]:
        return {name: self.mc.log_path(name) for name in (*self.mc.nameservices, *self.mc.host_labels)}

    def block_tokens(self) -> list[str]:
        return [lb.token for lb in self.located if lb.token]


def auth_metadata(fdp: Provider, valid: str, wrong_kind: str, expired: str, user: str = FUZZ_USER) -> tuple:
    """The caller's identity: mostly a valid token, else none, garbage, a damaged, expired,
    wrong-kind or oversized one (how far an unauthenticated caller gets is fuzzed too)."""
    roll = fdp.ConsumeIntInRange(0, 99)
    if roll < 80:
        token = valid
    elif roll < 85:
        token = None
    elif roll < 89:
        token = "".join(pick(fdp, string.printable[:94]) for _ in range(fdp.ConsumeIntInRange(0, 80)))
    elif roll < 93:
        i = fdp.ConsumeIntInRange(0, len(valid) - 1)
        token = valid[:i] + pick(fdp, "A_-.0z") + valid[i + 1:]
    elif roll < 96:
        token = wrong_kind
    elif roll < 98:
        token = expired
    else:
        token = "hfed1." + "A" * fdp.ConsumeIntInRange(4000, 20000) + ".AAAA"
    metadata = [("hfed-user", user), ("hfed-groups", user)]
    if token is not None:
        metadata.append((security.TOKEN_KEY, token))
    return tuple(metadata)


# ------------------------------------------------------------------ the oracle

def line_template(line: str) -> str:
    """What kind of log line ``line`` is: level, logger and the message's first words
    (each cut short, numbers masked); lines of a traceback count as "traceback"."""
    if line.startswith(("Traceback", " ")) or not line[:4].isdigit():
        return "traceback or continuation"
    words = line.split()[2:11]   # after date and time
    return re.sub(r"\d+", "N", " ".join(w[:24] for w in words))


class LogWatch:
    """New lines of each daemon's log since the last look, and growth since the start."""

    def __init__(self, paths: dict[str, Path]):
        self.paths = paths
        self.start = {name: self._size(p) for name, p in paths.items()}
        self.seen = dict(self.start)

    @staticmethod
    def _size(path: Path) -> int:
        try:
            return path.stat().st_size
        except FileNotFoundError:
            return 0

    def new_text(self) -> dict[str, str]:
        out = {}
        for name, path in self.paths.items():
            size = self._size(path)
            if size > self.seen[name]:
                with open(path, "rb") as f:
                    f.seek(self.seen[name])
                    raw = f.read(size - self.seen[name])
                raw = raw[:self._complete(raw)]
                out[name] = raw.decode(errors="replace")
                self.seen[name] += len(raw)
        return out

    @staticmethod
    def _complete(raw: bytes) -> int:
        """How much of ``raw`` to take now: up to its last full line, and not a traceback
        the daemon is still writing (it is read whole on the next look)."""
        end = raw.rfind(b"\n") + 1
        start = raw.rfind(b"Traceback (most recent call last):", 0, end)
        if start >= 0 and end - start < 1 << 20 and not TRACEBACK.search(raw[start:end].decode(errors="replace")):
            return start
        return end

    def heaviest_lines(self, name: str, top: int = 3) -> list[tuple[int, int, str]]:
        """(bytes, count, line template) of the kinds of line that grew ``name``'s log most
        since the start (the template: the line's first words, numbers masked)."""
        sizes: collections.Counter = collections.Counter()
        counts: collections.Counter = collections.Counter()
        with open(self.paths[name], "rb") as f:
            f.seek(self.start[name])
            for raw in f:
                template = line_template(raw.decode(errors="replace"))
                sizes[template] += len(raw)
                counts[template] += 1
        return [(size, counts[t], t) for t, size in sizes.most_common(top)]

    def growth(self) -> dict[str, int]:
        return {name: self._size(p) - self.start[name] for name, p in self.paths.items()}


def tracebacks(text: str) -> list[tuple[str, str, str]]:
    """(where it was raised + exception type, exception line, whole traceback) of each
    traceback in ``text``: the first tells one bug from another (messages vary by input)."""
    found = []
    for m in TRACEBACK.finditer(text):
        whole, line = m.group(0), m.group(1).strip()
        frames = FRAME.findall(whole)
        raised = f"{frames[-1][0]}:{frames[-1][1]}" if frames else "?"
        found.append((f"{line.split(':', 1)[0]} at {raised}", line[:300], whole[-3000:]))
    return found


class Oracle:
    def __init__(self, fc: FuzzCluster, tolerate_missing: bool = False):
        """``tolerate_missing``: the known file's replica may be gone (a fuzzed DatanodeProtocol
        speaks as a trusted DataNode, which may make the NameNode drop or delete replicas);
        its bytes may still never differ."""
        self.fc = fc
        self.tolerate_missing = tolerate_missing
        self.tolerated = 0

    def dead(self) -> list[str]:
        return [f"{s['role']} {s['name']} (pid {s['pid']}) is not running" for s in self.fc.mc.status()
                if not s["alive"]]

    def check(self) -> list[str]:
        problems = self.dead()
        if problems:
            return problems
        try:
            self.fc.owner.call("GetFileInfo", pb.GetFileInfoRequest(path="/"), "/", timeout=10)
        except errors.HfedError as e:
            problems.append(f"NameNode does not answer getFileInfo('/'): {e}")
        problems += self.check_data()
        return problems

    def check_data(self) -> list[str]:
        if not self.tolerate_missing:
            try:
                got = self.fc.fs.cat_file(ORACLE_FILE)
            except Exception as e:  # noqa: BLE001 - any failure is the finding
                return [f"reading {ORACLE_FILE} through the client failed: {e!r}"]
            return [] if got == self.fc.expected else [f"{ORACLE_FILE} read back {len(got)} bytes that differ"]
        # Straight from the DataNodes that held the blocks at the start.
        for lb in self.fc.located:
            want = self.fc.expected[lb.offset:lb.offset + lb.block.num_bytes]
            for node in lb.locations:
                try:
                    got = read_replica(node.transfer_address, lb)
                except (errors.NotFound, errors.BlockMissing):
                    self.tolerated += 1
                    continue
                except (errors.HfedError, OSError) as e:
                    return [f"reading block {lb.block.block_id} from {node.host_label} failed: {e}"]
                if got != want:
                    return [f"block {lb.block.block_id} on {node.host_label} read back different bytes"]
        return []


def read_replica(address: str, lb: pb.LocatedBlock) -> bytes:
    """A whole replica over DataTransfer, with the block token the NameNode gave, CRCs checked."""
    where = f"DataNode at {address}"
    with dt.connect(address, timeout=30) as sock:
        dt.send_request(sock, dt.Op.READ, pb.ReadBlockRequest(block=lb.block, offset=0, length=lb.block.num_bytes,
                                                              token=lb.token))
        dt.recv_reply(sock, where)
        reader, pieces = dt.PacketReader(sock, where), []
        while True:
            _, offset, data, crcs, last = reader.next()
            checksum.verify(data, crcs, offset, where)
            pieces.append(bytes(data))
            if last:
                return b"".join(pieces)[:lb.block.num_bytes]


def log_budget(seconds: float) -> int:
    return max(LOG_BUDGET_FLOOR, int(LOG_BUDGET_PER_10_MIN * seconds / 600))


# ------------------------------------------------------------------ the loop

@dataclasses.dataclass
class Finding:
    kind: str          # crash, traceback, internal-error, hang, log-growth, oracle
    summary: str
    inputs: list       # (hex of the input bytes, what it sent), the suspect last
    detail: str = ""
    signature: str = ""   # what makes two findings the same bug (default: the summary, digits masked)

    def key(self) -> tuple:
        return self.kind, self.signature or re.sub(r"\d+", "N", self.summary)[:160]


@dataclasses.dataclass
class Report:
    service: str
    seconds: float = 0.0
    inputs: int = 0
    codes: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    findings: dict = dataclasses.field(default_factory=dict)   # key -> (Finding, count)
    log_growth: dict = dataclasses.field(default_factory=dict)
    crashes: int = 0
    oracle_checks: int = 0

    def add(self, finding: Finding) -> None:
        old = self.findings.get(finding.key())
        self.findings[finding.key()] = (old[0] if old else finding, (old[1] if old else 0) + 1)

    @property
    def rate(self) -> float:
        return self.inputs / self.seconds if self.seconds else 0.0

    def per_10_min(self, name: str) -> float:
        return self.log_growth.get(name, 0) * 600 / self.seconds if self.seconds else 0.0


INTERNAL_CODES = {"INTERNAL", "UNKNOWN", errors.HfedError.kind}   # the last: a DataNode's generic error reply
HANG_CODES = {"DEADLINE_EXCEEDED", "timeout"}
DOWN_CODES = {"UNAVAILABLE", "connect-failed"}   # the daemon may be gone: run the oracle now


def run(target, fc: FuzzCluster, seconds: float, seed: int = 0, check_every: float = 2.0,
        tolerate_missing: bool = False, input_sizes=(16, 64, 256, 1024, 4096), progress=None) -> Report:
    """Feed ``target.fuzz_one`` random inputs for ``seconds``; the Report of what happened.
    ``progress(report)`` is called at every oracle check."""
    rng = random.Random(seed)
    report = Report(target.name)
    oracle = Oracle(fc, tolerate_missing)
    watch = LogWatch(fc.log_paths())
    recent: collections.deque = collections.deque(maxlen=4)
    started = time.monotonic()
    next_check = started + check_every
    stop = False
    while not stop:
        now = time.monotonic()
        stop = now - started >= seconds
        data = rng.randbytes(rng.choice(input_sizes))
        try:
            code, what = target.fuzz_one(data)
        except Exception as e:  # noqa: BLE001 - a fuzzer bug must not end the run unseen
            code, what = "fuzzer-error", f"{type(e).__name__}: {e}"
        report.inputs += 1
        report.codes[code] += 1
        recent.append((data.hex(), what))
        if code in INTERNAL_CODES:
            report.add(Finding("internal-error", f"{target.name}: {what[:200]}", list(recent)))
        elif code in HANG_CODES:
            report.add(Finding("hang", f"{target.name}: {what[:200]}", list(recent)))
        elif code == "fuzzer-error":
            report.add(Finding("fuzzer-error", what[:200], list(recent)))
        scan_logs(watch, report, recent)
        if code in DOWN_CODES or stop or time.monotonic() >= next_check:
            next_check = time.monotonic() + check_every
            report.oracle_checks += 1
            problems = oracle.check()
            if progress is not None:
                progress(report)
            if problems:
                crashed = oracle.dead()
                report.crashes += len(crashed)
                summary = "; ".join(problems)
                report.add(Finding("crash" if crashed else "oracle", summary[:500], list(recent),
                                   signature=re.sub(r"\d+", "N", summary)))
                if crashed:
                    break
    report.seconds = time.monotonic() - started
    time.sleep(0.2)   # lines a daemon logs just after the last reply
    scan_logs(watch, report, recent)
    report.log_growth = watch.growth()
    budget = log_budget(report.seconds)
    for name in fc.mc.nameservices:
        if report.log_growth[name] > budget:
            heaviest = watch.heaviest_lines(name)
            lines = "; ".join(f"{size} bytes in {count} lines '{template}'" for size, count, template in heaviest)
            report.add(Finding("log-growth", f"{name} log grew {report.log_growth[name]} bytes in "
                               f"{report.seconds:.0f} s (budget {budget}): {lines}", list(recent),
                               signature=f"{name}: {heaviest[0][2] if heaviest else ''}"))
    return report


def scan_logs(watch: LogWatch, report: Report, recent) -> None:
    for name, text in watch.new_text().items():
        for signature, line, whole in tracebacks(text):
            report.add(Finding("traceback", f"{name}: {line}", list(recent), whole, f"{name}: {signature}"))


def cluster_dir(base: str | os.PathLike, name: str) -> Path:
    path = Path(base) / name
    path.mkdir(parents=True, exist_ok=True)
    return path
