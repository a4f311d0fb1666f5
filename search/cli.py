"""The `xstilts` command: a thin layer that parses arguments and calls the library API."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Search English intermediate-task training for zero-shot cross-lingual transfer.")

EXPERIMENTS = typer.Argument(Path("experiments.yaml"), help="YAML file of named experiments.")
NAME = typer.Option("offline", "--name", "-n", help="Experiment name in the file.")

def _user_errors() -> tuple[type[Exception], ...]:
    from xstilts.search.config import ConfigError
    from xstilts.tasks.loading import DataError
    from xstilts.tasks.registry import UnknownNameError
    return (ConfigError, DataError, UnknownNameError, FileNotFoundError)


def _fail(exc: Exception, code: int = 2) -> None:
    """One line on stderr, exit 2 for bad input (1 for failed work that a rerun retries)."""
    typer.echo(f"xstilts: error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", err=True)
    raise typer.Exit(code)


@app.command()
def prepare(experiments: Path = EXPERIMENTS, name: str = NAME) -> None:
    """Generate the offline world and pretrain the offline encoder (cached; idempotent)."""
    from xstilts.search.config import load_experiment
    from xstilts.search.plan import make_plan

    try:
        exp, base = load_experiment(experiments, name)
        plan = make_plan(exp, base)
    except _user_errors() as exc:
        _fail(exc)
    typer.echo(f"data: {plan.source.label} ({plan.source.root or 'hub'})\nencoder: {plan.encoder}")


@app.command()
def tasks(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """List every task: name, role, type, source, languages (with resource groups), metric."""
    import json

    from rich.console import Console

    from xstilts.search.listing import task_records, task_table

    records = task_records()
    if as_json:
        typer.echo(json.dumps(records, indent=1))
    else:
        console = Console()
        Console(width=None if console.is_terminal else 200).print(task_table(records))


@app.command()
def sweep(experiments: Path = EXPERIMENTS, name: str = NAME,
          address: str = typer.Option(None, help="Address of an existing Ray cluster (default: start one)."),
          resume: bool = typer.Option(False, "--resume", help="Require an existing sweep to resume."),
          dry_run: bool = typer.Option(False, "--dry-run", help="List what the sweep would download; run nothing.")
          ) -> None:
    """Run the experiment's Ray Tune sweep; an interrupted sweep resumes where it stopped."""
    from xstilts.search.config import load_experiment
    from xstilts.search.results import RESULTS_NAME, summary_lines
    from xstilts.search.sweep import run_search

    try:
        exp, base = load_experiment(experiments, name)
        if dry_run:
            from xstilts.search.listing import planned_downloads

            if exp.source != "hub":
                typer.echo(f"source {exp.source!r}: nothing to download (local data)")
            for line in planned_downloads(exp) if exp.source == "hub" else []:
                typer.echo(line)
            return
        result = run_search(exp, base, name, address=address, resume=True if resume else None)
    except _user_errors() as exc:
        _fail(exc)
    for line in summary_lines(result):
        typer.echo(line)
    typer.echo(f"results: {result.experiment_dir / RESULTS_NAME}")


@app.command()
def run(experiments: Path = EXPERIMENTS, name: str = NAME,
        address: str = typer.Option(None, help="Address of an existing Ray cluster (default: start one).")) -> None:
    """The whole job: sweep, then evaluate its winners, then the report (each stage resumes where it stopped)."""
    from xstilts.search.config import ConfigError, load_experiment
    from xstilts.search.evaluate import EvaluationFailed, run_evaluation
    from xstilts.search.report import write_report
    from xstilts.search.results import RESULTS_NAME, summary_lines
    from xstilts.search.sweep import run_search

    try:
        exp, base = load_experiment(experiments, name)
        if "none" not in exp.intermediate.tasks:  # the report compares every winner with this baseline
            raise ConfigError(f"{experiments}: {name}.intermediate.tasks: `xstilts run` reports against the "
                              f"'none' baseline, so it must be listed (value: {exp.intermediate.tasks})")
        result = run_search(exp, base, name, address=address)
        for line in summary_lines(result):
            typer.echo(line)
        typer.echo(f"results: {result.experiment_dir / RESULTS_NAME}")
        typer.echo(f"evaluation: {run_evaluation(result.experiment_dir, address=address)}")
    except _user_errors() as exc:
        _fail(exc)
    except EvaluationFailed as exc:
        _fail(exc, code=1)
    try:
        path = write_report(result.experiment_dir)
    except (*_user_errors(), ValueError) as exc:  # the report's own checks (e.g. no rows of the split)
        _fail(exc)
    typer.echo(f"report: {path}")


@app.command()
def evaluate(experiment_dir: Path = typer.Argument(..., help="A sweep's experiment directory (runs/NAME)."),
             address: str = typer.Option(None, help="Address of an existing Ray cluster (default: start one).")
             ) -> None:
    """Fully evaluate the sweep's winners on the XTREME targets (Ray tasks; a rerun skips what is done)."""
    from xstilts.search.evaluate import EvaluationFailed, run_evaluation

    try:
        path = run_evaluation(experiment_dir, address=address)
    except _user_errors() as exc:
        _fail(exc)
    except EvaluationFailed as exc:
        _fail(exc, code=1)
    typer.echo(f"evaluation: {path}")


@app.command()
def report(experiment_dir: Path = typer.Argument(..., help="A sweep's experiment directory (runs/NAME)."),
           split: str = typer.Option("test", help="Which split's scores to report (test or dev).")) -> None:
    """Write EXPERIMENT_DIR/report/: XTREME scores vs the baseline, duration curves, robustness tables."""
    from xstilts.search.report import write_report

    try:
        path = write_report(experiment_dir, split=split)
    except (*_user_errors(), ValueError) as exc:
        _fail(exc)
    typer.echo(f"report: {path}")


@app.command()
def score(predictions: Path = typer.Argument(..., help="Directory of TASK/test-LANG.{tsv,json} predictions."),
          labels: Path = typer.Argument(..., help="Directory of the same layout with the gold labels."),
          xtreme: bool = typer.Option(False, "--xtreme", help="Read XTREME's official submission layout."),
          as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Score predictions as XTREME's official evaluate.py does: per language, per task, XTREME score."""
    import json

    from xstilts.search.score import format_xtreme, score_xtreme

    if not xtreme:
        _fail(ValueError("only --xtreme (XTREME's submission layout) is supported"))
    try:
        result = score_xtreme(predictions, labels)
    except (ValueError, OSError) as exc:
        _fail(exc)
    if as_json:
        typer.echo(json.dumps(result, indent=1))
    else:
        for line in format_xtreme(result):
            typer.echo(line)


def main() -> None:
    app(prog_name="xstilts")


if __name__ == "__main__":
    sys.exit(main())
