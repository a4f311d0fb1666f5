"""Every split a job reads, checked before any work: it exists, decodes as UTF-8, parses, is not empty, has
the columns its task maps, and its labels are in range. Nothing is written: rows are read with the standard
library and adapted in memory (an in-memory `datasets.Dataset` keeps no cache files), so a bad file is found
before the first split is featurised, the encoder is built or Ray starts.

Decoding and parsing read the whole file (a torn line can sit anywhere); the columns are checked on the
adapted rows, and the labels on every row. Hub splits are downloaded by `datasets` itself and are not checked
here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from xstilts.tasks.adapters import ADAPTERS, MissingColumns
from xstilts.tasks.loading import DataError, DataSource, check_utf8, existing_files, first_bad_line, location, read_bucc
from xstilts.tasks.registry import TaskSpec

__all__ = ["check_split", "check_splits_readable"]


def _lines(path: Path) -> list[str]:
    """The file's non-blank lines; an empty file is refused."""
    check_utf8(path)  # names the line of the first byte that is not UTF-8
    text = path.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise DataError(f"{path}: no rows (the file is empty)")
    return lines


def _jsonl_rows(path: Path) -> list[dict]:
    rows = []
    for n, line in enumerate(_lines(path), 1):
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            raise DataError(f"{path}: {first_bad_line(path, 'json') or f'line {n}: not valid JSON'}") from None
        if not isinstance(row, dict):
            raise DataError(f"{path}: line {n}: not a JSON object")
        rows.append(row)
    return rows


def _ccg_rows(path: Path) -> list[dict]:
    rows = []
    for n, line in enumerate(_lines(path), 1):
        text, tab, tags = line.partition("\t")
        tokens, tag_list = text.split(" "), tags.split(" ")
        if not tab or len(tokens) != len(tag_list):
            raise DataError(f"{path}: line {n}: expected 'tokens TAB tags' with one tag per token")
        rows.append({"tokens": tokens, "tags": tag_list})
    return rows


def _label(y: Any, n: int, where: str) -> int:
    """Row n's label as an integer index, or a DataError naming it."""
    try:
        return int(y)
    except (TypeError, ValueError):
        raise DataError(f"{where}: row {n}: label {y!r} is not an integer class index") from None


def _labels_in_range(ds: Any, spec: TaskSpec, where: str) -> None:
    """The labels featurisation would refuse, found without a tokenizer."""
    if spec.kind == "classification":
        for n, y in enumerate(ds["label"], 1):
            if not 0 <= _label(y, n, where) < spec.num_labels:
                raise DataError(f"{where}: row {n}: label {y} outside 0..{spec.num_labels - 1}")
    elif spec.kind == "multiple_choice":
        widths = {len(c) for c in ds["choices"]}
        if len(widths) > 1:
            raise DataError(f"{where}: rows have different numbers of choices {sorted(widths)}")
        width = widths.pop()
        for n, y in enumerate(ds["label"], 1):
            if not 0 <= _label(y, n, where) < width:
                raise DataError(f"{where}: row {n}: label {y} outside 0..{width - 1}")
    elif spec.kind == "tagging" and spec.labels:
        for n, tags in enumerate(ds["tags"], 1):
            bad = [t for t in tags if not isinstance(t, str) and not 0 <= _label(t, n, where) < spec.num_labels]
            if bad:
                raise DataError(f"{where}: row {n}: tag {bad[0]} outside 0..{spec.num_labels - 1}")


def check_split(spec: TaskSpec, split: str, lang: str, source: DataSource) -> None:
    """Refuse one split of a local source with a `DataError` of one line naming the file, the task and what
    is wrong; return quietly for a good split (or a hub split)."""
    if source.kind != "local":
        return
    loc, _ = location(spec, split, lang)
    paths = existing_files(spec, split, lang, Path(source.root or "."))
    named = f"task {spec.name}, {split} split, language {lang}"
    where = ", ".join(map(str, paths))
    try:
        if loc.format == "bucc":
            for path, rows in zip(paths, read_bucc(Path(source.root or "."), spec, split, lang)):
                if not rows:
                    raise DataError(f"{path}: no rows (the file is empty)")
            return
        reader = _ccg_rows if loc.format == "ccg" else _jsonl_rows
        rows = [row for path in paths for row in reader(path)]
        import datasets  # deferred: importing datasets costs ~0.7 s

        datasets.disable_progress_bars()  # the adapters' in-memory `map` would draw one on stderr
        try:
            ds = datasets.Dataset.from_list(rows)  # in memory: no cache file
        except Exception as exc:  # pyarrow's type inference errors come in several types
            raise DataError(f"{where}: rows of mixed types ({type(exc).__name__}: {str(exc)[:120]})") from exc
        try:
            adapted = ADAPTERS[spec.adapter](ds, spec)
        except MissingColumns as exc:
            raise DataError(f"{where}: missing column(s) {exc.columns} expected by task {spec.name}") from exc
        except (KeyError, ValueError, TypeError) as exc:
            raise DataError(f"{where}: rows do not fit task {spec.name} ({type(exc).__name__}: {exc})") from exc
        _labels_in_range(adapted, spec, where)
    except DataError as exc:
        message = str(exc)
        raise DataError(message if f"task {spec.name}" in message else f"{message} ({named})") from exc.__cause__


def check_splits_readable(splits: Iterable[tuple[TaskSpec, str, str]], source: DataSource) -> None:
    """`check_split` on every split, in order, before any of them is featurised."""
    for spec, split, lang in dict.fromkeys(splits):
        check_split(spec, split, lang, source)
