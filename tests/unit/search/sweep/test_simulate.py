"""The simulated cluster's scores: deterministic in (configuration, seed, step), so a resumed simulated sweep
reports what an uninterrupted one would; from a finished run, the nearest journaled milestone's scores."""

import pytest

from tests.conftest import write_experiments
from xstilts.search.config import ConfigError, load_context
from xstilts.search.journal import open_journal
from xstilts.search.rundir import RunDir
from xstilts.search.sweep.simulate import simulation_of

CONFIG = {"intermediate_task": "mnli", "intermediate_steps": 200, "lr": 2e-5, "batch_size": 16, "seed": 3}


def test_synthetic_scores_are_fixed_by_config_seed_and_step(tmp_path):
    ctx = load_context(write_experiments(tmp_path))
    exp = ctx.exp
    sim = simulation_of(ctx, "synthetic", gpus=8)
    assert sim.ray_resources == {"num_gpus": 8, "num_cpus": 64}
    first = sim.scores(CONFIG, 3, 100)
    assert first == sim.scores(dict(reversed(list(CONFIG.items()))), 3, 100)  # key order does not matter
    assert first != sim.scores(CONFIG, 4, 100) and first != sim.scores(CONFIG, 3, 200)
    langs = set(exp.target.languages)
    for task in exp.target.tasks:
        assert {k.split("/")[2] for k in first if k.startswith(f"probe/{task}/")} == langs
    assert {"mean", "low_resource_mean", "worst", "worst_lang"} <= set(first)


def test_curves_from_a_finished_run_use_its_nearest_milestone(tmp_path):
    ctx = load_context(write_experiments(tmp_path))
    with pytest.raises(ConfigError, match="not `synthetic` and not a run directory"):
        simulation_of(ctx, "runs/none-yet")
    run_dir = RunDir(tmp_path / "runs" / "done")
    journal = open_journal(run_dir)
    for step, score in [(100, 40.0), (200, 60.0)]:
        metrics = {"step": step, "probe/xnli/de": score, "probe/xnli/sw": score - 10, "mean": score}
        config = {"intermediate_task": "mnli", "lr": 2e-5}
        journal.append({"event": "result", "trial_id": "a", "step": step, "config": config, "metrics": metrics})
    sim = simulation_of(ctx, "runs/done")
    got = sim.scores(CONFIG, 3, 190)  # nearest: step 200
    assert abs(got["probe/xnli/de"] - 60.0) < 5 and abs(got["probe/xnli/sw"] - 50.0) < 5
    assert got == sim.scores(CONFIG, 3, 190)
