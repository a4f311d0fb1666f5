import re

import pytest

from xstilts.tasks.languages import ISO3, JOSHI_CLASS
from xstilts.tasks.reference_scores import (
    COLUMN_LABELS,
    E5_SMALL_MTEB,
    MODELS,
    MTEB_PROTOCOL_NOTE,
    REFERENCE,
    primary_metric,
    reference_points,
    reference_source,
)
from xstilts.tasks.registry import build_registry

REG = build_registry()
METRIC_NAMES = {"accuracy", "f1", "exact_match"}


def test_every_task_is_a_registry_target_with_known_metrics_and_a_source():
    assert REFERENCE, "at least one published table is stored"
    for task, tables in REFERENCE.items():
        assert task in REG and REG[task].role == "target", task
        assert tables and set(tables) <= METRIC_NAMES, (task, set(tables))
        for metric, table in tables.items():
            assert table["source"].strip(), (task, metric)
            assert set(table["scores"]) <= set(MODELS), (task, metric, set(table["scores"]))


def test_every_language_is_known_and_evaluated_by_the_task():
    for task, tables in REFERENCE.items():
        for table in tables.values():
            for model, scores in table["scores"].items():
                assert scores, (task, model)
                assert set(scores) <= set(JOSHI_CLASS), (task, model, set(scores) - set(JOSHI_CLASS))
                assert set(scores) <= set(REG[task].eval_langs), (task, model)


def test_every_score_is_a_percentage():
    for task, tables in REFERENCE.items():
        for metric, table in tables.items():
            for model, scores in table["scores"].items():
                for lang, value in scores.items():
                    assert isinstance(value, float), (task, metric, model, lang)
                    assert 0.0 <= value <= 100.0, (task, metric, model, lang, value)


def test_exact_match_never_exceeds_f1():
    for task, tables in REFERENCE.items():
        if {"f1", "exact_match"} <= set(tables):
            for model, f1 in tables["f1"]["scores"].items():
                em = tables["exact_match"]["scores"][model]
                assert set(em) == set(f1)
                assert all(em[lang] <= f1[lang] for lang in f1), (task, model)


@pytest.mark.parametrize(
    ("task", "metric", "model", "lang", "value"),
    [
        # google-deepmind/xquad README.md @ 4889992f, "F1 scores:" table, row "mBERT", column th
        ("xquad", "f1", "mBERT", "th", 42.7),
        # same README, "F1 scores:" table, row "XLM-R Large", column zh
        ("xquad", "f1", "XLM-R", "zh", 59.3),
        # same README, "EM scores:" table, row "mBERT", column en (also quoted in google-research/xtreme#8)
        ("xquad", "exact_match", "mBERT", "en", 72.2),
        # same README, "EM scores:" table, row "XLM-R Large", column th
        ("xquad", "exact_match", "XLM-R", "th", 62.8),
        # PaddlePaddle/ERNIE ernie-m/README.md @ 5846cc3c, PAWS-X table line 121, row "mBERT", column ko
        ("pawsx", "accuracy", "mBERT", "ko", 69.6),
        # same table, line 124, row "XLM-R Large", column ja
        ("pawsx", "accuracy", "XLM-R", "ja", 78.7),
        # facebookresearch/fairseq examples/xlmr/README.md @ 6034aea9, MLQA table, row "mBERT", column ar "45.7 / 29.8"
        ("mlqa", "f1", "mBERT", "ar", 45.7),
        ("mlqa", "exact_match", "mBERT", "ar", 29.8),
        # same table, row "xlmr.large", column hi "69.2 / 51.6" (the ERNIE-M README's 62.9 F1 is not used)
        ("mlqa", "f1", "XLM-R", "hi", 69.2),
        ("mlqa", "exact_match", "XLM-R", "hi", 51.6),
        # same table, row "xlmr.large", column zh "68.0 / 45.4"
        ("mlqa", "f1", "XLM-R", "zh", 68.0),
        # google-research/bert multilingual.md @ 0307cb9d, row "BERT - Zero Shot Uncased", columns Chinese and Urdu
        ("xnli", "accuracy", "mBERT", "zh", 63.8),
        ("xnli", "accuracy", "mBERT", "ur", 58.3),
        # PaddlePaddle/ERNIE ernie-m/README.md @ 5846cc3c, XNLI table line 67, "Cross-lingual Transfer" "XLM-R Large"
        ("xnli", "accuracy", "XLM-R", "sw", 73.9),
        ("xnli", "accuracy", "XLM-R", "bg", 84.0),
        ("xnli", "accuracy", "XLM-R", "th", 78.1),
        # embeddings-benchmark/results @ f4cc6c8b, multilingual-e5-small rev fd1525a9 Tatoeba.json, "accuracy" x 100
        ("tatoeba", "accuracy", E5_SMALL_MTEB, "et", 66.8),  # est-eng 0.668 (rev e4ce9877 has 0.616)
        ("tatoeba", "accuracy", E5_SMALL_MTEB, "zh", 92.4),  # cmn-eng 0.924
        ("tatoeba", "accuracy", E5_SMALL_MTEB, "sw", 75.8974),  # swh-eng 0.758974
        ("tatoeba", "accuracy", E5_SMALL_MTEB, "fa", 89.0),  # pes-eng 0.89
        ("tatoeba", "accuracy", E5_SMALL_MTEB, "jv", 62.439),  # jav-eng 0.62439
        # same commit and revision, BUCC.json, "f1" (main_score) x 100
        ("bucc2018", "f1", E5_SMALL_MTEB, "zh", 92.2503),  # zh-en 0.922503
        ("bucc2018", "f1", E5_SMALL_MTEB, "de", 98.2081),  # de-en 0.982081
    ],
)
def test_spot_values_read_in_the_sources(task, metric, model, lang, value):
    assert REFERENCE[task][metric]["scores"][model][lang] == value
    assert reference_points(task, lang, metric)[model] == value


