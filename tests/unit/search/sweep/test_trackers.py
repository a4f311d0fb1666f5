"""Trackers in the config: TensorBoard on by default, MLflow / W&B optional extras whose absence is a
one-line error naming the extra; the trackers do not change the experiment's identity (its digest)."""

import importlib.util

import pytest

from tests.conftest import write_experiments
from xstilts.search.config import ConfigError, load_experiment
from xstilts.search.sweep.driver import tracker_callbacks
from xstilts.search.sweep.trackers import MlflowTracker, TensorBoardTracker, WandbTracker, milestone_metrics


def test_trackers_are_parsed_and_do_not_change_the_digest(tmp_path):
    plain, _ = load_experiment(write_experiments(tmp_path, {}))
    assert plain.trackers.mlflow is None and [type(c) for c in tracker_callbacks(plain, "s")] == [TensorBoardTracker]
    tracked, _ = load_experiment(
        write_experiments(
            tmp_path,
            {
                "trackers": {
                    "mlflow": {"tracking_uri": f"sqlite:///{tmp_path}/m.db"},
                    "wandb": {"project": "p", "mode": "disabled"},
                }
            },
        )
    )
    kinds = [type(c) for c in tracker_callbacks(tracked, "offline")]
    assert kinds == [TensorBoardTracker, MlflowTracker, WandbTracker]
    assert tracked.digest() == plain.digest()  # a sweep resumes whatever it logs to
    assert tracker_callbacks(tracked, "offline")[1].experiment == "offline"  # MLflow experiment: the sweep's name


@pytest.mark.parametrize("tracker", ["mlflow", "wandb"])
def test_a_missing_extra_is_one_line_naming_it(tmp_path, monkeypatch, tracker):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == tracker else real(name, *a))
    fields = {"mlflow": {"tracking_uri": "sqlite:///x.db"}, "wandb": {"project": "p"}}[tracker]
    with pytest.raises(ConfigError) as err:
        load_experiment(write_experiments(tmp_path, {"trackers": {tracker: fields}}))
    line = str(err.value)
    assert f"offline.trackers.{tracker}" in line and f"pip install 'xstilts[{tracker}]'" in line
    assert len(line.splitlines()) == 1


def test_milestone_metrics_are_the_scores_not_ray_s_bookkeeping():
    result = {"step": 200, "mean": 50.0, "worst": float("nan"), "probe/xnli/de": 61.0, "training_iteration": 2}
    assert milestone_metrics(result) == {"mean": 50.0, "probe/xnli/de": 61.0}


def test_w_and_b_s_environment_is_set_before_ray_starts(tmp_path, monkeypatch):
    from xstilts.search.sweep.driver import tracker_environment

    for var in ("WANDB_MODE", "WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DATA_DIR"):
        monkeypatch.delenv(var, raising=False)
    wandb_dir = str(tmp_path / "wandb")
    exp, _ = load_experiment(
        write_experiments(tmp_path, {"trackers": {"wandb": {"project": "p", "mode": "offline", "dir": wandb_dir}}})
    )
    tracker_environment(exp, "offline")
    import os

    assert os.environ["WANDB_MODE"] == "offline"
    assert all(os.environ[v] == wandb_dir for v in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR"))
