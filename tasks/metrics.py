"""Official XTREME metrics as pure functions (scores in percent, as XTREME reports them) and the
aggregation into per-task averages and the XTREME score. Anchor: google-research/xtreme@838c13b."""

from __future__ import annotations

import re
import string
import unicodedata
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from xstilts.tasks.names import UnknownNameError, unknown_name_message

if TYPE_CHECKING:
    from xstilts.tasks.registry import TaskSpec

# xtreme evaluate.py: its task order and task groups (the languages of each task are the registry's).
XTREME_TASKS = ("pawsx", "xnli", "panx", "udpos", "bucc2018", "tatoeba", "xquad", "mlqa", "tydiqa")
XTREME_GROUP2TASK: dict[str, tuple[str, ...]] = {
    "classification": ("pawsx", "xnli"),
    "tagging": ("udpos", "panx"),
    "qa": ("xquad", "mlqa", "tydiqa"),
    "retrieval": ("bucc2018", "tatoeba"),
}


def _check_pair(labels: Sequence, predictions: Sequence) -> None:
    if len(labels) != len(predictions):
        raise ValueError(f"{len(labels)} labels but {len(predictions)} predictions")
    if not labels:
        raise ValueError("no labels to score")


def accuracy(labels: Sequence, predictions: Sequence) -> dict[str, float]:
    """Return {"accuracy": % of predictions equal to labels} (XNLI, PAWS-X, Tatoeba)."""
    _check_pair(labels, predictions)
    return {"accuracy": 100.0 * sum(y == p for y, p in zip(labels, predictions)) / len(labels)}


# ----------------------------------------------------------------------------- tagging (seqeval)


def _check_sentences(labels: Sequence[Sequence[str]], predictions: Sequence[Sequence[str]]) -> None:
    _check_pair(labels, predictions)
    for i, (y, p) in enumerate(zip(labels, predictions)):
        if len(y) != len(p):
            raise ValueError(f"sentence {i}: {len(y)} gold tags but {len(p)} predicted tags")


def seqeval_f1(labels: list[list[str]], predictions: list[list[str]]) -> dict[str, float]:
    """Return seqeval's (default mode) chunk {"f1", "precision", "recall"}, as evaluate.py scores panx and udpos.

    For UPOS tags seqeval reads the first letter as a chunk prefix, so e.g. two adjacent NOUNs form one
    chunk; XTREME reports that number, `pos_scores` adds plain token accuracy beside it.
    """
    _check_sentences(labels, predictions)
    from seqeval.metrics import f1_score, precision_score, recall_score  # imports sklearn: slow

    with warnings.catch_warnings():  # "X seems not to be NE tag" (POS) and 0/0 -> 0 are expected
        warnings.simplefilter("ignore")
        return {
            "f1": 100.0 * float(f1_score(labels, predictions)),
            "precision": 100.0 * float(precision_score(labels, predictions)),
            "recall": 100.0 * float(recall_score(labels, predictions)),
        }


def pos_scores(labels: list[list[str]], predictions: list[list[str]]) -> dict[str, float]:
    """Return seqeval_f1's scores (XTREME's UDPOS metric) plus token "accuracy"."""
    scores = seqeval_f1(labels, predictions)
    pairs = [(y, p) for ys, ps in zip(labels, predictions) for y, p in zip(ys, ps)]
    if not pairs:
        raise ValueError("no tags to score")
    scores["accuracy"] = 100.0 * sum(y == p for y, p in pairs) / len(pairs)
    return scores


def token_accuracy(labels: list[list[str]], predictions: list[list[str]]) -> dict[str, float]:
    """Return {"accuracy": % of tags equal over all words} (CCG supertagging, as jiant scores it)."""
    _check_sentences(labels, predictions)
    return accuracy([t for s in labels for t in s], [t for s in predictions for t in s])


# ----------------------------------------------------------------------------- QA (SQuAD, MLQA)

_ASCII_PUNCT = frozenset(string.punctuation)


