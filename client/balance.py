"""Move a subtree to another namespace while clients use it, copying no bytes (`hfed balance`).

HDFS's fedbalance copies every byte with DistCp and then repeats diff copies; in
hfed every DataNode already stores every namespace's block pool, so a move is
metadata only (protos/hfed.proto, "subtree moves"):

1. checks: superuser, PATH a directory, not a mount point, no mount below it, not
   read-only, another namespace, room for its objects in the target;
2. the source exports the subtree (a snapshot at its txid T) and the target imports
   it in chunks: new block ids in the target's pool, and DataNodes hard-link each
   replica into that pool (same bytes, same checksums, no copy);
3. rounds: the paths edits after T touched (the source's edit log) are exported again
   and imported, until few remain;
4. cutover: the source fences PATH (new changes are refused with a retriable error the
   client library waits out; files being written are waited for, or closed with
   ``force_close_open``), the last edits are applied, the target's replicas are awaited,
   the mount table gains PATH -> target (source and target route by it before the
   fence goes), and the source drops its copy of the subtree (its pool's links; the
   target's stay).

Every step is written to a journal (``<config dir>/balance/<id>.json``) before the
next starts, so ``continue_move`` picks a move up after a crash of the mover or of
any daemon, and ``abort_move`` undoes one that has not cut over.
"""
from __future__ import annotations

import json
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import grpc

from client import mount_admin
from client.namenode_client import rebuild_error
from protos import errors, paths
from protos import hfed_pb2 as pb
from protos.files import replace_atomically

SETTLED_CHANGES = 200       # a round touching fewer paths than this is the last before the fence
MAX_ROUNDS = 8
LINK_WAIT = 120.0           # seconds to wait for DataNodes to link the subtree's replicas
OPEN_FILES_WAIT = 30.0      # seconds the fenced source waits for writers to close their files
EXPORT_TIMEOUT = 600.0
Fence = pb.FenceSubtreeRequest


@dataclass
class MoveReport:
    move_id: str
    path: str
    source: str
    target: str
    state: str = "started"     # started, copied, fenced, switching, switched, done, aborted
    source_pool: str = ""
    txid: int = 0              # the source's edits up to here are in the target
    rounds: int = 0
    entries: int = 0           # entries imported, over every round
    files: int = 0
    directories: int = 0
    blocks: int = 0
    replicas_linked: int = 0
    seconds: float = 0.0
    fenced_seconds: float = 0.0
    started_at: float = field(default_factory=time.time)
    steps: list = field(default_factory=list)   # (step, seconds)


