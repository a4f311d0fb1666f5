"""Official XTREME metrics as pure functions (scores in percent, as XTREME reports them) and the
aggregation into per-task averages and the XTREME score. Anchor: google-research/xtreme@838c13b."""

from __future__ import annotations

import difflib
import math
import re
import string
import unicodedata
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

# xtreme evaluate.py XTREME_TASK2LANGS / XTREME_GROUP2TASK, reordered alphabetically within each task.
XTREME_TASK2LANGS: dict[str, tuple[str, ...]] = {
    "pawsx": ("de", "en", "es", "fr", "ja", "ko", "zh"),
    "xnli": ("ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh"),
    "panx": ("af", "ar", "bg", "bn", "de", "el", "en", "es", "et", "eu", "fa", "fi", "fr", "he", "hi",
             "hu", "id", "it", "ja", "jv", "ka", "kk", "ko", "ml", "mr", "ms", "my", "nl", "pt", "ru",
             "sw", "ta", "te", "th", "tl", "tr", "ur", "vi", "yo", "zh"),
    "udpos": ("af", "ar", "bg", "de", "el", "en", "es", "et", "eu", "fa", "fi", "fr", "he", "hi", "hu",
              "id", "it", "ja", "kk", "ko", "mr", "nl", "pt", "ru", "ta", "te", "th", "tl", "tr", "ur",
              "vi", "yo", "zh"),
    "bucc2018": ("de", "fr", "ru", "zh"),
    "tatoeba": ("af", "ar", "bg", "bn", "de", "el", "es", "et", "eu", "fa", "fi", "fr", "he", "hi",
                "hu", "id", "it", "ja", "jv", "ka", "kk", "ko", "ml", "mr", "nl", "pt", "ru", "sw",
                "ta", "te", "th", "tl", "tr", "ur", "vi", "zh"),
    "xquad": ("ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh"),
    "mlqa": ("ar", "de", "en", "es", "hi", "vi", "zh"),
    "tydiqa": ("ar", "bn", "en", "fi", "id", "ko", "ru", "sw", "te"),
}
XTREME_GROUP2TASK: dict[str, tuple[str, ...]] = {
    "classification": ("pawsx", "xnli"),
    "tagging": ("udpos", "panx"),
    "qa": ("xquad", "mlqa", "tydiqa"),
    "retrieval": ("bucc2018", "tatoeba"),
}
# The metric(s) each task's avg_metric is built from (evaluate.py: QA -> (EM + F1) / 2).
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "pawsx": ("accuracy",), "xnli": ("accuracy",), "tatoeba": ("accuracy",),
    "udpos": ("f1",), "panx": ("f1",), "bucc2018": ("f1",),
    "xquad": ("exact_match", "f1"), "mlqa": ("exact_match", "f1"), "tydiqa": ("exact_match", "f1"),
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


def _qa_scores(labels: Sequence[Sequence[str]], predictions: Sequence[str | None],
               normalize: Callable[[str], str]) -> dict[str, float]:
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


def bucc_f1(gold_pairs: set[tuple[str, str]] | list,
            predicted_pairs: set[tuple[str, str]] | list) -> dict[str, float]:
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


# f(labels, predictions) metrics keyed by the result key their callers read (TaskSpec.metric).
METRICS = {"accuracy": accuracy, "f1": seqeval_f1, "exact_match": squad_em_f1}


# ----------------------------------------------------------------------------- aggregation

