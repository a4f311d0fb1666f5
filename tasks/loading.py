"""Load a task split through `datasets`: from the hub by id, or from local files in the same schema.

Each split's location declares its file format (`SplitSource.format`), and each format has one reader and
one local layout under ROOT: jsonl at <dataset id>/<config>/<split>.jsonl (one file per part of an 'a+b'
split expression); ccg at <dataset id>/<split>.txt (jiant's 'tokens TAB tags' lines); bucc at
<dataset id>/<config>.<split>.<xx|en|gold> (XTREME's BUCC 2018 download). The offline world writes the
same paths, and real downloads can be arranged the same way.
"""

from __future__ import annotations

import codecs
import functools
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from xstilts.core.errors import InputError
from xstilts.tasks.adapters import ADAPTERS, MissingColumns
from xstilts.tasks.languages import placeholders
from xstilts.tasks.registry import SplitSource, TaskSpec


class DataError(InputError, ValueError):
    """Data that is missing or unreadable; the message names the file."""


# What `xstilts prepare` writes at the root of a generated world (tasks/world.py): its spec, digest and the
# checksum of every file. A directory of real data has no such manifest.
WORLD_MANIFEST = "MANIFEST.json"
WORLD_LABEL = "offline world"
EVAL_SAMPLE_SEED = 0  # the sample of a scored split under `max_eval_rows`: the same rows for every encoder
LOCAL_LABEL = "local data"


def is_generated_world(root: Path) -> bool:
    """Whether `root` holds a world that `xstilts prepare` generated (its manifest names spec and digest)."""
    path = Path(root) / WORLD_MANIFEST
    if not path.is_file():
        return False
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and {"spec", "digest", "files"} <= set(manifest)


@dataclass(frozen=True)
class DataSource:
    """`hub` loads real data sets by id; `local` reads files under `root` in the same schemas (real data, or
    the offline world that `xstilts prepare` generated there)."""

    kind: str  # hub | local
    root: Path | None = None
    cache_dir: Path | None = None

    @property
    def generated(self) -> bool:
        """A generated (synthetic) world, known from the manifest `prepare` wrote, not from being local."""
        return self.kind == "local" and self.root is not None and is_generated_world(Path(self.root))

    @property
    def label(self) -> str:
        """`hub`, `offline world` (generated) or `local data (DIR)`: the `source` of every result row."""
        if self.kind == "hub":
            return "hub"
        return WORLD_LABEL if self.generated else f"{LOCAL_LABEL} ({self.root})"


def location(spec: TaskSpec, split: str, lang: str) -> tuple[SplitSource, str | None]:
    """Return the split's location and its config with the language filled in."""
    if split not in spec.sources:
        raise DataError(f"task {spec.name!r} has no {split!r} split (has {sorted(spec.sources)})")
    loc = spec.sources[split]
    return loc, loc.config.format(**placeholders(lang)) if loc.config else None


def relative_files(spec: TaskSpec, split: str, lang: str) -> list[PurePosixPath]:
    """The file(s) that hold one split, relative to a local root, in the layout of its format."""
    loc, config = location(spec, split, lang)
    base = PurePosixPath(loc.dataset_id)
    if loc.format == "ccg":
        return [base / f"{loc.split}.txt"]
    if loc.format == "bucc":
        return [base / f"{config}.{loc.split}.{suffix}" for suffix in (lang, "en", "gold")]
    return [base / (config or "") / f"{part}.jsonl" for part in loc.split.split("+")]


def local_paths(root: Path, spec: TaskSpec, split: str, lang: str) -> list[Path]:
    """Return the local file(s) that stand in for one hub split."""
    return [Path(root) / rel for rel in relative_files(spec, split, lang)]


def has_files(source: DataSource, spec: TaskSpec, split: str, lang: str) -> bool:
    """Whether the source holds the split: always on the hub, where its local files exist otherwise."""
    if source.kind == "hub":
        return True
    return all(p.is_file() for p in local_paths(Path(source.root or "."), spec, split, lang))


