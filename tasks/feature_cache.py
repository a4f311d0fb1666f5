"""Featurised splits as Arrow files, written once per cache directory and memory-mapped by every process.

A split's features are keyed by a digest of everything they depend on: the task's declaration, split and
language, the source files' content (or, for the hub, the loaded dataset's fingerprint), the tokenizer,
the tag inventory, and this package's featurisation code. The first process to need them takes a file
lock, featurises with `datasets.Dataset.map` (batched, int32 ids) into a temporary directory and renames it
into place; every later process, and one that waited on the lock, only maps the files. Trials on one node
therefore share one copy in the page cache instead of holding Python lists each (about 160 bytes per token
measured before; int32 Arrow ids take 4).

The counts the featurisers make while featurising (rows, dropped, truncated, ...: tasks/features.py) are
written into the cache's features.json beside the tables, so that a cache hit has them too (`FeatureTable.stats`),
and logged once, when the split is featurised, on the `xstilts.features` logger.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import weakref
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from xstilts.core.files import atomic_path, build_lock, write_text
from xstilts.tasks.feature_kit import Features
from xstilts.tasks.features import Part, feature_parts
from xstilts.tasks.loading import DataError, DataSource, describe, load_split, source_digest
from xstilts.tasks.registry import TaskSpec
from xstilts.tasks.reporting import report

FEATURES_VERSION = 2  # bump when the layout of the cached tables changes (2: features.json holds `stats`)
# The featurisation code is part of every key: editing it invalidates the caches instead of reusing them.
CODE_FILES = ("features.py", "adapters.py", "loading.py", "feature_cache.py")
META_FILE = "features.json"
BATCH_ROWS = 1000  # rows featurised per `map` batch: bounds the Python lists alive at once
LOSSES = ("dropped", "truncated")  # the counts every split has (with `rows`); a featuriser may add more
log = logging.getLogger("xstilts.features")


class Column(Sequence):
    """One column of a memory-mapped Arrow table: rows are read when asked for, never the whole column."""

    def __init__(self, array: pa.ChunkedArray):
        self.array = array

    def __len__(self) -> int:
        return len(self.array)

    def __getitem__(self, i):
        if isinstance(i, slice):
            start, stop, step = i.indices(len(self))
            if step != 1:
                return self.take(range(start, stop, step))
            return self.array.slice(start, max(0, stop - start)).to_pylist()
        n = len(self.array)
        if not -n <= i < n:
            raise IndexError(f"row {i} of a column of {n}")
        return self.array[i % n].as_py()

    def __iter__(self) -> Iterator[Any]:
        for start in range(0, len(self), 4096):
            yield from self.array.slice(start, 4096).to_pylist()

    def take(self, rows: Sequence[int]) -> list:
        """The values of `rows`, in that order."""
        return self.array.take(pa.array(rows, type=pa.int64())).to_pylist()

    def lengths(self) -> np.ndarray:
        """Each row's length (a row of lists, as multiple choice has: its longest list)."""
        out = []
        for chunk in self.array.chunks:
            inner = chunk.type.value_type if pa.types.is_list(chunk.type) else None
            if inner is not None and pa.types.is_list(inner):
                sizes = pc.list_value_length(pc.list_flatten(chunk)).to_numpy(zero_copy_only=False)
                offsets = chunk.offsets.to_numpy() - chunk.offsets[0].as_py()
                starts = offsets[:-1][offsets[:-1] < offsets[1:]]
                longest = np.zeros(len(chunk), dtype=np.int64)
                longest[offsets[:-1] < offsets[1:]] = np.maximum.reduceat(sizes, starts) if len(starts) else []
                out.append(longest)
            else:
                out.append(pc.list_value_length(chunk).to_numpy(zero_copy_only=False).astype(np.int64))
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def take(column: Sequence, rows: Sequence[int]) -> list:
    """Rows of a feature column, from a mapped `Column` or an in-memory list alike."""
    return column.take(rows) if isinstance(column, Column) else [column[i] for i in rows]


def lengths(column: Sequence) -> np.ndarray:
    """Each row's length (its longest list, for rows of lists), of a mapped `Column` or a list."""
    if isinstance(column, Column):
        return column.lengths()
    return np.array(
        [max(map(len, r)) if len(r) and isinstance(r[0], (list, np.ndarray)) else len(r) for r in column],
        dtype=np.int64,
    )


