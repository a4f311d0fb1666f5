"""Every task kind end to end on a tiny tokenizer and a random 1-layer XLM-R: heads, batches, training,
prediction and official scoring."""

import random
from dataclasses import replace

import numpy as np
import pytest
import torch

from xstilts.models import predict, retrieval
from xstilts.models import scoring as evaluate
from xstilts.models.heads import auto_class, load_for_task, transfer_encoder
from xstilts.models.predict import postprocess_spans, predict_choices, predict_spans, predict_tags, truncated_tag
from xstilts.models.pretrain import train_tokenizer
from xstilts.models.scoring import collate_for, evaluate_split
from xstilts.models.train import TrainConfig, train
from xstilts.tasks.feature_kit import IGNORE
from xstilts.tasks.features import featurize, featurize_bucc, tag_inventory
from xstilts.tasks.metrics import headline
from xstilts.tasks.registry import NER, UPOS, UnknownNameError, build_registry

pytestmark = pytest.mark.integration
REG = build_registry()
SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "ta", "si", "po", "de", "fa", "gu", "be", "zo", "xi", "wa"]
_rng = random.Random(0)
WORDS = sorted({"".join(_rng.choice(SYLLABLES) for _ in range(_rng.randrange(1, 4))) for _ in range(120)})
MARK, WORDS = WORDS[0], WORDS[1:]  # the word the synthetic tasks make learnable
MAX_LEN = 64


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models run several times faster on one thread (measured on 2 cores)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tok():
    rng = random.Random(1)
    lines = [" ".join(rng.choice(WORDS + [MARK]) for _ in range(rng.randrange(4, 12))) for _ in range(300)]
    return train_tokenizer(lines, 200, MAX_LEN)


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory, tok):
    from transformers import AutoModelForMaskedLM, XLMRobertaConfig

    # fmt: off
    config = XLMRobertaConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                              intermediate_size=64, max_position_embeddings=MAX_LEN + 2, pad_token_id=1,
                              bos_token_id=0, eos_token_id=2, type_vocab_size=1, hidden_dropout_prob=0.0,
                              attention_probs_dropout_prob=0.0)
    # fmt: on
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("encoder")
    AutoModelForMaskedLM.from_config(config).save_pretrained(str(out))
    return out


def words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def mean_loss(model: torch.nn.Module, data: dict, collate) -> float:
    model.eval()
    with torch.no_grad():
        batch = collate(data, list(range(len(data["input_ids"]))), torch.Generator())
        return float(model(**batch).loss)


def fit(model, data, collate, steps: int = 40) -> tuple[float, float]:
    before = mean_loss(model, data, collate)
    train(model, data, collate, TrainConfig(max_steps=steps, lr=3e-3, batch_size=16, device="cpu"))
    return before, mean_loss(model, data, collate)


def encoder_weights(model: torch.nn.Module) -> dict:
    return {k: v for k, v in model.base_model.state_dict().items() if not k.startswith("pooler.")}


# ----------------------------------------------------------------------------- heads


def test_every_kind_loads_its_head_over_the_same_encoder(encoder_dir):
    from transformers import AutoModelForMaskedLM

    mlm = encoder_weights(AutoModelForMaskedLM.from_pretrained(str(encoder_dir)))
    ccg_tags = ("N", "N/N", "NP")
    for name, kind, head in [
        ("mnli", "classification", "SequenceClassification"),
        ("hellaswag", "multiple_choice", "MultipleChoice"),
        ("panx", "tagging", "TokenClassification"),
        ("squad_v2", "span", "QuestionAnswering"),
        ("tatoeba", "retrieval", "Model"),
    ]:
        assert auto_class(kind).__name__ == f"AutoModel{'For' + head if head != 'Model' else ''}"
        model = load_for_task(encoder_dir, REG[name], seed=1)
        assert type(model).__name__ == f"XLMRoberta{'For' if head != 'Model' else ''}{head}"
        got = encoder_weights(model)
        assert got.keys() == mlm.keys() and all(torch.equal(got[k], mlm[k]) for k in mlm)
    ccg = load_for_task(encoder_dir, REG["ccg"], labels=ccg_tags)
    assert ccg.config.id2label == {0: "N", 1: "N/N", 2: "NP"} and ccg.classifier.out_features == 3
    with pytest.raises(ValueError, match="declares no labels"):
        load_for_task(encoder_dir, REG["ccg"])


