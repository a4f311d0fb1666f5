"""Span (extractive QA) featurisation: SQuAD-style questions and contexts -> token windows with answer
positions (training) or windows and offsets that map predictions back to the context (eval), as XTREME's
run_squad does; every gold answer that no window can hold is counted by reason, never dropped silently."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from xstilts.tasks.feature_kit import Features, count
from xstilts.tasks.loading import DataError

MAX_QUERY_LEN = 64  # XTREME's run_squad max_query_length: longer questions are cut


MAX_ANSWER_TOKENS = 30  # XTREME's run_squad (and HF run_qa) max_answer_length: longer spans are never predicted


# Why a gold answer is unanswerable: no window holds all of it (or its text is not in the context); the
# tokens that hold it start before or end after it; it is longer than MAX_ANSWER_TOKENS tokens.
ANSWER_REASONS = ("answer_outside", "answer_boundary", "answer_too_long")


def doc_stride(max_len: int) -> int:
    """Overlap of consecutive context windows: XTREME's 128 at max_len 384, scaled for other lengths."""
    return max_len // 3


def _cut_questions(
    questions: list[str], tokenizer: Callable[..., Any], max_query: int, stats: Counter | None = None
) -> list[str]:
    """Strip leading space and cut questions to `max_query` tokens (else the window has no room); `stats`
    counts the cut questions as truncated rows."""
    questions = [q.lstrip() for q in questions]
    enc = tokenizer(questions, add_special_tokens=False, return_offsets_mapping=True)
    count(stats, truncated=sum(len(offsets) > max_query for offsets in enc["offset_mapping"]))
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


def _gold_spans(answers: dict, context: str) -> list[tuple[int, int] | None]:
    """(start char, end char) of every gold answer of an eval example: at its answer_start, else its first
    occurrence in the context, else None (the text is not in the context)."""
    spans: list[tuple[int, int] | None] = []
    for text, start in zip(answers["text"], answers["answer_start"]):
        start = int(start)
        if not (0 <= start <= len(context) - len(text) and context[start : start + len(text)] == text):
            start = context.find(text)
        spans.append((start, start + len(text)) if start >= 0 else None)
    return spans


def _token_span(span: tuple[int, int] | None, offsets: list, seq_ids: list) -> tuple[int, int]:
    """Token positions of a character span in one window; (0, 0) (CLS) if absent or outside it."""
    ctx = [i for i, s in enumerate(seq_ids) if s == 1]
    if span is None or not ctx or offsets[ctx[0]][0] > span[0] or offsets[ctx[-1]][1] < span[1]:
        return 0, 0
    start = max(i for i in ctx if offsets[i][0] <= span[0])
    end = min(i for i in ctx if i >= start and offsets[i][1] >= span[1])
    return start, end


def answer_reason(
    spans: Sequence[tuple[int, int] | None], context: str, windows: Sequence[tuple[list, list]]
) -> str | None:
    """Why no gold answer can be predicted exactly: None when some window has a span of at most
    MAX_ANSWER_TOKENS tokens whose characters read back as the answer (whitespace aside, as prediction strips
    it), or when there is no gold answer (SQuAD v2); else one of ANSWER_REASONS. `windows` are the example's
    (offsets, sequence ids) pairs."""
    if not spans:
        return None
    reasons = set()
    for span in spans:
        if span is None:
            reasons.add("answer_outside")
            continue
        text = context[span[0] : span[1]].strip()
        for offsets, seq_ids in windows:
            start, end = _token_span(span, offsets, seq_ids)
            if start == 0:
                reasons.add("answer_outside")
            elif context[offsets[start][0] : offsets[end][1]].strip() != text:
                reasons.add("answer_boundary")
            elif end - start + 1 > MAX_ANSWER_TOKENS:
                reasons.add("answer_too_long")
            else:
                return None
    return next(r for r in ("answer_boundary", "answer_too_long", "answer_outside") if r in reasons)


