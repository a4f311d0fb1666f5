"""OptunaSearch (TPE) that runs the no-intermediate baseline a fixed number of times.

"none" is one point of the searched space, but all its other parameters are inert, so TPE would
happily spend half a small budget re-running it. Once the baseline has its runs, a repeated proposal
is told to Optuna (with the baseline's score when known, so TPE learns from it) and drawn again.

Multi-fidelity, told honestly: each milestone is reported to Optuna at its intermediate step (Ray's
OptunaSearch reports at `training_iteration`), and a trial that ended before its own `intermediate_steps`
(ASHA stopped it) is told as PRUNED with its intermediate values, not as COMPLETE with a low-fidelity score;
TPE ranks pruned trials by their last intermediate value, below the complete ones. A trial that reached its
own step count, and the baseline (one report, at step 0), are COMPLETE.

A resumed sweep's searcher comes from Ray's last experiment snapshot, which may lag the journal: a trial that
ended just before a driver kill is ended again on resume with the result of that older snapshot. With the run
directory, a trial's end is told with its last journaled milestone instead, so TPE learns what an uninterrupted
sweep would have told it.

Each suggestion also carries the trial's `seed`: the experiment seed plus the suggestion's index, so a
sweep run again draws the same seeds (Ray's trial ids are random); the searcher's state, counter included,
is saved with Ray's experiment and restored with it.
"""

from __future__ import annotations

import math

from optuna.trial import TrialState
from ray.tune.search.optuna import OptunaSearch

from xstilts.search.journal import journal_of
from xstilts.search.rundir import RunDir
from xstilts.search.sweep.ray_internals import optuna_completed, optuna_study, optuna_take_trial, optuna_trial
from xstilts.tasks.registry import BASELINE

MAX_REDRAWS = 50


class OptunaWithBaseline(OptunaSearch):
    run_dir: RunDir | None = None  # class default: searchers pickled without one

    def __init__(self, *args, baseline_runs: int = 1, seed_base: int = 0, run_dir: RunDir | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.run_dir = run_dir
        self._seed_base, self._suggested = seed_base, 0
        self._baseline_runs = baseline_runs
        self._baseline_ids: list[str] = []
        self._baseline_value: float | None = None
        self._final_step: dict[str, int | None] = {}  # trial id -> the step it completes at (0: the baseline)
        self._reported: dict[str, set[int]] = {}  # trial id -> steps told to Optuna (a restore re-reports)

    def suggest(self, trial_id: str) -> dict | None:
        config = super().suggest(trial_id)
        for _ in range(MAX_REDRAWS):
            if (
                config is None
                or config.get("intermediate_task") != BASELINE
                or len(self._baseline_ids) < self._baseline_runs
            ):
                break
            ot_trial, study = optuna_take_trial(self, trial_id), optuna_study(self)
            if self._baseline_value is None:
                study.tell(ot_trial, state=TrialState.FAIL)
            else:
                study.tell(ot_trial, self._baseline_value, state=TrialState.COMPLETE)
            config = super().suggest(trial_id)
        if config is None:
            return None
        if config.get("intermediate_task") == BASELINE:
            self._baseline_ids.append(trial_id)
        final = 0 if config.get("intermediate_task") == BASELINE else config.get("intermediate_steps")
        self._final_step[trial_id] = final
        self._suggested += 1
        return {**config, "seed": self._seed_base + self._suggested - 1}

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        """Report the milestone to Optuna at its intermediate step, once per step."""
        step, value = result.get("step"), result.get(self.metric)
        ot_trial = optuna_trial(self, trial_id)
        if trial_id in optuna_completed(self) or ot_trial is None or step is None:
            return
        if value is None or math.isnan(value) or step in self._reported.setdefault(trial_id, set()):
            return
        ot_trial.report(value, step)
        self._reported[trial_id].add(step)

    def _journaled(self, trial_id: str, result: dict | None) -> dict | None:
        """The trial's last journaled milestone's metrics when they are later than `result` (a snapshot's)."""
        if self.run_dir is None:
            return result
        mine = journal_of(self.run_dir).milestones({trial_id})
        if not mine or (result is not None and result.get("step") is not None and result["step"] >= mine[-1]["step"]):
            return result
        return {**(result or {}), **mine[-1]["metrics"], "step": mine[-1]["step"]}

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        result = self._journaled(trial_id, result)
        if trial_id in self._baseline_ids and result and result.get(self.metric) is not None:
            self._baseline_value = result[self.metric]
        step, final = (result or {}).get("step"), self._final_step.get(trial_id)
        stopped = not error and step is not None and final is not None and step < final
        ot_trial = optuna_trial(self, trial_id)
        if stopped and ot_trial is not None and trial_id not in optuna_completed(self):
            if result is not None:
                self.on_trial_result(trial_id, result)  # its last milestone, if not told yet
            optuna_study(self).tell(ot_trial, state=TrialState.PRUNED)
            optuna_completed(self).add(trial_id)
            return
        super().on_trial_complete(trial_id, result=result, error=error)
