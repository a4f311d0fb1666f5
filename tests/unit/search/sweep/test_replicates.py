"""search.replicates in the trial: seeds, milestones taken in turns, and the one result ASHA and TPE see."""

import pytest

from xstilts.models.train import TrainConfig
from xstilts.search.sweep.trial import milestones_after, replicate_dir, replicate_mean, replicate_seeds


def test_replicates_have_distinct_seeds_the_first_the_trial_s_own():
    seeds = replicate_seeds(42, 3)
    assert seeds[0] == 42 and len(set(seeds)) == 3
    assert replicate_seeds(43, 3)[1:] != seeds[1:]  # the next suggestion's replicates are others
    assert replicate_dir(2) == "replicate-2"


def test_the_milestones_after_a_resumed_step():
    cfg = TrainConfig(max_steps=120, eval_every=40)
    assert milestones_after(cfg, 0) == [40, 80, 120]
    assert milestones_after(cfg, 40) == [80, 120]
    assert milestones_after(cfg, 120) == []
    assert milestones_after(TrainConfig(max_steps=100, eval_every=40), 0) == [40, 80, 100]


def test_asha_and_tpe_see_the_replicates_mean_once():
    probed = [
        {"mean": 50.0, "low_resource_mean": 40.0, "worst": 20.0, "worst_lang": "sw", "probe/xnli/sw": 20.0},
        {"mean": 54.0, "low_resource_mean": 44.0, "worst": 22.0, "worst_lang": "ur", "probe/xnli/sw": 30.0},
        {"mean": 52.0, "low_resource_mean": 42.0, "worst": 24.0, "worst_lang": "sw", "probe/xnli/sw": 25.0},
    ]
    out = replicate_mean(probed)
    assert (out["mean"], out["low_resource_mean"], out["worst"]) == (52.0, 42.0, 22.0)
    assert out["probe/xnli/sw"] == 25.0 and out["worst_lang"] == "sw"
    assert out["replicate_sd/mean"] == pytest.approx(2.0)


def test_stale_replicate_directories_are_removed_and_live_ones_kept(tmp_path):
    """Ray abandons a replicated trial's thread when it stops the trial at its last result, so its directory
    of replicate states (gigabytes) outlives it: the next trial on the node and the driver remove it."""
    import os

    from xstilts.search.sweep.trial import WORKDIR_PREFIX, _alive, remove_stale_workdirs

    dead = next(pid for pid in range(4_000_000, 4_100_000) if not _alive(pid))  # above any pid in use here
    dirs = {
        "dead": tmp_path / f"{WORKDIR_PREFIX}{dead}-abc",  # its process is gone
        "mine": tmp_path / f"{WORKDIR_PREFIX}{os.getpid()}-def",  # this process's earlier, abandoned trial
        "live": tmp_path / f"{WORKDIR_PREFIX}{os.getppid()}-ghi",  # another live process's trial
        "other": tmp_path / "xstilts-node-cache",
    }
    for d in dirs.values():
        (d / "replicate-0").mkdir(parents=True)
    removed = set(remove_stale_workdirs(tmp_path))
    assert removed == {dirs["dead"], dirs["mine"]}
    assert dirs["live"].is_dir() and dirs["other"].is_dir() and not dirs["dead"].exists()