def test_transfer_from_a_classifier_to_every_kind(encoder_dir):
    source = load_for_task(encoder_dir, REG["mnli"])  # 3 labels and no pooler
    src = encoder_weights(source)
    for name in ("hellaswag", "panx", "squad_v2", "tatoeba", "xnli"):
        moved = transfer_encoder(source, REG[name], seed=2)
        got = encoder_weights(moved)
        assert got.keys() == src.keys() and all(torch.equal(got[k], src[k]) for k in src), name
    assert transfer_encoder(source, REG["squad_v2"]).qa_outputs.out_features == 2  # start, end
    assert transfer_encoder(source, REG["udpos"]).config.id2label[16] == "X"
    choice = transfer_encoder(source, REG["hellaswag"])  # has a pooler; back to a classifier drops it
    back = encoder_weights(transfer_encoder(choice, REG["mnli"]))
    assert all(torch.equal(back[k], src[k]) for k in src)


# ----------------------------------------------------------------------------- batches and training


def choice_rows(n: int, seed: int = 0) -> dict:
    rng = random.Random(seed)
    rows = {"context": [], "question": [], "choices": [], "label": []}
    for _ in range(n):
        label = rng.randrange(4)
        rows["choices"].append([f"{MARK} {words(rng, 1)}" if c == label else words(rng, 2) for c in range(4)])
        rows["context"].append(words(rng, 4))
        rows["question"].append(words(rng, 2))
        rows["label"].append(label)
    return rows


def test_multiple_choice_trains_and_predicts(encoder_dir, tok):
    spec = replace(REG["hellaswag"], max_len=MAX_LEN)
    data = featurize(choice_rows(64), spec, tok)
    collate = collate_for(spec, tok.pad_token_id)
    batch = collate(data, [0, 1, 2], torch.Generator())
    assert batch["input_ids"].shape[:2] == (3, 4) and batch["attention_mask"].shape == batch["input_ids"].shape
    model = load_for_task(encoder_dir, spec, seed=0)
    before, after = fit(model, data, collate, steps=60)
    assert after < 0.3 * before  # chance is ln 4 = 1.39
    dev = featurize(choice_rows(32, seed=1), spec, tok, training=False)
    preds = predict_choices(model, dev["input_ids"], tok.pad_token_id, device="cpu")
    assert len(preds) == 32 and set(preds) <= {0, 1, 2, 3}
    scores = evaluate_split(model, spec, dev, None, "en", tok.pad_token_id, device="cpu")
    assert scores["accuracy"] > 60


def tag_rows(tok, n: int, seed: int = 0, length: tuple[int, int] = (3, 10)) -> dict:
    """Tags that are a function of each word's first sub-token, so a tagger can learn them quickly."""
    rng = random.Random(seed)
    tokens = [[rng.choice(WORDS) for _ in range(rng.randrange(*length))] for _ in range(n)]
    first = {w: tok(w, add_special_tokens=False)["input_ids"][0] for s in tokens for w in s}
    return {"tokens": tokens, "tags": [[NER[first[w] % 3] for w in s] for s in tokens]}


def test_tagging_trains_and_predicts_one_tag_per_word(encoder_dir, tok):
    spec = REG["panx"]
    train_rows = tag_rows(tok, 64)
    data = featurize(train_rows, spec, tok)
    collate = collate_for(spec, tok.pad_token_id)
    batch = collate(data, [0, 1], torch.Generator())
    assert batch["labels"].shape == batch["input_ids"].shape
    assert (batch["labels"][batch["attention_mask"] == 0] == IGNORE).all()
    model = load_for_task(encoder_dir, spec, seed=0)
    before, after = fit(model, data, collate)
    assert after < 0.3 * before  # chance is ln 7 = 1.95
    dev_rows = tag_rows(tok, 16, seed=1, length=(30, 40))  # longer than the 16-token window below
    dev = featurize(dev_rows, replace(spec, max_len=16), tok, training=False)
    preds = predict_tags(model, dev["input_ids"], dev["word_starts"], NER, tok.pad_token_id, device="cpu")
    assert [len(p) for p in preds] == [len(s) for s in dev_rows["tokens"]]
    assert all(p[-1] == "O" for p in preds) and {t for p in preds for t in p} <= set(NER)
    scores = evaluate_split(model, spec, dev, None, "de", tok.pad_token_id, device="cpu")
    assert set(scores) == {"f1", "precision", "recall"} and 0 <= scores["f1"] <= 100


