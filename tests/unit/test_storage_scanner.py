"""datanode.scanner on a real storage directory, no network: corrupt replicas are
found, marked and reported; replicas being written or deleted mid-scan are left
alone; reading is rate-limited."""
import asyncio
import json
import os
import threading
import time

import pytest

from datanode import scanner
from datanode.scanner import BlockScanner
from datanode.storage import BlockStorage
from protos import config, errors

from test_storage import POOL, write_block


def flip_byte(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))


class Reports:
    """Stands in for the NameNode links: collects reported blocks."""

    def __init__(self):
        self.blocks = []

    async def __call__(self, block):
        self.blocks.append((block.pool_id, block.block_id, block.generation_stamp))


def make(tmp_path, rate=1 << 30, period=3600.0):
    storage = BlockStorage(str(tmp_path), "host-1")
    reports = Reports()
    return storage, reports, BlockScanner(storage, reports, period, rate)


def test_pass_finds_marks_and_reports_a_corrupt_replica(tmp_path, caplog):
    storage, reports, block_scanner = make(tmp_path)
    good = write_block(storage, 1, os.urandom(100_000))
    bad = write_block(storage, 2, os.urandom(100_000), gs=4)
    flip_byte(bad.block_path, 70_000)

    summary = asyncio.run(block_scanner.scan_pass())
    assert (summary.scanned, summary.corrupt, summary.skipped) == (1, 1, 0)
    assert summary.scanned_bytes == 100_000
    assert reports.blocks == [(POOL, 2, 4)]
    assert storage.is_corrupt(bad) and not storage.is_corrupt(good)
    assert [(b.block_id, b.generation_stamp) for b in storage.corrupt_replicas(POOL)] == [(2, 4)]
    assert "corrupt replica blk_2_4 of pool BP-test-1 on DataNode host-1" in caplog.text
    assert "offset 69632" in caplog.text
    # No more short-circuit grants for it; the good one is now known verified.
    with pytest.raises(errors.ChecksumError, match="blk_2_4 of pool BP-test-1 on DataNode host-1"):
        asyncio.run(storage.verify_once(bad))
    asyncio.run(storage.verify_once(good))
    # It stays reported as a replica (the NameNode decides) but is not scanned or reported again.
    assert sorted(b.block_id for b in storage.report(POOL)) == [1, 2]
    summary = asyncio.run(block_scanner.scan_pass())
    assert (summary.scanned, summary.corrupt, summary.skipped) == (1, 0, 1)
    assert len(reports.blocks) == 1
    # The NameNode's DeleteCommand removes it and its mark.
    assert storage.delete(POOL, 2, 4) is bad
    assert storage.corrupt_replicas(POOL) == [] and not storage.is_corrupt(bad)
    assert not os.path.exists(bad.block_path)


def test_corrupt_meta_file_and_missing_block_file_are_corrupt(tmp_path):
    storage, reports, block_scanner = make(tmp_path)
    bad_meta = write_block(storage, 1, os.urandom(5000))
    flip_byte(bad_meta.meta_path, 20)
    gone = write_block(storage, 2, os.urandom(5000))
    os.unlink(gone.block_path)  # lost behind the DataNode's back
    summary = asyncio.run(block_scanner.scan_pass())
    assert summary.corrupt == 2
    assert sorted(reports.blocks) == [(POOL, 1, 1), (POOL, 2, 1)]


def test_replica_deleted_mid_scan_is_skipped_silently(tmp_path):
    storage, reports, block_scanner = make(tmp_path)
    replica = write_block(storage, 1, os.urandom(1 << 20))
    flip_byte(replica.block_path, (1 << 20) - 10)  # would be reported if the scan finished
    deleted = threading.Event()

    async def scan():
        loop = asyncio.get_running_loop()

        def pace(nbytes):  # runs on the scanning thread after each piece
            if not deleted.is_set():
                loop.call_soon_threadsafe(lambda: (storage.delete(POOL, 1, 1), deleted.set()))
                assert deleted.wait(5)
        block_scanner.throttle.consume = pace
        return await block_scanner.scan_replica(replica)

    assert asyncio.run(scan()) == "skipped"
    assert reports.blocks == [] and not storage.is_corrupt(replica)


def test_replica_being_written_is_skipped(tmp_path):
    storage, reports, block_scanner = make(tmp_path)
    older = write_block(storage, 1, os.urandom(3000), gs=1)
    flip_byte(older.block_path, 10)
    rbw = storage.create_rbw(POOL, 1, 2)  # a newer generation is arriving
    assert asyncio.run(block_scanner.scan_replica(older)) == "skipped"
    storage.abort(rbw)
    assert reports.blocks == []


def test_reading_is_rate_limited_and_stop_interrupts_it(tmp_path):
    storage, reports, block_scanner = make(tmp_path, rate=4 << 20)
    for block_id in range(4):
        write_block(storage, block_id, os.urandom(512 << 10), packet=1 << 20)
    started = time.monotonic()
    summary = asyncio.run(block_scanner.scan_pass())
    elapsed = time.monotonic() - started
    assert summary.scanned == 4
    assert elapsed >= 0.4, elapsed  # 2 MiB at 4 MiB/s, less the first piece

    storage2, _, slow = make(tmp_path / "slow", rate=64 << 10)
    write_block(storage2, 1, os.urandom(4 << 20), packet=1 << 20)

    async def stop_mid_pass():
        slow.start()
        await asyncio.sleep(0.3)
        started = time.monotonic()
        await slow.stop()
        return time.monotonic() - started

    assert asyncio.run(stop_mid_pass()) < 1.0


def test_run_scans_then_waits_a_period_and_remembers_it(tmp_path):
    storage, reports, block_scanner = make(tmp_path, period=0.3)
    bad = write_block(storage, 1, os.urandom(2000))

    async def run_for(seconds, s):
        s.start()
        await asyncio.sleep(seconds)
        await s.stop()

    asyncio.run(run_for(0.1, block_scanner))
    assert reports.blocks == []  # nothing wrong yet
    last_pass = json.loads((tmp_path / scanner.STATE_FILE).read_text())["last_pass_end"]
    assert time.time() - last_pass < 5
    flip_byte(bad.block_path, 5)
    asyncio.run(run_for(0.8, block_scanner))  # the next pass comes a period after the last
    assert reports.blocks == [(POOL, 1, 1)]
    # A restarted DataNode with a long period does not rescan at once.
    restarted, reports2, patient = make(tmp_path, period=3600)
    asyncio.run(run_for(0.3, patient))
    assert reports2.blocks == [] and not restarted.is_corrupt(restarted.get(POOL, 1, 1))


def test_disabled_scanner_does_not_run(tmp_path):
    storage, reports, block_scanner = make(tmp_path, period=0)
    assert not block_scanner.enabled

    async def go():
        block_scanner.start()
        await block_scanner.stop()
    asyncio.run(go())
    assert not (tmp_path / scanner.STATE_FILE).exists()


def test_settings_from_the_config_file(tmp_path):
    raw = {"nameservices": {"ns-a": {"address": "127.0.0.1:1"}}}
    cfg = config.from_dict(raw)
    assert scanner.settings(cfg) == (scanner.DEFAULT_SCAN_PERIOD, 64 << 20)
    path = tmp_path / "hfed.toml"
    path.write_text(config.dump(config.from_dict({**raw, "scan_period": 2.5, "scan_bytes_per_second": "8M"})))
    assert scanner.settings(config.load(path)) == (2.5, 8 << 20)
