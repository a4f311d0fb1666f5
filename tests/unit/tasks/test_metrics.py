import math

import pytest

from xstilts.tasks.aggregate import summarize_transfer, xtreme_score
from xstilts.tasks.languages import is_low_resource, low_resource_langs, resource_tier
from xstilts.tasks.metrics import (
    METRICS,
    accuracy,
    bucc_extract,
    bucc_f1,
    bucc_scores,
    bucc_threshold,
    get_metric,
    mlqa_em_f1,
    mlqa_normalize,
    pos_scores,
    seqeval_f1,
    squad_em_f1,
    xtreme_languages,
)
from xstilts.tasks.registry import UnknownNameError, build_registry

REG = build_registry()


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
    # one definition: with low_resource_max_class 3, class-3 el and ur are low-resource and in the low tier
    assert resource_tier("el", 3) == "low" and resource_tier("ur", 3) == "low" and resource_tier("de", 3) == "high"
    assert is_low_resource("ur", 3) and not is_low_resource("ur", 2) and not is_low_resource("en", 5)
    assert low_resource_langs(["en", "de", "el", "sw", "ur"], 2) == ["sw"]
    assert low_resource_langs(["en", "de", "el", "sw", "ur"], 3) == ["el", "sw", "ur"]


# ----- official XTREME metrics: values worked out by hand from the official scripts
# (google-research/xtreme@838c13b evaluate.py, third_party/evaluate_squad.py, third_party/evaluate_mlqa.py,
# third_party/utils_retrieve.py bucc_optimize; SQuAD v2 evaluate-v2.0.py for no-answer).


def test_seqeval_f1_one_entity_half_right():
    # gold PER[0:1] LOC[3]; predicted PER[0:0] (wrong span) LOC[3]: 1 correct of 2 -> P = R = F1 = 50
    s = seqeval_f1([["B-PER", "I-PER", "O", "B-LOC"]], [["B-PER", "O", "O", "B-LOC"]])
    assert s == pytest.approx({"f1": 50.0, "precision": 50.0, "recall": 50.0})


def test_seqeval_f1_perfect_extra_entity_and_nothing_predicted():
    gold = [["B-ORG", "I-ORG", "O"], ["B-PER", "O"]]
    assert seqeval_f1(gold, gold) == pytest.approx({"f1": 100.0, "precision": 100.0, "recall": 100.0})
    # both gold entities found plus a spurious LOC: P = 2/3, R = 2/2, F1 = 2 * (2/3) / (5/3) = 80
    s = seqeval_f1(gold, [["B-ORG", "I-ORG", "B-LOC"], ["B-PER", "O"]])
    assert s == pytest.approx({"f1": 80.0, "precision": 200 / 3, "recall": 100.0})
    # no predicted entity: 0/0 precision is 0, as seqeval (and so XTREME) defines it
    assert seqeval_f1(gold, [["O", "O", "O"], ["O", "O"]]) == {"f1": 0.0, "precision": 0.0, "recall": 0.0}


def test_seqeval_f1_rejects_misaligned_sentences():
    with pytest.raises(ValueError, match="sentence 0: 2 gold tags but 1 predicted"):
        seqeval_f1([["O", "O"]], [["O"]])
    with pytest.raises(ValueError, match="1 labels but 2 predictions"):
        seqeval_f1([["O"]], [["O"], ["O"]])


def test_pos_scores_chunk_f1_is_not_token_accuracy():
    # seqeval reads "NOUN" as prefix N + type OUN: the two gold NOUNs form ONE chunk [0:1]; the prediction
    # has chunks OUN[0:0] and ERB[1:1], none equal to it -> F1 0, while 1 of 2 tokens is right -> accuracy 50
    s = pos_scores([["NOUN", "NOUN"]], [["NOUN", "VERB"]])
    assert (s["f1"], s["accuracy"]) == (0.0, 50.0)


def test_pos_scores_seqeval_1x_conj_tags():
    # seqeval 1.x types CCONJ and SCONJ both as "CONJ" and opens a chunk at every S-prefixed tag:
    # gold chunks {CONJ[1:1]}, predicted {CONJ[0:0], CONJ[1:1]} -> P = 1/2, R = 1, F1 = 2 * .5 / 1.5 = 66.67
    # (seqeval 0.0.x, which produced xtreme evaluate_test.py's pinned UDPOS numbers, gives 50 here)
    s = pos_scores([["CCONJ", "SCONJ"]], [["SCONJ", "SCONJ"]])
    assert s == pytest.approx({"f1": 200 / 3, "precision": 50.0, "recall": 100.0, "accuracy": 50.0})