def test_ccg_trains_and_scores_with_the_inventory_of_its_training_rows(encoder_dir, tok):
    rows = tag_rows(tok, 32)
    rows["tags"] = [[f"S/{t}" for t in tags] for tags in rows["tags"]]
    inventory = tag_inventory(rows)
    data = featurize(rows, REG["ccg"], tok, labels=inventory)
    model = load_for_task(encoder_dir, REG["ccg"], labels=inventory)
    fit(model, data, collate_for(REG["ccg"], tok.pad_token_id), steps=60)
    dev = featurize(rows, REG["ccg"], tok, labels=inventory, training=False)
    scores = evaluate_split(model, REG["ccg"], dev, None, "en", tok.pad_token_id, device="cpu")
    assert set(scores) == {"accuracy"} and scores["accuracy"] > 80  # inventory read from id2label


def span_rows(n: int, seed: int = 0, n_words: tuple[int, int] = (6, 14)) -> dict:
    rng = random.Random(seed)
    rows = {"id": [], "context": [], "question": [], "answers": []}
    for i in range(n):
        before, after = words(rng, rng.randrange(*n_words)), words(rng, rng.randrange(*n_words))
        rows["context"].append(f"{before} {MARK} {after}")
        rows["answers"].append({"text": [MARK], "answer_start": [len(before) + 1]})
        rows["question"].append(words(rng, 2))
        rows["id"].append(f"q{i}")
    return rows


def test_span_trains_and_predicts_answer_strings(encoder_dir, tok):
    spec = replace(REG["xquad"], max_len=MAX_LEN)
    data = featurize(span_rows(64), spec, tok)
    collate = collate_for(spec, tok.pad_token_id)
    assert set(collate(data, [0, 1], torch.Generator())) == {
        "input_ids",
        "attention_mask",
        "start_positions",
        "end_positions",
    }
    model = load_for_task(encoder_dir, spec, seed=0)
    before, after = fit(model, data, collate, steps=60)
    assert after < 0.3 * before
    dev_rows = span_rows(16, seed=1)
    dev = featurize(dev_rows, spec, tok, training=False)
    preds = predict_spans(model, dev, tok.pad_token_id, device="cpu")
    assert len(preds) == 16 and all(p in c for p, c in zip(preds, dev_rows["context"]))
    scores = evaluate_split(model, spec, dev, None, "en", tok.pad_token_id, device="cpu")
    assert set(scores) == {"exact_match", "f1"} and scores["exact_match"] > 50


def test_retrieval_and_multitask_have_no_training_batches():
    with pytest.raises(ValueError, match="tatoeba.*no training batches"):
        collate_for(REG["tatoeba"], 1)


# ----------------------------------------------------------------------------- span post-processing


def forced_logits(dev: dict, train_feats: dict, null: float = 0.0) -> tuple[list, list]:
    """Logits that point at the gold span in every window holding it; CLS gets `null` / 2 each."""
    starts, ends = [], []
    for w, ids in enumerate(dev["input_ids"]):
        s, e = np.zeros(len(ids)), np.zeros(len(ids))
        s[0] = e[0] = null / 2
        a, b = train_feats["start_positions"][w], train_feats["end_positions"][w]
        if a > 0:
            s[a], e[b] = 10.0, 10.0
            e[max(a - 1, 1)] = 12.0  # end before start: must be skipped
        starts.append(s)
        ends.append(e)
    return starts, ends


