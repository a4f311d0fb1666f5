"""Published per-language scores beside which the report sets the baseline's zero-shot scores (context only).

Three reference models, each labelled by its provenance (`COLUMN_LABELS`):

- "mBERT" and "XLM-R" (XLM-R Large): XTREME-style baselines, i.e. fine-tuned on English and evaluated zero-shot on
  the other languages, as in Hu et al. (2020), "XTREME: A Massively Multilingual Multi-task Benchmark for
  Evaluating Cross-lingual Generalization" (arXiv 2003.11080). Not every number is the XTREME paper's own: the
  paper's per-language appendix tables could not be read here (only the opening of its web renderings was
  reachable), so each table names the public file it was read in, and some of those files carry the numbers of
  the models' or data sets' own authors (BERT's, MLQA's, XLM-R's) rather than XTREME's.
- "multilingual-e5-small (MTEB)": intfloat/multilingual-e5-small's Tatoeba and BUCC scores from MTEB's results
  repository (retrieval tasks only). MTEB mines bitext with the trained sentence embedding (the model's own
  pooling, as released), while XTREME (and this project, models/retrieval.py) mean-pools a raw intermediate
  layer of the encoder, with no sentence-level training for retrieval; so these numbers are context, not a
  like-for-like comparison (`MTEB_PROTOCOL_NOTE`).

All are context only: these models are larger or differently trained than this project's baseline,
so a gap to them is expected and is not a bug.

Every number below was read in a stored public source, not recalled; each table's "source" names the repository,
path and commit, the table and the rows:

- xquad (F1 and EM; mBERT, XLM-R): the "Baselines" tables of the XQuAD repository README, google-deepmind/xquad,
  README.md at commit 4889992f5334348f4c43b5767127c80c66c3fd0e (4 March 2020, rows "mBERT" and
  "XLM-R Large", zero-shot from English SQuAD v1.1); the same rows are unchanged at
  7d30520c717524000f0d9d2f9c10a069acd9d285, which only adds a Romanian column (not an XTREME language,
  left out). google-research/xtreme issue #8
  (https://github.com/google-research/xtreme/issues/8) quotes the XTREME paper's mBERT XQuAD F1 / EM for en,
  es, de, el, ru, tr and ar; all fourteen quoted values equal these rows.
- pawsx (accuracy; mBERT, XLM-R): the PAWS-X table of the ERNIE-M README, PaddlePaddle/ERNIE, ernie-m/README.md
  at commit 5846cc3c1274958970af24f3e3793e550192d18d (branch repro; the file is identical at
  a948f14d3a1ebe150fea24d93872ab0f71d2e71f and 69b452f14e4a25418d6a36e632e2f21ddf989dc5), lines 121 and 124,
  rows "mBERT" and "XLM-R Large" under "Cross-lingual Transfer"; that table lists XTREME's PAWS-X baseline set
  (mBERT, XLM, MMTE, XLM-R Large), which google-research/xtreme issue #65 places in the paper's Table 15.
- mlqa (F1 and EM; mBERT, XLM-R): the MLQA table of facebookresearch/fairseq examples/xlmr/README.md at commit
  6034aea96bc3ae8e805aa47ae289b53457aa7372 ("## Results"), rows "mBERT" and "xlmr.large" (F1 / EM). The README
  does not name the setting; the mBERT F1 values equal the zero-shot row "Multilingual-BERT" (trained on
  English SQuAD v1.1) of facebookresearch/MLQA README.md at 24bf470b2e68f2bfb93b2fd31c370bb8ee18d9ed
  ("## Baselines"). Both rows also appear in the ERNIE-M README's MLQA table (commit above), except one cell:
  XLM-R Large hi F1 is 69.2 in fairseq but 62.9 in ERNIE-M. 69.2 is kept: the F1 average that both READMEs
  print, 70.7, is the mean of the seven cells only with 69.2 (with 62.9 it would be 69.8).
- xnli (accuracy): mBERT from google-research/bert multilingual.md at 0307cb9da078acbb6b2e801ffa541900971eaf98
  ("## Results"), row "BERT - Zero Shot Uncased" (fine-tuned on English MultiNLI, tested on XNLI), which covers
  six languages only (en, zh, es, de, ar, ur; the other nine stay empty); facebookresearch/XLM README.md at
  cd281d32612d145c6742b4d3f048f80df8669c30 prints the same six values as row "mBERT". XLM-R Large from the
  ERNIE-M README's XNLI table (commit above), line 67, row "XLM-R Large" under "Cross-lingual Transfer"; the
  README names no source for that row, so it may be the XLM-R paper's number rather than XTREME's. fairseq's
  XLM-R README (commit above) has no zero-shot XNLI row (only TRANSLATE-TEST and TRANSLATE-TRAIN-ALL).
- tatoeba (accuracy; multilingual-e5-small (MTEB)): embeddings-benchmark/results at commit
  f4cc6c8b365a3c779dbc708d6affe0b0355b2ddf, results/intfloat__multilingual-e5-small/
  fd1525a9fd15316a2d503bf26ab031a61d056e98/Tatoeba.json (mteb 1.36.32): the field "accuracy" of each
  scores.test entry whose hf_subset is "<ISO3[lang]>-eng" (tasks/languages.py ISO3: zh = cmn, fa = pes,
  sw = swh), a fraction, stored x 100. MTEB's main_score for Tatoeba is F1; its "accuracy" field is stored
  because accuracy is the metric XTREME (and tasks/registry.py) reports for Tatoeba. The same model at HF
  revision e4ce9877abf3edfe10b0d82785e83bdcb973e22e (same repository, commit
  319e81d64298f3bdc5f09c8b6ff91f5015b3664c, mteb 1.12.75) scores differently on several languages (et 0.616
  vs 0.668 here); revision fd1525a9 is used as the one whose BUCC result is also stored.
- bucc2018 (f1; multilingual-e5-small (MTEB)): the same repository and commit,
  results/intfloat__multilingual-e5-small/fd1525a9fd15316a2d503bf26ab031a61d056e98/BUCC.json (mteb 1.36.32,
  dataset_revision d51519689f32196a32af33b075a01d0e7c51e252): the field "f1" (main_score) of each hf_subset
  "<lang>-en", x 100. MTEB's F1 is its own bitext-mining F1 on its copy of the BUCC 2018 data, not XTREME's
  F1 of threshold-tuned mining over the candidate pools.

Not found in any readable source, so absent here: udpos, panx and tydiqa for every model; Tatoeba and BUCC for
mBERT and XLM-R; and mBERT's XNLI in the nine languages multilingual.md leaves out (`reference_points` returns
nothing for them: cells without a readable source stay empty).

Layout: REFERENCE[task][metric] = {"source": where it was read, "scores": {model: {language: score}}}; task
is a registry task name, metric a name of tasks/metrics.py ("accuracy", "f1", "exact_match"), model one of
`MODELS`, language an ISO 639-1 code as in XTREME, score in percent. The first metric of a task is the one
the sources report first (F1 for QA). Pure data: standard library and tasks/languages.py only.
"""