def _squad_normalize(text: str) -> str:
    """Lowercase, drop ASCII punctuation, articles a/an/the and extra whitespace (SQuAD v1.1)."""
    text = "".join(ch for ch in text.lower() if ch not in _ASCII_PUNCT)
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def _token_f1(pred_tokens: list[str], gold_tokens: list[str]) -> float:
    num_same = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if num_same == 0:
        return 0.0
    precision, recall = num_same / len(pred_tokens), num_same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def _qa_scores(
    labels: Sequence[Sequence[str]], predictions: Sequence[str | None], normalize: Callable[[str], str]
) -> dict[str, float]:
    """Mean over questions of max-over-golds EM and token F1, in percent.

    A None prediction is an unanswered question: it counts, with score 0 (evaluate_squad.py). An empty
    gold list is a SQuAD v2 no-answer question: only a prediction normalising to "" scores (100).
    """
    _check_pair(labels, predictions)
    em = f1 = 0.0
    for golds, pred in zip(labels, predictions):
        if pred is None:
            continue
        pred_norm = normalize(pred)
        if not golds:  # SQuAD v2 evaluate-v2.0.py: gold_answers = [""]; F1 is 1 iff both are empty
            em += pred_norm == ""
            f1 += pred_norm == ""
            continue
        gold_norms = [normalize(g) for g in golds]
        em += max(float(pred_norm == g) for g in gold_norms)
        f1 += max(_token_f1(pred_norm.split(), g.split()) for g in gold_norms)
    return {"exact_match": 100.0 * em / len(labels), "f1": 100.0 * f1 / len(labels)}


def squad_em_f1(labels: list[list[str]], predictions: list[str | None]) -> dict[str, float]:
    """Return SQuAD v1.1 {"exact_match", "f1"} (XQuAD, TyDiQA-GoldP), with v2 no-answer for empty golds."""
    return _qa_scores(labels, predictions, _squad_normalize)


# Hand-written after xtreme third_party/evaluate_mlqa.py (from facebookresearch/MLQA
# mlqa_evaluation_v1.py): no library ships MLQA's per-language normalisation.
MLQA_ARTICLES: dict[str, str | None] = {
    "en": r"\b(a|an|the)\b",
    "es": r"\b(un|una|unos|unas|el|la|los|las)\b",
    "hi": None,  # Hindi has no formal articles
    "vi": r"\b(của|là|cái|chiếc|những)\b",
    "de": r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b",
    # Verbatim from the official script: the first branch can never match, so every "ال" is
    # replaced, even inside a word.
    "ar": r"\sال^|ال",
    "zh": None,  # Chinese has no formal articles
}
_MLQA_WHITESPACE_LANGS = ("en", "es", "hi", "vi", "de", "ar")
_CJK = re.compile(r"[\u4e00-\u9fa5]")  # the official script's range, not all of CJK


def _is_mlqa_punct(ch: str) -> bool:
    """Unicode category P* or ASCII string.punctuation (which adds symbols such as $ + < = > ^ ` |)."""
    return unicodedata.category(ch).startswith("P") or ch in _ASCII_PUNCT


def _mixed_segmentation(text: str) -> list[str]:
    """Split into CJK characters (one token each) and whitespace tokens of the text between."""
    tokens: list[str] = []
    pending = ""
    for ch in text:
        if _CJK.search(ch) or _is_mlqa_punct(ch):
            tokens.extend(pending.split())
            pending = ""
            tokens.append(ch)
        else:
            pending += ch
    tokens.extend(pending.split())
    return tokens


def mlqa_normalize(text: str, lang: str) -> str:
    """Lowercase, drop Unicode punctuation and `lang`'s articles, then re-join its tokens with spaces."""
    if lang not in MLQA_ARTICLES:
        raise ValueError(f"Unknown MLQA language {lang!r}. Available: {', '.join(MLQA_ARTICLES)}")
    text = "".join(ch for ch in text.lower() if not _is_mlqa_punct(ch))
    articles = MLQA_ARTICLES[lang]
    if articles is not None:
        text = re.sub(articles, " ", text)
    tokens = text.split() if lang in _MLQA_WHITESPACE_LANGS else _mixed_segmentation(text)
    return " ".join(t for t in tokens if t.strip())


def mlqa_em_f1(labels: list[list[str]], predictions: list[str | None], lang: str) -> dict[str, float]:
    """Return MLQA {"exact_match", "f1"} with `lang`'s normalisation (zh: one token per CJK character)."""
    if lang not in MLQA_ARTICLES:
        raise ValueError(f"Unknown MLQA language {lang!r}. Available: {', '.join(MLQA_ARTICLES)}")
    return _qa_scores(labels, predictions, lambda text: mlqa_normalize(text, lang))


