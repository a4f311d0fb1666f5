"""Published zero-shot scores of mBERT and XLM-R (Large), per language, as context for a report.

These are the baselines of Hu et al. (2020), "XTREME: A Massively Multilingual Multi-task Benchmark for
Evaluating Cross-lingual Generalization" (arXiv 2003.11080): fine-tuned on English, evaluated zero-shot on the
other languages. They are context only: both models are larger or differently trained than this project's
baseline, so a gap to them is expected and is not a bug.

Every number below was read in a stored public source, not recalled; the paper's own appendix tables could
not be read here (only the opening of its web renderings was reachable), so each table names the public file
that carries the same baseline rows:

- xquad (F1 and EM): the "Baselines" tables of the XQuAD repository README, google-deepmind/xquad,
  README.md at commit 4889992f5334348f4c43b5767127c80c66c3fd0e (4 March 2020, rows "mBERT" and
  "XLM-R Large", zero-shot from English SQuAD v1.1); the same rows are unchanged at
  7d30520c717524000f0d9d2f9c10a069acd9d285, which only adds a Romanian column (not an XTREME language,
  left out). google-research/xtreme issue #8
  (https://github.com/google-research/xtreme/issues/8) quotes the XTREME paper's mBERT XQuAD F1 / EM for en,
  es, de, el, ru, tr and ar; all fourteen quoted values equal these rows.
- pawsx (accuracy): the PAWS-X table of the ERNIE-M README, PaddlePaddle/ERNIE, ernie-m/README.md at commit
  5846cc3c1274958970af24f3e3793e550192d18d (branch repro), lines 121 and 124, rows "mBERT" and
  "XLM-R Large" under "Cross-lingual Transfer"; that table lists XTREME's PAWS-X baseline set (mBERT, XLM,
  MMTE, XLM-R Large), which google-research/xtreme issue #65 places in the paper's Table 15.

Not found in any readable source, so absent here: xnli, udpos, panx, mlqa, tydiqa, bucc2018 and tatoeba
(`reference_points` returns {} for them).

Layout: REFERENCE[task][metric] = {"source": where it was read, "scores": {model: {language: score}}}; task
is a registry task name, metric a name of tasks/metrics.py ("accuracy", "f1", "exact_match"), model "mBERT"
or "XLM-R", language an ISO 639-1 code as in XTREME, score in percent. The first metric of a task is the one
the paper reports first (F1 for QA). Pure data, standard library only.
"""

from __future__ import annotations

from typing import TypedDict

__all__ = ["MODELS", "REFERENCE", "ReferenceTable", "primary_metric", "reference_points"]

MODELS = ("mBERT", "XLM-R")

_XQUAD_SOURCE = (
    "google-deepmind/xquad README.md @ 4889992f5334348f4c43b5767127c80c66c3fd0e, Baselines tables, rows "
    "'mBERT' and 'XLM-R Large' (zero-shot); the XTREME paper's values (Hu et al. 2020, arXiv 2003.11080), "
    "cross-checked against google-research/xtreme issue #8"
)
_PAWSX_SOURCE = (
    "PaddlePaddle/ERNIE ernie-m/README.md @ 5846cc3c1274958970af24f3e3793e550192d18d, PAWS-X table, "
    "'Cross-lingual Transfer' rows 'mBERT' and 'XLM-R Large' (XTREME's baselines, Hu et al. 2020, Table 15)"
)


class ReferenceTable(TypedDict):
    """One published table: where it was read and {model: {language: score in percent}}."""

    source: str
    scores: dict[str, dict[str, float]]


REFERENCE: dict[str, dict[str, ReferenceTable]] = {
    "xquad": {
        "f1": {
            "source": _XQUAD_SOURCE,
            "scores": {
                "mBERT": {
                    "en": 83.5,
                    "ar": 61.5,
                    "de": 70.6,
                    "el": 62.6,
                    "es": 75.5,
                    "hi": 59.2,
                    "ru": 71.3,
                    "th": 42.7,
                    "tr": 55.4,
                    "vi": 69.5,
                    "zh": 58.0,
                },
                "XLM-R": {
                    "en": 86.5,
                    "ar": 68.6,
                    "de": 80.4,
                    "el": 79.8,
                    "es": 82.0,
                    "hi": 76.7,
                    "ru": 80.1,
                    "th": 74.2,
                    "tr": 75.9,
                    "vi": 79.1,
                    "zh": 59.3,
                },
            },
        },
        "exact_match": {
            "source": _XQUAD_SOURCE,
            "scores": {
                "mBERT": {
                    "en": 72.2,
                    "ar": 45.1,
                    "de": 54.0,
                    "el": 44.9,
                    "es": 56.9,
                    "hi": 46.0,
                    "ru": 53.3,
                    "th": 33.5,
                    "tr": 40.1,
                    "vi": 49.6,
                    "zh": 48.3,
                },
                "XLM-R": {
                    "en": 75.7,
                    "ar": 49.0,
                    "de": 63.4,
                    "el": 61.7,
                    "es": 63.9,
                    "hi": 59.7,
                    "ru": 64.3,
                    "th": 62.8,
                    "tr": 59.3,
                    "vi": 59.0,
                    "zh": 50.0,
                },
            },
        },
    },
    "pawsx": {
        "accuracy": {
            "source": _PAWSX_SOURCE,
            "scores": {
                "mBERT": {"en": 94.0, "de": 85.7, "es": 87.4, "fr": 87.0, "ja": 73.0, "ko": 69.6, "zh": 77.0},
                "XLM-R": {"en": 94.7, "de": 89.7, "es": 90.1, "fr": 90.4, "ja": 78.7, "ko": 79.0, "zh": 82.3},
            },
        },
    },
}


def primary_metric(task: str) -> str | None:
    """The metric the paper reports first for `task` (F1 for QA), or None if no reference is stored."""
    tables = REFERENCE.get(task)
    return next(iter(tables)) if tables else None


def reference_points(task: str, lang: str, metric: str | None = None) -> dict[str, float]:
    """Return {model: published score} for `task` in `lang` under `metric` (default: the primary metric).

    Empty when nothing is stored for that task, metric or language."""
    tables = REFERENCE.get(task, {})
    table = tables.get(metric if metric is not None else (primary_metric(task) or ""))
    if table is None:
        return {}
    return {model: scores[lang] for model, scores in table["scores"].items() if lang in scores}
