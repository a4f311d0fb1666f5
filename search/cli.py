"""The `xstilts` command: a thin layer that parses arguments and calls the library API."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import typer

from xstilts.search.interrupt import Interrupted

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Search English intermediate-task training for zero-shot cross-lingual transfer.",
)

EXPERIMENTS = typer.Argument(Path("experiments.yaml"), help="YAML file of named experiments.")
NAME = typer.Option("offline", "--name", "-n", help="Experiment name in the file.")
ADDRESS = typer.Option(None, help="Address of an existing Ray cluster (default: start one).")
RUN_DIR = typer.Argument(..., help="A sweep's experiment directory (runs/NAME, or s3://bucket/prefix/NAME).")
BREAK_LEASE = typer.Option(
    False,
    "--break-lease",
    help="Take over the run directory's object-store lease from a driver that cannot be seen to be dead "
    "(another host); says whose lease it breaks.",
)


def _user_errors() -> tuple[type[Exception], ...]:
    """Bad input (exit 2, one line): every InputError (config, data, names, storage, reports, exports, a held
    lease), and a path that does not exist."""
    from xstilts.core.errors import InputError

    return (InputError, FileNotFoundError)


@contextlib.contextmanager
def _progress() -> Iterator[None]:
    """Long steps (world, tokenizer, MLM pretraining, featurisation) show their progress in this block."""
    from xstilts.search.terminal import StageProgress
    from xstilts.tasks.reporting import reporting

    view = StageProgress()
    try:
        with reporting(view):
            yield
    finally:
        view.close()


def _echo(data: object, as_json: bool, lines: Callable[[], list[str]]) -> None:
    """`data` as JSON, or its `lines`."""
    import json

    if as_json:
        typer.echo(json.dumps(data, indent=1))
        return
    for line in lines():
        typer.echo(line)


def _fail(exc: Exception, code: int | None = None) -> None:
    """One line on stderr, then exit with `code`, else the error's own status (XstiltsError.exit_status: 2 for
    bad input, 1 for failed work that a rerun retries, a signal's for an interrupted sweep), else 2."""
    typer.echo(f"xstilts: error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", err=True)
    raise typer.Exit(code if code is not None else getattr(exc, "exit_status", 2))


@app.command()
def prepare(experiments: Path = EXPERIMENTS, name: str = NAME) -> None:
    """Generate the offline world and pretrain the offline encoder (cached; idempotent)."""
    from xstilts.search.pipeline import prepare_experiment

    try:
        with _progress():
            data, encoder = prepare_experiment(experiments, name)
    except _user_errors() as exc:
        _fail(exc)
    typer.echo(f"data: {data}\nencoder: {encoder}")


@app.command()
def tasks(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    source: Path = typer.Option(
        None, "--source", help="A directory of data in the hub schemas: say what it holds of each task."
    ),
) -> None:
    """List every task: name, role, type, source, languages (with resource groups), metric."""
    import json

    from rich.console import Console

    from xstilts.search.listing import task_records, task_table
    from xstilts.tasks.loading import DataSource
    from xstilts.tasks.registry import declared_registry

    if source is not None and not source.is_dir():
        _fail(FileNotFoundError(f"--source {source}: directory not found"))
    local = DataSource("local", source.resolve()) if source is not None else None
    records = task_records(declared_registry(), local)
    if as_json:
        typer.echo(json.dumps(records, indent=1))
    else:
        console = Console()
        Console(width=None if console.is_terminal else 200).print(task_table(records))


@app.command()
def sweep(
    experiments: Path = EXPERIMENTS,
    name: str = NAME,
    address: str = ADDRESS,
    resume: bool = typer.Option(False, "--resume", help="Require an existing sweep to resume."),
    retry_errored: bool = typer.Option(
        False, "--retry-errored", help="With --resume: rerun trials that raised, from their last checkpoint."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print each target's recipe and its optimizer steps, and what would be downloaded."
    ),
    break_lease: bool = BREAK_LEASE,
    simulate: str = typer.Option(
        None,
        "--simulate",
        metavar="CURVES",
        help="The real driver with trials that cost nothing (scores from `synthetic` learning curves or a finished "
        "run directory), on a local Ray of --gpus fake GPUs; written to <storage_path>/<name>.simulated.",
    ),
    gpus: int = typer.Option(64, "--gpus", min=1, help="With --simulate: the fake GPUs the local Ray declares."),
) -> None:
    """Run the experiment's Ray Tune sweep; an interrupted sweep resumes where it stopped."""
    from xstilts.search.sweep.results import summary_lines

    try:
        if dry_run:
            for line in _dry_run(experiments, name):
                typer.echo(line)
            return
        from xstilts.search.pipeline import sweep_experiment

        with _progress():
            result = sweep_experiment(
                experiments,
                name,
                address,
                resume=True if resume or retry_errored else None,
                retry_errored=retry_errored,
                break_lease=break_lease,
                simulate=simulate,
                gpus=gpus,
            )
    except _user_errors() as exc:
        _fail(exc)
    except Interrupted as exc:
        _fail(exc)
    for line in summary_lines(result):
        typer.echo(line)
    typer.echo(f"results: {result.run_dir.results_path}")


def _dry_run(experiments: Path, name: str) -> list[str]:
    from xstilts.search.config import load_context
    from xstilts.search.listing import planned_downloads
    from xstilts.search.plan import resolve_source
    from xstilts.search.stages import recipe_lines

    ctx = load_context(experiments, name)
    exp, registry = ctx.exp, ctx.registry
    source = resolve_source(ctx, prepare=False)
    recipes = recipe_lines(exp, registry, name, source if exp.source != "offline" or source.generated else None)
    if exp.source != "hub":
        return [*recipes, f"source {exp.source!r}: nothing to download (local data)"]
    return [*recipes, *planned_downloads(exp, registry)]


