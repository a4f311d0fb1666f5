"""Official metrics as pure functions (scores in percent, as XTREME reports them) and aggregation."""

from __future__ import annotations

from collections.abc import Sequence


def accuracy(labels: Sequence, predictions: Sequence) -> dict[str, float]:
    """Return {"accuracy": % of predictions equal to labels} (XNLI, PAWS-X, Tatoeba)."""
    if len(labels) != len(predictions):
        raise ValueError(f"{len(labels)} labels but {len(predictions)} predictions")
    if not labels:
        raise ValueError("no labels to score")
    return {"accuracy": 100.0 * sum(y == p for y, p in zip(labels, predictions)) / len(labels)}


METRICS = {"accuracy": accuracy}


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