def local_rows(source: DataSource, spec: TaskSpec, split: str, lang: str) -> int | None:
    """The rows of a split's local files (non-empty lines: one JSON object, CCG sentence or BUCC pair each),
    counted without parsing; None when a file is missing."""
    if not has_files(source, spec, split, lang):
        return None
    rows = 0
    for path in local_paths(Path(source.root or "."), spec, split, lang)[
        : 1 if spec.sources[split].format == "bucc" else None
    ]:
        with path.open("rb") as f:
            rows += sum(1 for line in f if line.strip())
    return rows


def describe(spec: TaskSpec, split: str, lang: str, source: DataSource) -> str:
    """Where a split comes from, for messages: the local file(s) or hub id, config and split."""
    if source.kind == "hub":
        loc, config = location(spec, split, lang)
        return f"{loc.dataset_id}/{config}:{loc.split}" if config else f"{loc.dataset_id}:{loc.split}"
    return ", ".join(str(p) for p in local_paths(Path(source.root or "."), spec, split, lang))


def existing_files(spec: TaskSpec, split: str, lang: str, root: Path) -> list[Path]:
    paths = local_paths(root, spec, split, lang)
    for path in paths:
        if not path.is_file():
            raise DataError(f"{path}: file not found (task {spec.name}, {split} split, language {lang})")
    return paths


def first_bad_line(path: Path, builder: str) -> str | None:
    """Where a text file first stops being readable as `builder`: 'line N: ...' for bytes that are not UTF-8
    and, for JSON lines, a line that does not parse (datasets' error names neither the line nor the bytes).
    Read only after a load failed, so a good file is parsed once."""
    with path.open("rb") as f:
        for n, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                return (
                    f"line {n}: bytes that are not UTF-8 (0x{raw[exc.start]:02x} at byte {exc.start + 1} of the line)"
                )
            if builder == "json" and line.strip():
                try:
                    json.loads(line)
                except json.JSONDecodeError as exc:
                    return f"line {n}: not valid JSON ({exc.msg}, column {exc.colno})"
    return None


def check_utf8(path: Path) -> str:
    """Refuse a file with bytes that are not UTF-8, naming the line (datasets' json builder can read such a
    file into strings that fail later, or fail without saying where); returns the file's content digest, as
    both come from one read (cached while the file is unchanged)."""
    stat = path.stat()
    return _file_digest(path.resolve(), stat.st_size, stat.st_mtime_ns)


def _load_files(builder: str, paths: list[Path], cache: str | None) -> Any:
    import datasets  # deferred: importing datasets costs ~0.7 s

    for path in paths:
        check_utf8(path)
    datasets.disable_progress_bars()
    logger = logging.getLogger("datasets")  # its json builder logs a parse error itself before raising
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        return datasets.load_dataset(
            builder, data_files={"data": [str(p) for p in paths]}, split="data", cache_dir=cache
        )
    except Exception as exc:  # datasets wraps parse errors in several exception types
        for path in paths:
            if path.stat().st_size == 0:
                raise DataError(f"{path}: no rows (the file is empty)") from exc
            bad = first_bad_line(path, builder)
            if bad:
                raise DataError(f"{path}: {bad}") from exc
        where = ", ".join(map(str, paths))
        raise DataError(f"{where}: unreadable as {builder} ({type(exc).__name__})") from exc
    finally:
        logger.setLevel(level)


def read_jsonl(spec: TaskSpec, split: str, lang: str, root: Path, cache: str | None) -> Any:
    """The hub's rows as JSON lines (the `datasets` json builder)."""
    return _load_files("json", existing_files(spec, split, lang, root), cache)