def test_reference_points_defaults_to_the_primary_metric():
    assert primary_metric("xquad") == "f1"
    assert primary_metric("pawsx") == "accuracy"
    assert reference_points("xquad", "th") == {"mBERT": 42.7, "XLM-R": 74.2}
    assert reference_points("xquad", "th", "exact_match") == {"mBERT": 33.5, "XLM-R": 62.8}
    assert reference_points("pawsx", "en") == {"mBERT": 94.0, "XLM-R": 94.7}


def test_reference_points_returns_the_new_models_for_mlqa_xnli_tatoeba_and_bucc():
    assert primary_metric("mlqa") == "f1"
    assert primary_metric("xnli") == "accuracy"
    assert primary_metric("tatoeba") == "accuracy"  # the registry's metric; MTEB's accuracy field
    assert primary_metric("bucc2018") == "f1"
    assert reference_points("mlqa", "vi") == {"mBERT": 57.1, "XLM-R": 71.3}
    assert reference_points("mlqa", "vi", "exact_match") == {"mBERT": 38.6, "XLM-R": 50.9}
    assert reference_points("xnli", "de") == {"mBERT": 70.5, "XLM-R": 83.9}
    assert reference_points("xnli", "sw") == {"XLM-R": 73.9}  # mBERT's published table has six languages only
    assert reference_points("tatoeba", "de") == {E5_SMALL_MTEB: 98.0}
    assert reference_points("bucc2018", "fr") == {E5_SMALL_MTEB: 96.5992}
    assert reference_points("bucc2018", "ru") == {E5_SMALL_MTEB: 96.6597}


def test_coverage_of_each_new_table():
    def langs(task, metric, model):
        return set(REFERENCE[task][metric]["scores"][model])

    assert langs("mlqa", "f1", "mBERT") == langs("mlqa", "f1", "XLM-R") == set(REG["mlqa"].eval_langs)
    assert langs("xnli", "accuracy", "XLM-R") == set(REG["xnli"].eval_langs)
    assert langs("xnli", "accuracy", "mBERT") == {"en", "zh", "es", "de", "ar", "ur"}
    assert langs("tatoeba", "accuracy", E5_SMALL_MTEB) == set(REG["tatoeba"].eval_langs)  # all 36
    assert langs("bucc2018", "f1", E5_SMALL_MTEB) == set(REG["bucc2018"].eval_langs)  # de fr ru zh
    assert set(REFERENCE["tatoeba"]["accuracy"]["scores"]) == {E5_SMALL_MTEB}  # no XTREME-paper Tatoeba read


