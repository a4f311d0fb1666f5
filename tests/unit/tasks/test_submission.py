"""score_xtreme on a tiny submission in XTREME's official layout (tests/fixtures/xtreme), numbers worked
out by hand and cross-checked once against google-research/xtreme@838c13b evaluate.evaluate_one_task."""

import shutil
from pathlib import Path

import pytest

from xstilts.tasks.submission import format_xtreme, score_xtreme

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "xtreme"


@pytest.fixture(scope="module")
def result():
    return score_xtreme(FIXTURES / "predictions", FIXTURES / "labels")


@pytest.fixture
def submission(tmp_path):
    """A writable copy of the fixture: (predictions folder, labels folder)."""
    shutil.copytree(FIXTURES, tmp_path / "xtreme")
    return tmp_path / "xtreme" / "predictions", tmp_path / "xtreme" / "labels"


def test_classification_accuracy(result):
    xnli = result["tasks"]["xnli"]
    # de: 3 of 4 right (line 4 neutral -> entailment) = 75; en: 2 of 2 = 100; mean 87.5
    assert xnli["languages"] == {"de": {"accuracy": 75.0}, "en": {"accuracy": 100.0}}
    assert xnli["avg_accuracy"] == xnli["avg_metric"] == 87.5


def test_tagging_f1(result):
    # panx de: gold PER[0:1] LOC[4]; predicted PER[0:0] LOC[4] -> 1 of 2 both ways: P = R = F1 = 50
    assert result["tasks"]["panx"]["languages"]["de"] == pytest.approx({"f1": 50.0, "precision": 50.0, "recall": 50.0})
    # udpos en: gold chunks DET NOUN VERB | PRON VERB (5); predicted DET NOUN+NOUN (one chunk) | PRON VERB (4);
    # 3 shared -> P 3/4, R 3/5, F1 = 0.9 / 1.35 = 66.67; tokens 4 of 5 right -> accuracy 80
    udpos = result["tasks"]["udpos"]
    assert udpos["languages"]["en"] == pytest.approx(
        {"f1": 200 / 3, "precision": 75.0, "recall": 60.0, "accuracy": 80.0}
    )
    assert udpos["avg_metric"] == pytest.approx(200 / 3)  # F1, not accuracy, as evaluate.py picks avg_f1 first


def test_bucc_f1(result):
    # gold 4 pairs; predicted set {001-101, 002-999, 003-103} (001-101 twice): 2 right -> P 2/3, R 1/2, F1 4/7
    bucc = result["tasks"]["bucc2018"]
    assert bucc["languages"]["de"] == pytest.approx({"f1": 400 / 7, "precision": 200 / 3, "recall": 50.0})


def test_qa_scores(result):
    xquad = result["tasks"]["xquad"]
    # q1 "the Denver Broncos." -> EM 1 F1 1; q2 max over golds F1 4/7 (see test_metrics), EM 0; q3 unanswered -> 0.
    # EM 1/3 = 33.33, F1 (1 + 4/7) / 3 = 52.38, avg_metric (100/3 + 1100/21) / 2 = 300/7 = 42.86
    assert xquad["languages"]["en"] == pytest.approx({"exact_match": 100 / 3, "f1": 1100 / 21})
    assert xquad["avg_metric"] == pytest.approx(300 / 7)
    mlqa = result["tasks"]["mlqa"]
    # zh: zh1 "电化电池。" exact after punctuation removal; zh2 {太,阳,能} vs {太,阳,能,电,池} F1 .75 -> EM 50, F1 87.5
    # de: "Bundestag" vs "der Bundestag" -> the article goes: EM 100, F1 100
    assert mlqa["languages"] == {"de": {"exact_match": 100.0, "f1": 100.0}, "zh": {"exact_match": 50.0, "f1": 87.5}}
    # avg EM 75, avg F1 93.75 -> avg_metric 84.375
    assert (mlqa["avg_exact_match"], mlqa["avg_f1"], mlqa["avg_metric"]) == (75.0, 93.75, 84.375)


def test_overall_score_and_groups(result):
    # tagging = (udpos 200/3 + panx 50) / 2 = 58.33; no other group complete
    assert result["groups"] == pytest.approx({"tagging": 175 / 3})
    # (87.5 + 50 + 200/3 + 400/7 + 300/7 + 84.375) / 6 = (9325/24) / 6 = 9325/144 = 64.757
    assert result["xtreme_score"] == pytest.approx(9325 / 144)
    assert result["missing_tasks"] == ["pawsx", "tatoeba", "tydiqa"]