def read_ccg(spec: TaskSpec, split: str, lang: str, root: Path, cache: str | None) -> Any:
    """jiant's CCG lines 'tok tok … TAB tag tag …' (read as text) -> tokens and tag strings."""
    paths = existing_files(spec, split, lang, root)
    ds = _load_files("text", paths, cache)

    def split_line(row: dict, index: int) -> dict:
        text, tab, tags = row["text"].partition("\t")
        tokens, tag_list = text.split(" "), tags.split(" ")
        if not tab or len(tokens) != len(tag_list):
            where = ", ".join(map(str, paths))
            raise DataError(f"{where}: line {index + 1}: expected 'tokens TAB tags' with one tag per token")
        return {"tokens": tokens, "tags": tag_list}

    return ds.map(split_line, with_indices=True, remove_columns=ds.column_names)


def read_bucc(root: Path, spec: TaskSpec, split: str, lang: str) -> tuple[dict, dict, set]:
    """BUCC 2018 as XTREME downloads it: xx sentences, en sentences ('id TAB text') and gold id pairs."""
    xx_path, en_path, gold_path = existing_files(spec, split, lang, Path(root))

    def read(path: Path) -> list[list[str]]:
        rows = []
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: {first_bad_line(path, 'text')}") from exc
        for n, line in enumerate(text.splitlines(), 1):
            parts = line.split("\t")
            if len(parts) != 2:
                raise DataError(f"{path}:{n}: expected 'id TAB text', got {line[:40]!r}")
            rows.append(parts)
        return rows

    src, tgt = dict(read(xx_path)), dict(read(en_path))
    gold = {(a, b) for a, b in read(gold_path)}
    return src, tgt, gold


def bucc_rows(src: dict[str, str], tgt: dict[str, str], gold: set[tuple[str, str]]) -> dict[str, list]:
    """BUCC's two pools and its gold pairs as one table: side (src | tgt | gold), id, text; a gold row
    pairs its `id` (a src id) with its `text` (the tgt id of the translation)."""
    rows: dict[str, list] = {"side": [], "id": [], "text": []}
    for side, items in (("src", src.items()), ("tgt", tgt.items()), ("gold", sorted(gold))):
        for key, value in items:
            rows["side"].append(side)
            rows["id"].append(key)
            rows["text"].append(value)
    return rows


BUCC_POOL_PER_PAIR = 8  # sentences in each sampled pool per sampled gold pair: the pair's own and 7 distractors


def sample_bucc(rows: dict[str, list], pairs: int) -> dict[str, list]:
    """BUCC rows (`bucc_rows`) cut to a seeded sample of `pairs` gold pairs and, on each side, pools of at most
    `BUCC_POOL_PER_PAIR` x `pairs` sentences: the sampled pairs' own sentences and a seeded sample of the
    others as distractors (the same for every encoder). Mining then still searches a pool mostly of sentences
    without a translation, as BUCC's own (257 gold pairs among 8,624 zh sentences in its zh-en dev set). The
    distractors are sentences of no gold pair (an unsampled pair's two sentences in the pools would be a true
    translation scored as a false match)."""
    import random

    gold = [(i, t) for side, i, t in zip(rows["side"], rows["id"], rows["text"]) if side == "gold"]
    kept = sorted(random.Random(EVAL_SAMPLE_SEED).sample(gold, min(pairs, len(gold))))
    out: dict[str, list] = {"side": [], "id": [], "text": []}
    for side, own, linked in (
        ("src", {a for a, _ in kept}, {a for a, _ in gold}),
        ("tgt", {b for _, b in kept}, {b for _, b in gold}),
    ):
        pool = [(i, t) for s, i, t in zip(rows["side"], rows["id"], rows["text"]) if s == side]
        # distractors: sentences without a gold translation, so an unsampled pair cannot score as a false match
        others = [row for row in pool if row[0] not in linked]
        room = max(0, BUCC_POOL_PER_PAIR * pairs - len(own))
        extra = set(random.Random(f"{EVAL_SAMPLE_SEED}-{side}").sample(range(len(others)), min(room, len(others))))
        chosen = [row for row in pool if row[0] in own] + [row for n, row in enumerate(others) if n in extra]
        for i, t in chosen:
            out["side"].append(side)
            out["id"].append(i)
            out["text"].append(t)
    for a, b in kept:
        out["side"].append("gold")
        out["id"].append(a)
        out["text"].append(b)
    return out


