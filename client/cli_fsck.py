"""`hfed fsck`: HDFS's fsck, computed by the client from listings and block locations.

Flags as HDFS: -files -blocks -locations -racks, -openforwrite (files being written are
skipped without it, as in HDFS: their last block has no finalized replica yet),
-list-corruptfileblocks, -delete and -move (corrupt files to lost+found in the namespace
owning them: ``<mount point>/lost+found<path>``, a rename, so nothing crosses namespaces
and the blocks that are still readable stay with the file)."""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

from client.cli_format import describe, full_name, printable, walk

from protos.config import DEFAULT_RACK
LOST_FOUND = "lost+found"
CONTAINERS_LISTED = 20


@dataclass
class FsckOptions:
    files: bool = False
    blocks: bool = False
    locations: bool = False
    racks: bool = False
    openforwrite: bool = False
    list_corrupt: bool = False
    delete: bool = False
    move: bool = False


@dataclass
class _Tally:
    size: int = 0
    files: int = 0
    dirs: int = 0
    blocks: int = 0
    min_repl: int = 0
    under: int = 0
    over: int = 0
    missing: int = 0
    missing_size: int = 0
    corrupt_files: int = 0
    replicas: int = 0
    missing_replicas: int = 0
    expected_replicas: int = 0
    staged: int = 0
    packed: int = 0
    open_files: int = 0          # skipped: being written, no -openforwrite
    open_size: int = 0
    open_blocks: int = 0
    problems: list = field(default_factory=list)
    containers: dict = field(default_factory=dict)   # (namespace, block id) -> [LocatedBlock, files, bytes]
    corrupt: list = field(default_factory=list)      # (path, [block names]) of corrupt files


def block_name(block) -> str:
    return f"{block.pool_id}:blk_{block.block_id}_{block.generation_stamp}"


def fs_user() -> str:
    from protos.rpc import current_user
    return current_user()


def _where(lb, opts: FsckOptions) -> str:
    if not lb.locations or not (opts.locations or opts.racks):
        return ""
    if opts.racks:
        return " [" + ", ".join(f"{d.rack or DEFAULT_RACK}/{d.transfer_address}" for d in lb.locations) + "]"
    return " [" + ", ".join(f"{d.host_label} {d.transfer_address}" for d in lb.locations) + "]"


def fsck(fs, path: str, cfg, files=False, blocks=False, locations=False, out=sys.stdout,
         options: FsckOptions | None = None) -> bool:
    """Print the report; True when the filesystem under ``path`` is HEALTHY (after -delete or
    -move, as it was found)."""
    opts = options or FsckOptions(files=files, blocks=blocks, locations=locations)
    started = time.time()
    t = _Tally()
    if not opts.list_corrupt:
        print(f"Connecting to the NameNodes of cluster {cfg.cluster_id} ...", file=out)
        print(f"FSCK started by {printable(fs_user())} for path {printable(path)} at {time.ctime(started)}", file=out)
    report = out if not opts.list_corrupt else None
    for info in walk(fs, path, unreachable=t.problems):
        _check_entry(fs, info, cfg, opts, t, report)
    failures = _act_on_corrupt(fs, t, opts, out)
    if opts.list_corrupt:
        return _list_corrupt(path, t, out) and not failures
    healthy = _summary(path, cfg, t, started, out, _rack_count(fs))
    return healthy and not failures