from __future__ import annotations

from typing import TypedDict

from xstilts.tasks.languages import ISO3

__all__ = [
    "COLUMN_LABELS",
    "E5_SMALL_MTEB",
    "MODELS",
    "MTEB_PROTOCOL_NOTE",
    "REFERENCE",
    "ReferenceTable",
    "primary_metric",
    "reference_points",
    "reference_source",
]

E5_SMALL_MTEB = "multilingual-e5-small (MTEB)"
MODELS = ("mBERT", "XLM-R", E5_SMALL_MTEB)

# What the report's column of each model says about where its numbers come from.
COLUMN_LABELS = {
    "mBERT": "mBERT (XTREME-style baseline)",
    "XLM-R": "XLM-R Large (XTREME-style baseline)",
    E5_SMALL_MTEB: "multilingual-e5-small (MTEB)",
}

MTEB_PROTOCOL_NOTE = (
    "The multilingual-e5-small (MTEB) numbers are MTEB's bitext mining with the trained sentence embedding (the "
    "model's own pooling, as released), while XTREME, and this run, mean-pool a raw intermediate layer of the "
    "encoder, with no sentence-level training for retrieval; so they are context, not a like-for-like comparison."
)

_ERNIE_M = (
    "PaddlePaddle/ERNIE ernie-m/README.md @ 5846cc3c1274958970af24f3e3793e550192d18d (branch repro; identical at "
    "a948f14d3a1ebe150fea24d93872ab0f71d2e71f)"
)
_XQUAD_SOURCE = (
    "google-deepmind/xquad README.md @ 4889992f5334348f4c43b5767127c80c66c3fd0e, Baselines tables, rows "
    "'mBERT' and 'XLM-R Large' (zero-shot); the XTREME paper's values (Hu et al. 2020, arXiv 2003.11080), "
    "cross-checked against google-research/xtreme issue #8"
)
_PAWSX_SOURCE = (
    "PaddlePaddle/ERNIE ernie-m/README.md @ 5846cc3c1274958970af24f3e3793e550192d18d, PAWS-X table, "
    "'Cross-lingual Transfer' rows 'mBERT' and 'XLM-R Large' (XTREME's baselines, Hu et al. 2020, Table 15)"
)
_MLQA_SOURCE = (
    "facebookresearch/fairseq examples/xlmr/README.md @ 6034aea96bc3ae8e805aa47ae289b53457aa7372, '## Results', "
    "MLQA table (F1 / EM), rows 'mBERT' and 'xlmr.large' (XLM-R Large); the README does not name the setting: "
    "the mBERT F1 values equal the zero-shot (trained on English SQuAD v1.1) row 'Multilingual-BERT' of "
    "facebookresearch/MLQA README.md @ 24bf470b2e68f2bfb93b2fd31c370bb8ee18d9ed, '## Baselines'. "
    f"The MLQA table of {_ERNIE_M} has the same rows except XLM-R Large hi F1: 62.9 there, 69.2 here (kept: the "
    "F1 average 70.7 that both print holds only with 69.2)"
)
_XNLI_SOURCE = (
    "mBERT: google-research/bert multilingual.md @ 0307cb9da078acbb6b2e801ffa541900971eaf98, '## Results', row "
    "'BERT - Zero Shot Uncased' (fine-tuned on English MultiNLI, tested on XNLI; six languages only), the same "
    "values as row 'mBERT' of facebookresearch/XLM README.md @ cd281d32612d145c6742b4d3f048f80df8669c30. "
    f"XLM-R Large: {_ERNIE_M}, XNLI table, 'Cross-lingual Transfer' row 'XLM-R Large' (the README names no "
    "source for it: it may be the XLM-R paper's number, not XTREME's); facebookresearch/fairseq "
    "examples/xlmr/README.md @ 6034aea96bc3ae8e805aa47ae289b53457aa7372 has no zero-shot XNLI row"
)
_MTEB_E5 = (
    "embeddings-benchmark/results results/intfloat__multilingual-e5-small/fd1525a9fd15316a2d503bf26ab031a61d056e98/"
)
_MTEB_COMMIT = "@ f4cc6c8b365a3c779dbc708d6affe0b0355b2ddf"
_TATOEBA_SOURCE = (
    f"{_MTEB_E5}Tatoeba.json {_MTEB_COMMIT} (mteb 1.36.32), field 'accuracy' of the scores.test entry whose "
    "hf_subset is '<iso3>-eng' (zh: cmn-eng, fa: pes-eng, sw: swh-eng), x 100; MTEB's main_score for Tatoeba is "
    "F1, its accuracy field is stored as the metric XTREME reports; mined with the model's trained sentence "
    "embedding, unlike XTREME's mean-pooled raw layer"
)
_BUCC_SOURCE = (
    f"{_MTEB_E5}BUCC.json {_MTEB_COMMIT} (mteb 1.36.32, dataset_revision "
    "d51519689f32196a32af33b075a01d0e7c51e252), field 'f1' (main_score) of hf_subset '<lang>-en', x 100; MTEB's "
    "own bitext-mining F1 on its copy of BUCC 2018, not XTREME's F1 of threshold-tuned mining over the candidate "
    "pools; mined with the model's trained sentence embedding, unlike XTREME's mean-pooled raw layer"
)


