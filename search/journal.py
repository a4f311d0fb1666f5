"""The run's journal: the ledger's event schema and every reading of it.

The ledger (`RunDir.read_ledger` / `append_event`: a fsynced JSON-lines file, or one object per event on an
object store) is the run's record of what happened, written before Ray acts on it. Its events:

- ``result``: trial_id, step, config (the sampled hyperparameters), metrics (`score_keys`: the summary,
  ``probe/<task>/<lang>`` scores, start-up seconds) -- one milestone; a later result of the same (trial,
  step), re-reported after a restore, replaces it;
- ``end``: trial_id, how (complete | stopped | error), with reason and config for an error;
- ``retry``: trial_id -- `sweep --retry-errored` takes the trial's error back;
- ``eval_failed``: job, reason, parts -- an evaluation job that raised (`xstilts status` lists it);

each with the time it was written. `Journal` reads the ledger once and then applies each event this
process appends, so a driver's per-result work does not grow with the run. No Ray here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from xstilts.search.rundir import RunDir
from xstilts.tasks.aggregate import PROBE_PREFIX, SUMMARY_KEYS, split_probe_key
from xstilts.tasks.registry import BASELINE

__all__ = ["PROBE_PREFIX", "SUMMARY_KEYS", "Journal", "best_by", "better", "journal_of", "open_journal"]
__all__ += ["score_keys", "split_probe_key", "trial_ends"]


def score_keys(result: dict) -> dict:
    """The metrics of a trial result that xstilts journals (step, summary, per-task-language scores, the
    trial's start-up seconds, the checkpoint step it resumed from, and the optimizer steps it spent: the
    milestone's wsd cooldown and every step so far, cooldowns included)."""
    kept = ("step", "startup_s", "resumed_from_step", "cooldown_steps", "budget_steps", *SUMMARY_KEYS)
    return {k: v for k, v in result.items() if k in kept or k.startswith(PROBE_PREFIX)}


def trial_ends(events: Iterable[dict]) -> dict[str, dict]:
    """trial id -> its journaled end event; a `retry` event takes an error back."""
    ends: dict[str, dict] = {}
    for e in events:
        if e["event"] == "end":
            ends[e["trial_id"]] = e
        elif e["event"] == "retry":
            ends.pop(e["trial_id"], None)
    return ends


def is_baseline(m: dict) -> bool:
    return m["config"]["intermediate_task"] == BASELINE


def metric_of(metric: str) -> Callable[[dict], float]:
    """A milestone's journaled `metric` (NaN when it has none)."""
    return lambda m: m["metrics"].get(metric, math.nan)


def _rank(score: float | None) -> float:
    return -math.inf if score is None or math.isnan(score) else score


def better(a: dict, b: dict | None, score: Callable[[dict], float]) -> bool:
    """Whether milestone `a` beats `b` (None: nothing yet): the higher score; a missing or NaN score never
    wins; on a tie the earlier (trial id, step)."""
    if math.isinf(_rank(score(a))):
        return False
    if b is None:
        return True
    sa, sb = _rank(score(a)), _rank(score(b))
    return sa > sb or (sa == sb and (a["trial_id"], a["step"]) < (b["trial_id"], b["step"]))


def best_by(milestones: Iterable[dict], score: Callable[[dict], float]) -> dict | None:
    """The best milestone by `score` (`better`'s rule), or None when none has a score."""
    best = None
    for m in milestones:
        if better(m, best, score):
            best = m
    return best


class Journal:
    """A run's ledger, read once, then kept up to date with each event this process appends.

    `milestones` are one row per (trial, step): the last result, with how its trial ended ("running" until
    an end event). `best(metric, baseline=...)` is the one definition of the best milestone: among the
    intermediate tasks' milestones, or with `baseline=True` among the no-intermediate baseline's; kept up
    to date per event.
    """

    def __init__(self, run_dir: RunDir, events: Iterable[dict] | None = None):
        self.run_dir = run_dir
        self.events: list[dict] = []
        self.ends: dict[str, dict] = {}
        self.results: dict[tuple[str, int], dict] = {}
        self._by_trial: dict[str, dict[int, dict]] = {}
        self._best: dict[tuple[str, bool], dict | None] = {}
        self._position = 0  # where this journal has read the ledger to (`RunDir.ledger_since`)
        if events is None:
            self.refresh()
        else:
            for event in events:
                self.apply(event)

    def refresh(self) -> None:
        """Apply what other processes journaled since this journal last read (a tail read, not the whole)."""
        new, self._position = self.run_dir.ledger_since(self._position)
        for event in new:
            self.apply(event)

    # -- writing ---------------------------------------------------------------------------------
    def append(self, *events: dict) -> None:
        """Journal `events` in order (durable when this returns: one fsync locally) and apply them."""
        written = self.run_dir.append_events(list(events))
        for event in written:
            self.apply(event)
        self._position = self.run_dir.position_after_append(self._position, len(written))

    def apply(self, event: dict) -> None:
        self.events.append(event)
        kind = event["event"]
        if kind == "result":
            key = (event["trial_id"], event["step"])
            replaced = self.results.get(key)
            self.results[key] = event
            self._by_trial.setdefault(key[0], {})[key[1]] = event
            for (metric, baseline), best in list(self._best.items()):
                if replaced is not None and best is not None and (best["trial_id"], best["step"]) == key:
                    del self._best[(metric, baseline)]  # the best itself changed: recomputed when asked
                elif is_baseline(event) == baseline and better(self._row(event), best, metric_of(metric)):
                    self._best[(metric, baseline)] = self._row(event)
        elif kind == "end":
            self.ends[event["trial_id"]] = event
        elif kind == "retry":
            self.ends.pop(event["trial_id"], None)

    # -- reading ---------------------------------------------------------------------------------
    @property
    def started_at(self) -> float | None:
        """When the first event was written (the sweep's start), if known."""
        return float(self.events[0]["time"]) if self.events and "time" in self.events[0] else None

    def end_of(self, trial_id: str) -> str:
        """How the trial ended (complete | stopped | error), or "running"."""
        return self.ends[trial_id]["how"] if trial_id in self.ends else "running"

    def errors(self, trials: set[str] | None = None) -> list[dict]:
        """The end events of trials that raised (reason, config)."""
        return [e for t, e in self.ends.items() if e["how"] == "error" and (trials is None or t in trials)]

    def _row(self, e: dict) -> dict:
        end = self.ends.get(e["trial_id"], {})
        return {
            "trial_id": e["trial_id"],
            "step": e["step"],
            "config": e["config"],
            "metrics": e["metrics"],
            "end": end.get("how", "running"),
            "error": end.get("reason"),
        }

    def milestones(self, trials: set[str] | None = None) -> list[dict]:
        """One row per (trial, step), by (trial, step); `trials`: only these (a trial orphaned by a driver
        kill before Ray's snapshot named it is rerun under a new id, and left out by passing Ray's ids)."""
        if trials is None:
            return [self._row(self.results[k]) for k in sorted(self.results)]
        return [self._row(e) for t in sorted(trials) for _, e in sorted(self._by_trial.get(t, {}).items())]

    def best(self, metric: str, *, baseline: bool = False, trials: set[str] | None = None) -> dict | None:
        """The best milestone by `metric`: of the intermediate tasks, or (`baseline`) of the baseline."""
        if trials is not None:
            return best_by((m for m in self.milestones(trials) if is_baseline(m) == baseline), metric_of(metric))
        key = (metric, baseline)
        if key not in self._best:
            chosen = best_by((m for m in self.milestones() if is_baseline(m) == baseline), metric_of(metric))
            self._best[key] = chosen
        best = self._best[key]
        return None if best is None else self._row(self.results[(best["trial_id"], best["step"])])

    def failed_jobs(self) -> list[dict]:
        """The evaluation's journaled job failures."""
        return [e for e in self.events if e["event"] == "eval_failed"]


_OPEN: dict[str, Journal] = {}


def journal_of(run_dir: RunDir) -> Journal:
    """This process's journal of `run_dir`: the scheduler, the live view, the summary and the evaluation of
    one process share it, so the ledger is read once (`open_journal` brings it up to date)."""
    if run_dir.uri not in _OPEN:
        _OPEN[run_dir.uri] = Journal(run_dir)
    return _OPEN[run_dir.uri]


def open_journal(run_dir: RunDir) -> Journal:
    """This process's journal of `run_dir`, with what other processes journaled since it last read (a driver
    command's start: a killed driver's events, say) -- read once, then only the ledger's tail."""
    journal = journal_of(run_dir)
    journal.refresh()
    return journal
