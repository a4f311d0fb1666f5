"""Featurisation, once per task kind: Example columns -> token ids and labels (lists, batch by batch; see
tasks/feature_cache.py for the Arrow cache that holds whole splits).

Eval features (training=False) also carry what prediction and scoring need: the `gold` labels in the
metric's format and, for spans, the offsets that map token positions back to the context.

Every featuriser takes an optional `stats` Counter and adds what it saw to it: `rows` (input rows), `dropped`
(rows, or BUCC ids, that lost their features), `truncated` (rows cut to max_len), and per kind what else is
lost (tagging: `empty_words`, `cut_words`; spans: `unanswerable` and its reasons). tasks/feature_cache.py
stores the counts with the cached features.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from xstilts.tasks.feature_kit import IGNORE, Features, count, cut_rows
from xstilts.tasks.loading import DataError
from xstilts.tasks.registry import TaskSpec
from xstilts.tasks.span_features import featurize_span, span_examples, span_windows


def featurize_classification(
    rows: dict[str, list],
    tokenizer: Callable[..., Any],
    max_len: int,
    num_labels: int,
    where: str,
    *,
    stats: Counter | None = None,
) -> Features:
    """Tokenise sentence (pair) rows; returns input_ids [n][len], labels [n]."""
    texts = (rows["text_a"], rows["text_b"]) if "text_b" in rows else (rows["text_a"],)
    enc = tokenizer(*texts, truncation=True, max_length=max_len)
    labels = [int(y) for y in rows["label"]]
    bad = [y for y in labels if not 0 <= y < num_labels]
    if bad:
        raise DataError(f"{where}: label {bad[0]} outside 0..{num_labels - 1}")
    if stats is not None:
        cut = cut_rows(tokenizer, max_len, enc["input_ids"], *texts)
        count(stats, rows=len(labels), dropped=0, truncated=sum(cut))
    return {"input_ids": enc["input_ids"], "labels": labels}


def featurize_multiple_choice(
    rows: dict[str, list], tokenizer: Callable[..., Any], max_len: int, where: str, *, stats: Counter | None = None
) -> Features:
    """One (context + question, choice) pair per choice; returns input_ids [n][n_choices][len], labels [n]."""
    n_choices = {len(c) for c in rows["choices"]}
    if len(n_choices) > 1:
        raise DataError(f"{where}: rows have different numbers of choices {sorted(n_choices)}")
    firsts, seconds = [], []
    for context, question, choices in zip(rows["context"], rows["question"], rows["choices"]):
        firsts += [f"{context} {question}".strip()] * len(choices)
        seconds += list(choices)
    flat = tokenizer(firsts, seconds, truncation=True, max_length=max_len)["input_ids"]
    width = n_choices.pop() if n_choices else 0
    labels = [int(y) for y in rows["label"]]
    bad = [(i, y) for i, y in enumerate(labels) if not 0 <= y < width]
    if bad:
        raise DataError(f"{where}: row {bad[0][0]}: label {bad[0][1]} outside 0..{width - 1}")
    if stats is not None:  # a row is truncated when any of its (context + question, choice) pairs is
        cut = cut_rows(tokenizer, max_len, flat, firsts, seconds)
        count(
            stats,
            rows=len(labels),
            dropped=0,
            truncated=sum(any(cut[i : i + width]) for i in range(0, len(cut), width)),
        )
    return {"input_ids": [flat[i : i + width] for i in range(0, len(flat), width)], "labels": labels}


def tag_inventory(rows) -> tuple[str, ...]:
    """Return the sorted distinct tags of rows["tags"] (CCG: the training data defines the supertags), of a
    dict of columns or a `datasets.Dataset` (read in Arrow, the split is never turned into lists)."""
    if hasattr(rows, "data") and hasattr(rows.data, "table"):
        import pyarrow.compute as pc

        tags = rows.with_format("arrow")[:]["tags"]  # zero-copy for a mapped split without a filter
        return tuple(sorted(str(t) for t in pc.unique(pc.list_flatten(tags)).to_pylist()))
    return tuple(sorted({str(t) for tags in rows["tags"] for t in tags}))


def _tag_ids(tags: list, labels: tuple[str, ...], index: dict[str, int], where: str, training: bool) -> list[int]:
    """Tag indices or strings -> indices; an unseen string is an error in training, ignored in eval."""
    out = []
    for tag in tags:
        if isinstance(tag, str):
            if tag not in index and training:
                raise DataError(f"{where}: tag {tag!r} is not in the tag inventory ({len(labels)} tags)")
            out.append(index.get(tag, IGNORE))
        elif 0 <= int(tag) < len(labels):
            out.append(int(tag))
        else:
            raise DataError(f"{where}: tag {tag} outside 0..{len(labels) - 1}")
    return out


def featurize_tagging(
    rows: dict[str, list],
    tokenizer: Callable[..., Any],
    max_len: int,
    labels: tuple[str, ...],
    where: str,
    *,
    training: bool = True,
    first: int = 0,
    stats: Counter | None = None,
) -> Features:
    """Label the first sub-token of each word, IGNORE elsewhere (needs a fast tokenizer's word_ids).

    Returns input_ids [n][len], labels [n][len]; eval features add word_starts [n][n_words] (token
    position of each word's first sub-token, -1 when truncation or the tokenizer dropped the word) and
    gold [n][n_words] (tag strings, for seqeval and token accuracy). Errors name rows from `first` on (the
    index of rows' first row in its split).

    A word the tokenizer turns into no pieces (the empty string) has no labelled position and word start -1,
    like a word cut by truncation: the words after it keep their own labels, and prediction gives it
    `models.predict.truncated_tag`, so every gold word is scored. `stats` counts rows, truncated rows,
    `empty_words` (words with no pieces) and `cut_words` (words with pieces that truncation removed).
    """
    if not labels:
        raise DataError(f"{where}: no tag inventory (pass labels=tag_inventory(training rows))")
    index = {tag: i for i, tag in enumerate(labels)}
    enc = tokenizer(rows["tokens"], is_split_into_words=True, truncation=True, max_length=max_len)
    # Rows at the limit are encoded again without truncation: their length and the words that had pieces.
    before_cut: dict[int, tuple[int, set]] = {}
    at_limit = [n for n, row in enumerate(enc["input_ids"]) if len(row) >= max_len]
    if stats is not None and at_limit:
        full = tokenizer([rows["tokens"][n] for n in at_limit], is_split_into_words=True, verbose=False)
        before_cut = {n: (len(full["input_ids"][k]), set(full.word_ids(k)) - {None}) for k, n in enumerate(at_limit)}
    out: Features = {"input_ids": enc["input_ids"], "labels": []}
    if not training:
        out.update(word_starts=[], gold=[])
    for n, (words, tags) in enumerate(zip(rows["tokens"], rows["tags"])):
        if len(words) != len(tags):
            raise DataError(f"{where}: row {first + n}: {len(words)} tokens but {len(tags)} tags")
        ids = _tag_ids(tags, labels, index, f"{where}: row {first + n}", training)
        word_ids = enc.word_ids(n)
        token_labels, starts, previous = [IGNORE] * len(word_ids), [-1] * len(words), None
        for pos, word in enumerate(word_ids):
            if word is not None and word != previous:
                token_labels[pos], starts[word] = ids[word], pos
            previous = word
        out["labels"].append(token_labels)
        if not training:
            out["word_starts"].append(starts)
            out["gold"].append([t if isinstance(t, str) else labels[int(t)] for t in tags])
        if stats is not None:
            kept = sum(s >= 0 for s in starts)
            length, pieced = before_cut.get(n, (len(word_ids), None))
            had_pieces = kept if pieced is None else len(pieced)
            count(
                stats,
                rows=1,
                dropped=0,
                truncated=length > max_len,
                empty_words=len(words) - had_pieces,
                cut_words=had_pieces - kept,
            )
    return out


def featurize_retrieval(
    rows: dict[str, list], tokenizer: Callable[..., Any], max_len: int, *, stats: Counter | None = None
) -> Features:
    """Aligned sentence pairs (Tatoeba: row i's English is its translation) -> src/tgt input_ids [n][len].

    Lines are stripped first (Tatoeba's lines keep their trailing newline, which the tokenizer would read
    as a piece); `stats` counts rows and truncated rows (either side cut to max_len)."""
    cut = [False] * len(rows["text_a"])

    def ids(texts: list[str]) -> list[list[int]]:
        stripped = [t.strip() for t in texts]
        out = tokenizer(stripped, truncation=True, max_length=max_len)["input_ids"]
        if stats is not None:
            for i, c in enumerate(cut_rows(tokenizer, max_len, out, stripped)):
                cut[i] = cut[i] or c
        return out

    out = {"src_input_ids": ids(rows["text_a"]), "tgt_input_ids": ids(rows["text_b"])}
    count(stats, rows=len(cut), dropped=0, truncated=sum(cut))
    return out


def pool_side(
    sentences: dict[str, str],
    tokenizer: Callable[..., Any],
    max_len: int,
    side: str,
    *,
    stats: Counter | None = None,
) -> Features:
    """One BUCC pool (id -> text) -> its unique texts' <side>_ids and <side>_input_ids.

    As xtreme's utils_retrieve, each distinct text is embedded once and a text that occurs under several
    ids maps to none of them (id None), so pairs mined with it are dropped. `stats` counts the pool's ids
    as rows, the ids so lost as dropped and the texts cut to max_len as truncated.
    """
    ids: dict[str, str | None] = {}
    for sid, text in sentences.items():
        text = text.strip()
        ids[text] = None if text in ids else sid
    input_ids = tokenizer(list(ids), truncation=True, max_length=max_len)["input_ids"]
    if stats is not None:
        lost = sum(ids[text.strip()] is None for text in sentences.values())
        cut = cut_rows(tokenizer, max_len, input_ids, list(ids))
        count(stats, rows=len(sentences), dropped=lost, truncated=sum(cut))
    return {f"{side}_ids": list(ids.values()), f"{side}_input_ids": input_ids}


def featurize_bucc(
    src: dict[str, str],
    tgt: dict[str, str],
    tokenizer: Callable[..., Any],
    max_len: int,
    *,
    stats: Counter | None = None,
) -> Features:
    """BUCC sentences (id -> text, as `loading.read_bucc` returns them) -> `pool_side` of each: src_ids,
    src_input_ids [n_src], tgt_ids, tgt_input_ids [n_tgt]."""
    return {
        **pool_side(src, tokenizer, max_len, "src", stats=stats),
        **pool_side(tgt, tokenizer, max_len, "tgt", stats=stats),
    }


def _pool(rows: dict[str, list], side: str) -> dict[str, str]:
    return {key: text for s, key, text in zip(rows["side"], rows["id"], rows["text"]) if s == side}


def pool_gold(rows: dict[str, list]) -> Features:
    """BUCC's gold: the sorted (src id, tgt id) pairs of the true translations."""
    return {"gold": sorted(_pool(rows, "gold").items())}


@dataclass(frozen=True)
class Part:
    """One table of a featurised split: columns that share a row count, made from the split's rows batch by
    batch (fn gets the rows and the index of the first one), or from all of them at once (`whole`: BUCC's
    pools, whose texts are deduplicated across the pool)."""

    name: str
    fn: Callable[[dict[str, list], int], Features]
    whole: bool = False


def _rows(featurize_rows: Callable[..., Features]) -> list[Part]:
    return [Part("rows", featurize_rows)]


# kind -> (spec, tokenizer, where, training, tag inventory, columns of the split, statistics) -> its parts
Planner = Callable[
    [TaskSpec, Callable[..., Any], str, bool, tuple[str, ...], Sequence[str], "Counter | None"], list[Part]
]
PLANNERS: dict[str, Planner] = {
    "classification": lambda spec, tok, where, training, labels, columns, stats: _rows(
        lambda rows, first: featurize_classification(rows, tok, spec.max_len, spec.num_labels, where, stats=stats)
    ),
    "multiple_choice": lambda spec, tok, where, training, labels, columns, stats: _rows(
        lambda rows, first: featurize_multiple_choice(rows, tok, spec.max_len, where, stats=stats)
    ),
    "tagging": lambda spec, tok, where, training, labels, columns, stats: _rows(
        lambda rows, first: featurize_tagging(
            rows, tok, spec.max_len, labels, where, training=training, first=first, stats=stats
        )
    ),
    "span": lambda spec, tok, where, training, labels, columns, stats: (
        _rows(lambda rows, first: featurize_span(rows, tok, spec.max_len, where, first=first, stats=stats))
        if training
        else [
            Part("windows", lambda rows, first: span_windows(rows, tok, spec.max_len, first=first, stats=stats)),
            Part("examples", lambda rows, first: span_examples(rows)),
        ]
    ),
    "retrieval": lambda spec, tok, where, training, labels, columns, stats: (
        [
            Part(
                "src",
                lambda rows, first: pool_side(_pool(rows, "src"), tok, spec.max_len, "src", stats=stats),
                whole=True,
            ),
            Part(
                "tgt",
                lambda rows, first: pool_side(_pool(rows, "tgt"), tok, spec.max_len, "tgt", stats=stats),
                whole=True,
            ),
            Part("gold", lambda rows, first: pool_gold(rows), whole=True),
        ]
        if "side" in columns
        else _rows(lambda rows, first: featurize_retrieval(rows, tok, spec.max_len, stats=stats))
    ),
}


def effective_max_len(spec: TaskSpec, tokenizer: Any) -> int:
    """The task's max_len, cut to what the encoder can take (the offline encoder has 128 positions)."""
    return min(spec.max_len, int(getattr(tokenizer, "model_max_length", spec.max_len)))


def feature_parts(
    spec: TaskSpec,
    tokenizer: Callable[..., Any],
    columns: Sequence[str],
    where: str = "",
    *,
    training: bool = True,
    labels: tuple[str, ...] | None = None,
    stats: Counter | None = None,
) -> list[Part]:
    """The parts that featurise a split of `spec` with these columns (see `featurize` for the arguments)."""
    if spec.kind not in PLANNERS:
        raise ValueError(f"no featurisation for task kind {spec.kind!r} (have {sorted(PLANNERS)})")
    spec = replace(spec, max_len=effective_max_len(spec, tokenizer))
    inventory = tuple(labels) if labels else spec.labels
    return PLANNERS[spec.kind](spec, tokenizer, where or spec.name, training, inventory, tuple(columns), stats)


def featurize(
    dataset,
    spec: TaskSpec,
    tokenizer: Callable[..., Any],
    where: str = "",
    *,
    training: bool = True,
    labels: tuple[str, ...] | None = None,
    stats: Counter | None = None,
) -> Features:
    """Return the features of a loaded split (a `datasets.Dataset` or a dict of columns) in memory, as lists
    (tasks/feature_cache.py writes the same features to Arrow, part by part, for real-size splits).

    `labels` overrides spec.labels as the tag inventory (CCG declares none: pass tag_inventory(train));
    `stats`, a Counter, receives the split's counts (rows, dropped, truncated, ...; see the module's doc).
    """
    rows = dataset if isinstance(dataset, dict) else dataset.to_dict()
    out: Features = {}
    for part in feature_parts(spec, tokenizer, list(rows), where, training=training, labels=labels, stats=stats):
        out.update(part.fn(rows, 0))
    return out
