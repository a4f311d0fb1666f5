"""Aggregation of official scores: per-task language means and the XTREME score (as xtreme evaluate.py
computes them), and the zero-shot summaries (mean, low-resource mean, worst language) the search uses."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from xstilts.tasks.metrics import XTREME_GROUP2TASK, XTREME_TASKS, get_metric, xtreme_languages
from xstilts.tasks.names import UnknownNameError, unknown_name_message

if TYPE_CHECKING:
    from xstilts.tasks.registry import TaskSpec

PROBE_PREFIX = "probe/"  # probe/<target task>/<lang>: one language's probe score among a trial's metrics
SUMMARY_KEYS = ("mean", "low_resource_mean", "worst", "worst_lang")  # summarize_probe's keys


def probe_key(task: str, lang: str) -> str:
    """The metrics key of one (target task, language) probe score."""
    return f"{PROBE_PREFIX}{task}/{lang}"


def split_probe_key(key: str) -> tuple[str, str] | None:
    """(target task, language) of a probe key, None for any other key."""
    if not key.startswith(PROBE_PREFIX):
        return None
    task, lang = key[len(PROBE_PREFIX) :].split("/")
    return task, lang


def _check_task_scores(task: str, langs: dict[str, dict[str, float]], registry: Mapping[str, TaskSpec]) -> None:
    if task not in XTREME_TASKS:
        raise UnknownNameError(unknown_name_message("task", task, list(XTREME_TASKS)))
    if not langs:
        raise ValueError(f"{task}: no language scores")
    valid = xtreme_languages(registry)[task]
    keys = None
    for lang, scores in langs.items():
        if lang not in valid:
            raise ValueError(f"{task}: {lang!r} is not an XTREME language of this task (available: {', '.join(valid)})")
        for metric in get_metric(registry[task].metric).headline:
            if metric not in scores:
                raise ValueError(f"{task}/{lang}: missing metric {metric!r}")
        if keys is not None and set(scores) != keys:
            raise ValueError(f"{task}/{lang}: metrics {sorted(scores)} differ from other languages' {sorted(keys)}")
        keys = set(scores)
        bad = [m for m, v in scores.items() if not isinstance(v, (int, float)) or not math.isfinite(v)]
        if bad:
            raise ValueError(f"{task}/{lang}: metric {bad[0]!r} is not a finite number: {scores[bad[0]]!r}")


def task_average(task: str, langs: dict[str, dict[str, float]], registry: Mapping[str, TaskSpec]) -> dict:
    """Return {"avg_<metric>": plain mean over languages, ..., "avg_metric", "languages"} for one task."""
    _check_task_scores(task, langs, registry)
    ordered = {lang: dict(langs[lang]) for lang in xtreme_languages(registry)[task] if lang in langs}
    out: dict = {f"avg_{m}": sum(s[m] for s in ordered.values()) / len(ordered) for m in next(iter(ordered.values()))}
    out["avg_metric"] = get_metric(registry[task].metric).headline_of(
        {m: out[f"avg_{m}"] for m in get_metric(registry[task].metric).headline}
    )
    out["languages"] = ordered
    return out


def xtreme_score(task_scores: dict[str, dict[str, dict[str, float]]], registry: Mapping[str, TaskSpec]) -> dict:
    """Aggregate {task: {lang: {metric: score}}} the way xtreme evaluate.py does.

    Returns {"tasks": {task: task_average(...)}, "groups": {group: mean avg_metric} (complete groups
    only), "missing_tasks": [...], "xtreme_score": plain mean of the available tasks' avg_metric}.
    evaluate.py reports its overall score ("all_task") only when all nine tasks are present.
    """
    if not task_scores:
        raise ValueError("no task scores to aggregate")
    for task, langs in task_scores.items():
        _check_task_scores(task, langs, registry)
    tasks = {t: task_average(t, task_scores[t], registry) for t in XTREME_TASKS if t in task_scores}
    groups = {
        g: sum(tasks[t]["avg_metric"] for t in members) / len(members)
        for g, members in XTREME_GROUP2TASK.items()
        if all(t in tasks for t in members)
    }
    return {
        "tasks": tasks,
        "groups": groups,
        "missing_tasks": [t for t in XTREME_TASKS if t not in tasks],
        "xtreme_score": sum(t["avg_metric"] for t in tasks.values()) / len(tasks),
    }


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


def summarize_probe(scores: dict[str, dict[str, float]], low_resource: Sequence[str]) -> dict[str, float | str]:
    """Summarise zero-shot probe scores (task -> lang -> headline score) over non-English languages.

    mean and low_resource_mean average each task's language mean, then the tasks (equal task weights,
    as XTREME); worst is the language whose score, averaged over the tasks that have it, is lowest.
    """
    per_task = [summarize_transfer(langs, low_resource) for langs in scores.values()]
    means = [float(s["mean"]) for s in per_task]
    lows = [float(s["low_resource_mean"]) for s in per_task if not math.isnan(float(s["low_resource_mean"]))]
    by_lang: dict[str, list[float]] = {}
    for langs in scores.values():
        for lang, value in langs.items():
            if lang != "en":
                by_lang.setdefault(lang, []).append(value)
    lang_means = {lang: sum(v) / len(v) for lang, v in by_lang.items()}
    worst_lang = min(lang_means, key=lang_means.__getitem__)
    return {
        "mean": sum(means) / len(means),
        "low_resource_mean": sum(lows) / len(lows) if lows else float("nan"),
        "worst": lang_means[worst_lang],
        "worst_lang": worst_lang,
    }
