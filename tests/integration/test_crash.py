"""A short run of bench/crash.py: NameNode (and DataNode) SIGKILLs under load lose nothing acknowledged."""
from bench import crash


def test_nothing_acknowledged_is_lost_across_kill_9(tmp_path):
    counts = crash.run(cycles=3, workers=4, seed=7, directory=tmp_path / "cluster")
    assert counts["namenode_kills"] == 3 and counts["datanode_kills"] == 1
    assert counts["acked"] > 50
    assert counts["lost"] == 0
    assert counts["fsck_healthy"]
