import random
from dataclasses import replace

import pytest

from xstilts.models.pretrain import train_tokenizer
from xstilts.tasks.feature_kit import IGNORE
from xstilts.tasks.features import featurize, featurize_bucc, featurize_retrieval, featurize_tagging, tag_inventory
from xstilts.tasks.loading import DataError
from xstilts.tasks.registry import NER, build_registry
from xstilts.tasks.span_features import doc_stride, featurize_span

REG = build_registry()
SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "ta", "si", "po", "de", "fa", "gu", "be", "zo", "xi", "wa"]


def vocabulary(seed: int = 0, n: int = 120) -> list[str]:
    rng = random.Random(seed)
    return sorted({"".join(rng.choice(SYLLABLES) for _ in range(rng.randrange(1, 4))) for _ in range(n)})


WORDS = vocabulary()


@pytest.fixture(scope="module")
def tok():
    rng = random.Random(1)
    lines = [" ".join(rng.choice(WORDS) for _ in range(rng.randrange(4, 12))) for _ in range(300)]
    return train_tokenizer(lines, 200, 64)


def sentence(rng: random.Random, n: int) -> list[str]:
    return [rng.choice(WORDS) for _ in range(n)]


# ----------------------------------------------------------------------------- classification, choices


def test_classification_keeps_its_features(tok):
    rows = {"text_a": ["ka lo", "mi ne"], "text_b": ["ru", "ta"], "label": [0, 2]}
    feats = featurize(rows, REG["mnli"], tok)
    assert feats["labels"] == [0, 2] and feats["input_ids"][0][0] == tok.cls_token_id
    with pytest.raises(DataError, match="here: label 3"):
        featurize({**rows, "label": [0, 3]}, REG["mnli"], tok, where="here")


def test_multiple_choice_pairs_each_choice_with_context_and_question(tok):
    rows = {
        "context": ["kalo mine", ""],
        "question": ["rutasi", "pode fa"],
        "choices": [["ka", "lo", "mi", "ne"], ["ru", "ta", "si", "po"]],
        "label": [2, 0],
    }
    feats = featurize(rows, REG["hellaswag"], tok)
    assert [len(r) for r in feats["input_ids"]] == [4, 4] and feats["labels"] == [2, 0]
    first = tok("kalo mine rutasi", "mi")["input_ids"]
    assert feats["input_ids"][0][2] == first  # first = context + " " + question, second = the choice
    assert feats["input_ids"][1][0] == tok("pode fa", "ru")["input_ids"]  # empty context: stripped


def test_multiple_choice_rejects_bad_labels_and_ragged_choices(tok):
    rows = {"context": ["ka"], "question": ["lo"], "choices": [["a", "b", "c", "d"]], "label": [4]}
    with pytest.raises(DataError, match="dev.jsonl: row 0: label 4 outside 0..3"):
        featurize(rows, REG["hellaswag"], tok, where="dev.jsonl")
    ragged = {"context": ["ka", "lo"], "question": ["", ""], "choices": [["a", "b"], ["a", "b", "c"]], "label": [0, 0]}
    with pytest.raises(DataError, match="different numbers of choices"):
        featurize(ragged, REG["hellaswag"], tok)


# ----------------------------------------------------------------------------- tagging


def tagging_rows(n: int = 20, seed: int = 0) -> dict:
    rng = random.Random(seed)
    tokens = [sentence(rng, rng.randrange(3, 9)) for _ in range(n)]
    return {"tokens": tokens, "tags": [[WORDS.index(w) % len(NER) for w in s] for s in tokens]}


def test_tagging_labels_only_the_first_sub_token_of_each_word(tok):
    rows = tagging_rows()
    feats = featurize(rows, REG["panx"], tok, training=False)
    multi = 0
    for n, (words, tags) in enumerate(zip(rows["tokens"], rows["tags"])):
        labels, starts = feats["labels"][n], feats["word_starts"][n]
        assert len(labels) == len(feats["input_ids"][n]) and len(starts) == len(words)
        assert [labels[p] for p in starts] == tags
        assert sum(y != IGNORE for y in labels) == len(words)
        ends = starts[1:] + [len(labels) - 1]  # </s> follows the last word
        for w, (a, b) in enumerate(zip(starts, ends)):
            assert tok.decode(feats["input_ids"][n][a:b]).strip() == words[w]  # the word's own sub-tokens
            multi += b - a > 1
        assert feats["gold"][n] == [NER[t] for t in tags]
    assert multi > 0  # some words are split, so "first sub-token only" was exercised


def test_tagging_truncation_marks_cut_words(tok):
    words = sentence(random.Random(3), 40)
    feats = featurize_tagging({"tokens": [words], "tags": [["O"] * 40]}, tok, 16, NER, "w", training=False)
    starts = feats["word_starts"][0]
    assert len(feats["input_ids"][0]) == 16 and len(starts) == 40
    kept = [s for s in starts if s >= 0]
    assert kept == sorted(kept) and 0 < len(kept) < 40 and starts[-1] == -1
    assert starts == kept + [-1] * (40 - len(kept))  # a prefix of the words is kept