def test_postprocess_returns_the_gold_text_over_windows(tok):
    rows = span_rows(4, seed=2, n_words=(40, 60))
    spec = replace(REG["squad_v2"], max_len=32)
    train_feats, dev = featurize(rows, spec, tok), featurize(rows, spec, tok, training=False)
    assert len(dev["input_ids"]) > 8  # several windows per example
    starts, ends = forced_logits(dev, train_feats)
    assert postprocess_spans(dev, starts, ends) == [MARK] * 4
    starts, ends = forced_logits(dev, train_feats, null=30.0)  # null beats 10 + 10
    assert postprocess_spans(dev, starts, ends, allow_no_answer=True) == [""] * 4
    assert postprocess_spans(dev, starts, ends, allow_no_answer=False) == [MARK] * 4
    off = dev["offset_mapping"][0]
    ctx = [i for i, o in enumerate(off) if o is not None]
    low_s, low_e = ([np.full(len(i), -100.0) for i in dev["input_ids"]] for _ in range(2))
    low_s[0][ctx[0]], low_e[0][ctx[-1]] = 10.0, 10.0  # the best pair, but longer than max_answer_len
    low_s[0][ctx[1]], low_e[0][ctx[2]] = 4.0, 4.0
    got = postprocess_spans(dev, low_s, low_e, max_answer_len=2)[0]
    assert got == rows["context"][0][off[ctx[1]][0] : off[ctx[2]][1]].strip()


def test_evaluate_span_scores_forced_answers_with_squad_and_mlqa(tok, monkeypatch):
    rows = span_rows(4, seed=3, n_words=(40, 60))
    rows["answers"][3] = {"text": [], "answer_start": []}
    spec = replace(REG["squad_v2"], max_len=32)
    train_feats, dev = featurize(rows, spec, tok), featurize(rows, spec, tok, training=False)
    forced = forced_logits(dev, train_feats, null=-10.0)
    for w, ex in enumerate(dev["example_index"]):
        if ex == 3:  # the unanswerable example: CLS beats every span
            forced[0][w][0] = forced[1][w][0] = 5.0
    monkeypatch.setattr(predict, "span_logits", lambda *a, **k: forced)
    assert evaluate_split(None, spec, dev, None, "en", 1) == {"exact_match": 100.0, "f1": 100.0}
    mlqa = replace(REG["mlqa"], max_len=32)
    assert evaluate_split(None, mlqa, dev, [[MARK]] * 4, "de", 1)["exact_match"] == 75.0  # no null in mlqa


# ----------------------------------------------------------------------------- tagging scores, headline


def test_tag_metrics_and_the_truncation_tag(monkeypatch):
    gold = [["B-PER", "I-PER", "O"], ["O", "B-LOC"]]
    dev = {"input_ids": [[0, 5, 6, 7, 2], [0, 5, 6, 2]], "word_starts": [[1, 2, 3], [1, 2]], "gold": gold}
    monkeypatch.setattr(evaluate, "predict_tags", lambda *a, **k: gold)
    assert evaluate_split(None, REG["panx"], dev, None, "de", 1)["f1"] == 100.0
    pos = evaluate_split(None, REG["udpos"], dev, None, "de", 1)
    assert pos["accuracy"] == 100.0 and "f1" in pos
    assert evaluate_split(None, REG["ccg"], dev, None, "en", 1, labels=("O",)) == {"accuracy": 100.0}
    assert truncated_tag(NER) == "O" and truncated_tag(UPOS) == "ADJ"


def test_headline_is_the_summary_number_of_each_metric():
    assert headline(REG["xnli"], {"accuracy": 71.0}) == 71.0
    assert headline(REG["panx"], {"f1": 60.0, "precision": 1.0, "recall": 2.0}) == 60.0
    assert headline(REG["udpos"], {"f1": 80.0, "accuracy": 90.0}) == 80.0
    assert headline(REG["mlqa"], {"exact_match": 50.0, "f1": 70.0}) == 60.0  # XTREME's (EM + F1) / 2
    assert headline(REG["bucc2018"], {"f1": 40.0, "threshold": 1.1}) == 40.0
    assert headline(REG["ccg"], {"accuracy": 93.0}) == 93.0
    with pytest.raises(UnknownNameError, match="Unknown metric 'none'. .*Available: accuracy"):
        headline(REG["none"], {})


# ----------------------------------------------------------------------------- retrieval