class Mover:
    def __init__(self, session, report: MoveReport, *, force_close_open: bool = False, progress=None):
        self.session = session
        self.report = report
        self.force_close_open = force_close_open
        self.progress = progress or (lambda message: None)
        self.journal = journal_dir(session.cfg) / f"{report.move_id}.json"

    # ------------------------------------------------------------ plumbing
    def _save(self, state: str | None = None) -> None:
        if state:
            self.report.state = state
        self.journal.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        replace_atomically(self.journal, json.dumps(asdict(self.report), indent=1), durable=True, mode=0o600)

    def _source(self):
        return self.session.namenode(self.report.source)

    def _target(self):
        return self.session.namenode(self.report.target)

    def _step(self, name: str, started: float) -> None:
        self.report.steps.append((name, round(time.monotonic() - started, 3)))

    def _fence(self, action: int, client=None) -> pb.FenceSubtreeResponse:
        client = client or self._source()
        return client.call("FenceSubtree", Fence(path=self.report.path, action=action, move_id=self.report.move_id,
                                                  force_close_open=self.force_close_open), self.report.path)

    def _export(self, only: list[str] | None = None):
        """Yield the source's chunks of entries; the snapshot's txid lands in report.txid_seen."""
        client = self._source()
        request = pb.ExportSubtreeRequest(path=self.report.path, only=only or [])
        try:
            for chunk in client._stub.ExportSubtree(request, metadata=client.metadata, timeout=EXPORT_TIMEOUT):
                self.txid_seen = chunk.txid
                self.report.source_pool = chunk.pool_id or self.report.source_pool
                yield chunk.entries
        except grpc.RpcError as e:
            raise rebuild_error(e, client.nameservice, client.address, self.report.path) from None

    def _import(self, entries: bytes) -> None:
        reply = self._target().call("ImportSubtree", pb.ImportSubtreeRequest(
            path=self.report.path, source_pool=self.report.source_pool, entries=entries, move_id=self.report.move_id),
            self.report.path)
        self.report.entries += reply.files + reply.directories

    def _copy(self, only: list[str] | None = None) -> int:
        """Export (all, or ``only`` these paths) and import; returns the snapshot's txid."""
        self.txid_seen = 0
        for entries in self._export(only):
            if entries:
                self._import(entries)
        return self.txid_seen

    def _changes(self) -> pb.SubtreeChangesResponse:
        return self._source().call("SubtreeChanges", pb.SubtreeChangesRequest(
            path=self.report.path, since_txid=self.report.txid), self.report.path)

    def _catch_up(self) -> int:
        """One round: the paths touched since report.txid, copied again. Returns how many."""
        changes = self._changes()
        if changes.resync:         # the edits are gone from the log: the whole subtree again
            self.progress("edit log pruned past the last round: exporting the whole subtree again")
            self.report.txid = self._copy()     # a whole snapshot: consistent at its own txid
            count = -1
        else:
            if changes.paths:
                self._copy(list(changes.paths))
            count = len(changes.paths)
            # Only up to the change list's txid: the export of those paths came later, and
            # an edit in between to a path not on the list must be in the next round.
            self.report.txid = changes.txid
        self.report.rounds += 1
        self._save()
        return count

    def _progress_of_links(self) -> pb.MoveProgressResponse:
        return self._target().call("MoveProgress", pb.MoveProgressRequest(path=self.report.path), self.report.path)

    def _wait_links(self, timeout: float) -> pb.MoveProgressResponse:
        """Until every block of the subtree has a replica in the target's pool (or ``timeout``).
        Every second an empty import asks the target to send the links still missing again
        (a DataNode restarted, a staging container finalized since)."""
        deadline = time.monotonic() + timeout
        requeue_at = time.monotonic() + 1.0
        while True:
            done = self._progress_of_links()
            if done.blocks_with_replicas >= done.blocks or time.monotonic() > deadline:
                self.report.blocks, self.report.replicas_linked = done.blocks, done.replicas_linked
                return done
            if time.monotonic() > requeue_at:
                self._import(b"")
                requeue_at = time.monotonic() + 1.0
            time.sleep(0.05)

    def _wait_writable(self, client, requeue_links: bool = False) -> None:
        """Wait (up to LINK_WAIT) for a NameNode restarted mid-move to leave safe mode. A target
        waits there for replicas of the blocks it imported, which only links bring: with
        ``requeue_links`` they are asked for again (an empty import works in safe mode)."""
        deadline = time.monotonic() + LINK_WAIT
        while True:
            state = client.set_safe_mode()
            if not state.on or state.manual or time.monotonic() > deadline:
                return           # manual safe mode (or a timeout) is reported by the next change
            self.progress(f"{client.nameservice} is in safe mode ({state.reported_blocks} of "
                          f"{state.total_blocks} blocks reported): waiting")
            if requeue_links and self.report.source_pool:
                self._import(b"")
            time.sleep(1.0)

    # --------------------------------------------------------------- steps
    def run(self) -> MoveReport:
        """The move from wherever its journal says it stopped."""
        started = time.monotonic()
        r = self.report
        if r.state in ("started", "copied", "fenced"):
            self._copy_phase()
            self._cutover()
        if r.state == "switching":
            self._switch()
        if r.state == "switched":
            t = time.monotonic()
            self._wait_writable(self._source())
            try:
                self._fence(Fence.DROP)
            except errors.NotFound:
                pass               # dropped before a crash
            self._fence(Fence.UNFENCE, self._target())    # the target forgets the move's block mapping
            self._step("drop source copy", t)
            self._save("done")
        r.seconds += time.monotonic() - started
        self._save()
        return r

    def _copy_phase(self) -> None:
        r = self.report
        t = time.monotonic()
        if r.state == "started":
            self.progress(f"copying the metadata of {r.path} from {r.source} to {r.target}")
            r.txid = self._copy()
            self._save("copied")
        else:       # continued: import everything again (idempotent), then the edits since the journal's txid
            self._wait_writable(self._target(), requeue_links=True)
            self.progress(f"continuing: re-importing {r.path} into {r.target}")
            self._copy()
        self._step("snapshot copy", t)
        t = time.monotonic()
        for _ in range(MAX_ROUNDS):
            changed = self._catch_up()
            self.progress(f"round {r.rounds}: {max(changed, 0)} changed paths carried over")
            if 0 <= changed < SETTLED_CHANGES:
                break
        self._step("diff rounds", t)
        t = time.monotonic()
        links = self._wait_links(LINK_WAIT)
        self.progress(f"{links.blocks_with_replicas}/{links.blocks} blocks linked in {r.target}'s pool")
        self._step("replica links", t)

    def _cutover(self) -> None:
        r = self.report
        fenced_at = time.monotonic()
        self._save("fenced")
        reply = self._fence(Fence.FENCE)
        deadline = time.monotonic() + OPEN_FILES_WAIT
        while reply.open_files:
            if time.monotonic() > deadline:
                self._fence(Fence.UNFENCE)
                self._save("copied")
                shown = ", ".join(reply.open_files[:5])
                raise errors.LeaseConflict(f"cannot move {r.path}: {len(reply.open_files)} file(s) still being "
                                           f"written after {OPEN_FILES_WAIT:.0f}s ({shown}); retry later or with "
                                           f"-forceCloseOpen [namespace {r.source}]", r.path)
            time.sleep(0.1)
            reply = self._fence(Fence.FENCE)
        self._catch_up()              # the last edits, none can follow
        links = self._wait_links(LINK_WAIT)
        if links.blocks_with_replicas < links.blocks:
            self._fence(Fence.UNFENCE)
            self._save("copied")
            raise errors.BlockMissing(f"cannot move {r.path}: {links.blocks - links.blocks_with_replicas} of "
                                      f"{links.blocks} blocks have no replica linked into {r.target}'s pool after "
                                      f"{LINK_WAIT:.0f}s (DataNodes down?); nothing changed, run it again later")
        self._save("switching")
        self._switch()
        r.fenced_seconds += time.monotonic() - fenced_at
        self._step("cutover (fenced)", fenced_at)

    def _switch(self) -> None:
        r = self.report
        table = mount_admin.current_table(self.session)
        if table.owner_of(r.path) != r.target or table.mount_at(r.path) is None:
            table = mount_admin.change(self.session, lambda t: t.with_mount(r.path, r.target))
        # The source and the target must route by it before the source drops its copy.
        mount_admin.install_everywhere(self.session, table, required=(r.source, r.target))
        self._save("switched")