def _check_entry(fs, info, cfg, opts: FsckOptions, t: _Tally, out) -> None:
    name = full_name(info)
    shown = printable(name)
    show_files = opts.files and out is not None
    if info["type"] == "directory":
        t.dirs += 1
        if show_files:
            print(f"{shown} <dir>", file=out)
        return
    try:
        whole = fs.block_locations(name)
    except ConnectionError as e:
        t.problems.append(f"{name}: {e}")
        return
    size = int(info.get("size") or 0)
    being_written = bool(info.get("under_construction"))
    if being_written and not opts.openforwrite:
        t.open_files += 1
        t.open_size += size
        t.open_blocks += len(whole.blocks)
        return
    t.files += 1
    t.size += size
    target = int(info.get("replication") or cfg.replication)
    if info.get("layout") in ("staged", "packed"):
        if not _small_file(t, info, whole, opts, out):
            t.corrupt_files += 1
            t.corrupt.append((name, [f"blk_{whole.blocks[0].block.block_id}"]))
        return
    located = whole.blocks
    lines, lost = [], []
    for i, lb in enumerate(located):
        live = len(lb.locations)
        if being_written and i == len(located) - 1:     # its pipeline's: not reported until finalized
            lines.append(f"{i}. {block_name(lb.block)} len={lb.block.num_bytes} Live_repl={live} "
                         f"[UNDER_CONSTRUCTION]{_where(lb, opts)}")
            continue
        t.blocks += 1
        t.replicas += live
        t.expected_replicas += target
        t.missing_replicas += max(0, target - live)
        state = ""
        if live == 0:
            t.missing += 1
            t.missing_size += lb.block.num_bytes
            lost.append(lb)
            state = " MISSING!"
        else:
            t.min_repl += 1
            if live < target:
                t.under += 1
                state = f" Under replicated: target {target}"
            elif live > target:
                t.over += 1
        lines.append(f"{i}. {block_name(lb.block)} len={lb.block.num_bytes} Live_repl={live}{state}{_where(lb, opts)}")
    if lost:
        t.corrupt_files += 1
        t.corrupt.append((name, [f"blk_{lb.block.block_id}" for lb in lost]))
        if out is not None:
            print(f"{shown}: MISSING {len(lost)} blocks of total size {sum(lb.block.num_bytes for lb in lost)} B.",
                  file=out)
    if out is not None and (opts.files or being_written):
        policy = f"{size} bytes, replicated: replication={target}, {len(located)} block(s)"
        status = " OK" if not lost else " CORRUPT"
        if being_written:
            print(f"{shown} {policy}, OPENFORWRITE: {status}", file=out)
        else:
            print(f"{shown} {policy}: {status}", file=out)
        if opts.blocks and opts.files:
            for line in lines:
                print(line, file=out)
            print(file=out)


def _small_file(t: _Tally, info, whole, opts: FsckOptions, out) -> bool:
    """Tally one small file (staged or packed); False when its container has no live replica."""
    name, size = printable(full_name(info)), int(info.get("size") or 0)
    if info["layout"] == "staged" or not whole.blocks:
        t.staged += 1
        if opts.files and out is not None:
            print(f"{name} {size} bytes, staged by an older hfed (its NameNode holds the bytes until the "
                  f"packer moves them to a container):  OK", file=out)
        return True
    t.packed += 1
    lb = whole.blocks[0]
    entry = t.containers.setdefault((info.get("nameservice", ""), lb.block.block_id), [lb, 0, 0])
    entry[1] += 1
    entry[2] += size
    ok = bool(lb.locations)
    if out is None:
        return ok
    if opts.files:
        print(f"{name} {size} bytes, packed in container {block_name(lb.block)} at offset {whole.packed_offset}: "
              f" {'OK' if ok else 'CORRUPT'}", file=out)
        if opts.blocks:
            print(_container_line(lb, opts) + "\n", file=out)
    elif not ok:
        print(f"{name}: its container {block_name(lb.block)} has no live replica (MISSING)", file=out)
    return ok


def _container_line(lb, opts: FsckOptions | None = None) -> str:
    where = _where(lb, opts) if opts is not None else ""
    state = "" if lb.locations else " MISSING!"
    return f"container {block_name(lb.block)} len={lb.block.num_bytes} Live_repl={len(lb.locations)}{state}{where}"


def lost_found_path(fs, path: str) -> str:
    """Where -move puts ``path``: lost+found at the top of the mount owning it, so the
    rename stays in its namespace (``/lost+found<path>`` in the fallback namespace, as HDFS)."""
    mount = fs.session.mounts.mount_of(path)
    root = mount[0].rstrip("/") if mount else ""
    return f"{root}/{LOST_FOUND}{path}"


def _act_on_corrupt(fs, t: _Tally, opts: FsckOptions, out) -> int:
    """-move or -delete every corrupt file found; returns how many could not be."""
    failed = 0
    for name, _blocks in t.corrupt if (opts.move or opts.delete) else ():
        try:
            if opts.move:
                target = lost_found_path(fs, name)
                fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
                fs.mv(name, target)
                print(f"Fsck: moved corrupt file {printable(name)} to {printable(target)}", file=out)
            else:
                fs.rm(name)
                print(f"Fsck: deleted corrupt file {printable(name)}", file=out)
        except (OSError, ValueError) as e:
            failed += 1
            print(f"hfed: fsck: {'move' if opts.move else 'delete'} {printable(name)}: {describe(e)}", file=sys.stderr)
    return failed


def _list_corrupt(path: str, t: _Tally, out) -> bool:
    """-list-corruptfileblocks, HDFS's lines: one 'blk_N<TAB>path' per missing block."""
    where = printable(path)
    if t.corrupt:
        print(f"The list of corrupt files under path '{where}' are:", file=out)
        for name, block_ids in t.corrupt:
            for block_id in block_ids:
                print(f"{block_id}\t{printable(name)}", file=out)
    for problem in t.problems:
        print(f"UNREACHABLE {printable(problem)}", file=out)
    print(f"The filesystem under path '{where}' has {len(t.corrupt)} CORRUPT files", file=out)
    return not t.corrupt and not t.problems