# ----------------------------------------------------------------------------- BUCC 2018


def _as_pairs(pairs: Iterable) -> set[tuple[str, str]]:
    """Accept (src, trg) tuples or "src\\ttrg" lines, as evaluate.py's bucc_f1 reads them."""
    out: set[tuple[str, str]] = set()
    for item in pairs:
        pair = tuple(item.split("\t")) if isinstance(item, str) else tuple(item)
        if len(pair) != 2:
            raise ValueError(f"expected a (source id, target id) pair, got {item!r}")
        out.add((pair[0], pair[1]))
    return out


def _prf(ncorrect: int, npred: int, ngold: int) -> dict[str, float]:
    if ncorrect == 0:
        return {"f1": 0.0, "precision": 0.0, "recall": 0.0}
    precision, recall = ncorrect / npred, ncorrect / ngold
    f1 = 2 * precision * recall / (precision + recall)
    return {"f1": 100.0 * f1, "precision": 100.0 * precision, "recall": 100.0 * recall}


def bucc_f1(gold_pairs: set[tuple[str, str]] | list, predicted_pairs: set[tuple[str, str]] | list) -> dict[str, float]:
    """Return {"f1", "precision", "recall"} of the mined pairs (sets: duplicates count once)."""
    gold, pred = _as_pairs(gold_pairs), _as_pairs(predicted_pairs)
    if not gold:
        raise ValueError("no gold pairs to score")
    return _prf(len(gold & pred), len(pred), len(gold))


def _best_scores(scores: Iterable[tuple[str, str, float]]) -> dict[tuple[str, str], float]:
    """Keep each candidate pair once, with its highest score (utils_retrieve.read_candidate2score)."""
    best: dict[tuple[str, str], float] = {}
    for src, trg, score in scores:
        best[(src, trg)] = max(score, best.get((src, trg), score))
    return best


def bucc_threshold(scores: list[tuple[str, str, float]], gold_pairs: set[tuple[str, str]] | list) -> float:
    """Return the similarity threshold maximising F1 on `gold_pairs` (utils_retrieve.bucc_optimize).

    Candidates are swept from the highest score down; the threshold is the midpoint between the score
    of the candidate where F1 peaks (first peak wins) and the next one. 0.0 if no candidate is gold.
    """
    gold = _as_pairs(gold_pairs)
    items = sorted(_best_scores(scores).items(), key=lambda item: -item[1])
    if not items or not gold:
        raise ValueError("need candidate scores and gold pairs to choose a threshold")
    threshold, best_f1, ncorrect = 0.0, 0.0, 0
    for i, (pair, score) in enumerate(items):
        ncorrect += pair in gold
        f1 = _prf(ncorrect, i + 1, len(gold))["f1"]
        if f1 > best_f1:
            best_f1 = f1
            # The official script indexes items[i + 1] and crashes when the last candidate is best.
            threshold = (score + items[i + 1][1]) / 2 if i + 1 < len(items) else score
    return threshold


def bucc_extract(scores: list[tuple[str, str, float]], threshold: float) -> set[tuple[str, str]]:
    """Return the candidate pairs scoring >= threshold (utils_retrieve.bucc_extract)."""
    return {pair for pair, score in _best_scores(scores).items() if score >= threshold}


def bucc_scores(
    gold_pairs: set[tuple[str, str]] | list,
    candidates: list[tuple[str, str, float]],
    dev_gold: set[tuple[str, str]] | list | None = None,
    dev_candidates: list[tuple[str, str, float]] | None = None,
) -> dict[str, float]:
    """Return bucc_f1 of the candidates above the threshold chosen on dev (else on this split), and it."""
    if (dev_candidates is None) != (dev_gold is None):
        raise ValueError("pass both dev_candidates and dev_gold, or neither")
    if dev_candidates is None or dev_gold is None:
        dev_candidates, dev_gold = candidates, gold_pairs
    threshold = bucc_threshold(dev_candidates, dev_gold)
    return {**bucc_f1(gold_pairs, bucc_extract(candidates, threshold)), "threshold": float(threshold)}