def _read_bucc_table(spec: TaskSpec, split: str, lang: str, root: Path, cache: str | None) -> Any:
    import datasets

    return datasets.Dataset.from_dict(bucc_rows(*read_bucc(root, spec, split, lang)))


Reader = Callable[[TaskSpec, str, str, Path, "str | None"], Any]
READERS: dict[str, Reader] = {"jsonl": read_jsonl, "ccg": read_ccg, "bucc": _read_bucc_table}


def _load_raw(spec: TaskSpec, split: str, lang: str, source: DataSource) -> Any:
    loc, config = location(spec, split, lang)
    cache = str(source.cache_dir) if source.cache_dir else None
    if source.kind == "hub":
        import datasets

        if loc.local_only:
            raise DataError(
                f"task {spec.name}: {loc.dataset_id} is not on the hub; set `source` to a directory holding its files"
            )
        datasets.disable_progress_bars()
        return datasets.load_dataset(loc.dataset_id, config, split=loc.split, cache_dir=cache)
    return READERS[loc.format](spec, split, lang, Path(source.root or "."), cache)


@functools.lru_cache(maxsize=1024)
def _file_digest(path: Path, size: int, mtime_ns: int) -> str:
    """sha256 of the file, checking on the way that it is UTF-8 (every format here is text)."""
    h, decoder = hashlib.sha256(), codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as f:
        try:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
                decoder.decode(block)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: {first_bad_line(path, 'text') or 'bytes that are not UTF-8 at its end'}") from exc
    return h.hexdigest()


def source_digest(spec: TaskSpec, split: str, lang: str, source: DataSource) -> str:
    """Digest of a split's data: its local files' content, or the fingerprint `datasets` gives the loaded hub
    split (derived from the dataset's revision and files)."""
    if source.kind == "hub":
        return str(load_split(spec, split, lang, source)._fingerprint)
    h = hashlib.sha256()
    for rel, path in zip(
        relative_files(spec, split, lang), existing_files(spec, split, lang, Path(source.root or "."))
    ):
        h.update(f"{rel}\0{check_utf8(path)}\0".encode())
    return h.hexdigest()


def load_split(spec: TaskSpec, split: str, lang: str, source: DataSource) -> Any:
    """Return a `datasets.Dataset` of one split with the internal columns of the task's kind."""

    ds = _load_raw(spec, split, lang, source)
    loc, _ = location(spec, split, lang)
    if loc.id_prefix:
        prefix = loc.id_prefix.format(**placeholders(lang))
        ds = ds.filter(lambda row: row["id"].startswith(prefix))
    if spec.max_eval_rows is not None and split != "train" and loc.format == "bucc":
        import datasets

        ds = datasets.Dataset.from_dict(sample_bucc(ds.to_dict(), spec.max_eval_rows))
    elif spec.max_eval_rows is not None and split != "train" and len(ds) > spec.max_eval_rows:
        ds = ds.shuffle(seed=EVAL_SAMPLE_SEED).select(range(spec.max_eval_rows)).flatten_indices()
    try:
        return ADAPTERS[spec.adapter](ds, spec)
    except MissingColumns as exc:
        raise DataError(
            f"{describe(spec, split, lang, source)}: missing column(s) {exc.columns} expected by task {spec.name}"
        ) from exc
    except (KeyError, ValueError, TypeError) as exc:
        raise DataError(
            f"{describe(spec, split, lang, source)}: rows do not fit task {spec.name} ({type(exc).__name__}: {exc})"
        ) from exc
