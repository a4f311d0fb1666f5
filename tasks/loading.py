"""Load a task split through `datasets`: from the hub by id, or from local files in the same schema.

Local layout (the offline world writes it; real downloads can be arranged the same way):
ROOT/<dataset id>/<config>/<split>.jsonl, one file per part of a 'a+b' split expression. The two
sources that are not on the hub keep their own formats: CCGbank (ROOT/ccgbank/<split>.txt, jiant's
'tokens TAB tags' lines) and BUCC 2018 as XTREME downloads it (ROOT/bucc2018/<xx>-en.<split>.<xx|en|gold>).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from xstilts.tasks.languages import placeholders
from xstilts.tasks.registry import Location, TaskSpec


class DataError(ValueError):
    """Data that is missing or unreadable; the message names the file."""


@dataclass(frozen=True)
class DataSource:
    """`hub` loads real data sets by id; `local` reads files under `root` in the same schemas."""

    kind: str  # hub | local
    root: Path | None = None
    cache_dir: Path | None = None

    @property
    def label(self) -> str:
        return "hub" if self.kind == "hub" else "offline world"


def location(spec: TaskSpec, split: str, lang: str) -> tuple[Location, str | None]:
    """Return the split's location and its config with the language filled in."""
    if split not in spec.sources:
        raise DataError(f"task {spec.name!r} has no {split!r} split (has {sorted(spec.sources)})")
    loc = spec.sources[split]
    return loc, loc.config.format(**placeholders(lang)) if loc.config else None


def local_paths(root: Path, spec: TaskSpec, split: str, lang: str) -> list[Path]:
    """Return the local file(s) that stand in for one hub split."""
    loc, config = location(spec, split, lang)
    base = Path(root) / loc.dataset_id / (config or "")
    if spec.adapter == "ccg":
        return [Path(root) / loc.dataset_id / f"{loc.split}.txt"]
    return [base / f"{part}.jsonl" for part in loc.split.split("+")]


def describe(spec: TaskSpec, split: str, lang: str, source: DataSource) -> str:
    """Where a split comes from, for messages: the local file(s) or hub id, config and split."""
    if source.kind == "hub":
        loc, config = location(spec, split, lang)
        return f"{loc.dataset_id}/{config}:{loc.split}" if config else f"{loc.dataset_id}:{loc.split}"
    return ", ".join(str(p) for p in local_paths(Path(source.root), spec, split, lang))


def _load_raw(spec: TaskSpec, split: str, lang: str, source: DataSource):
    import datasets  # deferred: importing datasets costs ~0.7 s

    datasets.disable_progress_bars()
    loc, config = location(spec, split, lang)
    cache = str(source.cache_dir) if source.cache_dir else None
    if source.kind == "hub":
        if loc.local_only:
            raise DataError(f"task {spec.name}: {loc.dataset_id} is not on the hub; set `source` to a directory "
                            "holding its files")
        return datasets.load_dataset(loc.dataset_id, config, split=loc.split, cache_dir=cache)
    paths = local_paths(Path(source.root), spec, split, lang)
    for path in paths:
        if not path.is_file():
            raise DataError(f"{path}: file not found (task {spec.name}, {split} split, language {lang})")
    builder = "text" if spec.adapter == "ccg" else "json"
    try:
        return datasets.load_dataset(builder, data_files={"data": [str(p) for p in paths]}, split="data",
                                     cache_dir=cache)
    except Exception as exc:  # datasets wraps parse errors in several exception types
        raise DataError(f"{describe(spec, split, lang, source)}: unreadable as {builder} "
                        f"({type(exc).__name__})") from exc


def load_split(spec: TaskSpec, split: str, lang: str, source: DataSource):
    """Return a `datasets.Dataset` of one split with the internal columns of the task's kind."""
    from xstilts.tasks.adapters import ADAPTERS

    ds = _load_raw(spec, split, lang, source)
    loc, _ = location(spec, split, lang)
    if loc.id_prefix:
        prefix = loc.id_prefix.format(**placeholders(lang))
        ds = ds.filter(lambda row: row["id"].startswith(prefix))
    needed = list(spec.columns.values()) if spec.adapter == "columns" else []
    missing = [col for col in needed if col not in ds.column_names]
    if missing:
        raise DataError(f"{describe(spec, split, lang, source)}: missing column(s) {missing} expected by task "
                        f"{spec.name}")
    try:
        return ADAPTERS[spec.adapter](ds, spec)
    except (KeyError, ValueError, TypeError) as exc:
        raise DataError(f"{describe(spec, split, lang, source)}: rows do not fit task {spec.name} "
                        f"({type(exc).__name__}: {exc})") from exc


def read_bucc(root: Path, spec: TaskSpec, split: str, lang: str) -> tuple[dict, dict, set]:
    """BUCC 2018 as XTREME downloads it: xx sentences, en sentences ('id TAB text') and gold id pairs."""
    loc, config = location(spec, split, lang)
    stem = Path(root) / loc.dataset_id / f"{config}.{loc.split}"

    def read(suffix: str) -> list[list[str]]:
        path = Path(f"{stem}.{suffix}")
        if not path.is_file():
            raise DataError(f"{path}: file not found (task {spec.name}, {split} split, language {lang})")
        rows = []
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            parts = line.split("\t")
            if len(parts) != 2:
                raise DataError(f"{path}:{n}: expected 'id TAB text', got {line[:40]!r}")
            rows.append(parts)
        return rows

    src, tgt = dict(read(lang)), dict(read("en"))
    gold = {(a, b) for a, b in read("gold")}
    return src, tgt, gold