def test_string_tags_use_an_inventory_built_from_training_rows(tok):
    rows = {"tokens": [["ka", "lo"], ["mi"]], "tags": [["N/N", "N"], ["S\\NP"]]}
    inventory = tag_inventory(rows)
    assert inventory == ("N", "N/N", "S\\NP")
    with pytest.raises(DataError, match="no tag inventory"):
        featurize(rows, REG["ccg"], tok)
    feats = featurize(rows, REG["ccg"], tok, labels=inventory)
    assert [y for y in feats["labels"][0] if y != IGNORE] == [1, 0]
    dev = {"tokens": [["ka", "lo"]], "tags": [["N", "(S\\NP)/NP"]]}  # a supertag unseen in training
    with pytest.raises(DataError, match="ccg/train: row 0: tag '\\(S"):
        featurize(dev, REG["ccg"], tok, where="ccg/train", labels=inventory)
    feats = featurize(dev, REG["ccg"], tok, labels=inventory, training=False)
    assert [feats["labels"][0][p] for p in feats["word_starts"][0]] == [0, IGNORE]
    assert feats["gold"] == [["N", "(S\\NP)/NP"]]  # scored as gold, never predictable


def test_tagging_rejects_bad_tags(tok):
    with pytest.raises(DataError, match="w: row 0: tag 7 outside 0..6"):
        featurize({"tokens": [["ka"]], "tags": [[7]]}, REG["panx"], tok, where="w")
    with pytest.raises(DataError, match="2 tokens but 1 tags"):
        featurize({"tokens": [["ka", "lo"]], "tags": [[0]]}, REG["panx"], tok)


# ----------------------------------------------------------------------------- span


def span_rows(n_words: int = 12, seed: int = 0) -> dict:
    rng = random.Random(seed)
    contexts, answers = [], []
    for i in range(4):
        words = sentence(rng, n_words)
        context = " ".join(words)
        k = rng.randrange(n_words - 2)
        text = " ".join(words[k : k + 2])
        start = len(" ".join(words[:k])) + (1 if k else 0)
        contexts.append(context)
        answers.append({"text": [text], "answer_start": [start]})
    answers[3] = {"text": [], "answer_start": []}  # SQuAD v2: unanswerable
    return {"id": [f"q{i}" for i in range(4)], "context": contexts, "question": ["kalo mi"] * 4, "answers": answers}


def answer_of(feats: dict, evals: dict, w: int) -> str:
    offsets = evals["offset_mapping"][w]
    start, end = feats["start_positions"][w], feats["end_positions"][w]
    return evals["context"][evals["example_index"][w]][offsets[start][0] : offsets[end][1]].strip()


def test_span_positions_map_back_to_the_gold_answer(tok):
    rows = span_rows()
    spec = replace(REG["squad_v2"], max_len=64)
    feats, evals = featurize(rows, spec, tok), featurize(rows, spec, tok, training=False)
    assert evals["example_index"] == [0, 1, 2, 3]  # short contexts: one window each
    for w in range(3):
        assert feats["start_positions"][w] > 0 and answer_of(feats, evals, w) == rows["answers"][w]["text"][0]
    assert (feats["start_positions"][3], feats["end_positions"][3]) == (0, 0)  # unanswerable -> CLS
    assert evals["gold"][3] == [] and evals["id"] == rows["id"]
    question_len = len(tok("kalo mi", add_special_tokens=False)["input_ids"])
    assert all(o is None for o in evals["offset_mapping"][0][: question_len + 3])  # <s> q </s></s>: not context


def test_long_context_is_split_into_overlapping_windows(tok):
    rows = span_rows(n_words=60, seed=4)
    spec = replace(REG["xquad"], max_len=32)
    feats, evals = featurize(rows, spec, tok), featurize(rows, spec, tok, training=False)
    windows = [w for w, ex in enumerate(evals["example_index"]) if ex == 0]
    assert len(windows) > 2 and all(len(feats["input_ids"][w]) <= 32 for w in windows)
    first, second = (evals["offset_mapping"][w] for w in windows[:2])
    first_ctx, second_ctx = [o for o in first if o], [o for o in second if o]
    assert first_ctx[-doc_stride(32) :] == second_ctx[: doc_stride(32)]  # stride = overlapping tokens
    holding = [w for w in windows if feats["start_positions"][w] > 0]
    assert holding and all(answer_of(feats, evals, w) == rows["answers"][0]["text"][0] for w in holding)
    assert any(feats["start_positions"][w] == feats["end_positions"][w] == 0 for w in windows)


def test_span_rejects_answers_not_in_their_context_and_cuts_long_questions(tok):
    rows = span_rows()
    rows["answers"][0] = {"text": ["zzz"], "answer_start": [2]}
    with pytest.raises(DataError, match="train.jsonl: row 0: answer 'zzz' is not at character 2"):
        featurize(rows, REG["squad_v2"], tok, where="train.jsonl")
    long_q = {**span_rows(), "question": [" ".join(WORDS[:60])] * 4}
    feats = featurize_span(long_q, tok, 64, "w", training=True)  # without a cut: truncation error
    assert all(len(ids) <= 64 for ids in feats["input_ids"])


# ----------------------------------------------------------------------------- retrieval


def test_retrieval_features_strip_lines_and_bucc_drops_repeated_texts(tok):
    feats = featurize_retrieval({"text_a": ["kalo mi\n"], "text_b": ["ne ru"]}, tok, 32)
    assert feats["src_input_ids"] == [tok("kalo mi")["input_ids"]]
    assert featurize({"text_a": ["ka"], "text_b": ["lo"]}, REG["tatoeba"], tok)["tgt_input_ids"] == [
        tok("lo")["input_ids"]
    ]
    feats = featurize_bucc({"de-1": "ka lo", "de-2": "mi", "de-3": "ka lo "}, {"en-1": "ne"}, tok, 32)
    assert feats["src_ids"] == [None, "de-2"] and len(feats["src_input_ids"]) == 2
    assert feats["tgt_ids"] == ["en-1"]


def test_unknown_kind_is_refused(tok):
    with pytest.raises(ValueError, match="no featurisation for task kind 'none'"):
        featurize({}, REG["none"], tok)
