"""A cluster written by an older hfed (commit 3ce779d, which held small files' bytes
in the NameNode) starts with this one: every file reads back identical, and the
packer moves the NameNode-held bytes and the header-less container out to
DataNodes on its own, so nothing small stays in NameNode memory.

The cluster directory in tests/data/hfed-0.1-small-files was made by that
hfed: six small files packed into a container without entry headers, four
staged files in its last image, three staged files only in the edit log after
it (complete_small records), and one file with a block."""
from __future__ import annotations

import shutil
from pathlib import Path

from client.fs import HfedFileSystem
from client.minicluster import MiniCluster, wait_for

FIXTURE = Path(__file__).parent.parent / "data" / "hfed-0.1-small-files"
MADE_IN = "/tmp/oldgen/cluster"          # where the older hfed's cluster lived


def content(name: str) -> bytes:
    """What the older hfed wrote to /user/old/<name>."""
    return (name.encode() * 400)[: 100 + len(name) * 37]


EXPECTED = {f"/user/old/{name}": content(name) for name in
            [f"packed{i}" for i in range(6)] + [f"staged-in-image{i}" for i in range(4)]
            + [f"staged-in-edits{i}" for i in range(3)]}
EXPECTED["/user/old/blocks"] = content("blocks") * 50


def copy_fixture(tmp_path: Path) -> Path:
    cluster_dir = tmp_path / "old-cluster"
    shutil.copytree(FIXTURE, cluster_dir)
    conf = cluster_dir / "hfed.toml"
    text = conf.read_text().replace(MADE_IN, str(cluster_dir))
    conf.write_text(text.replace('address = "127.0.0.1:35021"', 'address = "127.0.0.1:0"'))
    return cluster_dir


def read_all(mc: MiniCluster) -> dict[str, str]:
    fs = HfedFileSystem(conf=str(mc.config_path), skip_instance_cache=True)
    try:
        for path, data in EXPECTED.items():
            assert fs.cat_file(path) == data, path
        return {path: fs.info(path)["layout"] for path in EXPECTED}
    finally:
        fs.close()


def test_an_older_hfeds_small_files_load_read_back_and_are_moved_out_of_the_namenode(tmp_path):
    mc = MiniCluster(copy_fixture(tmp_path), heartbeat_interval=0.2).up()
    try:
        assert mc.restarted
        wait_for(lambda: mc.stats("ns-a").small_staged == 0, 60,
                 "the packer to move the NameNode-held small files to a DataNode")
        layouts = read_all(mc)
        assert layouts == {path: "blocks" if path.endswith("blocks") else "packed" for path in EXPECTED}
        fs = HfedFileSystem(conf=str(mc.config_path), skip_instance_cache=True)
        try:
            raw = [p for p in EXPECTED if fs.block_locations(p).packed_raw]
        finally:
            fs.close()
        assert raw == []                         # the header-less container was rewritten too
        stats = mc.stats("ns-a")
        assert stats.small_packed == len(EXPECTED) - 1 and stats.small_staged_bytes == 0
        mc.down()
        mc.up()                                  # and the converted namespace loads again
        read_all(mc)
        assert mc.stats("ns-a").small_staged == 0
    finally:
        mc.down()