def test_squad_normalisation_case_articles_ascii_punctuation():
    # "The Denver Broncos!" -> "denver broncos" == gold -> EM 100, F1 100
    assert squad_em_f1([["Denver Broncos"]], ["The Denver Broncos!"]) == {"exact_match": 100.0, "f1": 100.0}
    # SQuAD v1.1 strips ASCII punctuation only: "«denver»" != "denver", no common token -> 0 / 0
    assert squad_em_f1([["Denver"]], ["«Denver»"]) == {"exact_match": 0.0, "f1": 0.0}


def test_squad_partial_overlap_and_max_over_golds():
    # pred {santa, clara} vs gold {santa, clara, california}: P = 1, R = 2/3 -> F1 = 2 * (2/3) / (5/3) = 80
    assert squad_em_f1([["Santa Clara, California"]], ["Santa Clara"]) == pytest.approx(
        {"exact_match": 0.0, "f1": 80.0}
    )
    # pred {levis, stadium, in, santa, clara} (5 tokens): vs gold 1: P 2/5 R 2/3 -> F1 0.5;
    # vs gold 2 {levis, stadium}: P 2/5 R 1 -> F1 = 0.8 / 1.4 = 4/7 -> max 4/7
    s = squad_em_f1([["Santa Clara, California", "Levi's Stadium"]], ["Levi's Stadium in Santa Clara"])
    assert s == pytest.approx({"exact_match": 0.0, "f1": 400 / 7})
    # repeated tokens count with multiplicity: {new, york} vs {new, york, new, york}: P 1, R 1/2 -> F1 2/3
    assert squad_em_f1([["New York New York"]], ["New York"])["f1"] == pytest.approx(200 / 3)


def test_squad_empty_and_missing_predictions():
    # an empty answer to an answerable question scores 0; None (no prediction) also 0 but still counts
    assert squad_em_f1([["Denver"]], [""]) == {"exact_match": 0.0, "f1": 0.0}
    assert squad_em_f1([["Denver"], ["Carolina"]], ["Denver", None]) == {"exact_match": 50.0, "f1": 50.0}


def test_squad_v2_no_answer():
    # empty gold list -> gold [""]: only a prediction normalising to "" scores; "The." -> "" counts as
    # abstaining (official v2 compares normalised text). (100 + 100 + 0) / 3 = 66.67 for EM and F1
    s = squad_em_f1([[], [], []], ["", "The.", "Denver"])
    assert s == pytest.approx({"exact_match": 200 / 3, "f1": 200 / 3})


def test_mlqa_chinese_mixed_segmentation():
    # zh: each CJK char a token. pred {太,阳,能} vs gold {太,阳,能,电,池}: P 1, R 3/5 -> F1 = 1.2 / 1.6 = 75
    assert mlqa_em_f1([["太阳能电池"]], ["太阳能"], "zh") == pytest.approx({"exact_match": 0.0, "f1": 75.0})
    # the same pair under SQuAD's whitespace tokens: one token each, different -> 0
    assert squad_em_f1([["太阳能电池"]], ["太阳能"]) == {"exact_match": 0.0, "f1": 0.0}
    # full-width "。" is Unicode punctuation; Latin runs stay whole words, so spacing is irrelevant
    assert mlqa_em_f1([["电化电池"]], ["电化电池。"], "zh")["exact_match"] == 100.0
    assert mlqa_normalize("电动势 EMF", "zh") == mlqa_normalize("电动势emf", "zh") == "电 动 势 emf"


def test_mlqa_articles_per_language():
    # de: der/den are both articles -> "bundestag" == "bundestag"
    assert mlqa_em_f1([["der Bundestag"]], ["den Bundestag"], "de") == {"exact_match": 100.0, "f1": 100.0}
    # ... under SQuAD they stay: {der, bundestag} vs {den, bundestag}: P = R = 1/2 -> F1 50
    assert squad_em_f1([["der Bundestag"]], ["den Bundestag"]) == {"exact_match": 0.0, "f1": 50.0}
    assert mlqa_em_f1([["el río Amazonas"]], ["Río Amazonas"], "es")["exact_match"] == 100.0
    assert mlqa_em_f1([["những con mèo"]], ["con mèo"], "vi")["exact_match"] == 100.0
    # ar: every "ال" is replaced, even inside a word (official regex): "مال" -> "م"
    assert mlqa_em_f1([["القاهرة"]], ["قاهرة"], "ar")["exact_match"] == 100.0
    assert mlqa_normalize("مال", "ar") == "م"
    # hi: no articles; "।" (danda) is punctuation. {किताब} vs {एक, किताब}: P 1, R 1/2 -> F1 66.67
    assert mlqa_em_f1([["किताब"]], ["किताब।"], "hi")["exact_match"] == 100.0
    assert mlqa_em_f1([["एक किताब"]], ["किताब"], "hi") == pytest.approx({"exact_match": 0.0, "f1": 200 / 3})
    # en strips all Unicode punctuation, unlike SQuAD v1.1
    assert mlqa_em_f1([["Denver"]], ["«Denver»"], "en")["exact_match"] == 100.0


