"""What featurisation counts per split (rows, dropped, truncated, and each kind's own losses), and how the
feature cache keeps and logs the counts."""

import json
import logging
import random
from collections import Counter
from dataclasses import replace

import datasets

from tests.unit.tasks.conftest import WORDS
from xstilts.tasks.feature_cache import build_features, split_counts
from xstilts.tasks.feature_kit import IGNORE
from xstilts.tasks.features import (
    feature_parts,
    featurize,
    featurize_bucc,
    featurize_classification,
    featurize_multiple_choice,
    featurize_retrieval,
    featurize_tagging,
)
from xstilts.tasks.loading import bucc_rows
from xstilts.tasks.registry import NER, build_registry
from xstilts.tasks.span_features import ANSWER_REASONS, MAX_ANSWER_TOKENS, featurize_span

REG = build_registry()


def sentence(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [rng.choice(WORDS) for _ in range(n)]


def length(tok, *texts, **kwargs) -> int:
    return len(tok(*texts, **kwargs)["input_ids"])


# ----------------------------------------------------------------------------- sequence kinds


def test_classification_counts_the_rows_cut_to_max_len(tok):
    texts = [" ".join(sentence(n, n)) for n in (2, 5, 9, 30)]
    rows = {"text_a": texts, "text_b": ["ka lo"] * 4, "label": [0, 1, 2, 0]}
    stats: Counter = Counter()
    featurize_classification(rows, tok, 12, 3, "w", stats=stats)
    cut = sum(length(tok, a, "ka lo") > 12 for a in texts)
    assert 0 < cut < 4 and stats == Counter(rows=4, dropped=0, truncated=cut)


def test_a_row_exactly_at_max_len_is_not_truncated(tok):
    text = " ".join(sentence(8))
    n = length(tok, text)
    for max_len, cut in ((n, 0), (n - 1, 1)):
        stats: Counter = Counter()
        featurize_classification({"text_a": [text], "label": [0]}, tok, max_len, 2, "w", stats=stats)
        assert stats["truncated"] == cut


def test_multiple_choice_counts_a_row_once_when_any_choice_is_cut(tok):
    rows = {
        "context": ["ka lo", "mi ne"],
        "question": ["ru", "ta"],
        "choices": [["si", "po", " ".join(sentence(40)), " ".join(sentence(40, 1))], ["ka", "lo", "mi", "ne"]],
        "label": [0, 1],
    }
    stats: Counter = Counter()
    featurize_multiple_choice(rows, tok, 16, "w", stats=stats)
    assert stats == Counter(rows=2, dropped=0, truncated=1)


def test_retrieval_counts_pairs_with_either_side_cut_and_bucc_counts_lost_ids(tok):
    long = " ".join(sentence(40))
    stats: Counter = Counter()
    featurize_retrieval({"text_a": ["ka lo\n", long, "mi"], "text_b": ["ne\n", "ru", long]}, tok, 16, stats=stats)
    assert stats == Counter(rows=3, dropped=0, truncated=2)
    stats = Counter()
    feats = featurize_bucc({"de-1": "ka lo", "de-2": "mi", "de-3": "ka lo "}, {"en-1": long}, tok, 16, stats=stats)
    assert feats["src_ids"] == [None, "de-2"]  # as before: a repeated text keeps no id
    assert stats == Counter(rows=4, dropped=2, truncated=1)


# ----------------------------------------------------------------------------- tagging


def test_a_word_with_no_pieces_is_counted_and_moves_no_label(tok):
    words = ["kalo", "mi", "tasi", "ne"]
    tags = [1, 2, 3, 4]
    assert tok([[""]], is_split_into_words=True, add_special_tokens=False)["input_ids"] == [[]]
    plain = featurize_tagging({"tokens": [words], "tags": [tags]}, tok, 64, NER, "w", training=False)
    stats: Counter = Counter()
    with_empty = featurize_tagging(
        {"tokens": [words[:2] + [""] + words[2:]], "tags": [tags[:2] + [0] + tags[2:]]},
        tok,
        64,
        NER,
        "w",
        training=False,
        stats=stats,
    )
    assert with_empty["labels"] == plain["labels"] and with_empty["input_ids"] == plain["input_ids"]
    starts = plain["word_starts"][0]
    assert with_empty["word_starts"][0] == starts[:2] + [-1] + starts[2:]
    assert sum(y != IGNORE for y in with_empty["labels"][0]) == len(words)
    assert stats == Counter(rows=1, dropped=0, truncated=0, empty_words=1, cut_words=0)


def test_tagging_counts_truncated_rows_and_the_words_they_lose(tok):
    long, short = sentence(40, 3), sentence(3, 4)
    stats: Counter = Counter()
    feats = featurize_tagging(
        {"tokens": [long, short], "tags": [["O"] * 40, ["O"] * 3]}, tok, 16, NER, "w", training=False, stats=stats
    )
    kept = sum(s >= 0 for s in feats["word_starts"][0])
    assert 0 < kept < 40
    assert stats == Counter(rows=2, dropped=0, truncated=1, empty_words=0, cut_words=40 - kept)
    training: Counter = Counter()  # training features count the same
    featurize_tagging({"tokens": [long, short], "tags": [["O"] * 40, ["O"] * 3]}, tok, 16, NER, "w", stats=training)
    assert training == stats


# ----------------------------------------------------------------------------- spans


def span_row(context_words: list[str], answer: str, at: int, question: str = "ka lo") -> dict:
    context = " ".join(context_words)
    return {"id": "q", "context": context, "question": question, "answers": {"text": [answer], "answer_start": [at]}}


def columns(rows: list[dict]) -> dict[str, list]:
    return {key: [r[key] for r in rows] for key in rows[0]}


def span_stats(tok, rows: list[dict], max_len: int, training: bool) -> Counter:
    stats: Counter = Counter()
    featurize_span(columns(rows), tok, max_len, "w", training=training, stats=stats)
    return stats


def test_span_counts_unanswerable_examples_by_reason(tok):
    assert tok.convert_ids_to_tokens(tok("mi kalo ne", add_special_tokens=False)["input_ids"])[0] == "▁mi"
    words = sentence(60, 5)
    end = next(
        k for k in range(6, 60) if length(tok, " ".join(words[5:k]), add_special_tokens=False) > MAX_ANSWER_TOKENS
    )
    long_answer, long_at = " ".join(words[5:end]), len(" ".join(words[:5])) + 1
    rows = [
        span_row(["mi", "kalo", "ne"], "kalo", 3),  # whole pieces: answerable
        span_row(["mi", "kalo", "ne"], "m", 0),  # ends inside the piece '▁mi'
        span_row(words, long_answer, long_at),  # more than MAX_ANSWER_TOKENS tokens
        {**span_row(["mi", "ne"], "", 0), "answers": {"text": [], "answer_start": []}},  # SQuAD v2 no-answer
    ]
    for training in (True, False):
        stats = span_stats(tok, rows, 64, training)
        assert stats["rows"] == 4 and stats["dropped"] == 0 and stats["truncated"] == 0
        assert stats["unanswerable"] == 2 and stats["answer_boundary"] == 1 and stats["answer_too_long"] == 1
        assert stats["answer_outside"] == 0
    # An answer longer than any window's context is outside every window.
    stats = span_stats(tok, [span_row(words, long_answer, long_at)], 24, False)
    assert stats["unanswerable"] == 1 and stats["answer_outside"] == 1
    assert set(ANSWER_REASONS) <= set(stats)


def test_an_eval_answer_that_is_not_in_its_context_is_counted_not_raised(tok):
    row = span_row(["mi", "kalo", "ne"], "zzz", 0)
    stats: Counter = Counter()
    feats = featurize(columns([row]), REG["xquad"], tok, training=False, stats=stats)
    assert feats["gold"] == [["zzz"]] and stats["unanswerable"] == stats["answer_outside"] == 1
    moved = span_row(["mi", "kalo", "ne"], "kalo", 0)  # wrong answer_start: found by its text
    stats = Counter()
    featurize(columns([moved]), REG["xquad"], tok, training=False, stats=stats)
    assert stats["unanswerable"] == 0


def test_span_counts_questions_cut_to_the_query_limit(tok):
    rows = [span_row(["mi", "kalo", "ne"], "kalo", 3, question=" ".join(sentence(60, 6))), span_row(["mi"], "mi", 0)]
    stats = span_stats(tok, rows, 64, False)  # the question limit is max_len // 4 = 16 tokens
    assert stats["truncated"] == 1 and stats["rows"] == 2


# ----------------------------------------------------------------------------- the cache


def test_split_counts_complete_what_was_counted():
    assert split_counts(5, None) == {"rows": 5}
    assert split_counts(5, Counter(truncated=2, unanswerable=1)) == {
        "rows": 5,
        "dropped": 0,
        "truncated": 2,
        "unanswerable": 1,
    }
    assert split_counts(9, Counter(rows=4, dropped=2))["rows"] == 4  # the featuriser's own row count wins


def test_the_cache_keeps_the_counts_and_logs_a_split_that_lost_rows_once(tmp_path, tok, caplog):
    src = {f"de-{i}": " ".join(sentence(4, i)) for i in range(6)}
    src["de-dup"] = src["de-0"]
    rows = bucc_rows(src, {f"en-{i}": " ".join(sentence(4, 10 + i)) for i in range(6)}, {("de-1", "en-1")})
    spec = REG["bucc2018"]

    def build():
        stats: Counter = Counter()
        return build_features(
            tmp_path / "f",
            lambda: datasets.Dataset.from_dict(rows),
            lambda cols: feature_parts(spec, tok, cols, "w", training=False, stats=stats),
            "bucc w",
            stats=stats,
        )

    with caplog.at_level(logging.INFO, logger="xstilts.features"):
        first = build()
    assert first.stats == {"rows": 13, "dropped": 2, "truncated": 0}
    (line,) = [r for r in caplog.records if r.name == "xstilts.features"]
    assert line.levelno == logging.WARNING and "bucc w" in line.getMessage() and "dropped 2" in line.getMessage()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="xstilts.features"):
        again = build()
    assert again.stats == first.stats and not caplog.records  # a cache hit: same counts, no second line
    assert json.loads((tmp_path / "f" / "features.json").read_text())["stats"] == first.stats


def test_a_split_that_lost_nothing_logs_nothing(tmp_path, tok, caplog):
    rows = {"tokens": [["ka", "lo"], ["mi"]], "tags": [[0, 1], [2]]}
    stats: Counter = Counter()
    spec = replace(REG["panx"], max_len=64)
    with caplog.at_level(logging.DEBUG, logger="xstilts.features"):
        table = build_features(
            tmp_path / "f",
            lambda: datasets.Dataset.from_dict(rows),
            lambda cols: feature_parts(spec, tok, cols, "w", training=False, stats=stats),
            "w",
            stats=stats,
        )
    assert table.stats == {"rows": 2, "dropped": 0, "truncated": 0, "empty_words": 0, "cut_words": 0}
    assert not [r for r in caplog.records if r.name == "xstilts.features"]
