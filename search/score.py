"""Score a submission folder in XTREME's official layout (PRED/TASK/test-LANG.{tsv,json}) against a
label folder of the same shape, as google-research/xtreme evaluate.py does, with line-numbered errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from xstilts.tasks.metrics import (
    XTREME_GROUP2TASK,
    XTREME_TASK2LANGS,
    accuracy,
    bucc_f1,
    mlqa_em_f1,
    pos_scores,
    seqeval_f1,
    squad_em_f1,
    xtreme_score,
)

Numbered = list[tuple[int, str]]  # (1-based line number, stripped line)


def _suffix(task: str) -> str:
    return "json" if task in XTREME_GROUP2TASK["qa"] else "tsv"


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise ValueError(f"{path}: file not found")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        line = path.read_bytes()[: err.start].count(b"\n") + 1
        raise ValueError(f"{path}: line {line}: not valid UTF-8") from None


def _numbered_lines(path: Path) -> Numbered:
    return [(i, line.strip()) for i, line in enumerate(_read_text(path).splitlines(), start=1)]


def read_labels(path: Path) -> Numbered:
    """Return one (line, label) per line (evaluate.py read_label); blank or spaced lines are errors."""
    rows = _numbered_lines(path)
    if not rows:
        raise ValueError(f"{path}: line 1: file is empty")
    for i, value in rows:
        if not value or len(value.split()) != 1:
            raise ValueError(f"{path}: line {i}: expected one label, got {value!r}")
    return rows


def read_tags(path: Path) -> list[tuple[int, list[str]]]:
    """Return (first line, tags) per sentence: one tag a line, blank lines between (read_tag).

    Runs of blank lines count as one separator (evaluate.py would make an empty sentence of each).
    """
    sentences: list[tuple[int, list[str]]] = []
    start, tags = 0, list[str]()
    for i, value in _numbered_lines(path) + [(-1, "")]:
        if value and len(value.split()) != 1:
            raise ValueError(f"{path}: line {i}: expected one tag, got {value!r}")
        if value:
            start = start if tags else i
            tags.append(value)
        elif tags:
            sentences.append((start, tags))
            tags = []
    if not sentences:
        raise ValueError(f"{path}: line 1: no tags in file")
    return sentences


def read_pairs(path: Path) -> list[tuple[int, tuple[str, str]]]:
    """Return (line, (source id, target id)) per "SRC<TAB>TRG" line of a BUCC file."""
    rows = []
    for i, value in _numbered_lines(path):
        fields = value.split("\t")
        if len(fields) != 2 or not all(f.strip() for f in fields):
            raise ValueError(f"{path}: line {i}: expected 'source_id<TAB>target_id', got {value!r}")
        rows.append((i, (fields[0].strip(), fields[1].strip())))
    return rows


def _load_json(path: Path) -> object:
    try:
        return json.loads(_read_text(path))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: line {err.lineno}: invalid JSON: {err.msg}") from None


def _line_of(path: Path, key: str) -> int:
    """Best-effort line of the first occurrence of `key` as a JSON string (1 if not found)."""
    needles = (json.dumps(key), json.dumps(key, ensure_ascii=False))
    for i, line in enumerate(_read_text(path).splitlines(), start=1):
        if any(n in line for n in needles):
            return i
    return 1


def read_qa_predictions(path: Path) -> dict[str, str]:
    """Return {question id: answer string} from a predictions JSON file."""
    preds = _load_json(path)
    if not isinstance(preds, dict):
        raise ValueError(f"{path}: line 1: expected a JSON object {{id: answer}}")
    for qid, answer in preds.items():
        if not isinstance(answer, str):
            raise ValueError(f"{path}: line {_line_of(path, qid)}: answer of {qid!r} is not a string")
    return preds


def read_qa_labels(path: Path) -> dict[str, list[str]]:
    """Return {question id: gold answer texts} from a SQuAD-format JSON file (read_squad)."""
    data = _load_json(path)
    articles = data.get("data") if isinstance(data, dict) else data
    if not isinstance(articles, list):
        raise ValueError(f"{path}: line 1: expected SQuAD JSON {{\"data\": [...]}}")
    golds: dict[str, list[str]] = {}
    for a, article in enumerate(articles):
        for p, paragraph in enumerate(_get_list(path, article, "paragraphs", f"data[{a}]")):
            for q, qa in enumerate(_get_list(path, paragraph, "qas", f"data[{a}].paragraphs[{p}]")):
                where = f"data[{a}].paragraphs[{p}].qas[{q}]"
                qid = qa.get("id") if isinstance(qa, dict) else None
                if not isinstance(qid, str):
                    raise ValueError(f"{path}: line 1: {where} has no string \"id\"")
                answers = _get_list(path, qa, "answers", where, line=_line_of(path, qid))
                texts = [ans.get("text") for ans in answers if isinstance(ans, dict)]
                if len(texts) != len(answers) or not all(isinstance(t, str) for t in texts):
                    raise ValueError(f"{path}: line {_line_of(path, qid)}: {where} ({qid}) has an answer "
                                     "without a string \"text\"")
                golds[qid] = [str(t) for t in texts]
    if not golds:
        raise ValueError(f"{path}: line 1: no questions in file")
    return golds


def _get_list(path: Path, obj: object, key: str, where: str, line: int = 1) -> list:
    value = obj.get(key) if isinstance(obj, dict) else None
    if not isinstance(value, list):
        raise ValueError(f"{path}: line {line}: {where} has no list \"{key}\"")
    return value


def _align(pred_path: Path, label_path: Path, preds: list, labels: list, what: str) -> None:
    """Raise, naming the shorter file and its first missing line, when the counts differ."""
    if len(preds) == len(labels):
        return
    short, path = (preds, pred_path) if len(preds) < len(labels) else (labels, label_path)
    start, value = short[-1]
    line = start + len(value) + 1 if isinstance(value, list) else start + 1  # past the blank line
    raise ValueError(f"{path}: line {line}: missing {what} {len(short) + 1} "
                     f"({len(preds)} in {pred_path.name}, {len(labels)} in {label_path.name})")


def _score_labels(pred_path: Path, label_path: Path, lang: str) -> dict[str, float]:
    preds, labels = read_labels(pred_path), read_labels(label_path)
    _align(pred_path, label_path, preds, labels, "label")
    return accuracy([y for _, y in labels], [p for _, p in preds])


def _score_tags(metric: Callable) -> Callable[[Path, Path, str], dict[str, float]]:
    def score(pred_path: Path, label_path: Path, lang: str) -> dict[str, float]:
        preds, labels = read_tags(pred_path), read_tags(label_path)
        _align(pred_path, label_path, preds, labels, "sentence")
        for (pi, p), (li, y) in zip(preds, labels):
            if len(p) != len(y):
                raise ValueError(f"{pred_path}: line {pi}: sentence has {len(p)} tags but "
                                 f"{label_path.name} line {li} has {len(y)}")
        return metric([y for _, y in labels], [p for _, p in preds])
    return score


def _score_bucc(pred_path: Path, label_path: Path, lang: str) -> dict[str, float]:
    return bucc_f1([p for _, p in read_pairs(label_path)], [p for _, p in read_pairs(pred_path)])


def _score_qa(pred_path: Path, label_path: Path, lang: str, *, mlqa: bool = False) -> dict[str, float]:
    """Questions missing from the predictions score 0, as in evaluate_squad.py; extra ids are ignored."""
    golds, preds = read_qa_labels(label_path), read_qa_predictions(pred_path)
    answers = [preds.get(qid) for qid in golds]
    if mlqa:
        return mlqa_em_f1(list(golds.values()), answers, lang)
    return squad_em_f1(list(golds.values()), answers)


# evaluate.py METRIC_FUNCTION with its readers; udpos adds token accuracy beside seqeval F1.
SCORERS: dict[str, Callable[[Path, Path, str], dict[str, float]]] = {
    "pawsx": _score_labels, "xnli": _score_labels, "tatoeba": _score_labels,
    "panx": _score_tags(seqeval_f1), "udpos": _score_tags(pos_scores),
    "bucc2018": _score_bucc,
    "xquad": _score_qa, "tydiqa": _score_qa,
    "mlqa": lambda pred, label, lang: _score_qa(pred, label, lang, mlqa=True),
}


def _submitted_langs(task_dir: Path, task: str) -> list[str]:
    """Return the XTREME languages with a test-LANG file in `task_dir`; other files are errors."""
    langs, suffix = [], _suffix(task)
    for path in sorted(p for p in task_dir.iterdir() if not p.name.startswith(".")):
        lang = path.name.removeprefix("test-").removesuffix(f".{suffix}")
        if path.name != f"test-{lang}.{suffix}" or lang not in XTREME_TASK2LANGS[task]:
            raise ValueError(f"{path}: unexpected file: {task} expects test-LANG.{suffix} with LANG in "
                             f"{', '.join(XTREME_TASK2LANGS[task])}")
        langs.append(lang)
    if not langs:
        raise ValueError(f"{task_dir}: no test-LANG.{suffix} files")
    return langs


def score_xtreme(pred_dir: Path, label_dir: Path) -> dict:
    """Score every XTREME task and language in `pred_dir` against `label_dir` (same layout).

    Returns xtreme_score()'s dict: {"tasks": {TASK: {"avg_<metric>", "avg_metric", "languages"}},
    "groups", "missing_tasks", "xtreme_score"}.
    """
    pred_dir, label_dir = Path(pred_dir), Path(label_dir)
    if not pred_dir.is_dir():
        raise ValueError(f"{pred_dir}: prediction folder not found")
    task_dirs = sorted(p for p in pred_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    unknown = [p for p in task_dirs if p.name not in XTREME_TASK2LANGS]
    if unknown:
        raise ValueError(f"{unknown[0]}: unknown task folder (XTREME tasks: {', '.join(XTREME_TASK2LANGS)})")
    if not task_dirs:
        raise ValueError(f"{pred_dir}: no XTREME task folders")
    scores: dict[str, dict[str, dict[str, float]]] = {}
    for task_dir in task_dirs:
        task = task_dir.name
        scores[task] = {
            lang: SCORERS[task](task_dir / f"test-{lang}.{_suffix(task)}",
                                label_dir / task / f"test-{lang}.{_suffix(task)}", lang)
            for lang in _submitted_langs(task_dir, task)
        }
    return xtreme_score(scores)


def format_xtreme(result: dict) -> list[str]:
    """Return printable lines: per-language scores, per-task averages, group and overall scores."""
    lines: list[str] = []
    for task, summary in result["tasks"].items():
        lines.append(f"== {task} ==")
        for lang, scores in summary["languages"].items():
            lines.append(f"  {lang}: " + "  ".join(f"{m}={v:.2f}" for m, v in scores.items()))
        avgs = [(k.removeprefix("avg_"), v) for k, v in summary.items() if k.startswith("avg_")]
        lines.append("  avg: " + "  ".join(f"{m}={v:.2f}" for m, v in avgs))
    for group, value in result.get("groups", {}).items():
        lines.append(f"group {group}: {value:.2f}")
    n_tasks = len(result["tasks"])
    missing = result.get("missing_tasks", [])
    note = f" (missing: {', '.join(missing)})" if missing else ""
    lines.append(f"XTREME score over {n_tasks}/{n_tasks + len(missing)} tasks: {result['xtreme_score']:.2f}{note}")
    return lines
