"""`RunDir`: the one place that knows an experiment directory's layout and reads and writes its files.

runs/NAME/
  xstilts-experiment.json    experiment metadata: name, config digest, base directory, config
  xstilts-ledger.jsonl       the sweep's journal (search/ledger.py): results, ASHA decisions, trial ends
  results.parquet            the sweep's milestones (search/results.py)
  experiment_state-*.json, run_trial_<id>_*/checkpoint_*/   Ray Tune's own state and trial checkpoints
  evaluation/winners.json, evaluation/parts/*.parquet, evaluation/evaluation.parquet, evaluation/encoders/
  report/                    the report (search/report.py)
Every whole-file write goes through `tasks.files.atomic_path`; the ledger is appended and fsynced.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from xstilts.tasks.files import atomic_path, write_text

EXPERIMENT_JSON = "xstilts-experiment.json"
LEDGER_NAME = "xstilts-ledger.jsonl"
RESULTS_NAME = "results.parquet"
EVAL_DIR = "evaluation"
EVAL_NAME = "evaluation.parquet"
REPORT_DIR = "report"


class RunDirError(FileNotFoundError):
    """An experiment directory without what the command needs (no sweep, no evaluation yet)."""


class RunDir:
    """An experiment directory: `RunDir(storage_path / name)`; picklable (Ray ships it to schedulers)."""

    def __init__(self, path: Path | str):
        self.path = Path(path).resolve()

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunDir) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    @property
    def name(self) -> str:
        return self.path.name

    def exists(self) -> bool:
        return self.path.exists()

    # -- experiment metadata ---------------------------------------------------------------------
    def has_meta(self) -> bool:
        return (self.path / EXPERIMENT_JSON).is_file()

    def write_meta(self, name: str, digest: str, base: Path, config: dict) -> None:
        """Record the experiment a sweep runs, so later commands and a changed config can be told apart."""
        write_text(
            self.path / EXPERIMENT_JSON,
            json.dumps({"name": name, "digest": digest, "base": str(Path(base).resolve()), "config": config}, indent=1),
        )

    def read_meta(self) -> dict[str, Any]:
        """The recorded metadata: name, digest, base (where the config's paths resolve) and config."""
        path = self.path / EXPERIMENT_JSON
        if not path.is_file():
            raise RunDirError(f"{path}: not found (is {self.path} a sweep's experiment directory?)")
        meta = json.loads(path.read_text(encoding="utf-8"))
        meta.setdefault("base", str(self.path.parent.parent))
        return meta

    # -- the ledger ------------------------------------------------------------------------------
    @property
    def ledger_path(self) -> Path:
        return self.path / LEDGER_NAME

    def has_ledger(self) -> bool:
        return self.ledger_path.is_file()

    def read_ledger(self) -> list[dict]:
        """The ledger's events in order; a line torn by a kill mid-write is dropped."""
        if not self.ledger_path.is_file():
            return []
        events = []
        for line in self.ledger_path.read_text(encoding="utf-8").splitlines():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # only the last line can be torn: appends are sequential
        return events

    def append_event(self, event: dict) -> None:
        """Append one event and fsync it before returning."""
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.ledger_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({**event, "time": time.time()}, default=str) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    # -- Ray Tune's state ------------------------------------------------------------------------
    def can_restore(self) -> bool:
        from ray import tune

        return self.path.is_dir() and tune.Tuner.can_restore(str(self.path))

    def known_trials(self) -> set[str]:
        """Trial ids in Ray's latest experiment snapshot (ledger trials outside it were orphaned by a kill)."""
        snapshots = sorted(self.path.glob("experiment_state-*.json"))
        if not snapshots:
            return set()
        state = json.loads(snapshots[-1].read_text(encoding="utf-8"))
        return {json.loads(trial)["trial_id"] for trial, _meta in state["trial_data"]}

    def trial_checkpoint(self, trial_id: str, step: int, read_step: Callable[[Path], int]) -> Path | None:
        """A kept Ray checkpoint of the trial at exactly `step` (read_step: a checkpoint's step), if any."""
        for ckpt in sorted(self.path.glob(f"run_trial_{trial_id}_*/checkpoint_*")):
            if (ckpt / "state.json").is_file() and read_step(ckpt) == step:
                return ckpt
        return None

    # -- sweep results ---------------------------------------------------------------------------
    @property
    def results_path(self) -> Path:
        return self.path / RESULTS_NAME

    def write_results(self, table: pa.Table) -> None:
        _write_table(table, self.results_path)

    def read_results(self) -> Any:
        """results.parquet as a pandas DataFrame, or None before the sweep wrote it."""
        import pandas as pd

        return pd.read_parquet(self.results_path) if self.results_path.is_file() else None

    # -- evaluation ------------------------------------------------------------------------------
    @property
    def evaluation_path(self) -> Path:
        return self.path / EVAL_DIR / EVAL_NAME

    def write_winners(self, winners: list[dict]) -> None:
        write_text(self.path / EVAL_DIR / "winners.json", json.dumps(winners, indent=1))

    def read_winners(self) -> list[dict]:
        path = self.path / EVAL_DIR / "winners.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []

    def part_path(self, winner: str, task: str, seed: int) -> Path:
        return self.path / EVAL_DIR / "parts" / f"{winner.replace('@', '_')}__{task}__seed{seed}.parquet"

    def has_part(self, winner: str, task: str, seed: int) -> bool:
        return self.part_path(winner, task, seed).is_file()

    def write_part(self, rows: list[dict], winner: str, task: str, seed: int) -> None:
        """One evaluation part (a winner x target task x seed), whole or not at all."""
        _write_table(pa.Table.from_pylist(rows), self.part_path(winner, task, seed))

    def parts(self) -> list[Path]:
        return sorted((self.path / EVAL_DIR / "parts").glob("*.parquet"))

    def collect_parts(self) -> pa.Table:
        """All parts in one table, written to evaluation/evaluation.parquet."""
        parts = self.parts()
        table = pa.concat_tables([pq.read_table(p) for p in parts]) if parts else pa.table({})
        _write_table(table, self.evaluation_path)
        return table

    def read_evaluation(self) -> Any:
        """evaluation.parquet as a pandas DataFrame; RunDirError before the evaluation wrote it."""
        import pandas as pd

        if not self.has_evaluation():
            raise RunDirError(f"{self.evaluation_path}: no evaluation yet (run `xstilts evaluate` first)")
        return pd.read_parquet(self.evaluation_path)

    def encoder_dir(self, winner: str) -> Path:
        """Where a winner's intermediate encoder is saved (save_pretrained) for its evaluation jobs."""
        return self.path / EVAL_DIR / "encoders" / winner

    def has_encoder(self, winner: str) -> bool:
        return (self.encoder_dir(winner) / "config.json").is_file()

    def has_evaluation(self) -> bool:
        return self.evaluation_path.is_file()

    # -- report ----------------------------------------------------------------------------------
    @property
    def report_dir(self) -> Path:
        return self.path / REPORT_DIR


def _write_table(table: pa.Table, path: Path) -> None:
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
