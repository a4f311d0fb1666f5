"""The offline world's labels are learnable in principle: a trivial rule written here recovers the English
labels of every task, and the world's dictionary finds every translation."""

from collections import Counter, defaultdict

import pytest

from tests.helpers.world import ADJ, NOUNS, REG, SPEC, english, meaning, rows
from xstilts.tasks.languages import ISO3
from xstilts.tasks.loading import read_bucc
from xstilts.tasks.world import write_world
from xstilts.tasks.world_grammar import ANTONYM, OBJECTS, PLACES, QUESTION, TOWNS, VERBS

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return write_world(SPEC, tmp_path_factory.mktemp("world"), REG)


def accuracy(pairs) -> float:
    pairs = list(pairs)
    return sum(a == b for a, b in pairs) / len(pairs)


def head_triple(sentence: str) -> tuple:
    words = sentence.split()
    nouns = [w for w in words if w in NOUNS]
    verb = next(w for w in words if w in VERBS)
    return (nouns[0], verb, nouns[1] if len(nouns) > 1 else None), bool({"not", "never"} & set(words))


def nli_rule(premise: str, hypothesis: str) -> int:
    """Contradiction if negated or the premise's verb is the antonym; entailment if the same subject does the
    same thing to the same object; neutral otherwise (also when no premise sentence has the subject)."""
    (subj, verb, obj), negated = head_triple(hypothesis)
    for sentence in premise.split(" . "):
        (s, v, o), _ = head_triple(sentence)
        if s == subj:
            return 2 if negated or v == ANTONYM[verb] else 0 if o == obj else 1
    return 1


@pytest.mark.parametrize("task", ["mnli", "anli", "xnli"])
def test_nli_rule(root, task):
    found = english(root, task, "dev")
    assert accuracy((nli_rule(r["premise"], r["hypothesis"]), r["label"]) for r in found) > 0.97


def sentiment_rule(sentence: str) -> int:
    words = set(sentence.split())
    positive = bool(words & {"loves", "likes", "accepts", "happy", "good", "wonderful"})
    return int(positive) ^ bool(words & {"not", "never"})


def test_sst2_rule(root):
    found = english(root, "sst2", "dev")
    assert accuracy((sentiment_rule(r["sentence"]), r["label"]) for r in found) == 1.0


def core(sentence: str) -> list[str]:
    """Drop adjectives, articles and the place phrase: what a paraphrase keeps and a swap changes."""
    place = set(PLACES) | set(TOWNS) | {"in", "near", "Port", "the"}
    return [w for w in sentence.split() if w not in ADJ and w not in place]


@pytest.mark.parametrize("task,a,b", [("qqp", "question1", "question2"), ("pawsx", "sentence1", "sentence2")])
def test_paraphrase_rule(root, task, a, b):
    found = english(root, task, "train")
    assert accuracy((int(core(r[a]) == core(r[b])), r["label"]) for r in found) == 1.0
    assert 0.4 < sum(r["label"] for r in found) / len(found) < 0.6
    overlap = [len(set(r[a].split()) & set(r[b].split())) / len(set(r[a].split())) for r in found if r["label"] == 0]
    assert sum(overlap) / len(overlap) > 0.8  # non-paraphrases share their words (PAWS's adversarial idea)


def test_commonsense_qa_facts_learned_from_train(root):
    memory = {}
    for r in english(root, "commonsense_qa", "train"):
        memory[r["question"]] = r["choices"]["text"]["ABCDE".index(r["answerKey"])]
    dev = english(root, "commonsense_qa", "dev")
    assert (
        accuracy((r["choices"]["text"].index(memory[r["question"]]), "ABCDE".index(r["answerKey"])) for r in dev) == 1
    )


def test_cosmos_qa_rule(root):
    def true(statement: str, context: str) -> bool:
        triple, negated = head_triple(statement)
        return not negated and triple in {head_triple(s)[0] for s in context.split(" . ")}

    found = english(root, "cosmos_qa", "dev")
    assert (
        accuracy(([true(r[f"answer{k}"], r["context"]) for k in range(4)].index(True), r["label"]) for r in found)
        == 1.0
    )


