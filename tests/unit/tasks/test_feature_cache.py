import json
import random
from dataclasses import replace
from pathlib import Path

import datasets
import numpy as np
import pytest

from tests.unit.tasks.conftest import WORDS
from xstilts.models.pretrain import train_tokenizer
from xstilts.tasks.feature_cache import (
    Column,
    FeatureTable,
    as_lists,
    build_features,
    lengths,
    load_features,
    take,
)
from xstilts.tasks.features import feature_parts, featurize
from xstilts.tasks.loading import DataError, DataSource, bucc_rows, relative_files
from xstilts.tasks.registry import build_registry

REG = build_registry()


class Counting:
    """A tokenizer wrapper that counts its calls (featurisation is the only caller here)."""

    def __init__(self, tok):
        self.tok, self.calls = tok, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.tok(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.tok, name)


def words(rng: random.Random, lo: int = 3, hi: int = 9) -> list[str]:
    return [rng.choice(WORDS) for _ in range(rng.randrange(lo, hi))]


def rows_of(kind: str, n: int = 40, seed: int = 0) -> dict:
    rng = random.Random(seed)
    if kind == "classification":
        return {
            "text_a": [" ".join(words(rng)) for _ in range(n)],
            "text_b": [" ".join(words(rng)) for _ in range(n)],
            "label": [rng.randrange(3) for _ in range(n)],
        }
    if kind == "multiple_choice":
        return {
            "context": [" ".join(words(rng)) for _ in range(n)],
            "question": [" ".join(words(rng, 1, 3)) for _ in range(n)],
            "choices": [[" ".join(words(rng, 1, 4)) for _ in range(4)] for _ in range(n)],
            "label": [rng.randrange(4) for _ in range(n)],
        }
    if kind == "tagging":
        tokens = [words(rng) for _ in range(n)]
        return {"tokens": tokens, "tags": [[rng.choice(["O", "B-PER", "I-PER"]) for _ in t] for t in tokens]}
    if kind == "span":
        out: dict = {"id": [], "context": [], "question": [], "answers": []}
        for i in range(n):
            ctx = words(rng, 20, 60)
            k = rng.randrange(len(ctx) - 1)
            context = " ".join(ctx)
            start = len(" ".join(ctx[:k])) + (1 if k else 0)
            answer = {"text": [ctx[k]], "answer_start": [start]} if i % 5 else {"text": [], "answer_start": []}
            out["id"].append(f"q{i}")
            out["context"].append(context)
            out["question"].append(" ".join(words(rng, 2, 4)))
            out["answers"].append(answer)
        return out
    if kind == "tatoeba":
        return {"text_a": [" ".join(words(rng)) for _ in range(n)], "text_b": [" ".join(words(rng)) for _ in range(n)]}
    src = {f"de-{i}": " ".join(words(rng)) for i in range(n)}
    src["de-dup"] = src["de-0"]  # a repeated text: mapped to no id
    tgt = {f"en-{i}": " ".join(words(rng)) for i in range(n)}
    return bucc_rows(src, tgt, {(f"de-{i}", f"en-{i}") for i in range(0, n, 3)})


CASES = [
    ("classification", "mnli", True),
    ("classification", "mnli", False),
    ("multiple_choice", "hellaswag", True),
    ("tagging", "panx", True),
    ("tagging", "panx", False),
    ("span", "squad_v2", True),
    ("span", "xquad", False),
    ("tatoeba", "tatoeba", False),
    ("bucc", "bucc2018", False),
]


def plain(value):
    """Tuples as lists (Arrow keeps sequences as lists)."""
    return json.loads(json.dumps(value))


@pytest.mark.parametrize("kind,task,training", CASES)
def test_cached_features_are_the_in_memory_features_in_arrow(tmp_path, tok, kind, task, training, monkeypatch):
    monkeypatch.setattr("xstilts.tasks.feature_cache.BATCH_ROWS", 7)  # several batches: row numbers carry over
    spec = replace(REG[task], max_len=32) if kind == "span" else REG[task]
    rows = rows_of(kind)
    labels = ("O", "B-PER", "I-PER") if kind == "tagging" else None
    spec = replace(spec, labels=labels) if labels else spec
    table = build_features(
        tmp_path / "f",
        lambda: datasets.Dataset.from_dict(rows),
        lambda columns: feature_parts(spec, tok, columns, "w", training=training),
        "w",
    )
    assert isinstance(table, FeatureTable) and all(isinstance(table[c], Column) for c in table)
    expected = featurize(rows, spec, tok, training=training)
    assert sorted(table) == sorted(expected)
    assert plain(as_lists(table)) == plain(expected)
    ids = [c for c in table if c.endswith("input_ids")]
    assert ids and all("int32" in str(table[c].array.type) and "int64" not in str(table[c].array.type) for c in ids)


