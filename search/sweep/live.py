"""Live progress of a sweep: a rich table on a terminal, plain lines otherwise (CI logs).

A Ray Tune Callback. It subclasses Ray's TrialProgressCallback so that Ray adds none of its own
(whose "Trial ... completed" lines would interleave). RunConfig callbacks are cloudpickled into
tuner.pkl, and a rich Live display does not pickle, so it is created in setup() and dropped from the
pickled state.
On a resumed sweep the rows are first rebuilt from the journal, which knows more than Ray's snapshot.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import ray
from ray.tune.experiment import Trial
from ray.tune.progress_reporter import TrialProgressCallback
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from xstilts.search.journal import journal_of
from xstilts.search.rundir import RunDir
from xstilts.search.sweep.scheduler import error_reason
from xstilts.search.terminal import clock, cluster_usage, eta, fmt, usage_text
from xstilts.tasks.registry import BASELINE

END_STATE = {"stopped": "stopped (ASHA)", "complete": "done", "error": "error"}  # the ledger's end -> row state
STATE_STYLE = {"pending": "dim", "running": "cyan", "done": "green", "stopped (ASHA)": "yellow", "error": "red"}


SCAN_EVERY_S = 5.0  # how often the view looks at every trial Ray holds (new trials: at every step)


class ProgressView(TrialProgressCallback):
    """Per trial: intermediate task, step, latest mean / low-resource / worst score, state; best so far."""

    # class-level defaults, so that a view unpickled from an older sweep's tuner.pkl has them too
    request: dict[str, float] | None = None
    free_resources: Callable[[], dict[str, float]] | None = None
    waiting: str | None = None  # "waiting for resources: …" while pending trials do not fit
    patience = 30.0  # seconds a shortage lasts before the view says "waiting for resources"
    _checked = 0.0
    _scanned = 0  # trials taken in by on_step_begin
    _scanned_at = -math.inf  # when it last looked at every trial
    _refreshed_at = -math.inf
    _short_since: float | None = None
    total: int | None = None  # num_samples
    usage: dict[str, tuple[float, float]] | None = None  # CPU / GPU in use and in all, from Ray
    _t0: float | None = None  # when the sweep began (wall clock; its first ledger event on a resume)
    _session_t0: float | None = None  # when this driver's session began
    _finished_here = 0

    def __init__(
        self,
        metric: str,
        run_dir: RunDir | None = None,
        force_terminal: bool | None = None,
        request: dict[str, float] | None = None,
        free_resources: Callable[[], dict[str, float]] | None = None,
    ):
        super().__init__(metric=metric)
        self.metric = metric
        self.run_dir = run_dir
        self.force_terminal = force_terminal
        self.rows: dict[str, dict] = {}
        self.best: tuple[float, str] | None = None
        self.request = request  # one trial's {"CPU": …, "GPU": …}
        self.free_resources = free_resources  # default: ray.available_resources
        self.usage_of: Callable[[], dict[str, tuple[float, float]]] | None = None  # default: cluster_usage
        self._console: Console | None = None
        self._live: Live | None = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_console"] = state["_live"] = None
        return state

    def setup(self, **info: Any) -> None:  # type: ignore[override]  # Ray passes stop, num_samples, ... by name
        self._console = Console(force_terminal=self.force_terminal, highlight=False)
        self.total = info.get("total_num_samples") or info.get("num_samples") or self.total
        self._t0 = self._session_t0 = time.time()
        self._finished_here = 0  # trials that ended in this session: the ETA's rate
        self.load_ledger()
        if self._console.is_terminal:
            self._live = Live(self.render(), console=self._console, refresh_per_second=2, transient=False)
            self._live.start()

    # -- state ---------------------------------------------------------------------------------
    def load_ledger(self) -> None:
        """Rebuild rows from the journal of a sweep that is being resumed."""
        if self.run_dir is None:
            return
        console, self._console = self._console, None  # replaying: no lines
        journal = journal_of(self.run_dir)
        if journal.started_at is not None:
            self._t0 = min(self._t0 or math.inf, journal.started_at)
        for event in journal.events:
            if "trial_id" not in event:  # the evaluation's events
                continue
            trial = _LedgerTrial(event["trial_id"], event.get("config", {}))
            if event["event"] == "result":
                self._update_scores(trial, event["metrics"])
            elif event["event"] == "end":
                self._row(trial).update(state=END_STATE.get(event["how"], "done"), error=event.get("reason"))
            elif event["event"] == "retry":
                self._row(trial).update(state="pending", error=None)
        self._console = console

    def _row(self, trial: Trial | _LedgerTrial) -> dict:
        if trial.trial_id not in self.rows:
            cfg = trial.config
            self.rows[trial.trial_id] = {
                "task": cfg.get("intermediate_task", "?"),
                "max_steps": cfg.get("intermediate_steps"),
                "lr": cfg.get("lr"),
                "batch_size": cfg.get("batch_size"),
                "step": None,
                "spent": 0,  # optimizer steps the trial has spent: its own and its milestones' cooldowns
                "mean": None,
                "low": None,
                "worst": None,
                "worst_lang": "",
                "state": "pending",
                "error": None,
            }
        return self.rows[trial.trial_id]

    def _update_scores(self, trial: Trial | _LedgerTrial, result: dict) -> None:
        row = self._row(trial)
        if "mean" not in result:
            return
        row.update(
            step=result.get("step"),
            spent=result.get("budget_steps") or 0,
            mean=result.get("mean"),
            low=result.get("low_resource_mean"),
            worst=result.get("worst"),
            worst_lang=result.get("worst_lang", ""),
        )
        self._refresh_best()

    def _refresh_best(self) -> None:
        """The best so far is the journal's (`Journal.best`: the scheduler journals each result before Ray
        calls this view); a plain line when it changes."""
        if self.run_dir is None:
            return
        m = journal_of(self.run_dir).best(self.metric)
        if m is None:
            return
        best = (m["metrics"][self.metric], m["trial_id"])
        if best != self.best:
            task = m["config"]["intermediate_task"]
            self._line(f"best so far: {m['trial_id']} {task} step {m['step']} {self.metric}={best[0]:.1f}")
        self.best = best

    def _finished_state(self, trial: Trial) -> str:
        """How a finished trial ended, as the scheduler journaled it before Ray told the callbacks."""
        how = journal_of(self.run_dir).end_of(trial.trial_id) if self.run_dir is not None else "complete"
        return END_STATE.get(how, "done")

    # -- Ray Tune hooks --------------------------------------------------------------------------
    def on_step_begin(self, iteration: int, trials: list[Trial], **info) -> None:
        """Ray calls this at every step of its loop, with every trial: the trials not seen yet (Ray appends them;
        restored ones come first) are taken in at once, all of them only every few seconds (trials that
        ended without a callback), so a step's work does not grow with the sweep."""
        now = time.monotonic()
        full = now - self._scanned_at >= SCAN_EVERY_S
        start = 0 if full else min(self._scanned, len(trials))
        for trial in trials[start:]:
            row = self._row(trial)
            if row["step"] is None and trial.last_result:
                self._update_scores(trial, trial.last_result)
            if trial.status == Trial.TERMINATED and row["state"] in ("pending", "running"):
                row["state"] = self._finished_state(trial)
        self._scanned = len(trials)
        if full:
            self._scanned_at = now
        self._check_resources(trials)
        if now - self._refreshed_at >= 0.5:  # rich's Live redraws twice a second
            self._refreshed_at = now
            self._refresh()

    def _check_resources(self, trials: list[Trial]) -> None:
        """Say "waiting for resources" while trials are pending that the cluster's free CPUs / GPUs cannot
        hold now (asked of Ray at most every 2 s); a plain line when that starts and when it ends."""
        if self.request is None or time.monotonic() - self._checked < 2.0:
            return
        self._checked = time.monotonic()
        pending = sum(t.status == Trial.PENDING for t in trials)
        try:
            self.usage = (getattr(self, "usage_of", None) or cluster_usage)()
        except Exception:  # no Ray connection (a view rebuilt outside a sweep): the usage stays unknown
            self.usage = None
        waiting = None
        if pending:
            free = (self.free_resources or ray.available_resources)()
            short = any(free.get(k, 0.0) < v for k, v in self.request.items() if v > 0)
            # Ray reserves a starting trial's resources while it is still PENDING (its actor starts): only a
            # shortage that lasts `patience` seconds is waiting
            since = (self._short_since or time.monotonic()) if short else None
            self._short_since = since
            if since is not None and time.monotonic() - since >= self.patience:
                need = ", ".join(f"{k.lower()} {v:g}" for k, v in self.request.items())
                have = ", ".join(f"{k.lower()} {free.get(k, 0.0):g}" for k in self.request)
                waiting = f"waiting for resources: {pending} pending trial(s) need {need} each; free now: {have}"
        if waiting != self.waiting:
            self._line(waiting or "resources free: pending trials start")
        self.waiting = waiting

    def on_trial_start(self, iteration: int, trials: list[Trial], trial: Trial, **info) -> None:
        self._row(trial)["state"] = "running"
        self._line(f"trial {trial.trial_id} started: {self._describe(trial)}")
        self._line(self.progress_text())

    def _ended(self, trial: Trial) -> None:
        self._finished_here += 1
        self._line(self.progress_text())

    def counts(self) -> dict[str, int]:
        """Trials by state (pending counts the samples not started yet)."""
        out = {"done": 0, "running": 0, "pending": 0, "error": 0}
        for row in self.rows.values():
            state = row["state"]
            key = "done" if state in ("done", "stopped (ASHA)") else state if state in out else "pending"
            out[key] += 1
        if self.total is not None:
            out["pending"] += max(0, self.total - len(self.rows))
        return out

    def progress_text(self) -> str:
        """Trials done of all, running, pending (waiting for resources), elapsed, ETA and cluster use."""
        c = self.counts()
        finished = c["done"] + c["error"]
        remaining = (self.total - finished) if self.total is not None else None
        session = time.time() - self._session_t0 if self._session_t0 is not None else None
        left = eta(session, self._finished_here, remaining) if remaining is not None else None
        waiting = " (waiting for resources)" if self.waiting else ""
        elapsed = time.time() - self._t0 if self._t0 is not None else None
        parts = [
            f"trials {finished}/{self.total if self.total is not None else '?'} done",
            f"running {c['running']}",
            f"pending {c['pending']}{waiting}",
            *([f"failed {c['error']}"] if c["error"] else []),
            f"elapsed {clock(elapsed)}",
            f"ETA {clock(left)}",
            *([self.spent_text()] if any(r["spent"] for r in self.rows.values()) else []),
            usage_text(self.usage),
        ]
        return "progress: " + " · ".join(parts)

    def spent_text(self) -> str:
        """Intermediate optimizer steps spent so far, the wsd cooldowns' among them."""
        spent = sum(r["spent"] for r in self.rows.values())
        cooling = sum(r["spent"] - (r["step"] or 0) for r in self.rows.values() if r["spent"])
        return f"steps {spent:,} ({cooling:,} cooldown)"

    def on_trial_result(self, iteration: int, trials: list[Trial], trial: Trial, result: dict, **info) -> None:
        self._update_scores(trial, result)
        row = self._row(trial)
        self._line(
            f"trial {trial.trial_id} {row['task']} step {row['step']}: mean {fmt(row['mean'])} "
            f"low-resource {fmt(row['low'])} worst {fmt(row['worst'])} ({row['worst_lang']})"
        )

    def on_trial_complete(self, iteration: int, trials: list[Trial], trial: Trial, **info) -> None:
        row = self._row(trial)
        row["state"] = self._finished_state(trial)
        self._line(f"trial {trial.trial_id} {row['state']} at step {row['step']}")
        self._ended(trial)

    def on_trial_error(self, iteration: int, trials: list[Trial], trial: Trial, **info) -> None:
        row = self._row(trial)
        row["state"], row["error"] = "error", error_reason(trial)
        self._line(f"trial {trial.trial_id} error: {row['error']}")
        self._ended(trial)

    def on_trial_recover(self, iteration: int, trials: list[Trial], trial: Trial, **info) -> None:
        self._row(trial)["state"] = "pending"
        self._line(f"trial {trial.trial_id} failed; retrying from its last checkpoint")

    def on_experiment_end(self, trials: list[Trial], **info) -> None:
        self.on_step_begin(0, trials)
        if self._live is not None:
            self._live.update(self.render())
            self._live.stop()
            self._live = None

    # -- output ----------------------------------------------------------------------------------
    def _describe(self, trial: Trial) -> str:
        row = self._row(trial)
        if row["task"] == BASELINE:
            return "no intermediate task"
        return f"{row['task']} for {row['max_steps']} steps, lr {row['lr']:.2e}, batch {row['batch_size']}"

    def _line(self, text: str) -> None:
        if self._console is not None and self._live is None:
            self._console.print(f"[{time.strftime('%H:%M:%S')}] {text}", markup=False, soft_wrap=True)

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self.render())

    def render(self) -> Table:
        """Return the live table (also used by tests)."""
        counts: dict[str, int] = {}
        for row in self.rows.values():
            counts[row["state"]] = counts.get(row["state"], 0) + 1
        best = f"best {self.metric} {self.best[0]:.1f} ({self.best[1]})" if self.best else "best: —"
        caption = " · ".join(
            [*(f"{k} {v}" for k, v in sorted(counts.items())), *([self.waiting] if self.waiting else [])]
        )
        caption = " · ".join([self.progress_text().removeprefix("progress: "), *([caption] if caption else [])])
        table = Table(title=f"xstilts sweep · {best}", caption=caption)
        for col in ("trial", "intermediate", "step", "lr", "batch", "mean", "low-res", "worst", "state"):
            table.add_column(col, justify="right" if col in ("step", "lr", "batch", "mean", "low-res") else "left")
        for trial_id, row in self.rows.items():
            step = "—" if row["step"] is None else f"{row['step']}/{row['max_steps'] if row['task'] != 'none' else 0}"
            lr = "—" if row["task"] == BASELINE or row["lr"] is None else f"{row['lr']:.1e}"
            mark = " ★" if self.best and self.best[1] == trial_id else ""
            table.add_row(
                trial_id + mark,
                row["task"],
                step,
                lr,
                "—" if row["task"] == BASELINE else str(row["batch_size"]),
                fmt(row["mean"]),
                fmt(row["low"]),
                f"{fmt(row['worst'])} {row['worst_lang']}".strip(),
                f"[{STATE_STYLE.get(row['state'], '')}]{row['state']}[/]"
                + (f": {escape(row['error'][:60])}" if row["state"] == "error" and row["error"] else ""),
            )
        return table


class _LedgerTrial:
    """The two attributes of a Trial that the view reads, for rows rebuilt from the ledger."""

    def __init__(self, trial_id: str, config: dict):
        self.trial_id, self.config = trial_id, config