def test_hellaswag_rule_learned_from_train(root):
    def verb_obj(text: str) -> tuple:
        words = text.split()
        v = next(i for i, w in enumerate(words) if w in VERBS)
        return words[v], next(w for w in words[v:] if w in OBJECTS)

    follow = {}
    for r in english(root, "hellaswag", "train"):
        follow[verb_obj(r["ctx_a"])[0]] = verb_obj(r["endings"][int(r["label"])])[0]
    dev = english(root, "hellaswag", "dev")
    picks = [
        [verb_obj(e) == (follow[verb_obj(r["ctx_a"])[0]], verb_obj(r["ctx_a"])[1]) for e in r["endings"]] for r in dev
    ]
    assert accuracy((p.index(True), int(r["label"])) for p, r in zip(picks, dev)) == 1.0


def answer_rule(context: str, question: str) -> str:
    """Align the question with a context sentence (adjectives aside): the words in the question word's place,
    without article, number or preposition, are the answer; no aligned sentence means no answer."""
    q = [w for w in question.split()[:-1] if w not in ADJ]
    k = next(i for i, w in enumerate(q) if w in QUESTION)
    before, after = q[:k], q[k + 1 :]
    for sentence in context.split(" . "):
        s = [w for w in sentence.split() if w not in ADJ and w != "."]
        if len(s) > k + len(after) and s[:k] == before and s[len(s) - len(after) :] == after:
            return " ".join(w for w in s[k : len(s) - len(after)] if w not in ("the", "in", "near") and not w.isdigit())
    return ""


@pytest.mark.parametrize("task", ["squad_v2", "xquad", "mlqa", "tydiqa"])
def test_qa_rule(root, task):
    found = english(root, task, "dev") + english(root, task, "train")
    assert accuracy((answer_rule(r["context"], r["question"]), (r["answers"]["text"] or [""])[0]) for r in found) == 1.0


def window_tagger(train: list[tuple[list, list]]):
    """Majority tag of a word given its neighbours' classes (a class: a word's own majority tag)."""
    by_word = defaultdict(Counter)
    for tokens, tags in train:
        for w, t in zip(tokens, tags):
            by_word[w][t] += 1

    def windows(tokens: list) -> list[tuple]:
        classes = ["<s>"] + [by_word[w].most_common(1)[0][0] if w in by_word else None for w in tokens] + ["</s>"]
        return [(classes[i], w, classes[i + 2]) for i, w in enumerate(tokens)]

    votes = defaultdict(Counter)
    for tokens, tags in train:
        for window, tag in zip(windows(tokens), tags):
            votes[window][tag] += 1

    def tag(tokens: list) -> list:
        return [
            (votes.get(window) or by_word.get(window[1]) or Counter({None: 1})).most_common(1)[0][0]
            for window in windows(tokens)
        ]

    return tag


@pytest.mark.parametrize("task,column", [("udpos", "pos_tags"), ("panx", "ner_tags"), ("ccg", None)])
def test_tagging_rule_learned_from_train(root, task, column):
    def examples(split):
        if task == "ccg":
            lines = (root / f"ccgbank/{split}.txt").read_text().splitlines()
            return [tuple(p.split(" ") for p in line.split("\t")) for line in lines]
        return [(r["tokens"], r[column]) for r in english(root, task, split)]

    tag = window_tagger(examples("train"))
    dev = examples("dev")
    pairs = [(p, t) for tokens, tags in dev for p, t in zip(tag(tokens), tags)]
    assert accuracy(pairs) > 0.97
    if task == "panx":  # the entities themselves, not only the many O tags
        assert accuracy((p, t) for p, t in pairs if t != 0) > 0.9


def test_retrieval_by_the_world_s_dictionary(root):
    """Reading each sentence back through the world's dictionary finds its translation: tatoeba's aligned
    row, and BUCC's gold pairs (distractors have none)."""
    for lang in ("de", "ru", "zh", "ar", "sw"):
        found = rows(root / f"google/xtreme/tatoeba.{ISO3[lang]}/validation.jsonl")
        english_side = [meaning(r["target_sentence"], "en") for r in found]
        assert accuracy((english_side.index(meaning(r["source_sentence"], lang)), i) for i, r in enumerate(found)) == 1
    for lang in ("de", "ru", "zh"):
        src, tgt, gold = read_bucc(root, REG["bucc2018"], "dev", lang)
        by_meaning = {meaning(text, "en"): i for i, text in tgt.items()}
        mined = {(i, by_meaning[meaning(t, lang)]) for i, t in src.items() if meaning(t, lang) in by_meaning}
        assert mined == gold and len(src) > len(gold)