class FeatureTable(Mapping):
    """A featurised split as memory-mapped Arrow tables, one per part, read as a mapping of columns, with the
    counts made while featurising it (`stats`: rows, dropped, truncated, and the kind's own counts)."""

    def __init__(self, tables: Mapping[str, Any], path: Path | None = None, stats: Mapping[str, int] | None = None):
        self.tables, self.path = dict(tables), path
        self.stats: dict[str, int] = dict(stats or {})
        self._columns: dict[str, Column] = {}
        for table in self.tables.values():
            for name in table.column_names:
                self._columns[name] = Column(table.data.table.column(name))

    def __getitem__(self, name: str) -> Column:
        return self._columns[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._columns)

    def __len__(self) -> int:
        return len(self._columns)

    @property
    def nbytes(self) -> int:
        """Bytes of the mapped tables (what the page cache holds once, for every process on the node)."""
        return sum(table.data.nbytes for table in self.tables.values())


def _compact(values: list) -> Any:
    """Int columns as int32 numpy (Arrow keeps the type), nested int lists as lists of int32 arrays; others
    as they are."""
    probe = next((v for v in values if v is not None and not (isinstance(v, list) and not v)), None)
    if isinstance(probe, int) and not isinstance(probe, bool):
        return np.asarray(values, dtype=np.int32)
    if isinstance(probe, list) and isinstance(probe[0], int):
        return [np.asarray(v, dtype=np.int32) for v in values]
    if isinstance(probe, list) and isinstance(probe[0], list) and probe[0] and isinstance(probe[0][0], int):
        return [[np.asarray(c, dtype=np.int32) for c in v] for v in values]
    return values


def _code_digest() -> str:
    here = Path(__file__).parent
    h = hashlib.sha256(str(FEATURES_VERSION).encode())
    for name in CODE_FILES:
        h.update((here / name).read_bytes())
    return h.hexdigest()


_TOKENIZER_DIGESTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def tokenizer_digest(tokenizer: Any) -> str:
    """Digest of what a tokenizer does: its full serialisation (a fast tokenizer's tokenizer.json) or its
    vocabulary, plus its class, special tokens and length limit; computed once per tokenizer object."""
    if tokenizer in _TOKENIZER_DIGESTS:
        return _TOKENIZER_DIGESTS[tokenizer]
    backend = getattr(tokenizer, "backend_tokenizer", None)
    body = backend.to_str() if backend is not None else json.dumps(sorted(tokenizer.get_vocab().items()))
    extra = [type(tokenizer).__name__, str(getattr(tokenizer, "special_tokens_map", {}))]
    extra.append(str(getattr(tokenizer, "model_max_length", None)))
    digest = hashlib.sha256("\n".join([body, *extra]).encode()).hexdigest()
    _TOKENIZER_DIGESTS[tokenizer] = digest
    return digest


def feature_key(
    spec: TaskSpec, split: str, lang: str, source: str, tokenizer: str, labels: tuple[str, ...] | None
) -> str:
    """The cache key of one featurised split: '<task>-<split>-<lang>-<digest>' (source and tokenizer digests)."""
    payload = {
        "code": _code_digest(),
        "spec": dataclasses.asdict(spec),
        "split": split,
        "lang": lang,
        "source": source,
        "tokenizer": tokenizer,
        "labels": list(labels) if labels else None,
    }
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:20]
    return f"{spec.name}-{split}-{lang}-{digest}"


def feature_root(source: DataSource) -> Path:
    """Where a source's features are cached: `features/` beside its datasets cache (HF_DATASETS_CACHE's
    default when the source names none)."""
    if source.cache_dir is not None:
        return Path(source.cache_dir) / "features"
    default = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "datasets"
    return Path(os.environ.get("HF_DATASETS_CACHE", default)) / "xstilts-features"


def _write_part(dataset: Any, part: Part, path: Path, key: str, where: str = "") -> None:
    """Featurise `dataset` by one part into the Arrow file `path` (rows reported as the progress of
    'featurise <where>')."""
    total = len(dataset)

    def fn(rows: dict[str, list], indices: list[int]) -> dict:
        features = part.fn(rows, indices[0] if indices else 0)
        if indices:
            report(f"featurise {where} ({part.name})", indices[-1] + 1, total)
        return {name: _compact(values) for name, values in features.items()}

    import datasets

    datasets.disable_progress_bars()
    dataset.map(
        fn,
        batched=True,
        with_indices=True,
        batch_size=None if part.whole else BATCH_ROWS,
        remove_columns=dataset.column_names,
        cache_file_name=str(path),
        load_from_cache_file=False,
        new_fingerprint=f"{key}-{part.name}",
        desc=None,
    )


