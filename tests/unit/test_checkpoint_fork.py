"""A checkpoint taken while the namespace keeps changing holds the namespace as of
its txid: a forked child writes it from a copy-on-write view, while the parent
goes on applying edits (and the copying fallback gives the same image)."""
from __future__ import annotations

import asyncio
import errno
import os
import subprocess
import sys

import pytest

import namenode
from namenode import image
from namenode.journal import Journal
from namenode.namesystem import Namesystem
from namenode.ops import attrs, dirs, files


def in_a_fresh_process(test: str) -> None:
    """Run ``test`` of this module in a new pytest process: this one imported grpc before
    namenode, so grpc's fork handlers are on here and a fork could crash (README)."""
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"{__file__}::{test}"],
                          capture_output=True, text=True, env={**os.environ, "GRPC_ENABLE_FORK_SUPPORT": "false"})
    assert done.returncode == 0, done.stdout[-3000:]


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        self.t += 0.001
        return self.t


def opened(meta, clock):
    fsn, journal = Namesystem("ns-a", "CID", "BP-1", "admin", block_size=1024, clock=clock, monotonic=clock), \
        Journal(meta, durable=False)
    journal.load(fsn)
    fsn.journal = journal
    for i in range(3):
        fsn.register_datanode(f"uuid-{i}", f"host-{i}", f"127.0.0.1:{9000 + i}")
    return fsn, journal


def restored(meta, clock, image_only: bool):
    fsn = Namesystem("ns-a", "CID", "BP-1", "admin", block_size=1024, clock=clock, monotonic=clock)
    if image_only:
        txid, path = image.list_images(meta)[0]
        image.load_into(fsn, image.read(path))
    else:
        journal = Journal(meta)
        journal.load(fsn)
        journal.close()
    return fsn


def state(fsn):
    inodes = sorted((fsn.ns.path_of(i), i.id, i.is_dir, i.permission, i.owner, i.group, i.mtime, i.atime,
                     i.replication, i.block_size, tuple(i.blocks), i.lease_holder)
                    for i in fsn.ns.table.all_inodes())
    blocks = sorted((b.block_id, b.inode_id, b.generation_stamp, b.num_bytes if b.committed else None, b.committed)
                    for b in fsn.blocks.all_blocks())
    return inodes, blocks, fsn.ns.table.next_id, fsn.blocks.next_block_id


def write_file(fsn, root, path: str, nblocks: int, client: str = "c1") -> None:
    files.create(fsn, root, path, 0o644, True, True, 2, 0, client)
    previous = None
    for n in range(nblocks):
        block, targets = files.add_block(fsn, root, path, client, previous, set(), "")
        for node in targets:
            fsn.incremental_report(node.uuid, [(block.block_id, block.generation_stamp, 10 + n)], [])
        previous = (block.block_id, 10 + n)
    files.complete(fsn, root, path, client, previous)


def change(fsn, root, i: int) -> None:
    """One of several kinds of edit, touching old and new slots, names and blocks."""
    kind = i % 5
    if kind == 0:
        write_file(fsn, root, f"/new/f{i}", i % 3)
    elif kind == 1:
        dirs.delete(fsn, root, f"/base/d{i % 50}/f{i % 40}", False)
    elif kind == 2:
        dirs.rename(fsn, root, f"/base/d{(i + 7) % 50}/f{(i + 3) % 40}", f"/new/moved{i}")
    elif kind == 3:
        attrs.set_permission(fsn, root, f"/base/d{i % 50}", 0o700 + i % 8)
    else:
        files.create(fsn, root, f"/open/f{i}", 0o600, True, True, 1, 0, "writer")     # stays under lease


@pytest.mark.parametrize("fork", [True, False])
def test_checkpoint_while_the_namespace_changes_holds_the_namespace_at_its_txid(tmp_path, monkeypatch, fork):
    if fork and namenode.GRPC_FORK_HANDLERS:
        in_a_fresh_process("test_checkpoint_while_the_namespace_changes_holds_the_namespace_at_its_txid[True]")
        return
    clock = Clock()
    fsn, journal = opened(tmp_path, clock)
    journal.fork_checkpoints = fork
    root = fsn.ns.caller("admin")
    for d in range(50):
        for f in range(40):
            write_file(fsn, root, f"/base/d{d}/f{f}", (d + f) % 3)
    dirs.mkdirs(fsn, root, "/new", 0o755, True)

    at_checkpoint = {}
    real_roll = journal.editlog.roll

    def roll():                       # the checkpoint's txid: what its image must hold
        txid = real_roll()
        at_checkpoint[txid] = state(fsn)
        return txid

    monkeypatch.setattr(journal.editlog, "roll", roll)

    async def main():
        done, changed = asyncio.Event(), []

        async def churn():
            i = 0
            while not done.is_set():
                try:
                    change(fsn, root, i)
                    changed.append(journal.last_txid)
                except (FileNotFoundError, OSError):
                    pass                  # a path an earlier change removed
                i += 1
                if i % 10 == 0:
                    await asyncio.sleep(0)

        task = asyncio.create_task(churn())
        await asyncio.sleep(0)
        txid, path = await journal.checkpoint(fsn)
        done.set()
        await task
        return txid, changed

    txid, changed = asyncio.run(main())
    assert any(t > txid for t in changed)            # the namespace changed while the image was written
    assert state(restored(tmp_path, Clock(), image_only=True)) == at_checkpoint[txid]
    live = state(fsn)
    journal.close()
    assert state(restored(tmp_path, Clock(), image_only=False)) == live    # image + later edits: the live state


def test_a_forked_writer_reports_what_it_hit(tmp_path):
    if namenode.GRPC_FORK_HANDLERS:
        in_a_fresh_process("test_a_forked_writer_reports_what_it_hit")
        return
    fsn, journal = opened(tmp_path / "meta", Clock())
    with pytest.raises(OSError) as hit:
        image.fork_write(tmp_path / "no-such-dir", fsn, 1).wait()
    assert hit.value.errno == errno.ENOENT and "no-such-dir" in str(hit.value)
    assert not list(tmp_path.glob("**/*.tmp"))
    journal.close()