# ------------------------------------------------------------------ API

def journal_dir(cfg) -> Path:
    return cfg.config_dir() / "balance"


def move(session, path: str, target: str, *, force_close_open: bool = False, progress=None) -> MoveReport:
    """Move the subtree at ``path`` to namespace ``target``; returns the report once cut over."""
    path = paths.check(path)
    source, summary = check_move(session, path, target)
    pending = [r for r in unfinished(session) if paths.is_within(r.path, path) or paths.is_within(path, r.path)]
    if pending:
        raise errors.InvalidArgument(f"{path}: move {pending[0].move_id} of {pending[0].path} is unfinished: "
                                     f"`hfed balance -continue` or `-abort` it first", path)
    move_id = f"{re.sub(r'[^A-Za-z0-9]+', '_', path).strip('_')}-{target}-{int(time.time() * 1000)}"
    report = MoveReport(move_id, path, source, target, files=summary.file_count,
                        directories=summary.directory_count)
    mover = Mover(session, report, force_close_open=force_close_open, progress=progress)
    mover._save()
    return mover.run()


def check_move(session, path: str, target: str) -> tuple[str, pb.GetContentSummaryResponse]:
    """The source namespace of a move of ``path`` to ``target`` and the subtree's summary;
    refused with a clear error otherwise (nothing changed)."""
    mounts = session.mounts
    session.refresh_mounts()
    if target not in session.nameservices():
        raise errors.InvalidArgument(f"cannot move {path}: unknown namespace {target!r} "
                                     f"(known: {', '.join(session.nameservices())})", path)
    if path == "/" or mounts.is_mount_point(path):
        raise errors.InvalidArgument(f"cannot move {path}: it is a mount point; re-point it with "
                                     f"`hfed mount -add {path} {target}` (its files stay where they are)", path)
    below = session.mounts.state.mounts_below(path)
    if below:
        raise errors.InvalidArgument(f"cannot move {path}: mount point {below[0].path} ({below[0].nameservice}) "
                                     f"lies below it", path)
    source = session.resolve(path).nameservice
    if mounts.is_read_only(path):
        raise errors.ReadOnlyMount(f"cannot move {path}: it is under a read-only mount point "
                                   f"[namespace {source}]", path)
    if source == target:
        raise errors.InvalidArgument(f"cannot move {path}: it is in namespace {target} already", path)
    stats = session.namenode(source).get_stats()
    if not stats.caller_superuser:
        raise errors.AccessDenied(f"cannot move {path}: only the superuser may move subtrees "
                                  f"(user={stats.caller}) [namespace {source}]", path)
    status = session.namenode(source).get_file_info(path)
    if not status.is_dir:
        raise errors.NotADirectory(f"cannot move {path}: not a directory (move its directory) "
                                   f"[namespace {source}]", path)
    summary = session.namenode(source).get_content_summary(path)
    _check_room(session, path, target, summary)
    return source, summary