@app.command()
def run(
    experiments: Path = EXPERIMENTS,
    name: str = NAME,
    address: str = ADDRESS,
    break_lease: bool = BREAK_LEASE,
    allow_errored: bool = typer.Option(
        False,
        "--allow-errored",
        help="Evaluate and report even though some trials raised (the report names the missing configurations); "
        "otherwise the run stops after the sweep.",
    ),
) -> None:
    """The whole job: sweep, then evaluate its winners, then the report (each stage resumes where it stopped)."""
    from xstilts.search.evaluation.evaluate import EvaluationFailed
    from xstilts.search.pipeline import TrialsErrored, run_experiment

    try:
        with _progress():
            run_experiment(
                experiments, name, address, echo=typer.echo, break_lease=break_lease, allow_errored=allow_errored
            )
    except _user_errors() as exc:
        _fail(exc)
    except Interrupted as exc:
        _fail(exc)
    except (EvaluationFailed, TrialsErrored) as exc:
        _fail(exc)


@app.command()
def evaluate(experiment_dir: str = RUN_DIR, address: str = ADDRESS, break_lease: bool = BREAK_LEASE) -> None:
    """Fully evaluate the sweep's winners on the XTREME targets (Ray tasks; a rerun skips what is done)."""
    from xstilts.search.evaluation.evaluate import EvaluationFailed, run_evaluation
    from xstilts.search.rundir import RunDir

    try:
        with _progress():
            path = run_evaluation(RunDir.open(experiment_dir), address=address, break_lease=break_lease)
    except _user_errors() as exc:
        _fail(exc)
    except EvaluationFailed as exc:
        _fail(exc)
    typer.echo(f"evaluation: {path}")


@app.command()
def report(
    experiment_dir: str = RUN_DIR,
    split: str = typer.Option("test", help="Which split's scores to report (test or dev)."),
    out: Path = typer.Option(None, "--out", help="Write the report to this local directory instead."),
) -> None:
    """Write EXPERIMENT_DIR/report/ (or --out): XTREME scores vs the baseline, duration curves, robustness tables."""
    from xstilts.search.report.render import write_report
    from xstilts.search.rundir import RunDir

    try:
        path = write_report(RunDir.open(experiment_dir), out, split=split)
    except _user_errors() as exc:
        _fail(exc)
    typer.echo(f"report: {path}")


@app.command()
def export(
    experiment_dir: str = RUN_DIR,
    winner: str = typer.Argument(None, help="A winner's name (e.g. mnli@best); see --list."),
    out: Path = typer.Argument(None, help="A new or empty directory to write the encoder, tokenizer and card to."),
    list_: bool = typer.Option(False, "--list", help="List the winners that can be exported."),
) -> None:
    """Write a winner's encoder and tokenizer (save_pretrained) with a model card, for any Hugging Face tool."""
    from xstilts.search.evaluation.export import ExportError, export_lines, export_winner
    from xstilts.search.rundir import RunDir

    try:
        run_dir = RunDir.open(experiment_dir)
        if list_:
            for line in export_lines(run_dir):
                typer.echo(line)
            return
        if winner is None or out is None:
            raise ExportError("give WINNER and OUT (or --list to see the winners)")
        typer.echo(f"exported: {export_winner(run_dir, winner, out)}")
    except _user_errors() as exc:
        _fail(exc)


@app.command()
def status(experiment_dir: str = RUN_DIR, as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Where a sweep and its evaluation stand, from the run directory alone (no Ray; safe while it runs)."""
    from xstilts.search.rundir import RunDir
    from xstilts.search.status import run_status, status_lines

    try:
        state = run_status(RunDir.open(experiment_dir))
    except _user_errors() as exc:
        _fail(exc)
    _echo(state, as_json, lambda: status_lines(state))


@app.command()
def score(
    predictions: Path = typer.Argument(..., help="Directory of TASK/test-LANG.{tsv,json} predictions."),
    labels: Path = typer.Argument(..., help="Directory of the same layout with the gold labels."),
    xtreme: bool = typer.Option(False, "--xtreme", help="Read XTREME's official submission layout."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Score predictions as XTREME's official evaluate.py does: per language, per task, XTREME score."""
    from xstilts.tasks.submission import format_xtreme, score_xtreme

    if not xtreme:
        _fail(ValueError("only --xtreme (XTREME's submission layout) is supported"))
    try:
        result = score_xtreme(predictions, labels)
    except (ValueError, OSError) as exc:
        _fail(exc)
    _echo(result, as_json, lambda: format_xtreme(result))


def _one_line_warnings() -> None:
    """A ConfigWarning is one line on stderr, once per message (Python's default shows each once per place)."""
    import warnings

    from xstilts.search.config import ConfigWarning

    shown = warnings.showwarning
    if getattr(shown, "xstilts", False):
        return

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, ConfigWarning):
            typer.echo(f"xstilts: warning: {message}", err=True)
        else:
            shown(message, category, filename, lineno, file, line)

    show.xstilts = True  # type: ignore[attr-defined]
    warnings.showwarning = show
    warnings.simplefilter("once", ConfigWarning)


@app.callback()
def _setup() -> None:
    _one_line_warnings()
    _featurisation_lines()


def _featurisation_lines() -> None:
    """The rows each split loses to featurisation (truncated, dropped, unanswerable), one line each on stderr
    when the split is first featurised; the run's provenance records them on every run."""
    import logging

    logger = logging.getLogger("xstilts.features")
    if logger.handlers:  # set up once per process (tests invoke the app many times)
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("xstilts: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def main() -> None:
    app(prog_name="xstilts")


if __name__ == "__main__":
    main()