def test_a_second_process_view_only_maps_what_the_first_featurised(tmp_path, tok):
    rows, counting = rows_of("classification", 300), Counting(tok)

    def build():
        return build_features(
            tmp_path / "f",
            lambda: datasets.Dataset.from_dict(rows),
            lambda columns: feature_parts(REG["mnli"], counting, columns, "w"),
            "w",
        )

    first = build()
    calls = counting.calls
    assert calls >= 1
    second = build()
    assert counting.calls == calls  # no tokenisation: the files are mapped
    assert as_lists(second) == as_lists(first)
    tokens = int(lengths(second["input_ids"]).sum())
    assert second.nbytes / tokens <= 8  # int32 ids plus offsets and labels
    assert sorted(p.name for p in tmp_path.iterdir()) == [".f.lock", "f"]  # no temporary left


def test_a_failed_featurisation_leaves_nothing_and_the_next_one_builds(tmp_path, tok):
    bad = {**rows_of("classification", 30), "label": [0] * 29 + [7]}

    def build(rows):
        return build_features(
            tmp_path / "f",
            lambda: datasets.Dataset.from_dict(rows),
            lambda columns: feature_parts(REG["mnli"], tok, columns, "train.jsonl"),
            "train.jsonl",
        )

    with pytest.raises(DataError, match="train.jsonl: label 7 outside 0..2"):
        build(bad)
    assert [p.name for p in tmp_path.iterdir()] == [".f.lock"]
    good = rows_of("classification", 30)
    assert as_lists(build(good)) == featurize(good, REG["mnli"], tok)
    with pytest.raises(DataError, match="w: no rows"):
        build_features(
            tmp_path / "empty",
            lambda: datasets.Dataset.from_dict({"text_a": [], "text_b": [], "label": []}),
            lambda columns: feature_parts(REG["mnli"], tok, columns, "w"),
            "w",
        )


def write_split(root: Path, spec, split: str, rows: dict) -> None:
    (path,) = relative_files(spec, split, "en")
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    names = list(rows)
    lines = [json.dumps({spec.columns.get(k, k): rows[k][i] for k in names}) for i in range(len(rows[names[0]]))]
    target.write_text("\n".join(lines) + "\n")


def test_the_key_follows_the_source_content_the_tokenizer_and_the_spec(tmp_path, tok):
    spec = REG["sst2"]
    rows = {"text_a": ["ka lo mi", "ne ru"], "label": [0, 1]}
    write_split(tmp_path / "data", spec, "train", rows)
    source = DataSource("local", tmp_path / "data", tmp_path / "hf")

    def key(spec=spec, source=source, tokenizer=tok, labels=None) -> str:
        return load_features(spec, "train", "en", source, tokenizer, labels=labels).path.name

    first = key()
    assert key() == first and first.startswith("sst2-train-en-")
    assert len(list((tmp_path / "hf" / "features").glob("sst2-*"))) == 1
    assert key(spec=replace(spec, max_len=16)) != first
    other = train_tokenizer(["ka lo mi ne ru ta si po"] * 20, 40, 64)
    assert key(tokenizer=other) != first
    moved = DataSource("local", tmp_path / "data", tmp_path / "elsewhere")  # same files, another cache
    assert key(source=moved) == first
    write_split(tmp_path / "data", spec, "train", {"text_a": ["ka lo mi", "ne ta"], "label": [0, 1]})
    changed = key()
    assert changed != first
    assert as_lists(load_features(spec, "train", "en", source, tok))["input_ids"][1] == tok("ne ta")["input_ids"]


def test_columns_read_rows_slices_and_lengths_without_the_whole_column():
    table = datasets.Dataset.from_dict(
        {"ids": [[1, 2, 3], [4], [5, 6]], "mc": [[[1, 2], [1, 2, 3]], [[1], [1]], [[1, 2, 3, 4], []]]}
    )
    ids, mc = Column(table.data.table.column("ids")), Column(table.data.table.column("mc"))
    assert len(ids) == 3 and ids[1] == [4] and ids[-1] == [5, 6] and ids[0:2] == [[1, 2, 3], [4]]
    assert ids[::2] == [[1, 2, 3], [5, 6]] and list(ids) == [[1, 2, 3], [4], [5, 6]]
    assert ids.take([2, 0]) == [[5, 6], [1, 2, 3]] and take(ids, [1]) == [[4]] and take([[7], [8]], [1]) == [[8]]
    assert ids.lengths().tolist() == [3, 1, 2] and mc.lengths().tolist() == [3, 1, 4]
    assert lengths([[1, 2], [3]]).tolist() == [2, 1] and lengths([[[1], [1, 2]]]).tolist() == [2]
    with pytest.raises(IndexError):
        ids[3]
    sliced = Column(table.data.table.column("mc").slice(1))  # a chunk whose offsets do not start at 0
    assert sliced.lengths().tolist() == [1, 4]
    assert np.array_equal(Column(table.data.table.column("ids").slice(1, 1)).lengths(), [1])
