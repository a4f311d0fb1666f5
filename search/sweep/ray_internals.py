"""Every use of Ray Tune's private attributes, in one place, each checked against the Ray version in CHECKED.

Ray Tune has no public way to do these things, read in ray 2.60.0's source:
- `AsyncHyperBandScheduler` (ray/tune/schedulers/async_hyperband.py) keeps its rungs in `_brackets` and the
  trial -> bracket map in `_trial_info`, and has no method to feed a rung a result without a live trial
  (its `on_trial_result` needs the trial added first). A resumed sweep rebuilds the rungs from the journal
  (`scheduler.PersistentASHA`), and a trial Ray requeues must leave its rung without raising.
  `max_t`, `time_attr` and the mode's sign (`_metric_op`) have no public getters either.
- `OptunaSearch` (ray/tune/search/optuna/optuna_search.py) keeps the Optuna study in `_ot_study`, each Tune
  trial's Optuna trial in `_ot_trials` and the finished ones in `_completed_trials`: telling Optuna a repeat of
  the baseline or a pruned trial (`searcher.OptunaWithBaseline`) needs them (Optuna's own `Study.tell` is
  public, but only OptunaSearch knows which Optuna trial a Tune trial is).
- `TBXLoggerCallback` (ray/tune/logger/tensorboardx.py) keeps a writer per trial in `_trial_writer` and the
  last result (written as hparams at the trial's end) in `_trial_result` (`trackers.TensorBoardTracker`).

A different Ray may rename or reshape any of these: `version_mismatches()` says so, and a unit test fails
with its message (tests/unit/search/sweep/test_ray_internals.py) until each use is read again and CHECKED moved.
"""

from __future__ import annotations

from importlib.metadata import version
from types import SimpleNamespace
from typing import Any, cast

from ray.tune.experiment import Trial

CHECKED = {"ray": "2.60.0"}  # the versions whose source each function below was read against


def version_mismatches() -> list[str]:
    """One line per library whose installed version is not the one these adapters were checked against."""
    return [
        f"{lib} {version(lib)} is installed, but search/sweep/ray_internals.py was checked against {lib} {want}: "
        "read each private attribute it uses in the new source, then update CHECKED"
        for lib, want in CHECKED.items()
        if version(lib) != want
    ]


# AsyncHyperBandScheduler (one bracket: PersistentASHA passes brackets=1)


def asha_max_t(scheduler: Any) -> int:
    return scheduler._max_t


def asha_time_attr(scheduler: Any) -> str:
    return scheduler._time_attr


def asha_replay(scheduler: Any, trial_id: str, step: int, value: float) -> None:
    """Record a journaled result in the (only) bracket's rungs, as on_trial_result would, without a live trial
    (the bracket reads the trial's id only) and without counting a stop."""
    trial = cast(Trial, SimpleNamespace(trial_id=trial_id))
    scheduler._brackets[0].on_result(trial, step, scheduler._metric_op * value)


def asha_rungs(scheduler: Any) -> list[dict[str, float]]:
    """The bracket's rungs (milestone -> recorded results by trial id), from the lowest milestone up."""
    return [dict(recorded) for _, recorded in reversed(scheduler._brackets[0]._rungs)]


def asha_holds(scheduler: Any, trial_id: str) -> bool:
    """Whether the scheduler has the trial in a bracket (added, not yet completed or removed)."""
    return trial_id in scheduler._trial_info


def asha_forget(scheduler: Any, trial_id: str) -> None:
    """Take the trial out of its bracket, as on_trial_remove does, where it may not be in one."""
    scheduler._trial_info.pop(trial_id, None)


# OptunaSearch


def optuna_study(searcher: Any) -> Any:
    """The searcher's Optuna study (created before its first suggestion)."""
    study = searcher._ot_study
    assert study is not None, "OptunaSearch creates its study before the first suggestion"
    return study


def optuna_trial(searcher: Any, trial_id: str) -> Any | None:
    """The Optuna trial asked for a Tune trial, None when the searcher has none (told, or never asked)."""
    return searcher._ot_trials.get(trial_id)


def optuna_take_trial(searcher: Any, trial_id: str) -> Any:
    """Forget a Tune trial's Optuna trial (to ask again under the same Tune id) and return it."""
    return searcher._ot_trials.pop(trial_id)


def optuna_completed(searcher: Any) -> set[str]:
    """The Tune trial ids the searcher has told Optuna the end of (the set itself: add to it to mark one)."""
    return searcher._completed_trials


# TBXLoggerCallback


def tbx_writer(callback: Any, trial: Trial) -> Any | None:
    """The trial's TensorBoardX writer, None before its start was logged."""
    return callback._trial_writer.get(trial)


def tbx_set_last_result(callback: Any, trial: Trial, result: dict) -> None:
    """The result written as the trial's hyperparameter metrics when it ends."""
    callback._trial_result[trial] = result
