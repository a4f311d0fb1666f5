"""Listings for the CLI: the task registry (`xstilts tasks`) and what a sweep would download (--dry-run)."""

from __future__ import annotations

from dataclasses import asdict

from rich.table import Table

from xstilts.search.config import Experiment
from xstilts.tasks.languages import JOSHI_CLASS, placeholders, resource_tier
from xstilts.tasks.registry import TaskSpec, build_registry


def task_records(registry: dict[str, TaskSpec] | None = None) -> list[dict]:
    """One JSON-able record per task: name, role, type, source, languages with resource groups, metric."""
    records = []
    for spec in (registry or build_registry()).values():
        records.append({
            "name": spec.name, "role": spec.role, "type": spec.kind, "metric": spec.metric,
            "languages": list(spec.eval_langs),
            "resource_groups": {lang: {"tier": resource_tier(lang), "joshi_class": JOSHI_CLASS[lang]}
                                for lang in spec.eval_langs},
            "source": {split: asdict(loc) for split, loc in spec.sources.items()},
            "labels": list(spec.labels), "members": list(spec.members)})
    return records


def task_table(records: list[dict]) -> Table:
    table = Table(title="xstilts tasks")
    for col in ("name", "role", "type", "source", "languages", "metric"):
        table.add_column(col, overflow="fold", no_wrap=col in ("name", "role", "type", "metric"))
    for r in records:
        src = r["source"].get("train") or r["source"].get("dev") or r["source"].get("test")
        where = "—" if src is None else ("local files: " if src["local_only"] else "") + \
            f"{src['dataset_id']} {src['config'] or ''}".strip()
        if r["members"]:
            where = "+".join(r["members"])
        langs = r["languages"]
        shown = " ".join(langs) if len(langs) <= 12 else f"{len(langs)}: " + " ".join(langs)
        table.add_row(r["name"], r["role"], r["type"], where, shown or "—", r["metric"])
    return table


def planned_downloads(exp: Experiment) -> list[str]:
    """The hub data sets (id, config, split) and model a real sweep of `exp` would fetch."""
    registry = build_registry()
    wanted: list[tuple[str, str, str]] = []
    tasks = list(exp.intermediate.tasks)
    if "multitask" in tasks:
        tasks += list(registry["multitask"].members)
    for name in dict.fromkeys(tasks):
        if "train" in registry[name].sources:
            wanted.append((name, "en", "train"))
    for task in exp.target.tasks:
        if "train" in registry[task].sources:
            wanted.append((task, "en", "train"))
        wanted += [(task, lang, "dev") for lang in exp.target.langs_for(task)]
    lines: list[str] = [f"model {exp.model}"] if exp.model not in ("offline",) else []
    for name, lang, split in wanted:
        loc = registry[name].sources[split]
        config = loc.config.format(**placeholders(lang)) if loc.config else None
        where = "local files (not on the hub)" if loc.local_only else "hub"
        line = f"{where}: {loc.dataset_id}" + (f" {config}" if config else "") + f" split={loc.split}"
        if line not in lines:
            lines.append(line)
    return lines
