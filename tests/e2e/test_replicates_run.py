"""`xstilts run` with search.replicates: 2 on the offline world: each trial trains two intermediate runs, the
evaluation scores every replicate of every winner, and the report's duration effects count them as units."""

import subprocess
import sys

import pandas as pd
import pytest

from tests.conftest import write_experiments

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
SMALL = {
    "intermediate": {"tasks": ["mnli", "none"], "steps": [100], "milestone_every": 50},
    "target": {"tasks": ["xnli"], "recipe": {"steps": 10}},
    "search": {"num_samples": 2, "replicates": 2},
    "evaluation": {"seeds": 3, "recipe": {"steps": 10}, "tasks": ["xnli", "tatoeba"], "every_milestone": True},
}


def test_replicates_are_trained_evaluated_and_counted(tmp_path, offline_plan):
    path = write_experiments(tmp_path, SMALL)
    exp_dir = tmp_path / "runs" / "offline"
    done = subprocess.run(
        [sys.executable, "-m", "xstilts", "run", str(path)],
        capture_output=True,
        text=True,
        timeout=900,
        start_new_session=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    ev = pd.read_parquet(exp_dir / "evaluation" / "evaluation.parquet")
    mnli = ev[ev["intermediate_task"] == "mnli"]
    assert set(mnli["replicate"]) == {0, 1} and mnli["intermediate_seed"].nunique() == 2
    none = ev[ev["intermediate_task"] == "none"]
    assert set(none["replicate"]) == {0, 1}  # the pretrained encoder with each replicate's target seeds
    for r in (0, 1):  # target seeds nested in replicates, the baseline's paired with each replicate's
        assert set(mnli.loc[mnli["replicate"] == r, "seed"]) == set(none.loc[none["replicate"] == r, "seed"])
    assert mnli.groupby("replicate")["seed"].agg(frozenset).nunique() == 2
    keys = ["winner", "target_task", "seed", "lang", "split", "metric", "replicate"]
    assert not ev.duplicated(keys).any()
    effects = pd.read_parquet(exp_dir / "report" / "tables" / "duration_effects.parquet")
    assert len(effects) and (effects["n_intermediate_seeds"] == 2).all()  # 50 -> 100 within each replicate
    status = subprocess.run(
        [sys.executable, "-m", "xstilts", "status", str(exp_dir)], capture_output=True, text=True, timeout=120
    )
    assert status.returncode == 0 and "parts" in status.stdout