def _check_task_scores(task: str, langs: dict[str, dict[str, float]]) -> None:
    if task not in XTREME_TASK2LANGS:
        close = difflib.get_close_matches(task, list(XTREME_TASK2LANGS), n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(f"Unknown task {task!r}.{hint} Available: {', '.join(XTREME_TASK2LANGS)}")
    if not langs:
        raise ValueError(f"{task}: no language scores")
    keys = None
    for lang, scores in langs.items():
        if lang not in XTREME_TASK2LANGS[task]:
            raise ValueError(f"{task}: {lang!r} is not an XTREME language of this task "
                             f"(available: {', '.join(XTREME_TASK2LANGS[task])})")
        for metric in TASK_METRICS[task]:
            if metric not in scores:
                raise ValueError(f"{task}/{lang}: missing metric {metric!r}")
        if keys is not None and set(scores) != keys:
            raise ValueError(f"{task}/{lang}: metrics {sorted(scores)} differ from other languages' {sorted(keys)}")
        keys = set(scores)
        bad = [m for m, v in scores.items() if not isinstance(v, (int, float)) or not math.isfinite(v)]
        if bad:
            raise ValueError(f"{task}/{lang}: metric {bad[0]!r} is not a finite number: {scores[bad[0]]!r}")


def task_average(task: str, langs: dict[str, dict[str, float]]) -> dict:
    """Return {"avg_<metric>": plain mean over languages, ..., "avg_metric", "languages"} for one task."""
    _check_task_scores(task, langs)
    ordered = {lang: dict(langs[lang]) for lang in XTREME_TASK2LANGS[task] if lang in langs}
    out: dict = {f"avg_{m}": sum(s[m] for s in ordered.values()) / len(ordered)
                 for m in next(iter(ordered.values()))}
    out["avg_metric"] = sum(out[f"avg_{m}"] for m in TASK_METRICS[task]) / len(TASK_METRICS[task])
    out["languages"] = ordered
    return out


def xtreme_score(task_scores: dict[str, dict[str, dict[str, float]]]) -> dict:
    """Aggregate {task: {lang: {metric: score}}} the way xtreme evaluate.py does.

    Returns {"tasks": {task: task_average(...)}, "groups": {group: mean avg_metric} (complete groups
    only), "missing_tasks": [...], "xtreme_score": plain mean of the available tasks' avg_metric}.
    evaluate.py reports its overall score ("all_task") only when all nine tasks are present.
    """
    if not task_scores:
        raise ValueError("no task scores to aggregate")
    for task, langs in task_scores.items():
        _check_task_scores(task, langs)
    tasks = {t: task_average(t, task_scores[t]) for t in XTREME_TASK2LANGS if t in task_scores}
    groups = {g: sum(tasks[t]["avg_metric"] for t in members) / len(members)
              for g, members in XTREME_GROUP2TASK.items() if all(t in tasks for t in members)}
    return {
        "tasks": tasks,
        "groups": groups,
        "missing_tasks": [t for t in XTREME_TASK2LANGS if t not in tasks],
        "xtreme_score": sum(t["avg_metric"] for t in tasks.values()) / len(tasks),
    }


def summarize_transfer(scores: dict[str, float], low_resource: Sequence[str]) -> dict[str, float | str]:
    """Summarise zero-shot scores over the non-English languages.

    Returns mean (unweighted, as XTREME averages languages), low_resource_mean, worst and worst_lang.
    """
    zero_shot = {lang: s for lang, s in scores.items() if lang != "en"}
    if not zero_shot:
        raise ValueError("no non-English language to summarise")
    low = [zero_shot[lang] for lang in low_resource if lang in zero_shot]
    worst_lang = min(zero_shot, key=zero_shot.__getitem__)
    return {
        "mean": sum(zero_shot.values()) / len(zero_shot),
        "low_resource_mean": sum(low) / len(low) if low else float("nan"),
        "worst": zero_shot[worst_lang],
        "worst_lang": worst_lang,
    }


def summarize_probe(scores: dict[str, dict[str, float]], low_resource: Sequence[str]) -> dict[str, float | str]:
    """Summarise zero-shot probe scores (task -> lang -> headline score) over non-English languages.

    mean and low_resource_mean average each task's language mean, then the tasks (equal task weights,
    as XTREME); worst is the language whose score, averaged over the tasks that have it, is lowest.
    """
    per_task = [summarize_transfer(langs, low_resource) for langs in scores.values()]
    lows = [s["low_resource_mean"] for s in per_task if not math.isnan(s["low_resource_mean"])]
    by_lang: dict[str, list[float]] = {}
    for langs in scores.values():
        for lang, value in langs.items():
            if lang != "en":
                by_lang.setdefault(lang, []).append(value)
    lang_means = {lang: sum(v) / len(v) for lang, v in by_lang.items()}
    worst_lang = min(lang_means, key=lang_means.__getitem__)
    return {"mean": sum(s["mean"] for s in per_task) / len(per_task),
            "low_resource_mean": sum(lows) / len(lows) if lows else float("nan"),
            "worst": lang_means[worst_lang], "worst_lang": worst_lang}
