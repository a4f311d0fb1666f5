"""Milestones and checkpoints written for checkpoint-retention tests, local or on S3."""

import json

from xstilts.search.selection import Retention, prune


def milestone(tid, step, mean, low, task="mnli", end="complete"):
    return {
        "trial_id": tid,
        "step": step,
        "config": {"intermediate_task": task},
        "metrics": {"mean": mean, "low_resource_mean": low},
        "end": end,
    }


def write_checkpoints(run_dir, tid, steps):
    for step in steps:
        run_dir.loc.write_text(f"run_trial_{tid}_00000/checkpoint_{step:06d}/state.json", json.dumps({"step": step}))
        run_dir.loc.write_text(f"run_trial_{tid}_00000/checkpoint_{step:06d}/model.safetensors", "w")


def steps_of(run_dir, tid):
    return sorted(step for _rel, step in run_dir.trial_checkpoints(tid))


def check_prune_keeps_latest_best_winners_and_unjournaled(run_dir):
    """Pruning keeps each trial's best by the metric, the winners until evaluated, and the latest (also
    the unjournaled one, whose result is on its way); run on a local run directory and on S3."""
    ms = [milestone("a", s, mean, low) for s, mean, low in [(100, 10, 1), (200, 50, 2), (300, 20, 3), (400, 30, 4)]]
    ms += [milestone("b", 100, 60, 10, task="qqp")]
    write_checkpoints(run_dir, "a", [100, 200, 300, 400, 500])  # 500: its result is on its way
    write_checkpoints(run_dir, "b", [100])
    retention = Retention(keep=1, metric="mean", select="low_resource_mean", durations=False)
    removed = prune(run_dir, ms, retention)
    # a: 200 best by mean, 400 best low-resource (mnli's winner), 500 the latest; 100 and 300 go
    assert steps_of(run_dir, "a") == [200, 400, 500] and len(removed) == 2
    assert steps_of(run_dir, "b") == [100]
    assert run_dir.trial_checkpoint("a", 300) is None and run_dir.trial_checkpoint("a", 400)
    ms.append(milestone("a", 500, 0, 0))
    prune(run_dir, ms, retention, winners_evaluated=True)  # the winners' encoders are saved
    assert steps_of(run_dir, "a") == [200, 500]
