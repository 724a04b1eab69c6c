"""Subtree moves interrupted by kill -9 of each kind of process, then continued
(bench/move_faults.py runs 10 of them; here one per kind of process)."""
from bench import move_faults


def test_moves_killed_at_random_moments_finish_with_every_file_once(tmp_path):
    results = move_faults.run(trials=4, files_per_trial=60, seed=7, directory=tmp_path, log=print)
    assert [r["victim"] for r in results if r["interrupted"]] == list(move_faults.VICTIMS)
    assert [r["problems"] for r in results] == [[]] * len(results)