def _count_answers(
    stats: Counter | None, enc: Any, contexts: list[str], spans: list[list[tuple[int, int] | None]]
) -> None:
    """Count an example `unanswerable` (and its reason) when `answer_reason` gives one for its windows."""
    if stats is None:
        return
    windows: list[list[tuple[list, list]]] = [[] for _ in contexts]
    for w, ex in enumerate(enc["overflow_to_sample_mapping"]):
        windows[ex].append((enc["offset_mapping"][w], enc.sequence_ids(w)))
    reasons = Counter(answer_reason(s, c, ws) for s, c, ws in zip(spans, contexts, windows))
    count(stats, rows=len(contexts), dropped=0, unanswerable=len(contexts) - reasons[None])
    count(stats, **{r: reasons[r] for r in ANSWER_REASONS})


def _windows(
    rows: dict[str, list], tokenizer: Callable[..., Any], max_len: int, stride: int | None, stats: Counter | None
) -> Any:
    questions = _cut_questions(list(rows["question"]), tokenizer, min(MAX_QUERY_LEN, max_len // 4), stats)
    return tokenizer(
        questions,
        list(rows["context"]),
        truncation="only_second",
        max_length=max_len,
        stride=doc_stride(max_len) if stride is None else stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )


def span_windows(
    rows: dict[str, list],
    tokenizer: Callable[..., Any],
    max_len: int,
    *,
    stride: int | None = None,
    first: int = 0,
    stats: Counter | None = None,
) -> Features:
    """Eval windows: input_ids, example_index (row of the window's example in its split, counted from
    `first`) and offset_mapping ((start, end) characters for context tokens, None elsewhere) [n_windows].

    `stats` counts rows, truncated rows (questions cut to MAX_QUERY_LEN tokens) and `unanswerable` examples:
    those none of whose gold answers any window can predict exactly (`answer_reason`); they stay in the
    split and are scored (their best prediction is not the gold text)."""
    enc = _windows(rows, tokenizer, max_len, stride, stats)
    samples = enc["overflow_to_sample_mapping"]
    offsets = [
        [tuple(o) if s == 1 else None for o, s in zip(enc["offset_mapping"][w], enc.sequence_ids(w))]
        for w in range(len(samples))
    ]
    if stats is not None:
        contexts = list(rows["context"])
        _count_answers(stats, enc, contexts, [_gold_spans(a, c) for a, c in zip(rows["answers"], contexts)])
    return {"input_ids": enc["input_ids"], "example_index": [first + s for s in samples], "offset_mapping": offsets}


def span_examples(rows: dict[str, list]) -> Features:
    """What scoring needs per example: context, id and gold (answer texts) [n_examples]."""
    return {
        "context": list(rows["context"]),
        "id": list(rows["id"]),
        "gold": [list(a["text"]) for a in rows["answers"]],
    }


def featurize_span(
    rows: dict[str, list],
    tokenizer: Callable[..., Any],
    max_len: int,
    where: str,
    *,
    training: bool = True,
    stride: int | None = None,
    first: int = 0,
    stats: Counter | None = None,
) -> Features:
    """SQuAD-format rows -> overlapping windows (question first, context second), as HF run_qa does.

    Training: input_ids, start_positions, end_positions [n_windows] (CLS = 0 when the answer is not
    inside the window or the question is unanswerable; the tokens that cover the answer when their
    characters reach past it, as HF run_qa labels them). Eval: `span_windows` and `span_examples`. `stats`
    counts as `span_windows` does, for the first gold answer (the one training labels).
    """
    if not training:
        return {
            **span_windows(rows, tokenizer, max_len, stride=stride, first=first, stats=stats),
            **span_examples(rows),
        }
    enc = _windows(rows, tokenizer, max_len, stride, stats)
    spans = [
        _answer_span(a, c, f"{where}: row {first + i}")
        for i, (a, c) in enumerate(zip(rows["answers"], rows["context"]))
    ]
    positions = [
        _token_span(spans[ex], enc["offset_mapping"][w], enc.sequence_ids(w))
        for w, ex in enumerate(enc["overflow_to_sample_mapping"])
    ]
    _count_answers(stats, enc, list(rows["context"]), [[] if s is None else [s] for s in spans])
    return {
        "input_ids": enc["input_ids"],
        "start_positions": [p[0] for p in positions],
        "end_positions": [p[1] for p in positions],
    }