def _percent(fractions: dict[str, float], suffix: str, iso1: dict[str, str] | None = None) -> dict[str, float]:
    """MTEB's {hf_subset: fraction} as {ISO 639-1 language: percent}: '<code><suffix>' -> language (through
    `iso1` when given), the fraction x 100 rounded to 6 decimals to drop binary noise (0.905 -> 90.5)."""
    out = {}
    for subset, value in fractions.items():
        code = subset.removesuffix(suffix)
        out[iso1[code] if iso1 else code] = round(100.0 * value, 6)
    return out


# Verbatim from the MTEB result files named above: {hf_subset: fraction}.
_E5_SMALL_TATOEBA_ACCURACY = {
    "afr-eng": 0.905,
    "ara-eng": 0.807,
    "bul-eng": 0.878,
    "ben-eng": 0.865,
    "deu-eng": 0.98,
    "ell-eng": 0.897,
    "spa-eng": 0.954,
    "est-eng": 0.668,
    "eus-eng": 0.658,
    "pes-eng": 0.89,
    "fin-eng": 0.771,
    "fra-eng": 0.93,
    "heb-eng": 0.761,
    "hin-eng": 0.958,
    "hun-eng": 0.825,
    "ind-eng": 0.915,
    "ita-eng": 0.909,
    "jpn-eng": 0.875,
    "jav-eng": 0.62439,
    "kat-eng": 0.875335,
    "kaz-eng": 0.838261,
    "kor-eng": 0.799,
    "mal-eng": 0.966521,
    "mar-eng": 0.916,
    "nld-eng": 0.938,
    "por-eng": 0.915,
    "rus-eng": 0.923,
    "swh-eng": 0.758974,
    "tam-eng": 0.882736,
    "tel-eng": 0.92735,
    "tha-eng": 0.912409,
    "tgl-eng": 0.876,
    "tur-eng": 0.926,
    "urd-eng": 0.903,
    "vie-eng": 0.917,
    "cmn-eng": 0.924,
}
_E5_SMALL_BUCC_F1 = {"de-en": 0.982081, "fr-en": 0.965992, "ru-en": 0.966597, "zh-en": 0.922503}
_ISO1 = {iso3: lang for lang, iso3 in ISO3.items()}


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
    "mlqa": {
        "f1": {
            "source": _MLQA_SOURCE,
            "scores": {
                "mBERT": {"en": 77.7, "es": 64.3, "de": 57.9, "ar": 45.7, "hi": 43.8, "vi": 57.1, "zh": 57.5},
                "XLM-R": {"en": 80.6, "es": 74.1, "de": 68.5, "ar": 63.1, "hi": 69.2, "vi": 71.3, "zh": 68.0},
            },
        },
        "exact_match": {
            "source": _MLQA_SOURCE,
            "scores": {
                "mBERT": {"en": 65.2, "es": 46.6, "de": 44.3, "ar": 29.8, "hi": 29.7, "vi": 38.6, "zh": 37.3},
                "XLM-R": {"en": 67.8, "es": 56.0, "de": 53.6, "ar": 43.5, "hi": 51.6, "vi": 50.9, "zh": 45.4},
            },
        },
    },
    "xnli": {
        "accuracy": {
            "source": _XNLI_SOURCE,
            "scores": {
                "mBERT": {"en": 81.4, "zh": 63.8, "es": 74.3, "de": 70.5, "ar": 62.1, "ur": 58.3},
                "XLM-R": {
                    "en": 89.1,
                    "fr": 84.1,
                    "es": 85.1,
                    "de": 83.9,
                    "el": 82.9,
                    "bg": 84.0,
                    "ru": 81.2,
                    "tr": 79.6,
                    "ar": 79.8,
                    "vi": 80.8,
                    "th": 78.1,
                    "zh": 80.2,
                    "hi": 76.9,
                    "sw": 73.9,
                    "ur": 73.8,
                },
            },
        },
    },
    "tatoeba": {
        "accuracy": {
            "source": _TATOEBA_SOURCE,
            "scores": {E5_SMALL_MTEB: _percent(_E5_SMALL_TATOEBA_ACCURACY, "-eng", _ISO1)},
        },
    },
    "bucc2018": {
        "f1": {"source": _BUCC_SOURCE, "scores": {E5_SMALL_MTEB: _percent(_E5_SMALL_BUCC_F1, "-en")}},
    },
}


def primary_metric(task: str) -> str | None:
    """The metric the sources report first for `task` (F1 for QA), or None if no reference is stored."""
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


def reference_source(task: str, metric: str | None = None) -> str | None:
    """Where the numbers of `task` under `metric` (default: the primary metric) were read, or None."""
    table = REFERENCE.get(task, {}).get(metric if metric is not None else (primary_metric(task) or ""))
    return None if table is None else table["source"]
