"""The library API of the whole job: prepare, sweep, sweep -> evaluation -> report, and reading results.
The CLI only parses arguments and calls these."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from xstilts.core.errors import WorkFailed
from xstilts.search.config import load_context
from xstilts.search.rundir import RunDir
from xstilts.search.sweep.results import SearchResult, summary_lines


class TrialsErrored(WorkFailed):
    """`xstilts run` stopped before the evaluation: some of the sweep's trials raised (exit 1, one line)."""


@dataclass(frozen=True)
class RunOutcome:
    """What `run_experiment` produced: where each stage's output is, and the sweep's summary."""

    run_dir: str  # a local path or an object-store URI
    results: str  # results.parquet: the sweep's milestones
    evaluation: str  # evaluation/evaluation.parquet
    report: str  # report/report.md
    summary: list[str]  # the best trial vs the best 'none' trial, as `xstilts sweep` prints it
    search: SearchResult


class Results(NamedTuple):
    """A run directory's tables: one row per trial x milestone x target task x language, and one per
    winner x target task x seed x language x split x metric (empty before the evaluation ran)."""

    milestones: pd.DataFrame
    evaluation: pd.DataFrame


def prepare_experiment(experiments_file: Path | str, name: str = "offline") -> tuple[str, str]:
    """Build (or verify) the experiment's data and encoder and check every split of its sweep; returns
    (data source description, encoder name_or_path)."""
    from xstilts.search.plan import make_plan

    plan = make_plan(load_context(experiments_file, name))
    return f"{plan.source.label} ({plan.source.root or 'hub'})", plan.encoder


def sweep_experiment(
    experiments_file: Path | str,
    name: str = "offline",
    address: str | None = None,
    *,
    resume: bool | None = None,
    retry_errored: bool = False,
    break_lease: bool = False,
    simulate: str | None = None,
    gpus: int = 64,
) -> SearchResult:
    """Run (or resume) the experiment's sweep; see `search.sweep.driver.run_search`. `simulate` (CURVES:
    `synthetic` or a finished run directory): the real driver with trials that cost nothing, on a local Ray
    that declares `gpus` fake GPUs (`search/sweep/simulate.py`)."""
    from xstilts.search.sweep.driver import run_search
    from xstilts.search.sweep.simulate import simulation_of

    ctx = load_context(experiments_file, name)
    simulation = simulation_of(ctx, simulate, gpus) if simulate is not None else None
    return run_search(
        ctx,
        address=address,
        resume=resume,
        retry_errored=retry_errored,
        break_lease=break_lease,
        simulate=simulation,
    )


def run_experiment(
    experiments_file: Path | str,
    name: str = "offline",
    address: str | None = None,
    *,
    echo: Callable[[str], None] | None = None,
    break_lease: bool = False,
    allow_errored: bool = False,
) -> RunOutcome:
    """Sweep -> evaluation of the winners -> report, each stage resuming where it stopped.

    `echo` receives each stage's lines as the stage ends (the sweep's summary, then each output's path).
    Raises ConfigError/DataError on bad input (before anything is written), EvaluationFailed when some
    evaluation jobs failed (the others' parts are kept; run again to retry them), LeaseHeld when another
    driver holds the run directory (the lease is held across the three stages), TrialsErrored when trials of
    the sweep raised: their configurations would be missing from the evaluation, so it does not start unless
    `allow_errored` (the report then says at its top which are missing).
    """
    from xstilts.search.evaluation.evaluate import run_evaluation
    from xstilts.search.lease import hold
    from xstilts.search.report.render import write_report
    from xstilts.search.sweep.driver import checked_run_dir, run_search

    say = echo or (lambda line: None)
    ctx = load_context(experiments_file, name, require_baseline=True)
    with hold(checked_run_dir(ctx), "run", break_lease=break_lease):
        result = run_search(ctx, address=address)
        summary = summary_lines(result)
        for line in [*summary, f"results: {result.run_dir.results_path}"]:
            say(line)
        if result.errors and not allow_errored:
            trials = {m["trial_id"] for m in result.milestones} | {e["trial_id"] for e in result.errors}
            raise TrialsErrored(
                f"{len(result.errors)} of {len(trials)} trial(s) errored, so the evaluation did not start: "
                f"rerun them with `xstilts sweep {experiments_file} -n {name} --resume --retry-errored`, then "
                "`xstilts run` again (or `xstilts run --allow-errored` to evaluate without them)"
            )
        evaluation = run_evaluation(result.run_dir, address=address)
        say(f"evaluation: {evaluation}")
        report = write_report(result.run_dir)
        say(f"report: {report}")
    return RunOutcome(result.run_dir.uri, result.run_dir.results_path, evaluation, str(report), summary, result)


def load_results(run_dir: Path | str) -> Results:
    """The sweep's milestones (results.parquet) and the evaluation's rows as pandas DataFrames; `run_dir` is a
    local path or an object-store URI."""
    rd = RunDir.open(run_dir)
    milestones = rd.read_results()
    if milestones is None:
        raise FileNotFoundError(f"{rd.results_path}: no sweep results here (run `xstilts sweep` first)")
    evaluation = rd.read_evaluation() if rd.has_evaluation() else pd.DataFrame()
    return Results(milestones, evaluation)