def test_mlqa_rejects_unknown_language():
    with pytest.raises(ValueError, match="Unknown MLQA language 'fr'"):
        mlqa_em_f1([["x"]], ["x"], "fr")


def test_bucc_f1_sets_and_lines():
    gold = {("de-1", "en-1"), ("de-2", "en-2"), ("de-3", "en-3"), ("de-4", "en-4")}
    # predicted set {1-1, 2-9, 3-3} (the repeated 1-1 counts once): 2 correct. P 2/3, R 2/4,
    # F1 = 2 * (2/3) * (1/2) / (7/6) = 4/7
    pred = ["de-1\ten-1", ("de-2", "en-9"), ("de-3", "en-3"), ("de-1", "en-1")]
    assert bucc_f1(gold, pred) == pytest.approx({"f1": 400 / 7, "precision": 200 / 3, "recall": 50.0})
    assert bucc_f1(gold, [("de-9", "en-9")]) == {"f1": 0.0, "precision": 0.0, "recall": 0.0}
    assert bucc_f1(gold, []) == {"f1": 0.0, "precision": 0.0, "recall": 0.0}
    with pytest.raises(ValueError):
        bucc_f1([], pred)


def test_bucc_threshold_maximises_f1_like_bucc_optimize():
    gold = {("a", "x"), ("b", "y"), ("d", "w"), ("f", "s")}  # ("f", "s") is never a candidate
    scores = [
        ("a", "x", 0.9),
        ("b", "y", 0.8),
        ("c", "q", 0.7),
        ("d", "w", 0.6),
        ("e", "r", 0.5),
        ("d", "w", 0.2),
    ]  # a repeated pair keeps its best score (0.6)
    # sweep, 4 gold: top-1 P 1 R 1/4 F1 .4; top-2 P 1 R 1/2 F1 .667; top-3 P 2/3 R 1/2 F1 .571;
    # top-4 P 3/4 R 3/4 F1 .75 (best); top-5 P 3/5 R 3/4 F1 .667 -> midpoint (0.6 + 0.5) / 2 = 0.55
    th = bucc_threshold(scores, gold)
    assert th == pytest.approx(0.55)
    mined = bucc_extract(scores, th)
    assert mined == {("a", "x"), ("b", "y"), ("c", "q"), ("d", "w")}
    assert bucc_f1(gold, mined)["f1"] == pytest.approx(75.0)


def test_bucc_threshold_edge_cases():
    # best at the last candidate (the official script would index past the end): its own score
    assert bucc_threshold([("a", "x", 0.9), ("b", "y", 0.4)], {("a", "x"), ("b", "y")}) == 0.4
    # no candidate is gold: the official initial threshold 0
    assert bucc_threshold([("a", "q", 0.9)], {("a", "x")}) == 0.0
    with pytest.raises(ValueError):
        bucc_threshold([], {("a", "x")})


def test_xtreme_score_qa_averages_em_and_f1():
    scores = {
        "xquad": {"en": {"exact_match": 70.0, "f1": 80.0}, "de": {"exact_match": 50.0, "f1": 70.0}},
        "xnli": {"en": {"accuracy": 90.0}, "de": {"accuracy": 80.0}},
        "pawsx": {"en": {"accuracy": 75.0}},
        "panx": {"de": {"f1": 60.0, "precision": 50.0, "recall": 75.0}},
    }
    r = xtreme_score(scores, REG)
    xquad = r["tasks"]["xquad"]
    # avg EM (70 + 50) / 2 = 60, avg F1 (80 + 70) / 2 = 75 -> avg_metric (60 + 75) / 2 = 67.5
    assert (xquad["avg_exact_match"], xquad["avg_f1"], xquad["avg_metric"]) == (60.0, 75.0, 67.5)
    assert list(xquad["languages"]) == ["de", "en"]
    assert r["tasks"]["xnli"]["avg_accuracy"] == r["tasks"]["xnli"]["avg_metric"] == 85.0
    assert r["tasks"]["panx"]["avg_metric"] == 60.0 and r["tasks"]["panx"]["avg_recall"] == 75.0
    # classification = (pawsx 75 + xnli 85) / 2 = 80; no other group is complete
    assert r["groups"] == {"classification": 80.0}
    # overall = (67.5 + 85 + 75 + 60) / 4 = 71.875
    assert r["xtreme_score"] == pytest.approx(71.875)
    assert r["missing_tasks"] == ["udpos", "bucc2018", "tatoeba", "mlqa", "tydiqa"]


