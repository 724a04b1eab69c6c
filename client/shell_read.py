"""`hfed dfs` commands that read files out: -cat -text -head -tail -get -getmerge."""
from __future__ import annotations

import gzip
import os
import posixpath
import struct
import sys
import time

from fsspec.callbacks import NoOpCallback

from client import cli_format as fmt
from client.cli_format import walk
from client.shell_core import Command, ShellError, Target, expand_all, for_each, run_each
from client.tf_records import masked_crc

CHUNK = 1 << 20
HEAD_TAIL_BYTES = 1024


def progress(label: str):
    return fmt.ProgressCallback(label) if sys.stderr.isatty() else NoOpCallback()


def finish(callback) -> None:
    if hasattr(callback, "close"):
        callback.close()


def require_file(fs, target: Target) -> dict:
    info = fs.info(target.path)
    if info["type"] == "directory":
        raise ShellError(target.shown, "Is a directory")
    return info


def copy_out(source, out=None) -> None:
    out = out or sys.stdout.buffer
    while chunk := source.read(CHUNK):
        out.write(chunk)
    out.flush()


def cmd_cat(ctx, o, args) -> int:
    def one(target):
        require_file(ctx.fs, target)
        with ctx.fs.open(target.path, "rb") as f:
            copy_out(f)
    return for_each("cat", ctx.fs, args, one)


# ------------------------------------------------------------------- -text

def tfrecord_header_ok(head: bytes) -> bool:
    return len(head) >= 12 and masked_crc(head[:8]) == struct.unpack_from("<I", head, 8)[0]


def iter_tfrecords(f, where: str):
    """Records of a TFRecord stream, checking both CRCs; ValueError naming the file and offset."""
    offset = 0
    while header := f.read(12):
        if len(header) < 12 or not tfrecord_header_ok(header):
            raise ValueError(f"{where}: corrupt or truncated TFRecord header at offset {offset}")
        (length,) = struct.unpack_from("<Q", header)
        data, crc = f.read(length), f.read(4)
        if len(data) < length or len(crc) < 4 or masked_crc(data) != struct.unpack("<I", crc)[0]:
            raise ValueError(f"{where}: corrupt or truncated TFRecord at offset {offset}")
        yield data
        offset += 16 + length


def cmd_text(ctx, o, args) -> int:
    """gzip: decompressed; TFRecord (its first length's CRC holds): each record on a line;
    anything else as -cat."""
    out = sys.stdout.buffer

    def one(target):
        require_file(ctx.fs, target)
        with ctx.fs.open(target.path, "rb") as f:
            head = f.read(12)
            f.seek(0)
            if head[:2] == b"\x1f\x8b":
                with gzip.GzipFile(fileobj=f) as unzipped:
                    copy_out(unzipped, out)
            elif tfrecord_header_ok(head):
                for record in iter_tfrecords(f, target.path):
                    out.write(record + b"\n")
                out.flush()
            else:
                copy_out(f, out)
    return for_each("text", ctx.fs, args, one)


# -------------------------------------------------------------- -head/-tail

def cmd_head(ctx, o, args) -> int:
    def one(target):
        size = int(require_file(ctx.fs, target)["size"])
        sys.stdout.buffer.write(ctx.fs.cat_file(target.path, start=0, end=min(size, HEAD_TAIL_BYTES)))
        sys.stdout.buffer.flush()
    return for_each("head", ctx.fs, args, one)


def cmd_tail(ctx, o, args) -> int:
    """The last KB; -f: then what is appended, checked every second until interrupted."""
    def one(target):
        size = int(require_file(ctx.fs, target)["size"])
        start = max(0, size - HEAD_TAIL_BYTES)
        while True:
            if size > start:
                sys.stdout.buffer.write(ctx.fs.cat_file(target.path, start=start, end=size))
                sys.stdout.buffer.flush()
            if not o.f:
                return
            start = size
            time.sleep(1.0)
            size = int(ctx.fs.info(target.path)["size"])
    return for_each("tail", ctx.fs, args, one)


# -------------------------------------------------------------------- -get

