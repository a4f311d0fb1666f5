"""The sweep's scheduler: ASHA whose every milestone result and decision is journaled, and replayed on restore.

Ray 2.60 restores Optuna's state but not the scheduler's (TuneController.__getstate__ drops it), and
its experiment snapshot lags, so a trial ASHA stopped (or that finished) just before a driver kill
comes back RUNNING (seen with Ray 2.60 on a SIGKILLed driver). Writing each record and decision here
*before* Ray acts on it lets a resumed sweep rebuild the rungs, replay the decisions and keep finished
trials finished. The journal (`search/journal.py`) is read once per driver and then kept up to date, so the
scheduler's work per result does not grow with the run.
"""

from __future__ import annotations

import re
from pathlib import Path

from ray.tune.experiment import Trial
from ray.tune.schedulers import AsyncHyperBandScheduler, TrialScheduler

from xstilts.search.journal import Journal, journal_of, score_keys
from xstilts.search.rundir import RunDir
from xstilts.search.selection import Retention, WinnerBoard, prune
from xstilts.search.sweep.ray_internals import asha_forget, asha_holds, asha_max_t, asha_replay, asha_time_attr


class PersistentASHA(AsyncHyperBandScheduler):
    """ASHA (one bracket) whose results, decisions and trial ends are journaled and replayed; with a
    `retention`, each reporting trial's checkpoints are pruned after its result is journaled."""

    _retention: Retention | None = None  # class defaults: schedulers pickled by older versions have none
    _restored_checked = False  # restored trials that had ended are stopped once per driver (choose_trial_to_run)
    _board: WinnerBoard | None = None

    def __init__(
        self,
        run_dir: RunDir,
        final_step_key: str | None = None,
        retention: Retention | None = None,
        **asha_kwargs,
    ):
        super().__init__(brackets=1, **asha_kwargs)
        self._run_dir = run_dir
        self._retention = retention
        self._final_step_key = final_step_key  # config key of a trial's own last step
        self._loaded = False
        self._board: WinnerBoard | None = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_loaded"], state["_board"] = False, None  # rebuilt from the journal on restore
        state["_restored_checked"] = False
        return state

    @property
    def journal(self) -> Journal:
        return journal_of(self._run_dir)

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        # a trial a driver kill orphaned (it reported before Ray's snapshot named it) runs again under a new id
        # with the same configuration and seed: its results must not count twice in the rungs or the winners
        known = self._run_dir.snapshot_trials() if self.journal.results else None
        for (trial_id, step), event in self.journal.results.items():
            if (known is None or trial_id in known) and step < asha_max_t(
                self
            ):  # as on_trial_result: the last rung is not recorded
                asha_replay(self, trial_id, step, event["metrics"][self.metric])
        if self._retention is not None:
            self._board = WinnerBoard(self._retention.select, self._retention.durations, self.journal.milestones(known))

    def ended(self) -> dict[str, str]:
        """trial id -> 'stopped' (by ASHA), 'complete' or 'error', as journaled."""
        self._load()
        return {t: e["how"] for t, e in self.journal.ends.items()}

    def _end(self, trial_id: str, how: str, **extra) -> None:
        if trial_id not in self.journal.ends:
            self.journal.append({"event": "end", "trial_id": trial_id, "how": how, **extra})

    def on_trial_add(self, tune_controller, trial: Trial) -> None:
        self._load()
        super().on_trial_add(tune_controller, trial)

    def choose_trial_to_run(self, tune_controller) -> Trial | None:
        """Before anything runs, terminate restored trials that the ledger says had already ended (once per
        driver: trials added later have not ended, and Ray asks this at every step)."""
        self._load()
        if not self._restored_checked:
            self._restored_checked = True
            for trial in list(tune_controller.get_trials()):
                if trial.trial_id in self.journal.ends and trial.status in (Trial.PENDING, Trial.PAUSED):
                    tune_controller.stop_trial(trial)
        return super().choose_trial_to_run(tune_controller)

    def on_trial_result(self, tune_controller, trial: Trial, result: dict) -> str:
        self._load()
        if trial.trial_id in self.journal.ends:
            return TrialScheduler.STOP
        step = result.get(asha_time_attr(self))
        if step is None or self.metric not in result:
            return TrialScheduler.CONTINUE
        if (trial.trial_id, step) in self.journal.results:
            return TrialScheduler.CONTINUE  # re-reported after a restore; its decision was CONTINUE
        action = super().on_trial_result(tune_controller, trial, result)
        events = [
            {
                "event": "result",
                "trial_id": trial.trial_id,
                "step": step,
                "config": dict(trial.config),
                "metrics": score_keys(result),
            }
        ]
        if action == TrialScheduler.STOP:  # journaled with the result: one write
            max_t = asha_max_t(self)
            last = trial.config.get(self._final_step_key, max_t) if self._final_step_key else max_t
            how = "complete" if step >= min(last, max_t) else "stopped"
            events.append({"event": "end", "trial_id": trial.trial_id, "how": how})
        self.journal.append(*events)
        if self._retention is not None and self._board is not None:
            if name := getattr(getattr(trial, "storage", None), "trial_dir_name", None):
                self._run_dir.know_trial_dir(name)
            mine = self.journal.milestones({trial.trial_id})
            self._board.add(next(m for m in mine if m["step"] == step))
            prune(self._run_dir, mine, self._retention, board=self._board)
        return action

    def on_trial_complete(self, tune_controller, trial: Trial, result: dict) -> None:
        self._load()
        if asha_holds(self, trial.trial_id):
            super().on_trial_complete(tune_controller, trial, result)
        self._end(trial.trial_id, "complete")

    def on_trial_remove(self, tune_controller, trial: Trial) -> None:
        asha_forget(self, trial.trial_id)

    def on_trial_error(self, tune_controller, trial: Trial) -> None:
        """A trial that raised (after its `max_failures` retries): journaled with a one-line reason.

        Ray 2.60 also calls this when it *recovers* a trial (a lost node, a retried failure): its
        `TuneController._try_recover` first marks the trial ERROR (`_schedule_trial_stop` with the exception),
        then `_requeue_trial` calls `on_trial_error` and `on_trial_add` and sets it PENDING. A trial that is
        ERROR here while `should_recover()` is being retried, has not ended and is not journaled as ended (a
        final error comes while the trial is still RUNNING or PENDING)."""
        self._load()
        asha_forget(self, trial.trial_id)  # out of its rung, as a removed trial
        if trial.status == Trial.ERROR and trial.should_recover():
            return
        self._end(trial.trial_id, "error", reason=error_reason(trial), config=dict(trial.config))


def error_reason(trial: Trial) -> str:
    """The last line of a trial's error (the exception's type and message), at most 300 characters."""
    local = trial.error_file  # written by Ray before it tells the scheduler; the storage copy may lag
    text = Path(local).read_text(errors="replace") if local and Path(local).is_file() else str(trial.get_error() or "")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith((" ", "\t"))]
    reason = lines[-1] if lines else "unknown error"
    name, sep, message = reason.partition(": ")
    if sep and re.fullmatch(r"[\w.]+", name):  # the exception's class without its module path
        reason = f"{name.rsplit('.', 1)[-1]}: {message}"
    return reason if len(reason) <= 300 else reason[:297] + "..."