def test_embeddings_are_mean_pooled_and_padding_invariant(encoder_dir, tok):
    model = load_for_task(encoder_dir, REG["tatoeba"])
    assert retrieval.pooling_layer(model) == 1  # XTREME's layer 14 clamped to this 1-layer encoder
    short, long_ = tok("kalo")["input_ids"], tok(words(random.Random(0), 12))["input_ids"]
    alone = retrieval.embed(model, [short], tok.pad_token_id, device="cpu")
    batched = retrieval.embed(model, [long_, short], tok.pad_token_id, device="cpu")
    assert torch.allclose(alone[0], batched[1], atol=1e-5)
    with torch.no_grad():
        hidden = model(input_ids=torch.tensor([short]), output_hidden_states=True).hidden_states[1][0]
    assert torch.allclose(alone[0], torch.nn.functional.normalize(hidden.mean(0), dim=0), atol=1e-5)


def test_tatoeba_identical_pairs_are_found_and_unrelated_ones_are_chance(encoder_dir, tok):
    model = load_for_task(encoder_dir, REG["tatoeba"])
    rng = random.Random(5)
    src = [words(rng, rng.randrange(3, 9)) for _ in range(50)]
    same = featurize({"text_a": src, "text_b": src}, REG["tatoeba"], tok)
    assert evaluate_split(model, REG["tatoeba"], same, None, "de", tok.pad_token_id, device="cpu") == {
        "accuracy": 100.0
    }
    unrelated = featurize(
        {"text_a": src, "text_b": [words(rng, rng.randrange(3, 9)) for _ in range(50)]}, REG["tatoeba"], tok
    )
    assert (
        evaluate_split(model, REG["tatoeba"], unrelated, None, "de", tok.pad_token_id, device="cpu")["accuracy"] <= 10.0
    )  # chance is 2%
    gen = torch.Generator().manual_seed(0)
    x, y = (torch.nn.functional.normalize(torch.randn(500, 32, generator=gen), dim=-1) for _ in range(2))
    assert sum(p == i for i, p in enumerate(retrieval.nearest(x, y))) / 500 < 0.02  # random vectors: 0.2%


def test_margin_mining_is_one_to_one_and_prefers_isolated_pairs():
    x = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0, 0.0], [0.9, 0.1, 0.0], [0.0, 0.0, 1.0]]), dim=-1)
    y = torch.nn.functional.normalize(torch.tensor([[1.0, 0.05, 0.0], [0.0, 0.1, 1.0]]), dim=-1)
    pairs = retrieval.mine(x, y, k=2)
    assert [(i, j) for i, j, _ in pairs] == [(2, 1), (0, 0)]  # x1 loses y0 to x0; each side used once
    assert [(i, j) for i, j, _ in retrieval.mine(x, y, margin="absolute", k=2)] == [(0, 0), (2, 1)]
    with pytest.raises(ValueError, match="unknown margin"):
        retrieval.mine(x, y, margin="distance")


def test_bucc_mines_identical_sentences_with_a_threshold_from_dev(encoder_dir, tok):
    model = load_for_task(encoder_dir, REG["bucc2018"])
    rng = random.Random(6)

    def split(tag: str, n: int = 15) -> tuple[dict, set]:
        shared = [words(rng, rng.randrange(4, 9)) for _ in range(n)]
        src = {f"de-{tag}{i}": s for i, s in enumerate(shared)}
        src.update({f"de-{tag}x{i}": words(rng, rng.randrange(4, 9)) for i in range(n)})
        tgt = {f"en-{tag}{i}": s for i, s in enumerate(shared)}
        tgt.update({f"en-{tag}x{i}": words(rng, rng.randrange(4, 9)) for i in range(n)})
        return featurize_bucc(src, tgt, tok, MAX_LEN), {(f"de-{tag}{i}", f"en-{tag}{i}") for i in range(n)}

    (test, gold), (dev, dev_gold) = split("t"), split("d")
    own = evaluate_split(model, REG["bucc2018"], test, gold, "de", tok.pad_token_id, device="cpu")
    assert own["f1"] == 100.0 and own["threshold"] > 0
    scores = evaluate_split(
        model, REG["bucc2018"], test, gold, "de", tok.pad_token_id, device="cpu", dev=(dev, dev_gold)
    )
    assert set(scores) == {"f1", "precision", "recall", "threshold"} and scores["recall"] == 100.0