def _check_room(session, path: str, target: str, summary) -> None:
    # Objects = files + directories + blocks; a file has about one block (small files share containers).
    needed = 2 * summary.file_count + summary.directory_count
    stats = session.namenode(target).get_stats()
    if stats.budget_refusal:
        raise errors.NoSpace(f"cannot move {path} to {target}: it refuses new objects now "
                             f"({stats.budget_refusal})", path)
    if stats.max_objects and stats.objects + needed > stats.max_objects:
        raise errors.NoSpace(f"cannot move {path} to {target}: {needed:,} objects would pass its limit "
                             f"({stats.objects:,} of {stats.max_objects:,} used)", path)
    if stats.max_memory and stats.objects:
        per_object = max(stats.rss_bytes - stats.baseline_rss_bytes, 0) / stats.objects
        if stats.rss_bytes + needed * per_object > stats.max_memory:
            raise errors.NoSpace(f"cannot move {path} to {target}: {needed:,} objects at ~{per_object:.0f} B each "
                                 f"would pass its memory budget ({stats.rss_bytes >> 20} of "
                                 f"{stats.max_memory >> 20} MiB used)", path)


def unfinished(session) -> list[MoveReport]:
    found = []
    directory = journal_dir(session.cfg)
    for file in sorted(directory.glob("*.json")) if directory.is_dir() else ():
        report = MoveReport(**json.loads(file.read_text()))
        if report.state not in ("done", "aborted"):
            found.append(report)
    return found


def continue_move(session, move_id: str | None = None, *, force_close_open: bool = False,
                  progress=None) -> list[MoveReport]:
    """Finish every unfinished move (or the one named)."""
    reports = [r for r in unfinished(session) if move_id in (None, r.move_id)]
    return [Mover(session, r, force_close_open=force_close_open, progress=progress).run() for r in reports]


def abort_move(session, move_id: str | None = None, progress=None) -> list[MoveReport]:
    """Undo unfinished moves that have not cut over: the source unfenced, the target's copy dropped."""
    done = []
    for report in unfinished(session):
        if move_id not in (None, report.move_id):
            continue
        if report.state in ("switching", "switched"):
            raise errors.InvalidArgument(f"move {report.move_id} of {report.path} has cut over to {report.target}: "
                                         f"it can only be continued", report.path)
        mover = Mover(session, report, progress=progress)
        try:
            mover._fence(Fence.UNFENCE)
        except errors.NotFound:
            pass
        try:
            mover._fence(Fence.DROP, mover._target())
        except errors.NotFound:
            pass                   # nothing was imported yet
        mover._save("aborted")
        done.append(report)
    return done


# ------------------------------------------------------------------- CLI

def run_balance(ctx, args) -> int:
    """hfed balance PATH NS [-forceCloseOpen] | -continue [-forceCloseOpen] | -abort | -ls"""
    from client.cli_dfs import CommandError, Parser, absolute

    parser = Parser("hfed balance", description="move a subtree to another namespace without copying bytes "
                                                "(superuser); clients carry on through the move")
    parser.add_argument("path", nargs="?", metavar="PATH")
    parser.add_argument("nameservice", nargs="?", metavar="NS")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("-continue", dest="cont", action="store_true", help="finish unfinished moves (after a crash)")
    what.add_argument("-abort", action="store_true", help="undo unfinished moves that have not cut over")
    what.add_argument("-ls", action="store_true", help="list unfinished moves")
    parser.add_argument("-forceCloseOpen", action="store_true",
                        help="close files still being written under PATH at the cutover (their writers fail)")
    a = parser.parse_args(args)
    session = ctx.session

    def say(message: str) -> None:
        print(f"balance: {message}", file=sys.stderr, flush=True)
    try:
        if a.ls:
            for r in unfinished(session):
                print(f"{r.move_id}  {r.path}  {r.source} -> {r.target}  {r.state}")
            return 0
        if a.cont or a.abort:
            reports = (continue_move(session, force_close_open=a.forceCloseOpen, progress=say) if a.cont
                       else abort_move(session, progress=say))
            for r in reports:
                print(f"{r.move_id}: {r.path} {r.source} -> {r.target} {r.state}")
            if not reports:
                print("no unfinished moves")
            return 0
        if not (a.path and a.nameservice):
            raise CommandError("balance", errors.InvalidArgument("name the subtree and the namespace: "
                                                                 "hfed balance PATH NS"))
        r = move(session, absolute(a.path), a.nameservice, force_close_open=a.forceCloseOpen, progress=say)
        print(f"Moved {r.path} from {r.source} to {r.target}: {r.files:,} files, {r.directories:,} directories, "
              f"{r.blocks:,} blocks ({r.replicas_linked:,} replicas linked, no bytes copied) in {r.seconds:.1f} s; "
              f"writes under it paused {r.fenced_seconds:.2f} s; {r.rounds} rounds of changes carried over")
        return 0
    except (OSError, ValueError) as e:
        raise CommandError("balance", e) from e