def download(ctx, o, remote: str, local: str) -> None:
    if os.path.exists(local) and not o.f:
        raise ShellError(local, "File exists")
    partial = f"{local}._COPYING_"  # as hdfs: a failed get leaves no half file under the real name
    callback = progress(f"get {remote}")
    try:
        ctx.fs.get_file(remote, partial, callback=callback)
        if o.p:
            info = ctx.fs.info(remote)
            os.utime(partial, (info["atime"] or info["mtime"], info["mtime"]))
            os.chmod(partial, int(info["permission"]) & 0o777)
        os.replace(partial, local)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
        finish(callback)


def cmd_get(ctx, o, args) -> int:
    *sources, dst = args
    fs = ctx.fs
    dst_is_dir = os.path.isdir(dst)
    targets, status = expand_all(o.command or "get", fs, sources)
    if len(targets) > 1 and not dst_is_dir:
        raise ShellError(dst, "Is not a directory")

    def one(target):
        local = os.path.join(dst, posixpath.basename(target.path.rstrip("/"))) if dst_is_dir else dst
        if not fs.isdir(target.path):
            download(ctx, o, target.path, local)
            return
        for entry in walk(fs, target.path):
            name = fmt.full_name(entry)
            spot = os.path.normpath(os.path.join(local, posixpath.relpath(name, target.path)))
            if entry["type"] == "directory":
                os.makedirs(spot, exist_ok=True)
            else:
                download(ctx, o, name, spot)
    return run_each(o.command or "get", targets, one) | status


def cmd_getmerge(ctx, o, args) -> int:
    """The files of each source (a directory's files in name order) into one local file."""
    *sources, dst = args
    fs, status = ctx.fs, 0
    with open(dst, "wb") as out:
        def one(target):
            info = fs.info(target.path)
            files = ([e for e in fs.ls(target.path, detail=True) if e["type"] != "directory"]
                     if info["type"] == "directory" else [info])
            for entry in sorted(files, key=lambda e: e["name"]):
                if o.get("skip-empty-file") and not int(entry.get("size") or 0):
                    continue
                with fs.open(fmt.full_name(entry), "rb") as f:
                    copy_out(f, out)
                if o.nl:
                    out.write(b"\n")
        status = for_each("getmerge", fs, sources, one)
    return status


def cmd_move_to_local(ctx, o, args) -> int:
    print("moveToLocal: Option '-moveToLocal' is not implemented yet.", file=sys.stderr)
    return 1


GET_USAGE = "[-f] [-p] [-ignoreCrc] [-crc] <src> ... <localdst>"
GET_HELP = ("Copy files matching the source patterns to the local name (a local directory for several). "
            "Directories are copied whole.\n-f  Overwrite the destination if it exists.\n"
            "-p  Keep modification and access times and the permission bits.\n"
            "-ignoreCrc, -crc  Accepted (hfed checks every block's checksums as it reads).")

COMMANDS = [
    Command("cat", "[-ignoreCrc] <src> ...", "Print the content of each file.", cmd_cat, flags="ignoreCrc",
            min_args=1),
    Command("text", "[-ignoreCrc] <src> ...",
            "Print each file as text: gzip files decompressed, TFRecord files one record per line, "
            "anything else as -cat.", cmd_text, flags="ignoreCrc", min_args=1),
    Command("head", "<file>", "Print the first kilobyte of the file.", cmd_head, min_args=1, max_args=1),
    Command("tail", "[-f] <file>", "Print the last kilobyte of the file.\n"
            "-f  Then print what is appended, checked every second, until interrupted.",
            cmd_tail, flags="f", min_args=1, max_args=1),
    Command("get", GET_USAGE, GET_HELP, cmd_get, flags="f p ignoreCrc crc", min_args=2),
    Command("copyToLocal", GET_USAGE, "As -get.", cmd_get, flags="f p ignoreCrc crc", min_args=2),
    Command("getmerge", "[-nl] [-skip-empty-file] <src> <localdst>",
            "Concatenate the files of each source (a directory's files, in name order) into one local "
            "file.\n-nl  Add a newline after each file.\n-skip-empty-file  Leave empty files out "
            "(and their newline).", cmd_getmerge, flags="nl skip-empty-file", min_args=2),
    Command("moveToLocal", "<src> <localdst>", "Not implemented yet (as in HDFS).", cmd_move_to_local,
            min_args=2, max_args=2),
]
