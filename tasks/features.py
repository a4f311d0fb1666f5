"""Featurisation, once per task kind: Example columns -> token ids and labels (plain lists).

Eval features (training=False) also carry what prediction and scoring need: the `gold` labels in the
metric's format and, for spans, the offsets that map token positions back to the context.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from xstilts.tasks.loading import DataError
from xstilts.tasks.registry import TaskSpec

Features = dict[str, list]
IGNORE = -100  # label of positions the loss skips (torch's CrossEntropyLoss ignore_index)
MAX_QUERY_LEN = 64  # XTREME's run_squad max_query_length: longer questions are cut


def featurize_classification(
    rows: dict[str, list], tokenizer: Callable[..., Any], max_len: int, num_labels: int, where: str
) -> Features:
    """Tokenise sentence (pair) rows; returns input_ids [n][len], labels [n]."""
    texts = (rows["text_a"], rows["text_b"]) if "text_b" in rows else (rows["text_a"],)
    enc = tokenizer(*texts, truncation=True, max_length=max_len)
    labels = [int(y) for y in rows["label"]]
    bad = [y for y in labels if not 0 <= y < num_labels]
    if bad:
        raise DataError(f"{where}: label {bad[0]} outside 0..{num_labels - 1}")
    return {"input_ids": enc["input_ids"], "labels": labels}


def featurize_multiple_choice(
    rows: dict[str, list], tokenizer: Callable[..., Any], max_len: int, where: str
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
    return {"input_ids": [flat[i : i + width] for i in range(0, len(flat), width)], "labels": labels}


def tag_inventory(rows) -> tuple[str, ...]:
    """Return the sorted distinct tags of rows["tags"] (CCG: the training data defines the supertags)."""
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
) -> Features:
    """Label the first sub-token of each word, IGNORE elsewhere (needs a fast tokenizer's word_ids).

    Returns input_ids [n][len], labels [n][len]; eval features add word_starts [n][n_words] (token
    position of each word's first sub-token, -1 when truncation or the tokenizer dropped the word) and
    gold [n][n_words] (tag strings, for seqeval and token accuracy).
    """
    if not labels:
        raise DataError(f"{where}: no tag inventory (pass labels=tag_inventory(training rows))")
    index = {tag: i for i, tag in enumerate(labels)}
    enc = tokenizer(rows["tokens"], is_split_into_words=True, truncation=True, max_length=max_len)
    out: Features = {"input_ids": enc["input_ids"], "labels": []}
    if not training:
        out.update(word_starts=[], gold=[])
    for n, (words, tags) in enumerate(zip(rows["tokens"], rows["tags"])):
        if len(words) != len(tags):
            raise DataError(f"{where}: row {n}: {len(words)} tokens but {len(tags)} tags")
        ids = _tag_ids(tags, labels, index, f"{where}: row {n}", training)
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
    return out


def doc_stride(max_len: int) -> int:
    """Overlap of consecutive context windows: XTREME's 128 at max_len 384, scaled for other lengths."""
    return max_len // 3


def _cut_questions(questions: list[str], tokenizer: Callable[..., Any], max_query: int) -> list[str]:
    """Strip leading space and cut questions to `max_query` tokens (else the window has no room)."""
    questions = [q.lstrip() for q in questions]
    enc = tokenizer(questions, add_special_tokens=False, return_offsets_mapping=True)
    return [
        q if len(offsets) <= max_query else q[: offsets[max_query - 1][1]]
        for q, offsets in zip(questions, enc["offset_mapping"])
    ]


def _answer_span(answers: dict, context: str, where: str) -> tuple[int, int] | None:
    """(start char, end char) of the first gold answer, None if unanswerable (SQuAD v2)."""
    if not answers["text"]:
        return None
    text, start = answers["text"][0], int(answers["answer_start"][0])
    if not 0 <= start <= len(context) - len(text) or context[start : start + len(text)] != text:
        raise DataError(f"{where}: answer {text!r} is not at character {start} of its context")
    return start, start + len(text)


def _token_span(span: tuple[int, int] | None, offsets: list, seq_ids: list) -> tuple[int, int]:
    """Token positions of a character span in one window; (0, 0) (CLS) if absent or outside it."""
    ctx = [i for i, s in enumerate(seq_ids) if s == 1]
    if span is None or not ctx or offsets[ctx[0]][0] > span[0] or offsets[ctx[-1]][1] < span[1]:
        return 0, 0
    start = max(i for i in ctx if offsets[i][0] <= span[0])
    end = min(i for i in ctx if i >= start and offsets[i][1] >= span[1])
    return start, end


def featurize_span(
    rows: dict[str, list],
    tokenizer: Callable[..., Any],
    max_len: int,
    where: str,
    *,
    training: bool = True,
    stride: int | None = None,
) -> Features:
    """SQuAD-format rows -> overlapping windows (question first, context second), as HF run_qa does.

    Training: input_ids, start_positions, end_positions [n_windows] (CLS = 0 when the answer is not
    inside the window or the question is unanswerable). Eval: input_ids, example_index and
    offset_mapping [n_windows] ((start, end) characters for context tokens, None elsewhere), plus
    context, id and gold (answer texts) [n_examples].
    """
    questions = _cut_questions(list(rows["question"]), tokenizer, min(MAX_QUERY_LEN, max_len // 4))
    enc = tokenizer(
        questions,
        list(rows["context"]),
        truncation="only_second",
        max_length=max_len,
        stride=doc_stride(max_len) if stride is None else stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    samples = enc["overflow_to_sample_mapping"]
    if training:
        spans = [
            _answer_span(a, c, f"{where}: row {i}") for i, (a, c) in enumerate(zip(rows["answers"], rows["context"]))
        ]
        positions = [
            _token_span(spans[ex], enc["offset_mapping"][w], enc.sequence_ids(w)) for w, ex in enumerate(samples)
        ]
        return {
            "input_ids": enc["input_ids"],
            "start_positions": [p[0] for p in positions],
            "end_positions": [p[1] for p in positions],
        }
    offsets = [
        [tuple(o) if s == 1 else None for o, s in zip(enc["offset_mapping"][w], enc.sequence_ids(w))]
        for w in range(len(samples))
    ]
    return {
        "input_ids": enc["input_ids"],
        "example_index": list(samples),
        "offset_mapping": offsets,
        "context": list(rows["context"]),
        "id": list(rows["id"]),
        "gold": [list(a["text"]) for a in rows["answers"]],
    }


def featurize_retrieval(rows: dict[str, list], tokenizer: Callable[..., Any], max_len: int) -> Features:
    """Aligned sentence pairs (Tatoeba: row i's English is its translation) -> src/tgt input_ids [n][len]."""

    def ids(texts: list[str]) -> list[list[int]]:
        return tokenizer([t.strip() for t in texts], truncation=True, max_length=max_len)["input_ids"]

    return {"src_input_ids": ids(rows["text_a"]), "tgt_input_ids": ids(rows["text_b"])}


def featurize_bucc(src: dict[str, str], tgt: dict[str, str], tokenizer: Callable[..., Any], max_len: int) -> Features:
    """BUCC sentences (id -> text, as `loading.read_bucc` returns them) -> unique texts and their ids.

    As xtreme's utils_retrieve, each distinct text is embedded once and a text that occurs under several
    ids maps to none of them (id None), so pairs mined with it are dropped. Returns src_ids,
    src_input_ids [n_src], tgt_ids, tgt_input_ids [n_tgt].
    """
    out: Features = {}
    for side, sentences in (("src", src), ("tgt", tgt)):
        ids: dict[str, str | None] = {}
        for sid, text in sentences.items():
            text = text.strip()
            ids[text] = None if text in ids else sid
        out[f"{side}_ids"] = list(ids.values())
        out[f"{side}_input_ids"] = tokenizer(list(ids), truncation=True, max_length=max_len)["input_ids"]
    return out


def featurize_pools(rows: dict[str, list], tokenizer: Callable[..., Any], max_len: int) -> Features:
    """BUCC's pools and gold pairs (side, id, text rows, as `loading.bucc_rows` writes them) -> featurize_bucc's
    features plus gold: the sorted (src id, tgt id) pairs of the true translations."""
    pools: dict[str, dict[str, str]] = {"src": {}, "tgt": {}, "gold": {}}
    gold = []
    for side, key, text in zip(rows["side"], rows["id"], rows["text"]):
        if side == "gold":
            gold.append((key, text))
        else:
            pools[side][key] = text
    return {**featurize_bucc(pools["src"], pools["tgt"], tokenizer, max_len), "gold": sorted(gold)}


def _featurize_retrieval(rows: dict[str, list], tokenizer: Callable[..., Any], max_len: int) -> Features:
    """Aligned pairs (Tatoeba) or candidate pools to mine (BUCC), as the split's reader laid them out."""
    if "side" in rows:
        return featurize_pools(rows, tokenizer, max_len)
    return featurize_retrieval(rows, tokenizer, max_len)


Featurizer = Callable[[dict[str, list], TaskSpec, Callable[..., Any], str, bool, tuple[str, ...]], Features]
FEATURIZERS: dict[str, Featurizer] = {
    "classification": lambda rows, spec, tok, where, training, labels: featurize_classification(
        rows, tok, spec.max_len, spec.num_labels, where
    ),
    "multiple_choice": lambda rows, spec, tok, where, training, labels: featurize_multiple_choice(
        rows, tok, spec.max_len, where
    ),
    "tagging": lambda rows, spec, tok, where, training, labels: featurize_tagging(
        rows, tok, spec.max_len, labels, where, training=training
    ),
    "span": lambda rows, spec, tok, where, training, labels: featurize_span(
        rows, tok, spec.max_len, where, training=training
    ),
    "retrieval": lambda rows, spec, tok, where, training, labels: _featurize_retrieval(rows, tok, spec.max_len),
}


def effective_max_len(spec: TaskSpec, tokenizer: Any) -> int:
    """The task's max_len, cut to what the encoder can take (the offline encoder has 128 positions)."""
    return min(spec.max_len, int(getattr(tokenizer, "model_max_length", spec.max_len)))


def featurize(
    dataset,
    spec: TaskSpec,
    tokenizer: Callable[..., Any],
    where: str = "",
    *,
    training: bool = True,
    labels: tuple[str, ...] | None = None,
) -> Features:
    """Return the features of a loaded split (a `datasets.Dataset` or a dict of columns).

    `labels` overrides spec.labels as the tag inventory (CCG declares none: pass tag_inventory(train)).
    """
    if spec.kind not in FEATURIZERS:
        raise ValueError(f"no featurisation for task kind {spec.kind!r} (have {sorted(FEATURIZERS)})")
    spec = replace(spec, max_len=effective_max_len(spec, tokenizer))
    rows = dataset if isinstance(dataset, dict) else dataset.to_dict()
    return FEATURIZERS[spec.kind](
        rows, spec, tokenizer, where or spec.name, training, tuple(labels) if labels else spec.labels
    )