def test_format_lists_languages_averages_and_overall(result):
    lines = format_xtreme(result)
    assert "== xnli ==" in lines
    assert "  de: accuracy=75.00" in lines
    assert "  avg: exact_match=75.00  f1=93.75  metric=84.38" in lines
    assert "group tagging: 58.33" in lines
    assert lines[-1] == "XTREME score over 6/9 tasks: 64.76 (missing: pawsx, tatoeba, tydiqa)"


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


@pytest.mark.parametrize(
    "rel, text, message",
    [
        (
            "predictions/xnli/test-de.tsv",
            "entailment\nneutral\n\nentailment\n",
            r"test-de.tsv: line 3: expected one label",
        ),
        (
            "predictions/xnli/test-de.tsv",
            "entailment\nneutral\n",
            r"predictions/xnli/test-de.tsv: line 3: missing label 3",
        ),
        (
            "predictions/xnli/test-en.tsv",
            "neutral\ncontradiction\nneutral\n",
            r"labels/xnli/test-en.tsv: line 3: missing label 3",
        ),
        (
            "predictions/panx/test-de.tsv",
            "B-PER\nI-PER O\nO\n\nB-LOC\nO\n",
            r"panx/test-de.tsv: line 2: expected one tag",
        ),
        (
            "predictions/panx/test-de.tsv",
            "B-PER\nO\nO\n\nB-LOC\n",
            r"panx/test-de.tsv: line 5: sentence has 1 tags but test-de.tsv line 5 has 2",
        ),
        ("predictions/panx/test-de.tsv", "B-PER\nO\nO\n", r"predictions/panx/test-de.tsv: line 5: missing sentence 2"),
        (
            "predictions/bucc2018/test-de.tsv",
            "de-001\ten-101\nde-002 en-102\n",
            r"bucc2018/test-de.tsv: line 2: expected 'source_id<TAB>target_id'",
        ),
        (
            "predictions/xquad/test-en.json",
            '{\n  "q1": "Denver",\n  "q2": "x",,\n}\n',
            r"xquad/test-en.json: line 3: invalid JSON",
        ),
        (
            "predictions/xquad/test-en.json",
            '{\n  "q1": "Denver",\n  "q2": 7\n}\n',
            r"xquad/test-en.json: line 3: answer of 'q2' is not a string",
        ),
        (
            "labels/mlqa/test-de.json",
            '{"data": [{"paragraphs": [{"qas": [\n{"id": "de1", "question": "?"}\n]}]}]}\n',
            r"mlqa/test-de.json: line 2: data\[0\].paragraphs\[0\].qas\[0\] has no list \"answers\"",
        ),
        (
            "labels/mlqa/test-de.json",
            '{"data": [{"paragraphs": [{"qas": [\n{"id": "de1",\n "answers": [{"answer_start": 0}]}\n]}]}]}\n',
            r"mlqa/test-de.json: line 2: .*\(de1\) has an answer without a string \"text\"",
        ),
        ("labels/mlqa/test-de.json", '{"version": 1.0}\n', r"mlqa/test-de.json: line 1: expected SQuAD JSON"),
        ("labels/xnli/test-de.tsv", b"entailment\n\xff\n", r"labels/xnli/test-de.tsv: line 2: not valid UTF-8"),
    ],
)
def test_malformed_files_name_file_and_line(submission, rel, text, message):
    pred_dir, label_dir = submission
    path = pred_dir.parent / rel
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        _write(path, text)
    with pytest.raises(ValueError, match=message):
        score_xtreme(pred_dir, label_dir)


def test_missing_label_file_is_named(submission):
    pred_dir, label_dir = submission
    (label_dir / "udpos" / "test-en.tsv").unlink()
    with pytest.raises(ValueError, match=r"labels/udpos/test-en.tsv: file not found"):
        score_xtreme(pred_dir, label_dir)


def test_unexpected_files_and_folders_are_errors(submission):
    pred_dir, label_dir = submission
    _write(pred_dir / "xnli" / "test-ja.tsv", "neutral\n")  # ja is not an XNLI language
    with pytest.raises(ValueError, match=r"xnli/test-ja.tsv: unexpected file: xnli expects test-LANG.tsv"):
        score_xtreme(pred_dir, label_dir)
    (pred_dir / "xnli" / "test-ja.tsv").unlink()
    (pred_dir / "xnlii").mkdir()
    with pytest.raises(ValueError, match=r"xnlii: unknown task folder"):
        score_xtreme(pred_dir, label_dir)


def test_trailing_blank_lines_between_sentences_are_one_separator(submission, result):
    pred_dir, label_dir = submission
    _write(pred_dir / "panx" / "test-de.tsv", "B-PER\nO\nO\n\n\nB-LOC\nO\n\n\n")
    assert score_xtreme(pred_dir, label_dir)["tasks"]["panx"] == result["tasks"]["panx"]