def test_tatoeba_languages_were_mapped_from_mteb_subsets_with_the_registrys_iso3_codes():
    source = REFERENCE["tatoeba"]["accuracy"]["source"]
    for lang, iso3 in (("zh", "cmn"), ("fa", "pes"), ("sw", "swh")):
        assert ISO3[lang] == iso3 and f"{iso3}-eng" in source


def test_every_source_names_a_repository_path_and_commit_and_never_the_shared_notes():
    for task, tables in REFERENCE.items():
        for metric, table in tables.items():
            source = table["source"]
            assert re.search(r"\b[\w.-]+/[\w.-]+ \S+\.(md|json)\b", source), (task, metric, source)  # owner/repo path
            assert re.search(r"@ [0-9a-f]{40}\b", source), (task, metric, source)  # full commit
            assert "REFERENCE_NUMBERS" not in source and "shared" not in source.lower(), (task, metric)
            assert reference_source(task, metric) == source
    assert "REFERENCE_NUMBERS" not in MTEB_PROTOCOL_NOTE and "shared" not in MTEB_PROTOCOL_NOTE.lower()


def test_the_mteb_tables_say_how_their_protocol_differs():
    for task, metric in (("tatoeba", "accuracy"), ("bucc2018", "f1")):
        source = REFERENCE[task][metric]["source"]
        assert "embeddings-benchmark/results" in source and "intfloat__multilingual-e5-small" in source
        assert "sentence embedding" in source and "XTREME" in source
    assert "not a like-for-like comparison" in MTEB_PROTOCOL_NOTE


def test_every_model_has_a_column_label_naming_its_provenance():
    assert set(COLUMN_LABELS) == set(MODELS)
    assert COLUMN_LABELS[E5_SMALL_MTEB].endswith("(MTEB)")
    assert all("Hu et al" not in label for label in COLUMN_LABELS.values())
    assert len(set(COLUMN_LABELS.values())) == len(MODELS)


def test_reference_points_is_empty_when_nothing_is_stored():
    assert primary_metric("udpos") is None
    assert reference_points("udpos", "de") == {}  # task without a stored table
    assert reference_source("udpos") is None
    assert reference_points("xquad", "yo") == {}  # language the task does not cover
    assert reference_points("pawsx", "en", "f1") == {}  # metric the table does not report
    assert reference_points("no_such_task", "en") == {}


def test_the_report_section_labels_columns_by_provenance_and_cites_each_tables_source():
    import pandas as pd

    from xstilts.search.report.render import render_markdown
    from xstilts.search.report.sections import reference_section
    from xstilts.search.report.tables import reference_table

    def section(cells):
        head = pd.DataFrame(
            [
                {"role": "baseline", "target_task": t, "lang": lang, "resource_tier": "high", "score": 50.0, "seed": 0}
                for t, lang in cells
            ]
        )
        return render_markdown(reference_section(reference_table(head), []))

    md = section([("xquad", "th"), ("mlqa", "hi"), ("xnli", "sw"), ("tatoeba", "sw"), ("bucc2018", "zh")])
    header = next(line for line in md.splitlines() if line.startswith("| task"))
    columns = [c.strip() for c in header.strip("|").split("|")]
    assert columns[5:] == [COLUMN_LABELS[m] for m in MODELS]  # each model's column named by its provenance
    assert "Hu et al" not in header  # no longer every column attributed to the XTREME paper
    for task in ("xquad", "mlqa", "xnli", "tatoeba", "bucc2018"):
        assert f"- {task} ({primary_metric(task)}): {reference_source(task)}" in md
    assert MTEB_PROTOCOL_NOTE in md
    rows = {tuple(c.strip() for c in line.strip("|").split("|")[:2]): line for line in md.splitlines()}
    assert "69.20" in rows[("mlqa", "hi")] and "92.25" in rows[("bucc2018", "zh")]

    md = section([("xquad", "th"), ("udpos", "de")])  # no retrieval task: no MTEB note, no source for udpos
    assert MTEB_PROTOCOL_NOTE not in md and "- udpos" not in md and "- xquad (f1): " in md