# ----------------------------------------------------------------------------- the metric registry


@dataclass(frozen=True)
class Metric:
    """One official metric (`TaskSpec.metric` names it): its function and the key(s) its headline averages."""

    fn: Callable[..., dict[str, float]]
    headline: tuple[str, ...]
    needs_lang: bool = False  # MLQA normalises answers per language
    tuned_on_dev: bool = False  # BUCC: the threshold is chosen on the dev split's predictions

    @property
    def headline_key(self) -> str:
        """The key of the headline in `with_headline`'s scores: its one key, else avg_metric."""
        return self.headline[0] if len(self.headline) == 1 else "avg_metric"

    def score(
        self, labels: Any, predictions: Any, *, lang: str | None = None, dev: tuple[Any, Any] | None = None
    ) -> dict[str, float]:
        """Scores of predictions against labels; `dev` = (labels, predictions) of the dev split."""
        kwargs: dict[str, Any] = {"lang": lang} if self.needs_lang else {}
        if self.tuned_on_dev and dev is not None:
            kwargs.update(dev_gold=dev[0], dev_candidates=dev[1])
        return self.fn(labels, predictions, **kwargs)

    def headline_of(self, scores: Mapping[str, float]) -> float:
        """The one number summaries use: the mean of the headline keys (xtreme: QA is (EM + F1) / 2)."""
        return sum(scores[k] for k in self.headline) / len(self.headline)

    def with_headline(self, scores: Mapping[str, float]) -> dict[str, float]:
        """The scores with avg_metric added when the headline averages several of them (XTREME's QA score)."""
        out = dict(scores)
        if len(self.headline) > 1:
            out["avg_metric"] = self.headline_of(scores)
        return out


METRICS: dict[str, Metric] = {
    "accuracy": Metric(accuracy, ("accuracy",)),  # XNLI, PAWS-X, Tatoeba
    "tag_accuracy": Metric(token_accuracy, ("accuracy",)),  # CCG
    "seqeval": Metric(seqeval_f1, ("f1",)),  # PAN-X
    "pos": Metric(pos_scores, ("f1",)),  # UDPOS: seqeval F1, as evaluate.py scores it
    "squad": Metric(squad_em_f1, ("exact_match", "f1")),  # XQuAD, TyDiQA-GoldP, SQuAD v2
    "mlqa": Metric(mlqa_em_f1, ("exact_match", "f1"), needs_lang=True),
    "bucc_f1": Metric(bucc_scores, ("f1",), tuned_on_dev=True),
}


def get_metric(name: str) -> Metric:
    """Return the metric called `name`, or raise UnknownNameError naming near matches and the valid names."""
    if name not in METRICS:
        raise UnknownNameError(unknown_name_message("metric", name, list(METRICS)))
    return METRICS[name]


CHANCE = "chance"  # the key `chance_level` adds to a split's scores


def chance_level(spec: TaskSpec, gold: Sequence) -> float | None:
    """The headline score an encoder that knows nothing gets on this split, where the metric has one: accuracy
    of always answering the most frequent label (classification, multiple choice), or of picking one of the
    split's n candidates at random (retrieval: 100 / n). None for F1-scored tasks (tagging, spans, BUCC), whose
    floor depends on the predictions' count rather than on the split."""
    if spec.metric != "accuracy" or not len(gold):
        return None
    if spec.kind == "retrieval":
        return 100.0 / len(gold)
    if spec.kind in ("classification", "multiple_choice"):
        counts: dict = {}
        for label in gold:
            counts[label] = counts.get(label, 0) + 1
        return 100.0 * max(counts.values()) / len(gold)
    return None


def headline(spec: TaskSpec, scores: Mapping[str, float]) -> float:
    """Return the single number used for mean/worst/low-resource summaries of `spec`'s scores."""
    return get_metric(spec.metric).headline_of(scores)


def xtreme_languages(registry: Mapping[str, TaskSpec]) -> dict[str, tuple[str, ...]]:
    """XTREME's task -> languages (evaluate.py's XTREME_TASK2LANGS), from the registry, sorted per task."""
    return {task: tuple(sorted(registry[task].eval_langs)) for task in XTREME_TASKS}
