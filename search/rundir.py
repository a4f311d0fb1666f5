"""`RunDir`: the one place that knows an experiment directory's layout and reads and writes its files, on any
filesystem `pyarrow.fs` opens (a local or NFS path, `s3://bucket/prefix`, `gs://…`; see core/storage.py).

NAME/
  xstilts-experiment.json    experiment metadata: name, config digest, base directory, config
  xstilts-ledger.jsonl       the journal (search/journal.py; its files: search/ledger_files.py), fsynced
  xstilts-ledger/            the same journal on an object store (no append there): one object per event
  results.parquet            the sweep's milestones (search/sweep/results.py)
  experiment_state-*.json, run_trial_<id>_*/checkpoint_*/   Ray Tune's own state and trial checkpoints
  evaluation/winners.json, evaluation/parts/*.parquet, evaluation/evaluation.parquet, evaluation/encoders/
  report/                    the report (search/report/render.py)
Every write goes through the Location's safe writer (temp + rename locally, one whole-object PUT on an object
store); Ray Tune is handed the same filesystem (`storage_filesystem`).
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from xstilts.core.errors import InputError
from xstilts.core.files import build_lock
from xstilts.core.storage import Location, check_reachable, location, node_cache
from xstilts.search.config import Experiment, ExperimentContext, experiment_from_record
from xstilts.search.ledger_files import LedgerFiles
from xstilts.tasks.loading import WORLD_LABEL, DataSource
from xstilts.tasks.registry import TaskSpec, declared_registry

EXPERIMENT_JSON = "xstilts-experiment.json"
RESULTS_NAME = "results.parquet"
EVAL_DIR = "evaluation"
EVAL_NAME = "evaluation.parquet"
REPORT_DIR = "report"


class RunDirError(InputError, FileNotFoundError):
    """An experiment directory without what the command needs (no sweep, no evaluation yet)."""


class RunDir(LedgerFiles):
    """An experiment directory: `RunDir(storage_path / name)` or `RunDir("s3://bucket/prefix/name?…")`;
    picklable (Ray ships it to schedulers and jobs)."""

    def __init__(self, where: Path | str | Location):
        self.loc = where if isinstance(where, Location) else location(where)
        self._events: dict[str, dict | None] = {}  # object-store ledger: object name -> event (None: invalid)
        self._meta: dict[str, Any] | None = None  # the experiment record, read once (it never changes)
        self._trial_dirs: list[str] = []  # the trials' directories when last listed (`trial_dirs`)
        self._last_ns = 0

    @classmethod
    def open(cls, where: Path | str) -> RunDir:
        """A run directory named by the user; an object store is checked to answer and to have the bucket
        (StorageError, one line)."""
        run_dir = cls(where)
        check_reachable(run_dir.loc)
        return run_dir

    def __getstate__(self) -> dict:
        return {"loc": self.loc}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["loc"])  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"RunDir({self.loc.uri!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunDir) and other.loc.uri == self.loc.uri

    def __hash__(self) -> int:
        return hash(self.loc.uri)

    @property
    def uri(self) -> str:
        """How the directory is named to the user: a local path or `s3://bucket/prefix/name`."""
        return self.loc.uri

    @property
    def local(self) -> bool:
        return self.loc.local

    @property
    def path(self) -> Path:
        """The local path of a run directory on a local (or NFS) filesystem."""
        if not self.local:
            raise RunDirError(f"{self.uri}: not on a local filesystem")
        return Path(self.loc.path)

    @property
    def name(self) -> str:
        return self.loc.uri.rstrip("/").rsplit("/", 1)[-1]

    def exists(self) -> bool:
        return self.loc.exists()

    def where(self, rel: str) -> str:
        """The user-facing name of a file of this directory."""
        return f"{self.uri}/{rel}"

    # -- experiment metadata ---------------------------------------------------------------------
    def has_meta(self) -> bool:
        return self.loc.is_file(EXPERIMENT_JSON)

    def write_meta(self, name: str, digest: str, base: Path, config: dict) -> None:
        """Record the experiment a sweep runs, so later commands and a changed config can be told apart."""
        self.loc.write_text(
            EXPERIMENT_JSON,
            json.dumps({"name": name, "digest": digest, "base": str(Path(base).resolve()), "config": config}, indent=1),
        )
        self._meta = None

    def write_provenance(self, stage: str, record: dict[str, Any]) -> None:
        """What a stage (`sweep`, `evaluation`) read and how: data source, encoder dtypes, rows per split."""
        self.loc.write_text(f"provenance-{stage}.json", json.dumps(record, indent=1, default=str))

    def read_provenance(self, stage: str) -> dict[str, Any]:
        """The stage's provenance record; empty when the stage has not written one."""
        rel = f"provenance-{stage}.json"
        return json.loads(self.loc.read_text(rel)) if self.loc.is_file(rel) else {}

    def source_label(self) -> str:
        """The run's data source as its rows label it (`hub`, `offline world`, `local data (DIR)`): from the
        sweep's provenance, else (a run recorded before provenance existed) from the recorded config."""
        label = self.read_provenance("sweep").get("data source")
        if label:
            return str(label)
        source = self.read_experiment().source
        if source in ("hub", "offline"):
            return "hub" if source == "hub" else WORLD_LABEL
        return DataSource("local", self.base / source).label

    def read_experiment(self, registry: dict[str, TaskSpec] | None = None) -> Experiment:
        """The recorded experiment, validated again against `registry` (default: the declared tasks)."""
        return experiment_from_record(self.read_meta()["config"], registry or declared_registry())

    def context(self) -> ExperimentContext:
        """The experiment this directory ran, as the context every later command (evaluate, report, status,
        export) works from: the recorded experiment, its base directory and name, the declared tasks."""
        registry = declared_registry()
        meta = self.read_meta()
        exp = experiment_from_record(meta["config"], registry)
        return ExperimentContext(exp, Path(meta["base"]), str(meta.get("name", self.name)), registry)

    @property
    def base(self) -> Path:
        """Where the recorded config's relative paths resolve (the experiments file's directory)."""
        return Path(self.read_meta()["base"])

    def read_meta(self) -> dict[str, Any]:
        """The recorded metadata: name, digest, base (where the config's paths resolve) and config."""
        if not self.has_meta():
            raise RunDirError(
                f"{self.where(EXPERIMENT_JSON)}: not found (is {self.uri} a sweep's experiment directory?)"
            )
        if self._meta is None:
            meta = json.loads(self.loc.read_text(EXPERIMENT_JSON))
            if self.local:
                meta.setdefault("base", str(self.path.parent.parent))
            self._meta = meta
        return copy.deepcopy(self._meta)

    def know_trial_dir(self, name: str) -> None:
        """Remember a trial's directory name (Ray Tune's `trial.storage.trial_dir_name`), so that finding
        its checkpoints lists only that directory."""
        if name not in self._trial_dirs:
            self._trial_dirs.append(name)

    # -- Ray Tune's state ------------------------------------------------------------------------
    def ray_storage(self) -> tuple[str, pafs.FileSystem | None]:
        """(storage_path, storage_filesystem) for Ray Tune: the parent directory, and the filesystem when it
        is not the local one (Ray wants a scheme-less path with a filesystem)."""
        parent = self.loc.path.rstrip("/").rsplit("/", 1)[0]
        return (str(self.path.parent), None) if self.local else (parent, self.loc.fs)

    def can_restore(self) -> bool:
        from ray import tune

        if not self.exists():
            return False
        if self.local:
            return self.path.is_dir() and tune.Tuner.can_restore(str(self.path))
        return tune.Tuner.can_restore(self.loc.path, storage_filesystem=self.loc.fs)

    def restore_args(self) -> tuple[str, dict]:
        """The path and filesystem keyword to give `tune.Tuner.restore`."""
        return (str(self.path), {}) if self.local else (self.loc.path, {"storage_filesystem": self.loc.fs})

    def known_trials(self) -> set[str]:
        """Trial ids in Ray's latest experiment snapshot (ledger trials outside it were orphaned by a kill)."""
        return self.snapshot_trials() or set()

    def snapshot_trials(self) -> set[str] | None:
        """Trial ids in Ray's latest experiment snapshot, or None when Ray has written none."""
        snapshots = [i.base_name for i in self.loc.listdir() if i.base_name.startswith("experiment_state-")]
        if not snapshots:
            return None
        state = json.loads(self.loc.read_text(sorted(s for s in snapshots if s.endswith(".json"))[-1]))
        return {json.loads(trial)["trial_id"] for trial, _meta in state["trial_data"]}

    def trial_dirs(self, trial_id: str) -> list[str]:
        """The directories Ray Tune made for the trial (`<trainable>_<id>_<index>_…`: `run_trial_…`, or
        `simulated_trial_…` in a simulated sweep). The run directory's listing is remembered, so a sweep's
        per-result work lists it again only when a trial it has not seen reports."""
        mine = re.compile(rf"^[A-Za-z]\w*?_{re.escape(trial_id)}_\d+(_|$)")
        found = [name for name in self._trial_dirs if mine.match(name)]
        if not found:
            self._trial_dirs = [e.base_name for e in self.loc.listdir() if e.type == pafs.FileType.Directory]
            found = [name for name in self._trial_dirs if mine.match(name)]
        return found

    def trial_checkpoints(self, trial_id: str) -> list[tuple[str, int]]:
        """The trial's checkpoints Ray kept, as (path relative to this directory, step in its state.json)."""
        found = []
        for trial in self.trial_dirs(trial_id):
            for ckpt in self.loc.listdir(trial):
                rel = f"{trial}/{ckpt.base_name}"
                if ckpt.base_name.startswith("checkpoint_") and self.loc.is_file(f"{rel}/state.json"):
                    found.append((rel, int(json.loads(self.loc.read_text(f"{rel}/state.json"))["step"])))
        return found

    def trial_checkpoint(self, trial_id: str, step: int) -> str | None:
        """A kept Ray checkpoint of the trial at exactly `step`, relative to this directory, if any."""
        return next((rel for rel, at in self.trial_checkpoints(trial_id) if at == step), None)

    def remove(self, rel: str) -> None:
        """Delete a directory of this run (a pruned checkpoint)."""
        self.loc.delete_dir(rel)

    @contextmanager
    def local_copy(self, rel: str) -> Iterator[Path]:
        """A directory of this run as a local path for the duration (a temporary copy off an object store)."""
        if self.local:
            yield self.path / rel
            return
        with tempfile.TemporaryDirectory(prefix="xstilts-ckpt-") as tmp:
            yield self.loc.get_directory(rel, Path(tmp) / "copy")

    # -- sweep results ---------------------------------------------------------------------------
    @property
    def results_path(self) -> str:
        return self.where(RESULTS_NAME)

    def has_results(self) -> bool:
        return self.loc.is_file(RESULTS_NAME)

    def write_results(self, table: pa.Table) -> None:
        self._write_table(table, RESULTS_NAME)

    def read_results(self) -> Any:
        """results.parquet as a pandas DataFrame, or None before the sweep wrote it."""
        return self._read_table(RESULTS_NAME).to_pandas() if self.has_results() else None

    # -- evaluation ------------------------------------------------------------------------------
    @property
    def evaluation_path(self) -> str:
        return self.where(f"{EVAL_DIR}/{EVAL_NAME}")

    def write_winners(self, winners: list[dict], rule: dict[str, Any]) -> None:
        """The evaluation's winners and the rule that chose them (`selection.Rule`)."""
        self.loc.write_text(f"{EVAL_DIR}/winners.json", json.dumps({"rule": rule, "winners": winners}, indent=1))

    def _winners_record(self) -> dict[str, Any]:
        rel = f"{EVAL_DIR}/winners.json"
        record = json.loads(self.loc.read_text(rel)) if self.loc.is_file(rel) else {}
        return {"winners": record} if isinstance(record, list) else record  # a list: written before the rule was

    def read_winners(self) -> list[dict]:
        return self._winners_record().get("winners", [])

    def read_winner_rule(self) -> dict[str, Any] | None:
        """The rule the evaluation recorded with its winners (None: not evaluated, or recorded without it)."""
        return self._winners_record().get("rule")

    @staticmethod
    def part_name(winner: str, task: str, seed: int) -> str:
        return f"{EVAL_DIR}/parts/{winner.replace('@', '_')}__{task}__seed{seed}.parquet"

    def has_part(self, winner: str, task: str, seed: int) -> bool:
        return self.loc.is_file(self.part_name(winner, task, seed))

    def write_part(self, rows: list[dict], winner: str, task: str, seed: int) -> None:
        """One evaluation part (a winner x target task x seed), whole or not at all."""
        self._write_table(pa.Table.from_pylist(rows), self.part_name(winner, task, seed))

    def parts(self) -> list[str]:
        """The parts written so far, as paths relative to this directory."""
        return [
            f"{EVAL_DIR}/parts/{i.base_name}"
            for i in self.loc.listdir(f"{EVAL_DIR}/parts")
            if i.type == pafs.FileType.File and i.base_name.endswith(".parquet") and not i.base_name.startswith(".")
        ]

    def collect_parts(self) -> pa.Table:
        """All parts in one table, written to evaluation/evaluation.parquet."""
        parts = self.parts()
        # "default" promotion: a part whose column is all null (no chance level on any of its rows) or missing
        # (a part written before the column existed) takes the other parts' type, filled with nulls
        tables = [self._read_table(p) for p in parts]
        table = pa.concat_tables(tables, promote_options="default") if parts else pa.table({})
        self._write_table(table, f"{EVAL_DIR}/{EVAL_NAME}")
        return table

    def read_evaluation(self) -> Any:
        """evaluation.parquet as a pandas DataFrame; RunDirError before the evaluation wrote it."""
        if not self.has_evaluation():
            raise RunDirError(f"{self.evaluation_path}: no evaluation yet (run `xstilts evaluate` first)")
        return self._read_table(f"{EVAL_DIR}/{EVAL_NAME}").to_pandas()

    def has_evaluation(self) -> bool:
        return self.loc.is_file(f"{EVAL_DIR}/{EVAL_NAME}")

    @staticmethod
    def encoder_name(winner: str) -> str:
        return f"{EVAL_DIR}/encoders/{winner}"

    def has_encoder(self, winner: str) -> bool:
        """Whether the winner's intermediate encoder (save_pretrained) was written whole for its jobs."""
        return self.loc.has_directory(self.encoder_name(winner))

    def put_encoder(self, local_dir: Path, winner: str) -> None:
        self.loc.put_directory(local_dir, self.encoder_name(winner))

    def encoder_on_node(self, winner: str) -> str:
        """A local path of the winner's encoder: the run directory's own on a local filesystem, else a copy
        made once per node (under a file lock, renamed into place) in the node cache."""
        if self.local:
            return str(self.path / self.encoder_name(winner))
        key = hashlib.sha256(self.uri.encode()).hexdigest()[:16]
        target = node_cache("encoders", key, winner)
        with build_lock(target):
            if not target.is_dir():
                self.loc.get_directory(self.encoder_name(winner), target)
        return str(target)

    # -- report ----------------------------------------------------------------------------------
    @property
    def report_dir(self) -> str:
        return self.where(REPORT_DIR)

    def put_report(self, local_dir: Path) -> str:
        """Copy a report written in `local_dir` into RUN_DIR/report/, file by file, report.md last; returns
        where report.md is."""
        files = sorted((p for p in Path(local_dir).rglob("*") if p.is_file()), key=lambda p: p.name == "report.md")
        for file in files:
            self.loc.write_bytes(f"{REPORT_DIR}/{file.relative_to(local_dir).as_posix()}", file.read_bytes())
        return self.where(f"{REPORT_DIR}/report.md")

    # -- tables ----------------------------------------------------------------------------------
    def _write_table(self, table: pa.Table, rel: str) -> None:
        with self.loc.writing(rel) as tmp:
            pq.write_table(table, tmp)

    def _read_table(self, rel: str) -> pa.Table:
        return pq.read_table(self.loc.join(rel).path, filesystem=self.loc.fs)
