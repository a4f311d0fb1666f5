import math

import pytest

from xstilts.tasks.languages import low_resource_langs, resource_tier
from xstilts.tasks.metrics import accuracy, summarize_transfer


def test_accuracy_hand_computed():
    assert accuracy([0, 1, 2, 2], [0, 1, 2, 2]) == {"accuracy": 100.0}
    assert accuracy([0, 1, 2, 2], [1, 2, 0, 0]) == {"accuracy": 0.0}
    assert accuracy([0, 1, 2], [0, 2, 2])["accuracy"] == pytest.approx(200 / 3)


def test_accuracy_rejects_mismatched_or_empty():
    with pytest.raises(ValueError, match="2 labels but 1 predictions"):
        accuracy([0, 1], [0])
    with pytest.raises(ValueError):
        accuracy([], [])


def test_summary_excludes_english_and_finds_worst():
    s = summarize_transfer({"en": 90.0, "de": 60.0, "sw": 40.0, "ur": 50.0}, ["sw", "ur"])
    assert s["mean"] == pytest.approx(50.0)
    assert s["low_resource_mean"] == pytest.approx(45.0)
    assert (s["worst"], s["worst_lang"]) == (40.0, "sw")


def test_summary_without_low_resource_language_is_nan():
    assert math.isnan(summarize_transfer({"en": 1.0, "de": 2.0}, [])["low_resource_mean"])


def test_resource_groups_follow_joshi_classes():
    assert resource_tier("en") == "high" and resource_tier("ru") == "high"
    assert resource_tier("el") == "mid" and resource_tier("sw") == "low" and resource_tier("jv") == "low"
    assert low_resource_langs(["en", "de", "el", "sw", "ur"], 2) == ["sw"]
    assert low_resource_langs(["en", "de", "el", "sw", "ur"], 3) == ["el", "sw", "ur"]
