"""Load a task split through `datasets`: from the hub by id, or from local files in the same schema."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from xstilts.tasks.registry import TaskSpec


class DataError(ValueError):
    """Data that is missing or unreadable; the message names the file."""


@dataclass(frozen=True)
class DataSource:
    """`hub` loads real data sets by id; `local` reads ROOT/<dataset id>/<config>/<split>.jsonl."""

    kind: str  # hub | local
    root: Path | None = None
    cache_dir: Path | None = None

    @property
    def label(self) -> str:
        return "hub" if self.kind == "hub" else "offline world"


def split_location(spec: TaskSpec, split: str, lang: str) -> tuple[str, str, str]:
    """Return (dataset id, config, split name) of one split of one language."""
    if spec.hub is None:
        raise DataError(f"task {spec.name!r} has no data")
    if split not in spec.hub.splits:
        raise DataError(f"task {spec.name!r} has no {split!r} split (has {sorted(spec.hub.splits)})")
    return spec.hub.dataset_id, spec.hub.config.format(lang=lang), spec.hub.splits[split]


def local_path(root: Path, spec: TaskSpec, split: str, lang: str) -> Path:
    """Return the local file that stands in for one hub split."""
    dataset_id, config, hf_split = split_location(spec, split, lang)
    return root / dataset_id / config / f"{hf_split}.jsonl"


def describe(spec: TaskSpec, split: str, lang: str, source: DataSource) -> str:
    """Where a split comes from, for error messages: the local file or the hub id, config and split."""
    if source.kind == "hub":
        dataset_id, config, hf_split = split_location(spec, split, lang)
        return f"{dataset_id}/{config}:{hf_split}"
    return str(local_path(Path(source.root), spec, split, lang))


def load_split(spec: TaskSpec, split: str, lang: str, source: DataSource):
    """Return a `datasets.Dataset` of one split with columns renamed to the internal names."""
    import datasets  # deferred: importing datasets costs ~0.7 s

    datasets.disable_progress_bars()
    dataset_id, config, hf_split = split_location(spec, split, lang)
    cache = str(source.cache_dir) if source.cache_dir else None
    if source.kind == "hub":
        ds = datasets.load_dataset(dataset_id, config, split=hf_split, cache_dir=cache)
    else:
        path = local_path(Path(source.root), spec, split, lang)
        if not path.is_file():
            raise DataError(f"{path}: file not found (task {spec.name}, {split} split, language {lang})")
        try:
            ds = datasets.load_dataset("json", data_files={"data": str(path)}, split="data", cache_dir=cache)
        except Exception as exc:  # datasets wraps JSON errors in several exception types
            raise DataError(f"{path}: unreadable as JSON lines ({type(exc).__name__})") from exc
    missing = [col for col in spec.columns.values() if col not in ds.column_names]
    if missing:
        where = path if source.kind != "hub" else f"{dataset_id}/{config}:{hf_split}"
        raise DataError(f"{where}: missing column(s) {missing} expected by task {spec.name}")
    ds = ds.select_columns(list(spec.columns.values()))
    return ds.rename_columns({hf: ours for ours, hf in spec.columns.items() if hf != ours})