def _rack_count(fs) -> int:
    """Racks of the DataNodes the NameNodes know (HDFS's "Number of racks")."""
    racks = {d.id.rack or DEFAULT_RACK for _, s in fs.session.stats() if not isinstance(s, BaseException)
             for d in s.datanodes}
    return len(racks) or 1


def _summary(path: str, cfg, t: _Tally, started: float, out, racks: int = 1) -> bool:
    for problem in t.problems:
        print(f"UNREACHABLE {printable(problem)}", file=out)
    lost_containers = sum(1 for lb, _, _ in t.containers.values() if not lb.locations)
    healthy = t.missing == 0 and lost_containers == 0 and not t.problems
    status = "HEALTHY" if healthy else "CORRUPT"
    n = t.blocks

    def pct(x):
        return f"{x} ({(100.0 * x / n) if n else 0.0:.1f} %)"
    print(f"\nStatus: {status}", file=out)
    print(f" Number of data-nodes:\t{len(cfg.datanodes)}", file=out)
    print(f" Number of racks:\t\t{racks}", file=out)
    print(f" Total dirs:\t\t\t{t.dirs}", file=out)
    print(f" Total files:\t\t\t{t.files}" + (f" (Files currently being written: {t.open_files})"
                                           if t.open_files else ""), file=out)
    if t.problems:
        print(f" Unreachable subtrees:\t\t{len(t.problems)} (their namespace is down, or their path is too long)",
              file=out)
    if t.corrupt_files:
        print(f" ********************************\n  CORRUPT FILES:\t{t.corrupt_files}\n"
              f"  MISSING BLOCKS:\t{t.missing}\n  MISSING SIZE:\t\t{t.missing_size} B\n"
              " ********************************", file=out)
    print("\nReplicated Blocks:", file=out)
    print(f" Total size:\t{t.size} B" + (f" (Total open files size: {t.open_size} B)" if t.open_files else ""),
          file=out)
    avg = f" (avg. block size {t.size // n} B)" if n else ""
    open_blocks = f" (Total open file blocks (not validated): {t.open_blocks})" if t.open_files else ""
    print(f" Total blocks (validated):\t{n}{avg}{open_blocks}", file=out)
    print(f" Minimally replicated blocks:\t{pct(t.min_repl)}", file=out)
    print(f" Over-replicated blocks:\t{pct(t.over)}", file=out)
    print(f" Under-replicated blocks:\t{pct(t.under)}", file=out)
    print(f" Default replication factor:\t{cfg.replication}", file=out)
    print(f" Average block replication:\t{(t.replicas / n) if n else 0.0:.1f}", file=out)
    print(f" Missing blocks:\t\t{t.missing}", file=out)
    missing_pct = (100.0 * t.missing_replicas / t.expected_replicas) if t.expected_replicas else 0.0
    print(f" Missing replicas:\t\t{t.missing_replicas} ({missing_pct:.1f} %)", file=out)
    _small_summary(t, cfg, out)
    print(f"\nFSCK ended at {time.ctime()} in {int((time.time() - started) * 1000)} milliseconds", file=out)
    if t.problems:
        print(f"\nThe filesystem under path '{printable(path)}' could not be checked completely: it is CORRUPT", file=out)
    else:
        print(f"\nThe filesystem under path '{printable(path)}' is {status}", file=out)
    return healthy


def _small_summary(t: _Tally, cfg, out) -> None:
    """Layouts of the files checked, and the containers the packed ones are in."""
    print("\nSmall files (no block of their own):", file=out)
    print(f" Files with blocks:\t\t{t.files - t.staged - t.packed}", file=out)
    print(f" Staged files:\t\t\t{t.staged} (an older hfed's, held by their NameNode until packed)", file=out)
    print(f" Packed files:\t\t\t{t.packed} in {len(t.containers)} container(s)", file=out)
    lost = sum(1 for lb, _, _ in t.containers.values() if not lb.locations)
    under = sum(1 for lb, _, _ in t.containers.values() if 0 < len(lb.locations) < cfg.replication)
    print(f" Missing containers:\t\t{lost}", file=out)
    print(f" Under-replicated containers:\t{under}", file=out)
    ordered = sorted(t.containers.items(), key=lambda item: item[0])
    for (ns, _), (lb, count, size) in ordered[:CONTAINERS_LISTED]:
        print(f"  {ns} {_container_line(lb)}: {count} file(s) here, {size} B", file=out)
    if len(ordered) > CONTAINERS_LISTED:
        print(f"  ... and {len(ordered) - CONTAINERS_LISTED} more containers", file=out)