@pytest.mark.parametrize(
    "scores, message",
    [
        ({}, "no task scores"),
        ({"xnlli": {"en": {"accuracy": 1.0}}}, "Unknown task 'xnlli'. Did you mean 'xnli'"),
        ({"xnli": {}}, "xnli: no language scores"),
        ({"xnli": {"ja": {"accuracy": 1.0}}}, "'ja' is not an XTREME language"),
        ({"mlqa": {"en": {"f1": 1.0}}}, "mlqa/en: missing metric 'exact_match'"),
        ({"xnli": {"en": {"accuracy": float("nan")}}}, "not a finite number"),
        ({"xnli": {"en": {"accuracy": 1.0}, "de": {"accuracy": 1.0, "f1": 2.0}}}, "differ from other languages"),
    ],
)
def test_xtreme_score_rejects_bad_input(scores, message):
    with pytest.raises(ValueError, match=message):
        xtreme_score(scores, REG)


def test_metric_registry_scores_and_names_the_headline():
    assert METRICS["seqeval"].score([["B-PER"]], [["B-PER"]])["f1"] == 100.0
    assert METRICS["squad"].score([["Denver"]], ["denver"])["exact_match"] == 100.0
    assert METRICS["accuracy"].score([1, 0], [1, 1])["accuracy"] == 50.0
    assert METRICS["mlqa"].score([["der Hund"]], ["Hund"], lang="de")["exact_match"] == 100.0  # German article
    assert METRICS["tag_accuracy"].score([["N", "N/N"]], [["N", "N"]]) == {"accuracy": 50.0}
    qa = METRICS["squad"].with_headline({"exact_match": 50.0, "f1": 70.0})
    assert qa["avg_metric"] == 60.0 and METRICS["squad"].headline_key == "avg_metric"
    assert METRICS["pos"].headline_key == "f1" and "avg_metric" not in METRICS["pos"].with_headline({"f1": 1.0})
    with pytest.raises(UnknownNameError, match="Unknown metric 'seqevl'. Did you mean 'seqeval'"):
        get_metric("seqevl")
    every = {spec.metric for spec in REG.values()} - {"none"}
    assert every <= set(METRICS)  # every task names an entry


def test_bucc_threshold_is_chosen_on_dev_when_given():
    gold, cands = {("a", "x"), ("b", "y")}, [("a", "x", 0.9), ("b", "y", 0.5), ("c", "z", 0.7)]
    own = bucc_scores(gold, cands)  # no dev: the threshold that is best on this split itself
    tuned = METRICS["bucc_f1"].score(gold, cands, dev=({("c", "z")}, [("c", "z", 0.7), ("a", "x", 0.9)]))
    assert own["f1"] == pytest.approx(100 * 2 * (2 / 3) * 1 / (2 / 3 + 1))  # all three kept: P 2/3, R 1
    assert tuned["threshold"] == pytest.approx(0.7) and tuned["recall"] == 50.0  # dev's best: only c-z


def test_xtreme_languages_come_from_the_registry_in_evaluate_py_order():
    langs = xtreme_languages(REG)
    assert list(langs) == ["pawsx", "xnli", "panx", "udpos", "bucc2018", "tatoeba", "xquad", "mlqa", "tydiqa"]
    assert langs["xquad"] == ("ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh")
    assert all(set(v) == set(REG[t].eval_langs) and list(v) == sorted(v) for t, v in langs.items())


def test_chance_is_the_majority_label_or_one_candidate_in_n():
    from xstilts.tasks.metrics import chance_level
    from xstilts.tasks.registry import build_registry

    reg = build_registry()
    assert chance_level(reg["xnli"], [0, 0, 0, 1, 2, 2, 0, 1]) == 50.0  # the most frequent label: 4 of 8
    assert chance_level(reg["tatoeba"], list(range(200))) == 0.5  # one of 200 candidates
    assert chance_level(reg["udpos"], [["NOUN"]]) is None and chance_level(reg["bucc2018"], [("a", "b")]) is None
    assert chance_level(reg["xnli"], []) is None
