"""Score a submission folder in XTREME's official layout (PRED/TASK/test-LANG.{tsv,json}) against a
label folder of the same shape, as google-research/xtreme evaluate.py does, with line-numbered errors."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path

from xstilts.tasks.aggregate import xtreme_score
from xstilts.tasks.metrics import XTREME_TASKS, bucc_f1, get_metric, xtreme_languages
from xstilts.tasks.registry import TaskSpec, build_registry

Numbered = list[tuple[int, str]]  # (1-based line number, stripped line)


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
        raise ValueError(f'{path}: line 1: expected SQuAD JSON {{"data": [...]}}')
    golds: dict[str, list[str]] = {}
    for a, article in enumerate(articles):
        for p, paragraph in enumerate(_get_list(path, article, "paragraphs", f"data[{a}]")):
            for q, qa in enumerate(_get_list(path, paragraph, "qas", f"data[{a}].paragraphs[{p}]")):
                where = f"data[{a}].paragraphs[{p}].qas[{q}]"
                qid = qa.get("id") if isinstance(qa, dict) else None
                if not isinstance(qid, str):
                    raise ValueError(f'{path}: line 1: {where} has no string "id"')
                answers = _get_list(path, qa, "answers", where, line=_line_of(path, qid))
                texts = [ans.get("text") for ans in answers if isinstance(ans, dict)]
                if len(texts) != len(answers) or not all(isinstance(t, str) for t in texts):
                    raise ValueError(
                        f'{path}: line {_line_of(path, qid)}: {where} ({qid}) has an answer without a string "text"'
                    )
                golds[qid] = [str(t) for t in texts]
    if not golds:
        raise ValueError(f"{path}: line 1: no questions in file")
    return golds


def _get_list(path: Path, obj: object, key: str, where: str, line: int = 1) -> list:
    value = obj.get(key) if isinstance(obj, dict) else None
    if not isinstance(value, list):
        raise ValueError(f'{path}: line {line}: {where} has no list "{key}"')
    return value


def _align(pred_path: Path, label_path: Path, preds: list, labels: list, what: str) -> None:
    """Raise, naming the shorter file and its first missing line, when the counts differ."""
    if len(preds) == len(labels):
        return
    short, path = (preds, pred_path) if len(preds) < len(labels) else (labels, label_path)
    start, value = short[-1]
    line = start + len(value) + 1 if isinstance(value, list) else start + 1  # past the blank line
    raise ValueError(
        f"{path}: line {line}: missing {what} {len(short) + 1} "
        f"({len(preds)} in {pred_path.name}, {len(labels)} in {label_path.name})"
    )


Scorer = Callable[[Path, Path, str, str], dict[str, float]]  # (prediction file, label file, lang, metric name)


def _score_labels(pred_path: Path, label_path: Path, lang: str, metric: str) -> dict[str, float]:
    preds, labels = read_labels(pred_path), read_labels(label_path)
    _align(pred_path, label_path, preds, labels, "label")
    return get_metric(metric).score([y for _, y in labels], [p for _, p in preds], lang=lang)


def _score_tags(pred_path: Path, label_path: Path, lang: str, metric: str) -> dict[str, float]:
    preds, labels = read_tags(pred_path), read_tags(label_path)
    _align(pred_path, label_path, preds, labels, "sentence")
    for (pi, p), (li, y) in zip(preds, labels):
        if len(p) != len(y):
            raise ValueError(
                f"{pred_path}: line {pi}: sentence has {len(p)} tags but {label_path.name} line {li} has {len(y)}"
            )
    return get_metric(metric).score([y for _, y in labels], [p for _, p in preds], lang=lang)


def _score_bucc(pred_path: Path, label_path: Path, lang: str, metric: str) -> dict[str, float]:
    """A submission holds the mined pairs themselves (its threshold already applied): plain F1 of them."""
    return bucc_f1([p for _, p in read_pairs(label_path)], [p for _, p in read_pairs(pred_path)])


def _score_qa(pred_path: Path, label_path: Path, lang: str, metric: str) -> dict[str, float]:
    """Questions missing from the predictions score 0, as in evaluate_squad.py; extra ids are ignored."""
    golds, preds = read_qa_labels(label_path), read_qa_predictions(pred_path)
    return get_metric(metric).score(list(golds.values()), [preds.get(qid) for qid in golds], lang=lang)


# evaluate.py's READER_FUNCTION: the submission file of each metric (suffix, reader and scorer).
SUBMISSIONS: dict[str, tuple[str, Scorer]] = {
    "accuracy": ("tsv", _score_labels),
    "seqeval": ("tsv", _score_tags),
    "pos": ("tsv", _score_tags),
    "bucc_f1": ("tsv", _score_bucc),
    "squad": ("json", _score_qa),
    "mlqa": ("json", _score_qa),
}


def _suffix(spec: TaskSpec) -> str:
    return SUBMISSIONS[spec.metric][0]


def _submitted_langs(task_dir: Path, spec: TaskSpec, valid: tuple[str, ...]) -> list[str]:
    """Return the XTREME languages with a test-LANG file in `task_dir`; other files are errors."""
    langs, suffix = [], _suffix(spec)
    for path in sorted(p for p in task_dir.iterdir() if not p.name.startswith(".")):
        lang = path.name.removeprefix("test-").removesuffix(f".{suffix}")
        if path.name != f"test-{lang}.{suffix}" or lang not in valid:
            raise ValueError(
                f"{path}: unexpected file: {spec.name} expects test-LANG.{suffix} with LANG in {', '.join(valid)}"
            )
        langs.append(lang)
    if not langs:
        raise ValueError(f"{task_dir}: no test-LANG.{suffix} files")
    return langs


def score_xtreme(pred_dir: Path, label_dir: Path, registry: Mapping[str, TaskSpec] | None = None) -> dict:
    """Score every XTREME task and language in `pred_dir` against `label_dir` (same layout).

    Returns xtreme_score()'s dict: {"tasks": {TASK: {"avg_<metric>", "avg_metric", "languages"}},
    "groups", "missing_tasks", "xtreme_score"}.
    """
    pred_dir, label_dir = Path(pred_dir), Path(label_dir)
    registry = registry if registry is not None else build_registry()
    task2langs = xtreme_languages(registry)
    if not pred_dir.is_dir():
        raise ValueError(f"{pred_dir}: prediction folder not found")
    task_dirs = sorted(p for p in pred_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    unknown = [p for p in task_dirs if p.name not in XTREME_TASKS]
    if unknown:
        raise ValueError(f"{unknown[0]}: unknown task folder (XTREME tasks: {', '.join(XTREME_TASKS)})")
    if not task_dirs:
        raise ValueError(f"{pred_dir}: no XTREME task folders")
    scores: dict[str, dict[str, dict[str, float]]] = {}
    for task_dir in task_dirs:
        spec = registry[task_dir.name]
        suffix, scorer = SUBMISSIONS[spec.metric]
        scores[spec.name] = {
            lang: scorer(
                task_dir / f"test-{lang}.{suffix}", label_dir / spec.name / f"test-{lang}.{suffix}", lang, spec.metric
            )
            for lang in _submitted_langs(task_dir, spec, task2langs[spec.name])
        }
    return xtreme_score(scores, registry)


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
