import pytest

from xstilts.tasks.languages import JOSHI_CLASS
from xstilts.tasks.reference_scores import MODELS, REFERENCE, primary_metric, reference_points
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


def test_reference_points_is_empty_when_nothing_is_stored():
    assert primary_metric("tatoeba") is None
    assert reference_points("tatoeba", "de") == {}  # task without a stored table
    assert reference_points("xquad", "yo") == {}  # language the task does not cover
    assert reference_points("pawsx", "en", "f1") == {}  # metric the table does not report
    assert reference_points("no_such_task", "en") == {}