def _open(path: Path) -> FeatureTable:
    import datasets

    meta = json.loads((path / META_FILE).read_text())
    tables = {name: datasets.Dataset.from_file(str(path / f"{name}.arrow")) for name in meta["parts"]}
    return FeatureTable(tables, path, meta.get("stats"))


def split_counts(rows: int, stats: Mapping[str, int] | None) -> dict[str, int]:
    """A split's counts: `rows` (the loaded rows unless the featuriser counted its own, as BUCC counts pool
    sentences), every one of LOSSES (0 if none), then the featuriser's other counts, in its order; only
    `rows` when nothing was counted (`stats` None: a plan that was given no counter)."""
    if stats is None:
        return {"rows": int(rows)}
    counts = {"rows": int(rows), **dict.fromkeys(LOSSES, 0)}
    counts.update({key: int(n) for key, n in stats.items()})
    return counts


def log_counts(where: str, counts: Mapping[str, int]) -> None:
    """One line on the `xstilts.features` logger when a split lost anything (a warning when rows were dropped,
    info when they were only truncated or otherwise cut); nothing when every count but `rows` is 0."""
    lost = [f"{key} {n}" for key, n in counts.items() if key != "rows" and n]
    if lost:
        level = logging.WARNING if counts.get("dropped") else logging.INFO
        log.log(level, "featurised %s: %d rows, %s", where, counts.get("rows", 0), ", ".join(lost))


def build_features(
    path: Path,
    load: Callable[[], Any],
    plan: Callable[[Sequence[str]], list[Part]],
    where: str,
    *,
    stats: Counter | None = None,
) -> FeatureTable:
    """The features at `path`, featurised there first if no process has yet: under a lock (one process
    featurises, the others wait and map), into a temporary directory renamed into place when whole.

    `stats` is the Counter the plan's parts count into (`feature_parts(..., stats=)`); its counts, completed by
    `split_counts`, are written with the features and returned as the table's `stats` on every later open."""
    path = Path(path)
    if not (path / META_FILE).is_file():
        with build_lock(path):
            if not (path / META_FILE).is_file():
                dataset = load()
                if len(dataset) == 0:
                    raise DataError(f"{where}: no rows to featurise")
                parts = plan(dataset.column_names)
                if stats is not None:
                    stats.clear()  # counts of this featurisation only
                with atomic_path(path, directory=True) as tmp:
                    for part in parts:
                        _write_part(dataset, part, tmp / f"{part.name}.arrow", path.name, where)
                    counts = split_counts(len(dataset), stats)
                    meta = {"where": where, "rows": len(dataset), "parts": [p.name for p in parts], "stats": counts}
                    write_text(tmp / META_FILE, json.dumps(meta, indent=1))
                log_counts(where, counts)
    try:
        return _open(path)
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"{path}: unreadable feature cache ({type(exc).__name__}); delete it to rebuild") from exc


def load_features(
    spec: TaskSpec,
    split: str,
    lang: str,
    source: DataSource,
    tokenizer: Any,
    *,
    labels: tuple[str, ...] | None = None,
    root: Path | None = None,
) -> FeatureTable:
    """One split's features (training features for train, eval features with their gold otherwise), from
    the cache under `root` (default `feature_root(source)`), featurised there on first use; `.stats` holds
    the split's counts (rows, dropped, truncated, ...), the same on a cache hit."""
    key = feature_key(spec, split, lang, source_digest(spec, split, lang, source), tokenizer_digest(tokenizer), labels)
    where = describe(spec, split, lang, source)
    training = split == "train"
    stats: Counter = Counter()
    return build_features(
        (root or feature_root(source)) / key,
        lambda: load_split(spec, split, lang, source),
        lambda columns: feature_parts(spec, tokenizer, columns, where, training=training, labels=labels, stats=stats),
        where,
        stats=stats,
    )


def as_lists(features: Mapping[str, Sequence]) -> Features:
    """Every column as a Python list (for small eval sets and tests; training never needs it)."""
    return {name: list(column) for name, column in features.items()}
